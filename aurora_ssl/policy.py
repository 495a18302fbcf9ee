"""The connection policy: every libpq connection gets a complete, explicit verify-full set.

Why refuse instead of override: a weaker ``sslmode`` in a URL or in OPTIONS is somebody's
decision; silently replacing it would hide a misunderstanding that will bite elsewhere (psql,
cron jobs). So it is an :class:`InsecureConfigurationError` that names where it came from.

Why a *complete* set: libpq takes every parameter it is not given from somewhere else, a
service file first (``service=``, ``PGSERVICE``), then ``PG*`` environment variables, then
its defaults. So the policy judges what the driver will actually use, in libpq's order of
precedence: the explicit parameters, connection strings inside them (read by libpq's own
parser, see :mod:`aurora_ssl.conninfo`), the service definition (:mod:`aurora_ssl.service`),
and ``PGHOST``/``PGHOSTADDR``/``PGPORT`` (the destination). Then it passes an explicit value
for every parameter that affects security or the destination: ``host`` (TCP names only, so
never a Unix socket and never a password before TLS), ``hostaddr`` (empty when none),
``port``, ``sslmode=verify-full``, ``sslrootcert``, ``gssencmode=disable``,
``ssl_min_protocol_version``, ``sslsni=1`` and, where the driver's libpq knows them,
``sslnegotiation`` (pinned to ``postgres`` unless the user asks for ``direct``) and an empty
``sslkeylogfile``. Nothing is left for the environment to fill, so a weaker ``PGSSLMODE`` or
``PGSSLROOTCERT`` is simply outranked. After connecting, :func:`aurora_ssl.status.require_tls`
reads every one of these back from libpq and closes the connection if any differs.

The only way around verification is :attr:`Settings.insecure_local_dev`, which is refused
for AWS endpoint names and logged as a warning every time an engine or backend is built.
"""

from __future__ import annotations

import _thread
import functools
import os
import sys

from aurora_ssl._frozen import Frozen
from aurora_ssl.conninfo import is_conninfo, is_unix_socket, parse_conninfo
from aurora_ssl.errors import InsecureConfigurationError
from aurora_ssl.trust import select_trust

# No typing, dataclasses, logging or socket at run time: each would cost a fresh process
# more than issue 12 allows the whole connect path (5 % over plain psycopg2).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from aurora_ssl.trust import TrustSelection

__all__ = [
    "ENVIRONMENT_DESTINATION",
    "MIN_LIBPQ_VERSION",
    "PINNED_KEYS",
    "WEAK_SSLMODES",
    "ConnectionPolicy",
    "Settings",
    "check_params",
    "clear_caches",
    "connection_params",
    "driver_libpq_version",
    "host_of",
    "policy_for",
    "resolve_host",
    "validate_settings",
    "warn_insecure",
]

#: Every libpq sslmode that does not check the server's name against its certificate.
WEAK_SSLMODES = frozenset({"disable", "allow", "prefer", "require", "verify-ca"})
_WEAK_PROTOCOLS = frozenset({"tlsv1", "tlsv1.1", "sslv3"})
_PROTOCOLS = frozenset({"tlsv1.2", "tlsv1.3"})

#: The libpq version that introduced each parameter we pin (older libpq refuses the key).
_SINCE: Mapping[str, int] = {
    "gssencmode": 120000,
    "ssl_min_protocol_version": 130000,
    "sslsni": 140000,
    "sslnegotiation": 170000,
    "sslkeylogfile": 180000,
}
#: libpq older than this cannot be told the minimum TLS version; it is refused.
MIN_LIBPQ_VERSION = 130000
#: Assumed when the driver's libpq cannot be determined (no driver installed).
_ASSUMED_LIBPQ_VERSION = 140000

#: The parameters the policy always sets explicitly (when the driver's libpq knows them);
#: :func:`aurora_ssl.status.require_tls` reads each back after connecting.
PINNED_KEYS = (
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

#: Environment variables that choose the destination, read as inputs (libpq's precedence:
#: explicit > service file > environment).
ENVIRONMENT_DESTINATION: Mapping[str, str] = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
}

