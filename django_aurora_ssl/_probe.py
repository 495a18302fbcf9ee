"""One :class:`aurora_ssl._diagnostics.ConnectionReport` per Django database alias.

Used by the database system check and by ``manage.py check_aurora_ssl``. The connection is
Django's own (``connections[alias]``), so it is made exactly as the application makes it:
same backend, same parameters, same TLS assertion. If the backend's startup check already
asked the server on this connection, its answer is reused: one server round trip in all.
The report also reads back what libpq used and compares it with what the backend set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aurora_ssl._diagnostics import ConnectionReport, check_connection
from aurora_ssl._options import Options as Settings
from aurora_ssl._policy import policy_for
from aurora_ssl._server_tls import ServerTLS, server_tls
from aurora_ssl._trust import TrustSelection
from aurora_ssl.errors import AuroraSSLError
from django_aurora_ssl._conf import OptionsError, database_options, libpq_target


def report_for_alias(alias: str, *, inspect: bool = False) -> ConnectionReport:
    """Connect ``alias`` through its backend (if not connected yet) and report on its TLS.

    Never raises for a refused or failed connection: that is the report's verdict. The
    Django connection is left open for the caller (``migrate`` goes on using it). With
    ``inspect`` (``check_aurora_ssl``, run on purpose), a refused certificate is explained by
    inspecting the server; the system check before ``migrate`` does not open that connection.
    """
    from django.db import connections

    wrapper = connections[alias]
    entry = wrapper.settings_dict
    params = libpq_target(entry)
    try:
        settings = database_options(entry, alias)
    except OptionsError:
        settings = Settings()  # the connection attempt below fails and reports why
    host = str(params.get("host") or "")
    trust: TrustSelection | None = None
    if not settings.insecure_local_dev:
        try:
            trust = policy_for(settings).trust(
                settings.tls_server_name or host, params.get("sslrootcert")
            )
        except AuroraSSLError:
            trust = None  # the connection attempt raises the same error, and reports it

    def connect() -> Any:
        wrapper.ensure_connection()
        return wrapper.connection

    def ask_server(raw: Any) -> ServerTLS:
        cached = getattr(wrapper, "aurora_ssl_server_facts", None)
        if cached is not None and cached[0] is raw:
            return cached[1]  # type: ignore[no-any-return]
        return server_tls(raw)

    def expected() -> Mapping[str, Any] | None:
        # What our backend set for this connection (the pool's parameters when pooled); the
        # report reads every security-relevant value back and compares.
        wanted = getattr(wrapper, "aurora_ssl_expected_params", None)
        return wanted() if wanted is not None else None

    return check_connection(
        connect,
        expected=expected,
        label=alias,
        host=host,
        port=params.get("port"),
        trust=trust,
        settings=settings,
        server=ask_server,
        secrets=[str(entry.get("PASSWORD") or "")],
        inspect=inspect,
    )
