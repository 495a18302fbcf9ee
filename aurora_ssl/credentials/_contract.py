"""The provider contract integrations call: a password per connection, one retry if refused.

Integrations (SQLAlchemy, Django) ask for a password on every new *physical* connection, not
once at start-up: IAM tokens live 15 minutes and rotated secrets change under a running app,
so a password captured when the engine was built goes stale. Users, on the other hand, want to
write one plain function, or name one in a URL or a settings file. :func:`as_provider` bridges
the two, and refuses anything else with a message that says what it accepts.

Every integration (SQLAlchemy's ``do_connect``, Django's ``get_new_connection``, the psycopg
pool's connection class, ``aurora-ssl check``) then connects through
:func:`connect_with_password`, as the few lines it holds are easy to get subtly wrong: retry
on a TLS error (doubling the wait for nothing), retry more than once (hammering a locked
account), or call ``invalidate`` from another thread or task than the one that was handed the
refused password (the cache then cannot tell a late duplicate report from a new refusal).

Whether the server refused the login (:func:`is_auth_failure`): where the SQLSTATE is
available it decides (asyncpg's ``sqlstate``, psycopg 3 and psycopg2 once a session exists).
libpq reports a failed *login* without one: psycopg2 and psycopg 3 only carry the server's
text, ``FATAL:  password authentication failed for user "app"``. For those the server's
(English) message is matched; a server with a translated ``lc_messages`` is only recognised
through drivers that expose the SQLSTATE (asyncpg).
"""

from __future__ import annotations

import contextlib
import inspect
import pkgutil
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from aurora_ssl.errors import CredentialsError

T = TypeVar("T")

# invalid_password and invalid_authorization_specification.
_AUTH_FAILURE_SQLSTATES = frozenset({"28P01", "28000"})

# The server's texts for 28P01 / 28000 at login (src/backend/libpq/auth.c, postinit.c).
# "PAM authentication failed" is what RDS answers to a wrong or expired IAM token.
_FATAL_AUTH = re.compile(
    r"FATAL:\s+(?:"
    r"(?:password|PAM|md5|SCRAM) authentication failed for user"
    r"|role \".*\" (?:does not exist|is not permitted to log in)"
    r"|no pg_hba\.conf entry for"
    r"|pg_hba\.conf rejects connection"
    r")",
)


@dataclass(frozen=True)
class CredentialTarget:
    """Which login a password is wanted for; the key providers cache by.

    ``str(target)`` is ``user@host:port``, as messages name it.

    Attributes:
        host: the RDS endpoint name the server certificate is verified against. When the app
            connects through a CNAME (``tls_server_name``), this is still the RDS name: IAM
            tokens are signed for it, and it is what RDS checks.
        port: the server port (part of what an IAM token signs).
        user: the database role to log in as.
        region: the AWS region, when the integration was told one; ``None`` lets a provider
            derive it (IAM: from the endpoint name).
    """

    host: str
    port: int
    user: str
    region: str | None = None

    def __post_init__(self) -> None:
        if not self.host or not isinstance(self.host, str):
            raise CredentialsError("CredentialTarget needs the endpoint host name; got none.")
        if type(self.port) is not int or not 0 < self.port < 65536:
            raise CredentialsError(
                f"CredentialTarget port must be an int from 1 to 65535, got {self.port!r}."
            )
        if not self.user or not isinstance(self.user, str):
            raise CredentialsError(
                f"CredentialTarget for {self.host} needs a database user; got none."
            )

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


