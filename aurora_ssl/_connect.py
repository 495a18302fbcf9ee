"""What the integrations (SQLAlchemy, Django, the command line) share around one connect call.

* :func:`provider_for`: the password provider options name (IAM tokens, a function), one IAM
  provider per AWS profile in the process, so its token cache is shared;
* :func:`login`: which login a password is asked for, refusing what libpq cannot do with one
  password (several hosts);
* :func:`open_connection`: the driver call with exactly what was decided, a provider's
  password, the fallback from direct TLS, a failure explained;
* :func:`connect_verified`: that call, then the read-back (:func:`verify`), then
  :func:`log_connection`: the one record per new connection, verified or refused, on
  ``aurora_ssl.connections``, with structured fields (``extra=``) that JSON logging, structlog
  or OpenTelemetry read without parsing the message.
"""

from __future__ import annotations

import functools
import logging
import os

from aurora_ssl._endpoint import parse_endpoint
from aurora_ssl._options import PREFIX, Options, password_conflict
from aurora_ssl._policy import Decision
from aurora_ssl._policy import clear_caches as clear_core
from aurora_ssl._readback import (
    close_quietly,
    driver_of,
    require_tls,
    server_version,
    ssl_object_of,
)
from aurora_ssl.errors import AuroraSSLError, CredentialsError, InsecureConfigurationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from aurora_ssl._policy import SocketTarget
    from aurora_ssl._readback import ClientTLS
    from aurora_ssl.credentials import CredentialTarget, PasswordProvider

LOGGER_NAME = "aurora_ssl.connections"
logger = logging.getLogger(LOGGER_NAME)


def provider_for(
    options: Options, password_where: str | None = None, *, django: bool = False
) -> PasswordProvider | None:
    """The provider ``options`` choose, or ``None`` (log in with the configured password).

    Args:
        password_where: where the configuration also holds a password (``"the URL"``): a
            password next to a provider is refused, since one of them would be silently
            ignored (a stale secret, a provider never asked).
        django: name the options as Django's ``AURORA_SSL`` does, in messages.

    Raises:
        CredentialsError: a password next to a provider, or a provider that does not import.
    """
    if not options.iam and options.password_provider is None:
        return None
    option = "iam" if options.iam else "password_provider"
    name = option.upper() if django else f"{PREFIX}{option}{'=true' if options.iam else ''}"
    if password_where is not None:
        raise CredentialsError(password_conflict(password_where, name))
    if options.iam:
        return _iam_provider(options.iam_profile)
    from aurora_ssl.credentials import as_provider

    return as_provider(options.password_provider)


@functools.lru_cache(maxsize=16)
def _iam_provider(profile: str | None) -> PasswordProvider:
    from aurora_ssl.credentials import IAMTokenProvider

    return IAMTokenProvider(profile=profile)


def login(host: str, port: object, user: object) -> CredentialTarget:
    """The login a provider's password is for: the verified endpoint name, port and user.

    Raises:
        CredentialsError: no user, several hosts or ports (libpq sends one password to
            whichever host it reaches, and an IAM token is signed for one host), or a port
            that is not a number.
    """
    from aurora_ssl.credentials import CredentialTarget

    if not user:
        raise CredentialsError(
            f"A password provider needs the database user for {host}; give the user (in the "
            "URL, connect_args or Django's USER)."
        )
    if "," in host or "," in str(port or ""):
        raise CredentialsError(
            f"A password provider gives one endpoint's password, but the hosts {host} (port "
            f"{port}) are several, and libpq sends one password to whichever it reaches; "
            "give one host."
        )
    text = str(port or "5432").strip()
    if not text.isdigit():
        raise CredentialsError(f"Port {text[:20]!r} for {host} is not a number.")
    return CredentialTarget(host, int(text), str(user))


def open_connection(
    decision: Decision | SocketTarget,
    connect: Callable[[Any], Any],
    provider: PasswordProvider | None = None,
    ask: Callable[..., Any] | None = None,
) -> tuple[Any, Any]:
    """``connect(conninfo)`` (libpq) or ``connect(keywords)`` (asyncpg, pg8000) with exactly
    what was decided, and what it was made with.

    A provider's password is added for this call only (one retry after a refused login;
    ``ask`` replaces :func:`~aurora_ssl.credentials.connect_with_password`, as an async engine
    does); a password already there next to a provider is refused; a failed direct TLS
    attempt is made once more with the standard negotiation; what the connection shows about
    direct TLS is remembered. The driver's failure is raised in aurora-ssl's words, the
    driver's exception as its cause.
    """
    if isinstance(decision, Decision):
        given, host = decision.params, decision.params["host"]

        def attempt(password: str | None) -> tuple[Any, Any]:
            try:
                return connect(decision.with_password(password)), decision
            except Exception as error:
                retry = decision.fallback(error)
                if retry is None:
                    raise
            return connect(retry.with_password(password)), retry

    else:
        given, host = decision.kwargs, decision.server_name

        def attempt(password: str | None) -> tuple[Any, Any]:
            return connect({**given, **({"password": password} if password else {})}), decision

    try:
        if provider is None:
            connection, used = attempt(None)
        else:
            from aurora_ssl.credentials import connect_with_password

            if given.get("password"):
                where = "the connect parameters"
                raise CredentialsError(password_conflict(where, "the password provider"))
            user = given.get("user") or os.environ.get("PGUSER")  # as libpq and asyncpg read it
            target = login(host, given.get("port"), user)
            connection, used = (ask or connect_with_password)(provider, target, attempt)
    except AuroraSSLError:
        raise
    except Exception as error:  # the driver's: explained in aurora-ssl's words, never retried
        from aurora_ssl._diagnostics._translation import translate_error, translate_socket_error

        if isinstance(decision, Decision):
            shown = {k: v for k, v in given.items() if k not in ("password", "sslpassword")}
            explained = translate_error(error, params=shown)
        else:
            explained = translate_socket_error(error, decision)
        if explained is None:
            raise
        raise explained from error
    if isinstance(used, Decision):
        try:
            used.connected(server_version(connection))
        except AuroraSSLError:  # no driver's connection (a test's mock): closed, never used
            close_quietly(connection)
            raise
    return connection, used


