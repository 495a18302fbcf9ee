"""The same query as the Django example, through ``aurora_ssl.create_engine``.

Reads the AURORA_SSL_DEMO_* variables (see ``settings.py``); run it after ``manage.py
migrate``::

    python example_project/sqlalchemy_example.py
"""

from __future__ import annotations

import importlib.util
import os
import sys

from sqlalchemy import URL, text

import aurora_ssl


def _env(name: str, default: str = "") -> str:
    return os.environ.get(f"AURORA_SSL_DEMO_{name}", default)


def make_url(driver: str) -> URL:
    """The URL of the demo database; ``hostaddr`` only when set (tests, tunnels)."""
    query = {"hostaddr": _env("HOSTADDR")} if _env("HOSTADDR") else {}
    return URL.create(
        f"postgresql+{driver}",
        username=_env("USER", "postgres"),
        password=_env("PASSWORD") or None,
        host=_env("HOST"),
        port=int(_env("PORT", "5432")),
        database=_env("DBNAME", "postgres"),
        query=query,
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    default = "psycopg" if importlib.util.find_spec("psycopg") else "psycopg2"
    driver = args[0] if args else _env("DRIVER", default)
    engine = aurora_ssl.create_engine(make_url(driver), aurora_ssl_bundle=_env("BUNDLE") or None)
    try:
        with engine.connect() as conn:
            count = conn.execute(text("SELECT count(*) FROM notes_note")).scalar_one()
            ssl, version, cipher = conn.execute(
                text("SELECT ssl, version, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            ).one()
    finally:
        engine.dispose()
    print(
        f"SQLAlchemy (postgresql+{driver}): {count} note(s); "
        f"server says ssl={ssl} {version} {cipher}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
