"""SQLAlchemy integration: ``create_engine``, ``create_async_engine`` and the URL plugin.

All three paths end in :func:`attach`, which listens on two pool events:

* ``do_connect`` (first in line): refuses weaker settings that reached the final connect
  parameters (URL query, ``connect_args``, a DSN string) and injects ``sslmode=verify-full``
  and the trimmed roots; for asyncpg it builds an ``SSLContext`` instead.
* ``connect`` (first in line, before the dialect's own first queries): checks that the new
  DB-API connection really uses TLS, or closes it and raises :class:`TLSNotInUseError`.

``create_engine(url, **kw)`` is ``sqlalchemy.create_engine(url, plugins=["aurora_ssl"], **kw)``,
so the URL form ``?plugin=aurora_ssl`` (for Alembic, Airflow, pandas) behaves identically.
Our own options are consumed before SQLAlchemy sees them:

===============================  ===========================  ============================
keyword argument                 URL query key                meaning
===============================  ===========================  ============================
``aurora_ssl_bundle``            ``aurora_ssl_bundle``        RDS bundle to trim from
``aurora_ssl_tls_server_name``   ``aurora_ssl_tls_server_name``  name to verify (CNAMEs)
``aurora_ssl_insecure_local_dev``  (keyword only)             turn verification off (loud)
===============================  ===========================  ============================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.dialects import plugins as _plugin_registry
from sqlalchemy.engine import CreateEnginePlugin, Engine, make_url
from sqlalchemy.engine.url import URL

from aurora_ssl.conninfo import parse_conninfo
from aurora_ssl.errors import AuroraSSLError, InsecureConfigurationError
from aurora_ssl.policy import (
    WEAK_SSLMODES,
    ConnectionPolicy,
    Settings,
    check_params,
    policy_for,
    resolve_host,
    validate_settings,
    warn_insecure,
)
from aurora_ssl.sslcontext import verify_full_context
from aurora_ssl.status import require_tls

if TYPE_CHECKING:
    import ssl

    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["AuroraSSLPlugin", "attach", "create_async_engine", "create_engine"]

PLUGIN_NAME = "aurora_ssl"
_LIBPQ_DRIVERS = frozenset({"psycopg2", "psycopg", "psycopg_async"})
_SUPPORTED = _LIBPQ_DRIVERS | {"asyncpg"}
_URL_KEYS = ("aurora_ssl_bundle", "aurora_ssl_tls_server_name")
_KWARG_KEYS = (*_URL_KEYS, "aurora_ssl_insecure_local_dev")
_EXPECTED = "aurora_ssl_expected"  # connection record info key: what do_connect set


def create_engine(url: str | URL, **kwargs: Any) -> Engine:
    """``sqlalchemy.create_engine`` with verified TLS on every connection.

    Accepts everything ``sqlalchemy.create_engine`` accepts (all keyword arguments pass
    through), plus the ``aurora_ssl_*`` options in the module docstring.

    Raises:
        InsecureConfigurationError: a weaker sslmode in the URL or ``connect_args``, a driver
            that does not do verify-full, or the opt-out used for an AWS endpoint.
        BundleError: the trust file for the URL's host cannot be built.
    """
    return sqlalchemy.create_engine(_with_plugin(url, kwargs), **kwargs)


def create_async_engine(url: str | URL, **kwargs: Any) -> AsyncEngine:
    """``sqlalchemy.ext.asyncio.create_async_engine`` with verified TLS.

    For ``postgresql+asyncpg`` (TLS through an ``ssl.SSLContext`` with the selected roots and
    host name checking) and ``postgresql+psycopg`` (libpq, as in :func:`create_engine`).
    """
    # Imported here: sqlalchemy.ext.asyncio needs greenlet, which SQLAlchemy 2.1 no longer
    # installs by default, and sync-only users should not need it.
    from sqlalchemy.ext.asyncio import create_async_engine as _sa_create_async_engine

    return _sa_create_async_engine(_with_plugin(url, kwargs), **kwargs)


def _with_plugin(url: str | URL, kwargs: dict[str, Any]) -> URL:
    parsed = make_url(url)
    named = parsed.query.get("plugin", ())
    in_url = PLUGIN_NAME in ((named,) if isinstance(named, str) else named)
    plugins = list(kwargs.get("plugins", ()))
    if not in_url and PLUGIN_NAME not in plugins:
        kwargs["plugins"] = [*plugins, PLUGIN_NAME]
    return parsed


class AuroraSSLPlugin(CreateEnginePlugin):
    """The ``sqlalchemy.plugins`` entry point ``aurora_ssl``; see the module docstring."""

    def __init__(self, url: URL, kwargs: dict[str, Any]) -> None:
        super().__init__(url, kwargs)
        options: dict[str, Any] = {key: url.query.get(key) for key in _URL_KEYS}
        options.update({key: kwargs.pop(key) for key in _KWARG_KEYS if key in kwargs})
        self.settings = Settings(
            bundle=_single(options.get("aurora_ssl_bundle")),
            tls_server_name=_single(options.get("aurora_ssl_tls_server_name")),
            insecure_local_dev=bool(options.get("aurora_ssl_insecure_local_dev", False)),
        )
        preflight(url, kwargs.get("connect_args") or {}, self.settings)

    def update_url(self, url: URL) -> URL:
        remaining = [p for p in url.query.get("plugin", ()) if p != PLUGIN_NAME]
        cleaned = url.difference_update_query([*_URL_KEYS, "plugin"])
        return cleaned.update_query_dict({"plugin": remaining}) if remaining else cleaned

    def engine_created(self, engine: Engine) -> None:
        attach(engine, self.settings)


def _single(value: Any) -> str | None:
    if isinstance(value, tuple):
        value = value[-1] if value else None
    return str(value) if value else None


def preflight(url: URL, connect_args: Mapping[str, Any], settings: Settings) -> None:
    """Fail at engine creation for what would fail every connection (fast feedback).

    Checks the driver, the URL query and ``connect_args`` for weaker settings, the opt-out
    against AWS hosts, and builds the trust file for the URL's host so bundle problems show
    up now rather than on the first request.
    """
    driver = url.get_dialect().driver
    host = settings.tls_server_name or url.host or connect_args.get("host") or ""
    validate_settings(settings, [h for h in str(host).split(",") if h])
    if settings.insecure_local_dev:
        warn_insecure(url.render_as_string(hide_password=True))
        return
    if url.get_backend_name() != "postgresql" or driver not in _SUPPORTED:
        raise InsecureConfigurationError(
            f"aurora-ssl supports postgresql+psycopg2, postgresql+psycopg and "
            f"postgresql+asyncpg; {url.drivername} cannot be made to verify the server."
        )
    query = {k: _single(v) for k, v in url.query.items()}
    if driver == "asyncpg":
        _check_asyncpg(query, "the URL query")
        _check_asyncpg(connect_args, "connect_args")
    else:
        check_params(query, "the URL query")
        check_params(connect_args, "connect_args")
    if host and not settings.tls_server_name and "," not in str(host):
        policy_for(settings).trust(str(host), query.get("sslrootcert"))


def attach(engine: Engine, settings: Settings) -> None:
    """Enforce verified TLS on every new connection of ``engine`` (sync engine of async ones).

    Separate from the plugin so it can be tested, and used on an engine built elsewhere.
    """
    policy = policy_for(settings)
    if settings.insecure_local_dev:
        return
    driver = engine.dialect.driver
    if driver == "asyncpg":
        contexts: dict[tuple[str, str | None], ssl.SSLContext] = {}

        def on_do_connect_asyncpg(
            dialect: Any, conn_rec: Any, cargs: list[Any], cparams: dict[str, Any]
        ) -> None:
            _apply_asyncpg(policy, cparams, contexts)

        event.listen(engine, "do_connect", on_do_connect_asyncpg, insert=True)
    else:
        libpq_driver = "psycopg2" if driver == "psycopg2" else "psycopg"

        def on_do_connect(
            dialect: Any, conn_rec: Any, cargs: list[Any], cparams: dict[str, Any]
        ) -> None:
            if cargs and isinstance(cargs[0], str):  # a positional DSN string
                cparams.update({**parse_conninfo(cargs.pop(0), driver=libpq_driver), **cparams})
            secured = policy.apply(cparams, "the connect parameters", driver=libpq_driver)
            cparams.clear()
            cparams.update(secured)
            conn_rec.info[_EXPECTED] = secured  # read back in on_connect

        event.listen(engine, "do_connect", on_do_connect, insert=True)

    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        require_tls(dbapi_connection, expected=connection_record.info.pop(_EXPECTED, None))

    event.listen(engine, "connect", on_connect, insert=True)

    def on_handle_error(context: Any) -> AuroraSSLError | None:
        if context.connection is not None:  # only failures to connect are about TLS set-up
            return None
        from aurora_ssl.diagnose import translate_error

        return translate_error(context.original_exception, params=_target_params(engine, policy))

    event.listen(engine, "handle_error", on_handle_error)


def _target_params(engine: Engine, policy: ConnectionPolicy) -> dict[str, Any]:
    """Where the engine connects (no secrets): libpq's message may name only the address."""
    url = engine.url
    params: dict[str, Any] = {"host": url.host, "port": url.port}
    hostaddr = url.query.get("hostaddr")
    if hostaddr:
        params["hostaddr"] = _single(hostaddr)
    if policy.settings.tls_server_name:
        params["host"] = policy.settings.tls_server_name
    return params


