"""The policy: what a connection may be made with, checked on exactly what the driver receives.

Every integration (SQLAlchemy, Django, the command line) calls :meth:`Policy.decide` at the call
that connects, after every user hook has run, and hands the driver what it returns and nothing
else:

* a libpq driver gets **one connection string** (:func:`aurora_ssl._libpq.render`), checked by
  parsing it back with the driver's own libpq, plus the driver's Python-level keywords;
* asyncpg and pg8000 get a complete keyword set with our ``SSLContext``
  (:meth:`Policy.decide_socket`): host, port, ``ssl`` and ``direct_tls`` always explicit, so
  nothing is left for ``PGHOST``, ``PGSSLROOTCERT`` or a service file to fill.

Keys fall into three groups: libpq keywords (exactly as the driver's libpq spells them: a key
``"sslmode "`` with a blank, which a driver would serialise as ``sslmode =disable``, is none),
the driver's own keywords, and anything else, which is refused naming where it came from.

Why refuse instead of override: a weaker ``sslmode`` is somebody's decision; replacing it
silently would hide a misunderstanding that bites elsewhere (psql, cron jobs). Why a
*complete* explicit set: libpq fills every parameter it is not given from a service file, then
``PG*`` variables; with each security-relevant key explicit, they have nothing left to fill.
The service file and ``PGHOST``/``PGHOSTADDR``/``PGPORT`` are read as inputs (they choose the
destination) and checked like the application's own settings.

The only way around verification is ``insecure_local_dev``: refused for AWS names, loud.
"""

from __future__ import annotations

import functools
import os
import ssl  # loaded by every driver already
import sys

from aurora_ssl._endpoint import host_problem, is_ip, parse_endpoint
from aurora_ssl._libpq import PYTHON_KEYWORDS, libpq_of, read_service, render, service_name
from aurora_ssl._options import Options, parse_bool
from aurora_ssl._trust import TrustSelection, cache_dir, cache_path, select_trust
from aurora_ssl._trust import clear_caches as clear_trust
from aurora_ssl.errors import AuroraSSLError, InsecureConfigurationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

#: The pinned keys libpq gets a fixed value for: (the values allowed, the first is the one set
#: when not given; why any other is refused). The host, hostaddr, port and sslrootcert are
#: chosen per connection; a given ssl_min_protocol_version or sslnegotiation is kept.
_PINNED: Mapping[str, tuple[tuple[str, ...], str]] = {
    "sslmode": (
        ("verify-full",),
        "would let the connection skip server verification (or is no sslmode); remove it: "
        "aurora-ssl always uses sslmode=verify-full.",
    ),
    "gssencmode": (
        ("disable",),
        "lets GSSAPI encryption replace TLS, which does not verify the server certificate; "
        "remove it (Kerberos authentication still works).",
    ),
    "ssl_min_protocol_version": (
        ("TLSv1.2", "TLSv1.3"),
        "allows TLS versions with known weaknesses or is no TLS version; use TLSv1.2 or TLSv1.3.",
    ),
    "sslsni": (
        ("1", "true", "yes", "on"),
        "stops sending the server name in the TLS handshake, which RDS Proxy and TLS routers "
        "need; remove it.",
    ),
    "sslnegotiation": (
        ("postgres", "direct"),
        "is not a libpq value; use 'postgres' (the default) or 'direct' (PostgreSQL 17+).",
    ),
    "sslkeylogfile": (
        ("",),
        "writes the TLS session keys to a file, which lets anyone who reads it decrypt the "
        "traffic; remove it.",
    ),
}
#: The parameters always set explicitly (where the driver's libpq knows them) and read back.
PINNED_KEYS = (
    "host",
    "hostaddr",
    "port",
    "sslmode",
    "sslrootcert",
    "gssencmode",
    "ssl_min_protocol_version",
    "sslsni",
    "sslnegotiation",
    "sslkeylogfile",
)
_DSN_KEYS = ("dsn", "conninfo")
_ENVIRONMENT = {"host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT"}