def connect_verified(
    decision: Decision | SocketTarget,
    connect: Callable[[Any], Any],
    log: Callable[..., None],
    provider: PasswordProvider | None = None,
    ask: Callable[..., Any] | None = None,
    check: Callable[[Any, Any], None] | None = None,
) -> tuple[Any, Any, ClientTLS]:
    """What every integration does for a new connection: :func:`open_connection`, then
    :func:`verify`; a refused connection is logged (``log``, :func:`log_connection` with the
    integration's level, source and driver) and raised."""
    try:
        connection, used = open_connection(decision, connect, provider, ask)
    except AuroraSSLError as error:
        log(decision, error=error)
        raise
    return connection, used, verify(connection, used, log, check)


def verify(
    connection: Any,
    made: Decision | SocketTarget,
    log: Callable[..., None],
    check: Callable[[Any, Any], None] | None = None,
) -> ClientTLS:
    """Read a new connection back (TLS in use; every pinned value, or our ``SSLContext`` and
    server name), run ``check`` (Django asks the server), then log it. A refused connection
    is closed before any query, logged and raised."""
    try:
        expected = made.params if isinstance(made, Decision) else None
        tls = require_tls(connection, expected=expected, close=False)
        if not isinstance(made, Decision):
            ssl_object = ssl_object_of(*driver_of(connection))  # there: require_tls passed
            if ssl_object.context is not made.context or not (
                tls.driver == "asyncpg"
                or ssl_object.server_hostname == made.server_name.split(",")[0]
            ):
                raise InsecureConfigurationError(
                    f"The {tls.driver} connection was made with another SSLContext or server "
                    "name than aurora-ssl set; it was closed before any query."
                )
        if check is not None:
            check(connection, made)
    except BaseException as error:
        close_quietly(connection)
        if isinstance(error, AuroraSSLError):
            log(made, error=error)
        raise
    log(made, tls=tls)
    return tls


def endpoint_of(made: Decision | SocketTarget) -> tuple[str, Any]:
    """``(host, port)`` a connection was decided for: the name verified, and the port."""
    if isinstance(made, Decision):
        return made.params["host"], made.params.get("port")
    return made.server_name, made.kwargs.get("port")


def log_connection(
    made: Decision | SocketTarget,
    *,
    level: int,
    source: str,
    driver: str,
    tls: ClientTLS | None = None,
    error: BaseException | None = None,
) -> None:
    """One line per new connection on ``aurora_ssl.connections``, with structured fields.

    A verified connection is logged at ``level``; a refused one (``error``) at WARNING.
    Fields (``extra=``): ``aurora_ssl_outcome`` (``verified``/``refused``), ``db_source``
    (engine or Django alias), ``server_host``, ``server_port``, ``aws_region``,
    ``trust_scope``, ``tls_version``, ``tls_cipher``, ``db_driver``.
    """
    if error is not None:
        level = logging.WARNING
    if not logger.isEnabledFor(level):
        return
    host, port = endpoint_of(made)
    version, cipher = (tls.protocol, tls.cipher) if tls is not None else (None, None)
    fields: dict[str, Any] = {
        "aurora_ssl_outcome": "refused" if error is not None else "verified",
        "db_source": source,
        "server_host": host,
        "server_port": port,
        "aws_region": parse_endpoint(host.split(",")[0]).region,
        "trust_scope": made.trust.scope,
        "tls_version": version,
        "tls_cipher": cipher,
        "db_driver": driver,
    }
    if error is not None:
        message = "refused connection %s to %s:%s (trust %s, driver %s): %s"
        args: tuple[Any, ...] = (source, host, port, made.trust.scope, driver, type(error).__name__)
    else:
        message = "verified TLS connection %s to %s:%s (trust %s, %s, driver %s)"
        args = (source, host, port, made.trust.scope, version or "TLS", driver)
    logger.log(level, message, *args, extra=fields)


def clear_caches() -> None:
    """Forget every memo of this process: policies, trust, libpq parsers, endpoints, direct
    TLS, IAM providers (with their tokens). For tests, and after the environment changed;
    files on disk are left alone."""
    clear_core()
    _iam_provider.cache_clear()
