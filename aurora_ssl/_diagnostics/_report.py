"""Connection reports: what was checked, what the client and the server say, and the verdict.

Shared by ``manage.py check_aurora_ssl`` (Django) and ``aurora-ssl check`` (CLI), so it knows
no framework: the caller passes a ``connect`` callable that returns a DB-API connection made
with its own policy (Django's backend, or :func:`aurora_ssl.policy.connection_params`), and
:func:`check_connection` turns whatever happens into a :class:`ConnectionReport`:

* the connection attempt (a refusal is caught, translated by
  :func:`~aurora_ssl._diagnostics.translate_error`, and reported, never raised); with
  ``inspect=True`` a refused certificate is explained by inspecting the server, on purpose;
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

from aurora_ssl._diagnostics._inspection import (
    Finding,
    Verdict,
    WarningCode,
    inspect_params,
    trust_block,
    trust_warnings,
)
from aurora_ssl._diagnostics._translation import login_refusal, target_of, translate_error
from aurora_ssl._endpoint import Endpoint, parse_endpoint
from aurora_ssl._options import Options as Settings
from aurora_ssl._readback import ClientTLS, client_tls, effective_params
from aurora_ssl._readback import differences as parameter_differences
from aurora_ssl._redaction import mask_text
from aurora_ssl._server_tls import ServerTLS, server_tls
from aurora_ssl._trust import TrustSelection
from aurora_ssl.errors import (
    AuroraSSLError,
    CertificateExpiredError,
    CredentialsError,
    HostnameMismatchError,
    InsecureConfigurationError,
    TLSNotInUseError,
    UntrustedCertificateError,
)

#: Version of the JSON document produced by :func:`reports_to_dict`.
FORMAT_VERSION = 1

#: dotted key -> (JSON type, meaning); ``errors[].code`` is a key of each list item. The one
#: description of the format: ``REPORT_KEYS`` is derived from it, the reference page
#: (docs/reference/json.md) is rendered from it, and a test compares it with real reports.
REPORT_FIELDS: dict[str, tuple[str, str]] = {
    "label": ("str", "what the report is about: the Django alias, or the masked DSN"),
    "host": ("str", "the host as configured"),
    "port": ("int \\| null", "the port"),
    "endpoint": ("object", "what the verified name is"),
    "endpoint.kind": (
        "str",
        "`cluster`, `cluster-ro`, `cluster-custom`, `instance`, `proxy`, `proxy-endpoint`, "
        "`shard-group` or `other`",
    ),
    "endpoint.region": ("str \\| null", "AWS region of an RDS name"),
    "endpoint.partition": ("str \\| null", "`aws`, `aws-cn` or `aws-us-gov`"),
    "trust": (
        "object \\| null",
        "the trust set (null with the insecure opt-out, or when it could not be built: see "
        "`errors`)",
    ),
    "trust.file": ("str", "the `sslrootcert` file libpq reads"),
    "trust.scope": ("str", "`region:<name>`, `proxy`, `full-bundle` or `user-file`"),
    "trust.source": ("str", "the bundle the roots were taken from"),
    "trust.cas": ("list of str", "common names of the trusted CAs"),
    "client": ("object \\| null", "the driver's view (null when no connection was made)"),
    "client.tls": ("bool", "TLS in use (`PQsslInUse`)"),
    "client.protocol": ("str \\| null", "e.g. `TLSv1.3` (null for psycopg 3)"),
    "client.cipher": ("str \\| null", "e.g. `TLS_AES_256_GCM_SHA384` (null for psycopg 3)"),
    "client.bits": ("int \\| null", "key bits of the cipher"),
    "client.driver": ("str", "`psycopg2`, `psycopg`, `asyncpg` or `pg8000`"),
    "effective": (
        "object \\| null",
        "what libpq really used, read back from the connection: `host`, `hostaddr`, `port`, "
        "`sslmode`, `sslrootcert`, `sslkeylogfile`, `gssencmode`, `ssl_min_protocol_version`, "
        "`sslsni`, `sslnegotiation` (null when no connection was made, or without libpq)",
    ),
    "server": (
        "object \\| null",
        "the server's view (null when not asked: no connection, or no TLS)",
    ),
    "server.ssl": ("bool", "`ssl_is_used()` (sslinfo) or `pg_stat_ssl.ssl`"),
    "server.version": ("str \\| null", "TLS version the server negotiated"),
    "server.cipher": ("str \\| null", "cipher the server negotiated"),
    "server.bits": ("int \\| null", "from `pg_stat_ssl`"),
    "server.sslinfo": ("bool", "the `sslinfo` extension is installed"),
    "server.source": ("str", "`sslinfo` or `pg_stat_ssl`"),
    "server.rds_force_ssl": (
        "str \\| null",
        "`current_setting('rds.force_ssl', true)`; null outside RDS",
    ),
    "verdict": (
        "str",
        "`verified`, `insecure` (opt-out in effect), `refused` (no verified TLS: certificate, "
        "name, no TLS, parameters other than the policy's, trust file), `login-refused` (TLS "
        "verified, then the server refused the login: SQLSTATE class 28, as told by a libpq "
        "with the fix for CVE-2024-10977), `no-credentials` (no password for the login: a "
        "password provider, IAM or Secrets Manager failed, before connecting) or `error` "
        "(another failure: network, timeout, a refused login whose TLS state is unknown)",
    ),
    "ok": ("bool", "`verdict` is `verified`"),
    "insecure_local_dev": ("bool", "the insecure opt-out is on"),
    "errors": ("list of objects", "why the connection is not verified"),
    "errors[].code": (
        "str",
        "the exception class (`UntrustedCertificateError`, `OperationalError`, ...)",
    ),
    "errors[].message": ("str", "what happened and what to do"),
    "errors[].cause": ("str \\| null", "the driver's original message behind a translated error"),
    "warnings": (
        "list of objects",
        "things to fix that do not fail the check (unless `--fail-on-warning`)",
    ),
    "warnings[].code": (
        "str",
        "`trust`, `insecure-local-dev`, `sslinfo-missing` or `rds-force-ssl-off`",
    ),
    "warnings[].message": ("str", "what to do"),
    "warnings[].cause": ("str \\| null", "as for errors"),
}

#: The top-level keys of a report, in output order.
REPORT_KEYS = tuple(key for key in REPORT_FIELDS if "." not in key and "[" not in key)

_HEADLINES = {
    Verdict.VERIFIED: "verified TLS (sslmode=verify-full)",
    Verdict.INSECURE: "NOT verified: INSECURE_LOCAL_DEV is on",
    Verdict.REFUSED: "refused: no verified TLS connection",
    Verdict.LOGIN_REFUSED: "TLS verified, login refused",
    Verdict.NO_CREDENTIALS: "no password for the login (a credentials problem, not TLS)",
    Verdict.ERROR: "failed",
}

_DEFAULT_SETTINGS = Settings()
#: Refusals that an inspection of the server explains better than libpq's words can.
_CERTIFICATE_REFUSALS = (UntrustedCertificateError, CertificateExpiredError, HostnameMismatchError)


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
    #: The end of the headline: the server's reason for a refused login (text only; the JSON
    #: form has it in ``errors``).
    summary: str = ""

    @property
    def ok(self) -> bool:
        """True only for a verified TLS connection."""
        return self.verdict is Verdict.VERIFIED

    def passed(self, *, fail_on_warning: bool = False) -> bool:
        """Whether this report should give exit status 0."""
        return self.ok and not (fail_on_warning and self.warnings)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data with the stable keys of :data:`REPORT_KEYS`."""
        endpoint, client, server = self.endpoint, self.client, self.server
        data: dict[str, Any] = {
            "label": self.label,
            "host": self.host,
            "port": self.port,
            "endpoint": {
                "kind": endpoint.kind.value,
                "region": endpoint.region,
                "partition": endpoint.partition,
            },
            "trust": None if self.trust is None else trust_block(self.trust),
            "client": None if client is None else _client_block(client),
            "effective": dict(self.effective) or None,
            "server": None if server is None else _server_block(server),
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
        detail = _HEADLINES[self.verdict]
        if self.summary:
            detail += f": {self.summary}"
        elif self.verdict is Verdict.ERROR:
            detail += ": the error below says why"
        return f"{self.label}: {self.verdict.value.upper()} - {detail}"

    def detail_lines(self) -> list[str]:
        """The body of :meth:`to_text`, one fact per line, indented."""
        where = f"{self.host}:{self.port}" if self.port else self.host
        region = f", region {self.endpoint.region}" if self.endpoint.region else ""
        lines = [f"  host:          {where} ({self.endpoint.kind.value}{region})"]
        if self.trust is not None:
            lines.append(f"  trust:         {self.trust.scope}, {len(self.trust.subjects)} CA(s)")
            lines.append(f"  trust file:    {self.trust.path}")
            lines.extend(f"                 - {subject}" for subject in self.trust.subjects)
        elif not self.insecure_local_dev:
            lines.append("  trust:         (not selected)")
        if self.client is not None:
            lines.append(f"  client view:   {_client_text(self.client)}")
        if self.effective:
            used = ", ".join(f"{k}={v or '(none)'}" for k, v in self.effective.items())
            lines.append(f"  libpq used:    {used}")
        if self.server is not None:
            lines.extend(_server_lines(self.server))
        for problem in self.errors:
            lines.append(f"  error:         {problem.message}")
            if problem.cause and problem.cause not in problem.message:
                lines.append(f"  driver said:   {problem.cause}")
        lines.extend(f"  warning:       {problem.message}" for problem in self.warnings)
        return lines

    def to_text(self) -> str:
        """A human-readable block: the headline, then one fact per line."""
        return "\n".join([self.headline, *self.detail_lines()])


def _client_block(client: ClientTLS) -> dict[str, Any]:
    return {
        "tls": client.in_use,
        "protocol": client.protocol,
        "cipher": client.cipher,
        "bits": client.bits,
        "driver": client.driver,
    }


def _server_block(server: ServerTLS) -> dict[str, Any]:
    return {
        "ssl": server.ssl,
        "version": server.version,
        "cipher": server.cipher,
        "bits": server.bits,
        "sslinfo": server.sslinfo_installed,
        "source": server.source,
        "rds_force_ssl": server.rds_force_ssl,
    }


def _client_text(client: ClientTLS) -> str:
    if not client.in_use:
        return f"NO TLS ({client.driver})"
    known = [x for x in (client.protocol, client.cipher) if x]
    return f"{', '.join(['TLS in use', *known])} ({client.driver})"


def _server_lines(server: ServerTLS) -> list[str]:
    said = "ssl_is_used() = " if server.source == "sslinfo" else "pg_stat_ssl.ssl = "
    state = f"{said}{'true' if server.ssl else 'false'}"
    if server.ssl:
        state += f", {server.version or '?'}, {server.cipher or '?'}"
    installed = "yes" if server.sslinfo_installed else "no"
    force = server.rds_force_ssl if server.rds_force_ssl is not None else "not set (not RDS?)"
    return [
        f"  server view:   {state} (sslinfo installed: {installed})",
        f"  rds.force_ssl: {force}",
    ]


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
    inspect: bool = False,
) -> ConnectionReport:
    """Connect once, look at TLS from both ends, and report; never raises for the target.

    Args:
        connect: returns a DB-API connection (psycopg2, psycopg 3) made with aurora-ssl's
            policy applied. Exceptions it raises become the report's errors.
        label: what the report is about (a Django alias, a redacted DSN).
        host: the host connected to (the one verified, unless ``settings.tls_server_name``).
        port: the port, for display.
        trust: the trust selection the connection uses (``None`` when it could not be made;
            then the connection attempt reports why).
        settings: the policy settings in effect (for the insecure opt-out).
        server: how to ask the server (default: :data:`status.SERVER_TLS_QUERY`); a caller
            that already holds the answer for this connection passes a function returning it.
        close: called with the connection at the end; omit it when the caller owns it (Django).
        secrets: strings (passwords) masked in every message, whatever their source.
        expected: returns the parameters the policy set for the connection ``connect`` made;
            every security-relevant one is read back and must match, or the verdict is
            ``refused``. The effective values are reported either way.
        inspect: when the server's certificate is refused, inspect the server (one more
            connection, short timeouts; no login) to say why: expired since when, which names
            it covers, a look-alike CA. For tools run on purpose, not for an error path.
    """
    masked = tuple(s for s in secrets if s)
    insecure = settings.insecure_local_dev
    report = _reporter(label, host, port, None if insecure else trust, settings)
    warnings = _setting_warnings(trust, insecure, masked)
    try:
        connection = connect()
    except Exception as exc:  # noqa: BLE001 - every failure becomes the report's verdict
        translated = _translated(exc, expected, inspect=inspect)
        problem, verdict, summary = _problem_of(exc, translated, masked)
        failed = {"verdict": verdict, "errors": (problem,), "summary": summary}
        return report(client=None, server=None, warnings=tuple(warnings), **failed)
    wanted = expected() if expected is not None else None
    try:
        return _connected(connection, report, server, insecure, warnings, masked, wanted)
    finally:
        if close is not None:
            close(connection)