@runtime_checkable
class PasswordProvider(Protocol):
    """What an integration calls for each new physical connection.

    ``invalidate`` is called after the server refused the login (see
    :func:`aurora_ssl.credentials.is_auth_failure`); the integration then retries once, and
    the provider must answer that retry with fresh credentials rather than its cache.
    Call ``invalidate`` from the thread or task that was handed the refused password (as
    :func:`~aurora_ssl.credentials.connect_with_password` does): the built-in providers
    use that to ignore late reports about a password they already replaced.
    """

    def password(self, target: CredentialTarget) -> str:
        """The password for ``target``; raises :class:`CredentialsError` if there is none."""

    async def password_async(self, target: CredentialTarget) -> str:
        """Like :meth:`password`, without blocking the event loop for long."""

    def invalidate(self, target: CredentialTarget) -> None:
        """Forget what was cached for ``target``: the server just refused it."""


def connect_with_password(
    provider: PasswordProvider, target: CredentialTarget, connect: Callable[[str], T]
) -> T:
    """``connect(password)``; if the server refuses the login, once more with a fresh one.

    Args:
        provider: where passwords come from.
        target: the login (RDS endpoint name, port, user, region).
        connect: opens the connection with the given password (the driver's own errors
            propagate).

    Returns:
        What ``connect`` returned.

    Raises:
        CredentialsError: the provider has no password, failed, or returned something that
            is not one; the message names the login and never the password.
        Exception: whatever ``connect`` raised, if it was not an authentication failure, or
            if the retry failed too.
    """
    password = _password(provider, target)
    try:
        return connect(password)
    except Exception as exc:
        if not is_auth_failure(exc):
            raise
    provider.invalidate(target)
    return connect(_password(provider, target))


async def connect_with_password_async(
    provider: PasswordProvider,
    target: CredentialTarget,
    connect: Callable[[str], Awaitable[T]],
) -> T:
    """The asyncio twin of :func:`connect_with_password` (asyncpg, psycopg async)."""
    password = await _password_async(provider, target)
    try:
        return await connect(password)
    except Exception as exc:
        if not is_auth_failure(exc):
            raise
    provider.invalidate(target)
    return await connect(await _password_async(provider, target))


def _password(provider: PasswordProvider, target: CredentialTarget) -> str:
    with _asking(provider, target):
        return _checked(provider, target, provider.password(target))


async def _password_async(provider: PasswordProvider, target: CredentialTarget) -> str:
    with _asking(provider, target):
        return _checked(provider, target, await provider.password_async(target))


