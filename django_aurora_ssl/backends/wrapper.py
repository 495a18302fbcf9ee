"""What our backends change in Django's PostgreSQL (and PostGIS) backend, and nothing else.

* :meth:`~AuroraSSLWrapperMixin.get_connection_params`: a connection string in ``NAME`` is
  refused, Django builds the parameters as usual (``OPTIONS``, ``HOST`` ...), then
  :func:`aurora_ssl.policy.policy_for` refuses weaker settings and returns the complete
  explicit set (destination, ``sslmode=verify-full``, the trimmed roots, ``gssencmode``, the
  TLS pins), for the keys the driver's libpq knows. Every connection Django makes goes
  through here: requests, ``migrate``, the ``__no_db__`` connection that creates test
  databases, and the psycopg 3 pool, whose fixed connect kwargs Django takes from this method.
* :meth:`~AuroraSSLWrapperMixin.get_new_connection`: right after the driver connects (or the
  pool hands a connection out), TLS and every security-relevant effective parameter are read
  back from libpq at zero round trips and compared with what this method set (a subclass or
  hook that changed ``sslrootcert`` after us is caught here); a connection that differs or
  has no TLS is closed (or discarded from the pool) and an error raised before Django runs
  any query. The first connection of each alias and target in a process also asks the server
  (one query), unless ``AURORA_SSL["SERVER_CHECK_AT_STARTUP"]`` is False. libpq failures are
  passed through :func:`aurora_ssl.diagnostics.translate_error`.
* ``_configure_connection`` is the psycopg 3 pool's ``configure`` callback (Django >= 5.1):
  each new pooled connection is read back against the pool's parameters before it ever
  enters the pool; a refused one is closed and counted by the pool as a failed attempt.
* Passwords: with ``AURORA_SSL["PASSWORD_PROVIDER"]`` or ``["IAM"]`` every new physical
  connection asks the provider, the pool's included; see
  :mod:`django_aurora_ssl.backends.credentials`.
* Observability: each new verified connection is logged on ``aurora_ssl.connections`` and
  announced by :data:`django_aurora_ssl.signals.connection_verified`.
* A pool timeout is explained by one direct connection, at most once per alias every
  :data:`PROBE_INTERVAL` seconds (the last explanation is reused meanwhile); off with
  ``AURORA_SSL["EXPLAIN_POOL_TIMEOUT"] = False``.
* ``DatabaseClient`` (``manage.py dbshell``): see :mod:`django_aurora_ssl.backends.client`.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aurora_ssl.errors import AuroraSSLError, InsecureConfigurationError, TLSNotInUseError
from aurora_ssl.policy import policy_for, validate_settings, warn_insecure
from aurora_ssl.status import (
    READ_BACK_KEYS,
    ClientTLS,
    ServerTLS,
    close_quietly,
    effective_params,
    require_tls,
    server_tls,
)
from django_aurora_ssl.backends.client import AuroraSSLClientMixin
from django_aurora_ssl.compat import SUPPORTS_POOL, connection_pool, driver_name, is_pool_timeout
from django_aurora_ssl.conf import (
    SETTINGS_KEY,
    DatabaseOptions,
    database_options,
    guard_hosts,
    refuse_conninfo_name,
)

if TYPE_CHECKING:
    # Both are Any for mypy (Django ships no type information); at run time the mixins sit
    # in front of Django's classes in each backend's MRO.
    from django.db.backends.postgresql.base import DatabaseWrapper as _WrapperBase
else:
    _WrapperBase = object

__all__ = [
    "PROBE_INTERVAL",
    "AuroraSSLClientMixin",
    "AuroraSSLWrapperMixin",
    "forget_server_checks",
    "secure_params",
]

logger = logging.getLogger("aurora_ssl")
#: One line per new verified connection (alias, host, trust scope, TLS version, driver).
connections_logger = logging.getLogger("aurora_ssl.connections")

#: Seconds between two pool-timeout probes of one alias; the last explanation is reused.
PROBE_INTERVAL = 30.0

# Targets whose server already confirmed TLS in this process: (alias, host, hostaddr, port, db).
_server_checked: set[tuple[str, ...]] = set()
_insecure_warned: set[str] = set()
_lock = threading.Lock()
# Pool-timeout probes per alias: when the last one ran and what it found (None: the server
# is fine, the pool is merely exhausted), and a lock so concurrent timeouts share one probe.
_probes: dict[str, tuple[float, BaseException | None]] = {}
_probe_locks: dict[str, threading.Lock] = {}


def forget_server_checks() -> None:
    """Make the next connection of every alias ask the server again (tests, after a failover),
    and the next pool timeout probe again."""
    with _lock:
        _server_checked.clear()
        _insecure_warned.clear()
        _probes.clear()


def secure_params(
    params: Mapping[str, Any],
    options: DatabaseOptions,
    alias: str,
    *,
    settings_dict: Mapping[str, Any] | None = None,
    driver: str | None = None,
) -> dict[str, Any]:
    """Django's connection parameters turned into the complete verified-TLS set.

    Args:
        params: what Django's ``get_connection_params`` built.
        options: this alias's ``AURORA_SSL`` options.
        alias: the alias, for messages.
        settings_dict: the DATABASES entry, so the insecure opt-out's guard also sees the
            host sources Django did not pass on (``OPTIONS["host"]`` under a HOST).
        driver: ``psycopg2`` or ``psycopg``: whose libpq parses connection strings, and which
            pinned keys that libpq knows.

    Raises:
        InsecureConfigurationError: a weaker setting in OPTIONS, no TCP host, or the
            insecure opt-out for an AWS endpoint (named from any host source).
        BundleError: the trust file cannot be built.
    """
    settings = options.settings
    if options.insecure_local_dev:
        hosts = [
            *guard_hosts(settings_dict or {}, options),
            *(h for key in ("host", "hostaddr") for h in str(params.get(key) or "").split(",")),
        ]
        validate_settings(settings, [h.strip() for h in hosts if h.strip()])
        with _lock:
            first = alias not in _insecure_warned
            _insecure_warned.add(alias)
        if first:
            host = str(params.get("host") or "")
            warn_insecure(f"Django database {alias!r} ({host or 'no host'})")
        return dict(params)
    return policy_for(settings).apply(params, f"DATABASES[{alias!r}]['OPTIONS']", driver=driver)


class AuroraSSLWrapperMixin(_WrapperBase):  # type: ignore[misc]
    """Put in front of Django's ``DatabaseWrapper``; see the module docstring."""

    #: ``(raw connection, facts)`` read by the startup server check on the current
    #: connection, so the database system check does not ask the same server twice.
    aurora_ssl_server_facts: tuple[Any, ServerTLS] | None = None
    #: The unpooled connection ``get_new_connection`` just read back (see there).
    _aurora_ssl_verified: Any = None
    #: The verified-TLS parameters our ``get_connection_params`` returned last (per wrapper,
    #: and Django's wrappers are per thread).
    _aurora_ssl_expected: dict[str, Any] | None = None

    @property
    def pool(self) -> Any:
        """Django's psycopg pool, made to ask the password provider for each connection.

        Every access to the pool goes through here, Django's own ``pool.open()`` included,
        so the hook is in place before the pool opens its first connection.
        """
        pool = super().pool if SUPPORTS_POOL else None
        if pool is not None:
            options = self.aurora_ssl_options
            if options.password_provider is not None:
                from django_aurora_ssl.backends.credentials import install_pool_hook

                install_pool_hook(pool, options.password_provider, options.tls_server_name)
        return pool

    #: ``(what the options were read from, the options)``: see :attr:`aurora_ssl_options`.
    _aurora_ssl_options_memo: tuple[tuple[Any, ...], DatabaseOptions] | None = None

    @property
    def aurora_ssl_options(self) -> DatabaseOptions:
        """This alias's ``AURORA_SSL`` options (raises ImproperlyConfigured if malformed).

        Asked three times per new connection, so they are parsed again only when what they
        are read from changed (``AURORA_SSL``, ``OPTIONS``, ``PASSWORD``; compared by value,
        so a dict edited in place is seen too).
        """
        entry = self.settings_dict
        source = (
            _items(entry.get(SETTINGS_KEY)),
            _items(entry.get("OPTIONS")),
            entry.get("PASSWORD"),
        )
        memo = self._aurora_ssl_options_memo
        if memo is not None and memo[0] == source:
            return memo[1]
        options = database_options(entry, self.alias)
        self._aurora_ssl_options_memo = (source, options)
        return options

    def get_connection_params(self) -> dict[str, Any]:
        # Before Django's own: a connection string in NAME must be refused, whatever the
        # length check Django runs on it says.
        refuse_conninfo_name(self.settings_dict, self.alias)
        options = self.aurora_ssl_options
        params = super().get_connection_params()
        secured = secure_params(
            params,
            options,
            self.alias,
            settings_dict=self.settings_dict,
            driver=driver_name(self),
        )
        # What the read-back compares with: ours, even if a subclass changes the result.
        self._aurora_ssl_expected = None if options.insecure_local_dev else dict(secured)
        return secured

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        options = self.aurora_ssl_options
        pool = connection_pool(self)
        if pool is not None and not options.insecure_local_dev:
            # The pool keeps the parameters it was built with; re-create the trust file
            # if a temp cleaner removed it, before the pool may need a new connection.
            user_roots = (self.settings_dict.get("OPTIONS") or {}).get("sslrootcert")
            host = str(conn_params.get("host") or "")
            policy_for(options.settings).trust(host, user_roots).ensure()
            _refuse_changed_pool_params(
                pool.kwargs, self._aurora_ssl_ours(), bool(options.tls_server_name), self.alias
            )
        expected = None if options.insecure_local_dev else self._aurora_ssl_expected_for()
        provider = options.password_provider
        try:
            if provider is not None and pool is None:
                from django_aurora_ssl.backends.credentials import connect_with_provider

                connect = super().get_new_connection
                connection = connect_with_provider(
                    provider, conn_params, options.tls_server_name, connect
                )
            else:
                connection = super().get_new_connection(conn_params)
        except AuroraSSLError:
            raise
        except Exception as exc:
            if pool is not None and is_pool_timeout(exc) and options.explain_pool_timeout:
                self._aurora_ssl_explain_pool_timeout(conn_params, exc)
            translated = _translate(exc, conn_params)
            if translated is None:
                raise
            raise translated from exc
        self.aurora_ssl_server_facts = None
        if options.insecure_local_dev:
            return connection
        try:
            status = require_tls(connection, close=pool is None, expected=expected)
            # init_connection_state calls _configure_connection next for this unpooled
            # connection: it was read back just now, so that call need not do it again.
            self._aurora_ssl_verified = connection if pool is None else None
            if options.server_check_at_startup:
                self._aurora_ssl_check_server_once(connection, conn_params)
            if pool is None:
                self._aurora_ssl_announce(connection, status, options, pooled=False)
        except BaseException:
            if pool is not None:
                _discard_pooled(connection)
            else:
                close_quietly(connection)
            raise
        return connection

    def _configure_connection(self, connection: Any) -> Any:
        # Django >= 5.1 passes this as the psycopg pool's ``configure`` callback (and calls it
        # for unpooled connections from init_connection_state): nothing enters the pool
        # without TLS. Raising here makes the pool close the attempt and try again.
        options = self.aurora_ssl_options
        just_verified = connection is self._aurora_ssl_verified
        self._aurora_ssl_verified = None
        if not options.insecure_local_dev and not just_verified:
            status = require_tls(connection, expected=self._aurora_ssl_expected_for())
            if connection_pool(self) is not None:  # unpooled ones are announced on connect
                self._aurora_ssl_announce(connection, status, options, pooled=True)
        return super()._configure_connection(connection)

    def _aurora_ssl_announce(
        self, connection: Any, status: ClientTLS, options: DatabaseOptions, *, pooled: bool
    ) -> None:
        """Log the new verified connection and send ``connection_verified``; free when
        neither the log level nor any receiver wants it."""
        from django_aurora_ssl.signals import connection_verified

        sender = type(self)
        logged = connections_logger.isEnabledFor(options.log_level)
        if not logged and not connection_verified.has_listeners(sender):
            return
        params = {k: v for k, v in effective_params(connection).items() if k != "password"}
        host = options.tls_server_name or params.get("host") or ""
        user_roots = (self.settings_dict.get("OPTIONS") or {}).get("sslrootcert")
        try:
            scope = policy_for(options.settings).trust(host, user_roots).scope
        except AuroraSSLError:
            scope = "unknown"
        facts = self.aurora_ssl_server_facts
        server = facts[1] if facts is not None and facts[0] is connection else None
        # psycopg 3 does not expose libpq's PQsslAttribute: the version is then known only
        # when the startup check asked the server on this very connection.
        protocol = status.protocol or (server.version if server is not None else None)
        if logged:
            connections_logger.log(
                options.log_level,
                "aurora-ssl: verified connection alias=%s host=%s trust=%s tls=%s driver=%s "
                "pooled=%s",
                self.alias,
                host,
                scope,
                protocol or "on (version not exposed by the driver)",
                status.driver,
                pooled,
            )
        for receiver, result in connection_verified.send_robust(
            sender,
            alias=self.alias,
            client=status,
            server=server,
            tls_version=protocol,
            params=params,
            trust_scope=scope,
            pooled=pooled,
        ):
            if isinstance(result, Exception):
                logger.warning(
                    "aurora-ssl: connection_verified receiver %r failed: %s",
                    receiver,
                    type(result).__name__,
                    exc_info=result,
                )

    def aurora_ssl_expected_params(self) -> Mapping[str, Any] | None:
        """The parameters the current connection must have been made with (reports compare
        the read-back with them); ``None`` with the insecure opt-out or before connecting."""
        if self.aurora_ssl_options.insecure_local_dev:
            return None
        pool = connection_pool(self)
        if pool is not None:
            return pool.kwargs  # type: ignore[no-any-return]
        return self._aurora_ssl_expected

    def _aurora_ssl_expected_for(self) -> Mapping[str, Any] | None:
        """The parameters a connection of this wrapper must have been made with.

        A pooled connection was made with the pool's parameters (fixed when the pool was
        built); any other with what our ``get_connection_params`` returned last, which a
        subclass or hook may have changed before the driver saw it.
        """
        pool = connection_pool(self)
        if pool is not None:
            return pool.kwargs  # type: ignore[no-any-return]
        return self._aurora_ssl_ours()

    def _aurora_ssl_ours(self) -> Mapping[str, Any]:
        """What our ``get_connection_params`` returned last.

        Raises:
            InsecureConfigurationError: it never ran: a subclass replaced it without calling
                ``super()``, so nothing of aurora-ssl's policy reached the driver.
        """
        if self._aurora_ssl_expected is None:
            raise InsecureConfigurationError(
                f"The backend of database {self.alias!r} ({type(self).__qualname__}) did not "
                "call aurora-ssl's get_connection_params, so the connection parameters were "
                "not checked; call super().get_connection_params() in the override."
            )
        return self._aurora_ssl_expected

    def _aurora_ssl_check_server_once(
        self, connection: Any, conn_params: Mapping[str, Any]
    ) -> None:
        key = (
            self.alias,
            *(str(conn_params.get(k) or "") for k in ("host", "hostaddr", "port", "dbname")),
        )
        with _lock:
            if key in _server_checked:
                return
        # Autocommit for the one query, so the driver sends no BEGIN/ROLLBACK around it:
        # one round trip, and no transaction left open for Django to find.
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
        :data:`PROBE_INTERVAL` seconds is enough (concurrent timeouts wait for it and share
        its answer), instead of one extra TLS handshake and login per timed-out request.

        Raises the translated (or libpq's) reason when the direct attempt fails, or
        :class:`TLSNotInUseError`; returns when it works (the pool is merely exhausted).
        """
        with _lock:
            probe_lock = _probe_locks.setdefault(self.alias, threading.Lock())
        with probe_lock:
            last = _probes.get(self.alias)
            if last is None or time.monotonic() - last[0] >= PROBE_INTERVAL:
                outcome = self._aurora_ssl_probe(conn_params)
                with _lock:
                    _probes[self.alias] = (time.monotonic(), outcome)
            else:
                outcome = last[1]
        if outcome is not None:
            raise _fresh(outcome) from exc

    def _aurora_ssl_probe(self, conn_params: Mapping[str, Any]) -> BaseException | None:
        """One direct connection: what went wrong, or None when the server is fine."""
        options = self.aurora_ssl_options
        try:
            if options.password_provider is not None:
                from django_aurora_ssl.backends.credentials import connect_with_provider

                probe = connect_with_provider(
                    options.password_provider,
                    conn_params,
                    options.tls_server_name,
                    lambda params: self.Database.connect(**params),
                )
            else:
                probe = self.Database.connect(**conn_params)
        except AuroraSSLError as probe_exc:
            return probe_exc
        except Exception as probe_exc:  # noqa: BLE001 - the driver's reason is the answer
            translated = _translate(probe_exc, conn_params)
            return probe_exc if translated is None else translated
        try:
            require_tls(probe)
        except AuroraSSLError as refused:
            return refused
        finally:
            close_quietly(probe)
        return None


#: The parameters whose values decide where the connection goes and how it is verified.
_SECURITY_KEYS = READ_BACK_KEYS


def _refuse_changed_pool_params(
    pool_kwargs: Mapping[str, Any],
    expected: Mapping[str, Any],
    resolves: bool,
    alias: str,
) -> None:
    """The pool was built from ``get_connection_params()``, which a subclass may override
    after ours: its connections would match the pool's parameters but not our policy.

    Raises:
        InsecureConfigurationError: naming the key, before the pool connects at all.
    """
    for key in _SECURITY_KEYS:
        if key == "hostaddr" and resolves:
            continue  # re-resolved per call with TLS_SERVER_NAME; host still pins the name
        if str(pool_kwargs.get(key, "")) != str(expected.get(key, "")):
            raise InsecureConfigurationError(
                f"The connection pool of database {alias!r} was built with a different {key} "
                "than aurora-ssl set: something (a backend subclass, a hook) changed the "
                "connection parameters after aurora-ssl. Remove that change."
            )


def _translate(exc: BaseException, conn_params: Mapping[str, Any]) -> AuroraSSLError | None:
    """Translate with the attempt's own parameters: with ``hostaddr`` set, libpq's message
    names only the address, and the name is what the explanation needs."""
    from aurora_ssl.diagnostics import translate_error

    return translate_error(exc, params=conn_params)


def _fresh(error: BaseException) -> BaseException:
    """A copy of a shared explanation, so concurrent raisers do not share one traceback."""
    try:
        duplicate = copy.copy(error)
    except Exception:  # noqa: BLE001 - an exception type that cannot be copied: share it
        return error
    duplicate.__traceback__ = None
    return duplicate


def _discard_pooled(connection: Any) -> None:
    """Close a refused pooled connection and give it back, so the pool replaces it."""
    close_quietly(connection)
    pool = getattr(connection, "_pool", None)
    if pool is not None:
        try:
            pool.putconn(connection)
        except Exception:
            logger.debug("aurora-ssl: returning a refused connection failed", exc_info=True)


def _items(value: Any) -> Any:
    """A dict's items as a tuple (compared by value); anything else as it is."""
    return tuple(value.items()) if isinstance(value, Mapping) else value
