"""What our backends change in Django's PostgreSQL (and PostGIS) backend: the connect path.

* :meth:`~AuroraSSLWrapperMixin.get_new_connection` checks the exact parameters Django hands
  the driver (:meth:`aurora_ssl._policy.Policy.decide`), at the call that connects, and gives
  the driver one connection string and its own keywords, nothing else; then reads back (TLS in
  use, every pinned value) before Django runs any query, and closes what differs.
* Django's psycopg 3 pool (Django >= 5.1) keeps the parameters it was built with and connects
  by itself: its ``connection_class`` is replaced, before it opens, by a subclass whose
  ``connect`` checks the same way (and asks the password provider), and the pool's
  ``configure`` callback reads each new connection back before it enters the pool.
* The first connection of each alias and target in a process asks the server once (one
  query) whether the session is encrypted, unless ``SERVER_CHECK_AT_STARTUP`` is False.
* A pool timeout is explained by one direct connection, at most once per alias every
  :data:`PROBE_INTERVAL` seconds (``EXPLAIN_POOL_TIMEOUT``).
* Each new connection is logged on ``aurora_ssl.connections`` (verified or refused) and a
  verified one is announced by :data:`django_aurora_ssl.signals.connection_verified`.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aurora_ssl._connect import log_connection, login, provider_for
from aurora_ssl._options import Options
from aurora_ssl._policy import (
    Decision,
    connect_with_fallback,
    policy_for,
    refuse_insecure_for_aws,
    warn_insecure,
)
from aurora_ssl._readback import ClientTLS, close_quietly, require_tls, server_version
from aurora_ssl._server_tls import ServerTLS, server_tls
from aurora_ssl.errors import AuroraSSLError, InsecureConfigurationError, TLSNotInUseError
from django_aurora_ssl._conf import (
    OptionsError,
    database_options,
    guard_hosts,
    password_where,
    refuse_conninfo_name,
)

if TYPE_CHECKING:
    from django.db.backends.postgresql.base import DatabaseWrapper as _WrapperBase

    from aurora_ssl.credentials import PasswordProvider
else:
    _WrapperBase = object

#: Seconds between two pool-timeout probes of one alias; the last explanation is reused.
PROBE_INTERVAL = 30.0
_lock = threading.Lock()
# Per process: targets whose server confirmed TLS, aliases warned about the opt-out, and the
# last pool-timeout probe of each alias (when, and what it found: None means "merely busy").
_server_checked: set[tuple[str, ...]] = set()
_insecure_warned: set[str] = set()
_probes: dict[str, tuple[float, BaseException | None]] = {}
_probe_locks: dict[str, threading.Lock] = {}


def forget_server_checks() -> None:
    """Make the next connection of every alias ask the server again (tests, after a failover)."""
    with _lock:
        _server_checked.clear()
        _insecure_warned.clear()
        _probes.clear()


def _driver(wrapper: Any) -> str:
    return str(getattr(wrapper.Database, "__name__", "psycopg")).split(".")[0]


class AuroraSSLWrapperMixin(_WrapperBase):  # type: ignore[misc]
    """Put in front of Django's ``DatabaseWrapper``; see the module docstring."""

    #: How :func:`django_aurora_ssl._conf.uses_backend` knows ours (and subclasses of ours).
    aurora_ssl_backend = True

    #: ``(raw connection, facts)`` of the startup server check, so the database system check
    #: does not ask the same server twice.
    aurora_ssl_server_facts: tuple[Any, ServerTLS] | None = None
    #: What the current unpooled connection was checked to be made with.
    _aurora_ssl_decision: Decision | None = None
    _aurora_ssl_memo: tuple[Any, Options, PasswordProvider | None] | None = None

    @property
    def aurora_ssl_options(self) -> Options:
        """This alias's ``AURORA_SSL`` options (raises OptionsError if malformed); read again
        only when ``AURORA_SSL``, ``OPTIONS`` or ``PASSWORD`` changed (compared by value)."""
        return self._aurora_ssl_read()[0]

    @property
    def aurora_ssl_provider(self) -> PasswordProvider | None:
        """The password provider the options name, or ``None`` (Django's PASSWORD)."""
        return self._aurora_ssl_read()[1]

    def _aurora_ssl_read(self) -> tuple[Options, PasswordProvider | None]:
        entry = self.settings_dict
        source = tuple(_items(entry.get(k)) for k in ("AURORA_SSL", "OPTIONS", "PASSWORD"))
        memo = self._aurora_ssl_memo
        if memo is None or memo[0] != source:
            options = database_options(entry, self.alias)
            try:
                provider = provider_for(options, password_where(entry, self.alias), django=True)
            except AuroraSSLError as exc:
                raise OptionsError(str(exc)) from None
            memo = self._aurora_ssl_memo = (source, options, provider)
        return memo[1], memo[2]

    @property
    def pool(self) -> Any:
        """Django's psycopg pool, its ``connection_class`` made ours before it opens."""
        from django_aurora_ssl._compat import SUPPORTS_POOL

        pool = super().pool if SUPPORTS_POOL else None
        if pool is not None and not getattr(pool.connection_class, "aurora_ssl_policy", None):
            options = self.aurora_ssl_options
            if not options.insecure_local_dev:
                pool_options = self.settings_dict["OPTIONS"].get("pool")
                if isinstance(pool_options, Mapping) and "connection_class" in pool_options:
                    raise InsecureConfigurationError(
                        f"DATABASES[{self.alias!r}]['OPTIONS']['pool'] names a connection_class, "
                        "whose connect would run after aurora-ssl's decision; remove it."
                    )
                pool.connection_class = _pool_class(pool.connection_class, self)
        return pool

    def get_connection_params(self) -> dict[str, Any]:
        refuse_conninfo_name(self.settings_dict, self.alias)
        options = self.aurora_ssl_options
        if options.insecure_local_dev:
            refuse_insecure_for_aws(options, guard_hosts(self.settings_dict, options))
            with _lock:
                first = self.alias not in _insecure_warned
                _insecure_warned.add(self.alias)
            if first:
                host = self.settings_dict.get("HOST") or "no host"
                warn_insecure(f"Django database {self.alias!r} ({host})")
        params: dict[str, Any] = super().get_connection_params()
        return params

    def aurora_ssl_decide(self, conn_params: Mapping[str, Any]) -> Decision:
        """Check what Django hands the driver (see :meth:`aurora_ssl._policy.Policy.decide`)."""
        policy = policy_for(self.aurora_ssl_options)
        origin = f"DATABASES[{self.alias!r}] (NAME, USER, HOST, PORT, OPTIONS)"
        return policy.decide(conn_params, origin, driver=_driver(self))

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        options = self.aurora_ssl_options
        if options.insecure_local_dev:
            return super().get_new_connection(conn_params)
        from django_aurora_ssl._compat import connection_pool, is_pool_timeout

        pool = connection_pool(self)
        self.aurora_ssl_server_facts = None
        if pool is not None:
            try:
                connection = super().get_new_connection(conn_params)
            except Exception as exc:
                if is_pool_timeout(exc) and options.explain_pool_timeout:
                    self._aurora_ssl_explain_pool_timeout(conn_params, exc)
                raise
            try:
                self._aurora_ssl_check_server_once(connection, _decision_of(connection), pool=pool)
            except BaseException:
                close_quietly(connection)
                with contextlib.suppress(Exception):  # the pool replaces it, no slot is lost
                    pool.putconn(connection)
                raise
            return connection
        decision = self.aurora_ssl_decide(conn_params)
        key = "dsn" if _driver(self) == "psycopg2" else "conninfo"

        def connect(conninfo: str) -> Any:
            params = {key: conninfo, **decision.driver_kwargs}
            return super(AuroraSSLWrapperMixin, self).get_new_connection(params)

        try:
            connection, used = _connect(decision, self.aurora_ssl_provider, connect, options)
            tls = _read_back(connection, used, self.alias, options, pooled=False)
        except AuroraSSLError as error:
            _refused(error, decision, self.alias, options)
            raise
        self._aurora_ssl_decision = used
        try:
            self._aurora_ssl_check_server_once(connection, used, pool=None)
        except BaseException:
            close_quietly(connection)
            raise
        facts = self.aurora_ssl_server_facts  # the startup check's answer, if it asked
        _announce(type(self), self.alias, tls, used, pooled=False, server=facts and facts[1])
        return connection

    def _configure_connection(self, connection: Any) -> Any:
        # Django >= 5.1: the psycopg pool's ``configure`` callback, also called for unpooled
        # connections (read back already in get_new_connection). Raising makes the pool
        # discard the attempt and try again: nothing enters the pool unread.
        decision = getattr(connection, "aurora_ssl_decision", None)
        if decision is None and connection is not self.connection:
            _decision_of(connection)  # a pooled connection made outside our connection class
        if decision is not None and not getattr(connection, "aurora_ssl_read", False):
            options = self.aurora_ssl_options
            try:
                tls = _read_back(connection, decision, self.alias, options, pooled=True)
                _announce(type(self), self.alias, tls, decision, pooled=True, server=None)
            except AuroraSSLError as error:
                _refused(error, decision, self.alias, options)
                raise
            connection.aurora_ssl_read = True
        return super()._configure_connection(connection)

    def aurora_ssl_expected_params(self) -> Mapping[str, Any] | None:
        """What the current connection was checked to be made with (reports compare the
        read-back with it); ``None`` with the opt-out or before connecting."""
        raw = getattr(self, "connection", None)
        decision = getattr(raw, "aurora_ssl_decision", None) or self._aurora_ssl_decision
        return None if decision is None else decision.params

    def _aurora_ssl_check_server_once(self, connection: Any, decision: Decision, pool: Any) -> None:
        if not self.aurora_ssl_options.server_check_at_startup:
            return
        key = (
            self.alias,
            *(decision.params.get(k, "") for k in ("host", "hostaddr", "port", "dbname")),
        )
        with _lock:
            if key in _server_checked:
                return
        # Autocommit for the one query, so the driver sends no BEGIN/ROLLBACK around it.
        previous = connection.autocommit
        connection.autocommit = True
        try:
            facts = server_tls(connection)
        finally:
            connection.autocommit = previous
        if not facts.ssl:
            close_quietly(connection)
            raise TLSNotInUseError(
                f"The server says the session of database {self.alias!r} is not encrypted "
                f"({facts.source}), although the client negotiated TLS: something between "
                "them terminates TLS. The connection was closed before any query."
            )
        with _lock:
            _server_checked.add(key)
        self.aurora_ssl_server_facts = (connection, facts)

    def _aurora_ssl_explain_pool_timeout(
        self, conn_params: Mapping[str, Any], exc: BaseException
    ) -> None:
        """The pool timed out: connect once directly, with the same parameters, to say why.

        Under overload every waiting request times out at once; one probe per alias every
        :data:`PROBE_INTERVAL` seconds is enough (the others reuse its answer).
        """
        with _lock:
            probing = _probe_locks.setdefault(self.alias, threading.Lock())
        with probing:  # the requests timing out meanwhile wait for this one probe's answer
            last = _probes.get(self.alias)
            if last is None or time.monotonic() - last[0] >= PROBE_INTERVAL:
                outcome: BaseException | None = None
                try:
                    decision = self.aurora_ssl_decide(conn_params)
                    provider, options = self.aurora_ssl_provider, self.aurora_ssl_options
                    probe, used = _connect(decision, provider, self.Database.connect, options)
                    try:
                        require_tls(probe, expected=used.params)
                    finally:
                        close_quietly(probe)
                except Exception as probe_exc:  # noqa: BLE001 - the reason is the answer
                    outcome = probe_exc
                last = _probes[self.alias] = (time.monotonic(), outcome)
        if last[1] is not None:
            raise copy.copy(last[1]).with_traceback(None) from exc  # one per request