def _check_asyncpg(params: Mapping[str, Any], origin: str) -> None:
    ssl_value = params.get("ssl")
    if isinstance(ssl_value, str) and ssl_value.lower() in {*WEAK_SSLMODES, "false", "0"}:
        raise InsecureConfigurationError(
            f"ssl={ssl_value} in {origin} would let asyncpg skip server verification; remove it."
        )
    if ssl_value is False:
        raise InsecureConfigurationError(f"ssl=False in {origin} turns TLS off; remove it.")
    if (
        ssl_value is not None
        and not isinstance(ssl_value, str)
        and hasattr(ssl_value, "verify_mode")
    ):
        import ssl as _ssl

        if ssl_value.verify_mode != _ssl.CERT_REQUIRED or not ssl_value.check_hostname:
            raise InsecureConfigurationError(
                f"The SSLContext in {origin} does not verify the certificate and host name; "
                "remove it and aurora-ssl will build one that does."
            )
    check_params({k: v for k, v in params.items() if k != "ssl"}, origin)


def _apply_asyncpg(
    policy: ConnectionPolicy,
    cparams: dict[str, Any],
    contexts: dict[tuple[str, str | None], ssl.SSLContext],
) -> None:
    _check_asyncpg(cparams, "the connect parameters")
    name = str(cparams.get("host") or "")
    hostaddr = cparams.pop("hostaddr", None)
    if policy.settings.tls_server_name:
        hostaddr = resolve_host(name)
        name = policy.settings.tls_server_name
    if not name or name.startswith("/"):
        raise InsecureConfigurationError(
            "No TCP host in the asyncpg URL: TLS needs the endpoint's host name."
        )
    user_context = cparams.get("ssl")
    if user_context is None or isinstance(user_context, str):
        path = policy.trust(name).ensure()
        key = (path, name if hostaddr else None)
        context = contexts.get(key)
        if context is None:
            context = contexts[key] = verify_full_context(path, key[1])
        cparams["ssl"] = context
    if hostaddr:
        cparams["host"] = hostaddr


# The entry point makes ``?plugin=aurora_ssl`` work for installed packages; registering here
# too covers a source checkout on sys.path (no metadata) once this module is imported.
_plugin_registry.register(PLUGIN_NAME, __name__, "AuroraSSLPlugin")
