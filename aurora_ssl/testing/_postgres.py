"""Finding, preparing and running PostgreSQL for the test server: binaries, accounts, template.

Why a module of its own: none of this knows about certificates or scenarios. It answers "where
are initdb/postgres/psql", "which OS user runs the server" (PostgreSQL refuses root), "where do
throwaway clusters go" (RAM if there is room) and "how does a cluster start in a fraction of a
second" (``initdb`` once per process into a template that every server copies).
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import re
import shutil
import signal
import socket
import ssl
import stat
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aurora_ssl.errors import TestServerError
from aurora_ssl.testing._pki import CLUSTER_HOST

_SUPERUSER = "postgres"
_BINARIES = ("initdb", "postgres", "psql")
_BINDIR_ENV = "AURORA_SSL_PG_BINDIR"
_VERSION_ENV = "AURORA_SSL_PG_VERSION"
_TMPDIR_ENV = "AURORA_SSL_PG_TMPDIR"
_MIN_SHM_FREE = 1 << 30  # leave Docker's 64 MB /dev/shm to PostgreSQL's shared memory
_INSTALL_HINT = (
    "Install the PostgreSQL server and contrib packages, e.g. "
    "`apt-get install postgresql postgresql-contrib` (Debian/Ubuntu), "
    "`dnf install postgresql-server postgresql-contrib` (Fedora/RHEL) or "
    "`brew install postgresql` (macOS), or set "
    f"{_BINDIR_ENV} to the directory that holds initdb, postgres and psql, or "
    f"{_VERSION_ENV} to a major version (e.g. 17) to download."
)
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 30.0
_PORT_ATTEMPTS = 5


def _binaries_missing_error(searched: Sequence[str]) -> TestServerError:
    lines = "\n".join(f"  - {item}" for item in searched) or "  - (nothing to search)"
    return TestServerError(
        f"PostgreSQL server binaries ({', '.join(_BINARIES)}) were not found; "
        "aurora_ssl.testing runs a throwaway local server with them.\n"
        f"Searched (in this order):\n{lines}\n{_INSTALL_HINT}"
    )


def _start_failed_error(what: str, log_path: Path, detail: str = "") -> TestServerError:
    return TestServerError(
        f"{what}{': ' + detail if detail else ''}\n"
        f"Last lines of the server log ({log_path}):\n{_tail(log_path)}"
    )


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"  (log unreadable: {exc})"
    return "\n".join(f"  | {line}" for line in text.splitlines()[-lines:]) or "  (empty)"


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path))


def _find_bindir() -> Path:
    """Locate the directory with ``initdb``, ``postgres`` and ``psql``.

    Searched in order: ``$AURORA_SSL_PG_BINDIR`` (when set, the only place looked at, so a
    test or CI job can pin a build), ``$AURORA_SSL_PG_VERSION`` (a version downloaded with
    :func:`~aurora_ssl.testing.fetch_server`), ``pg_config --bindir``,
    ``/usr/lib/postgresql/*/bin`` (newest first: Debian and Ubuntu keep the server out of
    PATH), then PATH.

    Raises:
        TestServerError: nothing found; the message lists every place searched and how to
            install the binaries.
    """
    candidates: list[tuple[str, Path]] = []
    searched: list[str] = []
    pinned = os.environ.get(_BINDIR_ENV)
    version = os.environ.get(_VERSION_ENV)
    if pinned:
        candidates.append((f"${_BINDIR_ENV}", Path(pinned)))
    elif version:
        from aurora_ssl.testing._builds import fetch_server

        try:
            candidates.append((f"${_VERSION_ENV}", fetch_server(version)))
        except ValueError as exc:
            raise TestServerError(f"${_VERSION_ENV}: {exc}") from None
    else:
        pg_config = shutil.which("pg_config")
        if pg_config is None:
            searched.append("pg_config --bindir: pg_config is not on PATH")
        else:
            try:
                out = subprocess.run(
                    [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
                ).stdout.strip()
            except (OSError, subprocess.SubprocessError) as exc:
                searched.append(f"pg_config --bindir: failed ({exc})")
            else:
                candidates.append(("pg_config --bindir", Path(out)))
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
        if not found:
            searched.append("/usr/lib/postgresql/*/bin: no such directory")
        candidates.extend(("/usr/lib/postgresql/*/bin", Path(d)) for d in found)
        on_path = shutil.which("postgres")
        if on_path is None:
            searched.append("PATH: no postgres executable")
        else:
            candidates.append(("PATH", Path(on_path).parent))
    for label, directory in candidates:
        missing = [b for b in _BINARIES if not os.access(directory / b, os.X_OK)]
        if not missing:
            return directory
        searched.append(f"{label} -> {directory}: missing {', '.join(missing)}")
    raise _binaries_missing_error(searched)


