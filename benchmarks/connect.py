"""What verified TLS costs per new connection: aurora-ssl against the plain frameworks.

    .venv/bin/python benchmarks/connect.py            # about a minute
    .venv/bin/python benchmarks/connect.py --rounds 400 --storm-repeats 5 --json out.json

Starts its own Aurora-like PostgreSQL (``aurora_ssl.testing``, real TLS, RDS-like PKI) and
times "new connection + SELECT 1 + close" for, in one interleaved run:

* floors: plain ``django.db.backends.postgresql``, plain SQLAlchemy ``create_engine``
  (NullPool) and raw psycopg2, each with ``sslmode=verify-full`` and a trust file holding
  only the server's root;
* the AWS-documentation recipe: the same with ``sslrootcert`` = the full RDS global bundle
  (102 roots, plus the test root, as if test-region-1 were a real region);
* ours: ``django_aurora_ssl.backends.postgresql`` and ``aurora_ssl.create_engine`` (NullPool),
  given that same full bundle as their bundle source, so region trimming is the difference.

Every round runs each variant once, in a freshly shuffled order, so machine noise hits all
variants alike. The machine is noisy: read the medians and ratios, not the absolute numbers.

Also measured: ``import aurora_ssl`` time, the round trips of the server-side TLS check and of
``manage.py check_aurora_ssl`` (counted in libpq's own protocol trace, which records every
message the client sends), and a connection storm (N concurrent new connections, as after a
failover): wall and client CPU time, ours vs recipe.
"""

from __future__ import annotations

import argparse
import atexit
import concurrent.futures
import contextlib
import dataclasses
import json
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

TARGET_VS_FLOOR = 1.05
TARGET_VS_RECIPE = 0.75
TARGET_IMPORT_MS = 15.0


# --- the server ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Target:
    """Where to connect, and the two trust files the variants differ by."""

    host: str
    hostaddr: str
    port: int
    user: str
    password: str
    database: str
    root_path: Path  # the test root only: the floor
    bundle_path: Path  # the shipped RDS bundle + the test root: the recipe and our source

    def libpq(self, sslrootcert: Path) -> dict[str, Any]:
        return {
            "host": self.host,
            "hostaddr": self.hostaddr,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": self.database,
            "sslmode": "verify-full",
            "sslrootcert": str(sslrootcert),
        }


@contextlib.contextmanager
def aurora_like_server(max_connections: int) -> Iterator[Target]:
    from aurora_ssl.testing import AuroraLikeServer

    with AuroraLikeServer("good", settings={"max_connections": str(max_connections)}) as server:
        yield Target(
            host=server.host,
            hostaddr=server.hostaddr,
            port=int(server.port),
            user=server.user,
            password=server.password,
            database=server.database,
            root_path=Path(server.pki.root_path),
            bundle_path=Path(server.pki.bundle_path),
        )


# --- the variants -------------------------------------------------------------------------

Opener = Callable[[], None]
HoldingOpener = Callable[[threading.Barrier | None], None]


@dataclasses.dataclass
class Variant:
    name: str
    group: str  # "django", "sqlalchemy", "psycopg2"
    kind: str  # "floor", "recipe", "ours"
    open_query_close: Callable[..., None]
    samples: list[float] = dataclasses.field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples) * 1000

    def quartiles_ms(self) -> tuple[float, float]:
        q = statistics.quantiles(self.samples, n=4)
        return q[0] * 1000, q[2] * 1000


def psycopg2_variant(target: Target, trust: Path) -> Opener:
    import psycopg2

    params = target.libpq(trust)

    def run() -> None:
        conn = psycopg2.connect(**params)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                cur.fetchone()
        finally:
            conn.close()

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


DJANGO_OURS = "django_aurora_ssl.backends.postgresql"
DJANGO_PLAIN = "django.db.backends.postgresql"


def django_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("django") is not None


def django_ours_available() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(DJANGO_OURS + ".base") is not None
    except ModuleNotFoundError:
        return False


