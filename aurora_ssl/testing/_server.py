"""The server: :class:`AuroraLikeServer` runs one :class:`Scenario` on loopback, RDS-like.

Why it exists: the failures aurora-ssl catches (a certificate for another host, a look-alike
CA, an expired certificate, no TLS) only show up in a real libpq handshake. This module ties
the PKI (:mod:`aurora_ssl.testing._pki`) to a PostgreSQL process configured the way RDS is
with ``rds.force_ssl = 1``. On the way it answers "where are initdb/postgres/psql", "which OS
user runs the server" (PostgreSQL refuses root), "where do throwaway clusters go" (RAM if
there is room) and "how does a server start in a fraction of a second" (``initdb`` once per
process into a template that every server copies).
"""

from __future__ import annotations

import atexit
import contextlib
import enum
import functools
import glob
import importlib.util
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from aurora_ssl.errors import TestServerError
from aurora_ssl.testing._builds import fetch_server
from aurora_ssl.testing._pki import _GOOD_NAMES, CLUSTER_HOST, OTHER_HOST, CAFamily, TestPKI

_SUPERUSER = "postgres"
_TEMPLATE = "app"  # the template's role and database, renamed for each server
_BINARIES = ("initdb", "postgres", "psql")
_BINDIR_ENV = "AURORA_SSL_PG_BINDIR"
_VERSION_ENV = "AURORA_SSL_PG_VERSION"
_TMPDIR_ENV = "AURORA_SSL_PG_TMPDIR"
_INSTALL_HINT = (
    "Install the PostgreSQL server and contrib packages, e.g. "
    "`apt-get install postgresql postgresql-contrib` (Debian/Ubuntu), "
    "`dnf install postgresql-server postgresql-contrib` (Fedora/RHEL) or "
    "`brew install postgresql` (macOS), or set "
    f"{_BINDIR_ENV} to the directory that holds initdb, postgres and psql, or "
    f"{_VERSION_ENV} to a major version (e.g. 17) to download."
)
_MIN_SHM_FREE = 1 << 30  # leave Docker's 64 MB /dev/shm to PostgreSQL's shared memory
_START_TIMEOUT = 30.0
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


class Scenario(str, enum.Enum):
    """What the server gets wrong (or right); each maps to one failure aurora-ssl must catch.

    - ``GOOD``: a trusted chain for the cluster, reader and instance names; ``sslinfo``.
    - ``WRONG_HOST``: a trusted chain, but only for :data:`OTHER_HOST`.
    - ``INTERCEPTION``: a look-alike CA (same names, other keys), as an intercepting proxy's.
    - ``EXPIRED``: a trusted chain for the right names, expired ten days ago.
    - ``NO_TLS``: ``ssl = off``; password logins over plain TCP (``rds.force_ssl = 0``).
    - ``NO_SSLINFO``: like GOOD, without ``sslinfo``: server-side checks use pg_stat_ssl.
    - ``TLS_OPTIONAL``: like GOOD, and plaintext password logins too (``rds.force_ssl = 0``).
    """

    GOOD = "good"
    WRONG_HOST = "wrong-host"
    INTERCEPTION = "interception"
    EXPIRED = "expired"
    NO_TLS = "no-tls"
    NO_SSLINFO = "no-sslinfo"
    TLS_OPTIONAL = "tls-optional"


# -- the machine: binaries, the OS user, directories, processes --------------------------------