@dataclass(frozen=True)
class _Account:
    """The OS user the server runs as: PostgreSQL refuses to run as root."""

    name: str
    uid: int
    gid: int

    def popen_kwargs(self) -> dict[str, Any]:
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def _server_account() -> _Account | None:
    """``None`` means "run as ourselves"; as root, the ``postgres`` user."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(_SUPERUSER)
    except KeyError:
        raise TestServerError(
            "Running as root, and PostgreSQL refuses to run as root, but there is no "
            f"'{_SUPERUSER}' OS user to run it as. Run the tests as an unprivileged user, or "
            f"create the user (installing the server package does): {_INSTALL_HINT}"
        ) from None
    return _Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _traversable_by_others(directory: Path) -> bool:
    path = directory.resolve()
    for part in (path, *path.parents):
        try:
            if not part.stat().st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def _base_dir(account: _Account | None) -> Path:
    """Where server directories go: RAM if there is room, since nothing here must survive.

    Copying the template to a busy disk takes ~10x longer than to tmpfs (0.8 s vs 0.08 s
    measured under load). ``$AURORA_SSL_PG_TMPDIR`` overrides the choice. As root, the
    directory must be reachable by the server user, which rules out private temp dirs.
    """
    override = os.environ.get(_TMPDIR_ENV)
    if override:
        return Path(override)
    candidates: list[Path] = []
    shm = Path("/dev/shm")  # noqa: S108 - mkdtemp below makes a private directory in it
    try:
        usage = os.statvfs(shm)
        if os.access(shm, os.W_OK) and usage.f_bavail * usage.f_frsize >= _MIN_SHM_FREE:
            candidates.append(shm)
    except OSError:
        pass  # no /dev/shm (macOS): use the temp dir
    candidates.append(Path(tempfile.gettempdir()))
    candidates.append(Path("/tmp"))  # noqa: S108 - a world-traversable parent for the server user
    for candidate in candidates:
        if account is None or _traversable_by_others(candidate):
            return candidate
    who = account.name if account else "server"
    raise TestServerError(
        f"No temporary directory the '{who}' user can reach (tried "
        f"{', '.join(map(str, candidates))}); set {_TMPDIR_ENV} to one."
    )


def _make_workdir(prefix: str, account: _Account | None) -> Path:
    """A private temporary directory the server user owns."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=_base_dir(account)))
    if account is not None:
        os.chown(workdir, account.uid, account.gid)
    return workdir


_SOCKET_PATH_MAX = 107  # sun_path (108 bytes on Linux) less the terminating NUL


