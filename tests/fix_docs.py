"""The environment the documentation's examples run in (see docs/conftest.py, conftest.py).

Examples read their settings from the environment, as a deployment would: ``DATABASE_URL``
(the local server's URL, reached through its RDS-like name with ``hostaddr``), ``DB_HOST`` and
``DB_PASSWORD``, with ``PGHOSTADDR``/``PGPORT`` saying where that name lives (libpq reads them
as inputs), and the test PKI's bundle in ``AURORA_SSL_BUNDLE``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from aurora_ssl.testing import AuroraLikeServer, TestPKI

#: Pages whose examples need an optional package beyond psycopg 3: (module, why).
PAGE_NEEDS = {
    "failover.md": ("aws_advanced_python_wrapper", "AWS's wrapper (the [aws-wrapper] extra)"),
}


@pytest.fixture(scope="module")
def docs_env(
    request: pytest.FixtureRequest, tls_server: AuroraLikeServer, pki: TestPKI
) -> Iterator[dict[str, str]]:
    """The deployment-like environment for one page's examples."""
    from tests.conftest import clear_aurora_caches

    # The examples are written for psycopg 3 (DATABASE_URL, ``import psycopg``): a psycopg2
    # session of the support matrix skips them, saying so; so does a session without a
    # page's optional package.
    pytest.importorskip("psycopg", reason="the documentation's examples use psycopg 3")
    if request.path.name in PAGE_NEEDS:
        module, what = PAGE_NEEDS[request.path.name]
        pytest.importorskip(module, reason=f"{request.path.name}'s examples use {what}")

    mp = pytest.MonkeyPatch()
    env = {
        "DATABASE_URL": tls_server.url("postgresql+psycopg"),
        # Another name for the same server (a CNAME, a tunnel): localhost resolves here.
        "CNAME_URL": tls_server.url("postgresql+psycopg")
        .replace(f"@{tls_server.host}:", "@localhost:")
        .split("?")[0],
        "DB_HOST": tls_server.host,
        "DB_PASSWORD": tls_server.password,
        "PGHOSTADDR": tls_server.hostaddr,
        "PGPORT": str(tls_server.port),
        "AURORA_SSL_BUNDLE": str(pki.bundle_path),
    }
    for key, value in env.items():
        mp.setenv(key, value)
    clear_aurora_caches()
    yield env
    mp.undo()
    clear_aurora_caches()


def run_check_aurora_ssl(databases: Mapping[str, Mapping[str, Any]], *args: str) -> int:
    """``manage.py check_aurora_ssl ARGS`` in-process with these DATABASES; the exit status."""
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from tests.fix_django import use_databases

    with use_databases(databases):
        try:
            call_command("check_aurora_ssl", *args, stdout=io.StringIO(), stderr=io.StringIO())
        except CommandError as exc:
            return int(exc.returncode)
    return 0
