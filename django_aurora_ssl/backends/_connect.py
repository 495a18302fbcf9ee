"""What our backends change in Django's PostgreSQL (and PostGIS) backend: the connect path.

* :meth:`~AuroraSSLWrapperMixin.get_new_connection` checks the exact parameters Django hands
  the driver (:meth:`aurora_ssl._policy.Policy.decide`), at the call that connects, and gives
  the driver one connection string and its own keywords, nothing else; then reads back (TLS in
  use, every pinned value) before Django runs any query, and closes what differs.
* Django's psycopg 3 pool (Django >= 5.1) keeps the parameters it was built with and connects
  by itself: its ``connection_class`` is replaced, before it opens, by a subclass whose
  ``connect`` checks the same way (and asks the password provider), and the pool's
  ``configure`` callback reads each new connection back before it enters the pool.
* The first connection of each wrapper (Django keeps one per alias and thread) to a target
  asks the server once (one query) whether the session is encrypted, unless
  ``SERVER_CHECK_AT_STARTUP`` is False.
* A pool timeout is explained by one direct connection, at most once per pool every
  :data:`PROBE_INTERVAL` seconds (``EXPLAIN_POOL_TIMEOUT``).
* Each new connection is logged on ``aurora_ssl.connections`` (verified or refused) and a
  verified one is sent as :data:`django_aurora_ssl.signals.connection_verified`.

State lives where Django keeps the connection: the options and the startup check on the
wrapper, the pool-timeout probe on the pool's connection class; none in this module.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aurora_ssl._connect import connect_verified, log_connection, open_connection, verify
from aurora_ssl._options import Options
from aurora_ssl._policy import Decision, Policy, warn_insecure
from aurora_ssl._readback import ClientTLS, close_quietly, require_tls
from aurora_ssl._server_tls import ServerTLS, server_tls
from aurora_ssl.errors import AuroraSSLError, InsecureConfigurationError, TLSNotInUseError
from django_aurora_ssl._conf import read_entry
from django_aurora_ssl.signals import connection_verified

if TYPE_CHECKING:
    from django.db.backends.postgresql.base import DatabaseWrapper as _WrapperBase

    from aurora_ssl.credentials import PasswordProvider
else:
    _WrapperBase = object

#: Seconds between two pool-timeout probes of one pool; the last explanation is reused.
PROBE_INTERVAL = 30.0
#: The settings the options are read from, again only when one of them changed.
_SOURCES = ("AURORA_SSL", "OPTIONS", "PASSWORD", "HOST", "NAME")


class AuroraSSLWrapperMixin(_WrapperBase):  # type: ignore[misc]
    """Put in front of Django's ``DatabaseWrapper``; see the module docstring."""

    #: How :func:`django_aurora_ssl._conf.uses_backend` knows ours (and subclasses of ours).
    aurora_ssl_backend = True
    #: ``(raw connection, facts)`` of the startup server check, so the database system check
    #: does not ask the same server twice.
    aurora_ssl_server_facts: tuple[Any, ServerTLS] | None = None
    #: What the current connection was checked to be made with.
    _aurora_ssl_decision: Decision | None = None
    #: The target the startup check last asked the server about.
    _aurora_ssl_checked: tuple[str, ...] | None = None
    _aurora_ssl_memo: tuple[Any, Options, PasswordProvider | None] | None = None

    @property
    def aurora_ssl_options(self) -> Options:
        """This alias's ``AURORA_SSL`` options, read again only when a setting they depend on
        changed (compared by value).

        Raises:
            OptionsError: malformed options, or a password next to a provider.
            InsecureConfigurationError: a connection string as the database name, or the
                opt-out for an AWS endpoint.
        """
        return self._aurora_ssl_read()[0]

    def _aurora_ssl_read(self) -> tuple[Options, PasswordProvider | None]:
        """The options, and the password provider they name (``None``: Django's PASSWORD)."""
        entry = self.settings_dict
        source = [copy.copy(entry.get(key)) for key in _SOURCES]  # a dict edited in place too
        memo = self._aurora_ssl_memo
        if memo is None or memo[0] != source:
            options, provider = read_entry(entry, self.alias)
            if options.insecure_local_dev:
                warn_insecure(f"Django database {self.alias!r} ({entry.get('HOST') or 'no host'})")
            memo = self._aurora_ssl_memo = (source, options, provider)
        return memo[1], memo[2]

    @property
    def pool(self) -> Any:
        """Django's psycopg pool (Django >= 5.1), its ``connection_class`` made ours before it
        opens (and again if someone put another one back)."""
        pool = getattr(super(), "pool", None)  # Django 4.2 has no pool
        if pool is None or hasattr(pool.connection_class, "aurora_ssl_policy"):
            return pool
        if not self.aurora_ssl_options.insecure_local_dev:
            pool_options = self.settings_dict["OPTIONS"].get("pool")
            if isinstance(pool_options, Mapping) and "connection_class" in pool_options:
                raise InsecureConfigurationError(
                    f"DATABASES[{self.alias!r}]['OPTIONS']['pool'] names a connection_class, "
                    "whose connect would run after aurora-ssl's decision; remove it."
                )
            pool.connection_class = _pool_class(pool.connection_class, self)
        return pool

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        options = self.aurora_ssl_options
        self.aurora_ssl_server_facts = self._aurora_ssl_decision = None
        if options.insecure_local_dev:
            return super().get_new_connection(conn_params)
        pool = self.pool
        if pool is not None:
            return self._aurora_ssl_checkout(pool, conn_params, options)
        origin = f"DATABASES[{self.alias!r}] (NAME, USER, HOST, PORT, OPTIONS)"
        decision = Policy(options).decide(conn_params, origin, driver=self.Database.__name__)
        key = "dsn" if decision.driver == "psycopg2" else "conninfo"
        parent, provider = super().get_new_connection, self._aurora_ssl_read()[1]
        connection, used, tls = connect_verified(
            decision,
            lambda text: parent({key: text, **decision.driver_kwargs}),
            _logger(options, self.alias, decision.driver),
            provider,
            check=self._aurora_ssl_check_server,
        )
        self._aurora_ssl_decision = used
        self._aurora_ssl_signal(tls, used, pooled=False)
        return connection

    def _aurora_ssl_checkout(self, pool: Any, conn_params: Any, options: Options) -> Any:
        """A connection from the pool (read back when the pool made it), checked once more
        by the server on this wrapper's first checkout; a refused one goes back to the pool
        closed, so the pool replaces it and no slot is lost."""
        try:
            connection = super().get_new_connection(conn_params)
        except Exception as exc:
            if type(exc).__name__ == "PoolTimeout" and options.explain_pool_timeout:
                _explain_pool_timeout(pool, exc)
            raise
        try:
            decision = _decision_of(connection)
            self._aurora_ssl_check_server(connection, decision)
        except BaseException:
            close_quietly(connection)
            with contextlib.suppress(Exception):
                pool.putconn(connection)
            raise
        self._aurora_ssl_decision = decision
        return connection

    def _configure_connection(self, connection: Any) -> Any:
        # With a pool, Django calls this only as the pool's ``configure`` callback, for each
        # connection the pool opens. Raising makes the pool discard it: nothing enters unread.
        if self.pool is not None and not self.aurora_ssl_options.insecure_local_dev:
            decision = _decision_of(connection)
            log = _logger(self.aurora_ssl_options, self.alias, decision.driver)
            self._aurora_ssl_signal(verify(connection, decision, log), decision, pooled=True)
        return super()._configure_connection(connection)

    def aurora_ssl_expected_params(self) -> Mapping[str, Any] | None:
        """What the current connection was checked to be made with (reports compare the
        read-back with it); ``None`` with the opt-out or before connecting."""
        decision = self._aurora_ssl_decision
        return None if decision is None else decision.params

    def _aurora_ssl_check_server(self, connection: Any, decision: Decision) -> None:
        target = tuple(decision.params.get(k, "") for k in ("host", "hostaddr", "port", "dbname"))
        asked = self._aurora_ssl_checked == target  # by this wrapper, on an earlier connection
        if asked or not self.aurora_ssl_options.server_check_at_startup:
            return
        # Autocommit for the one query, so the driver sends no BEGIN/ROLLBACK around it.
        previous = connection.autocommit
        connection.autocommit = True
        try:
            facts = server_tls(connection)
        finally:
            connection.autocommit = previous
        if not facts.ssl:
            raise TLSNotInUseError(
                f"The server says the session of database {self.alias!r} is not encrypted "
                f"({facts.source}), although the client negotiated TLS: something between "
                "them terminates TLS. The connection was closed before any query."
            )
        self._aurora_ssl_checked = target
        self.aurora_ssl_server_facts = (connection, facts)

    def _aurora_ssl_signal(self, tls: ClientTLS, decision: Decision, *, pooled: bool) -> None:
        """Send ``connection_verified`` for a new connection (read back, logged)."""
        sender, facts = type(self), self.aurora_ssl_server_facts
        if not connection_verified.has_listeners(sender):
            return  # the TLS version may cost a call into libpq: only for a receiver
        server = facts[1] if facts is not None and not pooled else None
        connection_verified.send_robust(  # Django logs a failing receiver
            sender,
            alias=self.alias,
            client=tls,
            server=server,
            tls_version=tls.protocol or (server.version if server is not None else None),
            params={k: v for k, v in decision.params.items() if k != "password"},
            trust_scope=decision.trust.scope,
            pooled=pooled,
        )


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