def _kept_workdir(directory: Path, account: _Account | None) -> Path:
    """A directory for a cluster kept between runs: created private, owned by the server user.

    Raises:
        TestServerError: the server user could not reach it, or its path is too long for the
            Unix socket PostgreSQL puts there.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    socket_path = directory / ".s.PGSQL.65535"
    if len(os.fsencode(socket_path)) > _SOCKET_PATH_MAX:
        raise TestServerError(
            f"The data directory path {directory} is too long for PostgreSQL's Unix socket "
            f"(at most {_SOCKET_PATH_MAX - len('/.s.PGSQL.65535')} bytes); choose a shorter one."
        )
    if account is not None:
        if not _traversable_by_others(directory.parent):
            raise TestServerError(
                f"The '{account.name}' user, which runs the server, cannot reach {directory}: "
                "a parent directory is not searchable by others; choose another directory or "
                "make its parents searchable (chmod o+x)."
            )
        os.chown(directory, account.uid, account.gid)
    return directory


def _chown_tree(root: Path, account: _Account | None) -> None:
    if account is None:
        return
    os.chown(root, account.uid, account.gid, follow_symlinks=False)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in itertools.chain(dirnames, filenames):
            os.chown(os.path.join(dirpath, name), account.uid, account.gid, follow_symlinks=False)


def _clean_env() -> dict[str, str]:
    """Our environment without PG* variables: a test's PGSSLMODE must not steer our setup."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _conf_value(value: str) -> str:
    """Quote for postgresql.conf, whose parser also reads backslash escapes."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _conninfo_value(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


_TEMPLATE_ROLE = "app"
_TEMPLATE_DATABASE = "app"
_templates: dict[tuple[Path, int | None], Path] = {}
_templates_lock = threading.Lock()


def _run_as_server(
    command: Sequence[str], account: _Account | None, cwd: Path, stdin: str = ""
) -> str:
    """Run a server-side tool as the server user; returns its output, raises on failure."""
    kwargs = account.popen_kwargs() if account else {}
    try:
        result: subprocess.CompletedProcess[str] = subprocess.run(
            list(command),
            input=stdin,
            capture_output=True,
            text=True,
            cwd=cwd,
            env=_clean_env(),
            timeout=120,
            check=False,
            **kwargs,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise TestServerError(f"could not run {' '.join(command)}: {exc}") from exc
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0 or "\nERROR:" in f"\n{output}" or "FATAL:" in output:
        raise TestServerError(
            f"{' '.join(command)} failed (exit code {result.returncode}):\n{output}"
        )
    return output


def _template(bindir: Path, account: _Account | None) -> Path:
    """A data directory made once per process and copied by every server.

    ``initdb`` is the slow part of a throwaway server, and ``CREATE DATABASE`` the next one, so
    both happen here: the template already holds a role and database named ``app`` (renamed
    and given a password per server), and ``sslinfo`` in ``template1`` and ``app``.
    ``--wal-segsize=1`` keeps the copy small (1 MB of WAL
    instead of 16 MB); ``FILE_COPY`` keeps the new database out of the WAL.
    """
    key = (bindir, account.uid if account else None)
    with _templates_lock:
        cached = _templates.get(key)
        if cached is not None and cached.is_dir():
            return cached
        if account is not None and not _traversable_by_others(bindir):
            raise TestServerError(
                f"The '{account.name}' user, which runs the server, cannot reach {bindir}: a "
                "parent directory is not searchable by others. Put the build where every user "
                f"can reach it (e.g. AURORA_SSL_PG_CACHE=/var/cache/aurora-ssl/postgresql) or "
                "make its parents searchable (chmod o+x)."
            )
        workdir = _make_workdir("aurora-ssl-pg-template-", account)
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
        data = workdir / "data"
        initdb = [
            str(bindir / "initdb"),
            "--pgdata", str(data),
            "--username", _SUPERUSER,
            "--auth", "trust",
            "--encoding", "UTF8",
            "--locale", "C",
            "--wal-segsize", "1",
            "--no-sync",
        ]  # fmt: skip
        _run_as_server(initdb, account, workdir)
        # sslinfo goes into template1 first, so that `app` and every database created later
        # (a Django or pytest-django test database) can answer `SELECT ssl_is_used()`.
        # PostgreSQL 14 has no STRATEGY (it always copies files).
        strategy = "" if _major(data) < 15 else " STRATEGY = FILE_COPY"
        try:
            _run_as_server(
                [str(bindir / "postgres"), "--single", "-D", str(data), "-F", "template1"],
                account,
                workdir,
                stdin=(
                    "CREATE EXTENSION sslinfo\n"
                    f"CREATE ROLE {_sql_ident(_TEMPLATE_ROLE)} NOLOGIN\n"
                    f"CREATE DATABASE {_sql_ident(_TEMPLATE_DATABASE)} "
                    f"OWNER {_sql_ident(_TEMPLATE_ROLE)}{strategy}\n"
                ),
            )
        except TestServerError as exc:
            if "sslinfo" not in str(exc):
                raise
            raise TestServerError(
                f"{exc}\nThe sslinfo extension ships with the contrib package. {_INSTALL_HINT}"
            ) from exc
        with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# per-server settings written by aurora_ssl.testing\n")
            conf.write("include_if_exists = 'aurora_ssl.conf'\n")
        _templates[key] = data
        return data


_HBA_FORCE_SSL = """\
# TYPE    DATABASE    USER ADDRESS       METHOD
# Like RDS with rds.force_ssl = 1. The socket directory is private to this machine's owner;
# standbys of an AuroraLikeCluster replicate through it. samehost: the machine's other addresses
# (a server on eth0's address).
local     all         all                trust
local     replication all                trust
hostssl   all         all  127.0.0.0/8   scram-sha-256
hostssl   all         all  ::1/128       scram-sha-256
hostssl   all         all  samehost      scram-sha-256
hostnossl all         all  all           reject
"""

_HBA_ANY = """\
# TYPE    DATABASE USER ADDRESS       METHOD
# Like RDS with rds.force_ssl = 0: TLS if the client asks for it (and the server has it), else
# plaintext.
local     all      all                trust
host      all      all  127.0.0.0/8   scram-sha-256
host      all      all  ::1/128       scram-sha-256
host      all      all  samehost      scram-sha-256
"""


def _major(data_dir: Path) -> int:
    """The cluster's PostgreSQL major version (``PG_VERSION``: ``17``)."""
    return int((data_dir / "PG_VERSION").read_text().strip())


