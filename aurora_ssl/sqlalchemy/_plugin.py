"""The SQLAlchemy faces: ``create_engine``, ``create_async_engine``, the URL plugin, ``attach``."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import CreateEnginePlugin, Engine, make_url
from sqlalchemy.engine.url import URL

from aurora_ssl.conninfo import parse_conninfo
from aurora_ssl.errors import AuroraSSLError, InsecureConfigurationError
from aurora_ssl.policy import (
    ConnectionPolicy,
    Settings,
    check_params,
    driver_libpq_version,
    policy_for,
    validate_settings,
    warn_insecure,
)
from aurora_ssl.sqlalchemy import _credentials, _observe
from aurora_ssl.sqlalchemy._options import (
    LOG_LEVEL,
    PLUGIN_NAME,
    engine_url,
    host_sources,
    pop_provider_object,
    read_options,
    settings_from,
    strip_ours,
)
from aurora_ssl.status import close_quietly, require_tls

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from aurora_ssl.credentials import PasswordProvider

_LIBPQ_DRIVERS = frozenset({"psycopg2", "psycopg", "psycopg_async"})
_SSLCONTEXT_DRIVERS = frozenset({"asyncpg", "pg8000"})
_SUPPORTED = _LIBPQ_DRIVERS | _SSLCONTEXT_DRIVERS
#: Key in ``ConnectionPoolEntry.info``: what do_connect set, checked (and removed) on connect.
_EXPECTED = "aurora_ssl.expected"
#: Key in ``ConnectionPoolEntry.info``: the trust scope of the roots do_connect selected.
_SCOPE = "aurora_ssl.trust_scope"
_SECRET_KEYS = frozenset({"password", "sslpassword"})
_attached: weakref.WeakSet[Any] = weakref.WeakSet()

_NO_CREATOR = (
    "{what} is not accepted by aurora-ssl: SQLAlchemy then skips its connect step (no "
    "do_connect event), so the TLS settings and trust anchor would come from your code, "
    "unchecked. Remove it and pass connection settings in the URL or connect_args (use a "
    "do_connect event listener for per-connection credentials such as IAM tokens); to connect "
    "outside SQLAlchemy, use aurora_ssl.connection_params()."
)


def create_engine(url: str | URL, **kwargs: Any) -> Engine:
    """``sqlalchemy.create_engine`` with verified TLS on every connection.

    Accepts everything ``sqlalchemy.create_engine`` accepts except ``creator`` and ``pool``,
    plus the ``aurora_ssl_*`` options.

    Raises:
        InsecureConfigurationError: a weaker sslmode in the URL or ``connect_args``, a driver
            that does not do verify-full, ``creator=``/``pool=``, an unknown or unparsable
            ``aurora_ssl_*`` option, or the opt-out used for an AWS endpoint.
        BundleError: the trust file for the URL's host cannot be built.
    """
    return sqlalchemy.create_engine(_with_plugin(url, kwargs), **kwargs)


def create_async_engine(url: str | URL, **kwargs: Any) -> AsyncEngine:
    """``sqlalchemy.ext.asyncio.create_async_engine`` with verified TLS.

    For ``postgresql+asyncpg`` (TLS through an ``ssl.SSLContext`` with the selected roots and
    host name checking) and ``postgresql+psycopg`` (libpq, as in :func:`create_engine`).

    Raises:
        InsecureConfigurationError: as :func:`create_engine`, and for ``async_creator=``.
    """
    if kwargs.get("async_creator") is not None:
        raise InsecureConfigurationError(_NO_CREATOR.format(what="async_creator="))
    # Imported here: sqlalchemy.ext.asyncio needs greenlet, which SQLAlchemy 2.1 no longer
    # installs by default, and sync-only users should not need it.
    from sqlalchemy.ext.asyncio import create_async_engine as _sa_create_async_engine

    return _sa_create_async_engine(_with_plugin(url, kwargs), **kwargs)


def _url_plugins(url: URL) -> list[str]:
    named = url.query.get("plugin", ())
    return [named] if isinstance(named, str) else list(named)


def _with_plugin(url: str | URL, kwargs: dict[str, Any]) -> URL:
    parsed = make_url(url)
    plugins = list(kwargs.get("plugins", ()))
    if PLUGIN_NAME not in _url_plugins(parsed) and PLUGIN_NAME not in plugins:
        kwargs["plugins"] = [*plugins, PLUGIN_NAME]
    return parsed


def refuse_creators(kwargs: Mapping[str, Any]) -> None:
    """``creator=``, ``pool=`` and ``async_creator=`` bypass do_connect: refuse them."""
    if kwargs.get("pool") is not None:
        raise InsecureConfigurationError(_NO_CREATOR.format(what="pool="))
    creator = kwargs.get("creator")
    if creator is not None:
        # create_async_engine turns async_creator into a creator defined inside it.
        is_async = "create_async_engine" in getattr(creator, "__qualname__", "")
        raise InsecureConfigurationError(
            _NO_CREATOR.format(what="async_creator=" if is_async else "creator=")
        )


def _refuse_creator_fn(params: Mapping[str, Any], origin: str) -> None:
    """The async dialects take ``async_creator_fn`` in the connect parameters: a creator."""
    if params.get("async_creator_fn") is not None:
        raise InsecureConfigurationError(_NO_CREATOR.format(what=f"async_creator_fn in {origin}"))


class AuroraSSLPlugin(CreateEnginePlugin):
    """The ``sqlalchemy.plugins`` entry point ``aurora_ssl``; see the package docstring."""

    def __init__(self, url: URL, kwargs: dict[str, Any]) -> None:
        super().__init__(url, kwargs)
        refuse_creators(kwargs)
        given = pop_provider_object(kwargs)
        self.options = read_options(url, kwargs)
        self.provider = _credentials.provider_from(
            self.options, given, _credentials.password_where(url, kwargs.get("connect_args"))
        )
        self.log_level = logging.getLevelName(self.options.get(LOG_LEVEL, "DEBUG"))
        self.settings = settings_from(self.options)
        self._url_plugins = _url_plugins(url)
        preflight(url, kwargs.get("connect_args") or {}, self.settings)

    def update_url(self, url: URL) -> URL:
        # Keep the plugin and our options in engine.url: a derived engine
        # (sqlalchemy.create_engine(engine.url)) must get the same protection.
        return engine_url(url, self._url_plugins, self.options)

    def engine_created(self, engine: Engine) -> None:
        attach(engine, self.settings, provider=self.provider, log_level=self.log_level)


def _query_variants(url: URL) -> list[dict[str, Any]]:
    """The URL query without our keys, once per value of a repeated key (each is judged)."""
    single: dict[str, Any] = {}
    variants: list[dict[str, Any]] = []
    for key, value in url.query.items():
        if key == "plugin" or key.lower().startswith("aurora_ssl_"):
            continue
        if isinstance(value, tuple):
            if key not in ("host", "port", "hostaddr"):
                variants += [{key: v} for v in value]
            single[key] = ",".join(value)
        else:
            single[key] = value
    return [single, *variants]


def preflight(url: URL, connect_args: Mapping[str, Any], settings: Settings) -> None:
    """Fail at engine creation for what would fail every connection (fast feedback).

    Checks the opt-out against every host source, the driver, the URL query and
    ``connect_args`` for weaker settings, and builds the trust file for the URL's host so
    bundle problems show up now rather than on the first request.
    """
    ours = [k for k in connect_args if k == "plugin" or str(k).lower().startswith("aurora_ssl_")]
    if ours:
        raise InsecureConfigurationError(
            f"{ours[0]} in connect_args would be ignored: connect_args go to the driver. Pass "
            "it as a keyword argument of create_engine or as a URL query key."
        )
    if settings.insecure_local_dev:
        validate_settings(settings, host_sources(url, connect_args, settings))
        warn_insecure(url.render_as_string(hide_password=True))
        return
    driver = url.get_dialect().driver
    if url.get_backend_name() != "postgresql" or driver not in _SUPPORTED:
        raise InsecureConfigurationError(
            f"aurora-ssl supports postgresql+psycopg2, postgresql+psycopg, postgresql+asyncpg "
            f"and postgresql+pg8000; {url.drivername} cannot be made to verify the server."
        )
    if driver in ("asyncpg", "pg8000"):  # their modules only for their engines (issue 12)
        from aurora_ssl.sqlalchemy import _asyncpg, _pg8000
    variants = _query_variants(url)
    for query in variants:
        if driver == "asyncpg":
            _asyncpg.judge(query, "the URL query")
        elif driver == "pg8000":
            _pg8000.judge(query, "the URL query")
        else:
            check_params(query, "the URL query", driver=_libpq_driver(driver))
    if driver == "asyncpg":
        _asyncpg.judge(connect_args, "connect_args")
    elif driver == "pg8000":
        _pg8000.judge(connect_args, "connect_args")
    else:
        _refuse_creator_fn(connect_args, "connect_args")
        check_params(connect_args, "connect_args", driver=_libpq_driver(driver))
    host = settings.tls_server_name or url.host or connect_args.get("host") or ""
    if host and isinstance(host, str) and "," not in host:
        policy_for(settings).trust(host, variants[0].get("sslrootcert"))


def attach(
    engine: Engine,
    settings: Settings,
    *,
    provider: PasswordProvider | None = None,
    log_level: int = logging.DEBUG,
) -> None:
    """Enforce verified TLS on every new connection of ``engine`` (sync engine of async ones).

    Separate from the plugin so it can be tested, and used on an engine built elsewhere.
    Attaching twice (the plugin named in the URL and in ``plugins=``) attaches once.

    Args:
        engine: the (sync) engine.
        settings: the policy settings.
        provider: asked for the password of every new physical connection (one retry after
            a refused login); ``None``: the URL's or ``connect_args``' password.
        log_level: level of the ``aurora_ssl.connections`` line per verified connection.
    """
    if engine.dialect in _attached:
        return
    _attached.add(engine.dialect)
    policy = policy_for(settings)
    if settings.insecure_local_dev:

        def on_do_connect_insecure(
            dialect: Any, conn_rec: Any, cargs: list[Any], cparams: dict[str, Any]
        ) -> None:
            strip_ours(cparams)
            if provider is not None:
                host = str(cparams.get("host") or "")
                _credentials.record_target(cparams, host, cparams.get("port"), cparams.get("user"))

        event.listen(engine, "do_connect", on_do_connect_insecure, insert=True)
        _guard_final_destination(engine, settings)
        if provider is not None:
            _credentials.wire(engine, provider)
        return
    if engine.dialect.driver in _SSLCONTEXT_DRIVERS:
        _listen_sslcontext(engine, policy, provider is not None)
    else:
        _listen_libpq(engine, policy, provider is not None)
    if provider is not None:
        _credentials.wire(engine, provider)
    _observe.mark_protected(engine)

    def on_connect(dbapi_connection: Any, conn_rec: Any) -> None:
        expected = conn_rec.info.pop(_EXPECTED, None)
        if expected is None:
            close_quietly(dbapi_connection)
            raise InsecureConfigurationError(
                "A connection reached the pool without passing aurora-ssl's connect step (a "
                "replaced pool creator?), so its TLS settings are unknown; it was closed "
                "before any query. Let the engine create its connections."
            )
        if not isinstance(expected, dict):  # asyncpg / pg8000: an _asyncpg.Expected
            from aurora_ssl.sqlalchemy import _asyncpg, _pg8000

            if engine.dialect.driver == "pg8000":
                tls = _pg8000.read_back(dbapi_connection, expected)
            else:
                _asyncpg.read_back(dbapi_connection, expected)
                tls = require_tls(dbapi_connection)
            facts = _observe.VerifiedConnection(
                endpoint=expected.server_name,
                port=_port_number(expected.port),
                driver=engine.dialect.driver,
                trust_scope=conn_rec.info.pop(_SCOPE, "unknown"),
                tls=tls,
                params=_observe.frozen(
                    {
                        "host": expected.host,
                        "port": expected.port,
                        "sslmode": "verify-full",
                        "sslrootcert": expected.trust_path,
                        "direct_tls": expected.direct_tls,
                    }
                ),
            )
        else:
            tls = require_tls(dbapi_connection, expected=expected)
            facts = _observe.VerifiedConnection(
                endpoint=str(expected.get("host")),
                port=_port_number(expected.get("port")),
                driver=engine.dialect.driver,
                trust_scope=conn_rec.info.pop(_SCOPE, "unknown"),
                tls=tls,
                params=_observe.frozen(expected),
            )
        _observe.announce(engine.dialect, log_level, facts)

    event.listen(engine, "connect", on_connect, insert=True)


def _port_number(port: Any) -> int | None:
    text = str(port) if port is not None else ""
    return int(text) if text.isdigit() else None


def _scope(policy: ConnectionPolicy, host: str, user_root: Any, used_path: str) -> str:
    """The trust scope of the roots a connection uses (memoised selection: no I/O)."""
    try:
        selection = policy.trust(host, user_root)
    except AuroraSSLError:
        return "unknown"
    return selection.scope if selection.path == used_path else "user-file"


def _guard_final_destination(engine: Engine, settings: Settings) -> None:
    """With the opt-out, judge the destination once every do_connect hook has run.

    The dialect's ``connect`` is the last step before the driver, so a hook that points the
    connection at an AWS name after engine creation is refused before any byte is sent.
    """
    driver_connect = engine.dialect.connect

    def connect(*cargs: Any, **cparams: Any) -> Any:
        dsn = {"dsn": cargs[0]} if cargs and isinstance(cargs[0], str) else {}
        validate_settings(settings, host_sources(None, {**dsn, **cparams}, settings))
        return driver_connect(*cargs, **cparams)

    setattr(engine.dialect, "connect", connect)  # noqa: B010 - per engine, not the class


def _listen_sslcontext(engine: Engine, policy: ConnectionPolicy, with_provider: bool) -> None:
    """asyncpg and pg8000: TLS through an SSLContext we build, checked at the connect step."""
    from aurora_ssl.sqlalchemy import _asyncpg, _pg8000

    contexts: dict[tuple[Any, ...], Any] = {}
    pg8000 = engine.dialect.driver == "pg8000"

    def on_do_connect_sslcontext(
        dialect: Any, conn_rec: Any, cargs: list[Any], cparams: dict[str, Any]
    ) -> None:
        strip_ours(cparams)
        user_root = _asyncpg._one(cparams.get("sslrootcert"))
        if pg8000:
            expected = _pg8000.prepare(policy, cparams, contexts)
            cparams[_pg8000.EXPECTED_KEY] = expected
        else:
            expected = _asyncpg.prepare(policy, cparams, contexts)
            _asyncpg.attach_wrapper(expected, cparams)
        if with_provider:
            _credentials.record_target(
                cparams, expected.server_name, expected.port, cparams.get("user")
            )
        if conn_rec is not None:
            conn_rec.info[_EXPECTED] = expected
            conn_rec.info[_SCOPE] = _scope(
                policy, expected.server_name, user_root, expected.trust_path
            )

    event.listen(engine, "do_connect", on_do_connect_sslcontext, insert=True)
    if pg8000:
        _pg8000.guard_connect(engine)


def _listen_libpq(engine: Engine, policy: ConnectionPolicy, with_provider: bool) -> None:
    driver = _libpq_driver(engine.dialect.driver)
    libpq_version = driver_libpq_version(driver)

    def on_do_connect(
        dialect: Any, conn_rec: Any, cargs: list[Any], cparams: dict[str, Any]
    ) -> None:
        strip_ours(cparams)
        _refuse_creator_fn(cparams, "the connect parameters")
        if cargs and isinstance(cargs[0], str):  # a positional DSN string
            dsn = cargs.pop(0)
            if dsn.strip():
                cparams.update({**parse_conninfo(dsn, driver=driver), **cparams})
        user_root = cparams.get("sslrootcert")
        secured = policy.apply(
            cparams, "the connect parameters", libpq_version=libpq_version, driver=driver
        )
        cparams.clear()
        cparams.update(secured)
        if with_provider:
            _credentials.record_target(
                cparams, str(secured["host"]), secured.get("port"), secured.get("user")
            )
        if conn_rec is not None:  # never the password: info is visible as Connection.info
            conn_rec.info[_EXPECTED] = {k: v for k, v in secured.items() if k not in _SECRET_KEYS}
            conn_rec.info[_SCOPE] = _scope(
                policy, str(secured["host"]), user_root, str(secured.get("sslrootcert"))
            )

    event.listen(engine, "do_connect", on_do_connect, insert=True)

    def on_handle_error(context: Any) -> AuroraSSLError | None:
        if context.connection is not None:  # only failures to connect are about TLS set-up
            return None
        from aurora_ssl.diagnostics import translate_error

        return translate_error(context.original_exception, params=_target_params(engine, policy))

    event.listen(engine, "handle_error", on_handle_error)


def _libpq_driver(dialect_driver: str) -> str:
    """The libpq driver module behind a dialect (``psycopg_async`` is psycopg 3)."""
    return "psycopg2" if dialect_driver == "psycopg2" else "psycopg"


def _target_params(engine: Engine, policy: ConnectionPolicy) -> dict[str, Any]:
    """Where the engine connects (no secrets): libpq's message may name only the address."""
    url = engine.url
    params: dict[str, Any] = {"host": url.host, "port": url.port}
    hostaddr = url.query.get("hostaddr")
    if hostaddr:
        params["hostaddr"] = hostaddr if isinstance(hostaddr, str) else hostaddr[-1]
    if policy.settings.tls_server_name:
        params["host"] = policy.settings.tls_server_name
    return params
