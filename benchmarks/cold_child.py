"""One fresh process of the cold-start benchmark: start, connect verify-full, SELECT 1, exit.

    python benchmarks/cold_child.py GROUP KIND      # GROUP: psycopg2|sqlalchemy|django
                                                    # KIND:  floor|recipe|ours

Written the way an application's entry point would be (a cron job, ``manage.py``, a Lambda
handler): import the driver or framework, configure, connect once, query, leave. It imports
nothing of the benchmark, so the process pays only for what the variant needs. Where to
connect comes from ``BENCH_*`` environment variables (never the command line: the password
must not show in ``ps``).
"""

from __future__ import annotations

import os
import sys

E = os.environ


def plain_params(trust: str | None) -> dict[str, object]:
    params: dict[str, object] = {
        "host": E["BENCH_HOST"],
        "hostaddr": E["BENCH_HOSTADDR"],
        "port": int(E["BENCH_PORT"]),
        "user": E["BENCH_USER"],
        "password": E["BENCH_PASSWORD"],
        "dbname": E["BENCH_DB"],
    }
    if trust:
        params.update(sslmode="verify-full", sslrootcert=trust)
    return params


def trust_file(kind: str) -> str | None:
    return {"floor": E["BENCH_ROOT"], "recipe": E["BENCH_BUNDLE"], "ours": None}[kind]


def run_psycopg2(kind: str) -> None:
    import psycopg2

    params = plain_params(trust_file(kind))
    if kind == "ours":
        import aurora_ssl

        settings = aurora_ssl.Options(bundle=E["BENCH_BUNDLE"])
        params = aurora_ssl.connection_params(params, settings)
    conn = psycopg2.connect(**params)
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        cur.fetchone()
    conn.close()


def run_sqlalchemy(kind: str) -> None:
    import sqlalchemy

    url = sqlalchemy.URL.create(
        "postgresql+" + E.get("BENCH_SA_DRIVER", "psycopg2"),
        username=E["BENCH_USER"],
        password=E["BENCH_PASSWORD"],
        host=E["BENCH_HOST"],
        port=int(E["BENCH_PORT"]),
        database=E["BENCH_DB"],
        query={"hostaddr": E["BENCH_HOSTADDR"]},
    )
    if kind == "ours":
        import aurora_ssl

        engine = aurora_ssl.create_engine(url, aurora_ssl_bundle=E["BENCH_BUNDLE"])
    else:
        trust = {"sslmode": "verify-full", "sslrootcert": trust_file(kind)}
        engine = sqlalchemy.create_engine(url, connect_args=trust)
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text("SELECT 1")).scalar()


def run_django(kind: str) -> None:
    import django
    from django.conf import settings

    database: dict[str, object] = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": E["BENCH_DB"],
        "USER": E["BENCH_USER"],
        "PASSWORD": E["BENCH_PASSWORD"],
        "HOST": E["BENCH_HOST"],
        "PORT": E["BENCH_PORT"],
        "OPTIONS": {"hostaddr": E["BENCH_HOSTADDR"]},
    }
    apps = []
    if kind == "ours":  # as the README sets it up: our backend and our app (checks)
        database["ENGINE"] = "django_aurora_ssl.backends.postgresql"
        database["AURORA_SSL"] = {"BUNDLE": E["BENCH_BUNDLE"]}
        apps.append("django_aurora_ssl")
    else:
        database["OPTIONS"] = {
            "hostaddr": E["BENCH_HOSTADDR"],
            "sslmode": "verify-full",
            "sslrootcert": trust_file(kind),
        }
    settings.configure(
        DATABASES={"default": database},
        INSTALLED_APPS=apps,
        USE_TZ=True,
        TIME_ZONE="UTC",
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT 1")
        cur.fetchone()
    connection.close()


def report() -> None:
    """One line for the benchmark (stdout): modules loaded, and whether an X.509 parser was."""
    x509 = any(name in sys.modules for name in ("cryptography.x509", "OpenSSL.crypto"))
    sys.stdout.write(f"{len(sys.modules)} {int(x509)}\n")


if __name__ == "__main__":
    group, kind = sys.argv[1], sys.argv[2]
    {"psycopg2": run_psycopg2, "sqlalchemy": run_sqlalchemy, "django": run_django}[group](kind)
    report()