def _find_bindir() -> Path:
    """Locate the directory with ``initdb``, ``postgres`` and ``psql``.

    Searched in order (``scripts/bootstrap.sh`` looks in the same order):
    ``$AURORA_SSL_PG_BINDIR`` (when set, the only place looked at, so a test or CI job can pin a
    build), ``$AURORA_SSL_PG_VERSION`` (a version downloaded with
    :func:`~aurora_ssl.testing.fetch_server`), ``pg_config --bindir``,
    ``/usr/lib/postgresql/*/bin`` (newest first: Debian and Ubuntu keep the server out of
    PATH), then PATH.

    Raises:
        TestServerError: nothing found; the message lists every place searched and how to
            install the binaries.
    """
    if pinned := os.environ.get(_BINDIR_ENV):
        candidates = [(f"${_BINDIR_ENV}", pinned)]
    elif version := os.environ.get(_VERSION_ENV):
        try:
            return fetch_server(version)
        except ValueError as exc:
            raise TestServerError(f"${_VERSION_ENV}: {exc}") from None
    else:
        debian = glob.glob("/usr/lib/postgresql/*/bin")
        debian.sort(key=lambda path: [int(n) for n in re.findall(r"\d+", path)], reverse=True)
        postgres, pg_config = shutil.which("postgres"), ""
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            pg_config = subprocess.check_output(["pg_config", "--bindir"], text=True).strip()
        candidates = [
            ("pg_config --bindir", pg_config),
            *[("/usr/lib/postgresql/*/bin", directory) for directory in debian or [""]],
            ("PATH", os.path.dirname(postgres) if postgres else ""),
        ]
    searched = []
    for label, directory in candidates:
        missing = [b for b in _BINARIES if not os.access(os.path.join(directory, b), os.X_OK)]
        if directory and not missing:
            return Path(directory)
        where = f"-> {directory}: missing {', '.join(missing)}" if directory else ": nothing there"
        searched.append(f"  - {label} {where}")
    lines = "\n".join(searched)
    raise TestServerError(
        f"PostgreSQL server binaries ({', '.join(_BINARIES)}) were not found; "
        "aurora_ssl.testing runs a throwaway local server with them.\n"
        f"Searched (in this order):\n{lines}\n{_INSTALL_HINT}"
    )


@functools.cache
def _account() -> pwd.struct_passwd | None:
    """The OS user the server runs as: ``None``, ourselves; as root, ``postgres`` (PostgreSQL
    refuses to run as root)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(_SUPERUSER)
    except KeyError:
        raise TestServerError(
            "Running as root, and PostgreSQL refuses to run as root, but there is no "
            f"'{_SUPERUSER}' OS user to run it as. Run the tests as an unprivileged user, or "
            f"create the user (installing the server package does): {_INSTALL_HINT}"
        ) from None


def _as_server() -> dict[str, Any]:
    """``subprocess`` arguments that run the child as the server's OS user, in an environment
    without our PG* variables (a test's PGSSLMODE must not steer the server or the setup)."""
    account = _account()
    ids = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []} if account else {}
    return {"env": {k: v for k, v in os.environ.items() if not k.startswith("PG")}, **ids}


def _chown(*paths: Path) -> None:
    if (account := _account()) is not None:
        for path in paths:
            os.chown(path, account.pw_uid, account.pw_gid, follow_symlinks=False)


def _require_reachable(path: Path, remedy: str) -> None:
    """The server's OS user must reach ``path``: as root, every directory on the way must be
    searchable by others."""
    if _account() is None:
        return
    with contextlib.suppress(OSError):
        if all(part.stat().st_mode & stat.S_IXOTH for part in (path, *path.resolve().parents)):
            return
    raise TestServerError(
        f"The '{_SUPERUSER}' user, which runs the server, cannot reach {path}: a parent "
        f"directory is not searchable by others. {remedy}"
    )


def _base_dir() -> Path:
    """Where server directories go: RAM if there is room, since nothing here must survive.

    Copying the template to a busy disk takes ~10x longer than to tmpfs (0.8 s vs 0.08 s
    measured under load). ``$AURORA_SSL_PG_TMPDIR`` overrides the choice. As root, the
    directory must be reachable by the server user, which rules out private temp dirs: then
    ``/tmp`` (``/dev/shm`` and ``/tmp`` are world-traversable; ``mkdtemp`` makes a private
    directory in them).
    """
    if override := os.environ.get(_TMPDIR_ENV):
        return Path(override)
    shm = Path("/dev/shm")  # noqa: S108
    with contextlib.suppress(OSError):  # no /dev/shm (macOS): the temp dir
        if shutil.disk_usage(shm).free >= _MIN_SHM_FREE and os.access(shm, os.W_OK):
            return shm
    return Path("/tmp") if _account() else Path(tempfile.gettempdir())  # noqa: S108