def _decision_of(connection: Any) -> Decision:
    """What a pooled connection was checked to be made with; one without it was not made by
    our connection class (the pool's class swapped behind our back) and is refused."""
    decision: Decision | None = getattr(connection, "aurora_ssl_decision", None)
    if decision is None:
        close_quietly(connection)
        raise InsecureConfigurationError(
            "The connection pool made a connection without aurora-ssl's connection class, so "
            "it was never checked; it was closed before any query. Do not replace the pool's "
            "connection_class."
        )
    return decision


def _connect(
    decision: Decision,
    provider: PasswordProvider | None,
    connect: Callable[..., Any],
    options: Options,
    **driver_kwargs: Any,
) -> tuple[Any, Decision]:
    """Connect with exactly what was checked (a provider's password added, the standard
    negotiation after a failed direct attempt); a failure in aurora-ssl's words. Returns the
    connection and what it was made with."""

    def attempt(password: str | None) -> tuple[Any, Decision]:
        return connect_with_fallback(
            decision,
            lambda j: connect(
                j.with_password(password) if password else j.conninfo, **driver_kwargs
            ),
        )

    try:
        if provider is None:
            return attempt(None)
        from aurora_ssl.credentials import connect_with_password

        params = decision.params
        host = options.tls_server_name or params["host"]
        target = login(host, params.get("port"), params.get("user"))
        return connect_with_password(provider, target, attempt)
    except AuroraSSLError:
        raise
    except Exception as exc:
        from aurora_ssl._diagnostics import translate_error

        shown = {k: v for k, v in decision.params.items() if k != "password"}
        translated = translate_error(exc, params=shown)
        if translated is None:
            raise
        raise translated from exc


