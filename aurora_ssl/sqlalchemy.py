"""SQLAlchemy: ``create_engine``, ``create_async_engine``, the URL plugin and ``attach``.

Everything happens at the dialect's ``connect``, wrapped per engine (:func:`attach`): it runs
after every ``do_connect`` listener, whatever their order, and is the last step before the
driver. There the final arguments are checked (:meth:`aurora_ssl._policy.Policy.decide`): a
listener that changes ``host`` gets trust chosen for the new host, one that weakens anything is
refused, before any byte is sent. The driver then gets exactly what was checked; the password
of a provider is asked for there too (one retry after a refused login). Right after the driver
returns, the connection is read back (TLS in use, every pinned value) and logged on
``aurora_ssl.connections`` (see the SQLAlchemy guide).

A ``do_connect`` listener that returns its own connection skips that step and cannot be checked
before login: the ``connect`` event (first in line) closes it before its first query.
``creator=``, ``pool=`` and ``async_creator=`` are refused for the same reason.

Options, as keyword arguments or URL query keys (strings parsed strictly; an unknown
``aurora_ssl_*`` key is an error):

==================================  =========================================================
``aurora_ssl_bundle``               RDS bundle file to take the roots from
``aurora_ssl_tls_server_name``      name to verify when connecting through another (CNAME)
``aurora_ssl_insecure_local_dev``   turn verification off (loud; refused for AWS names)
``aurora_ssl_password_provider``    password for each new connection: a provider, a function,
                                    or ``module:attribute`` (only the text form fits a URL)
``aurora_ssl_iam``                  ``true``: RDS IAM tokens (region from the endpoint name)
``aurora_ssl_iam_profile``          AWS profile for the IAM tokens (default: standard chain)
``aurora_ssl_log_level``            level of the ``aurora_ssl.connections`` line (DEBUG)
==================================  =========================================================
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.dialects import plugins as dialect_plugins
from sqlalchemy.engine import CreateEnginePlugin, Engine, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.util import await_only, greenlet_spawn

from aurora_ssl._connect import (
    LOGGER_NAME,
    connect_verified,
    endpoint_of,
    log_connection,
    logger,
    login,
    provider_for,
)
from aurora_ssl._options import PREFIX, PROVIDER_OBJECT, Options, is_ours, read_options
from aurora_ssl._policy import Decision, Policy, refuse_insecure_for_aws, warn_insecure
from aurora_ssl._readback import ClientTLS, close_quietly
from aurora_ssl.errors import CredentialsError, InsecureConfigurationError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from aurora_ssl.credentials import CredentialTarget, PasswordProvider

__all__ = [
    "AuroraSSLPlugin",
    "VerifiedConnection",
    "attach",
    "create_async_engine",
    "create_engine",
    "is_protected",
    "on_verified",
]

PLUGIN_NAME = "aurora_ssl"
_LIBPQ = {"psycopg2": "psycopg2", "psycopg": "psycopg", "psycopg_async": "psycopg"}
_SOCKET = frozenset({"asyncpg", "pg8000"})
_AWS_WRAPPER = "aws_wrapper_psycopg"
_NO_CREATOR = (
    "{what} is not accepted by aurora-ssl: SQLAlchemy then skips its connect step, so the TLS "
    "settings and trust anchor would come from your code, unchecked. Remove it and pass "
    "connection settings in the URL or connect_args (use a do_connect event listener for "
    "per-connection credentials); to connect outside SQLAlchemy, use "
    "aurora_ssl.connection_params()."
)


@dataclass(frozen=True)
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

    endpoint: str
    port: int | None
    driver: str
    trust_scope: str
    tls: ClientTLS
    params: Mapping[str, Any]


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
        InsecureConfigurationError: as :func:`create_engine`, and for ``async_creator=`` (which
            SQLAlchemy turns into a ``creator``, refused by the plugin).
    """
    from sqlalchemy.ext.asyncio import create_async_engine as sa_create_async_engine

    return sa_create_async_engine(_with_plugin(url, kwargs), **kwargs)


