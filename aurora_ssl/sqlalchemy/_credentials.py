"""Passwords from a provider for every new physical connection of an engine.

Why here and not in a ``do_connect`` listener: a listener that opened the connection itself
would stop the chain, so the user's own ``do_connect`` hooks (and our read-back of what they
did) would be skipped. Instead our listener records *which login* the connection is for (the
endpoint name that is verified, port, user) and the dialect's final ``connect`` step asks the
provider and retries once after a refused login (``aurora_ssl.credentials``). For the
async dialects the same happens inside the coroutine that opens the connection, so the
provider's ``password_async`` runs on the event loop, not in SQLAlchemy's greenlet bridge.

The password exists only in the driver call: never in ``engine.url``, ``cparams`` seen by
hooks, ``ConnectionPoolEntry.info`` or any message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.engine.url import URL

from aurora_ssl.errors import CredentialsError
from aurora_ssl.options import parse_bool, password_conflict
from aurora_ssl.sqlalchemy._options import (
    IAM,
    IAM_PROFILE,
    INSECURE,
    PASSWORD_PROVIDER,
    PROVIDER_OBJECT,
)

# The credentials layer (a runtime-checkable Protocol, dataclasses) is imported only by engines
# that have a provider: an engine without one should not pay for it at start (issue 12).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from aurora_ssl.credentials import CredentialTarget, PasswordProvider

#: Key in the connect parameters from our do_connect listener to the dialect's connect step.
TARGET = "aurora_ssl_credential_target"


def password_where(url: URL, connect_args: Mapping[str, Any] | None) -> str | None:
    """Where the engine's configuration holds a password (the URL, connect_args), if anywhere."""
    if url.password:
        return "the URL"
    if connect_args and connect_args.get("password"):
        return "connect_args"
    return None


def provider_from(
    options: MutableMapping[str, str], given: object | None, password_in: str | None = None
) -> PasswordProvider | None:
    """The engine's provider from its options (and an object given as keyword), or ``None``.

    ``options`` gets the marker :data:`PROVIDER_OBJECT` for an object, so ``engine.url`` says
    a provider is needed and a derived engine refuses to start without one.

    Args:
        options: the engine's options (:func:`aurora_ssl.sqlalchemy._options.read_options`).
        given: a provider given as an object (a keyword argument), if any.
        password_in: where the engine's configuration also holds a password
            (:func:`password_where`): refused next to a provider, as ``aurora-ssl check`` and
            Django refuse it. Dropping it silently would hide a stale or misplaced secret.

    Raises:
        CredentialsError: both a provider and IAM, a profile without IAM, IAM with the
            insecure opt-out, a password next to a provider, a URL that came from an engine
            whose provider was an object, or a provider that does not import.
    """
    text = options.get(PASSWORD_PROVIDER)
    iam = parse_bool(options[IAM], IAM) if IAM in options else False
    if given is not None:
        if text is not None and text != PROVIDER_OBJECT:
            raise CredentialsError(
                f"{PASSWORD_PROVIDER} is {text!r} in the URL and an object as a keyword "
                "argument; give it in one place."
            )
        options[PASSWORD_PROVIDER] = PROVIDER_OBJECT
    elif text == PROVIDER_OBJECT:
        raise CredentialsError(
            f"This URL comes from an engine whose {PASSWORD_PROVIDER} was passed as an object, "
            "which a URL cannot carry, so this engine would have no password provider. Pass "
            f"{PASSWORD_PROVIDER}= again (an object) or use the 'module:attribute' string form."
        )
    if (given is not None or text is not None) and iam:
        raise CredentialsError(
            f"{PASSWORD_PROVIDER} and {IAM}=true both choose the password; give one of them."
        )
    if IAM_PROFILE in options and not iam:
        raise CredentialsError(
            f"{IAM_PROFILE} is given but {IAM} is not true; add {IAM}=true or remove the profile."
        )
    if iam and INSECURE in options and parse_bool(options[INSECURE], INSECURE):
        raise CredentialsError(
            f"{IAM}=true and {INSECURE}=true: RDS IAM authentication requires verified TLS. "
            f"Remove {INSECURE}."
        )
    if not iam and given is None and text is None:
        return None
    if password_in is not None:
        raise CredentialsError(
            password_conflict(password_in, f"{IAM}=true" if iam else PASSWORD_PROVIDER)
        )
    if iam:
        from aurora_ssl.credentials import IAMTokenProvider  # only with IAM (issue 12)

        return IAMTokenProvider(profile=options.get(IAM_PROFILE))
    from aurora_ssl.credentials import as_provider

    return as_provider(given if given is not None else text)


def record_target(cparams: MutableMapping[str, Any], host: str, port: Any, user: Any) -> None:
    """Note in ``cparams`` which login this connection is (read by :func:`wire`).

    Raises:
        CredentialsError: no user, several hosts or ports, or a port that is no number.
    """
    if not user:
        raise CredentialsError(
            f"A password provider needs the database user for {host}; put it in the URL "
            "(postgresql+driver://USER@host/db) or in connect_args (user=...)."
        )
    if "," in host or "," in str(port or ""):
        raise CredentialsError(
            f"A password provider asks for one endpoint's password, but {host} (port "
            f"{port}) lists several; give one host."
        )
    try:
        number = int(str(port)) if port not in (None, "") else 5432
    except ValueError:
        raise CredentialsError(f"Port {str(port)[:20]!r} for {host} is not a number.") from None
    from aurora_ssl.credentials import CredentialTarget

    cparams[TARGET] = CredentialTarget(host, number, str(user))


def wire(engine: Engine, provider: PasswordProvider) -> None:
    """Make the dialect's connect step log in with ``provider``'s password (one retry)."""
    dialect = engine.dialect
    driver_connect = dialect.connect
    is_async = bool(getattr(dialect, "is_async", False))

    def connect(*cargs: Any, **cparams: Any) -> Any:
        from aurora_ssl.credentials import CredentialTarget

        target = cparams.pop(TARGET, None)
        if cparams.get("password"):  # from a DSN in connect_args or a do_connect hook
            raise CredentialsError(
                password_conflict(
                    "the connect parameters",
                    f"the engine's password provider ({PASSWORD_PROVIDER} or {IAM})",
                )
            )
        if not isinstance(target, CredentialTarget):
            raise CredentialsError(
                "The connection reached the driver without aurora-ssl's connect step having "
                "named its login, so no password was asked for; it was not attempted."
            )
        if not is_async:
            from aurora_ssl.credentials import connect_with_password

            return connect_with_password(
                provider,
                target,
                lambda password: driver_connect(*cargs, **{**cparams, "password": password}),
            )
        inner = cparams.pop("async_creator_fn", None) or _default_async_connect(dialect)
        cparams["async_creator_fn"] = _async_creator(provider, target, inner)
        return driver_connect(*cargs, **cparams)

    setattr(dialect, "connect", connect)  # noqa: B010 - per engine, not the class


def _async_creator(
    provider: PasswordProvider, target: CredentialTarget, inner: Callable[..., Any]
) -> Callable[..., Any]:
    async def creator(*args: Any, **kwargs: Any) -> Any:
        async def attempt(password: str) -> Any:
            return await inner(*args, **{**kwargs, "password": password})

        from aurora_ssl.credentials import connect_with_password_async

        return await connect_with_password_async(provider, target, attempt)

    return creator


def _default_async_connect(dialect: Any) -> Callable[..., Any]:
    if dialect.driver == "asyncpg":
        import asyncpg

        return asyncpg.connect  # type: ignore[no-any-return]
    import psycopg

    return psycopg.AsyncConnection.connect
