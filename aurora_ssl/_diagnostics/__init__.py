"""Diagnostics: why a connection is (or is not) verified, explained to an operator.

Diagnostics explain; they do not probe. The connect path imports this package only once a
connection has failed, and :func:`translate_error` then explains the failure from what it
carries (libpq's words, the attempt's parameters): it never opens a connection of its own.
Looking at the server is a separate step that callers take on purpose: :func:`inspect_server`
(``aurora-ssl inspect``), or :func:`check_connection` with ``inspect=True`` (``aurora-ssl
check``, ``manage.py check_aurora_ssl``), and :func:`audit_sessions` (``aurora-ssl audit``) asks
a server about every session, not only ours. The core never imports this package. Five private
modules, from the wire up; each imports only the ones above it:

================  ==============================================================================
``_wire``         PostgreSQL's SSLRequest, the TLS handshake, the presented chain, and OpenSSL's
                  (libpq's) verdict on it
``_inspection``   :func:`inspect_server`: a certificate's facts, the chain checked property by
                  property, the verdicts and every remediation text
``_translation``  :func:`translate_error`: what a driver's exception says, explained
``_report``       :func:`check_connection`: connect once, report both ends' view, as text or JSON
``_audit``        :func:`audit_sessions`: every session of a server or Aurora cluster, TLS or not
================  ==============================================================================
"""

from aurora_ssl._diagnostics._audit import Audit, Instance, Session, audit_sessions
from aurora_ssl._diagnostics._inspection import (
    Finding,
    Inspection,
    Verdict,
    WarningCode,
    inspect_server,
)
from aurora_ssl._diagnostics._report import (
    REPORT_FIELDS,
    REPORT_KEYS,
    ConnectionReport,
    check_connection,
    reports_ok,
    reports_to_dict,
    reports_to_json,
)
from aurora_ssl._diagnostics._translation import (
    TEST_REGION,
    TEST_ROOT_CN,
    is_test_ca,
    missing_test_bundle_hint,
    scrub,
    translate_error,
)
from aurora_ssl._diagnostics._wire import split_host_port

__all__ = [
    "REPORT_FIELDS",
    "REPORT_KEYS",
    "TEST_REGION",
    "TEST_ROOT_CN",
    "Audit",
    "ConnectionReport",
    "Finding",
    "Inspection",
    "Instance",
    "Session",
    "Verdict",
    "WarningCode",
    "audit_sessions",
    "check_connection",
    "inspect_server",
    "is_test_ca",
    "missing_test_bundle_hint",
    "reports_ok",
    "reports_to_dict",
    "reports_to_json",
    "scrub",
    "split_host_port",
    "translate_error",
]