def _refused(error: AuroraSSLError, decision: Decision, alias: str, options: Options) -> None:
    params, trust = decision.params, decision.trust
    log_connection(options.log_level, source=f"alias {alias}", host=params["host"],
                   port=params.get("port"), driver=decision.driver, trust_scope=trust.scope,
                   error=error)  # fmt: skip


def _read_back(
    connection: Any, decision: Decision, alias: str, options: Options, *, pooled: bool
) -> ClientTLS:
    """Read back and log (announced by :func:`_announce` once the caller is done)."""
    host, port = decision.params["host"], decision.params.get("port")
    tls = require_tls(connection, expected=decision.params)
    decision.connected(server_version(connection))
    log_connection(
        options.log_level,
        source=f"alias {alias}",
        host=host,
        port=port,
        driver=tls.driver,
        trust_scope=decision.trust.scope,
        tls=tls,
    )
    return tls


def _announce(
    sender: type, alias: str, tls: ClientTLS, decision: Decision, *, pooled: bool, server: Any
) -> None:
    """Send ``connection_verified`` (free when nobody listens); see its module."""
    from django_aurora_ssl.signals import connection_verified

    if connection_verified.has_listeners(sender):
        params = {k: v for k, v in decision.params.items() if k != "password"}
        version = tls.protocol or (server.version if server is not None else None)
        for receiver, result in connection_verified.send_robust(
            sender, alias=alias, client=tls, server=server, tls_version=version,
            params=params, trust_scope=decision.trust.scope, pooled=pooled,
        ):  # fmt: skip
            if isinstance(result, Exception):
                import logging

                logging.getLogger("aurora_ssl").warning(
                    "aurora-ssl: connection_verified receiver %r failed: %s",
                    receiver,
                    type(result).__name__,
                    exc_info=result,
                )


