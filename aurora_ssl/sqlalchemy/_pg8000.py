"""pg8000: verify-full spelled as an ``ssl.SSLContext``, as for asyncpg.

pg8000 is pure Python (common where binary wheels hurt, such as AWS Lambda layers) and does
TLS with the standard library. Its defaults do not verify anything: ``ssl_context=True`` (or
none) means a context with ``CERT_NONE`` and no host name check, and a server that answers
the SSLRequest with "no" is silently used in clear text when no context was given. So every
connection gets *our* context (the selected roots, certificate and host name checks,
TLS >= 1.2, from :mod:`aurora_ssl.sslcontext`), whatever the user wrote.

The libpq keywords users carry over are handled exactly as for asyncpg (:mod:`._asyncpg`:
harmless ones consumed, weakening ones refused); pg8000's own TLS knobs are judged too:
``ssl_context`` (an ``SSLContext`` is refused, since what it trusts cannot be listed;
false/off refused; true accepted and replaced), ``sock``/``unix_sock`` (they bypass the TCP
connect and the SSLRequest) refused. ``sslnegotiation=direct`` is refused: pg8000 always
sends the SSLRequest. After connecting, the socket must be TLS on our context for our name.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, MutableMapping
from typing import Any

from sqlalchemy.engine import Engine

from aurora_ssl.errors import InsecureConfigurationError, TLSNotInUseError
from aurora_ssl.policy import ConnectionPolicy
from aurora_ssl.sqlalchemy import _asyncpg
from aurora_ssl.status import ClientTLS, close_quietly

_TRUE = frozenset({"true", "1", "yes", "on"})


def judge(params: Mapping[str, Any], origin: str) -> None:
    """Refuse every pg8000 parameter that would skip, weaken or hide verification.

    Raises:
        InsecureConfigurationError: naming the key and ``origin``, with the fix.
    """
    context = _asyncpg._one(params.get("ssl_context"))
    if isinstance(context, ssl.SSLContext):
        raise _asyncpg._refuse_user_context(origin)
    if context is not None and context is not True and str(context).strip().lower() not in _TRUE:
        raise InsecureConfigurationError(
            f"ssl_context={str(context)[:40]} in {origin} turns TLS off or is not understood; "
            "remove it (aurora-ssl always connects with verified TLS)."
        )
    for key in ("sock", "unix_sock"):
        if params.get(key) is not None:
            raise InsecureConfigurationError(
                f"{key} in {origin} hands pg8000 a socket aurora-ssl did not open, so where it "
                "goes cannot be verified; remove it and give the endpoint's host name."
            )
    negotiation = _asyncpg._one(params.get("sslnegotiation"))
    if negotiation is not None and str(negotiation).strip().lower() == "direct":
        raise InsecureConfigurationError(
            f"sslnegotiation=direct in {origin}: pg8000 always starts TLS with the PostgreSQL "
            "SSLRequest; remove it."
        )
    host = params.get("host")
    if isinstance(host, (list, tuple)) or "," in str(host or ""):
        raise InsecureConfigurationError(
            f"Several hosts in {origin}: pg8000 connects to one host; give one."
        )
    _asyncpg.judge({k: v for k, v in params.items() if k != "ssl_context"}, origin)


def prepare(
    policy: ConnectionPolicy,
    cparams: MutableMapping[str, Any],
    contexts: dict[tuple[Any, ...], ssl.SSLContext],
) -> _asyncpg.Expected:
    """Turn the connect parameters into verify-full ones for pg8000 (in place).

    Raises:
        InsecureConfigurationError: a weakening parameter, or no TCP host to verify.
        BundleError: the trust file cannot be built or the user's file is invalid.
    """
    judge(cparams, "the connect parameters")
    cparams.pop("ssl_context", None)
    app = cparams.pop("application_name", None)  # a pg8000 keyword: no server_settings
    expected = _asyncpg.prepare(policy, cparams, contexts)
    cparams["ssl_context"] = cparams.pop("ssl")
    cparams.pop("direct_tls", None)  # always False here: judge refused direct
    if app is not None:
        cparams["application_name"] = str(_asyncpg._one(app))
    return expected


def guard_connect(engine: Engine) -> None:
    """Check the final parameters and translate TLS failures at the dialect's connect step.

    pg8000 raises ``ssl`` errors raw and says "Server refuses SSL" as a bare InterfaceError;
    users get the same aurora-ssl errors (with the same explanations) as psycopg users.
    """
    driver_connect = engine.dialect.connect

    def connect(*cargs: Any, **cparams: Any) -> Any:
        expected = cparams.pop(EXPECTED_KEY, None)
        if not isinstance(expected, _asyncpg.Expected):
            raise InsecureConfigurationError(
                "A pg8000 connection reached the driver without aurora-ssl's connect step; it "
                "was not attempted. Let the engine create its connections."
            )
        if (
            cparams.get("ssl_context") is not expected.context
            or cparams.get("host") != expected.host
        ):
            changed = (
                "ssl_context" if cparams.get("ssl_context") is not expected.context else "host"
            )
            raise InsecureConfigurationError(
                f"The pg8000 connect parameter {changed!r} was changed after aurora-ssl set it "
                "(another do_connect hook?), so the connection was not attempted. Remove the "
                f"hook's change to {changed!r}."
            )
        try:
            return driver_connect(*cargs, **cparams)
        except (ssl.SSLError, OSError) as exc:
            translated = _asyncpg.translate(exc, expected, driver="pg8000")
            if translated is None:
                raise
            raise translated from exc
        except Exception as exc:
            if "Server refuses SSL" not in str(exc):
                raise
            translated = _asyncpg.translate(
                ConnectionError("rejected SSL upgrade"), expected, driver="pg8000"
            )
            if translated is None:  # pragma: no cover - the restated text is always known
                raise
            raise translated from exc

    setattr(engine.dialect, "connect", connect)  # noqa: B010 - per engine, not the class


#: Key in the connect parameters from our do_connect listener to :func:`guard_connect`.
EXPECTED_KEY = "aurora_ssl_pg8000_expected"


def read_back(dbapi_connection: Any, expected: _asyncpg.Expected) -> ClientTLS:
    """After connecting: TLS on our context, for our server name; what the socket reports.

    Raises:
        TLSNotInUseError: the socket is not TLS; the connection was closed first.
        InsecureConfigurationError: another context or name was used; closed first.
    """
    driver = getattr(dbapi_connection, "driver_connection", None) or dbapi_connection
    sock = getattr(driver, "_usock", None)
    if not isinstance(sock, ssl.SSLSocket):
        close_quietly(dbapi_connection)
        raise TLSNotInUseError(
            "The pg8000 connection is not using TLS, so it was closed before any query. The "
            "server may have TLS off, or something in the path downgraded the connection; "
            "check `aurora-ssl inspect HOST` and the server's rds.force_ssl setting."
        )
    if sock.context is not expected.context or sock.server_hostname != expected.server_name:
        close_quietly(dbapi_connection)
        raise InsecureConfigurationError(
            "The pg8000 connection was made with another SSLContext or server name than the "
            "ones aurora-ssl set (something replaced them); it was closed before any query. "
            "Remove the code that sets ssl_context for this engine."
        )
    cipher = sock.cipher()
    return ClientTLS(
        in_use=True,
        protocol=sock.version(),
        cipher=cipher[0] if cipher else None,
        bits=cipher[2] if cipher else None,
        driver="pg8000",
        sslmode="verify-full",
    )
