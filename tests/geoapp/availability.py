"""Whether GeoDjango and PostGIS are usable here, and what a test does when they are not.

CI installs both (scripts/bootstrap.sh), so a missing piece is a failure that names the
bootstrap, never a quiet skip; ``AURORA_SSL_ALLOW_NO_POSTGIS=1`` turns it into a skip for
machines where nobody can install system packages.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

from aurora_ssl._options import parse_bool

ALLOW_ENV = "AURORA_SSL_ALLOW_NO_POSTGIS"
HINT = (
    "scripts/bootstrap.sh installs them (as root, via apt: the GDAL runtime library and "
    "postgresql-<major>-postgis-3 for the server's major version); run `make test` or "
    "`bash scripts/test.sh`, or install them yourself. On a machine without root, set "
    f"{ALLOW_ENV}=1 to skip the PostGIS tests instead."
)


def geodjango_problem() -> str | None:
    """Why GeoDjango cannot load GDAL or GEOS in this process, or None when it can.

    Django dlopens both on first use; Django's settings must be configured first.
    """
    from django.core.exceptions import ImproperlyConfigured

    try:
        from django.contrib.gis.gdal import gdal_full_version
        from django.contrib.gis.geos import geos_version

        gdal_full_version()
        geos_version()
    except (ImproperlyConfigured, OSError, ImportError) as exc:
        return f"GeoDjango cannot load GDAL/GEOS: {exc}"
    return None


def missing(problem: str) -> NoReturn:
    """Fail (or, when allowed, skip) with ``problem`` and how to fix it."""
    if parse_bool(os.environ.get(ALLOW_ENV, "0"), ALLOW_ENV):
        pytest.skip(f"{problem} ({ALLOW_ENV} is set)")
    pytest.fail(f"{problem}. {HINT}", pytrace=False)


def require_geodjango() -> None:
    """Fail or skip (see :func:`missing`) unless GDAL and GEOS load."""
    problem = geodjango_problem()
    if problem is not None:
        missing(problem)
