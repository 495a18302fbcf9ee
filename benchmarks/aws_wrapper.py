"""aws-advanced-python-wrapper, with and without aurora-ssl's plugin (``aurora_ssl.aws_wrapper``).

The wrapper is an optional extra (``aurora-ssl[aws-wrapper]``, in the ``test`` extra too): the
child runs in this interpreter when it has the wrapper, else :func:`ensure_venv` creates a
separate virtualenv under the benchmark's cache directory (``$AURORA_SSL_BENCH_CACHE``, else
``$XDG_CACHE_HOME/aurora-ssl-bench``, else ``~/.cache/aurora-ssl-bench``) and pip-installs the
wrapper, psycopg 3 and aurora-ssl's dependencies there, once (aurora-ssl itself from this
checkout, on ``PYTHONPATH``). If that fails (no network, no wheel), the section is skipped
with the reason printed.

Two measurements side by side: a warm connect (median), and a failover's time from the
writer's shutdown to the first query that succeeds on the new writer (an Aurora-like cluster
of the child's own; aws_wrapper_child.py says how).

It connects to the server's *instance* endpoint name: for a cluster endpoint its default
plugins ask Aurora's topology functions (``aurora_replica_status()``), which a plain
PostgreSQL does not have, and refuse to connect. So the default plugin set measured here
skips the topology queries a real Aurora cluster would add: a lower bound of its cost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, Target, median, paired_ratio

CHILD = Path(__file__).resolve().parent / "aws_wrapper_child.py"
REQUIREMENTS = ("aws-advanced-python-wrapper", "psycopg[binary]", "certifi", "cryptography")


def cache_root() -> Path:
    configured = os.environ.get("AURORA_SSL_BENCH_CACHE")
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "aurora-ssl-bench"


def ensure_venv(base_python: str) -> tuple[Path | None, str]:
    """The wrapper venv's python, or None and why not."""
    version = f"{sys.version_info.major}{sys.version_info.minor}"
    venv = cache_root() / f"aws-wrapper-py{version}"
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    wanted = " ".join(REQUIREMENTS)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python, "cached"
    print(f"creating {venv} (aws-advanced-python-wrapper, once) ...", file=sys.stderr)
    try:
        subprocess.run([base_python, "-m", "venv", "--clear", str(venv)], check=True, timeout=120)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                *REQUIREMENTS,
            ],
            check=True,
            timeout=600,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or "").strip().splitlines()[-1:] or [str(exc)]
        return None, f"pip could not install {wanted}: {tail[0]}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"could not create the wrapper venv at {venv}: {exc}"
    stamp.write_text(wanted)
    return python, "installed now"


def import_times(python: str, statements: dict[str, str], runs: int) -> dict[str, float]:
    """Median wall time (ms) of ``python -c STATEMENT`` per name, interleaved."""
    samples: dict[str, list[float]] = {name: [] for name in statements}
    for _ in range(runs):
        for name, code in statements.items():
            start = time.perf_counter()
            subprocess.run([python, "-c", code], check=True, cwd=ROOT)
            samples[name].append(time.perf_counter() - start)
    return {name: median(s) * 1000 for name, s in samples.items()}


def _python() -> tuple[Path | None, str]:
    """This interpreter when it has the wrapper, else the benchmark's own venv."""
    import importlib.util

    if importlib.util.find_spec("aws_advanced_python_wrapper") is not None:
        return Path(sys.executable), "this venv"
    return ensure_venv(sys.executable)


