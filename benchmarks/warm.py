"""Warm: new connections in a long-lived process, every framework variant interleaved.

Each variant opens a new connection, runs ``SELECT 1`` and closes it. Every round runs each
variant once, in a freshly shuffled order, so machine noise hits all variants alike.

* floors: plain ``django.db.backends.postgresql``, plain SQLAlchemy ``create_engine``
  (NullPool) and raw psycopg2, each with ``sslmode=verify-full`` and a trust file holding
  only the server's root;
* the AWS-documentation recipe: the same with ``sslrootcert`` = the full RDS global bundle
  (102 roots, plus the test root, as if test-region-1 were a real region);
* ours: ``aurora_ssl.connection_params`` (psycopg2), ``aurora_ssl.create_engine`` (NullPool)
  and ``django_aurora_ssl.backends.postgresql``, given that same full bundle as their bundle
  source, so region trimming is the difference.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import random
import re
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, Target, median, paired_ratio, quartiles

Opener = Callable[[], None]
HoldingOpener = Callable[[threading.Barrier | None], None]

DJANGO_OURS = "django_aurora_ssl.backends.postgresql"
DJANGO_PLAIN = "django.db.backends.postgresql"


@dataclasses.dataclass
class Variant:
    name: str
    group: str  # "django", "sqlalchemy", "psycopg2"
    kind: str  # "floor", "recipe", "ours"
    open_query_close: Callable[..., None]
    samples: list[float] = dataclasses.field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        p25, p75 = quartiles(self.samples)
        return {
            "median_ms": median(self.samples) * 1000,
            "p25_ms": p25 * 1000,
            "p75_ms": p75 * 1000,
            "n": len(self.samples),
        }


def psycopg2_variant(target: Target, trust: Path | None) -> HoldingOpener:
    """Raw psycopg2 with ``trust`` as sslrootcert, or through ours (``trust=None``)."""
    import psycopg2

    if trust is None:
        from aurora_ssl import Options as Settings
        from aurora_ssl import connection_params

        settings = Settings(bundle=str(target.bundle_path))
        plain = target.libpq(None)

        def params() -> dict[str, Any]:  # per connection, as an application would call it
            return connection_params(plain, settings)
    else:
        fixed = target.libpq(trust)

        def params() -> dict[str, Any]:
            return fixed

    def run(hold: threading.Barrier | None = None) -> None:
        conn = psycopg2.connect(**params())
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                cur.fetchone()
            if hold is not None:  # the storm: keep it open until every thread has one
                hold.wait()
        finally:
            conn.close()

    run()
    return run


def sqlalchemy_url(target: Target, driver: str) -> Any:
    from sqlalchemy.engine import URL

    return URL.create(
        f"postgresql+{driver}",
        username=target.user,
        password=target.password,
        host=target.host,
        port=target.port,
        database=target.database,
        query={"hostaddr": target.hostaddr},
    )


def sqlalchemy_variant(target: Target, trust: Path | None, driver: str) -> HoldingOpener:
    """Plain SQLAlchemy with ``trust`` as sslrootcert, or ours (``trust=None``)."""
    import sqlalchemy
    from sqlalchemy import text
    from sqlalchemy.pool import NullPool

    url = sqlalchemy_url(target, driver)
    if trust is None:
        import aurora_ssl

        engine = aurora_ssl.create_engine(
            url, poolclass=NullPool, aurora_ssl_bundle=str(target.bundle_path)
        )
    else:
        engine = sqlalchemy.create_engine(
            url,
            poolclass=NullPool,
            connect_args={"sslmode": "verify-full", "sslrootcert": str(trust)},
        )
    query = text("SELECT 1")

    def run(hold: threading.Barrier | None = None) -> None:
        with engine.connect() as conn:
            conn.execute(query).scalar()
            if hold is not None:  # the storm: keep it open until every thread has one
                hold.wait()

    run()  # the dialect's first-connect initialisation is not what we measure
    return run


def django_available() -> bool:
    return importlib.util.find_spec("django") is not None


def django_ours_available() -> bool:
    try:
        return importlib.util.find_spec(DJANGO_OURS + ".base") is not None
    except ModuleNotFoundError:
        return False


def configure_django(target: Target, extra_ports: dict[str, int]) -> list[str]:
    """One settings.configure() with an alias per Django variant; returns the aliases.

    ``extra_ports`` adds a floor and an ours alias per entry (``<name>-floor``,
    ``<name>-ours``) that reach the server through that port: the latency proxies.
    """
    import django
    from django.conf import settings

    def entry(engine: str, options: dict[str, Any], port: int, **extra: Any) -> dict[str, Any]:
        return {
            "ENGINE": engine,
            "NAME": target.database,
            "USER": target.user,
            "PASSWORD": target.password,
            "HOST": target.host,
            "PORT": str(port),
            "OPTIONS": {"hostaddr": target.hostaddr, **options},
            "CONN_MAX_AGE": 0,
            **extra,
        }

    floor = {"sslmode": "verify-full", "sslrootcert": str(target.root_path)}
    recipe = {"sslmode": "verify-full", "sslrootcert": str(target.bundle_path)}
    ours = {"AURORA_SSL": {"BUNDLE": str(target.bundle_path)}}
    databases = {
        "default": entry(DJANGO_PLAIN, floor, target.port),
        "recipe": entry(DJANGO_PLAIN, recipe, target.port),
    }
    has_ours = django_ours_available()
    if has_ours:
        databases["ours"] = entry(DJANGO_OURS, {}, target.port, **ours)
    for name, port in extra_ports.items():
        databases[f"{name}-floor"] = entry(DJANGO_PLAIN, floor, port)
        if has_ours:
            databases[f"{name}-ours"] = entry(DJANGO_OURS, {}, port, **ours)
    settings.configure(
        DATABASES=databases,
        INSTALLED_APPS=["django_aurora_ssl"] if has_ours else [],
        USE_TZ=True,
        TIME_ZONE="UTC",
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()
    return list(databases)


def django_variant(alias: str, warm_up: bool = True) -> Opener:
    from django.db import connections

    wrapper = connections[alias]

    def run() -> None:
        wrapper.connect()
        try:
            with wrapper.cursor() as cur:
                cur.execute("SELECT 1")
                cur.fetchone()
        finally:
            wrapper.close()

    if warm_up:
        run()
    return run


def django_driver() -> str:
    from django.db import connections

    return str(connections["default"].Database.__name__)


def build_variants(target: Target, sa_driver: str, aliases: list[str]) -> list[Variant]:
    variants = [
        Variant("psycopg2 floor", "psycopg2", "floor", psycopg2_variant(target, target.root_path)),
        Variant(
            "psycopg2 recipe", "psycopg2", "recipe", psycopg2_variant(target, target.bundle_path)
        ),
        Variant("psycopg2 ours", "psycopg2", "ours", psycopg2_variant(target, None)),
        Variant(
            "sqlalchemy floor",
            "sqlalchemy",
            "floor",
            sqlalchemy_variant(target, target.root_path, sa_driver),
        ),
        Variant(
            "sqlalchemy recipe",
            "sqlalchemy",
            "recipe",
            sqlalchemy_variant(target, target.bundle_path, sa_driver),
        ),
        Variant(
            "sqlalchemy ours", "sqlalchemy", "ours", sqlalchemy_variant(target, None, sa_driver)
        ),
    ]
    if "default" in aliases:
        variants.append(Variant("django floor", "django", "floor", django_variant("default")))
        variants.append(Variant("django recipe", "django", "recipe", django_variant("recipe")))
    if "ours" in aliases:
        variants.append(Variant("django ours", "django", "ours", django_variant("ours")))
    return variants


def run_interleaved(variants: list[Variant], rounds: int, warmup: int, seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 - an order, not a secret
    order = list(variants)
    for index in range(warmup + rounds):
        rng.shuffle(order)
        for variant in order:
            start = time.perf_counter()
            variant.open_query_close()
            elapsed = time.perf_counter() - start
            if index >= warmup:
                variant.samples.append(elapsed)


def ratios(variants: list[Variant]) -> dict[str, dict[str, float]]:
    by = {(v.group, v.kind): v for v in variants}
    out: dict[str, dict[str, float]] = {}
    for group in ("psycopg2", "sqlalchemy", "django"):
        floor, recipe, ours = (by.get((group, k)) for k in ("floor", "recipe", "ours"))
        entry: dict[str, float] = {}
        if floor and recipe:
            entry["recipe_vs_floor"] = median(recipe.samples) / median(floor.samples)
        if floor and ours:
            entry["ours_vs_floor"] = median(ours.samples) / median(floor.samples)
            entry["ours_vs_floor_paired"] = paired_ratio(ours.samples, floor.samples)
        if recipe and ours:
            entry["ours_vs_recipe"] = median(ours.samples) / median(recipe.samples)
            entry["ours_vs_recipe_paired"] = paired_ratio(ours.samples, recipe.samples)
        if entry:
            out[group] = entry
    return out


def import_time(python: str, runs: int) -> dict[str, float]:
    """Wall time of ``import aurora_ssl`` in a process that imported psycopg2 (which every
    process that connects has: it loads ``ssl``, ``re`` and ``enum`` as our modules do), and
    importtime's own cumulative figure for the package (medians, milliseconds)."""

    def wall(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([python, "-c", code], check=True, cwd=ROOT)
        return time.perf_counter() - start

    bare, loaded, cumulative = [], [], []
    for _ in range(runs):
        bare.append(wall("import psycopg2"))
        loaded.append(wall("import psycopg2, aurora_ssl"))
        out = subprocess.run(
            [python, "-X", "importtime", "-c", "import psycopg2, aurora_ssl"],
            check=True,
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stderr
        match = re.search(r"^import time:\s+\d+ \|\s+(\d+) \| aurora_ssl$", out, re.MULTILINE)
        if match:
            cumulative.append(int(match.group(1)) / 1000)
    return {
        "driver_ms": statistics.median(bare) * 1000,
        "with_import_ms": statistics.median(loaded) * 1000,
        "over_driver_ms": (statistics.median(loaded) - statistics.median(bare)) * 1000,
        "importtime_cumulative_ms": statistics.median(cumulative) if cumulative else float("nan"),
    }
