"""Connection reports: what was checked, what the client and the server say, and the verdict.

Shared by ``manage.py check_aurora_ssl`` (Django) and ``aurora-ssl check`` (CLI), so it knows
no framework: the caller passes a ``connect`` callable that returns a DB-API connection made
with its own policy (Django's backend, or :func:`aurora_ssl.connection_params`), and
:func:`check_connection` turns whatever happens into a :class:`ConnectionReport`:

* the connection attempt (a refusal is caught, translated by
  :func:`~aurora_ssl._diagnostics._translation.translate_error`, and reported, never raised);
  with ``inspect=True`` a refused certificate is explained by inspecting the server, on purpose;
* the client's view (:func:`aurora_ssl.client_tls`, no round trip) and what libpq really used,
  checked as :func:`aurora_ssl.require_tls` checks it;
* the server's view (:func:`aurora_ssl.server_tls`, one round trip), only over TLS.

The JSON form (:meth:`ConnectionReport.to_dict`, :func:`reports_to_json`) has stable keys,
described key by key in docs/reference/json.md (a test compares that table with real
reports); adding a key is a minor change, renaming or removing one is a breaking change.
Nothing in a report contains a password: messages are built from redacted text, and
``secrets`` given by the caller are masked too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import aurora_ssl.errors as errors
from aurora_ssl._diagnostics._inspection import (
    Finding,
    Verdict,
    WarningCode,
    attributes,
    inspect_server,
    trust_block,
    trust_warnings,
)
from aurora_ssl._diagnostics._translation import (
    CERTIFICATE_REFUSALS,
    login_refusal,
    target_of,
    translate_error,
)
from aurora_ssl._endpoint import Endpoint, parse_endpoint
from aurora_ssl._options import Options
from aurora_ssl._policy import Policy
from aurora_ssl._readback import ClientTLS, client_tls, effective_params, require_tls
from aurora_ssl._redaction import mask_text
from aurora_ssl._server_tls import ServerTLS, server_tls
from aurora_ssl._trust import TrustSelection

#: The top-level keys of a report, in output order (docs/reference/json.md describes each).
REPORT_KEYS = (
    *("label", "host", "port", "endpoint", "trust", "client", "effective", "server"),
    *("verdict", "ok", "insecure_local_dev", "errors", "warnings"),
)

_HEADLINES = {
    Verdict.VERIFIED: "verified TLS (sslmode=verify-full)",
    Verdict.INSECURE: "NOT verified: INSECURE_LOCAL_DEV is on",
    Verdict.REFUSED: "refused: no verified TLS connection",
    Verdict.LOGIN_REFUSED: "TLS verified, login refused",
    Verdict.NO_CREDENTIALS: "no password for the login (a credentials problem, not TLS)",
    Verdict.ERROR: "failed",
}
_INSECURE = Finding(
    WarningCode.INSECURE_LOCAL_DEV.value,
    "insecure_local_dev is on: the server's identity is not verified and the connection may "
    "be plaintext. Remove it for anything but local development.",
)
_SSLINFO_MISSING = Finding(
    WarningCode.SSLINFO_MISSING.value,
    "The sslinfo extension is not installed, so the server's view comes from pg_stat_ssl. Run "
    "`CREATE EXTENSION sslinfo;` in this database (on RDS this needs the rds_superuser role) "
    "to get ssl_is_used(), ssl_version() and ssl_cipher().",
)


@dataclasses.dataclass(frozen=True)
class ConnectionReport:
    """Everything one check found out about one connection target."""

    label: str
    host: str
    port: int | None
    endpoint: Endpoint
    trust: TrustSelection | None
    verdict: Verdict
    client: ClientTLS | None = None
    server: ServerTLS | None = None
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
        server = "ssl", "version", "cipher", "bits", "source", "rds_force_ssl"
        return {
            "label": self.label,
            "host": self.host,
            "port": self.port,
            "endpoint": attributes(self.endpoint, "kind", "region", "partition"),
            "trust": trust_block(self.trust),
            "client": attributes(self.client, "protocol", "cipher", "bits", "driver", tls="in_use"),
            "effective": dict(self.effective) or None,
            "server": attributes(self.server, *server, sslinfo="sslinfo_installed"),
            "verdict": self.verdict.value,
            "ok": self.ok,
            "insecure_local_dev": self.insecure_local_dev,
            "errors": [dataclasses.asdict(p) for p in self.errors],
            "warnings": [dataclasses.asdict(p) for p in self.warnings],
        }

    def to_text(self) -> str:
        """A human-readable block: the headline (``"default: VERIFIED - verified TLS
        (sslmode=verify-full)"`` and the like), then one fact per line, indented."""
        detail = _HEADLINES[self.verdict]
        if self.summary:
            detail += f": {self.summary}"
        elif self.verdict is Verdict.ERROR:
            detail += ": the error below says why"
        where = f"{self.host}:{self.port}" if self.port else self.host
        region = f", region {self.endpoint.region}" if self.endpoint.region else ""
        lines = [
            f"{self.label}: {self.verdict.value.upper()} - {detail}",
            f"  host:          {where} ({self.endpoint.kind.value}{region})",
        ]
        if self.trust is not None:
            subjects = self.trust.subjects
            lines.append(f"  trust:         {self.trust.scope}, {len(subjects)} CA(s)")
            lines.append(f"  trust file:    {self.trust.path}")
            lines.extend(f"                 - {subject}" for subject in subjects)
        elif not self.insecure_local_dev:
            lines.append("  trust:         (not selected)")
        if self.client is not None:
            known = [x for x in (self.client.protocol, self.client.cipher) if x]
            state = ", ".join(["TLS in use", *known]) if self.client.in_use else "NO TLS"
            lines.append(f"  client view:   {state} ({self.client.driver})")
        if self.effective:
            used = ", ".join(f"{k}={v or '(none)'}" for k, v in self.effective.items())
            lines.append(f"  libpq used:    {used}")
        server = self.server
        if server is not None:
            said = "ssl_is_used()" if server.source == "sslinfo" else "pg_stat_ssl.ssl"
            state = f"{said} = {'true' if server.ssl else 'false'}"
            state += f", {server.version or '?'}, {server.cipher or '?'}" if server.ssl else ""
            installed = "yes" if server.sslinfo_installed else "no"
            lines.append(f"  server view:   {state} (sslinfo installed: {installed})")
            lines.append(f"  rds.force_ssl: {server.rds_force_ssl or 'not set (not RDS?)'}")
        for problem in self.errors:
            lines.append(f"  error:         {problem.message}")
            if problem.cause and problem.cause not in problem.message:
                lines.append(f"  driver said:   {problem.cause}")
        lines.extend(f"  warning:       {problem.message}" for problem in self.warnings)
        return "\n".join(lines)


def report_trust(settings: Options, host: str, sslrootcert: str | None) -> TrustSelection | None:
    """The roots a report on ``host`` shows: ``None`` with the opt-out, or when none could be
    selected (the connection attempt then reports why)."""
    if not settings.insecure_local_dev:
        with contextlib.suppress(errors.AuroraSSLError):
            return Policy(settings).trust(settings.tls_server_name or host, sslrootcert)
    return None


def check_connection(
    connect: Callable[[], Any],
    *,
    label: str,
    host: str,
    port: int | str | None = None,
    trust: TrustSelection | None = None,
    settings: Options | None = None,
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
        settings: the options in effect (for the insecure opt-out and ``tls_server_name``).
        server: how to ask the server (default: :func:`aurora_ssl.server_tls`); a caller
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
    settings = settings or Options()
    masked = tuple(s for s in secrets if s)
    insecure = settings.insecure_local_dev
    notes = trust_warnings(trust) if trust is not None else ()
    warnings = [Finding(WarningCode.TRUST.value, mask_text(w, masked)) for w in notes]
    warnings += [_INSECURE] if insecure else []
    report = functools.partial(
        ConnectionReport,
        label=label,
        host=host,
        port=int(str(port)) if str(port).strip().isdigit() else None,
        endpoint=parse_endpoint(settings.tls_server_name or host.split(",")[0].strip()),
        trust=None if insecure else trust,
        insecure_local_dev=insecure,
    )
    try:
        connection = connect()
    except Exception as exc:  # noqa: BLE001 - every failure becomes the report's verdict
        explained = _translated(exc, expected, trust if inspect else None)
        verdict, problem, summary = _failure(exc, masked, explained)
        return report(verdict=verdict, errors=(problem,), warnings=tuple(warnings), summary=summary)
    try:
        wanted = None if insecure or expected is None else expected()
        found = _connected(connection, server, wanted, insecure, masked)
    finally:
        if close is not None:
            close(connection)
    warnings += found.pop("warnings", ())
    return report(**found, warnings=tuple(warnings))


def _connected(
    connection: Any,
    server: Callable[[Any], ServerTLS],
    expected: Mapping[str, Any] | None,
    insecure: bool,
    masked: Sequence[str],
) -> dict[str, Any]:
    """The report's fields for a connection that was made: the read-back, then the server's
    view (only over TLS), then the verdict.

    The client's own view refuses what is not verified TLS (no TLS, or effective parameters
    weaker than verify-full, whatever the handshake says) before the server is asked.
    """
    client, effective = client_tls(connection), effective_params(connection)
    client.protocol  # noqa: B018 - read now: psycopg's is read lazily, and the report outlives the connection
    found: dict[str, Any] = {"client": client, "effective": effective}
    refusal = None
    if not insecure and effective.get("sslkeylogfile"):
        refusal = Finding(
            errors.InsecureConfigurationError.__name__,
            f"libpq writes this connection's TLS session keys to {effective['sslkeylogfile']} "
            "(sslkeylogfile), so anyone who reads that file can decrypt the traffic.",
        )
    elif not insecure:
        try:
            require_tls(connection, expected=expected, close=False)
        except (errors.TLSNotInUseError, errors.InsecureConfigurationError) as exc:
            refusal = Finding(type(exc).__name__, str(exc))
    if refusal is not None:
        return {**found, "verdict": Verdict.REFUSED, "errors": (refusal,)}
    try:
        facts = server(connection)
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        problem = _failure(exc, masked, _translated(exc))[1]
        return {**found, "verdict": Verdict.ERROR, "errors": (problem,)}
    warnings = [] if facts.sslinfo_installed else [_SSLINFO_MISSING]
    if (facts.rds_force_ssl or "").strip().lower() in ("0", "off"):
        warnings.append(
            Finding(
                WarningCode.FORCE_SSL_OFF.value,
                f"rds.force_ssl is {facts.rds_force_ssl}: this connection is verified, but the "
                "server also accepts unencrypted connections from other clients. Set "
                "rds.force_ssl=1 in the DB cluster parameter group.",
            )
        )
    found.update(server=facts, warnings=warnings, verdict=Verdict.VERIFIED)
    if insecure:
        return {**found, "verdict": Verdict.INSECURE}
    if facts.ssl:
        return found
    terminated = Finding(
        errors.TLSNotInUseError.__name__,
        f"The server says this session is not encrypted ({facts.source}), although the client "
        "negotiated TLS: something between them terminates TLS. Connect to the database "
        "endpoint itself.",
    )
    return {**found, "verdict": Verdict.REFUSED, "errors": (terminated,)}


def _translated(
    exc: BaseException,
    expected: Callable[[], Mapping[str, Any] | None] | None = None,
    trust: TrustSelection | None = None,
) -> errors.AuroraSSLError | None:
    """Our error for a failed attempt. Given the ``trust`` to inspect with, a refused
    certificate is explained with what an inspection of the attempt's target shows (one more
    connection, 3 s per network step, no login)."""
    translated = exc if isinstance(exc, errors.AuroraSSLError) else translate_error(exc)
    if trust is None or not isinstance(translated, CERTIFICATE_REFUSALS):
        return translated
    cause = translated.__cause__ or exc  # the driver's exception
    params = expected() if expected is not None else None
    target = target_of(cause, params)
    name = target.host or target.hostaddr
    with contextlib.suppress(errors.AuroraSSLError, OSError, ValueError):
        if name is not None:  # else nothing to inspect (None would be this machine)
            port, hostaddr = target.port or 5432, target.hostaddr
            inspection = inspect_server(name, port, hostaddr=hostaddr, trust=trust, timeout=3.0)
            return translate_error(cause, params=params, inspection=inspection) or translated
    return translated


def _failure(
    exc: BaseException, masked: Sequence[str], translated: errors.AuroraSSLError | None
) -> tuple[Verdict, Finding, str]:
    """A failed attempt's verdict, error and end of its headline."""
    name = type(translated or exc).__name__
    if isinstance(translated, errors.CredentialsError):
        # Its message is written to be shown; its cause (a provider's own exception) may
        # hold anything, a secret included.
        return Verdict.NO_CREDENTIALS, Finding(name, _message(translated, masked)), ""
    if translated is not None:
        cause = translated.__cause__  # the driver's exception, behind ours and translations
        said = _message(cause, masked) if cause is not None else None
        return Verdict.REFUSED, Finding(name, _message(translated, masked), said), ""
    refusal = login_refusal(exc)
    if refusal is None:
        return Verdict.ERROR, Finding(name, _message(exc, masked)), ""
    reason = mask_text(refusal.reason, masked)
    problem = Finding(name, mask_text(refusal.message, masked), _message(exc, masked))
    if refusal.tls_verified:
        return Verdict.LOGIN_REFUSED, problem, reason
    return Verdict.ERROR, problem, f"login refused ({reason}), TLS state unknown"


def _message(exc: BaseException, masked: Sequence[str]) -> str:
    return mask_text(" ".join(str(exc).split()) or type(exc).__name__, masked)


def reports_to_json(reports: Iterable[ConnectionReport], *, fail_on_warning: bool = False) -> str:
    """The JSON document: ``{"format": 1, "ok": bool, "connections": [report, ...]}``."""
    items = list(reports)
    ok = bool(items) and all(r.passed(fail_on_warning=fail_on_warning) for r in items)
    connections = [r.to_dict() for r in items]
    return json.dumps({"format": 1, "ok": ok, "connections": connections}, indent=2)
