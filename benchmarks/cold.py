"""Cold start: whole fresh processes (start Python, connect verify-full, ``SELECT 1``, exit).

Each process is :mod:`benchmarks.cold_child`, spawned by a small launcher process that
times it from spawn to exit and reads its peak memory from ``wait4`` (``ru_maxrss``). The
launcher exists because Linux carries the spawning process's peak RSS into the child's
``ru_maxrss`` across ``exec``: spawned straight from this (large) benchmark process, every
child would report the benchmark's own peak. The launcher is a bare interpreter, smaller
than any child, so what it reads is the child's own peak.

Trust cache state, per framework group (each group is a separate "machine"):

* ``ours``: the cache directory a previous process of the same program already filled,
  i.e. the second and every later process on a machine (a gunicorn worker, the next cron
  run, the next ``manage.py`` command). This is the state checked against the target.
* ``ours-first``: a cache directory that does not exist yet: the very first process on a
  fresh machine or container (nothing materialised, nothing indexed). Reported, not decision.

Every round runs each variant once in a freshly shuffled order; one untimed round first
loads files into the page cache and compiles bytecode (as ``pip install`` would have).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, Target, median, paired_ratio

CHILD = Path(__file__).resolve().parent / "cold_child.py"
GROUPS = ("psycopg2", "sqlalchemy", "django")
KINDS = ("floor", "recipe", "ours", "ours-first")

LAUNCHER = r"""
import json, os, sys, time
for line in sys.stdin:
    job = json.loads(line)
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, job["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
        (os.POSIX_SPAWN_OPEN, 2, job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
    ]
    start = time.perf_counter()
    pid = os.posix_spawn(job["argv"][0], job["argv"], job["env"], file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    print(json.dumps({
        "wall_s": wall,
        "maxrss_kib": usage.ru_maxrss,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "exit": os.waitstatus_to_exitcode(status),
    }), flush=True)
# Its own peak (VmHWM: ru_maxrss would include what the benchmark process had before exec).
with open("/proc/self/status") as status:
    hwm = [line.split()[1] for line in status if line.startswith("VmHWM:")]
print(json.dumps({"launcher_maxrss_kib": int(hwm[0]) if hwm else 0}))
"""


class Launcher:
    """A bare interpreter that spawns and measures one child per request."""

    def __init__(self, python: str) -> None:
        self.proc = subprocess.Popen(
            [python, "-c", LAUNCHER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.stderr = tempfile.NamedTemporaryFile(prefix="bench-child-", suffix=".err")  # noqa: SIM115
        self.stdout = tempfile.NamedTemporaryFile(prefix="bench-child-", suffix=".out")  # noqa: SIM115

    def run(self, argv: list[str], env: dict[str, str]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        job = {"argv": argv, "env": env, "stderr": self.stderr.name, "stdout": self.stdout.name}
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        result: dict[str, Any] = json.loads(self.proc.stdout.readline())
        if result["exit"] != 0:
            err = Path(self.stderr.name).read_text(errors="replace")[-2000:]
            raise RuntimeError(f"cold-start child {argv[2:]} exited {result['exit']}:\n{err}")
        said = Path(self.stdout.name).read_text().split()
        if len(said) == 2:  # benchmarks.cold_child.report()
            result["modules"], result["x509_parser"] = int(said[0]), said[1] == "1"
        return result

    def close(self) -> int:
        """Stops the launcher; returns its own peak RSS (KiB), which children never exceed."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.close()
        tail = self.proc.stdout.read().strip().splitlines()
        self.proc.wait()
        self.stderr.close()
        self.stdout.close()
        return int(json.loads(tail[-1])["launcher_maxrss_kib"]) if tail else 0


def child_env(target: Target, sa_driver: str, cache: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PG", "AURORA_SSL_", "DJANGO_", "BENCH_"))
    }
    env.update(
        BENCH_HOST=target.host,
        BENCH_HOSTADDR=target.hostaddr,
        BENCH_PORT=str(target.port),
        BENCH_USER=target.user,
        BENCH_PASSWORD=target.password,
        BENCH_DB=target.database,
        BENCH_ROOT=str(target.root_path),
        BENCH_BUNDLE=str(target.bundle_path),
        BENCH_SA_DRIVER=sa_driver,
        AURORA_SSL_CACHE_DIR=str(cache),
    )
    return env


PACKAGES = ("aurora_ssl", "django_aurora_ssl")


def _compile_bytecode(python: str) -> None:
    """Write the packages' ``.pyc`` files, as ``pip install`` of a wheel does.

    A checkout installed in editable mode has none, and with ``PYTHONDONTWRITEBYTECODE`` set
    (as on this machine) every fresh process would compile aurora-ssl from source while the
    floor's driver is read from its installed bytecode: a cost no installed user pays.
    """
    subprocess.run(
        [
            python,
            "-m",
            "compileall",
            "-q",
            str(ROOT / "aurora_ssl"),
            str(ROOT / "django_aurora_ssl"),
        ],
        check=True,
        capture_output=True,
    )


def measure(
    target: Target, python: str, sa_driver: str, rounds: int, groups: list[str], seed: int
) -> dict[str, Any]:
    """``rounds`` interleaved fresh processes per (group, kind); medians and ratios."""
    rng = random.Random(seed)  # noqa: S311 - an order, not a secret
    _compile_bytecode(python)
    launcher = Launcher(python)
    samples: dict[tuple[str, str], list[dict[str, Any]]] = {
        (g, k): [] for g in groups for k in KINDS
    }
    with tempfile.TemporaryDirectory(prefix="aurora-ssl-bench-cold-") as scratch:
        base = Path(scratch)
        # One "machine" per group: its cache directory survives between its processes.
        machine = {g: base / g / "cache" for g in groups}
        fresh = iter(range(1_000_000))

        def run(group: str, kind: str) -> dict[str, Any]:
            if kind == "ours-first" or kind == "warm-up":
                cache = base / f"fresh-{next(fresh)}" / "aurora-ssl"  # does not exist yet
            else:
                cache = machine[group]
            env = child_env(target, sa_driver, cache)
            real_kind = "ours" if kind in ("ours-first", "warm-up") else kind
            return launcher.run([python, str(CHILD), group, real_kind], env)

        for group in groups:  # untimed: page cache, bytecode
            for kind in ("floor", "recipe", "warm-up"):
                run(group, kind)
            run(group, "ours")  # the first process on this group's machine fills its cache
        order = list(samples)
        for _ in range(rounds):
            rng.shuffle(order)
            for group, kind in order:
                samples[(group, kind)].append(run(group, kind))
    launcher_kib = launcher.close()
    return summarise(samples, groups, launcher_kib)


def summarise(
    samples: dict[tuple[str, str], list[dict[str, Any]]], groups: list[str], launcher_kib: int
) -> dict[str, Any]:
    out: dict[str, Any] = {"launcher_maxrss_mib": launcher_kib / 1024, "groups": {}}
    for group in groups:
        walls = {k: [s["wall_s"] for s in samples[(group, k)]] for k in KINDS}
        rss = {k: [s["maxrss_kib"] / 1024 for s in samples[(group, k)]] for k in KINDS}
        cpu = {k: [s["cpu_s"] for s in samples[(group, k)]] for k in KINDS}
        modules = {k: [s.get("modules", 0) for s in samples[(group, k)]] for k in KINDS}
        x509 = {k: any(s.get("x509_parser") for s in samples[(group, k)]) for k in KINDS}
        floor_ms = median(walls["floor"]) * 1000
        entry: dict[str, Any] = {
            "n": len(walls["floor"]),
            "variants": {
                k: {
                    "wall_ms": median(walls[k]) * 1000,
                    "cpu_ms": median(cpu[k]) * 1000,
                    "maxrss_mib": median(rss[k]),
                    "modules": median(modules[k]),
                    "x509_parser_loaded": x509[k],
                }
                for k in KINDS
            },
        }
        for k in ("recipe", "ours", "ours-first"):
            key = k.replace("-", "_")
            entry[f"{key}_vs_floor"] = median(walls[k]) * 1000 / floor_ms
            entry[f"{key}_vs_floor_paired"] = paired_ratio(walls[k], walls["floor"])
            entry[f"{key}_extra_mib"] = median(rss[k]) - median(rss["floor"])
        entry["ours_vs_recipe"] = median(walls["ours"]) / median(walls["recipe"])
        entry["ours_vs_recipe_paired"] = paired_ratio(walls["ours"], walls["recipe"])
        # CPU time of the child: less disturbed than wall time when other work shares the cores.
        entry["ours_cpu_vs_floor"] = median(cpu["ours"]) / median(cpu["floor"])
        out["groups"][group] = entry
    return out


if __name__ == "__main__":  # a quick look on its own: python -m benchmarks.cold
    from benchmarks.common import aurora_like_server

    with aurora_like_server(40) as t:
        print(json.dumps(measure(t, sys.executable, "psycopg2", 5, list(GROUPS), 1), indent=2))
