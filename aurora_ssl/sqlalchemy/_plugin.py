"""SQLAlchemy: ``create_engine``, ``create_async_engine``, the URL plugin and ``attach``.

Everything happens at the dialect's ``connect``, wrapped per engine (:func:`attach`): it runs
after every ``do_connect`` listener, whatever their order, and is the last step before the
driver. There the final arguments are checked (:meth:`aurora_ssl._policy.Policy.decide`): a
listener that changes ``host`` gets trust chosen for the new host, one that weakens anything is
refused, before any byte is sent. The driver then gets exactly what was checked; the password
of a provider is asked for there too (one retry after a refused login). Right after the driver
returns, the connection is read back (TLS in use, every pinned value) and logged.

A ``do_connect`` listener that returns its own connection skips that step and cannot be checked
before login: the ``connect`` event (first in line) closes it before its first query.
``creator=``, ``pool=`` and ``async_creator=`` are refused for the same reason.
"""

from __future__ import annotations

import functools
import logging
import re
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import CreateEnginePlugin, Engine, make_url
from sqlalchemy.engine.url import URL

from aurora_ssl._connect import log_connection, login, provider_for
from aurora_ssl._options import (
    PREFIX,
    PROVIDER_OBJECT,
    Options,
    is_ours,
    password_conflict,
    read_options,
)
from aurora_ssl._policy import Policy, policy_for, refuse_insecure_for_aws, warn_insecure
from aurora_ssl._readback import ClientTLS, close_quietly, driver_of, require_tls, server_version
from aurora_ssl.errors import (
    AuroraSSLError,
    CredentialsError,
    InsecureConfigurationError,
    TLSError,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from aurora_ssl.credentials import PasswordProvider

PLUGIN_NAME = "aurora_ssl"
LOGGER_NAME = "aurora_ssl.connections"
_LIBPQ = {"psycopg2": "psycopg2", "psycopg": "psycopg", "psycopg_async": "psycopg"}
_SOCKET = frozenset({"asyncpg", "pg8000"})
_NO_CREATOR = (
    "{what} is not accepted by aurora-ssl: SQLAlchemy then skips its connect step, so the TLS "
    "settings and trust anchor would come from your code, unchecked. Remove it and pass "
    "connection settings in the URL or connect_args (use a do_connect event listener for "
    "per-connection credentials); to connect outside SQLAlchemy, use "
    "aurora_ssl.connection_params()."
)


class VerifiedConnection:
    """The client-side facts of one new, verified connection (:func:`on_verified`).

    Attributes:
        endpoint: the name the certificate was verified against.
        port: the server port.
        driver: ``psycopg2``, ``psycopg``, ``psycopg_async``, ``asyncpg`` or ``pg8000``.
        trust_scope: why these roots (``region:us-east-1``, ``proxy``, ``full-bundle``...).
        tls: what the driver reports.
        params: the security-relevant parameters it was made with; never the password.
    """

    __slots__ = ("driver", "endpoint", "params", "port", "tls", "trust_scope")

    def __init__(self, endpoint: str, port: int | None, driver: str, trust_scope: str,
                 tls: ClientTLS, params: Mapping[str, Any]) -> None:  # fmt: skip
        self.endpoint, self.port, self.driver = endpoint, port, driver
        self.trust_scope, self.tls, self.params = trust_scope, tls, params


class _Guard:
    """Per dialect: the connections our connect step just made (by id, held until the pool's
    ``connect`` event takes them, so an id cannot be reused meanwhile), and the on_verified
    callbacks."""

    def __init__(self) -> None:
        self.made: dict[int, Any] = {}
        self.callbacks: list[Callable[[VerifiedConnection], None]] = []


_guards: weakref.WeakKeyDictionary[Any, _Guard] = weakref.WeakKeyDictionary()


def create_engine(url: str | URL, **kwargs: Any) -> Engine:
    """``sqlalchemy.create_engine`` with verified TLS on every connection.

    Accepts everything ``sqlalchemy.create_engine`` accepts except ``creator`` and ``pool``,
    plus the ``aurora_ssl_*`` options.

    Raises:
        InsecureConfigurationError: a weaker sslmode in the URL or ``connect_args``, a driver
            that cannot verify, ``creator=``/``pool=``, an unknown ``aurora_ssl_*`` option, or
            the opt-out for an AWS endpoint.
        BundleError: the trust file for the URL's host cannot be used.
    """
    return sqlalchemy.create_engine(_with_plugin(url, kwargs), **kwargs)


def create_async_engine(url: str | URL, **kwargs: Any) -> AsyncEngine:
    """``sqlalchemy.ext.asyncio.create_async_engine`` with verified TLS.

    For ``postgresql+asyncpg`` (our ``SSLContext``) and ``postgresql+psycopg`` (libpq).

    Raises:
        InsecureConfigurationError: as :func:`create_engine`, and for ``async_creator=``.
    """
    if kwargs.get("async_creator") is not None:
        raise InsecureConfigurationError(_NO_CREATOR.format(what="async_creator="))
    from sqlalchemy.ext.asyncio import create_async_engine as sa_create_async_engine

    return sa_create_async_engine(_with_plugin(url, kwargs), **kwargs)


def _url_plugins(url: URL) -> list[str]:
    named = url.query.get("plugin", ())
    return [named] if isinstance(named, str) else list(named)


def _with_plugin(url: str | URL, kwargs: dict[str, Any]) -> URL:
    parsed = make_url(url)
    plugins = list(kwargs.get("plugins", ()))
    if PLUGIN_NAME not in _url_plugins(parsed) and PLUGIN_NAME not in plugins:
        kwargs["plugins"] = [*plugins, PLUGIN_NAME]
    return parsed


class AuroraSSLPlugin(CreateEnginePlugin):
    """The ``sqlalchemy.plugins`` entry point ``aurora_ssl``: ``?plugin=aurora_ssl``."""

    def __init__(self, url: URL, kwargs: dict[str, Any]) -> None:
        super().__init__(url, kwargs)
        for what in ("pool", "creator"):
            if kwargs.get(what) is not None:
                is_async = "create_async_engine" in getattr(kwargs[what], "__qualname__", "")
                name = "async_creator=" if is_async else f"{what}="
                raise InsecureConfigurationError(_NO_CREATOR.format(what=name))
        self.options = _read_options(url, kwargs)
        if not self.options.insecure_local_dev:  # before SQLAlchemy imports the driver
            _refuse_unsupported(url.get_backend_name(), url.get_driver_name(), url.drivername)
        connect_args = self.connect_args = dict(kwargs.get("connect_args") or {})
        where = (
            "the URL" if url.password else "connect_args" if connect_args.get("password") else None
        )
        self.provider = provider_for(self.options, where)
        self._url_plugins = _url_plugins(url)
        ours = [k for k in connect_args if k == "plugin" or is_ours(k)]
        if ours:
            raise InsecureConfigurationError(
                f"{ours[0]} in connect_args would be ignored: connect_args go to the driver. "
                "Pass it as a keyword argument of create_engine or as a URL query key."
            )

    def update_url(self, url: URL) -> URL:
        # engine.url keeps the plugin and our options: an engine made from it
        # (sqlalchemy.create_engine(engine.url)) gets the same protection.
        names = list(dict.fromkeys([*self._url_plugins, PLUGIN_NAME]))
        query: dict[str, Any] = {"plugin": names if len(names) > 1 else names[0]}
        for name, text in self.options.given.items():
            if text != "false":
                query[PREFIX + name] = text
        if (
            self.options.password_provider is not None
            and "password_provider" not in self.options.given
        ):
            query[f"{PREFIX}password_provider"] = PROVIDER_OBJECT
        ours = [k for k in url.query if is_ours(k)]
        return url.difference_update_query(ours).update_query_dict(query)

    def engine_created(self, engine: Engine) -> None:
        attach(engine, self.options, provider=self.provider, connect_args=self.connect_args)


def _read_options(url: URL, kwargs: dict[str, Any]) -> Options:
    """Our options from the URL query and the keyword arguments (popped), read by the one
    reader; the two must agree where both give one."""
    query = {k: v for k, v in url.query.items() if is_ours(k)}
    keywords = {k: kwargs.pop(k) for k in [k for k in kwargs if is_ours(k)]}
    provider_text = query.get(f"{PREFIX}password_provider")
    if provider_text == PROVIDER_OBJECT:
        if keywords.get(f"{PREFIX}password_provider") is None:
            raise CredentialsError(
                f"This URL comes from an engine whose {PREFIX}password_provider was an object, "
                f"which a URL cannot carry; pass {PREFIX}password_provider= again (an object) "
                "or use the 'module:attribute' form."
            )
        del query[f"{PREFIX}password_provider"]
    from_url = read_options(query, "the URL query")
    from_keywords = read_options(keywords, "the keyword arguments")
    for name in set(from_url.given) & set(from_keywords.given):
        if from_url.given[name] != from_keywords.given[name]:
            raise InsecureConfigurationError(
                f"{PREFIX}{name} is {from_url.given[name]!r} in the URL but "
                f"{from_keywords.given[name]!r} as a keyword argument; give it in one place."
            )
    return read_options({**query, **keywords}, "the URL query and keyword arguments")


def attach(
    engine: Engine,
    options: Options,
    *,
    provider: PasswordProvider | None = None,
    connect_args: Mapping[str, Any] | None = None,
) -> None:
    """Enforce verified TLS on every new connection of ``engine`` (the sync engine of an
    async one); attaching twice attaches once. See the module docstring.

    Raises:
        InsecureConfigurationError: what would fail every connection fails now (a driver
            that cannot verify, a weaker setting in the URL or ``connect_args``).
    """
    dialect = engine.dialect
    if dialect in _guards:
        return
    guard = _guards[dialect] = _Guard()
    driver = dialect.driver
    if options.insecure_local_dev:
        refuse_insecure_for_aws(options, _hosts(engine, connect_args or {}))
        warn_insecure(engine.url.render_as_string(hide_password=True))
        _wrap_connect(engine, _insecure_connect(engine, options, provider))
        return
    try:
        _refuse_unsupported(dialect.name, driver, engine.url.drivername)
    except InsecureConfigurationError:
        del _guards[dialect]
        raise
    cargs, url_params = dialect.create_connect_args(engine.url)
    cparams = {**url_params, **(connect_args or {})}
    if driver == _AWS_WRAPPER:
        secure: Any = _aws_wrapper_connect(engine, guard, provider, cparams)
    else:
        policy = policy_for(options)
        _strip_ours(cparams)
        # Fails now what would fail every connection: the URL and connect_args as SQLAlchemy
        # will pass them (a do_connect listener may still change them; checked again then).
        _decide(policy, driver, cargs, cparams, "the URL and connect_args")
        secure = _SecureConnect(engine, policy, guard, provider, options.log_level)
    _wrap_connect(engine, secure)

    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        if guard.made.pop(id(dbapi_connection), None) is not dbapi_connection:
            close_quietly(dbapi_connection)
            kind = type(dbapi_connection)
            raise InsecureConfigurationError(
                f"A {kind.__module__}.{kind.__qualname__} connection reached the pool without "
                "passing aurora-ssl's connect step, so it was never checked; it was closed "
                "before its first query. It came from a do_connect listener that returned its "
                "own connection, or from a replaced dialect.connect or pool creator (as a unit "
                "test's mock does). Let the listener change cparams instead, and let the engine "
                "connect."
            )

    event.listen(engine, "connect", on_connect, insert=True)


def _refuse_unsupported(name: str, driver: str, drivername: str) -> None:
    if name != "postgresql" or driver not in {*_LIBPQ, *_SOCKET, _AWS_WRAPPER}:
        raise InsecureConfigurationError(
            "aurora-ssl supports postgresql+psycopg2, postgresql+psycopg, postgresql+asyncpg, "
            f"postgresql+pg8000 and postgresql+{_AWS_WRAPPER}; {drivername} cannot be made to "
            "verify the server."
        )


def _wrap_connect(engine: Engine, connect: Callable[..., Any]) -> None:
    setattr(engine.dialect, "connect", connect)  # noqa: B010 - per engine, not the class


def _strip_ours(cparams: dict[str, Any]) -> None:
    """``plugin`` and our options reach the connect parameters from ``engine.url``."""
    for key in [k for k in cparams if k == "plugin" or is_ours(k)]:
        del cparams[key]


def _decide(policy: Policy, driver: str, cargs: Any, cparams: dict[str, Any], origin: str) -> Any:
    if cparams.get("async_creator_fn") is not None:
        raise InsecureConfigurationError(_NO_CREATOR.format(what=f"async_creator_fn in {origin}"))
    if driver in _SOCKET:
        socket_params = {
            k: v for k, v in cparams.items() if not k.startswith("prepared_statement_")
        }
        return policy.decide_socket(socket_params, origin, driver=driver)
    return policy.decide(cparams, origin, driver=_LIBPQ[driver], args=cargs)


class _SecureConnect:
    """The engine's ``dialect.connect``: check, log in, read back (see the module)."""

    def __init__(self, engine: Engine, policy: Policy, guard: _Guard,
                 provider: PasswordProvider | None, level: int) -> None:  # fmt: skip
        self.dialect, self.policy, self.guard = engine.dialect, policy, guard
        self.provider, self.level = provider, level
        self.driver_connect = engine.dialect.connect
        self.source = f"engine {engine.url.set(query={}).render_as_string(hide_password=True)}"
        self.driver: str = engine.dialect.driver
        self.socket = self.driver in _SOCKET

    def __call__(self, *cargs: Any, **cparams: Any) -> Any:
        _strip_ours(cparams)
        decision = _decide(self.policy, self.driver, cargs, cparams, "the connect parameters")
        extras = {k: v for k, v in cparams.items() if k.startswith("prepared_statement_")}
        if self.socket:
            host, port = decision.server_name, decision.kwargs.get("port")
            params = {"host": host, "port": str(port), "sslrootcert": decision.trust.path}
        else:
            host, port, params = (
                decision.params["host"],
                decision.params.get("port"),
                decision.params,
            )
        log = functools.partial(
            log_connection,
            self.level,
            source=self.source,
            host=host,
            port=port,
            driver=self.driver,
            trust_scope=decision.trust.scope,
        )
        try:
            user = (decision.kwargs if self.socket else params).get("user")
            connection, used = self._connect(decision, extras, host, port, user)
            tls = self._read_back(connection, used)
        except AuroraSSLError as error:
            log(error=error)
            raise
        if not self.socket:
            used.connected(server_version(connection))
            params = used.params
        self.guard.made[id(connection)] = connection
        log(tls=tls)
        shown = {k: v for k, v in params.items() if k not in ("password", "sslpassword")}
        facts = VerifiedConnection(host, _port(port), self.driver, decision.trust.scope, tls, shown)
        for callback in list(self.guard.callbacks):
            try:
                callback(facts)
            except Exception:
                logging.getLogger(LOGGER_NAME).warning(
                    "on_verified callback %r failed; the connection is kept",
                    callback,
                    exc_info=True,
                )
        return connection

    def _connect(
        self, decision: Any, extras: dict[str, Any], host: str, port: Any, user: Any
    ) -> tuple[Any, Any]:
        """The connection, with the provider's password if any, and what it was made with
        (the standard negotiation after a failed direct attempt)."""
        from aurora_ssl.credentials import connect_with_password, connect_with_password_async

        target = login(host, port, user) if self.provider is not None else None
        given = decision.kwargs if self.socket else decision.params
        if target is not None and given.get("password"):
            raise CredentialsError(
                password_conflict("the connect parameters", "the engine's password provider")
            )
        used = [decision]

        def arguments(current: Any, password: str | None) -> tuple[Any, dict[str, Any]]:
            if self.socket:
                return (), {**current.kwargs, **({"password": password} if password else {})}
            conninfo = current.with_password(password) if password else current.conninfo
            return (conninfo,), dict(current.driver_kwargs)

        if getattr(self.dialect, "is_async", False):
            real = _async_connect(self.driver)

            async def once(password: str | None) -> Any:
                while True:
                    args, kwargs = arguments(used[0], password)
                    try:
                        return await real(*args, **kwargs)
                    except Exception as error:  # noqa: BLE001 - decision, translated or raised
                        _retry_or_raise(used, error)

            async def creator(*_: Any, **__: Any) -> Any:
                if self.provider is None or target is None:
                    return await once(None)
                return await connect_with_password_async(self.provider, target, once)

            return self.driver_connect(async_creator_fn=creator, **extras), used[0]

        def once_sync(password: str | None) -> Any:
            while True:
                args, kwargs = arguments(used[0], password)
                try:
                    return self.driver_connect(*args, **kwargs)
                except Exception as error:  # noqa: BLE001 - decision, translated or raised
                    _retry_or_raise(used, error)

        if self.provider is None or target is None:
            return once_sync(None), used[0]
        return connect_with_password(self.provider, target, once_sync), used[0]

    def _read_back(self, connection: Any, decision: Any) -> ClientTLS:
        if not self.socket:
            return require_tls(connection, expected=decision.params)
        tls = require_tls(connection)
        conn = driver_of(connection)[1]
        asyncpg = self.driver == "asyncpg"
        ssl_object = conn._transport.get_extra_info("ssl_object") if asyncpg else conn._usock
        name = decision.server_name.split(",")[0]
        if ssl_object.context is not decision.context or not (
            asyncpg or ssl_object.server_hostname == name
        ):
            close_quietly(connection)
            raise InsecureConfigurationError(
                f"The {self.driver} connection was made with another SSLContext or server name "
                "than aurora-ssl set; it was closed before any query."
            )
        return tls


def _retry_or_raise(used: list[Any], error: Exception) -> None:
    """After a failed attempt: go on with the standard negotiation (``used[0]`` replaced) if
    direct TLS was our choice and failed before the handshake; else raise the failure in
    aurora-ssl's words (pure: never connects again), the driver's error as its cause."""
    retry = used[0].fallback(error) if hasattr(used[0], "fallback") else None
    if retry is not None:
        used[0] = retry
        return
    translated = _translate(error, used[0])
    if translated is None:
        raise error
    raise translated from error


def _port(port: Any) -> int | None:
    text = str(port) if port is not None else ""
    return int(text) if text.isdigit() else None


def _async_connect(driver: str) -> Callable[..., Any]:
    if driver == "asyncpg":
        import asyncpg

        return asyncpg.connect  # type: ignore[no-any-return]
    import psycopg

    return psycopg.AsyncConnection.connect


def _translate(exc: BaseException, decision: Any) -> AuroraSSLError | None:
    """The driver's failure in aurora-ssl's words (pure: never connects again)."""
    if isinstance(exc, AuroraSSLError):
        return None
    from aurora_ssl._diagnostics._translation import translate_error

    if hasattr(decision, "params"):
        params = {k: v for k, v in decision.params.items() if k not in ("password", "sslpassword")}
        return translate_error(exc, params=params)
    return _socket_failure(exc, decision)


_VERIFY_DETAIL = re.compile(r"certificate verify failed: ([^(]*)")


def _socket_failure(exc: BaseException, target: Any) -> AuroraSSLError | None:
    """asyncpg's and pg8000's raw failures (``ssl`` errors, asyncpg's ``rejected SSL
    upgrade``, pg8000's ``Server refuses SSL``) restated in libpq's words, so their users get
    the errors psycopg users get; the driver's own words end the message."""
    import ssl

    from aurora_ssl._diagnostics._translation import scrub, translate_error

    text = str(exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code == 62 or "hostname mismatch" in text.lower():
            libpq = f'server certificate does not match host name "{target.server_name}"'
        elif exc.verify_code in (9, 10):  # not yet valid, expired
            libpq = "certificate verify failed: certificate has expired"
        else:
            match = _VERIFY_DETAIL.search(text)
            libpq = f"certificate verify failed: {match[1].strip() if match else ''}"
    elif isinstance(exc, ssl.SSLError):
        libpq = f"SSL error: {text}"
    elif "rejected SSL upgrade" in text or "Server refuses SSL" in text:
        libpq = "server does not support SSL, but SSL was required"
    elif isinstance(exc, ConnectionResetError) or "unexpected connection_lost" in text:
        why = (
            "Direct TLS (sslnegotiation=direct) needs PostgreSQL 17 or newer: remove it to use "
            "the standard negotiation."
            if target.kwargs.get("direct_tls")
            else "Something in the path (a proxy, a load balancer, a firewall) may cut TLS "
            "connections; run `aurora-ssl inspect HOST` to see what the server offers."
        )
        return TLSError(
            f"{target.server_name}:{target.kwargs.get('port')} closed the connection during "
            f"the TLS set-up, before the certificate could be checked. {why}"
        )
    else:
        return None
    address = target.kwargs.get("host")
    params = {"host": target.server_name, "port": target.kwargs.get("port"),
              "hostaddr": address if address != target.server_name else None,
              "sslrootcert": target.trust.path}  # fmt: skip
    error = translate_error(_RestatedError(libpq), params=params)
    if error is None:
        return None
    driver = "pg8000" if "ssl_context" in target.kwargs else "asyncpg"
    said = f'({driver}: "{scrub(" ".join(text.split()))[:300]}")'
    return type(error)(re.sub(r'\(libpq: ".*"\)$', lambda _: said, str(error), flags=re.DOTALL))


class _RestatedError(Exception):
    """A socket driver's failure restated in libpq's words, for :func:`translate_error`."""


def _insecure_connect(
    engine: Engine, options: Options, provider: PasswordProvider | None
) -> Callable[..., Any]:
    """With the opt-out: no decision, but never an AWS name (checked at the last moment)."""
    driver_connect = engine.dialect.connect

    def connect(*cargs: Any, **cparams: Any) -> Any:
        from aurora_ssl.credentials import connect_with_password

        _strip_ours(cparams)
        refuse_insecure_for_aws(options, _hosts(None, cparams, cargs))
        if provider is None:
            return driver_connect(*cargs, **cparams)
        target = login(str(cparams.get("host") or ""), cparams.get("port"), cparams.get("user"))
        return connect_with_password(
            provider,
            target,
            lambda password: driver_connect(*cargs, **{**cparams, "password": password}),
        )

    return connect


def _hosts(engine: Engine | None, params: Mapping[str, Any], cargs: Any = ()) -> list[str]:
    """Every name or address a connection could go to, for the opt-out's guard."""
    import os

    found: list[str] = []
    if engine is not None:
        params = {**engine.dialect.create_connect_args(engine.url)[1], **params}
    for key in ("host", "hostaddr"):
        value = params.get(key) or os.environ.get(f"PG{key.upper()}")
        values = value if isinstance(value, (list, tuple)) else [value]
        found += [
            str(v).split(":")[0].strip() for item in values if item for v in str(item).split(",")
        ]
    for text in [
        *[a for a in cargs if isinstance(a, str)],
        *[params.get(k) for k in ("dsn", "conninfo")],
    ]:
        if isinstance(text, str) and "host" in text:
            found.append(text)  # refuse_insecure_for_aws looks for AWS names in it
    return [h for h in found if h]


def _guard_of(engine: Any) -> _Guard | None:
    return _guards.get(getattr(engine, "sync_engine", engine).dialect)


def is_protected(engine: Any) -> bool:
    """Whether every new connection of ``engine`` (an ``Engine`` or ``AsyncEngine``) is made
    with verified TLS by aurora-ssl (``False`` with ``aurora_ssl_insecure_local_dev``)."""
    guard = _guard_of(engine)
    return guard is not None and isinstance(
        getattr(engine, "sync_engine", engine).dialect.connect, (_SecureConnect, _WrapperConnect)
    )


def on_verified(engine: Any, callback: Callable[[VerifiedConnection], None]) -> None:
    """Call ``callback(VerifiedConnection)`` for each new verified connection of ``engine``.

    It runs in the connecting thread (or greenlet) before the connection is used: keep it
    quick. An exception in it is logged on ``aurora_ssl.connections``; the connection is kept.

    Raises:
        TypeError: ``engine`` is not protected by aurora-ssl (the callback would never run).
    """
    guard = _guard_of(engine)
    if guard is None or not is_protected(engine):
        raise TypeError(
            "on_verified needs an engine built by aurora_ssl.sqlalchemy (create_engine, "
            "create_async_engine or ?plugin=aurora_ssl) with verification on; this one is not."
        )
    if isinstance(getattr(engine, "sync_engine", engine).dialect.connect, _WrapperConnect):
        raise TypeError(
            f"on_verified is not available for postgresql+{_AWS_WRAPPER} engines (the wrapper "
            f"connects on its own); read the {LOGGER_NAME} log records instead."
        )
    guard.callbacks.append(callback)


# -- postgresql+aws_wrapper_psycopg: AWS's Advanced Python Wrapper ------------------------------
# The wrapper opens physical connections on its own (failover, monitoring, read/write
# splitting), so the decision happens in aurora-ssl's wrapper plugin (aurora_ssl.aws_wrapper),
# not here: the engine adds the plugin to every connect and keeps our options in the
# properties the plugin reads (from engine.url's query).

_AWS_WRAPPER = "aws_wrapper_psycopg"


class _WrapperConnect:
    """The engine's ``dialect.connect`` for the wrapper: every connection with our plugin."""

    def __init__(self, driver_connect: Callable[..., Any], guard: _Guard) -> None:
        self.driver_connect, self.guard = driver_connect, guard

    def __call__(self, *cargs: Any, **cparams: Any) -> Any:
        from aurora_ssl.aws_wrapper import with_plugin

        connection = self.driver_connect(*cargs, **with_plugin(cparams))
        self.guard.made[id(connection)] = connection
        return connection


def _aws_wrapper_connect(
    engine: Engine, guard: _Guard, provider: PasswordProvider | None, cparams: dict[str, Any]
) -> _WrapperConnect:
    if engine.dialect.is_async:
        raise InsecureConfigurationError(
            f"postgresql+{_AWS_WRAPPER} with create_async_engine runs the wrapper's async "
            "package, whose plugins aurora-ssl does not cover; use create_engine."
        )
    if provider is not None:
        raise CredentialsError(
            f"{PREFIX}iam and {PREFIX}password_provider do not reach the connections AWS's "
            "wrapper opens; use its iam (or aws_secrets_manager) plugin, which sets the "
            "password before aurora-ssl's decision: wrapper_plugins=...,iam."
        )
    from aurora_ssl.aws_wrapper import check, register, with_plugin

    register()
    check(with_plugin(cparams), "the URL and connect_args")
    return _WrapperConnect(engine.dialect.connect, guard)
