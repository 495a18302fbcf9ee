"""GeoDjango through ``django_aurora_ssl.backends.postgis`` over verify-full, on both drivers.

A server of our own (PostGIS goes into its ``template1``, which the shared servers must not
get), with ``log_connections`` on so every connection Django made is checked by what the server
logged, not only by what the client says. The workload (tests/geoapp/workload.py) runs in a
fresh interpreter per driver: ``migrate`` in Django's test database makes the geometry columns,
then create, read back, ``distance_lte``, ``within``, ``contains`` and a ``Distance`` ordering.

GDAL, GEOS or PostGIS missing is a failure naming scripts/bootstrap.sh (CI installs them);
``AURORA_SSL_ALLOW_NO_POSTGIS=1`` makes it a skip (tests/geoapp/availability.py).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("django")

from aurora_ssl.errors import TestServerError, UntrustedCertificateError
from aurora_ssl.testing import AuroraLikeServer, TestPKI
from tests.fix_django import (
    configure_django,
    database_entry,
    demo_env,
    run_script,
    use_databases,
)
from tests.fix_servers import log_since
from tests.geoapp.availability import missing, require_geodjango

POSTGIS_ENGINE = "django_aurora_ssl.backends.postgis"
DRIVERS = [
    pytest.param(name, marks=pytest.mark.driver(module))  # tests/drivers.py
    for name, module in (("psycopg2", "psycopg2"), ("psycopg3", "psycopg"))
]
CLIENT_DRIVER = {"psycopg2": "psycopg2", "psycopg3": "psycopg"}
AUTHORIZED = re.compile(r"connection authorized: user=(\S+) database=(\S+)(.*)")


@pytest.fixture(scope="module")
def geodjango() -> None:
    """GDAL and GEOS load in this process (Django dlopens them)."""
    configure_django()
    require_geodjango()


@pytest.fixture(scope="module")
def postgis_server(pki: TestPKI, geodjango: None) -> Iterator[AuroraLikeServer]:
    """A good TLS server with PostGIS in the app database and in template1 (so Django's test
    databases have it, as after ``CREATE EXTENSION`` by the RDS master user), logging every
    connection."""
    server = AuroraLikeServer(pki=pki, settings={"log_connections": "on"}, postgis=True)
    try:
        server.start()
    except TestServerError as exc:  # no PostGIS for this server: the message names the package
        missing(str(exc))
    with server:
        yield server


def authorized_since(server: AuroraLikeServer, offset: int) -> list[tuple[str, str, str]]:
    """(user, database, rest of the line) of each connection the server authorized."""
    return [m.groups() for m in AUTHORIZED.finditer(log_since(server, offset))]


@pytest.mark.parametrize("driver", DRIVERS)
def test_geodjango_migrate_create_and_spatial_lookups_over_verify_full(
    postgis_server: AuroraLikeServer, driver: str
) -> None:
    test_db = f"test_geo_{driver}_{secrets.token_hex(3)}"
    offset = postgis_server.log_path.stat().st_size
    result = run_script(
        "tests/geoapp/workload.py", test_db, driver=driver, env=demo_env(postgis_server)
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert postgis_server.password not in result.stdout + result.stderr
    out: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])

    # The driver asked for, and Django's connection was made with it, verify-full, over TLS.
    assert out["driver_module"].split(".")[0] == CLIENT_DRIVER[driver]
    assert out["connections"], "Django opened no connection?"
    for seen in out["connections"]:
        assert seen == {"driver": CLIENT_DRIVER[driver], "in_use": True, "sslmode": "verify-full"}
    # The server's view of the connection that ran the workload.
    assert out["database"] == test_db
    ssl, version = out["server_tls"]
    assert ssl is True
    assert version in ("TLSv1.2", "TLSv1.3")
    # Every connection the server authorized for the app role meanwhile was TLS: the test
    # database's and the one Django uses to create and drop it.
    logged = [(db, rest) for user, db, rest in authorized_since(postgis_server, offset)]
    assert {db for db, _ in logged} >= {test_db, "postgres"}, logged
    for db, rest in logged:
        assert "SSL enabled (protocol=TLSv1." in rest, (db, rest)

    # migrate made real PostGIS columns in a test database cloned from template1.
    assert out["postgis"].startswith("3.")
    assert out["migrations"] == ["geoapp.0001_initial"]
    assert out["geometry_columns"] == [
        ["geoapp_place", "POINT", 4326],
        ["geoapp_region", "POLYGON", 4326],
    ]
    # Geometries round-trip through the driver's adapters, and the lookups are spatial.
    assert out["read_back"] == [-122.4443, 47.2529, 4326]
    assert out["within_50km"] == ["Seattle", "Tacoma"]
    assert out["in_washington"] == ["Seattle", "Tacoma"]
    assert out["regions_containing_portland"] == []
    assert [name for name, _ in out["by_distance_km"]] == ["Seattle", "Tacoma", "Portland"]
    km = dict(out["by_distance_km"])
    assert km["Seattle"] == 0
    assert 35 <= km["Tacoma"] <= 45
    assert 225 <= km["Portland"] <= 245


@pytest.mark.usefixtures("django_env", "geodjango")
def test_postgis_backend_refuses_an_impostor_before_any_query(
    interception_server: AuroraLikeServer,
) -> None:
    """Same names, look-alike CA: the client aborts the TLS handshake (the server logs the
    failed handshake), so no password and no query ever reach the impostor."""
    from django.db import connections

    offset = interception_server.log_path.stat().st_size
    entry = database_entry(interception_server, ENGINE=POSTGIS_ENGINE)
    with use_databases({"default": entry}):
        with pytest.raises(UntrustedCertificateError):
            connections["default"].ensure_connection()
        assert connections["default"].connection is None
    deadline = time.monotonic() + 5  # the backend logs after the client has given up
    while "could not accept SSL connection" not in (log := log_since(interception_server, offset)):
        assert time.monotonic() < deadline, f"the server saw no failed handshake:\n{log}"
        time.sleep(0.05)
    assert "connection authorized" not in log
    assert "statement:" not in log