def _child(python: Path, env: dict[str, str], mode: str, rounds: int) -> dict[str, Any] | str:
    """The child's JSON, or why it failed."""
    done = subprocess.run(
        [str(python), str(CHILD), mode, str(rounds)],
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=ROOT,
    )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
        return f"the wrapper's {mode} run failed: {tail[0][:300]}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def measure(
    target: Target, env: dict[str, str], rounds: int, import_runs: int, failovers: int = 5
) -> dict[str, Any]:
    python, how = _python()
    if python is None:
        return {"skipped": how}
    from aurora_ssl.testing import INSTANCE_HOST

    env = {**env, "BENCH_HOST": INSTANCE_HOST}
    data = _child(python, env, "warm", rounds)
    if isinstance(data, str):
        return {"skipped": data}
    samples: dict[str, list[float]] = data["samples"]
    floor = samples["floor"]
    out: dict[str, Any] = {
        "venv": how,
        "version": data["version"],
        "host": INSTANCE_HOST,
        "driver": "psycopg 3",
        "rounds": rounds,
        "warm_ms": {name: median(s) * 1000 for name, s in samples.items()},
    }
    for name in ("default", "minimal"):
        out[f"{name}_vs_floor"] = median(samples[name]) / median(floor)
        out[f"{name}_vs_floor_paired"] = paired_ratio(samples[name], floor)
        out[f"{name}_ours_vs_without"] = median(samples[f"{name}+ours"]) / median(samples[name])
        out[f"{name}_ours_vs_without_paired"] = paired_ratio(samples[f"{name}+ours"], samples[name])
    if failovers:
        fail = _child(python, env, "failover", failovers)
        if isinstance(fail, str):
            out["failover_skipped"] = fail
        else:
            times = fail["samples"]
            out["failover_ms"] = {name: median(s) * 1000 for name, s in times.items()}
            out["failover_rounds"] = failovers
            out["failover_ours_vs_without"] = median(times["wrapper+ours"]) / median(
                times["wrapper"]
            )
    wrapper_imports = import_times(
        str(python),
        {
            "psycopg": "import psycopg",
            "psycopg + wrapper": "import psycopg, aws_advanced_python_wrapper",
        },
        import_runs,
    )
    ours_imports = import_times(
        sys.executable,
        {
            "psycopg": "import psycopg",
            "psycopg + aurora_ssl": "import psycopg; from aurora_ssl import connection_params",
        },
        import_runs,
    )
    out["import_ms"] = {"wrapper venv": wrapper_imports, "our venv": ours_imports}
    out["import_wrapper_over_driver_ms"] = (
        wrapper_imports["psycopg + wrapper"] - wrapper_imports["psycopg"]
    )
    out["import_wrapper_vs_driver"] = (
        wrapper_imports["psycopg + wrapper"] / wrapper_imports["psycopg"]
    )
    out["import_ours_over_driver_ms"] = (
        ours_imports["psycopg + aurora_ssl"] - ours_imports["psycopg"]
    )
    out["import_ours_vs_driver"] = ours_imports["psycopg + aurora_ssl"] / ours_imports["psycopg"]
    return out


def summary(aws: dict[str, Any]) -> list[str]:
    """The side-by-side lines: the wrapper with and without aurora-ssl's plugin."""
    ms = aws["warm_ms"]
    lines = [
        f"aws-advanced-python-wrapper {aws['version']} ({aws['venv']}), warm medians of "
        f"{aws['rounds']} connects (ms): psycopg floor {ms['floor']:.2f}",
    ]
    for name in ("default", "minimal"):
        lines.append(
            f"  {name} plugins: {ms[name]:.2f} without, {ms[name + '+ours']:.2f} with aurora-ssl's "
            f"plugin: {aws[name + '_ours_vs_without']:.2f}x "
            f"(paired {aws[name + '_ours_vs_without_paired']:.2f}x)"
        )
    if "failover_ms" in aws:
        fo = aws["failover_ms"]
        lines.append(
            f"  failover, writer shutdown to the first good query (median of "
            f"{aws['failover_rounds']}): {fo['wrapper']:.0f} ms without, "
            f"{fo['wrapper+ours']:.0f} ms with: {aws['failover_ours_vs_without']:.2f}x"
        )
    elif "failover_skipped" in aws:
        lines.append(f"  failover: skipped ({aws['failover_skipped']})")
    return lines


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.aws_wrapper [ROUNDS [FAILOVERS]]``: this section alone."""
    import tempfile

    from benchmarks import cold
    from benchmarks.common import aurora_like_server

    args = sys.argv[1:] if argv is None else argv
    rounds = int(args[0]) if args else 100
    failovers = int(args[1]) if len(args) > 1 else 5
    with aurora_like_server(100) as target, tempfile.TemporaryDirectory() as cache:
        env = cold.child_env(target, "psycopg", Path(cache))
        aws = measure(target, env, rounds, 3, failovers)
    if "skipped" in aws:
        print(f"skipped: {aws['skipped']}")
        return 1
    print("\n".join(summary(aws)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