def _make_workdir(prefix: str) -> Path:
    """A private temporary directory the server user owns."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=_base_dir()))
    _chown(workdir)
    return workdir


def _new_pki(family: CAFamily, keep: Path | None = None) -> TestPKI:
    """A PKI of one's own, in ``keep/pki`` (its keys reused by the next run), else in a
    temporary directory that goes at exit."""
    if keep is None:
        keep = Path(tempfile.mkdtemp(prefix="aurora-ssl-pki-"))
        atexit.register(shutil.rmtree, keep, ignore_errors=True)
    return TestPKI.generate(keep / "pki", family)


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _run(command: Sequence[str], cwd: Path, *, stdin: str = "", secret: str = "") -> str:
    """Run a PostgreSQL tool as the server's OS user; its output, or an error with its words
    (``secret`` masked)."""
    try:
        result: subprocess.CompletedProcess[str] = subprocess.run(
            list(command),
            input=stdin,
            capture_output=True,
            text=True,
            cwd=cwd,
            timeout=120,
            **_as_server(),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise TestServerError(f"could not run {command[0]}: {exc}") from exc
    output = (result.stdout + result.stderr).strip()
    # postgres --single exits 0 after an ERROR
    if result.returncode != 0 or "\nERROR:" in f"\n{output}" or "FATAL:" in output:
        detail = output.replace(secret, "********") if secret else output
        if "sslinfo" in detail:
            detail += f"\nThe sslinfo extension ships with the contrib package. {_INSTALL_HINT}"
        name = Path(command[0]).name
        raise TestServerError(f"{name} failed (exit code {result.returncode}):\n{detail}")
    return result.stdout


def _poll(done: Callable[[], bool], timeout: float, interval: float = 0.005) -> bool:
    """Whether ``done()`` came true within ``timeout`` seconds, asked every ``interval``."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


@functools.cache  # two threads starting the first servers at once may both make one
def _template(bindir: Path) -> Path:
    """A data directory made once per process and copied by every server.

    ``initdb`` is the slow part of a throwaway server, and ``CREATE DATABASE`` the next one, so
    both happen here: the template already holds a role and database named ``app`` (renamed
    and given a password per server; CREATEDB like the RDS master user, so that Django's test
    runner can create ``test_<NAME>``), and ``sslinfo`` in ``template1`` (so every database
    created later, a Django test database too, answers ``SELECT ssl_is_used()``) and ``app``.
    ``--wal-segsize=1`` keeps the copy small (1 MB of WAL instead of 16 MB); ``FILE_COPY``
    keeps the new database out of the WAL (PostgreSQL 14 has no STRATEGY: it always copies).
    """
    _require_reachable(
        bindir,
        "Put the build where every user can reach it (e.g. "
        "AURORA_SSL_PG_CACHE=/var/cache/aurora-ssl/postgresql) or make its parents "
        "searchable (chmod o+x).",
    )
    workdir = _make_workdir("aurora-ssl-pg-template-")
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    data = workdir / "data"
    initdb = [str(bindir / "initdb"), "-D", str(data), "-U", _SUPERUSER, "-A", "trust"]
    initdb += ["-E", "UTF8", "--locale=C", "--wal-segsize=1", "--no-sync"]
    _run(initdb, workdir)
    strategy = "" if _major(data) < 15 else " STRATEGY = FILE_COPY"
    _run(
        [str(bindir / "postgres"), "--single", "-D", str(data), "-F", "template1"],
        workdir,
        stdin=(
            f"CREATE EXTENSION sslinfo\nCREATE ROLE {_TEMPLATE} LOGIN CREATEDB\n"
            f"CREATE DATABASE {_TEMPLATE} OWNER {_TEMPLATE}{strategy}\n"
        ),
    )
    return data


