"""Django's PostGIS backend with verify-full on every connection (see ``.._connect``)."""

from __future__ import annotations

from django.contrib.gis.db.backends.postgis.base import DatabaseWrapper as PostGISDatabaseWrapper

from django_aurora_ssl.backends._connect import AuroraSSLWrapperMixin
from django_aurora_ssl.backends.postgresql.base import DatabaseClient


class DatabaseWrapper(AuroraSSLWrapperMixin, PostGISDatabaseWrapper):  # type: ignore[misc]
    """``django.contrib.gis.db.backends.postgis`` with verified TLS."""

    client_class = DatabaseClient