def _pool_class(base: type, wrapper: AuroraSSLWrapperMixin) -> type:
    """A subclass of the pool's connection class whose ``connect`` checks at the last moment."""
    parent: Any = base
    alias, options, provider = (
        wrapper.alias,
        wrapper.aurora_ssl_options,
        wrapper.aurora_ssl_provider,
    )
    policy = policy_for(options)
    origin = f"DATABASES[{alias!r}] (the connection pool's parameters)"

    class AuroraSSLConnection(parent):  # type: ignore[misc]
        """psycopg's connection, made only with what aurora-ssl decided."""

        aurora_ssl_policy = policy
        aurora_ssl_decision: Decision | None = None
        aurora_ssl_read = False

        @classmethod
        def connect(cls, conninfo: str = "", **kwargs: Any) -> Any:
            decision = policy.decide(
                kwargs, origin, driver="psycopg", args=(conninfo,) if conninfo else ()
            )
            try:
                connection, used = _connect(
                    decision, provider, super().connect, options, **decision.driver_kwargs
                )
            except AuroraSSLError as error:
                _refused(error, decision, alias, options)
                raise
            connection.aurora_ssl_decision = used
            return connection

    return AuroraSSLConnection


def _items(value: Any) -> Any:
    """A dict's items as a tuple (compared by value); anything else as it is."""
    return tuple(value.items()) if isinstance(value, Mapping) else value
