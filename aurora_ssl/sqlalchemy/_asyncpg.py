"""asyncpg: verify-full spelled as an ``ssl.SSLContext`` that trusts the selected roots only.

asyncpg does TLS with the standard library, and its own defaults reach outside our trust set:
``ssl=True`` (or ``?ssl=true``) means ``ssl.create_default_context()``, i.e. the operating
system's store plus ``SSL_CERT_FILE``/``SSL_CERT_DIR``. So every accepted spelling of "verify"
gets *our* context, built from the selected roots (or the user's own ``sslrootcert`` file),
with certificate and host name checks and TLS >= 1.2, and nothing else.

A user ``SSLContext`` is refused: Python cannot list what a context trusts. ``get_ca_certs()``
and ``cert_store_stats()`` only show certificates loaded from a file; a CA directory
(``capath``, ``SSL_CERT_DIR``, ``load_default_certs()``) is searched lazily by OpenSSL during
the handshake and shows up nowhere beforehand, so no subset check can be sound. The user's
intent is expressed with libpq's keywords instead (``sslrootcert``, ``sslcert``, ``sslkey``,
``sslpassword``, ``ssl_min_protocol_version``), which this module turns into the context.

libpq keywords that users carry over from psycopg URLs (asyncpg would fail on them with a
``TypeError``) are consumed when harmless or translated, and refused when they weaken:

=========================  ==============================================================
``sslmode``                verify-full consumed; anything else refused
``sslrootcert``            the user's trust file (validated); ``system`` / empty refused
``sslcert``/``sslkey``     client certificate loaded into our context (``sslpassword`` too)
``ssl_min_protocol_version``  TLSv1.2 / TLSv1.3; older refused
``sslsni``                 1 consumed; 0 refused
``sslnegotiation``         postgres consumed; direct -> asyncpg ``direct_tls=True``
``gssencmode``             disable consumed; anything else refused
``sslkeylogfile``          empty consumed; a file refused
``sslcrl``/``sslcrldir``   refused (not implemented for asyncpg: never silently dropped)
``hostaddr``               the address the socket goes to; the name stays verified
``application_name``       asyncpg ``server_settings``
``connect_timeout``        asyncpg ``timeout``
=========================  ==============================================================

Connection failures are raw in asyncpg (``ssl.SSLCertVerificationError``,
``ConnectionError("... rejected SSL upgrade")``); SQLAlchemy's ``handle_error`` never sees
them because they are not DB-API errors. So the connect call itself is wrapped: the wrapper
checks, before any byte is sent, that the final parameters still carry our context, and
translates failures into the same errors psycopg users get.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import ssl
from collections.abc import Mapping, MutableMapping
from typing import Any

from aurora_ssl.errors import (
    AuroraSSLError,
    InsecureConfigurationError,
    TLSError,
)
from aurora_ssl.options import parse_bool
from aurora_ssl.policy import WEAK_SSLMODES, ConnectionPolicy, resolve_host
from aurora_ssl.sslcontext import verify_full_context

_MIN_VERSIONS = {"tlsv1.2": ssl.TLSVersion.TLSv1_2, "tlsv1.3": ssl.TLSVersion.TLSv1_3}
_WEAK_VERSIONS = frozenset({"tlsv1", "tlsv1.0", "tlsv1.1", "sslv3"})
_CONSUMED = (
    "ssl", "sslmode", "gssencmode", "sslkeylogfile", "sslsni", "sslrootcert", "sslcert",
    "sslkey", "sslpassword", "ssl_min_protocol_version", "sslnegotiation",
)  # fmt: skip


def _one(value: Any) -> Any:
    """The value of a URL query key given once (SQLAlchemy makes repeated keys a tuple)."""
    if isinstance(value, tuple) and len(value) == 1:
        return value[0]
    return value


def _refuse_user_context(origin: str) -> InsecureConfigurationError:
    return InsecureConfigurationError(
        f"An ssl.SSLContext in {origin} is not accepted: aurora-ssl cannot prove which CAs it "
        "trusts (Python does not list CA directories such as SSL_CERT_DIR or the OS store), "
        "so it could trust an impostor. Remove it; aurora-ssl builds a verify-full context "
        "with the RDS roots. For your own CA file pass sslrootcert=/path/ca.pem, for a client "
        "certificate sslcert= and sslkey=."
    )


def judge(params: Mapping[str, Any], origin: str) -> None:
    """Refuse every asyncpg parameter that would skip, weaken or hide verification.

    Used at engine creation (URL query, ``connect_args``) and again on the final connect
    parameters. Judges only; :func:`prepare` consumes and translates.

    Raises:
        InsecureConfigurationError: naming the key and ``origin``, with the fix.
    """
    if params.get("async_creator_fn") is not None:
        raise InsecureConfigurationError(
            f"async_creator_fn in {origin} replaces asyncpg.connect, so aurora-ssl cannot see "
            "or check what it connects with. Remove it; set credentials in connect_args or a "
            "do_connect event listener instead."
        )
    if params.get("dsn") is not None:
        raise InsecureConfigurationError(
            f"dsn in {origin} is read by asyncpg for host and sslmode behind aurora-ssl's back; "
            "put the connection details in the engine URL instead."
        )
    _judge_ssl(_one(params.get("ssl")), origin)
    mode = _one(params.get("sslmode"))
    if mode is not None and str(mode).strip().lower() != "verify-full":
        weak = str(mode).strip().lower() in WEAK_SSLMODES
        raise InsecureConfigurationError(
            f"sslmode={str(mode)[:40]} in {origin} "
            + ("would let the connection skip server verification" if weak else "is not an sslmode")
            + "; remove it (aurora-ssl always verifies the certificate and host name)."
        )
    root = _one(params.get("sslrootcert"))
    if root is not None and (not str(root).strip() or str(root).strip().lower() == "system"):
        raise InsecureConfigurationError(
            f"sslrootcert={str(root)[:40]!r} in {origin} would trust "
            + ("nothing usable" if not str(root).strip() else "every public CA of the system")
            + "; remove it to use the RDS roots, or give your own CA file."
        )
    for key in ("sslcrl", "sslcrldir"):
        if params.get(key) is not None:
            raise InsecureConfigurationError(
                f"{key} in {origin}: certificate revocation lists are not supported with "
                "asyncpg by aurora-ssl (the list would be ignored); remove it or use psycopg."
            )
    if params.get("sslkeylogfile"):
        raise InsecureConfigurationError(
            f"sslkeylogfile in {origin} writes the TLS session keys to a file, which lets "
            "anyone who reads it decrypt the traffic; remove it."
        )
    gss = _one(params.get("gssencmode"))
    if gss is not None and str(gss).strip().lower() != "disable":
        raise InsecureConfigurationError(
            f"gssencmode={str(gss)[:40]} in {origin} asks for GSSAPI encryption instead of "
            "verified TLS; remove it."
        )
    sni = _one(params.get("sslsni"))
    if sni is not None and not parse_bool(sni, "sslsni"):
        raise InsecureConfigurationError(
            f"sslsni=0 in {origin} hides the server name the certificate is checked against "
            "(RDS Proxy and SNI routing need it); remove it."
        )
    version = _one(params.get("ssl_min_protocol_version"))
    if version is not None and str(version).strip().lower() not in _MIN_VERSIONS:
        weak = str(version).strip().lower() in _WEAK_VERSIONS
        raise InsecureConfigurationError(
            f"ssl_min_protocol_version={str(version)[:40]} in {origin} "
            + ("allows TLS versions with known weaknesses" if weak else "is not a TLS version")
            + "; use TLSv1.2 or TLSv1.3."
        )
    negotiation = _one(params.get("sslnegotiation"))
    if negotiation is not None and str(negotiation).strip().lower() not in ("postgres", "direct"):
        raise InsecureConfigurationError(
            f"sslnegotiation={str(negotiation)[:40]} in {origin} is not postgres or direct; "
            "remove it."
        )


def _judge_ssl(value: Any, origin: str) -> None:
    if value is None or value is True:
        return
    if isinstance(value, ssl.SSLContext):
        raise _refuse_user_context(origin)
    if isinstance(value, str):
        word = value.strip().lower()
        if word == "verify-full":
            return
        if word in WEAK_SSLMODES:
            raise InsecureConfigurationError(
                f"ssl={value} in {origin} would let asyncpg skip server verification; remove it "
                "(aurora-ssl always verifies the certificate and host name)."
            )
    if not isinstance(value, bool) and str(value).strip().lower() in ("true", "1", "yes", "on"):
        return  # from a URL query: the same as True
    raise InsecureConfigurationError(
        f"ssl={str(value)[:40]} in {origin} turns TLS off or is not understood; remove it "
        "(aurora-ssl always connects with verified TLS)."
    )


@dataclasses.dataclass(frozen=True)
class Expected:
    """What one asyncpg connection must be made with; compared before and after connecting.

    Attributes:
        context: the SSLContext we built (identity is compared, so nothing can swap it).
        host: where the socket goes (the ``hostaddr`` when one was given).
        server_name: the name the certificate is verified against.
        port: the port, for error messages and inspection.
        trust_path: the trust file the context was built from.
        direct_tls: whether TLS starts without the PostgreSQL SSLRequest (needs PG 17+).
    """

    context: ssl.SSLContext
    host: Any
    server_name: str
    port: Any
    trust_path: str
    direct_tls: bool = False


def prepare(
    policy: ConnectionPolicy,
    cparams: MutableMapping[str, Any],
    contexts: dict[tuple[Any, ...], ssl.SSLContext],
) -> Expected:
    """Turn the connect parameters into verify-full ones for asyncpg (in place).

    Raises:
        InsecureConfigurationError: a weakening parameter, or no TCP host to verify.
        BundleError: the trust file cannot be built or the user's file is invalid.
    """
    judge(cparams, "the connect parameters")
    taken = {key: _one(cparams.pop(key)) for key in _CONSUMED if key in cparams}
    app = cparams.pop("application_name", None)
    if app is not None:
        settings = {"application_name": str(_one(app)), **(cparams.get("server_settings") or {})}
        cparams["server_settings"] = settings
    timeout = cparams.pop("connect_timeout", None)
    if timeout is not None:
        cparams.setdefault("timeout", float(_one(timeout)))
    # Pinned like libpq's sslnegotiation: PGSSLNEGOTIATION=direct in the environment must not
    # switch to direct TLS behind the user's back (old servers answer with a bare reset).
    direct = str(taken.get("sslnegotiation", "")).strip().lower() == "direct"
    given = _one(cparams.get("direct_tls"))
    cparams["direct_tls"] = direct or (given is not None and parse_bool(given, "direct_tls"))
    hostaddr = _one(cparams.pop("hostaddr", None))
    host = cparams.get("host")
    listed = host if isinstance(host, (list, tuple)) else str(host or "").split(",")
    names = [str(n).strip() for n in listed]
    if not all(names) or any(n.startswith("/") or n.startswith("@") for n in names):
        raise InsecureConfigurationError(
            "No TCP host in the asyncpg connect parameters: asyncpg would use PGHOST or a Unix "
            "socket, where TLS cannot verify anything. Give the endpoint's host name, e.g. "
            "mydb.cluster-xxxx.us-east-1.rds.amazonaws.com."
        )
    if (hostaddr or policy.settings.tls_server_name) and len(names) > 1:
        raise InsecureConfigurationError(
            "hostaddr or tls_server_name with several hosts is not supported with asyncpg; "
            "give one host."
        )
    if policy.settings.tls_server_name:
        hostaddr = hostaddr or resolve_host(names[0])
        names = [policy.settings.tls_server_name]
    root = taken.get("sslrootcert")
    path = policy.trust(",".join(names), str(root) if root is not None else None).ensure()
    pinned = names[0] if hostaddr else None
    context = _context(path, pinned, taken, contexts)
    cparams["ssl"] = context
    if hostaddr:
        cparams["host"] = str(hostaddr)
    return Expected(
        context=context,
        host=cparams.get("host"),
        server_name=",".join(names),
        port=cparams.get("port"),
        trust_path=path,
        direct_tls=bool(cparams["direct_tls"]),
    )


def _context(
    path: str,
    pinned: str | None,
    taken: Mapping[str, Any],
    contexts: dict[tuple[Any, ...], ssl.SSLContext],
) -> ssl.SSLContext:
    cert, key = taken.get("sslcert"), taken.get("sslkey")
    password = taken.get("sslpassword")
    version = str(taken.get("ssl_min_protocol_version") or "tlsv1.2").strip().lower()
    memo = (path, pinned, cert, key, version)
    context = contexts.get(memo) if password is None else None
    if context is not None:
        return context
    context = verify_full_context(path, pinned)
    context.minimum_version = _MIN_VERSIONS[version]
    if cert:
        try:
            context.load_cert_chain(str(cert), str(key) if key else None, password)
        except (OSError, ssl.SSLError) as exc:
            raise InsecureConfigurationError(
                f"The client certificate sslcert={cert} (sslkey={key}) cannot be loaded: "
                f"{type(exc).__name__}. Check the paths and sslpassword."
            ) from None
    if password is None:
        contexts[memo] = context
    return context


async def connect_checked(expected: Expected, *args: Any, **kwargs: Any) -> Any:
    """``asyncpg.connect`` that refuses changed parameters and translates TLS failures.

    Installed as the dialect's ``async_creator_fn`` by our do_connect listener, so it sees
    the parameters after every later do_connect hook has run.

    Raises:
        InsecureConfigurationError: a later hook replaced the SSL context or the host; nothing
            was sent.
        TLSError: (subclasses) the TLS set-up failed, with the driver's error as cause.
    """
    if kwargs.get("ssl") is not expected.context or kwargs.get("host") != expected.host:
        changed = "ssl" if kwargs.get("ssl") is not expected.context else "host"
        raise InsecureConfigurationError(
            f"The asyncpg connect parameter {changed!r} was changed after aurora-ssl set it "
            "(another do_connect hook?), so the connection was not attempted. Remove the hook's "
            f"change to {changed!r}."
        )
    import asyncpg

    try:
        return await asyncpg.connect(*args, **kwargs)
    except (ssl.SSLError, ConnectionError, OSError) as exc:
        translated = translate(exc, expected)
        if translated is None:
            raise
        raise translated from exc


_VERIFY_DETAIL = re.compile(r"certificate verify failed: ([^(]*)")


def translate(
    exc: BaseException, expected: Expected, driver: str = "asyncpg"
) -> AuroraSSLError | None:
    """Map a raw asyncpg/pg8000/ssl failure onto the error psycopg users get for the cause."""
    from aurora_ssl.diagnostics import scrub, translate_error

    said = f'({driver}: "{scrub(" ".join(str(exc).split()))[:300]}")'
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = getattr(exc, "verify_code", None)
        if code == 62 or "hostname mismatch" in str(exc).lower():  # X509_V_ERR_HOSTNAME_MISMATCH
            libpq = f'server certificate does not match host name "{expected.server_name}"'
        elif code in (9, 10):  # X509_V_ERR_CERT_NOT_YET_VALID / _HAS_EXPIRED
            libpq = "certificate verify failed: certificate has expired"
        else:
            match = _VERIFY_DETAIL.search(str(exc))
            libpq = f"certificate verify failed: {match[1].strip() if match else ''}"
    elif isinstance(exc, ssl.SSLError):
        libpq = f"SSL error: {exc}"
    elif "rejected SSL upgrade" in str(exc):
        libpq = "server does not support SSL, but SSL was required"
    elif isinstance(exc, ConnectionResetError) or (
        isinstance(exc, ConnectionError) and "unexpected connection_lost" in str(exc)
    ):
        why = (
            "Direct TLS (sslnegotiation=direct) needs PostgreSQL 17 or newer: remove it to use "
            "the standard negotiation."
            if expected.direct_tls
            else "Something in the path (a proxy, a load balancer, a firewall) may cut TLS "
            "connections; run `aurora-ssl inspect HOST` to see what the server offers."
        )
        return TLSError(
            f"{_where(expected)} closed the connection during the TLS set-up, before the "
            f"certificate could be checked. {why} {said}"
        )
    else:
        return None
    params = {
        "host": expected.server_name,
        "hostaddr": expected.host if expected.host != expected.server_name else None,
        "port": expected.port,
        "sslrootcert": expected.trust_path,
    }
    error = translate_error(_RestatedError(libpq), params=params)
    if error is None:
        return None
    message = re.sub(r'\(libpq: ".*"\)$', said, str(error), flags=re.DOTALL)
    return type(error)(message)


def _where(expected: Expected) -> str:
    port = f":{expected.port}" if expected.port else ""
    via = f" ({expected.host})" if expected.host != expected.server_name else ""
    return f"{expected.server_name}{port}{via}"


class _RestatedError(Exception):
    """asyncpg's failure restated in libpq's words, so diagnose classifies it the same way."""


def read_back(dbapi_connection: Any, expected: Expected) -> None:
    """After connecting: the TLS session must run on our context, for our server name.

    Raises:
        InsecureConfigurationError: a different context or name was used; connection closed.
    """
    from aurora_ssl.status import close_quietly

    driver = getattr(dbapi_connection, "driver_connection", None) or dbapi_connection
    transport = getattr(driver, "_transport", None)
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return  # no TLS at all: require_tls raises TLSNotInUseError
    if ssl_object.context is not expected.context:
        close_quietly(dbapi_connection)
        raise InsecureConfigurationError(
            "The asyncpg connection was made with another SSLContext than the one aurora-ssl "
            "built (something replaced it after aurora-ssl set it); it was closed before any "
            "query. Remove the code that sets ssl= for this engine."
        )


def attach_wrapper(expected: Expected, cparams: MutableMapping[str, Any]) -> None:
    """Route this connect through :func:`connect_checked`."""
    cparams["async_creator_fn"] = functools.partial(connect_checked, expected)