class Decision:
    """What one libpq connection is made with: the outcome of :meth:`Policy.decide`.

    Attributes:
        params: the libpq keywords, exactly as libpq parses :attr:`conninfo`.
        conninfo: the connection string handed to the driver (the password, if any, is added
            by :meth:`with_password` at the last moment).
        driver_kwargs: the driver's own keyword arguments, passed as keywords.
        trust: the roots chosen for the host.
        driver: whose libpq decided: ``psycopg2``, ``psycopg`` or psql's.
    """

    def __init__(
        self,
        params: dict[str, str],
        driver_kwargs: dict[str, Any],
        trust: TrustSelection,
        libpq: Any,
        automatic_direct: bool = False,
    ) -> None:
        self.params, self.driver_kwargs, self.trust = params, driver_kwargs, trust
        self._libpq, self.automatic_direct = libpq, automatic_direct
        self.driver: str = libpq.name
        self.conninfo = _canonical(params, libpq)

    def with_password(self, password: str | None) -> str:
        """:attr:`conninfo` with ``password`` (a provider's, for this connection only)."""
        if not password:
            return self.conninfo
        return _canonical({**self.params, "password": password}, self._libpq)

    def fallback(self, error: BaseException) -> Decision | None:
        """The same connection with the standard negotiation, when direct TLS was our choice
        and failed before the TLS handshake completed (an older server, a proxy); ``None``
        otherwise: never after a certificate failure, never once the login has started."""
        if not self.automatic_direct or not _before_tls(error):
            return None
        _learn(self.params, capable=False)
        params = {**self.params, "sslnegotiation": "postgres"}
        return Decision(params, self.driver_kwargs, self.trust, self._libpq)

    def connected(self, server_version: int | None) -> None:
        """Learn from a made connection: a direct one worked; a server of PostgreSQL 17 or
        newer (not behind RDS Proxy, which passes the server's version through) takes one."""
        direct = self.params.get("sslnegotiation") == "direct"
        if direct or (server_version or 0) >= 170000:
            _learn(self.params, capable=True)


def _canonical(params: Mapping[str, str], libpq: Any) -> str:
    conninfo = render(params)
    if libpq.parse(conninfo) != params:
        raise InsecureConfigurationError(
            "The connection parameters cannot be handed to libpq unchanged (a NUL character or "
            "an encoding libpq cannot read?), so they were not used; check the values."
        )
    return conninfo


# --- direct TLS, learned per endpoint -------------------------------------------------------

#: What libpq 17 and 18 say when a server that does not take direct TLS closes the socket, and
#: what shows that the handshake got further than that.
_BEFORE_TLS = (
    "ssl syscall error",
    "unexpected eof",
    "eof detected",
    "closed the connection",
    "connection reset",
    "wrong version number",
)
_AFTER_TLS = ("certificate", "host name", "authentication", "password")


def _before_tls(error: BaseException) -> bool:
    text = str(error).lower()
    return any(w in text for w in _BEFORE_TLS) and not any(w in text for w in _AFTER_TLS)


def _endpoint_key(params: Mapping[str, str]) -> tuple[str, str] | None:
    """``(host, port)`` of a one-host connection to a name that is not RDS Proxy."""
    host, port = params.get("host", ""), params.get("port", "5432")
    if "," in host + port or host_problem(host) or parse_endpoint(host).kind.is_proxy:
        return None
    return host.lower(), port


def _marker(params: Mapping[str, str]) -> str | None:
    """The file that says an endpoint takes direct TLS (in the guarded cache directory, so
    later processes know too; whoever could write there could only cost us a round trip)."""
    key = _endpoint_key(params)
    return os.path.join(cache_path(), "direct-tls", f"{key[0]}_{key[1]}") if key else None


def _direct_known(params: Mapping[str, str]) -> bool:
    """Whether this endpoint is known to take direct TLS (one ``stat``)."""
    marker = _marker(params)
    return marker is not None and os.path.exists(marker)


def _learn(params: Mapping[str, str], *, capable: bool) -> None:
    """Remember what an endpoint takes, for this process and later ones."""
    marker = _marker(params)
    if marker is None or os.path.exists(marker) is capable:
        return
    try:
        if capable:
            os.makedirs(os.path.join(cache_dir(), "direct-tls"), mode=0o700, exist_ok=True)
            with open(marker, "a", encoding="ascii"):
                pass
        else:
            os.unlink(marker)
    except (OSError, AuroraSSLError):
        pass  # a cache that cannot be written costs a round trip