def _reporter(
    label: str,
    host: str,
    port: int | str | None,
    trust: TrustSelection | None,
    settings: Settings,
) -> Callable[..., ConnectionReport]:
    """A :class:`ConnectionReport` with what is known before connecting filled in."""
    return functools.partial(
        ConnectionReport,
        label=label,
        host=host,
        port=_port(port),
        endpoint=parse_endpoint(settings.tls_server_name or host.split(",")[0].strip()),
        trust=trust,
        insecure_local_dev=settings.insecure_local_dev,
    )


def _setting_warnings(
    trust: TrustSelection | None, insecure: bool, masked: Sequence[str]
) -> list[Finding]:
    warnings: list[Finding] = []
    if trust is not None:
        warnings.extend(
            Finding(WarningCode.TRUST.value, _mask(w, masked)) for w in trust_warnings(trust)
        )
    if insecure:
        warnings.append(
            Finding(
                WarningCode.INSECURE_LOCAL_DEV.value,
                "insecure_local_dev is on: the server's identity is not verified and the "
                "connection may be plaintext. Remove it for anything but local development.",
            )
        )
    return warnings


def _connected(
    connection: Any,
    report: Callable[..., ConnectionReport],
    server: Callable[[Any], ServerTLS],
    insecure: bool,
    warnings: list[Finding],
    masked: Sequence[str],
    expected: Mapping[str, Any] | None = None,
) -> ConnectionReport:
    """The report on a connection that was made: the read-back, then the server's view."""
    client = client_tls(connection)
    client.protocol  # noqa: B018 - read now: psycopg's is read lazily, and the report outlives the connection
    effective = effective_params(connection)
    report = functools.partial(report, client=client, effective=effective)
    refusal = None if insecure else _client_refusal(connection, client, effective, expected)
    if refusal is not None:
        return report(
            server=None, verdict=Verdict.REFUSED, errors=(refusal,), warnings=tuple(warnings)
        )
    try:
        facts = server(connection)
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        problem, _, _ = _problem_of(exc, _translated(exc, None, inspect=False), masked)
        return report(
            server=None, verdict=Verdict.ERROR, errors=(problem,), warnings=tuple(warnings)
        )
    warnings.extend(_server_warnings(facts))
    errors: list[Finding] = []
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
    return report(server=facts, verdict=verdict, errors=tuple(errors), warnings=tuple(warnings))