def configure_django(target: Target) -> list[str]:
    """One settings.configure() with an alias per Django variant; returns the aliases."""
    import django
    from django.conf import settings

    def entry(engine: str, options: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            "ENGINE": engine,
            "NAME": target.database,
            "USER": target.user,
            "PASSWORD": target.password,
            "HOST": target.host,
            "PORT": str(target.port),
            "OPTIONS": {"hostaddr": target.hostaddr, **options},
            "CONN_MAX_AGE": 0,
            **extra,
        }

    databases = {
        "default": entry(
            DJANGO_PLAIN, {"sslmode": "verify-full", "sslrootcert": str(target.root_path)}
        ),
        "recipe": entry(
            DJANGO_PLAIN, {"sslmode": "verify-full", "sslrootcert": str(target.bundle_path)}
        ),
    }
    if django_ours_available():
        databases["ours"] = entry(DJANGO_OURS, {}, AURORA_SSL={"BUNDLE": str(target.bundle_path)})
    settings.configure(
        DATABASES=databases,
        INSTALLED_APPS=["django_aurora_ssl"] if "ours" in databases else [],
        USE_TZ=True,
        TIME_ZONE="UTC",
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()
    return list(databases)


def django_variant(alias: str) -> Opener:
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

    run()
    return run


def django_driver() -> str:
    from django.db import connections

    return str(connections["default"].Database.__name__)


def build_variants(target: Target, sa_driver: str) -> list[Variant]:
    variants = [
        Variant("psycopg2 floor", "psycopg2", "floor", psycopg2_variant(target, target.root_path)),
        Variant(
            "psycopg2 recipe", "psycopg2", "recipe", psycopg2_variant(target, target.bundle_path)
        ),
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
    if django_available():
        aliases = configure_django(target)
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


def paired_ratio(a: Variant, b: Variant) -> float:
    """Median over rounds of a/b within the same round (robust to drift during the run)."""
    return statistics.median(x / y for x, y in zip(a.samples, b.samples, strict=True))


# --- import time --------------------------------------------------------------------------


def import_time(python: str, runs: int) -> dict[str, float]:
    """Wall time of ``python -c 'import aurora_ssl'`` over ``python -c pass``, and importtime's
    own cumulative figure for the package (both medians, milliseconds)."""

    def wall(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([python, "-c", code], check=True, cwd=ROOT)
        return time.perf_counter() - start

    bare, loaded, cumulative = [], [], []
    for _ in range(runs):
        bare.append(wall("pass"))
        loaded.append(wall("import aurora_ssl"))
        out = subprocess.run(
            [python, "-X", "importtime", "-c", "import aurora_ssl"],
            check=True,
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stderr
        match = re.search(r"^import time:\s+\d+ \|\s+(\d+) \| aurora_ssl$", out, re.MULTILINE)
        if match:
            cumulative.append(int(match.group(1)) / 1000)
    return {
        "bare_interpreter_ms": statistics.median(bare) * 1000,
        "with_import_ms": statistics.median(loaded) * 1000,
        "over_bare_ms": (statistics.median(loaded) - statistics.median(bare)) * 1000,
        "importtime_cumulative_ms": statistics.median(cumulative) if cumulative else float("nan"),
    }


# --- round trips of the server-side check -------------------------------------------------


def check_round_trips(target: Target) -> dict[str, Any]:
    """Count what the one-query check sends, from libpq's protocol trace (psycopg 3).

    A round trip is a simple Query ('Q') or an extended-protocol Sync ('S'): each makes the
    client wait for the server. Connection set-up (startup, authentication) is not counted.
    """
    import psycopg

    from aurora_ssl.policy import Settings, connection_params
    from aurora_ssl.status import server_tls

    plain = {k: v for k, v in target.libpq(target.root_path).items() if k != "sslrootcert"}
    params = connection_params(plain, Settings(bundle=str(target.bundle_path)))
    with psycopg.connect(**params, autocommit=True) as conn, tempfile.TemporaryFile() as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        facts = server_tls(conn)
        conn.pgconn.untrace()
        trace.seek(0)
        sent = frontend_messages(trace.read().decode(errors="replace"))
    return {
        "server_tls": dataclasses.asdict(facts),
        "messages_sent": [name for name, _ in sent],
        "round_trips_libpq_trace": sum(1 for name, _ in sent if name in ("Query", "Sync")),
        "round_trips_django_command": django_command_round_trips(),
    }


def django_command_round_trips() -> dict[str, Any] | None:
    """What ``manage.py check_aurora_ssl --database ours`` sends, from libpq's own trace.

    Every psycopg 3 connection Django opens during the command is traced from right after
    its handshake, so the backend's startup check (run inside ``get_new_connection``) is
    seen too; Django's query capture would miss it (it runs on the raw connection).
    """
    if not (django_available() and django_ours_available()):
        return None
    import psycopg
    from django.core.management import call_command
    from django.db import connections

    from django_aurora_ssl.backends.wrapper import forget_server_checks

    if connections["ours"].Database is not psycopg:
        return None  # the trace needs psycopg 3 (Django uses it when both are installed)
    traces: list[Any] = []
    original = psycopg.connect
    files = contextlib.ExitStack()

    def traced_connect(*args: Any, **kwargs: Any) -> Any:
        conn = original(*args, **kwargs)
        trace = files.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 - the stack closes it
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        traces.append(trace)
        return conn

    connections["ours"].close()
    forget_server_checks()  # a fresh process: the startup check has not run yet
    psycopg.connect = traced_connect  # type: ignore[assignment]
    try:
        with open(os.devnull, "w") as sink:
            call_command("check_aurora_ssl", "--database", "ours", stdout=sink, stderr=sink)
    finally:
        psycopg.connect = original  # type: ignore[assignment]
        connections["ours"].close()
    sent: list[tuple[str, str]] = []
    with files:
        for trace in traces:
            trace.seek(0)
            sent += frontend_messages(trace.read().decode(errors="replace"))
    # Django's own connection set-up (the plain backend does it too) is not the check's.
    django_setup = [m for m in sent if "set_config('TimeZone'" in m[1]]
    waits = [m for m in sent if m[0] in ("Query", "Sync") and m not in django_setup]
    return {
        "connections": len(traces),
        "round_trips": len(waits),
        "statements": [" ".join(text.split())[:60] for _, text in waits],
        "django_setup_round_trips": len(django_setup),
    }


def frontend_messages(trace: str) -> list[tuple[str, str]]:
    """(message name, text) of every client-to-server message in a libpq trace; a query's
    text may span several lines (continuation lines start with neither "F" nor "B")."""
    messages: list[tuple[str, str]] = []
    current: list[str] | None = None
    for line in trace.splitlines():
        if line.startswith(("F\t", "B\t")):
            parts = line.split("\t")
            current = [parts[2], "\t".join(parts[3:])] if line.startswith("F\t") else None
            if current is not None:
                messages.append((current[0], current[1]))
        elif current is not None:
            current[1] += "\n" + line
            messages[-1] = (current[0], current[1])
    return messages


# --- the storm ----------------------------------------------------------------------------


def storm(open_query_close: HoldingOpener, size: int, batch: int) -> tuple[float, float]:
    """``size`` new connections at once, each held open until all are established (in
    batches of at most ``batch`` if the server has less room); returns (wall seconds, client
    CPU seconds of this process)."""
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    remaining = size
    while remaining:
        n = min(batch, remaining)
        go, held = threading.Barrier(n), threading.Barrier(n)

        def one(go: threading.Barrier = go, held: threading.Barrier = held) -> None:
            go.wait()
            open_query_close(held)

        with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
            for future in [pool.submit(one) for _ in range(n)]:
                future.result()
        remaining -= n
    wall = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return wall, cpu


def server_max_connections(target: Target) -> int:
    import psycopg2

    conn = psycopg2.connect(**target.libpq(target.root_path))
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT current_setting('max_connections')::int"
                " - current_setting('superuser_reserved_connections')::int"
                " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
            )
            row = cur.fetchone()
    finally:
        conn.close()
    return int(row[0]) if row else 90


# --- report -------------------------------------------------------------------------------


def verdict(value: float, target: float) -> str:
    return "met" if value <= target else "NOT met"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--seed", type=int, default=20241128)
    parser.add_argument("--sqlalchemy-driver", default="psycopg2", choices=["psycopg2", "psycopg"])
    parser.add_argument("--storm", type=int, default=200, help="concurrent connections")
    parser.add_argument("--storm-repeats", type=int, default=3)
    parser.add_argument("--import-runs", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    # A private trust cache, so that "ours" materialises its file like a fresh install.
    cache = tempfile.mkdtemp(prefix="aurora-ssl-bench-cache-")
    atexit.register(shutil.rmtree, cache, ignore_errors=True)
    os.environ["AURORA_SSL_CACHE_DIR"] = cache
    os.environ.pop("AURORA_SSL_BUNDLE", None)
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    results: dict[str, Any] = {"machine": machine}

    print("import aurora_ssl ...", file=sys.stderr)
    results["import"] = import_time(sys.executable, args.import_runs)

    with aurora_like_server(max_connections=args.storm + 20) as target:
        print("variants, interleaved ...", file=sys.stderr)
        variants = build_variants(target, args.sqlalchemy_driver)
        run_interleaved(variants, args.rounds, args.warmup, args.seed)
        results["drivers"] = {
            "sqlalchemy": args.sqlalchemy_driver,
            "django": django_driver() if django_available() else None,
            "psycopg2": "psycopg2",
        }
        print("round trips of the check ...", file=sys.stderr)
        results["check"] = check_round_trips(target)
        print("connection storm ...", file=sys.stderr)
        room = server_max_connections(target)
        batch = max(1, min(args.storm, room - 5))
        by_name = {v.name: v for v in variants}
        storms: dict[str, list[tuple[float, float]]] = {"ours": [], "recipe": []}
        for _ in range(args.storm_repeats):
            for kind in ("recipe", "ours"):
                storms[kind].append(
                    storm(by_name[f"sqlalchemy {kind}"].open_query_close, args.storm, batch)
                )
        results["storm"] = {
            "size": args.storm,
            "batch": batch,
            "server_room": room,
            "via": f"SQLAlchemy (NullPool, {args.sqlalchemy_driver}), one thread per connection",
            **{
                kind: {
                    "wall_s": statistics.median(w for w, _ in runs),
                    "cpu_s": statistics.median(c for _, c in runs),
                }
                for kind, runs in storms.items()
            },
        }

    results["variants"] = {
        v.name: {
            "median_ms": v.median_ms,
            "p25_ms": v.quartiles_ms()[0],
            "p75_ms": v.quartiles_ms()[1],
            "n": len(v.samples),
        }
        for v in variants
    }
    results["ratios"] = ratios(variants)
    print_report(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0 if all_targets_met(results) else 1


def ratios(variants: list[Variant]) -> dict[str, dict[str, float]]:
    by = {(v.group, v.kind): v for v in variants}
    out: dict[str, dict[str, float]] = {}
    for group in ("psycopg2", "sqlalchemy", "django"):
        floor, recipe, ours = (by.get((group, k)) for k in ("floor", "recipe", "ours"))
        entry: dict[str, float] = {}
        if floor and recipe:
            entry["recipe_vs_floor"] = recipe.median_ms / floor.median_ms
        if floor and ours:
            entry["ours_vs_floor"] = ours.median_ms / floor.median_ms
            entry["ours_vs_floor_paired"] = paired_ratio(ours, floor)
        if recipe and ours:
            entry["ours_vs_recipe"] = ours.median_ms / recipe.median_ms
            entry["ours_vs_recipe_paired"] = paired_ratio(ours, recipe)
        if entry:
            out[group] = entry
    return out


def all_targets_met(results: dict[str, Any]) -> bool:
    ok = results["import"]["over_bare_ms"] <= TARGET_IMPORT_MS
    for entry in results["ratios"].values():
        ok &= entry.get("ours_vs_floor", 0) <= TARGET_VS_FLOOR
        ok &= entry.get("ours_vs_recipe", 0) <= TARGET_VS_RECIPE
    trips = results["check"]["round_trips_libpq_trace"]
    return bool(ok and trips == 1)


def print_report(results: dict[str, Any], args: argparse.Namespace) -> None:
    w = print
    w(f"aurora-ssl connection benchmark ({results['machine']})")
    drivers = results["drivers"]
    w(
        f"new connection + SELECT 1 + close, verify-full over loopback TLS; {args.rounds} "
        f"interleaved rounds (+{args.warmup} warm-up), shuffled order each round"
    )
    w(f"drivers: SQLAlchemy {drivers['sqlalchemy']}, Django {drivers['django']}, raw psycopg2")
    w("")
    w(f"{'variant':<20} {'trust file':<32} {'median ms':>9} {'p25-p75 ms':>13}")
    trust = {
        "floor": "server's root only (1)",
        "recipe": "full RDS bundle (103)",
        "ours": "bundle source (103) -> trimmed",
    }
    for name, v in results["variants"].items():
        kind = name.split()[-1]
        spread = f"{v['p25_ms']:>6.2f}-{v['p75_ms']:<6.2f}"
        w(f"{name:<20} {trust[kind]:<32} {v['median_ms']:>9.2f} {spread}")
    w("")
    w("ratios of medians (paired: median of per-round ratios)")
    for group, entry in results["ratios"].items():
        parts = []
        if "recipe_vs_floor" in entry:
            parts.append(f"recipe/floor {entry['recipe_vs_floor']:.3f}")
        for ratio, target in (("floor", TARGET_VS_FLOOR), ("recipe", TARGET_VS_RECIPE)):
            key = f"ours_vs_{ratio}"
            if key in entry:
                parts.append(
                    f"ours/{ratio} {entry[key]:.3f} (paired {entry[key + '_paired']:.3f}; "
                    f"target <= {target}: {verdict(entry[key], target)})"
                )
        w(f"  {group:<11} " + "\n              ".join(parts))
    imp = results["import"]
    w("")
    w(
        f"import aurora_ssl: +{imp['over_bare_ms']:.1f} ms over the bare interpreter "
        f"({imp['bare_interpreter_ms']:.1f} -> {imp['with_import_ms']:.1f} ms, median of "
        f"{args.import_runs}); -X importtime cumulative {imp['importtime_cumulative_ms']:.1f} ms; "
        f"target <= {TARGET_IMPORT_MS:.0f} ms: {verdict(imp['over_bare_ms'], TARGET_IMPORT_MS)}"
    )
    check = results["check"]
    w(
        f"server-side TLS check (aurora_ssl.status.server_tls): "
        f"{check['round_trips_libpq_trace']} round trip(s) in libpq's protocol trace "
        f"(messages sent: {', '.join(check['messages_sent'])}); target 1: "
        f"{'met' if check['round_trips_libpq_trace'] == 1 else 'NOT met'}"
    )
    command = check["round_trips_django_command"]
    if command is not None:
        w(
            f"manage.py check_aurora_ssl: {command['round_trips']} round trip(s) after connecting, "
            f"from libpq's trace (target 1: {'met' if command['round_trips'] == 1 else 'NOT met'}):"
            f" {'; '.join(command['statements'])}"
            f" (+{command['django_setup_round_trips']} for Django's own connection set-up)"
        )
    st = results["storm"]
    w(
        f"storm: {st['size']} concurrent new connections ({st['via']}; batches of "
        f"{st['batch']}), median of {args.storm_repeats}:"
    )
    for kind in ("recipe", "ours"):
        w(f"  {kind:<7} wall {st[kind]['wall_s']:.2f} s, client CPU {st[kind]['cpu_s']:.2f} s")
    w(
        f"  ours/recipe: wall {st['ours']['wall_s'] / st['recipe']['wall_s']:.3f}, "
        f"CPU {st['ours']['cpu_s'] / st['recipe']['cpu_s']:.3f}"
    )


if __name__ == "__main__":
    sys.exit(main())