# --- the policy -----------------------------------------------------------------------------


class SocketTarget:
    """What one asyncpg or pg8000 connection is made with (:meth:`Policy.decide_socket`).

    Attributes:
        kwargs: the complete keyword arguments for the driver's ``connect``.
        server_name: the name the certificate is verified against.
        context: our ``SSLContext`` (compared by identity after connecting).
        trust: the roots chosen for :attr:`server_name`.
    """

    def __init__(
        self, kwargs: dict[str, Any], server_name: str, context: Any, trust: TrustSelection
    ) -> None:
        self.kwargs, self.server_name = kwargs, server_name
        self.context, self.trust = context, trust


class Policy:
    """Applies :class:`~aurora_ssl._options.Options` to each new connection (see the module).

    Trust is chosen once per host and process (:func:`_chosen`).
    """

    def __init__(self, options: Options) -> None:
        self.options = options

    def trust(self, host: str, sslrootcert: str | None = None) -> TrustSelection:
        """The roots for ``host`` (or the user's own file), chosen once per process."""
        selection = _chosen(host, self.options.bundle, sslrootcert)
        selection.ensure()
        return selection

    def decide(
        self,
        params: Mapping[str, Any],
        origin: str,
        *,
        driver: str,
        args: Sequence[Any] = (),
        environ: Mapping[str, str] | None = None,
    ) -> Decision:
        """Check what a libpq driver's ``connect(*args, **params)`` would get.

        Args:
            params: the keyword arguments, as they reach the driver.
            origin: where they came from, for messages ("the URL query", "OPTIONS").
            driver: ``psycopg2``, ``psycopg`` or ``system`` (psql): whose libpq decides.
            args: positional arguments (a connection string).
            environ: the environment libpq will see (default ``os.environ``).

        Raises:
            InsecureConfigurationError: a key no libpq keyword, a weaker setting from any
                input, no TCP host, or a libpq too old to pin the TLS version.
            BundleError: the trust file cannot be used.
        """
        env = os.environ if environ is None else environ
        libpq = libpq_of(driver)
        given, driver_kwargs, origins = _split(params, args, origin, driver, libpq)
        name = service_name(given, env)
        if name:
            values, where = read_service(name, given, env)
            for key, value in values.items():
                if not libpq.knows(key):
                    raise InsecureConfigurationError(
                        f"{where} sets {key!r}, which is no libpq keyword."
                    )
                if key not in given:
                    given[key], origins[key] = value, where
        for key, variable in _ENVIRONMENT.items():
            if key not in given and env.get(variable):
                given[key], origins[key] = env[variable], f"the environment ({variable})"
        _check_values(given, origins)
        if not libpq.knows("ssl_min_protocol_version"):
            raise InsecureConfigurationError(
                f"The libpq of {libpq.name} is older than 13 and cannot be told the minimum TLS "
                "version; upgrade it (psycopg2-binary and psycopg[binary] bundle a current one)."
            )
        host, hostaddr = _destination(given, origins, self.options.tls_server_name)
        trust = self.trust(host, given.get("sslrootcert"))
        fixed = {key: allowed[0] for key, (allowed, _) in _PINNED.items()}
        for key in ("ssl_min_protocol_version", "sslnegotiation"):
            fixed[key] = given.get(key) or fixed[key]
        port = given.get("port") or "5432"
        fixed.update(host=host, hostaddr=hostaddr, port=port, sslrootcert=trust.path)
        result = {**given, **{key: fixed[key] for key in PINNED_KEYS if libpq.knows(key)}}
        # Direct TLS saves a round trip where the endpoint is known to take it (PostgreSQL 17+).
        automatic = "sslnegotiation" in result and "sslnegotiation" not in given
        if automatic and _direct_known(result):
            result["sslnegotiation"] = "direct"
        else:
            automatic = False
        return Decision(result, driver_kwargs, trust, libpq, automatic_direct=automatic)

    def decide_socket(self, params: Mapping[str, Any], origin: str, *, driver: str) -> SocketTarget:
        """Check asyncpg's or pg8000's connect keywords; return the complete verified set.

        libpq keywords users carry over from psycopg URLs are consumed when harmless or
        translated (``sslrootcert``, ``sslcert``/``sslkey``/``sslpassword``,
        ``ssl_min_protocol_version``, ``sslnegotiation=direct``, ``hostaddr``,
        ``application_name``, ``connect_timeout``) and refused when they weaken.

        Raises:
            InsecureConfigurationError: a weakening or unverifiable parameter, a host that is
                no DNS name or IP address, a ``hostaddr`` that is no IP address.
        """
        kwargs = {k: _one(v) if k != "host" else v for k, v in params.items() if v is not None}
        _refuse_socket_keys(kwargs, origin, driver)
        _check_values(kwargs, dict.fromkeys(kwargs, origin))
        taken = {k: kwargs.pop(k) for k in (*_PINNED, *_CONTEXT_KEYS, *_TRANSLATED) if k in kwargs}
        one = bool(self.options.tls_server_name) or driver == "pg8000"
        hosts, hostaddr = _socket_hosts(kwargs.pop("host", None), taken, origin, driver, one)
        if self.options.tls_server_name:
            hostaddr = hostaddr or resolve_host(hosts[0])
            hosts = [self.options.tls_server_name]
        server_name = ",".join(hosts)
        root = taken.get("sslrootcert")
        trust = self.trust(server_name, str(root) if root is not None else None)
        version = str(taken.get("ssl_min_protocol_version") or "TLSv1.2").lower()
        keys = [taken.get(key) for key in ("sslcert", "sslkey", "sslpassword")]
        context = _context(trust.path, hosts[0] if hostaddr else None, version, *keys)
        direct = str(taken.get("sslnegotiation", "")).lower() == "direct"
        direct = direct or parse_bool(taken.get("direct_tls", False), "direct_tls")
        if direct and driver == "pg8000":
            raise InsecureConfigurationError(
                f"sslnegotiation=direct in {origin}: pg8000 always sends the SSLRequest; remove it."
            )
        name = taken.get("application_name")
        if driver == "asyncpg":
            kwargs.update(ssl=context, direct_tls=direct)
            if name is not None:
                settings = kwargs.get("server_settings") or {}
                kwargs["server_settings"] = {"application_name": str(name), **settings}
        else:
            kwargs["ssl_context"] = context
            if name is not None:
                kwargs["application_name"] = str(name)
        if "connect_timeout" in taken:
            kwargs.setdefault("timeout", float(taken["connect_timeout"]))
        port = kwargs.pop("port", None) or 5432
        kwargs["host"] = str(hostaddr) if hostaddr else (hosts if len(hosts) > 1 else hosts[0])
        kwargs["port"] = [int(p) for p in port] if isinstance(port, (list, tuple)) else int(port)
        return SocketTarget(kwargs, server_name, context, trust)


