"""The connection policy: every libpq connection gets ``sslmode=verify-full`` and trimmed roots.

Why refuse instead of override: a weaker ``sslmode`` in a URL or in OPTIONS is somebody's
decision; silently replacing it would hide a misunderstanding that will bite elsewhere (psql,
cron jobs). So it is an :class:`InsecureConfigurationError` that names where it came from.

libpq environment variables (``PGSSLMODE``, ``PGSSLROOTCERT``, ``PGGSSENCMODE`` ...) cannot
weaken anything, because every parameter that matters is passed explicitly and explicit
parameters take precedence over the environment in libpq.

The only way around verification is :attr:`Settings.insecure_local_dev`, which is refused
for AWS endpoint names and logged as a warning every time an engine or backend is built.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import socket
import threading
from collections.abc import Mapping
from typing import Any

from aurora_ssl.conninfo import parse_conninfo
from aurora_ssl.endpoint import parse_endpoint
from aurora_ssl.errors import InsecureConfigurationError
from aurora_ssl.trust import TrustSelection, select_trust

__all__ = [
    "HARDENING_DEFAULTS",
    "WEAK_SSLMODES",
    "ConnectionPolicy",
    "Settings",
    "check_params",
    "connection_params",
    "host_of",
    "policy_for",
    "resolve_host",
    "validate_settings",
    "warn_insecure",
]

logger = logging.getLogger("aurora_ssl")

#: Every libpq sslmode that does not check the server's name against its certificate.
WEAK_SSLMODES = frozenset({"disable", "allow", "prefer", "require", "verify-ca"})
_WEAK_PROTOCOLS = frozenset({"tlsv1", "tlsv1.1", "sslv3"})

#: Set unless the user chose a value that is at least as strict.
HARDENING_DEFAULTS: Mapping[str, str] = {
    "ssl_min_protocol_version": "TLSv1.2",
    "sslsni": "1",
}

_DSN_KEYS = ("dsn", "conninfo")


@dataclasses.dataclass(frozen=True)
class Settings:
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

    bundle: str | os.PathLike[str] | None = None
    tls_server_name: str | None = None
    insecure_local_dev: bool = False


def check_params(params: Mapping[str, Any], origin: str) -> None:
    """Refuse any parameter that would weaken verify-full.

    Args:
        params: libpq keyword parameters (a DSN string under ``dsn``/``conninfo`` is parsed
            and checked too).
        origin: where the parameters came from, for the message ("the URL query", "OPTIONS").

    Raises:
        InsecureConfigurationError: naming the key, its value and ``origin``.
    """
    for key, value in params.items():
        if "\x00" in str(key) or (isinstance(value, str) and "\x00" in value):
            # psycopg 3 passes one conninfo string to libpq, which stops reading at a NUL:
            # sslmode and sslrootcert after it would be silently dropped.
            raise InsecureConfigurationError(
                f"A parameter in {origin} contains a NUL character; libpq would ignore "
                "everything after it, including sslmode. Remove it."
            )
    for key in _DSN_KEYS:
        dsn = params.get(key)
        if isinstance(dsn, str) and dsn.strip():
            check_params(parse_conninfo(dsn), f"the DSN string in {origin}")
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
    if protocol is not None and str(protocol).lower() in _WEAK_PROTOCOLS:
        raise InsecureConfigurationError(
            f"ssl_min_protocol_version={protocol} in {origin} allows TLS versions with known "
            "weaknesses; use TLSv1.2 or TLSv1.3."
        )


class ConnectionPolicy:
    """Applies :class:`Settings` to each new connection's parameters, cheaply.

    Trust selection is done once per (host, user trust file) and kept here, so the per
    connection work is a few dictionary operations and one ``stat`` of the trust file.
    Instances are shared through :func:`policy_for`; the memo is the only state.
    """

    def __init__(self, settings: Settings = Settings()) -> None:
        self.settings = settings
        self._selections: dict[tuple[str, str | None], TrustSelection] = {}
        self._lock = threading.Lock()

    def trust(self, host: str, sslrootcert: Any = None) -> TrustSelection:
        """The trust selection for ``host`` (and the user's own file, if any), memoised."""
        key = (host, str(sslrootcert) if sslrootcert else None)
        selection = self._selections.get(key)
        if selection is None:
            selection = select_trust(host, bundle=self.settings.bundle, sslrootcert=key[1])
            with self._lock:
                self._selections[key] = selection
        return selection

    def apply(self, params: Mapping[str, Any], origin: str) -> dict[str, Any]:
        """Turn user-given libpq parameters into verified-TLS ones.

        The result keeps every user key and adds ``sslmode=verify-full``, ``sslrootcert``
        (the trimmed roots, unless the user named a file), ``gssencmode=disable`` and the
        hardening defaults. With ``tls_server_name``, ``host`` becomes that name and
        ``hostaddr`` the freshly resolved address of the original host.

        Raises:
            InsecureConfigurationError: a weaker setting, or no TCP host to verify.
            BundleError: the trust file cannot be built or the user's file is invalid.
        """
        if self.settings.insecure_local_dev:
            return dict(params)
        check_params(params, origin)
        result = dict(params)
        host = host_of(result, origin)
        if self.settings.tls_server_name:
            result["hostaddr"] = resolve_host(host)
            result["host"] = host = self.settings.tls_server_name
        result["sslmode"] = "verify-full"
        result["sslrootcert"] = self.trust(host, result.get("sslrootcert")).ensure()
        result["gssencmode"] = "disable"
        for key, value in HARDENING_DEFAULTS.items():
            result.setdefault(key, value)
        return result


@functools.lru_cache(maxsize=64)
def policy_for(settings: Settings) -> ConnectionPolicy:
    """The shared :class:`ConnectionPolicy` for these settings (one memo per settings)."""
    return ConnectionPolicy(settings)


def connection_params(
    params: Mapping[str, Any],
    settings: Settings = Settings(),
    *,
    origin: str = "the connection parameters",
) -> dict[str, Any]:
    """Verified-TLS libpq parameters for ``params``: see :meth:`ConnectionPolicy.apply`.

    Example::

        import psycopg2, aurora_ssl
        conn = psycopg2.connect(**aurora_ssl.connection_params(
            {"host": "mydb.cluster-abc.us-east-1.rds.amazonaws.com", "user": "app",
             "dbname": "app", "password": token}))
    """
    return policy_for(settings).apply(params, origin)


def host_of(params: Mapping[str, Any], origin: str) -> str:
    host = params.get("host")
    for key in _DSN_KEYS:
        if not host and isinstance(params.get(key), str):
            host = parse_conninfo(params[key]).get("host")
    host = str(host or os.environ.get("PGHOST") or "")
    for name in host.split(","):
        if parse_endpoint(name).is_unix_socket:
            raise InsecureConfigurationError(
                f"No TCP host in {origin} (host={name or 'unset'}): libpq never uses TLS on a "
                "Unix socket. Give the endpoint's host name, e.g. "
                "mydb.cluster-xxxx.us-east-1.rds.amazonaws.com."
            )
    return host


def resolve_host(host: str) -> str:
    """Resolve ``host`` now (used per connection with ``tls_server_name``).

    Raises:
        InsecureConfigurationError: the name does not resolve; says which name.
    """
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
    for host in hosts:
        if parse_endpoint(host).kind.is_rds or ".amazonaws.com" in host.lower():
            raise InsecureConfigurationError(
                f"insecure_local_dev is set but {host} is an AWS endpoint; the opt-out exists "
                "only for local development servers. Remove it."
            )


def warn_insecure(what: str) -> None:
    """Log the opt-out loudly; called at every engine/backend creation that uses it."""
    logger.warning(
        "aurora-ssl: INSECURE: TLS verification is OFF for %s (insecure_local_dev). "
        "Connections may be plaintext or to an impostor. Never use this outside local development.",
        what,
    )
