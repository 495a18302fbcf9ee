"""Verified TLS for every connection AWS's Advanced Python Wrapper opens: a wrapper plugin.

The wrapper (``aws-advanced-python-wrapper``, psycopg 3) opens physical connections on its
own: the first one, a new writer or reader after failover, readers for read/write splitting,
the connections of its host and cluster-topology monitors, limitless routers, Blue/Green
monitors. Every one of them goes through its plugin chain (``PluginService.connect`` or
``force_connect``), and at the end of the chain its ``DefaultPlugin`` hands the properties to
the default connection provider, which rewrites host, port and dbname
(``PgDriverDialect.prepare_connect_info``) and calls ``psycopg.Connection.connect(**props)``.

So aurora-ssl is a plugin registered above every built-in plugin's weight, the last one before
``DefaultPlugin``, subscribed to ``connect`` and ``force_connect``. It takes the properties
exactly as the default provider would turn them into the driver's keywords, checks them
(:meth:`aurora_ssl._policy.Policy.decide`, trust chosen for the host this connection goes to),
and makes the driver call itself with what was decided, then does what ``DefaultPlugin`` does
after connecting. Calling the rest of the chain instead would let the provider rebuild the
keywords from properties other threads share, after the decision. Each new connection is
read back (:func:`aurora_ssl._readback.require_tls`) and logged on ``aurora_ssl.connections``.

Refused, because a connection would escape the decision: a plugin order in which ours is not
last, a connection provider other than the default one (the wrapper's SQLAlchemy pooled
provider opens later connections from its own pool, outside the chain), a ``target`` other
than ``psycopg.Connection.connect``, and override properties (``monitoring-sslmode=...``)
that weaken anything. The wrapper's async package has its own plugin registry, where
``aurora_ssl`` is unknown: it refuses the code itself.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import psycopg
from aws_advanced_python_wrapper import AwsWrapperConnection
from aws_advanced_python_wrapper.driver_configuration_profiles import (
    DriverConfigurationProfiles,
)
from aws_advanced_python_wrapper.host_availability import HostAvailability
from aws_advanced_python_wrapper.pep249_methods import DbApiMethod
from aws_advanced_python_wrapper.plugin import Plugin
from aws_advanced_python_wrapper.plugin_service import PluginManager
from aws_advanced_python_wrapper.utils.properties import (
    Properties,
    PropertiesUtils,
    WrapperProperties,
)

from aurora_ssl._connect import connect_verified, log_connection
from aurora_ssl._options import PREFIX, Options, is_ours, read_options
from aurora_ssl._policy import Policy
from aurora_ssl.errors import InsecureConfigurationError

__all__ = ["PLUGIN_CODE", "connect", "register"]

#: The code to list in the wrapper's ``plugins`` property.
PLUGIN_CODE = "aurora_ssl"
#: Above every built-in plugin (the heaviest, ``okta``, weighs 1000): sorted last.
_WEIGHT = 10_000
#: Property prefixes whose keys override the others for the wrapper's monitoring connections.
_OVERRIDE_PREFIXES = (
    "monitoring-",
    "topology-monitoring-",
    "frt-",
    "limitless-router-monitor-",
    "blue-green-monitoring-",
)
_DRIVER = "aws_wrapper_psycopg"
_UNSUPPORTED = {
    "iam": "log in with the wrapper's own IAM plugin instead (add iam to plugins): it sets "
    "the token before aurora-ssl's decision",
    "password_provider": "use the wrapper's iam, aws_secrets_manager or federated_auth plugin, "
    "which set the password before aurora-ssl's decision",
    "tls_server_name": "the wrapper connects to each instance by its own endpoint name, which "
    "is the name verified",
    "insecure_local_dev": "leave aurora_ssl out of plugins for a local server without TLS",
}


def register() -> None:
    """Make the plugin code ``aurora_ssl`` known to the wrapper (idempotent).

    Then list it in the wrapper's ``plugins`` property, e.g.
    ``plugins="failover_v2,host_monitoring_v2,aurora_ssl"``; :func:`connect`,
    :func:`aurora_ssl.create_engine` and ``?plugin=aurora_ssl`` do both for you.
    """
    PluginManager.register_plugin(PLUGIN_CODE, _VerifyingPlugin, _WEIGHT)


def connect(conninfo: str = "", **kwargs: Any) -> AwsWrapperConnection:
    """``AwsWrapperConnection.connect(psycopg.Connection.connect, conninfo, **kwargs)`` with
    aurora-ssl's plugin added to ``plugins`` (the wrapper's default set when none is given).

    Args:
        conninfo: a libpq connection string or ``postgresql://`` URL (one host).
        kwargs: libpq keywords, psycopg's own keywords, the wrapper's properties
            (``wrapper_dialect``, ``plugins``, ``monitoring-...``) and ``aurora_ssl_bundle``
            or ``aurora_ssl_log_level``.

    Raises:
        InsecureConfigurationError: see the module docstring; also any weakening setting.
        TLSError: the server could not be verified (its certificate, its name, no TLS).
    """
    return AwsWrapperConnection.connect(psycopg.Connection.connect, conninfo, **with_plugin(kwargs))


def with_plugin(props: Mapping[str, Any]) -> dict[str, Any]:
    """``props`` with :data:`PLUGIN_CODE` in ``plugins`` (appended where it is missing), the
    code registered (:func:`register`)."""
    register()
    codes = _codes(props)
    if PLUGIN_CODE in codes:
        return dict(props)
    return {**props, WrapperProperties.PLUGINS.name: ",".join([*codes, PLUGIN_CODE])}


def _codes(props: Mapping[str, Any]) -> list[str]:
    """The plugin codes ``props`` list (the wrapper's default set when none is given)."""
    codes = props.get(WrapperProperties.PLUGINS.name)
    text = WrapperProperties.DEFAULT_PLUGINS if codes is None else str(codes)
    return [code.strip() for code in text.split(",") if code.strip()]


def check(props: Mapping[str, Any], origin: str) -> Options:
    """Fail now what would fail every connection made with ``props``: the plugin order, our
    options, weakening override properties, and the first connection's parameters; return
    our options.

    Raises:
        InsecureConfigurationError: as the module docstring says.
    """
    order = _plugin_order(props)
    if not order or order[-1] is not _VerifyingPlugin:
        codes = {factory: code for code, factory in PluginManager.PLUGIN_FACTORIES.items()}
        shown = ", ".join(codes.get(f, f.__name__) for f in order) or "none"
        raise InsecureConfigurationError(
            f"aurora-ssl's wrapper plugin must be the last plugin, so that nothing changes a "
            f"connection's properties after its decision; the wrapper would run {shown} "
            f"(from {origin}). List {PLUGIN_CODE} last in plugins, keep "
            f"{WrapperProperties.AUTO_SORT_PLUGIN_ORDER.name} on, and list plugins that "
            "follow the one before them (connect_time, execute_time, dev) before it."
        )
    options = read_options({k: v for k, v in props.items() if is_ours(k)}, origin)
    for name, why in _UNSUPPORTED.items():
        if getattr(options, name):
            raise InsecureConfigurationError(
                f"{PREFIX}{name} is not available with AWS's wrapper ({origin}): {why}."
            )
    policy = Policy(options)
    for prefix in _OVERRIDE_PREFIXES:
        overrides = {k[len(prefix) :]: v for k, v in props.items() if k.startswith(prefix)}
        if overrides:
            where = f"the {prefix}* properties in {origin}"
            policy.decide(_for_driver({**props, **overrides}), where, driver="psycopg")
    policy.decide(_for_driver(props), origin, driver="psycopg")
    return options


def _plugin_order(props: Mapping[str, Any]) -> list[Any]:
    """The plugin factory types the wrapper will chain for ``props``, in order, as
    ``PluginManager.get_plugins`` computes them (unknown codes left out: it refuses them)."""
    profile = WrapperProperties.PROFILE_NAME.get(props)
    if profile is not None:
        if not DriverConfigurationProfiles.contains_profile(profile):
            return []
        return [type(f) for f in DriverConfigurationProfiles.get_plugin_factories(profile)]
    known = PluginManager.PLUGIN_FACTORIES
    order = [known[code] for code in _codes(props) if code in known]
    if order and WrapperProperties.AUTO_SORT_PLUGIN_ORDER.get(props):
        weights = PluginManager.get_factory_weights(order)
        order.sort(key=lambda factory: weights[factory])
    return order


def _for_driver(props: Mapping[str, Any]) -> dict[str, Any]:
    """What the driver would get from ``props``: not the wrapper's properties (as the default
    provider removes them), not ours, not the override properties."""
    params = Properties(props)
    PropertiesUtils.remove_wrapper_props(params)
    return {
        k: v
        for k, v in params.items()
        if not (k == "plugin" or is_ours(k) or k.startswith(_OVERRIDE_PREFIXES))
    }


class _VerifyingPlugin(Plugin):  # type: ignore[misc]
    """The plugin instance of one wrapper connection (and of the monitors it starts); the
    class is also the ``PluginFactory`` registered for :data:`PLUGIN_CODE` (the wrapper makes a
    bare instance of a factory class and calls its ``get_instance``)."""

    @staticmethod
    def get_instance(plugin_service: Any, props: Properties) -> Plugin:
        return _VerifyingPlugin(plugin_service, props)

    def __init__(self, service: Any, props: Properties) -> None:
        self._service = service
        options = check(props, "the wrapper's properties")
        self._policy, self._host = Policy(options), str(props.get("host") or "").lower()
        source = f"aws-wrapper {PropertiesUtils.get_url(props)}"
        self._log = functools.partial(
            log_connection, level=options.log_level, source=source, driver=_DRIVER
        )

    @property
    def subscribed_methods(self) -> set[str]:
        return {DbApiMethod.CONNECT.method_name, DbApiMethod.FORCE_CONNECT.method_name}

    def connect(
        self, target: Any, driver_dialect: Any, host_info: Any, props: Properties, *_: Any
    ) -> Any:
        manager = self._service.get_connection_provider_manager()
        if manager.get_connection_provider(host_info, props) is not manager.default_provider:
            raise InsecureConfigurationError(
                "A connection provider other than the wrapper's default one is set "
                "(ConnectionProviderManager.set_connection_provider, e.g. "
                "SqlAlchemyPooledConnectionProvider): it opens later connections from its own "
                "pool, past aurora-ssl's decision. Reset it "
                "(ConnectionProviderManager.reset_provider()) and pool with SQLAlchemy's engine."
            )
        return self.force_connect(target, driver_dialect, host_info, props)

    def force_connect(
        self, target: Any, driver_dialect: Any, host_info: Any, props: Properties, *_: Any
    ) -> Any:
        """What ``DefaultPlugin._connect`` does with the default provider, with the decided
        connection string as the only input of the driver call."""
        if getattr(target, "__func__", None) is not vars(psycopg.Connection)["connect"].__func__:
            raise InsecureConfigurationError(
                f"The wrapper's target {getattr(target, '__qualname__', target)!r} is not "
                "psycopg.Connection.connect: aurora-ssl hands the driver exactly what it "
                "checked, which a function in between could change. Pass psycopg.Connection."
                "connect (or use aurora_ssl.aws_wrapper.connect)."
            )
        prepared = driver_dialect.prepare_connect_info(host_info, props)
        self._service.database_dialect.prepare_conn_props(prepared)
        where, host = "the wrapper's properties", host_info.host
        decision = self._policy.decide(_for_driver(prepared), where, driver="psycopg")
        hostaddr = decision.params.get("hostaddr")
        if hostaddr and host.lower() != self._host:
            error = InsecureConfigurationError(
                f"hostaddr={hostaddr} (given, or PGHOSTADDR) was meant for {self._host}, but "
                f"the wrapper now connects to {host}, and it copies hostaddr to every instance: "
                "the connection would reach the wrong server. Remove hostaddr and let the "
                "endpoint names resolve."
            )
            self._log(decision, error=error)
            raise error
        connect = functools.partial(target, **decision.driver_kwargs)
        connection = connect_verified(decision, lambda text: connect(conninfo=text), self._log)[0]
        self._service.set_availability(host_info.all_aliases, HostAvailability.AVAILABLE)
        default = self._service.get_connection_provider_manager().default_provider
        self._service.update_driver_dialect(default)
        self._service.update_dialect(connection)
        return connection