_DSN_KEYS = ("dsn", "conninfo")


class Settings(Frozen):
    """aurora-ssl's own options; they are consumed here and never reach a driver.

    Attributes:
        bundle: an RDS bundle file to trim from, instead of ``AURORA_SSL_BUNDLE``, an updated
            bundle or the shipped one.
        tls_server_name: the RDS endpoint name the certificate must match, when the
            application connects through another name (a CNAME, a tunnel). The connect host is
            resolved at every connection, so DNS changes after a failover are followed.
        insecure_local_dev: turn the policy off, for a local server without TLS. Refused for
            AWS endpoint names, logged as a warning whenever it is used.
    """

    __slots__ = ("bundle", "insecure_local_dev", "tls_server_name")
    _fields = ("bundle", "tls_server_name", "insecure_local_dev")

    bundle: str | os.PathLike[str] | None
    tls_server_name: str | None
    insecure_local_dev: bool

    def __init__(
        self,
        bundle: str | os.PathLike[str] | None = None,
        tls_server_name: str | None = None,
        insecure_local_dev: bool = False,
    ) -> None:
        self._set(
            bundle=bundle, tls_server_name=tls_server_name, insecure_local_dev=insecure_local_dev
        )


#: No options: the defaults of :class:`Settings` (frozen, so one shared instance is safe).
DEFAULT_SETTINGS = Settings()


def check_params(params: Mapping[str, Any], origin: str, *, driver: str | None = None) -> None:
    """Refuse any parameter that would weaken verify-full.

    Args:
        params: libpq keyword parameters (a DSN string under ``dsn``/``conninfo`` is parsed
            with libpq's parser and checked too).
        origin: where the parameters came from, for the message ("the URL query", "OPTIONS").
        driver: the libpq driver the parameters go to, whose parser reads DSN strings.

    Raises:
        InsecureConfigurationError: naming the key, its value and ``origin``.
    """
    _judge(params, origin, driver)


def _judge(params: Mapping[str, Any], origin: str, driver: str | None) -> list[dict[str, str]]:
    """:func:`check_params`, returning what the DSN strings hold (each read once, by libpq's
    parser and ours), so the policy merges exactly what it judged."""
    for key, value in params.items():
        if "\x00" in str(key) or (isinstance(value, str) and "\x00" in value):
            # psycopg 3 passes one conninfo string to libpq, which stops reading at a NUL:
            # sslmode and sslrootcert after it would be silently dropped.
            raise InsecureConfigurationError(
                f"A parameter in {origin} contains a NUL character; libpq would ignore "
                "everything after it, including sslmode. Remove it."
            )
    contents: list[dict[str, str]] = []
    for key in _DSN_KEYS:
        dsn = params.get(key)
        if isinstance(dsn, str) and dsn.strip():
            parsed = parse_conninfo(dsn, driver=driver)
            check_params(parsed, f"the DSN string in {origin}", driver=driver)
            contents.append(parsed)
    _check_values(params, origin)
    return contents


