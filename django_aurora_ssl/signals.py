"""Signals for metrics: one per new verified database connection.

Django's own ``connection_created`` says a connection exists; ``connection_verified`` says
aurora-ssl verified it and carries what it verified, so a receiver can count connections per
TLS version or trust scope without asking the server::

    from django.dispatch import receiver
    from django_aurora_ssl.signals import connection_verified

    @receiver(connection_verified)
    def count(sender, alias, tls_version, trust_scope, **kwargs):
        metrics.increment("db.tls", tags={"alias": alias, "tls": tls_version})

Arguments: ``sender`` the backend's ``DatabaseWrapper`` class; ``alias``; ``client`` the
:class:`aurora_ssl.ClientTLS` (protocol, cipher, bits, driver, sslmode); ``server`` the
:class:`aurora_ssl.ServerTLS` when the startup check asked the server on this
connection, else ``None``; ``tls_version`` the client's or else the server's answer (``None``
when neither is known: psycopg 3 does not expose it client-side); ``params``
the effective libpq parameters read back from the connection (never the password);
``trust_scope`` why these roots (``region:<name>``, ``proxy``, ``full-bundle``,
``user-file``); ``pooled`` whether the psycopg pool opened it. Sent with ``send_robust``: a
failing receiver is logged by Django (on ``django.dispatch``), it never refuses the connection.
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["connection_verified"]

connection_verified = Signal()