def is_auth_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it wraps) is the server refusing the login.

    Looks through SQLAlchemy's ``.orig``, Django's and asyncpg adapters' ``__cause__`` and
    implicit ``__context__`` chains.

    Args:
        exc: what connecting raised.

    Returns:
        ``True`` for SQLSTATE 28P01 (invalid_password) or 28000
        (invalid_authorization_specification), including libpq's message-only form.
    """
    seen, pending = {id(exc)}, [exc]
    while pending:
        current = pending.pop()
        codes = {getattr(current, "sqlstate", None), getattr(current, "pgcode", None)}
        fields = current.args[0] if current.args else None
        if isinstance(fields, dict):  # pg8000: the server's fields, {"C": "28P01", "M": ...}
            codes.add(fields.get("C"))
        if codes & _AUTH_FAILURE_SQLSTATES or _FATAL_AUTH.search(str(current)):
            return True
        for attribute in ("orig", "__cause__", "__context__"):
            inner = getattr(current, attribute, None)
            if isinstance(inner, BaseException) and id(inner) not in seen:
                seen.add(id(inner))
                pending.append(inner)
    return False


@contextlib.contextmanager
def _asking(provider: object, target: CredentialTarget) -> Iterator[None]:
    """Around a call to ``provider``: what it raises becomes a CredentialsError naming it.

    Only the exception's type is named: a provider's own message might quote the secret it
    could not read (it stays available as ``__cause__``).
    """
    try:
        yield
    except CredentialsError:
        raise
    except Exception as exc:
        raise CredentialsError(
            f"Password provider {_describe(provider)} failed for {target}: "
            f"{type(exc).__name__} (see the chained exception); it must return the password or "
            "raise CredentialsError."
        ) from exc


def _checked(provider: object, target: CredentialTarget, value: object) -> str:
    """``value`` if it is a password (a non-empty str), else a CredentialsError naming its type."""
    if not isinstance(value, str) or not value:
        what = "an empty string" if value == "" else f"a {type(value).__name__}"
        raise CredentialsError(
            f"Password provider {_describe(provider)} returned {what} for {target}; it must "
            "return the password as a non-empty str."
        )
    return value


@dataclass(frozen=True)
class CallableProvider:
    """A user function as a provider: called for every connection, nothing cached.

    The function is the user's: whether it caches is its business, and ``invalidate`` has no
    cache to drop. For async drivers it runs in a worker thread, because a function that reads
    a vault or a file would otherwise stall every task on the event loop.
    """

    function: Callable[..., object]
    takes_target: bool

    def password(self, target: CredentialTarget) -> str:
        with _asking(self.function, target):
            value = self.function(target) if self.takes_target else self.function()
        return _checked(self.function, target, value)

    async def password_async(self, target: CredentialTarget) -> str:
        import asyncio  # a module sync applications need not load

        return await asyncio.to_thread(self.password, target)

    def invalidate(self, target: CredentialTarget) -> None:
        """Nothing to drop: the function is called afresh for the retry anyway."""


def as_provider(obj: object) -> PasswordProvider:
    """Turn what a user configured into a :class:`PasswordProvider`.

    Args:
        obj: a provider (returned as is); a function taking no argument or the
            :class:`CredentialTarget`; or a string ``"package.module:attribute"`` (or
            ``"package.module.attribute"``) naming either, as URL query strings and Django
            settings can only carry text.

    Returns:
        A provider.

    Raises:
        CredentialsError: the string does not import, or the object is none of the above;
            the message says which and what is accepted.
    """
    name = _describe(obj)
    if isinstance(obj, str):
        try:
            obj = pkgutil.resolve_name(obj.strip())
        except (ImportError, AttributeError, ValueError) as exc:
            raise CredentialsError(
                f"Password provider {name}: cannot import module or attribute "
                f"({type(exc).__name__}: {exc}); name a function or provider as "
                "'package.module:attribute', importable from sys.path."
            ) from exc
    if isinstance(obj, type):
        raise CredentialsError(
            f"Password provider {name} is a class; give an instance of it "
            "(e.g. module:provider = MyProvider(...)) or a function."
        )
    if isinstance(obj, PasswordProvider):
        return obj
    if callable(obj):
        return CallableProvider(obj, _takes_target(obj, name))
    raise CredentialsError(
        f"Password provider {name} is a {type(obj).__name__}; expected a provider object "
        "(password / password_async / invalidate), a function returning the password, or a "
        "'module:attribute' string naming one."
    )


def _describe(obj: object) -> str:
    """How messages name a provider: its import path, never its ``repr`` (which is the user's)."""
    if isinstance(obj, str):
        return repr(obj)
    qualname = getattr(obj, "__qualname__", None)  # a function's, a class's; not an instance's
    return (
        f"{obj.__module__}:{qualname}" if isinstance(qualname, str) else f"<{type(obj).__name__}>"
    )


def _takes_target(function: Callable[..., object], name: str) -> bool:
    """Whether ``function`` is called with the target (or with nothing); others are refused."""
    method = inspect.getattr_static(type(function), "__call__", None)  # async __call__?
    if inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(method):
        raise CredentialsError(
            f"Password provider {name} is an async function; give a plain function (async "
            "drivers run it in a worker thread) or a provider with password_async()."
        )
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # some builtins have none: call them without arguments
        return False
    for arguments in ((None,), ()):
        with contextlib.suppress(TypeError):
            signature.bind(*arguments)
            return bool(arguments)
    raise CredentialsError(
        f"Password provider {name} requires arguments {signature}; it must take no "
        "argument or exactly one (the CredentialTarget: host, port, user, region)."
    )