def _client_refusal(
    connection: Any,
    client: ClientTLS,
    effective: Mapping[str, str],
    expected: Mapping[str, Any] | None,
) -> Finding | None:
    """Why the client's own view of the connection is not verified TLS, if it is not."""
    refusal = _effective_refusal(connection, client, effective, expected)
    if refusal is None and not client.in_use:
        return Finding(
            TLSNotInUseError.__name__,
            "The connection is not using TLS; no query was sent over it.",
        )
    return refusal


def _server_warnings(facts: ServerTLS) -> list[Finding]:
    warnings: list[Finding] = []
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
    return warnings


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


def _translated(
    exc: BaseException,
    expected: Callable[[], Mapping[str, Any] | None] | None,
    *,
    inspect: bool,
) -> AuroraSSLError | None:
    """Our error for a failed attempt; with ``inspect``, a refused certificate is explained
    again with what an inspection of the attempt's target shows."""
    translated = exc if isinstance(exc, AuroraSSLError) else translate_error(exc)
    cause = exc.__cause__ if translated is exc else exc
    if not inspect or cause is None or not isinstance(translated, _CERTIFICATE_REFUSALS):
        return translated
    try:
        params = expected() if expected is not None else None
    except Exception:  # noqa: BLE001 - the target is then read from the failure itself
        params = None
    target = target_of(cause, params)
    inspection = inspect_params(dataclasses.asdict(target))
    if inspection is None:
        return translated
    return translate_error(cause, params=params, inspection=inspection) or translated


