"""Connect one Django alias in a fresh interpreter and print what happened, as JSON.

Run by ``tests/integration/django/test_policy.py`` through ``fix_django.run_script`` with one driver
hidden, so the psycopg2 path of the backend is exercised too (in-process Django prefers
psycopg 3). The DATABASES entry comes from ``AURORA_SSL_TEST_DATABASE`` (JSON).
"""

from __future__ import annotations

import json
import os


def main() -> None:
    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["django_aurora_ssl"],
        DATABASES={"default": json.loads(os.environ["AURORA_SSL_TEST_DATABASE"])},
        USE_TZ=True,
    )
    django.setup()
    from django.db import connections

    wrapper = connections["default"]
    result: dict[str, object] = {"driver": wrapper.Database.__name__}
    try:
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT ssl FROM pg_catalog.pg_stat_ssl WHERE pid = pg_backend_pid()")
            result["ssl"] = cursor.fetchone()[0]
    except Exception as exc:  # noqa: BLE001 - the outcome is what the test reads
        result["error"] = type(exc).__name__
        result["message"] = str(exc)
    result["connected"] = wrapper.connection is not None
    print(json.dumps(result))


if __name__ == "__main__":
    main()
