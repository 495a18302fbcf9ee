"""A GeoDjango workload over ``django_aurora_ssl.backends.postgis``, run in a fresh interpreter.

``python tests/geoapp/workload.py TEST_DB_NAME`` with the ``AURORA_SSL_DEMO_*`` variables
(tests.fix_django.demo_env) naming the server. It creates Django's test database (``migrate``
makes the geometry columns), writes places and a region, queries them with spatial lookups,
asks the server about the TLS of the very connection Django used, drops the test database, and
prints one JSON object for the test to check. A fresh process, because the driver is the one
left importable (tests.fix_django.run_script hides the other), as a user with one driver has it.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

TLS_ROW = "SELECT ssl, version FROM pg_catalog.pg_stat_ssl WHERE pid = pg_backend_pid()"
# Seattle, Tacoma (about 40 km south) and Portland (about 234 km south), longitude first.
PLACES = {
    "Seattle": (-122.3321, 47.6062),
    "Tacoma": (-122.4443, 47.2529),
    "Portland": (-122.6765, 45.5231),
}
# A box around Washington State: holds Seattle and Tacoma, not Portland (south of 45.55).
WASHINGTON = ((-124.8, 45.55), (-116.9, 45.55), (-116.9, 49.0), (-124.8, 49.0), (-124.8, 45.55))


def configure(test_name: str) -> None:
    import django
    from django.conf import settings

    env = os.environ
    settings.configure(
        INSTALLED_APPS=["django.contrib.gis", "django_aurora_ssl", "tests.geoapp"],
        DATABASES={
            "default": {
                "ENGINE": "django_aurora_ssl.backends.postgis",
                "HOST": env["AURORA_SSL_DEMO_HOST"],
                "PORT": env["AURORA_SSL_DEMO_PORT"],
                "NAME": env["AURORA_SSL_DEMO_DBNAME"],
                "USER": env["AURORA_SSL_DEMO_USER"],
                "PASSWORD": env["AURORA_SSL_DEMO_PASSWORD"],
                "OPTIONS": {"hostaddr": env["AURORA_SSL_DEMO_HOSTADDR"], "connect_timeout": 5},
                "AURORA_SSL": {"BUNDLE": env["AURORA_SSL_DEMO_BUNDLE"]},
                "TEST": {"NAME": test_name},
            }
        },
        USE_TZ=True,
        SECRET_KEY="aurora-ssl-geoapp",
    )
    django.setup()


def spatial_workload() -> dict[str, Any]:
    """Write, read back and query geometries; every value comes from the database."""
    from django.contrib.gis.db.models.functions import Distance
    from django.contrib.gis.geos import Point, Polygon
    from django.contrib.gis.measure import D

    from tests.geoapp.models import Place, Region

    for name, (lon, lat) in PLACES.items():
        Place.objects.create(name=name, location=Point(lon, lat, srid=4326))
    Region.objects.create(name="Washington", area=Polygon(WASHINGTON, srid=4326))
    seattle = Point(*PLACES["Seattle"], srid=4326)
    tacoma = Place.objects.get(name="Tacoma")
    by_distance = Place.objects.annotate(d=Distance("location", seattle)).order_by("d")
    return {
        "read_back": [tacoma.location.x, tacoma.location.y, tacoma.location.srid],
        "within_50km": sorted(
            Place.objects.filter(location__distance_lte=(seattle, D(km=50))).values_list(
                "name", flat=True
            )
        ),
        "in_washington": sorted(
            Place.objects.filter(
                location__within=Region.objects.get(name="Washington").area
            ).values_list("name", flat=True)
        ),
        "regions_containing_portland": list(
            Region.objects.filter(area__contains=Point(*PLACES["Portland"], srid=4326)).values_list(
                "name", flat=True
            )
        ),
        "by_distance_km": [(p.name, round(p.d.km)) for p in by_distance],
    }


def main(argv: list[str]) -> int:
    (test_name,) = argv
    configure(test_name)
    from django.db import connection
    from django.db.backends.signals import connection_created
    from django.db.migrations.recorder import MigrationRecorder

    from aurora_ssl._readback import client_tls

    opened: list[dict[str, Any]] = []

    def record(sender: Any, connection: Any, **kwargs: Any) -> None:
        tls = client_tls(connection.connection)
        opened.append({"driver": tls.driver, "in_use": tls.in_use, "sslmode": tls.sslmode})

    connection_created.connect(record, weak=False)
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        with connection.cursor() as cursor:
            cursor.execute(TLS_ROW)
            ssl, version = cursor.fetchone()
            cursor.execute(
                "SELECT f_table_name, type, srid FROM geometry_columns ORDER BY f_table_name"
            )
            columns = [list(row) for row in cursor.fetchall()]
        result = {
            "database": connection.settings_dict["NAME"],
            "driver_module": type(connection.connection).__module__,
            "postgis": connection.ops.postgis_lib_version(),
            "migrations": sorted(
                f"{app}.{name}"
                for app, name in MigrationRecorder(connection).applied_migrations()
                if app == "geoapp"
            ),
            "geometry_columns": columns,
            "server_tls": [ssl, version],
            **spatial_workload(),
        }
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    result["connections"] = opened
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
