"""aws-advanced-python-wrapper beside us, installed only in the benchmark's own venv.

The wrapper is never a dependency of aurora-ssl: :func:`ensure_venv` creates a separate
virtualenv under the benchmark's cache directory (``$AURORA_SSL_BENCH_CACHE``, else
``$XDG_CACHE_HOME/aurora-ssl-bench``, else ``~/.cache/aurora-ssl-bench``) and pip-installs
the wrapper and psycopg 3 there, once. If that fails (no network, no wheel), the section
is skipped with the reason printed.

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
REQUIREMENTS = ("aws-advanced-python-wrapper", "psycopg[binary]")


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


def measure(target: Target, env: dict[str, str], rounds: int, import_runs: int) -> dict[str, Any]:
    python, how = ensure_venv(sys.executable)
    if python is None:
        return {"skipped": how}
    from aurora_ssl.testing import INSTANCE_HOST

    env = {**env, "BENCH_HOST": INSTANCE_HOST}
    done = subprocess.run(
        [str(python), str(CHILD), "warm", str(rounds)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
    )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
        return {"skipped": f"the wrapper did not connect: {tail[0][:300]}"}
    data = json.loads(done.stdout)
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
