"""Connection reports: what was checked, what the client and the server say, and the verdict.

Shared by ``manage.py check_aurora_ssl`` (Django) and ``aurora-ssl check`` (CLI), so it knows
no framework: the caller passes a ``connect`` callable that returns a DB-API connection made
with its own policy (Django's backend, or :func:`aurora_ssl.policy.connection_params`), and
:func:`check_connection` turns whatever happens into a :class:`ConnectionReport`:

* the connection attempt (a refusal is caught, translated by
  :func:`aurora_ssl.diagnostics.translate.translate_error`, and reported, never raised);
* the client's view (:func:`aurora_ssl.status.client_tls`, no round trip);
* the server's view (:func:`aurora_ssl.status.server_tls`, one round trip), only over TLS.

The JSON form (:meth:`ConnectionReport.to_dict`, :func:`reports_to_json`) has stable keys,
described key by key in :data:`REPORT_FIELDS` (the reference page is built from it); adding a
key is a minor change, renaming or removing one is a breaking change. Nothing in a report
contains a password: messages are built from redacted text, and ``secrets`` given by the
caller are masked too.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from aurora_ssl.diagnostics.findings import Finding, Verdict, WarningCode
from aurora_ssl.diagnostics.render import report_detail_lines, report_headline, trust_block
from aurora_ssl.diagnostics.report_fields import REPORT_FIELDS, REPORT_KEYS
from aurora_ssl._endpoint import Endpoint, parse_endpoint
from aurora_ssl.errors import AuroraSSLError, InsecureConfigurationError, TLSNotInUseError
from aurora_ssl._options import Options as Settings
from aurora_ssl._redaction import mask_text
from aurora_ssl._readback import ClientTLS, client_tls, effective_params
from aurora_ssl._readback import differences as parameter_differences
from aurora_ssl._server_tls import ServerTLS, server_tls
from aurora_ssl._trust import TrustSelection

__all__ = [
    "FORMAT_VERSION",
    "REPORT_FIELDS",
    "REPORT_KEYS",
    "ConnectionReport",
    "Finding",
    "Verdict",
    "WarningCode",
    "check_connection",
    "reports_ok",
    "reports_to_dict",
    "reports_to_json",
]

#: Version of the JSON document produced by :func:`reports_to_dict`.
FORMAT_VERSION = 1


_DEFAULT_SETTINGS = Settings()


@dataclasses.dataclass(frozen=True)
class ConnectionReport:
    """Everything one check found out about one connection target."""

    label: str
    host: str
    port: int | None
    endpoint: Endpoint
    trust: TrustSelection | None
    client: ClientTLS | None
    server: ServerTLS | None
    verdict: Verdict
    insecure_local_dev: bool = False
    errors: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()
    #: What libpq really used for the security-relevant parameters, read back from the
    #: connection (empty when no connection was made, or for asyncpg).
    effective: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True only for a verified TLS connection."""
        return self.verdict is Verdict.VERIFIED

    def passed(self, *, fail_on_warning: bool = False) -> bool:
        """Whether this report should give exit status 0."""
        return self.ok and not (fail_on_warning and self.warnings)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data with the stable keys of :data:`REPORT_KEYS`."""
        trust = self.trust
        client = self.client
        server = self.server
        data: dict[str, Any] = {
            "label": self.label,
            "host": self.host,
            "port": self.port,
            "endpoint": {
                "kind": self.endpoint.kind.value,
                "region": self.endpoint.region,
                "partition": self.endpoint.partition.value if self.endpoint.partition else None,
            },
            "trust": None if trust is None else trust_block(trust),
            "client": None
            if client is None
            else {
                "tls": client.in_use,
                "protocol": client.protocol,
                "cipher": client.cipher,
                "bits": client.bits,
                "driver": client.driver,
            },
            "effective": dict(self.effective) or None,
            "server": None
            if server is None
            else {
                "ssl": server.ssl,
                "version": server.version,
                "cipher": server.cipher,
                "bits": server.bits,
                "sslinfo": server.sslinfo_installed,
                "source": server.source,
                "rds_force_ssl": server.rds_force_ssl,
            },
            "verdict": self.verdict.value,
            "ok": self.ok,
            "insecure_local_dev": self.insecure_local_dev,
            "errors": [p.to_dict() for p in self.errors],
            "warnings": [p.to_dict() for p in self.warnings],
        }
        assert tuple(data) == REPORT_KEYS
        return data

    @property
    def headline(self) -> str:
        """``"default: VERIFIED - verified TLS (sslmode=verify-full)"`` and the like."""
        return report_headline(self)

    def detail_lines(self) -> list[str]:
        """The body of :meth:`to_text`, one fact per line, indented."""
        return report_detail_lines(self)

    def to_text(self) -> str:
        """A human-readable block: the headline, then one fact per line."""
        return "\n".join([self.headline, *self.detail_lines()])


def check_connection(
    connect: Callable[[], Any],
    *,
    label: str,
    host: str,
    port: int | str | None = None,
    trust: TrustSelection | None = None,
    settings: Settings = _DEFAULT_SETTINGS,
    server: Callable[[Any], ServerTLS] = server_tls,
    close: Callable[[Any], None] | None = None,
    secrets: Iterable[str] = (),
    expected: Callable[[], Mapping[str, Any] | None] | None = None,
) -> ConnectionReport:
    """Connect once, look at TLS from both ends, and report; never raises for the target.

    Args:
        connect: returns a DB-API connection (psycopg2, psycopg 3) made with aurora-ssl's
            policy applied. Exceptions it raises become the report's errors.
        label: what the report is about (a Django alias, a redacted DSN).
        host: the host name connected to (the one verified, unless ``settings`` names
            ``tls_server_name``).
        port: the port, for display.
        trust: the trust selection the connection uses (``None`` when it could not be made;
            then the connection attempt reports why).
        settings: the policy settings in effect (for the insecure opt-out).
        server: how to ask the server; the default runs :data:`status.SERVER_TLS_QUERY`.
            A caller that already holds the server's answer for this connection can pass a
            function returning it, so the check stays at one round trip.
        close: called with the connection at the end (e.g. ``lambda c: c.close()``); omit it
            when the caller owns the connection (Django).
        secrets: strings (passwords) masked in every message, whatever their source.
        expected: returns the parameters the policy set for the connection ``connect`` made;
            every security-relevant one is read back and must match, or the verdict is
            ``refused``. The effective values are reported either way.

    Returns:
        The :class:`ConnectionReport`.
    """
    masked = tuple(s for s in secrets if s)
    endpoint = parse_endpoint(settings.tls_server_name or host.split(",")[0].strip())
    insecure = settings.insecure_local_dev
    warnings: list[Finding] = []
    if trust is not None:
        warnings.extend(Finding(WarningCode.TRUST.value, _mask(w, masked)) for w in trust.warnings)
    if insecure:
        warnings.append(
            Finding(
                WarningCode.INSECURE_LOCAL_DEV.value,
                "insecure_local_dev is on: the server's identity is not verified and the "
                "connection may be plaintext. Remove it for anything but local development.",
            )
        )
    shown_trust = None if insecure else trust

    def report(**outcome: Any) -> ConnectionReport:
        return ConnectionReport(
            label=label,
            host=host,
            port=_port(port),
            endpoint=endpoint,
            trust=shown_trust,
            insecure_local_dev=insecure,
            **outcome,
        )

    try:
        connection = connect()
    except Exception as exc:  # noqa: BLE001 - every failure becomes the report's verdict
        problem, verdict = _problem_of(exc, masked)
        return report(
            client=None, server=None, verdict=verdict, errors=(problem,), warnings=tuple(warnings)
        )
    wanted = expected() if expected is not None else None
    try:
        return _inspect(connection, report, server, insecure, warnings, masked, wanted)
    finally:
        if close is not None:
            close(connection)


def _inspect(
    connection: Any,
    report: Callable[..., ConnectionReport],
    server: Callable[[Any], ServerTLS],
    insecure: bool,
    warnings: list[Finding],
    masked: Sequence[str],
    expected: Mapping[str, Any] | None = None,
) -> ConnectionReport:
    client = client_tls(connection)
    effective = effective_params(connection)
    report = functools.partial(report, effective=effective)
    refusal = None if insecure else _effective_refusal(connection, client, effective, expected)
    if refusal is not None:
        return report(
            client=client,
            server=None,
            verdict=Verdict.REFUSED,
            errors=(refusal,),
            warnings=tuple(warnings),
        )
    if not client.in_use and not insecure:
        error = Finding(
            TLSNotInUseError.__name__,
            "The connection is not using TLS; no query was sent over it.",
        )
        return report(
            client=client,
            server=None,
            verdict=Verdict.REFUSED,
            errors=(error,),
            warnings=tuple(warnings),
        )
    try:
        facts = server(connection)
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        problem, _ = _problem_of(exc, masked)
        return report(
            client=client,
            server=None,
            verdict=Verdict.ERROR,
            errors=(problem,),
            warnings=tuple(warnings),
        )
    errors: list[Finding] = []
    if not facts.sslinfo_installed:
        warnings.append(
            Finding(
                WarningCode.SSLINFO_MISSING.value,
                "The sslinfo extension is not installed, so the server's view comes from "
                "pg_stat_ssl. Run `CREATE EXTENSION sslinfo;` in this database (on RDS this "
                "needs the rds_superuser role) to get ssl_is_used(), ssl_version() and "
                "ssl_cipher().",
            )
        )
    if facts.rds_force_ssl is not None and facts.rds_force_ssl.strip().lower() in ("0", "off"):
        warnings.append(
            Finding(
                WarningCode.FORCE_SSL_OFF.value,
                f"rds.force_ssl is {facts.rds_force_ssl}: this connection is verified, but the "
                "server also accepts unencrypted connections from other clients. Set "
                "rds.force_ssl=1 in the DB cluster parameter group.",
            )
        )
    if insecure:
        verdict = Verdict.INSECURE
    elif not facts.ssl:
        verdict = Verdict.REFUSED
        errors.append(
            Finding(
                TLSNotInUseError.__name__,
                f"The server says this session is not encrypted ({facts.source}), although "
                "the client negotiated TLS: something between them terminates TLS.",
            )
        )
    else:
        verdict = Verdict.VERIFIED
    return report(
        client=client,
        server=facts,
        verdict=verdict,
        errors=tuple(errors),
        warnings=tuple(warnings),
    )


def _effective_refusal(
    connection: Any,
    client: ClientTLS,
    effective: Mapping[str, str],
    expected: Mapping[str, Any] | None,
) -> Finding | None:
    """A connection whose effective parameters are weaker than verify-full is not verified,
    whatever the handshake says: e.g. libpq writing the session keys to a file."""
    name = InsecureConfigurationError.__name__
    if effective.get("sslkeylogfile"):
        return Finding(
            name,
            f"libpq writes this connection's TLS session keys to {effective['sslkeylogfile']} "
            "(sslkeylogfile), so anyone who reads that file can decrypt the traffic.",
        )
    mode = effective.get("sslmode") or client.sslmode
    if client.in_use and mode and mode != "verify-full":
        return Finding(name, f"libpq used sslmode={mode}, not verify-full.")
    if expected is not None:
        differences = parameter_differences(connection, expected)
        if differences:
            shown = "; ".join(
                f"{k}: set {w or '(none)'}, used {g or '(none)'}"
                for k, (w, g) in differences.items()
            )
            return Finding(name, f"libpq used other parameters than aurora-ssl set ({shown}).")
    return None


def _problem_of(exc: BaseException, masked: Sequence[str]) -> tuple[Finding, Verdict]:
    translated: BaseException | None = exc if isinstance(exc, AuroraSSLError) else None
    if translated is None:
        from aurora_ssl.diagnostics.translate import translate_error

        translated = translate_error(exc)
    if translated is not None:
        # Our own errors carry the driver's exception as __cause__; a translation explains exc.
        cause = exc.__cause__ if translated is exc else exc
        return (
            Finding(
                type(translated).__name__,
                _mask(_message(translated), masked),
                _mask(_message(cause), masked) if cause is not None else None,
            ),
            Verdict.REFUSED,
        )
    return Finding(type(exc).__name__, _mask(_message(exc), masked)), Verdict.ERROR


def _message(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _mask(text: str, secrets: Sequence[str]) -> str:
    return mask_text(text, secrets)


def _port(port: int | str | None) -> int | None:
    if port is None or port == "":
        return None
    try:
        return int(port)
    except (TypeError, ValueError):
        return None


def reports_ok(reports: Iterable[ConnectionReport], *, fail_on_warning: bool = False) -> bool:
    """Exit status 0 is deserved: at least one report, and every one passed."""
    items = list(reports)
    return bool(items) and all(r.passed(fail_on_warning=fail_on_warning) for r in items)


def reports_to_dict(
    reports: Iterable[ConnectionReport], *, fail_on_warning: bool = False
) -> dict[str, Any]:
    """The JSON document: ``{"format": 1, "ok": bool, "connections": [report, ...]}``."""
    items = list(reports)
    return {
        "format": FORMAT_VERSION,
        "ok": reports_ok(items, fail_on_warning=fail_on_warning),
        "connections": [r.to_dict() for r in items],
    }


def reports_to_json(reports: Iterable[ConnectionReport], *, fail_on_warning: bool = False) -> str:
    """:func:`reports_to_dict` as indented JSON text."""
    return json.dumps(reports_to_dict(reports, fail_on_warning=fail_on_warning), indent=2)