@functools.lru_cache(maxsize=256)
def _chosen(host: str, bundle: str | None, sslrootcert: str | None) -> TrustSelection:
    return select_trust(host, bundle=bundle, sslrootcert=sslrootcert)


# --- asyncpg and pg8000: our SSLContext -----------------------------------------------------

#: What asyncpg and pg8000 users carry over from libpq URLs, besides the pinned keys (checked,
#: then left to our SSLContext): none reaches the driver as given. First what configures our
#: SSLContext, then what becomes the driver's own keywords.
_CONTEXT_KEYS = ("ssl", "ssl_context", "sslrootcert", "sslcert", "sslkey", "sslpassword")
_TRANSLATED = ("direct_tls", "hostaddr", "application_name", "connect_timeout")
_SOCKET_REFUSED = {
    "dsn": "is read by the driver for host and sslmode behind aurora-ssl's back; put the "
    "connection details in the engine URL instead",
    "service": "names a service file the driver reads behind aurora-ssl's back; give the "
    "parameters directly",
    "servicefile": "names a service file the driver reads behind aurora-ssl's back; give the "
    "parameters directly",
    "async_creator_fn": "replaces the driver's connect, so aurora-ssl cannot see what it "
    "connects with; set credentials in connect_args or a do_connect listener instead",
    "sslcrl": "(a revocation list) is not supported here; it would be ignored: use psycopg",
    "sslcrldir": "(a revocation list) is not supported here; it would be ignored: use psycopg",
    "sock": "hands the driver a socket aurora-ssl did not open; give the endpoint's host name",
    "unix_sock": "is a Unix socket, where TLS is never used; give the endpoint's host name",
}