def _major(data_dir: Path) -> int:
    """The cluster's PostgreSQL major version (``PG_VERSION``: ``17``)."""
    return int((data_dir / "PG_VERSION").read_text().strip())


def _url_database(database: str) -> str:
    """The database as a URL holds it so that every SQLAlchemy 2.x reads it back: as is when
    both read it alike (no ``%`` and no ``?``: 2.0 takes it verbatim, 2.1 percent-decodes
    it), encoded only where the installed SQLAlchemy decodes it (asked, not guessed from a
    version number; without SQLAlchemy, the newer behaviour is the safe default)."""
    if "%" not in database and "?" not in database:
        return database
    try:
        from sqlalchemy.engine import make_url
    except ImportError:
        return quote(database, safe=" +/")
    if make_url("postgresql://h/%41").database == "A":
        return quote(database, safe=" +/")  # what SQLAlchemy 2.1 renders
    if "?" in database:
        raise ValueError(
            f"the database name {database!r} contains '?', which the installed SQLAlchemy "
            "cannot read from a URL; choose another name for the test database"
        )
    return database


# -- the server --------------------------------------------------------------------------------


class AuroraLikeServer:
    """A local PostgreSQL that presents an RDS-like certificate chain for the Aurora names.

    Args:
        scenario: which certificate/TLS configuration to run (see :class:`Scenario`).
        pki: the PKI to issue the server certificate from; share one between servers so one
            root file trusts them all. Default: a PKI of its own (:attr:`pki`), removed at
            exit.
        user: the application role (LOGIN, CREATEDB, SCRAM password, owner of ``database``).
        password: its password; random by default.
        database: the application database.
        settings: extra ``postgresql.conf`` settings (e.g. ``{"max_connections": "300"}``),
            applied last.
        port: a fixed TCP port; default 0: a free one, chosen at start.
        keep_dir: keep the server's files here between runs instead of in a throwaway
            directory (the server's in ``keep_dir/server``, owned by the server's OS user; the
            default PKI's in ``keep_dir/pki``, with its keys): an existing cluster is reused
            (only the role's password is set again), and :meth:`stop` shuts it down cleanly
            and keeps the files.
        ca_family: the CA family of the default PKI (``rsa2048``, ``rsa4096`` or ``ecc384``);
            a given ``pki`` has its own.
        bindir: the PostgreSQL build to run (e.g. :func:`~aurora_ssl.testing.fetch_server`'s);
            default: found as described in ``AURORA_SSL_PG_BINDIR``'s documentation.
        host: the name clients verify the certificate against (it does not resolve); the
            certificate names it unless the scenario says otherwise or :meth:`use_certificate`
            chose names.
        hostaddr: where clients connect (libpq ``hostaddr``) and the server listens: loopback
            by default; another address of this machine (e.g. eth0's) makes its clients'
            sessions non-loopback ones, as a remote client's are.
        postgis: create the PostGIS extension in ``database`` and in ``template1`` (so test
            databases have it too), as the RDS master user would.

    Raises:
        ValueError: a setting, port, user, password or database the server cannot have.
        TestServerError: no PostgreSQL build found (the message lists where it looked, and
            how to install one).

    Clients connect with :meth:`params` or :meth:`url` and pick the ``sslmode`` and
    ``sslrootcert`` under test; :meth:`admin_params` is a superuser over the Unix socket.
    Start, stop and change a server from one thread at a time.

    Attributes:
        pki: the PKI the server certificate comes from; ``pki.bundle_path`` is the trust file.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        scenario: Scenario | str = Scenario.GOOD,
        *,
        pki: TestPKI | None = None,
        user: str = "app",
        password: str | None = None,
        database: str = "app",
        settings: Mapping[str, str] | None = None,
        port: int = 0,
        keep_dir: Path | str | None = None,
        ca_family: CAFamily = "rsa2048",
        bindir: Path | str | None = None,
        host: str = CLUSTER_HOST,
        hostaddr: str = "127.0.0.1",
        postgis: bool = False,
    ) -> None:
        self.scenario = Scenario(scenario)
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be between 1 and 65535 (or 0 for a free one), not {port}")
        if password == "":
            raise ValueError("the password must not be empty")
        if user == _SUPERUSER:
            raise ValueError(f"user must not be {_SUPERUSER!r}: that is the admin role")
        if database in ("postgres", "template0", "template1"):
            raise ValueError(f"database must not be {database!r}: the server needs it")
        self.settings = dict(settings or {})  # a bad name or value: the server's log says so
        self.user, self.database, self.host, self.hostaddr = user, database, host, hostaddr
        self.password = password if password is not None else secrets.token_urlsafe(18)
        self.port = self._fixed_port = port
        self.postgis = postgis
        self._keep = Path(keep_dir).absolute() if keep_dir is not None else None
        self._bindir = Path(bindir) if bindir is not None else _find_bindir()
        self.pki = pki if pki is not None else _new_pki(ca_family, self._keep)
        names: tuple[str, ...] = (host,) if host != CLUSTER_HOST else _GOOD_NAMES
        if self.scenario is Scenario.WRONG_HOST:
            names = (OTHER_HOST,)
        foreign, expired = self.scenario is Scenario.INTERCEPTION, self.scenario is Scenario.EXPIRED
        self._certificate = (names, foreign, expired)
        self._plaintext = self.scenario in (Scenario.NO_TLS, Scenario.TLS_OPTIONAL)
        self._primary: AuroraLikeServer | None = None  # a hot standby's (AuroraLikeCluster)
        self._workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._owner_pid = os.getpid()

    def __repr__(self) -> str:
        state = f"port={self.port}" if self.running else "stopped"
        return f"<AuroraLikeServer {self.scenario.value} {state}>"

    @property
    def running(self) -> bool:
        """Whether the server process is up."""
        return self._process is not None and self._process.poll() is None

    @property
    def socket_dir(self) -> Path:
        """The server's directory (exists while started): its Unix socket, certificate, log
        and data directory."""
        return self._started()

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory (exists while started)."""
        return self.socket_dir / "data"

    @property
    def log_path(self) -> Path:
        """The server log (exists while started)."""
        return self.socket_dir / "postgres.log"

    # -- connection parameters -------------------------------------------------------------

    def params(self) -> dict[str, str]:
        """libpq keywords for the app role over TCP; no ``ssl*`` keys (those are under test)."""
        self._started()
        return {
            "host": self.host,
            "hostaddr": self.hostaddr,
            "port": str(self.port),
            "user": self.user,
            "password": self.password,
            "dbname": self.database,
        }

    def url(self, drivername: str | None = None) -> str:
        """A SQLAlchemy URL for the app role; ``hostaddr`` rides in the query string.

        No ``ssl*`` keys and no plugin: the caller chooses what is under test (see
        :meth:`database_url` for the ready-made one). Any user, password and database name
        survive the round trip through SQLAlchemy 2.0 and 2.1.

        Args:
            drivername: default, as for :meth:`database_url`: ``postgresql+psycopg`` if
                psycopg 3 is installed, else ``postgresql+psycopg2`` (so a project with only
                one libpq driver gets a URL it can use). Name one to pin it.

        Raises:
            ValueError: the database name has a ``?`` and the installed SQLAlchemy (2.0)
                cannot read it back from a URL.
        """
        return self._url(drivername, {}, self.password)

    def database_url(self, drivername: str | None = None, *, iam: bool = False) -> str:
        """A ready ``DATABASE_URL``: the aurora-ssl SQLAlchemy plugin plus the test bundle.

        Works with ``aurora_ssl.create_engine(url)`` and with plain
        ``sqlalchemy.create_engine(url)`` (the ``plugin=aurora_ssl`` query key), so tools that
        only take a URL (Alembic, pandas) connect with verify-full to this server.

        Args:
            drivername: as for :meth:`url`.
            iam: no password, and ``aurora_ssl_iam=true``: logins with RDS IAM tokens (see
                :func:`~aurora_ssl.testing.iam_token_as_password`).
        """
        query = {"plugin": "aurora_ssl", "aurora_ssl_bundle": str(self.pki.bundle_path)}
        if iam:
            query["aurora_ssl_iam"] = "true"
        return self._url(drivername, query, None if iam else self.password)

    def _url(self, drivername: str | None, query: dict[str, str], password: str | None) -> str:
        """User, password and query values percent-encoded (every SQLAlchemy decodes them);
        ``/`` stays readable in query values such as a bundle's path."""
        database = _url_database(self.database)
        if drivername is None:  # psycopg 3 when installed (what new projects use), else psycopg2
            psycopg3 = importlib.util.find_spec("psycopg") is not None
            drivername = "postgresql+psycopg" if psycopg3 else "postgresql+psycopg2"
        pairs = urlencode({"hostaddr": self.hostaddr, **query}, safe="/", quote_via=quote)
        login = quote(self.user, safe="")
        if password is not None:
            login += ":" + quote(password, safe="")
        return f"{drivername}://{login}@{self.host}:{self.params()['port']}/{database}?{pairs}"

    def admin_params(self) -> dict[str, str]:
        """libpq keywords for the superuser over the Unix socket (setup/inspection, no TLS)."""
        return {
            "host": str(self.socket_dir),
            "port": str(self.port),
            "user": _SUPERUSER,
            "dbname": self.database,
            "sslmode": "disable",
        }

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> AuroraLikeServer:
        """Create the cluster from the template, start it, and create the role and database.

        Returns:
            ``self``, so ``server = AuroraLikeServer().start()`` reads well.

        Raises:
            TestServerError: the server did not come up (the message carries the tail of its
                log), or the server's OS user cannot reach its files.
        """
        if self._workdir is not None:
            return self
        template = _template(self._bindir)
        if self._keep is None:
            self._workdir = _make_workdir("aurora-ssl-pg-")
        else:
            self._workdir = self._keep / "server"
            self._workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
            _require_reachable(self._keep, "Choose another directory, or chmod o+x.")
        reuse = (self.data_dir / "PG_VERSION").is_file()
        atexit.register(self.stop)
        try:
            if (primary := self._primary) is not None and not reuse:  # a base backup, a standby
                source = ["-h", str(primary.socket_dir), "-p", str(primary.port), "-U", _SUPERUSER]
                backup = [str(self._bindir / "pg_basebackup"), "-D", str(self.data_dir), *source]
                backup += ["--wal-method=stream", "--checkpoint=fast", "--no-sync"]
                _run(backup, self._workdir)
                (self.data_dir / "standby.signal").touch()
            elif not reuse:
                shutil.copytree(template, self.data_dir, symlinks=True)
            self._install_certificate()
            _chown(self._workdir, *self._workdir.rglob("*"))
            self._launch()
            if self._primary is None:
                self._create_app_objects(reuse=reuse)
        except BaseException:
            self.stop()
            raise
        return self

    __enter__ = start

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the server and remove its files (with ``keep_dir``: shut down cleanly, keep them).

        Safe to call twice, and a no-op in a forked child (the parent owns the server).
        """
        if os.getpid() != self._owner_pid:
            return
        atexit.unregister(self.stop)
        # immediate shutdown for throwaway data; a fast (clean) one for data that is kept
        self._shutdown(signal.SIGQUIT if self._keep is None else signal.SIGINT)
        if self._workdir is not None and self._keep is None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._workdir, self.port = None, self._fixed_port

    def restart(self) -> None:
        """Stop (fast shutdown: sessions are cut, data kept) and start again on the same port.

        This is what a client sees in a failover: connections break, reconnects succeed.
        """
        self._shutdown(signal.SIGINT)
        self._launch()

    def use_certificate(
        self, *, foreign: bool = False, expired: bool = False, names: Sequence[str] = _GOOD_NAMES
    ) -> None:
        """Serve a newly issued certificate from now on (to new connections).

        Used to simulate interception after a failover: ``use_certificate(foreign=True)``,
        then ``use_certificate()`` to go back. A running server reloads its configuration and
        this returns once new connections get the new certificate; open sessions keep theirs.

        Args:
            foreign: issue from the interception authority.
            expired: issue an already expired certificate.
            names: SAN names; default: the cluster, reader and instance names.
        """
        self._certificate = (tuple(names), foreign, expired)
        if self._workdir is not None:  # else start() installs it
            self._install_certificate()
        if self._process is None or not self.running:
            return
        offset = self.log_path.stat().st_size
        self._process.send_signal(signal.SIGHUP)
        # The postmaster logs this, then reloads before it accepts another connection.
        if not _poll(lambda: "received SIGHUP" in self._log_since(offset), 10):
            raise self._failed("The server did not reload its configuration")

    # -- internals -------------------------------------------------------------------------

    def _started(self) -> Path:
        if self._workdir is None:
            raise TestServerError(f"{self!r} is not started; call start() first")
        return self._workdir

    def _install_certificate(self) -> None:
        """Move a freshly issued chain and key (0600) into the server's directory; a running
        server reads them when it reloads."""
        names, foreign, expired = self._certificate
        issued = self.pki.issue_server(names, foreign=foreign, expired=expired)
        for source, name in zip(issued, ("server.crt", "server.key"), strict=True):
            _chown(Path(shutil.move(source, self.socket_dir / name)))

    def _log_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def _configure(self) -> list[str]:
        """The server's settings as ``postgres -c`` options (over the configuration files, and
        taken as they are: nothing to quote), after writing ``pg_hba.conf`` as RDS writes it:
        with ``rds.force_ssl = 1`` TLS logins only.

        The socket directory is private to the server's OS user, and trusted: setup, and the
        standbys of an AuroraLikeCluster replicating. ``samehost``: the machine's other
        addresses (a server on eth0's address).
        """
        kind = "host" if self._plaintext else "hostssl"
        nets = ("127.0.0.0/8", "::1/128", "samehost")
        hba = ["local all all trust", "local replication all trust"]
        hba += [f"{kind} all all {net} scram-sha-256" for net in nets]
        hba += [] if self._plaintext else ["hostnossl all all all reject"]
        settings = {
            **_BASE_SETTINGS,
            "listen_addresses": self.hostaddr,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "ssl": "off" if self.scenario is Scenario.NO_TLS else "on",
            "ssl_cert_file": str(self.socket_dir / "server.crt"),
            "ssl_key_file": str(self.socket_dir / "server.key"),
            "rds.force_ssl": "0" if self._plaintext else "1",
        }
        if (primary := self._primary) is not None:
            conninfo = f"host={primary.socket_dir} port={primary.port} user={_SUPERUSER}"
            settings["primary_conninfo"] = conninfo
        (self.data_dir / "pg_hba.conf").write_text("\n".join(hba) + "\n", encoding="utf-8")
        return [f"-c{name}={value}" for name, value in {**settings, **self.settings}.items()]

    def _launch(self) -> None:
        """Start the postmaster and wait until it is ready; on a lost race for a free port,
        pick another."""
        for attempt in range(5):
            if not self.port:  # a port the kernel just handed out; lost to another: try again
                with socket.socket() as sock:
                    sock.bind((self.hostaddr, 0))
                    self.port = sock.getsockname()[1]
            command = [str(self._bindir / "postgres"), "-D", str(self.data_dir), *self._configure()]
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            with open(self.log_path, "ab") as log:
                self._process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.socket_dir,
                    start_new_session=True,  # a Ctrl-C meant for us must not hit the server
                    **_as_server(),
                )
            if not _poll(functools.partial(self._settled, self._process), _START_TIMEOUT):
                self._shutdown(signal.SIGKILL)
                raise self._failed(f"PostgreSQL was not ready after {_START_TIMEOUT:.0f}s")
            if self.running:
                return
            lost_race = "could not bind" in self._log_since(offset)
            if not lost_race or self._fixed_port or attempt == 4:
                in_use = f"Port {self.port} is in use (another server?); choose another port"
                failed = f"PostgreSQL ({self.scenario.value}) did not start on port {self.port}"
                raise self._failed(f"{in_use}, or 0 for a free one" if lost_race else failed)
            self.port = 0

    def _settled(self, process: subprocess.Popen[bytes]) -> bool:
        """Whether the postmaster exited or says "ready" in ``postmaster.pid`` (what
        ``pg_ctl -w`` waits for)."""
        if process.poll() is not None:
            return True
        with contextlib.suppress(OSError):
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
            return len(lines) >= 8 and lines[0] == str(process.pid) and lines[7].strip() == "ready"
        return False

    def _failed(self, what: str) -> TestServerError:
        """An error that carries the last lines of the server's log."""
        tail = self.log_path.read_text(errors="replace").splitlines()[-25:]
        log = "\n".join(f"  | {line}" for line in tail)
        return TestServerError(f"{what}\nLast lines of the server log ({self.log_path}):\n{log}")

    def _shutdown(self, sig: signal.Signals) -> None:
        """SIGQUIT: immediate, SIGINT: fast shutdown; killed if it hangs."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _psql(self, database: str, sql: str, *, secret: str = "") -> str:
        """Run ``sql`` as the superuser; returns psql's unaligned, tuples-only output."""
        command = [str(self._bindir / "psql"), "-XqAt", "-v", "ON_ERROR_STOP=1", "-U", _SUPERUSER]
        command += ["-h", str(self.socket_dir), "-p", str(self.port), "-d", database]
        return _run(command, self.socket_dir, stdin=sql, secret=secret or self.password)

    def _set_password(self, user: str, password: str, *, first: Sequence[str] = ()) -> None:
        """Set a role's password, kept out of the server log (after the statements ``first``,
        in the same session: each psql costs a process)."""
        sql = [*first, "SET log_statement = 'none';", f"ALTER ROLE {_sql_ident(user)} PASSWORD "]
        self._psql("postgres", "\n".join(sql) + _sql_literal(password), secret=password)

    def _create_app_objects(self, *, reuse: bool) -> None:
        """Rename the template's role and database and set the password; the extensions.

        The template has ``sslinfo`` in ``template1`` and ``app`` (so test databases get it
        too); NO_SSLINFO drops it from both, ``postgis`` adds PostGIS to both. A reused
        cluster only gets the password again.
        """
        renames = [
            f"ALTER {kind} {_TEMPLATE} RENAME TO {_sql_ident(name)};"
            for kind, name in (("ROLE", self.user), ("DATABASE", self.database))
            if not reuse and name != _TEMPLATE
        ]
        self._set_password(self.user, self.password, first=renames)
        extensions = []
        if self.scenario is Scenario.NO_SSLINFO:
            extensions.append("DROP EXTENSION IF EXISTS sslinfo;")
        if self.postgis:
            extensions.append("CREATE EXTENSION IF NOT EXISTS postgis;")
            available = "SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis';"
            if self._psql("postgres", available).strip() == "0":
                major = _major(self.data_dir)
                raise TestServerError(
                    f"PostGIS is not installed for the PostgreSQL {major} server in "
                    f"{self._bindir}: install it (Debian/Ubuntu: `apt-get install "
                    f"postgresql-{major}-postgis-3`, for the distribution's server), or start "
                    "the server without postgis=True."
                )
        for database in ("template1", self.database) if extensions else ():
            self._psql(database, "\n".join(extensions))