def _check_values(params: Mapping[str, Any], origin: str) -> None:
    mode = params.get("sslmode")
    if mode is not None and str(mode).lower() in WEAK_SSLMODES:
        raise InsecureConfigurationError(
            f"sslmode={mode} in {origin} would let the connection skip server verification; "
            "remove it (aurora-ssl always uses sslmode=verify-full)."
        )
    if mode is not None and str(mode).lower() != "verify-full":
        raise InsecureConfigurationError(
            f"sslmode={mode} in {origin} is not a libpq sslmode; remove it."
        )
    root = params.get("sslrootcert")
    if root is not None and str(root).strip().lower() == "system":
        raise InsecureConfigurationError(
            f"sslrootcert=system in {origin} would trust every public CA of the operating "
            "system, and RDS certificates are not signed by them; remove it to use the RDS roots."
        )
    if root is not None and not str(root).strip():
        raise InsecureConfigurationError(
            f"sslrootcert is empty in {origin}; remove it to use the RDS roots."
        )
    if params.get("sslkeylogfile"):
        raise InsecureConfigurationError(
            f"sslkeylogfile in {origin} writes the TLS session keys to a file, which lets "
            "anyone who reads it decrypt the traffic; remove it."
        )
    gss = params.get("gssencmode")
    if gss is not None and str(gss).lower() != "disable":
        raise InsecureConfigurationError(
            f"gssencmode={gss} in {origin} lets GSSAPI encryption replace TLS, which does not "
            "verify the server certificate; remove it (Kerberos authentication still works)."
        )
    protocol = params.get("ssl_min_protocol_version")
    if protocol is not None and str(protocol).strip().lower() not in _PROTOCOLS:
        shown = str(protocol) or "''"
        raise InsecureConfigurationError(
            f"ssl_min_protocol_version={shown} in {origin} allows TLS versions with known "
            "weaknesses or is not a TLS version; use TLSv1.2 or TLSv1.3."
        )
    sni = params.get("sslsni")
    if sni is not None and str(sni).strip() != "1":
        raise InsecureConfigurationError(
            f"sslsni={sni} in {origin} stops sending the server name in the TLS handshake, "
            "which RDS Proxy and any TLS router need to present the right certificate; remove it."
        )
    negotiation = params.get("sslnegotiation")
    if negotiation is not None and str(negotiation) not in ("postgres", "direct"):
        raise InsecureConfigurationError(
            f"sslnegotiation={negotiation} in {origin} is not a libpq value; use 'postgres' "
            "(the default) or 'direct' (PostgreSQL 17+ servers only)."
        )
    dbname = params.get("dbname")
    if isinstance(dbname, str) and is_conninfo(dbname):
        raise InsecureConfigurationError(
            f"The database name in {origin} holds a connection string ('=' or a URI); psql and "
            "libpq tools expand it into parameters aurora-ssl would not see. Give only the "
            "database name, and put other parameters where the policy can judge them."
        )
    for port in str(params.get("port") or "").split(","):
        if port.strip() and not (port.strip().isdigit() and 0 < int(port) < 65536):
            raise InsecureConfigurationError(
                f"port={_short(port)} in {origin} is not a port number (1-65535); fix it."
            )


def _short(value: str, limit: int = 60) -> str:
    """A value as shown in messages: long input is cut, never echoed whole into a log."""
    return value if len(value) <= limit else f"{value[:limit]}... ({len(value)} characters)"


def driver_libpq_version(driver: str | None = None) -> int | None:
    """The libpq version of a driver (``psycopg2``, ``psycopg``), e.g. 170011; None if unknown.

    ``None`` means "whichever libpq driver connects": the lowest version among the drivers the
    application imported (else among those installed), so every pinned key is one that any of
    them accepts. The answer follows the imports: an application that imports psycopg
    (libpq 18) and later psycopg2 (libpq 17) must not keep getting libpq 18's keys, which
    psycopg2 refuses ("invalid connection option sslkeylogfile").
    """
    if driver:
        return _lowest_libpq_version((driver,))
    imported = tuple(n for n in ("psycopg", "psycopg2") if n in sys.modules)
    return _lowest_libpq_version(imported) or _lowest_libpq_version(("psycopg", "psycopg2"))


@functools.lru_cache(maxsize=8)
def _lowest_libpq_version(drivers: tuple[str, ...]) -> int | None:
    versions = [v for v in map(_libpq_version_of, drivers) if v is not None]
    return min(versions) if versions else None


def _libpq_version_of(driver: str) -> int | None:
    try:
        if driver == "psycopg2":
            from psycopg2.extensions import libpq_version

            return int(libpq_version())
        if driver in ("psycopg", "psycopg_async"):
            from psycopg import pq

            return int(pq.version())
    except ImportError:
        pass
    return None