def _one(value: Any) -> Any:
    """A URL query key given once (SQLAlchemy makes repeated keys a tuple)."""
    return value[0] if isinstance(value, tuple) and len(value) == 1 else value


def _refuse_socket_keys(kwargs: Mapping[str, Any], origin: str, driver: str) -> None:
    for key, why in _SOCKET_REFUSED.items():
        if kwargs.get(key) is not None:
            raise InsecureConfigurationError(f"{key} in {origin} {why}.")
    for key in ("ssl", "ssl_context"):
        value = kwargs.get(key)
        if isinstance(value, ssl.SSLContext):
            raise InsecureConfigurationError(
                f"An ssl.SSLContext in {origin} is not accepted: aurora-ssl cannot prove which "
                "CAs it trusts (Python does not list CA directories such as SSL_CERT_DIR), so it "
                "could trust an impostor. Remove it; for your own CA file pass "
                "sslrootcert=/path/ca.pem, for a client certificate sslcert= and sslkey=."
            )
        if value is not None and value is not True and str(value).strip().lower() not in _VERIFY:
            raise InsecureConfigurationError(
                f"{key}={str(value)[:40]} in {origin} would let {driver} skip server "
                "verification or is not understood; remove it (aurora-ssl always verifies "
                "the certificate and host name)."
            )


_VERIFY = ("verify-full", "true", "1", "yes", "on")


def _socket_hosts(
    given: Any, taken: Mapping[str, Any], origin: str, driver: str, one: bool
) -> tuple[list[str], Any]:
    """The hosts (each a DNS name or an IP address; ``one`` host only, or with a hostaddr)
    and the hostaddr (an IP address)."""
    parts = given if isinstance(given, (list, tuple)) else str(given or "").split(",")
    hosts = [str(host).strip() for host in parts]
    for host in hosts:
        problem = host_problem(host, f"The host in {origin}")
        if problem:
            raise InsecureConfigurationError(
                f"{problem} {driver} connects over TCP only here (no Unix sockets, no PGHOST)."
            )
    hostaddr = taken.get("hostaddr")
    if hostaddr is not None and not is_ip(str(hostaddr)):
        raise InsecureConfigurationError(
            f"hostaddr={str(hostaddr)[:60]!r} in {origin} is not an IP address; hostaddr "
            "takes a numeric address (put names in host)."
        )
    if (hostaddr or one) and len(hosts) > 1:
        raise InsecureConfigurationError(
            f"Several hosts in {origin}: give one host with {driver} here."
        )
    return hosts, hostaddr


@functools.lru_cache(maxsize=64)
def _context(
    path: str, pinned_name: str | None, version: str, cert: Any, key: Any, password: Any
) -> ssl.SSLContext:
    """Our SSLContext: the chosen roots, verify-full, the minimum TLS version, the client
    certificate if any; the same object for the same inputs (loading roots costs)."""
    context = _PinnedNameContext(ssl.PROTOCOL_TLS_CLIENT)
    context.pinned_name = pinned_name
    context.load_verify_locations(cafile=path)
    context.verify_mode, context.check_hostname = ssl.CERT_REQUIRED, True
    context.minimum_version = (
        ssl.TLSVersion.TLSv1_3 if version == "tlsv1.3" else ssl.TLSVersion.TLSv1_2
    )
    if cert:
        try:
            context.load_cert_chain(str(cert), str(key) if key else None, password)
        except (OSError, ssl.SSLError) as exc:
            raise InsecureConfigurationError(
                f"The client certificate sslcert={cert} (sslkey={key}) cannot be loaded: "
                f"{type(exc).__name__}. Check the paths and sslpassword."
            ) from None
    return context


