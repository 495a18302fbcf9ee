"""What verified TLS costs: aurora-ssl against the plain drivers and frameworks, in one run.

    .venv/bin/python benchmarks/connect.py                 # about two to three minutes
    .venv/bin/python benchmarks/connect.py --json out.json # also the results as JSON
    .venv/bin/python benchmarks/connect.py --markdown      # also the docs' tables
    .venv/bin/python benchmarks/connect.py --write-docs    # and write them into the docs

Starts its own Aurora-like PostgreSQL (``aurora_ssl.testing``, real TLS, RDS-like PKI) and
measures, for psycopg2, SQLAlchemy and Django, the floor (plain driver or framework with a
1-root trust file), the AWS recipe (the full RDS bundle) and ours:

1. cold start: whole fresh processes, interleaved (:mod:`benchmarks.cold`);
2. memory: the peak RSS of those processes;
3. warm: new connections in a long-lived process (:mod:`benchmarks.warm`), and the import
   time of ``aurora_ssl``;
4. round trips through a loopback proxy that injects 1 ms and 20 ms RTT
   (:mod:`benchmarks.latency`), and the server-side check counted in libpq's trace;
5. aws-advanced-python-wrapper with and without our plugin (:mod:`benchmarks.aws_wrapper`);
   direct TLS against PostgreSQL 18 and 15 through the latency proxy (:mod:`benchmarks.direct`);
6. a storm of concurrent new connections (:mod:`benchmarks.storm`);
7. one table with every ratio, its target, PASS or MISS (:mod:`benchmarks.report`);
   with ``--write-docs``, the tables of docs/benchmarks.md and README.md between their
   markers, and the numbers they are made from in benchmarks/last-run.json.

The machine is noisy: read the medians and ratios, not the absolute numbers. Exit status 0
when every checked target passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout: `python benchmarks/connect.py`
    sys.path.insert(0, str(ROOT))

from benchmarks import aws_wrapper, cold, direct, latency, report, storm, warm  # noqa: E402
from benchmarks.common import aurora_like_server  # noqa: E402

SECTIONS = ("cold", "warm", "round-trips", "direct-tls", "aws-wrapper", "storm")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=120, help="warm rounds")
    parser.add_argument("--warmup", type=int, default=10, help="untimed warm rounds")
    parser.add_argument("--cold-rounds", type=int, default=25, help="fresh processes per variant")
    parser.add_argument(
        "--cold-groups", nargs="+", default=list(cold.GROUPS), choices=cold.GROUPS, metavar="GROUP"
    )
    parser.add_argument(
        "--rtt-samples",
        type=int,
        nargs=2,
        default=(15, 7),
        metavar=("AT_1MS", "AT_20MS"),
        help="samples per probe at each RTT",
    )
    parser.add_argument("--seed", type=int, default=20241128)
    parser.add_argument("--sqlalchemy-driver", default="psycopg2", choices=["psycopg2", "psycopg"])
    parser.add_argument("--storm", type=int, default=200, help="concurrent connections")
    parser.add_argument("--storm-repeats", type=int, default=3)
    parser.add_argument("--import-runs", type=int, default=15)
    parser.add_argument("--aws-wrapper-rounds", type=int, default=100)
    parser.add_argument("--direct-samples", type=int, default=50, help="per RTT and variant")
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=SECTIONS,
        help="leave a section out (repeatable)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here ('-': stdout)")
    parser.add_argument("--markdown", action="store_true", help="also print the docs' tables")
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help="write this run's tables into docs/benchmarks.md and README.md (a full run only)",
    )
    args = parser.parse_args(argv)
    if args.write_docs and (args.skip or set(args.cold_groups) != set(cold.GROUPS)):
        parser.error("--write-docs needs a full run: no --skip, every --cold-groups group")
    return args


def versions(target: Any) -> dict[str, str]:
    """What the numbers were measured with (shown above the docs' table)."""
    import psycopg2

    found = {"Python": platform.python_version()}
    for name in ("psycopg2-binary", "psycopg2", "psycopg", "SQLAlchemy", "Django"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found.setdefault(name.split("-")[0], importlib.metadata.version(name))
    with psycopg2.connect(**target.libpq(target.root_path)) as conn, conn.cursor() as cur:
        cur.execute("SHOW server_version")
        found["PostgreSQL"] = str(cur.fetchone()[0]).split()[0]
    conn.close()
    return found


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A private trust cache for this (long-lived) process, so that "ours" materialises its
    # file like a fresh install; cold-start children get their own (see benchmarks.cold).
    cache = tempfile.mkdtemp(prefix="aurora-ssl-bench-cache-")
    atexit.register(shutil.rmtree, cache, ignore_errors=True)
    os.environ["AURORA_SSL_CACHE_DIR"] = cache
    os.environ.pop("AURORA_SSL_BUNDLE", None)
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    results: dict[str, Any] = {"machine": machine, "args": vars(args) | {"json": str(args.json)}}
    results["run"] = (
        f"{datetime.date.today():%Y-%m-%d} on {platform.machine()}, {os.cpu_count()} CPUs"
    )
    skip = set(args.skip)

    durations: dict[str, float] = {}
    since: dict[str, float] = {}

    def step(what: str) -> None:
        """Announce a section (stderr) and note how long the previous one took."""
        now = time.perf_counter()
        for previous, start in since.items():
            durations[previous] = now - start
        since.clear()
        if what:
            since[what] = now
            print(f"{what} ...", file=sys.stderr, flush=True)

    if "warm" not in skip:
        step("import aurora_ssl")
        results["import"] = warm.import_time(sys.executable, args.import_runs)

    with (
        aurora_like_server(max_connections=args.storm + 20) as target,
        latency.DelayProxy((target.hostaddr, target.port)) as proxy,
    ):
        results["versions"] = versions(target)
        aliases: list[str] = []
        if warm.django_available():
            aliases = warm.configure_django(target, {"rt": proxy.port})
        results["drivers"] = {
            "psycopg2": "psycopg2",
            "sqlalchemy": args.sqlalchemy_driver,
            "django": warm.django_driver() if aliases else None,
        }
        if "cold" not in skip:
            step("cold start: fresh processes, interleaved")
            groups = [g for g in args.cold_groups if g != "django" or aliases]
            results["cold"] = cold.measure(
                target,
                sys.executable,
                args.sqlalchemy_driver,
                args.cold_rounds,
                groups,
                args.seed,
            )
        variants: list[warm.Variant] = []
        if "warm" not in skip or "storm" not in skip:
            variants = warm.build_variants(target, args.sqlalchemy_driver, aliases)
        if "warm" not in skip:
            step("warm: new connections, interleaved")
            warm.run_interleaved(variants, args.rounds, args.warmup, args.seed)
            results["variants"] = {v.name: v.summary() for v in variants}
            results["ratios"] = warm.ratios(variants)
            step("round trips of the server-side check (libpq trace)")
            results["check"] = latency.check_round_trips(target)
        if "round-trips" not in skip:
            step("round trips through the latency proxy (1 ms, 20 ms RTT)")
            results["round_trips"] = latency.measure(
                target,
                proxy,
                args.sqlalchemy_driver,
                aliases,
                (1.0, 20.0),
                tuple(args.rtt_samples),
            )
        if "direct-tls" not in skip:
            step("direct TLS: PostgreSQL 18 and 15 through the latency proxy")
            results["direct_tls"] = direct.measure(args.direct_samples)
        if "aws-wrapper" not in skip:
            step("aws-advanced-python-wrapper, with and without our plugin")
            env = cold.child_env(target, args.sqlalchemy_driver, Path(cache))
            results["aws_wrapper"] = aws_wrapper.measure(
                target, env, args.aws_wrapper_rounds, max(3, args.import_runs // 3)
            )
        else:
            results["aws_wrapper"] = {"skipped": "--skip aws-wrapper"}
        if "storm" not in skip:
            step(f"storm: {args.storm} concurrent new connections")
            by_name = {v.name: v for v in variants}
            results["storm"] = storm.measure(
                target,
                {
                    kind: by_name[f"sqlalchemy {kind}"].open_query_close
                    for kind in ("floor", "recipe", "ours")
                },
                args.storm,
                args.storm_repeats,
                f"SQLAlchemy (NullPool, {args.sqlalchemy_driver}), one thread per connection",
            )

    step("")
    results["durations_s"] = durations
    rows = report.rows(results)
    results["table"] = [{**vars(row), "verdict": row.verdict} for row in rows]
    print_details(results, args)
    print()
    print(report.table(rows))
    if args.markdown:
        for block in report.doc_blocks(report.recorded(results)).values():
            print(f"\n{block.strip()}")
    if args.write_docs:
        for path in report.write_docs(results):
            print(f"wrote {path}", file=sys.stderr)
    if args.json:
        text = json.dumps(results, indent=2, default=str)
        if str(args.json) == "-":
            print(text)
        else:
            args.json.write_text(text)
    return 0 if all(row.passed is not False for row in rows) else 1


def print_details(results: dict[str, Any], args: argparse.Namespace) -> None:
    w = print
    w(f"aurora-ssl connection benchmark ({results['machine']})")
    d = results["drivers"]
    w(f"drivers: raw psycopg2; SQLAlchemy {d['sqlalchemy']}; Django {d['django']}")
    w("floor: verify-full + the server's root only (1 cert); recipe: verify-full + the full RDS")
    w("bundle (103); ours: aurora-ssl given that bundle as its source (trims it per region)")
    cold_results = results.get("cold")
    if cold_results:
        w("")
        w(
            f"1. cold start: fresh process (start Python, connect, SELECT 1, exit), "
            f"{args.cold_rounds} interleaved runs per variant, medians"
        )
        w("   ours = 2nd+ process on the machine (trust cache filled by an earlier process);")
        w("   ours-first = very first process (cache directory does not exist yet)")
        w(
            f"   {'group':<11} {'variant':<11} {'wall ms':>8} {'CPU ms':>8} {'peak RSS MiB':>13}"
            f" {'modules':>8}  X.509 parser loaded"
        )
        for group, g in cold_results["groups"].items():
            for kind, v in g["variants"].items():
                w(
                    f"   {group:<11} {kind:<11} {v['wall_ms']:>8.1f} {v['cpu_ms']:>8.1f} "
                    f"{v['maxrss_mib']:>13.1f} {v['modules']:>8.0f}  "
                    f"{'yes' if v['x509_parser_loaded'] else 'no'}"
                )
        w(
            f"   (peak RSS from wait4 in a launcher whose own peak is "
            f"{cold_results['launcher_maxrss_mib']:.1f} MiB)"
        )
    if "variants" in results:
        w("")
        w(
            f"3. warm: new connection + SELECT 1 + close in one process, {args.rounds} "
            f"interleaved rounds (+{args.warmup} warm-up)"
        )
        w(f"   {'variant':<20} {'median ms':>9} {'p25-p75 ms':>13}")
        for name, v in results["variants"].items():
            w(f"   {name:<20} {v['median_ms']:>9.2f} {v['p25_ms']:>6.2f}-{v['p75_ms']:<6.2f}")
        imp = results["import"]
        w(
            f"   import aurora_ssl: +{imp['over_driver_ms']:.1f} ms over import psycopg2 "
            f"({imp['driver_ms']:.1f} -> {imp['with_import_ms']:.1f} ms); "
            f"-X importtime {imp['importtime_cumulative_ms']:.1f} ms"
        )
    rt = results.get("round_trips")
    if rt:
        low, high = (f"{x:g}" for x in rt["rtts_ms"])
        cal = rt["calibrated_rtt_ms"]
        w("")
        w(
            f"4. round trips through the loopback latency proxy (RTT {low} and {high} ms; one "
            f"round trip as measured: {cal[low]:.2f} / {cal[high]:.2f} ms)"
        )
        w(
            f"   {'connect + SELECT 1 + close':<32} {'wall@' + low:>9} {'wall@' + high:>10} "
            f"{'wall/RTT@' + high:>12} {'slope':>6} {'counted':>8}"
        )
        for name, p in rt["probes"].items():
            counted = ",".join(str(c) for c in p["round_trips_counted"])
            w(
                f"   {name:<32} {p['wall_ms'][low]:>9.1f} {p['wall_ms'][high]:>10.1f} "
                f"{p['wall_over_rtt'][high]:>12.2f} {p['round_trips_slope']:>6.2f} {counted:>8}"
            )
        w(
            "   slope = (wall@20 - wall@1) / (RTT@20 - RTT@1); counted = client flights the "
            "server answered, per connection, seen by the proxy. TCP's handshake is not delayed."
        )
    check = results.get("check")
    if check:
        command = check["round_trips_django_command"]
        w(
            f"   server_tls() sends: {', '.join(check['messages_sent'])}"
            + (
                f"; manage.py check_aurora_ssl: {'; '.join(command['statements'])}"
                if command
                else ""
            )
        )
    aws = results.get("aws_wrapper")
    if aws:
        w("")
        if "skipped" in aws:
            w(f"5. aws-advanced-python-wrapper: skipped ({aws['skipped']})")
        else:
            ms = aws["warm_ms"]
            imp = aws["import_ms"]
            w(
                f"5. aws-advanced-python-wrapper {aws['version']} ({aws['venv']}, psycopg 3, host "
                f"{aws['host']}), warm medians of {aws['rounds']}:"
            )
            w(
                f"   psycopg floor {ms['floor']:.2f} ms, wrapper default plugins "
                f"{ms['default']:.2f} ms, no plugins {ms['minimal']:.2f} ms"
            )
            for line in aws_wrapper.summary(aws)[1:]:
                w(f"  {line}")
            w(
                f"   import: psycopg {imp['wrapper venv']['psycopg']:.0f} ms -> + wrapper "
                f"{imp['wrapper venv']['psycopg + wrapper']:.0f} ms "
                f"(+{aws['import_wrapper_over_driver_ms']:.0f} ms); ours: psycopg "
                f"{imp['our venv']['psycopg']:.0f} ms -> + aurora_ssl connect path "
                f"{imp['our venv']['psycopg + aurora_ssl']:.0f} ms "
                f"(+{aws['import_ours_over_driver_ms']:.0f} ms)"
            )
    st = results.get("storm")
    if st:
        w("")
        w(
            f"6. storm: {st['size']} concurrent new connections ({st['via']}; batches of "
            f"{st['batch']}), median of {st['repeats']}:"
        )
        for kind in ("floor", "recipe", "ours"):
            w(f"   {kind:<7} wall {st[kind]['wall_s']:.2f} s, client CPU {st[kind]['cpu_s']:.2f} s")
    durations = results.get("durations_s", {})
    if durations:
        w("")
        w("time per section: " + ", ".join(f"{k} {v:.0f} s" for k, v in durations.items()))


if __name__ == "__main__":
    sys.exit(main())