def _explain_pool_timeout(pool: Any, timeout: BaseException) -> None:
    """The pool timed out: connect once directly, with the pool's own parameters, to say why.

    Under overload every waiting request times out at once; one probe per pool every
    :data:`PROBE_INTERVAL` seconds is enough: the requests timing out meanwhile wait for its
    answer, and each raises its own copy.
    """
    ours = pool.connection_class
    with ours.aurora_ssl_probe_lock:
        last = ours.aurora_ssl_last_probe
        if last is None or time.monotonic() - last[0] >= PROBE_INTERVAL:
            outcome: BaseException | None = None
            try:
                probe = ours.connect(pool.conninfo, **pool.kwargs)
                try:
                    require_tls(probe, expected=probe.aurora_ssl_decision.params)
                finally:
                    close_quietly(probe)
            except Exception as exc:  # noqa: BLE001 - the reason is the answer
                outcome = exc
            last = ours.aurora_ssl_last_probe = (time.monotonic(), outcome)
    if last[1] is not None:
        raise copy.copy(last[1]).with_traceback(None) from timeout


def _logger(options: Options, alias: str, driver: str) -> Callable[..., None]:
    """How the connections of ``alias`` are logged on ``aurora_ssl.connections``."""
    return functools.partial(
        log_connection, level=options.log_level, source=f"alias {alias}", driver=driver
    )


