"""Django's PostGIS backend with verify-full on every connection (see ``..wrapper``)."""

from __future__ import annotations

from django.contrib.gis.db.backends.postgis.base import DatabaseWrapper as PostGISDatabaseWrapper

from django_aurora_ssl.backends.postgresql.base import DatabaseClient
from django_aurora_ssl.backends.wrapper import AuroraSSLWrapperMixin

__all__ = ["DatabaseWrapper"]


class DatabaseWrapper(AuroraSSLWrapperMixin, PostGISDatabaseWrapper):  # type: ignore[misc]
    """``django.contrib.gis.db.backends.postgis`` with verified TLS."""

    client_class = DatabaseClient
