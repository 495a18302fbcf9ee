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
  passed through :func:`aurora_ssl.diagnostics.translate.translate_error`.
* ``_configure_connection`` is the psycopg 3 pool's ``configure`` callback (Django >= 5.1):
  each new pooled connection is read back against the pool's parameters before it ever
  enters the pool; a refused one is closed and counted by the pool as a failed attempt.
* ``DatabaseClient`` (``manage.py dbshell``): see :mod:`django_aurora_ssl.backends.client`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aurora_ssl.errors import AuroraSSLError, InsecureConfigurationError, TLSNotInUseError
from aurora_ssl.policy import policy_for, validate_settings, warn_insecure
from aurora_ssl.status import ServerTLS, require_tls, server_tls
from django_aurora_ssl.backends.client import AuroraSSLClientMixin
from django_aurora_ssl.compat import connection_pool, driver_name, is_pool_timeout
from django_aurora_ssl.conf import (
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
    "AuroraSSLClientMixin",
    "AuroraSSLWrapperMixin",
    "forget_server_checks",
    "secure_params",
]

logger = logging.getLogger("aurora_ssl")

# Targets whose server already confirmed TLS in this process: (alias, host, hostaddr, port, db).
_server_checked: set[tuple[str, ...]] = set()
_insecure_warned: set[str] = set()
_lock = threading.Lock()


def forget_server_checks() -> None:
    """Make the next connection of every alias ask the server again (tests, after a failover)."""
    with _lock:
        _server_checked.clear()
        _insecure_warned.clear()


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
    #: The verified-TLS parameters our ``get_connection_params`` returned last (per wrapper,
    #: and Django's wrappers are per thread).
    _aurora_ssl_expected: dict[str, Any] | None = None

    @property
    def aurora_ssl_options(self) -> DatabaseOptions:
        """This alias's ``AURORA_SSL`` options (raises ImproperlyConfigured if malformed)."""
        return database_options(self.settings_dict, self.alias)

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
        try:
            connection = super().get_new_connection(conn_params)
        except AuroraSSLError:
            raise
        except Exception as exc:
            if pool is not None and is_pool_timeout(exc):
                self._aurora_ssl_explain_pool_timeout(conn_params, exc)
            translated = _translate(exc, conn_params)
            if translated is None:
                raise
            raise translated from exc
        self.aurora_ssl_server_facts = None
        if options.insecure_local_dev:
            return connection
        try:
            require_tls(connection, close=pool is None, expected=expected)
            if options.server_check_at_startup:
                self._aurora_ssl_check_server_once(connection, conn_params)
        except BaseException:
            if pool is not None:
                _discard_pooled(connection)
            else:
                _close_quietly(connection)
            raise
        return connection

    def _configure_connection(self, connection: Any) -> Any:
        # Django >= 5.1 passes this as the psycopg pool's ``configure`` callback (and calls it
        # for unpooled connections from init_connection_state): nothing enters the pool
        # without TLS. Raising here makes the pool close the attempt and try again.
        if not self.aurora_ssl_options.insecure_local_dev:
            require_tls(connection, expected=self._aurora_ssl_expected_for())
        return super()._configure_connection(connection)

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
            _close_quietly(connection)
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

        Raises the translated (or libpq's) reason when the direct attempt fails, or
        :class:`TLSNotInUseError`; returns when it works (the pool is merely exhausted).
        """
        try:
            probe = self.Database.connect(**conn_params)
        except Exception as probe_exc:
            translated = _translate(probe_exc, conn_params)
            if translated is not None:
                raise translated from probe_exc
            raise probe_exc from exc
        try:
            require_tls(probe)
        finally:
            _close_quietly(probe)


#: The parameters whose values decide where the connection goes and how it is verified.
_SECURITY_KEYS = (
    "host",
    "hostaddr",
    "port",
    "sslmode",
    "sslrootcert",
    "sslkeylogfile",
    "gssencmode",
    "ssl_min_protocol_version",
    "sslsni",
    "sslnegotiation",
)


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
    from aurora_ssl.diagnostics.translate import translate_error

    return translate_error(exc, params=conn_params)


def _close_quietly(connection: Any) -> None:
    try:
        connection.close()
    except Exception:
        logger.debug("aurora-ssl: closing a refused connection failed", exc_info=True)


def _discard_pooled(connection: Any) -> None:
    """Close a refused pooled connection and give it back, so the pool replaces it."""
    _close_quietly(connection)
    pool = getattr(connection, "_pool", None)
    if pool is not None:
        try:
            pool.putconn(connection)
        except Exception:
            logger.debug("aurora-ssl: returning a refused connection failed", exc_info=True)
