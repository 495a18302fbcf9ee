"""The Django backends without a server: the PostGIS backend is the same wrapper over GeoDjango's.

The backend against real PostgreSQL servers over real TLS: tests/integration/django/test_backend.py.
"""

from __future__ import annotations

import pytest

pytest.importorskip("django")

pytestmark = pytest.mark.usefixtures("django_env")


def test_postgis_backend_is_the_same_wrapper_over_postgis() -> None:
    from django.core.exceptions import ImproperlyConfigured

    try:
        from django_aurora_ssl.backends.postgis.base import DatabaseWrapper
    except (ImproperlyConfigured, OSError) as exc:  # GDAL missing: the bootstrap installs it
        from tests.geoapp.availability import missing

        missing(f"GeoDjango is not usable here: {exc}")
    from django.contrib.gis.db.backends.postgis.base import DatabaseWrapper as PostGIS

    from django_aurora_ssl.backends._connect import AuroraSSLWrapperMixin

    assert DatabaseWrapper.__mro__[1:3] == (AuroraSSLWrapperMixin, PostGIS)