def _free_port(address: str) -> int:
    """A port the kernel just handed out; the start retries if someone takes it meanwhile."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port


def _served_certificate(address: str, port: int, timeout: float = 5.0) -> bytes | None:
    """The DER leaf certificate the server on ``port`` presents now (``None``: no TLS).

    Speaks just enough of the protocol (SSLRequest, then a TLS handshake without
    verification) to see which certificate new connections get.
    """
    with socket.create_connection((address, port), timeout=timeout) as sock:
        sock.sendall(struct.pack("!ii", 8, 80877103))
        if sock.recv(1) != b"S":
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # only reading which certificate is served
        with context.wrap_socket(sock, server_hostname=CLUSTER_HOST) as tls:
            return tls.getpeercert(binary_form=True)


# --------------------------------------------------------------------------------------------
# The server process

# Settings every test server shares: fast (nothing here must survive a machine crash), small,
# loopback only, SCRAM passwords and at least TLS 1.2 as on RDS.
_BASE_SETTINGS = {
    "shared_buffers": "16MB",
    "max_connections": "100",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "password_encryption": "scram-sha-256",
    "ssl_min_protocol_version": "TLSv1.2",
}


def _write_conf(data_dir: Path, settings: dict[str, str], account: _Account | None) -> None:
    """Write ``aurora_ssl.conf`` (included by the template's postgresql.conf); later wins."""
    merged = {**_BASE_SETTINGS, **settings}
    text = "".join(f"{name} = {_conf_value(value)}\n" for name, value in merged.items())
    path = data_dir / "aurora_ssl.conf"
    path.write_text(text, encoding="utf-8")
    if account is not None:
        os.chown(path, account.uid, account.gid)


def _spawn(
    bindir: Path, data_dir: Path, log_path: Path, account: _Account | None
) -> subprocess.Popen[bytes]:
    """Start the postmaster in the background, its output appended to ``log_path``."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [str(bindir / "postgres"), "-D", str(data_dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=data_dir.parent,
            env=_clean_env(),
            start_new_session=True,  # a Ctrl-C meant for us must not hit the server
            **(account.popen_kwargs() if account else {}),
        )


def _wait_ready(process: subprocess.Popen[bytes], data_dir: Path) -> bool:
    """Poll ``postmaster.pid`` for "ready" (what ``pg_ctl -w`` does, but every 5 ms).

    Returns:
        True when ready, False when the process exited first.

    Raises:
        TimeoutError: neither within ``_START_TIMEOUT`` seconds.
    """
    pid_file = data_dir / "postmaster.pid"
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            lines = pid_file.read_text().splitlines()
        except OSError:
            lines = []
        if len(lines) >= 8 and lines[0] == str(process.pid) and lines[7].strip() == "ready":
            return True
        time.sleep(0.005)
    raise TimeoutError


def _terminate(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """SIGQUIT = immediate, SIGINT = fast shutdown; kill if it hangs."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _run_psql(
    bindir: Path, params: dict[str, str], sql: str, log_path: Path, *, secret: str
) -> str:
    """Run a script as the superuser; returns its rows (unaligned, tuples only). Errors carry
    psql's text with ``secret`` masked."""
    conninfo = " ".join(f"{key}={_conninfo_value(value)}" for key, value in params.items())
    command = [str(bindir / "psql"), "-XqAt", "-v", "ON_ERROR_STOP=1", "-d", conninfo]
    result = subprocess.run(
        command,
        input=sql,
        capture_output=True,
        text=True,
        cwd=log_path.parent,
        env=_clean_env(),
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        detail = result.stderr.strip()
        if secret:
            detail = detail.replace(secret, "********")
        if "sslinfo" in detail:
            detail += f"\nThe sslinfo extension ships with the contrib package. {_INSTALL_HINT}"
        raise _start_failed_error(
            f"Setting up the test database failed (psql exit code {result.returncode})",
            log_path,
            detail,
        )
    return result.stdout