class _PinnedNameContext(ssl.SSLContext):
    """Verifies a fixed server name (``tls_server_name``, or the host when connecting to a
    ``hostaddr``), whatever address the socket connected to."""

    pinned_name: str | None = None

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: Any = None,
        session: Any = None,
    ) -> ssl.SSLObject:
        name = self.pinned_name or server_hostname
        return super().wrap_bio(incoming, outgoing, server_side, name, session)

    def wrap_socket(self, sock: Any, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        if self.pinned_name:
            kwargs["server_hostname"] = self.pinned_name
        return super().wrap_socket(sock, *args, **kwargs)


# --- checks shared by both paths ------------------------------------------------------------


def _split(
    params: Mapping[str, Any], args: Sequence[Any], origin: str, driver: str, libpq: Any
) -> tuple[dict[str, str], dict[str, Any], dict[str, str]]:
    """(libpq keywords, the driver's own keywords, where each libpq keyword came from)."""
    given: dict[str, str] = {}
    origins: dict[str, str] = {}
    own: dict[str, Any] = {}
    if len(args) > 1 or (args and not isinstance(args[0], str)):
        raise InsecureConfigurationError(f"Unexpected positional arguments in {origin}.")
    strings = [(text, f"the connection string in {origin}") for text in args]
    strings += [
        (params[k], f"{k} in {origin}") for k in _DSN_KEYS if isinstance(params.get(k), str)
    ]
    for text, where in strings:
        _refuse_nul(text, where)
        for key, value in libpq.parse(text).items():
            given[key], origins[key] = value, where
    for key, value in params.items():
        name = "dbname" if key == "database" and driver == "psycopg2" else key
        if key in PYTHON_KEYWORDS.get(driver, ()):
            own[key] = value
        elif value is None or (key in _DSN_KEYS and isinstance(value, str)):
            continue
        elif not isinstance(key, str) or not libpq.knows(name):
            raise InsecureConfigurationError(
                f"{str(key)[:60]!r} in {origin} is neither a libpq keyword (as the libpq of "
                f"{libpq.name} spells them) nor a keyword argument of {driver}'s connect; a "
                "blank or another character in a key makes it another key. Fix its spelling."
            )
        elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise InsecureConfigurationError(
                f"{key} in {origin} is a {type(value).__name__}; give it as text or a number."
            )
        else:
            _refuse_nul(str(value), f"{key!r} in {origin}")
            given[name], origins[name] = str(value), origin
    return given, own, origins


def _refuse_nul(text: str, where: str) -> None:
    if "\x00" in text:
        raise InsecureConfigurationError(
            f"{where} holds a NUL character; libpq would stop reading there and drop "
            "everything after it, sslmode included. Remove it."
        )


def _destination(
    given: Mapping[str, str], origins: Mapping[str, str], server_name: str | None
) -> tuple[str, str]:
    """``(host, hostaddr)`` libpq connects to: TCP only; ``tls_server_name`` verified."""
    host = given.get("host", "")
    for name in host.split(","):
        if not name.strip() or name.strip().startswith(("/", "@")):
            where = origins.get("host", "the connection parameters")
            raise InsecureConfigurationError(
                f"No TCP host in {where} (host={name.strip()[:60] or 'unset'}): libpq never uses "
                "TLS on a Unix socket, so the password would travel unencrypted. Give the "
                "endpoint's host name, e.g. mydb.cluster-xxxx.us-east-1.rds.amazonaws.com."
            )
    if not server_name:
        return host, given.get("hostaddr", "")
    if "," in host:
        raise InsecureConfigurationError("tls_server_name needs one host, not a list; give one.")
    return server_name, given.get("hostaddr") or resolve_host(host)


def _check_values(params: Mapping[str, Any], origins: Mapping[str, str]) -> None:
    """Refuse any value that would weaken verify-full, naming where it came from."""

    def refuse(key: str, why: str) -> None:
        from aurora_ssl._redaction import mask_conninfo  # a dbname may hold a password

        shown = mask_conninfo(str(params[key]))[:60] or "''"
        where = origins.get(key, "the parameters")
        raise InsecureConfigurationError(f"{key}={shown} in {where} {why}")

    for key, (allowed, why) in _PINNED.items():
        value = params.get(key)
        text = str(value).strip().lower()
        if isinstance(value, (str, int)) and text not in [a.lower() for a in allowed]:
            refuse(key, why)
    root = params.get("sslrootcert")
    if isinstance(root, str) and root.strip().lower() in ("system", ""):
        refuse(
            "sslrootcert",
            "would trust every public CA of the system (or nothing); remove it to use the RDS "
            "roots.",
        )
    dbname = str(params.get("dbname") or "")
    if "=" in dbname or dbname.startswith(("postgresql://", "postgres://")):
        refuse(
            "dbname",
            "holds a connection string; psql and libpq tools expand it into parameters "
            "aurora-ssl would not see. Give only the database name.",
        )
    port_text = params.get("port") if isinstance(params.get("port"), str) else ""
    for port in str(port_text).split(","):
        digits = port.strip().isascii() and port.strip().isdigit()
        if port.strip() and not (digits and 0 < int(port) < 65536):
            refuse("port", "is not a port number (1-65535); fix it.")


def resolve_host(host: str) -> str:
    """The address of ``host`` now (per connection with ``tls_server_name``).

    Raises:
        InsecureConfigurationError: the name does not resolve; says which name.
    """
    import socket

    try:
        return str(socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0])
    except (socket.gaierror, UnicodeError) as exc:
        raise InsecureConfigurationError(
            f"Cannot resolve {host} to connect to it with tls_server_name: {exc}."
        ) from exc