def _problem_of(
    exc: BaseException, translated: AuroraSSLError | None, masked: Sequence[str]
) -> tuple[Finding, Verdict, str]:
    """The report's error, its verdict and the end of its headline."""
    if isinstance(translated, CredentialsError):
        # Its message is written to be shown; its cause (a provider's own exception) may
        # hold anything, a secret included.
        problem = Finding(type(translated).__name__, _mask(_message(translated), masked))
        return problem, Verdict.NO_CREDENTIALS, ""
    if translated is not None:
        cause = translated.__cause__  # the driver's exception, behind ours and translations
        problem = Finding(
            type(translated).__name__,
            _mask(_message(translated), masked),
            _mask(_message(cause), masked) if cause is not None else None,
        )
        return problem, Verdict.REFUSED, ""
    refusal = login_refusal(exc)
    if refusal is None:
        return Finding(type(exc).__name__, _mask(_message(exc), masked)), Verdict.ERROR, ""
    reason = _mask(refusal.reason, masked)
    problem = Finding(
        type(exc).__name__, _mask(refusal.message, masked), _mask(_message(exc), masked)
    )
    if refusal.tls_verified:
        return problem, Verdict.LOGIN_REFUSED, reason
    return problem, Verdict.ERROR, f"login refused ({reason}), TLS state unknown"


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
