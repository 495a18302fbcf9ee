"""Django's PostgreSQL backend with verify-full on every connection (see ``.._connect``)."""

from __future__ import annotations

from django.db.backends.postgresql.base import DatabaseWrapper as PostgreSQLDatabaseWrapper
from django.db.backends.postgresql.client import DatabaseClient as PostgreSQLDatabaseClient

from django_aurora_ssl.backends._client import AuroraSSLClientMixin
from django_aurora_ssl.backends._connect import AuroraSSLWrapperMixin


class DatabaseClient(AuroraSSLClientMixin, PostgreSQLDatabaseClient):  # type: ignore[misc]
    """``manage.py dbshell``: psql gets the checked parameters as one connection string."""


class DatabaseWrapper(AuroraSSLWrapperMixin, PostgreSQLDatabaseWrapper):  # type: ignore[misc]
    """``django.db.backends.postgresql`` with verified TLS; everything else is Django's."""

    client_class = DatabaseClient
