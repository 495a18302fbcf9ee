"""Text and shared JSON pieces for people and scripts: inspections and connection reports.

The data stays in the result types (``to_dict``); how it reads on a terminal is decided here,
one fact per line, so ``aurora-ssl inspect``, ``aurora-ssl check`` and ``manage.py
check_aurora_ssl`` look alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aurora_ssl._bundles import timestamp

if TYPE_CHECKING:
    from aurora_ssl.diagnostics.inspection import Inspection
    from aurora_ssl.diagnostics.report import ConnectionReport
    from aurora_ssl._trust import TrustSelection

__all__ = ["inspection_text", "report_detail_lines", "report_headline", "trust_block"]


def trust_block(trust: TrustSelection) -> dict[str, Any]:
    """The JSON ``"trust"`` object of inspections and reports (stable keys)."""
    return {
        "file": trust.path,
        "scope": trust.scope,
        "source": trust.source,
        "cas": list(trust.subjects),
    }


def _days_phrase(days: int) -> str:
    if days < 0:
        return f"expired {-days} day(s) ago"
    return f"{days} day(s) left"


def inspection_text(inspection: Inspection) -> str:
    """Headline, the leaf, the chain, the checks, the findings."""
    i = inspection
    leaf = i.leaf
    where = f"{i.host}:{i.port}"
    if i.address and i.address != i.host:
        where += f" ({i.address})"
    lines = [f"{where}: {i.verdict.value.upper()}"]
    lines.append(f"  tls:           {i.tls_version or '?'}, {i.cipher or '?'}")
    lines.append(f"  subject:       {leaf.subject}")
    lines.append(f"  names:         {', '.join(leaf.names) or '(none)'}")
    lines.append(f"  issuer:        {leaf.issuer}")
    lines.append(
        f"  valid:         {timestamp(leaf.not_before)} .. {timestamp(leaf.not_after)} "
        f"({_days_phrase(i.days_left)})"
    )
    lines.append(f"  key:           {leaf.key_type}, signed with {leaf.signature_algorithm}")
    lines.append(f"  sha256:        {leaf.sha256}")
    chain = " <- ".join(c.common_name or c.subject for c in i.certificates)
    complete = "" if i.chain_complete else " (leaf only: this Python cannot read the chain)"
    lines.append(f"  presented:     {chain}{complete}")
    trusted = f"yes, by {i.check.root}" if i.check.trusted else "NO"
    if i.ca_id:
        trusted += f" ({i.ca_id})"
    lines.append(f"  trusted:       {trusted}")
    lines.append(f"  name matches:  {'yes' if i.check.name_matches else 'NO'} ({i.server_name})")
    lines.append(f"  trust:         {i.trust.scope}, {len(i.trust.subjects)} CA(s)")
    lines.append(f"  trust file:    {i.trust.path}")
    lines.extend(f"  error:         {f.message}" for f in i.errors)
    lines.extend(f"  warning:       {f.message}" for f in i.warnings)
    return "\n".join(lines)


_HEADLINES = {
    "verified": "verified TLS (sslmode=verify-full)",
    "insecure": "NOT verified: INSECURE_LOCAL_DEV is on",
    "refused": "refused: no verified TLS connection",
    "error": "failed: no verified TLS connection",
}


def report_headline(report: ConnectionReport) -> str:
    """``"default: VERIFIED - verified TLS (sslmode=verify-full)"`` and the like."""
    detail = _HEADLINES[report.verdict.value]
    return f"{report.label}: {report.verdict.value.upper()} - {detail}"


def report_detail_lines(report: ConnectionReport) -> list[str]:
    """The body of a report's text, one fact per line, indented."""
    r = report
    lines: list[str] = []
    where = f"{r.host}:{r.port}" if r.port else r.host
    region = f", region {r.endpoint.region}" if r.endpoint.region else ""
    lines.append(f"  host:          {where} ({r.endpoint.kind.value}{region})")
    if r.trust is not None:
        lines.append(f"  trust:         {r.trust.scope}, {len(r.trust.subjects)} CA(s)")
        lines.append(f"  trust file:    {r.trust.path}")
        lines.extend(f"                 - {subject}" for subject in r.trust.subjects)
    elif not r.insecure_local_dev:
        lines.append("  trust:         (not selected)")
    if r.client is not None:
        c = r.client
        if c.in_use:
            known = [x for x in (c.protocol, c.cipher) if x]
            state = ", ".join(["TLS in use", *known])
        else:
            state = "NO TLS"
        lines.append(f"  client view:   {state} ({c.driver})")
    if r.effective:
        used = ", ".join(f"{k}={v or '(none)'}" for k, v in r.effective.items())
        lines.append(f"  libpq used:    {used}")
    if r.server is not None:
        s = r.server
        said = "ssl_is_used() = " if s.source == "sslinfo" else "pg_stat_ssl.ssl = "
        state = f"{said}{'true' if s.ssl else 'false'}"
        if s.ssl:
            state += f", {s.version or '?'}, {s.cipher or '?'}"
        installed = "yes" if s.sslinfo_installed else "no"
        lines.append(f"  server view:   {state} (sslinfo installed: {installed})")
        force = s.rds_force_ssl if s.rds_force_ssl is not None else "not set (not RDS?)"
        lines.append(f"  rds.force_ssl: {force}")
    for problem in r.errors:
        lines.append(f"  error:         {problem.message}")
        if problem.cause and problem.cause not in problem.message:
            lines.append(f"  driver said:   {problem.cause}")
    lines.extend(f"  warning:       {problem.message}" for problem in r.warnings)
    return lines