def _with_plugin(url: str | URL, kwargs: dict[str, Any]) -> URL:
    parsed = make_url(url)
    plugins = list(kwargs.get("plugins", ()))
    if PLUGIN_NAME not in (*parsed.normalized_query.get("plugin", ()), *plugins):
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
        self._url_plugins = url.normalized_query.get("plugin", ())
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
        given = self.options.given
        query: dict[str, Any] = {"plugin": names if len(names) > 1 else names[0]}
        query.update((PREFIX + name, text) for name, text in given.items() if text != "false")
        if self.options.password_provider is not None and "password_provider" not in given:
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
    if query.get(f"{PREFIX}password_provider") == PROVIDER_OBJECT:
        if keywords.get(f"{PREFIX}password_provider") is None:
            raise CredentialsError(
                f"This URL comes from an engine whose {PREFIX}password_provider was an object, "
                f"which a URL cannot carry; pass {PREFIX}password_provider= again (an object) "
                "or use the 'module:attribute' form."
            )
        del query[f"{PREFIX}password_provider"]
    from_url = read_options(query, "the URL query")
    from_keywords = read_options(keywords, "the keyword arguments")
    for name, text in from_keywords.given.items():
        if from_url.given.get(name, text) != text:
            raise InsecureConfigurationError(
                f"{PREFIX}{name} is {from_url.given[name]!r} in the URL but {text!r} as a "
                "keyword argument; give it in one place."
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
    if isinstance(dialect.connect, _Connect):
        return
    if not options.insecure_local_dev:
        _refuse_unsupported(dialect.name, dialect.driver, engine.url.drivername)
    cargs, url_params = dialect.create_connect_args(engine.url)
    cparams = {**url_params, **(connect_args or {})}
    if options.insecure_local_dev:
        refuse_insecure_for_aws(options, _hosts(cparams, cargs))
        warn_insecure(engine.url.render_as_string(hide_password=True))
    elif dialect.driver == _AWS_WRAPPER:
        _check_wrapper(engine, provider, cparams)
    else:
        _strip_ours(cparams)
        # Fails now what would fail every connection: the URL and connect_args as SQLAlchemy
        # will pass them (a do_connect listener may still change them; checked again then).
        _decide(Policy(options), dialect.driver, cargs, cparams, "the URL and connect_args")
    connect = _Connect(engine, options, provider)
    setattr(dialect, "connect", connect)  # noqa: B010 - per engine, not the class
    if connect.policy is not None:
        event.listen(engine, "connect", connect.check_made, insert=True)


def _refuse_unsupported(name: str, driver: str, drivername: str) -> None:
    if name != "postgresql" or driver not in {*_LIBPQ, *_SOCKET, _AWS_WRAPPER}:
        raise InsecureConfigurationError(
            "aurora-ssl supports postgresql+psycopg2, postgresql+psycopg, postgresql+asyncpg, "
            f"postgresql+pg8000 and postgresql+{_AWS_WRAPPER}; {drivername} cannot be made to "
            "verify the server."
        )


def _strip_ours(cparams: dict[str, Any]) -> None:
    """``plugin`` and our options reach the connect parameters from ``engine.url``."""
    for key in [k for k in cparams if k == "plugin" or is_ours(k)]:
        del cparams[key]


def _decide(policy: Policy, driver: str, cargs: Any, cparams: dict[str, Any], origin: str) -> Any:
    if cparams.get("async_creator_fn") is not None:
        raise InsecureConfigurationError(_NO_CREATOR.format(what=f"async_creator_fn in {origin}"))
    if driver in _SOCKET:
        return policy.decide_socket(cparams, origin, driver=driver)
    return policy.decide(cparams, origin, driver=_LIBPQ[driver], args=cargs)


class _Connect:
    """The engine's ``dialect.connect``: check, log in, read back, log (see the module).

    ``made`` holds the connections it just made, by id, until the pool's ``connect`` event
    takes them (so an id cannot be reused meanwhile); ``callbacks`` are :func:`on_verified`'s.
    With the opt-out (``policy`` is ``None``) it only keeps AWS names out.
    """

    def __init__(self, engine: Engine, options: Options, provider: PasswordProvider | None) -> None:
        dialect = engine.dialect
        self.driver_connect, self.driver, self.options = dialect.connect, dialect.driver, options
        self.policy = None if options.insecure_local_dev else Policy(options)
        self.provider, self.ask = provider, _ask_async if dialect.is_async else None
        source = f"engine {engine.url.set(query={}).render_as_string(hide_password=True)}"
        self.log = functools.partial(
            log_connection, level=options.log_level, source=source, driver=self.driver
        )
        self.made: dict[int, Any] = {}
        self.callbacks: list[Callable[[VerifiedConnection], None]] = []

    def __call__(self, *cargs: Any, **cparams: Any) -> Any:
        if self.policy is not None and self.driver == _AWS_WRAPPER:
            # The wrapper opens connections on its own (failover, monitoring): aurora-ssl's
            # wrapper plugin decides on each; our options stay in what it reads.
            from aurora_ssl.aws_wrapper import with_plugin

            connection = self.driver_connect(*cargs, **with_plugin(cparams))
        else:
            _strip_ours(cparams)
            if self.policy is None:
                return self._insecure(cargs, cparams)
            connection = self._verified(self.policy, cargs, cparams)
        self.made[id(connection)] = connection
        return connection

    def _verified(self, policy: Policy, cargs: Any, cparams: dict[str, Any]) -> Any:
        decision = _decide(policy, self.driver, cargs, cparams, "the connect parameters")

        def connect(made: Any) -> Any:  # a connection string, or asyncpg's and pg8000's keywords
            if isinstance(decision, Decision):
                return self.driver_connect(made, **decision.driver_kwargs)
            return self.driver_connect(**made)

        connection, used, tls = connect_verified(
            decision, connect, self.log, self.provider, self.ask
        )
        host, port = endpoint_of(used)
        given = used.params if isinstance(used, Decision) else {"host": host, "port": str(port)}
        params = {k: v for k, v in given.items() if k not in ("password", "sslpassword")}
        params["sslrootcert"] = used.trust.path  # libpq's: the same value
        port_number = int(port) if str(port).isdigit() else None
        facts = VerifiedConnection(host, port_number, self.driver, used.trust.scope, tls, params)
        for callback in list(self.callbacks):
            try:
                callback(facts)
            except Exception:  # noqa: BLE001 - logged with its traceback, the connection kept
                logger.warning(
                    "on_verified callback %r failed; the connection is kept",
                    callback,
                    exc_info=True,
                )
        return connection

    def _insecure(self, cargs: Any, cparams: dict[str, Any]) -> Any:
        """With the opt-out: no decision, but never an AWS name (checked at the last moment)."""
        refuse_insecure_for_aws(self.options, _hosts(cparams, cargs))
        if self.provider is None:
            return self.driver_connect(*cargs, **cparams)
        from aurora_ssl.credentials import connect_with_password

        target = login(str(cparams.get("host") or ""), cparams.get("port"), cparams.get("user"))
        return (self.ask or connect_with_password)(
            self.provider,
            target,
            lambda password: self.driver_connect(*cargs, **{**cparams, "password": password}),
        )

    def check_made(self, dbapi_connection: Any, connection_record: Any) -> None:
        """The pool's ``connect`` event, first in line: a connection this step did not make
        was never checked."""
        if self.made.pop(id(dbapi_connection), None) is not dbapi_connection:
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


def _ask_async(
    provider: PasswordProvider, target: CredentialTarget, attempt: Callable[[str], Any]
) -> Any:
    """How an async engine asks a provider: ``password_async`` awaited, so the event loop
    runs on meanwhile; each attempt in a greenlet of its own (SQLAlchemy's bridge to sync)."""
    from aurora_ssl.credentials import connect_with_password_async

    spawn = functools.partial(greenlet_spawn, attempt)
    return await_only(connect_with_password_async(provider, target, spawn))


def _hosts(params: Mapping[str, Any], cargs: Any) -> list[str]:
    """Every name a connection could go to, for the opt-out's AWS guard: each word of the
    hosts and connection strings (so a refusal quotes the name, never the string)."""
    found = [params.get(k) or os.environ.get(f"PG{k.upper()}") for k in ("host", "hostaddr")]
    found += [*cargs, params.get("dsn"), params.get("conninfo")]
    texts = [str(v) for f in found for v in (f if isinstance(f, (list, tuple)) else [f]) if v]
    return re.findall(r"[\w.-]+", " ".join(texts))


def _check_wrapper(engine: Engine, provider: PasswordProvider | None, cparams: Any) -> None:
    """What would fail every connection of a ``postgresql+aws_wrapper_psycopg`` engine."""
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
    from aurora_ssl.aws_wrapper import check, with_plugin

    check(with_plugin(cparams), "the URL and connect_args")


def _protected(engine: Any) -> _Connect | None:
    """The ``dialect.connect`` of ``engine`` when it verifies (not with the opt-out)."""
    connect = getattr(engine, "sync_engine", engine).dialect.connect
    return connect if isinstance(connect, _Connect) and connect.policy is not None else None


def is_protected(engine: Any) -> bool:
    """Whether every new connection of ``engine`` (an ``Engine`` or ``AsyncEngine``) is made
    with verified TLS by aurora-ssl (``False`` with ``aurora_ssl_insecure_local_dev``)."""
    return _protected(engine) is not None


def on_verified(engine: Any, callback: Callable[[VerifiedConnection], None]) -> None:
    """Call ``callback(VerifiedConnection)`` for each new verified connection of ``engine``.

    It runs in the connecting thread (or greenlet) before the connection is used: keep it
    quick. An exception in it is logged on ``aurora_ssl.connections``; the connection is kept.

    Raises:
        TypeError: ``engine`` is not protected by aurora-ssl (the callback would never run).
    """
    connect = _protected(engine)
    if connect is None:
        raise TypeError(
            "on_verified needs an engine built by aurora_ssl.sqlalchemy (create_engine, "
            "create_async_engine or ?plugin=aurora_ssl) with verification on; this one is not."
        )
    if connect.driver == _AWS_WRAPPER:
        raise TypeError(
            f"on_verified is not available for postgresql+{_AWS_WRAPPER} engines (the wrapper "
            f"connects on its own); read the {LOGGER_NAME} log records instead."
        )
    connect.callbacks.append(callback)


# The entry point makes ``?plugin=aurora_ssl`` work for installed packages; registering here
# too covers a source checkout on sys.path (no metadata) once this module is imported.
dialect_plugins.register(PLUGIN_NAME, __name__, "AuroraSSLPlugin")