class ConnectionPolicy:
    """Applies :class:`Settings` to each new connection's parameters, cheaply.

    Trust selection is done once per (host, user trust file) and kept here, so the per
    connection work is a few dictionary operations and one ``stat`` of the trust file.
    Instances are shared through :func:`policy_for`; the memo is the only state.
    """

    def __init__(self, settings: Settings = DEFAULT_SETTINGS) -> None:
        self.settings = settings
        self._selections: dict[tuple[str, str | None], TrustSelection] = {}
        self._lock = _thread.allocate_lock()  # threading's Lock, without importing threading

    def trust(self, host: str, sslrootcert: Any = None) -> TrustSelection:
        """The trust selection for ``host`` (and the user's own file, if any), memoised."""
        key = (host, str(sslrootcert) if sslrootcert else None)
        selection = self._selections.get(key)
        if selection is None:
            selection = select_trust(host, bundle=self.settings.bundle, sslrootcert=key[1])
            with self._lock:
                self._selections[key] = selection
        return selection

    def apply(
        self,
        params: Mapping[str, Any],
        origin: str,
        *,
        libpq_version: int | None = None,
        driver: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Turn user-given libpq parameters into a complete, explicit verified-TLS set.

        Args:
            params: the application's parameters (keywords, possibly ``dsn``/``conninfo``).
            origin: where they came from, for messages.
            libpq_version: the driver's libpq (``driver_libpq_version``): which of the
                pinned keys it accepts. Default: that of ``driver``, or of the installed one.
            driver: ``psycopg2`` or ``psycopg``: whose libpq parses connection strings.
            environ: the environment libpq will see (default ``os.environ``).

        Returns:
            Every user key except ``dsn``/``conninfo`` (their contents are merged in), plus an
            explicit value for each of :data:`PINNED_KEYS` that this libpq knows. With
            ``tls_server_name``, ``host`` is that name and ``hostaddr`` the freshly resolved
            address of the original host.

        Raises:
            InsecureConfigurationError: a weaker setting from any input, no TCP host, a
                service that cannot be read, or a libpq too old to pin the TLS version.
            BundleError: the trust file cannot be built or the user's file is invalid.
        """
        if self.settings.insecure_local_dev:
            return dict(params)
        env = os.environ if environ is None else environ
        version = libpq_version or driver_libpq_version(driver) or _ASSUMED_LIBPQ_VERSION
        if version < MIN_LIBPQ_VERSION:
            raise InsecureConfigurationError(
                f"The driver's libpq is version {version // 10000}, which cannot be told the "
                "minimum TLS version; upgrade the driver (psycopg2-binary or psycopg[binary] "
                "bundle a current libpq)."
            )
        result = _gather(params, origin, driver, env)
        host = host_of(result, origin, environ=env)
        if self.settings.tls_server_name:
            result["hostaddr"] = resolve_host(host)
            result["host"] = host = self.settings.tls_server_name
        result["host"] = host
        result.setdefault("hostaddr", "")
        result.setdefault("port", "5432")
        result["sslmode"] = "verify-full"
        result["sslrootcert"] = self.trust(host, result.get("sslrootcert")).ensure()
        result["gssencmode"] = "disable"
        result.setdefault("ssl_min_protocol_version", "TLSv1.2")
        result["sslsni"] = "1"
        result.setdefault("sslnegotiation", "postgres")
        result["sslkeylogfile"] = ""
        for key, since in _SINCE.items():
            if version < since and key in result:
                if key in params or key == "gssencmode":
                    continue  # the user's own key: let libpq say it does not know it
                del result[key]
        return result


def _gather(
    params: Mapping[str, Any], origin: str, driver: str | None, env: Mapping[str, str]
) -> dict[str, Any]:
    """Every input libpq would use, judged, in libpq's order of precedence (first wins)."""
    dsn_contents = _judge(params, origin, driver)
    result = {k: v for k, v in params.items() if k not in _DSN_KEYS and v is not None}
    for parsed in dsn_contents:  # psycopg2 and psycopg merge keywords over the string
        for parsed_key, parsed_value in parsed.items():
            result.setdefault(parsed_key, parsed_value)
    if "service" in result or env.get("PGSERVICE") is not None:  # else no need to import
        from aurora_ssl.service import read_service, service_name

        definition = read_service(str(service_name(result, env)), result, environ=env)
        _check_values(definition, definition.origin)
        for key, value in definition.items():
            result.setdefault(key, value)
    for key, variable in ENVIRONMENT_DESTINATION.items():
        from_env = env.get(variable)
        if key not in result and from_env:
            _check_values({key: from_env}, f"the environment ({variable})")
            result[key] = from_env
    return result


@functools.lru_cache(maxsize=64)
def policy_for(settings: Settings) -> ConnectionPolicy:
    """The shared :class:`ConnectionPolicy` for these settings (one memo per settings)."""
    return ConnectionPolicy(settings)


def clear_caches() -> None:
    """Forget every per-process memo: the policies, trust selection, bundles, endpoints.

    The one way to make selection run again after the environment changed (bundle source,
    cache directory, installed drivers); files on disk are left alone.
    """
    from aurora_ssl.trust import clear_caches as clear_trust_caches

    clear_trust_caches()
    policy_for.cache_clear()
    _lowest_libpq_version.cache_clear()


def connection_params(
    params: Mapping[str, Any],
    settings: Settings = DEFAULT_SETTINGS,
    *,
    origin: str = "the connection parameters",
    driver: str | None = None,
) -> dict[str, Any]:
    """Verified-TLS libpq parameters for ``params``: see :meth:`ConnectionPolicy.apply`.

    Pass ``driver="psycopg2"`` or ``"psycopg"`` when both are installed, so the pinned keys
    match the libpq that will read them.

    Example::

        import psycopg2, aurora_ssl
        conn = psycopg2.connect(**aurora_ssl.connection_params(
            {"host": "mydb.cluster-abc.us-east-1.rds.amazonaws.com", "user": "app",
             "dbname": "app", "password": token}, driver="psycopg2"))
    """
    return policy_for(settings).apply(params, origin, driver=driver)


def host_of(
    params: Mapping[str, Any], origin: str, *, environ: Mapping[str, str] | None = None
) -> str:
    """The TCP host list libpq would connect to; refuses Unix sockets and a missing host.

    Raises:
        InsecureConfigurationError: no host, or a host that is a Unix-socket path (libpq
            never uses TLS there, so the password would travel unencrypted).
    """
    env = os.environ if environ is None else environ
    given: Any = params.get("host")
    for key in _DSN_KEYS:
        if not given and isinstance(params.get(key), str):
            given = parse_conninfo(params[key]).get("host")
    host = str(given or env.get("PGHOST") or "")
    for name in host.split(","):
        if is_unix_socket(name):
            raise InsecureConfigurationError(
                f"No TCP host in {origin} (host={_short(name) or 'unset'}): libpq never uses "
                "TLS on a Unix socket. Give the endpoint's host name, e.g. "
                "mydb.cluster-xxxx.us-east-1.rds.amazonaws.com."
            )
    return host


def resolve_host(host: str) -> str:
    """Resolve ``host`` now (used per connection with ``tls_server_name``).

    Raises:
        InsecureConfigurationError: the name does not resolve; says which name.
    """
    import socket  # only with tls_server_name

    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InsecureConfigurationError(
            f"Cannot resolve {host} to connect to it with tls_server_name: {exc.strerror}."
        ) from exc
    return str(infos[0][4][0])


def validate_settings(settings: Settings, hosts: list[str]) -> None:
    """Refuse the insecure opt-out where it could never be meant: AWS endpoint names."""
    if not settings.insecure_local_dev:
        return
    from aurora_ssl.endpoint import parse_endpoint

    for host in hosts:
        if parse_endpoint(host).kind.is_rds or ".amazonaws.com" in host.lower():
            raise InsecureConfigurationError(
                f"insecure_local_dev is set but {host} is an AWS endpoint; the opt-out exists "
                "only for local development servers. Remove it."
            )


def warn_insecure(what: str) -> None:
    """Log the opt-out loudly; called at every engine/backend creation that uses it.

    ``what`` may be a URL or DSN: secrets in it (``?password=``, userinfo) are masked and an
    overlong value is cut, whatever form it has.
    """
    import logging

    from aurora_ssl.redaction import mask_text, shorten

    logging.getLogger("aurora_ssl").warning(
        "aurora-ssl: INSECURE: TLS verification is OFF for %s (insecure_local_dev). "
        "Connections may be plaintext or to an impostor. Never use this outside local development.",
        shorten(mask_text(what)),
    )
