"""Diagnostics: why a connection is (or is not) verified, explained to an operator.

Diagnostics explain; they do not probe. The connect path imports this package only once a
connection has failed, and :func:`~._translation.translate_error` then explains the failure from
what it carries (libpq's words, the attempt's parameters): it never opens a connection of its
own. Looking at the server is a separate step that callers take on purpose:
:func:`~._inspection.inspect_server` (``aurora-ssl inspect``), or
:func:`~._report.check_connection` with ``inspect=True`` (``aurora-ssl check``, ``manage.py
check_aurora_ssl``), and :func:`~._audit.audit_sessions` (``aurora-ssl audit``) asks a server
about every session, not only ours. The core never imports this package; callers import the
module they need. Five private modules, from the wire up; each imports only the ones above it:

================  ==============================================================================
``_wire``         PostgreSQL's SSLRequest, the TLS handshake, the presented chain, and OpenSSL's
                  (libpq's) verdict on it
``_inspection``   :func:`inspect_server`: a certificate's facts, the chain checked property by
                  property, the verdicts and the remediation texts they share
``_translation``  :func:`translate_error`: what a driver's exception says, explained
``_report``       :func:`check_connection`: connect once, report both ends' view, as text or JSON
``_audit``        :func:`audit_sessions`: every session of a server or Aurora cluster, TLS or not
================  ==============================================================================
"""
