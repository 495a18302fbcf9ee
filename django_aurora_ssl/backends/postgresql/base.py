"""Django's PostgreSQL backend with verify-full on every connection (see ``..wrapper``)."""

from __future__ import annotations

from django.db.backends.postgresql.base import DatabaseWrapper as PostgreSQLDatabaseWrapper
from django.db.backends.postgresql.client import DatabaseClient as PostgreSQLDatabaseClient

from django_aurora_ssl.backends.wrapper import AuroraSSLClientMixin, AuroraSSLWrapperMixin

__all__ = ["DatabaseClient", "DatabaseWrapper"]


class DatabaseClient(AuroraSSLClientMixin, PostgreSQLDatabaseClient):  # type: ignore[misc]
    """``manage.py dbshell`` with ``PGSSLMODE=verify-full`` and the selected roots."""


class DatabaseWrapper(AuroraSSLWrapperMixin, PostgreSQLDatabaseWrapper):  # type: ignore[misc]
    """``django.db.backends.postgresql`` with verified TLS; everything else is Django's."""

    client_class = DatabaseClient