# --- the ways in ----------------------------------------------------------------------------


def refuse_insecure_for_aws(options: Options, hosts: Sequence[str]) -> None:
    """The opt-out exists for local servers only: refuse it when any host is an AWS name."""
    if not options.insecure_local_dev:
        return
    for host in [*hosts, *([options.tls_server_name] if options.tls_server_name else [])]:
        if parse_endpoint(host).kind.is_rds or ".amazonaws.com" in host.lower():
            raise InsecureConfigurationError(
                f"insecure_local_dev is set but {host} is an AWS endpoint; the opt-out exists "
                "only for local development servers. Remove it."
            )


def warn_insecure(what: str) -> None:
    """Log the opt-out loudly; every engine or Django alias that uses it calls this."""
    import logging  # these cost a fresh process milliseconds: only for the opt-out

    from aurora_ssl._redaction import mask_conninfo

    logging.getLogger("aurora_ssl").warning(
        "aurora-ssl: INSECURE: TLS verification is OFF for %s (insecure_local_dev). Connections "
        "may be plaintext or to an impostor. Never use this outside local development.",
        mask_conninfo(what),
    )


def clear_caches() -> None:
    """Forget every per-process memo: trust selection, SSL contexts, libpq parsers, endpoints."""
    clear_trust()
    _chosen.cache_clear()
    _context.cache_clear()
    libpq_of.cache_clear()


def connection_params(
    params: Mapping[str, Any],
    options: Options | None = None,
    *,
    driver: str | None = None,
    origin: str = "the connection parameters",
) -> dict[str, Any]:
    """Verified-TLS parameters for your own ``psycopg.connect(**...)`` or ``psycopg2.connect``.

    Every key of ``params`` must be a keyword of the driver's libpq or of its ``connect``;
    the result adds an explicit value for every pinned key (see the policy guide).

    Args:
        params: libpq keywords (a ``dsn``/``conninfo`` string among them is read by libpq).
        options: aurora-ssl's options (``Options(bundle=..., tls_server_name=...)``); with
            ``insecure_local_dev`` the parameters come back as given (refused for AWS names).
        driver: ``"psycopg"`` or ``"psycopg2"``: whose libpq decides and will connect. Default:
            the one imported (psycopg2 when both or neither are).

    Raises:
        InsecureConfigurationError: as :meth:`Policy.decide`.

    Example::

        import psycopg, aurora_ssl
        conn = psycopg.connect(**aurora_ssl.connection_params(
            {"host": "mydb.cluster-abc.us-east-1.rds.amazonaws.com", "user": "app",
             "dbname": "app", "password": token}, driver="psycopg"))
    """
    if driver is None:  # the one imported; psycopg2 when both or neither are
        only_psycopg = "psycopg" in sys.modules and "psycopg2" not in sys.modules
        driver = "psycopg" if only_psycopg else "psycopg2"
    options = options or Options()
    if options.insecure_local_dev:  # the opt-out: refused for AWS names, loud, unchecked
        hosts = [str(params.get(key) or "") for key in ("host", "hostaddr")]
        hosts += [
            libpq_of(driver).parse(params[key]).get("host", "")
            for key in _DSN_KEYS
            if isinstance(params.get(key), str)
        ]
        refuse_insecure_for_aws(options, hosts)
        warn_insecure(origin)
        return dict(params)
    decision = Policy(options).decide(params, origin, driver=driver)
    return {**decision.params, **decision.driver_kwargs}