def _pool_class(base: type, wrapper: AuroraSSLWrapperMixin) -> type:
    """A subclass of the pool's connection class whose ``connect`` checks at the last moment;
    it also holds the pool's timeout probe (one pool, one class)."""
    parent: Any = base
    alias, (options, provider) = wrapper.alias, wrapper._aurora_ssl_read()
    policy = Policy(options)
    origin = f"DATABASES[{alias!r}] (the connection pool's parameters)"

    class AuroraSSLConnection(parent):  # type: ignore[misc]
        """psycopg's connection, made only with what aurora-ssl decided."""

        aurora_ssl_policy = policy
        aurora_ssl_decision: Decision | None = None
        aurora_ssl_probe_lock = threading.Lock()
        aurora_ssl_last_probe: tuple[float, BaseException | None] | None = None

        @classmethod
        def connect(cls, conninfo: str = "", **kwargs: Any) -> Any:
            args = (conninfo,) if conninfo else ()
            decision = policy.decide(kwargs, origin, driver="psycopg", args=args)
            connect = super().connect
            try:
                connection, used = open_connection(
                    decision, lambda text: connect(text, **decision.driver_kwargs), provider
                )
            except AuroraSSLError as error:
                _logger(options, alias, decision.driver)(decision, error=error)
                raise
            connection.aurora_ssl_decision = used
            return connection

    return AuroraSSLConnection
