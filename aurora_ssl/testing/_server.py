"""The server: :class:`AuroraLikeServer` runs one scenario of :class:`Scenario` on loopback.

Why it exists: the failures aurora-ssl catches (a certificate for another host, a look-alike
CA, an expired certificate, no TLS) only show up in a real libpq handshake. This module ties
the PKI (:mod:`aurora_ssl.testing._pki`) to a PostgreSQL process
(:mod:`aurora_ssl.testing._postgres`) configured the way RDS is with ``rds.force_ssl = 1``.
"""

from __future__ import annotations

import atexit
import enum
import importlib.util
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from aurora_ssl.errors import TestServerError
from aurora_ssl.testing._pki import (
    _GOOD_NAMES,
    CLUSTER_HOST,
    OTHER_HOST,
    CAFamily,
    TestPKI,
    _check_family,
    _write_private,
)
from aurora_ssl.testing._postgres import (
    _HBA_ANY,
    _HBA_FORCE_SSL,
    _PORT_ATTEMPTS,
    _START_TIMEOUT,
    _SUPERUSER,
    _TEMPLATE_DATABASE,
    _TEMPLATE_ROLE,
    _Account,
    _chown_tree,
    _find_bindir,
    _free_port,
    _kept_workdir,
    _make_workdir,
    _run_as_server,
    _run_psql,
    _served_certificate,
    _server_account,
    _spawn,
    _sql_ident,
    _sql_literal,
    _start_failed_error,
    _template,
    _terminate,
    _wait_ready,
    _write_conf,
)
from aurora_ssl.testing._urls import sqlalchemy_url

_SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


class Scenario(str, enum.Enum):
    """What the server gets wrong (or right); each maps to one failure aurora-ssl must catch."""

    GOOD = "good"
    """Trusted chain for the cluster, reader and instance names; ``sslinfo`` installed."""
    WRONG_HOST = "wrong-host"
    """Trusted chain, but only for :data:`OTHER_HOST`."""
    INTERCEPTION = "interception"
    """A look-alike CA (same names, other keys): what a TLS-intercepting proxy presents."""
    EXPIRED = "expired"
    """Trusted chain for the right names, expired ten days ago."""
    NO_TLS = "no-tls"
    """``ssl = off``; password logins over plain TCP are allowed (``rds.force_ssl = 0``)."""
    NO_SSLINFO = "no-sslinfo"
    """Like GOOD, without the ``sslinfo`` extension: server-side checks use pg_stat_ssl."""
    TLS_OPTIONAL = "tls-optional"
    """Like GOOD, but plaintext password logins are accepted too (``rds.force_ssl = 0``)."""


_CERTIFICATE_FOR: dict[Scenario, tuple[tuple[str, ...], bool, bool]] = {
    # scenario: (names, foreign, expired)
    Scenario.GOOD: (_GOOD_NAMES, False, False),
    Scenario.WRONG_HOST: ((OTHER_HOST,), False, False),
    Scenario.INTERCEPTION: (_GOOD_NAMES, True, False),
    Scenario.EXPIRED: (_GOOD_NAMES, False, True),
    Scenario.NO_TLS: (_GOOD_NAMES, False, False),
    Scenario.NO_SSLINFO: (_GOOD_NAMES, False, False),
    Scenario.TLS_OPTIONAL: (_GOOD_NAMES, False, False),
}
_PLAINTEXT_ALLOWED = (Scenario.NO_TLS, Scenario.TLS_OPTIONAL)


class AuroraLikeServer:
    """A local PostgreSQL that presents an RDS-like certificate chain for the Aurora names.

    Args:
        scenario: which certificate/TLS configuration to run (see :class:`Scenario`).
        pki: the PKI to issue the server certificate from; share one between servers so one
            root file trusts them all. Default: a private PKI, removed on :meth:`stop`.
        user: the application role (LOGIN, CREATEDB, SCRAM password, owner of ``database``).
        password: its password; random by default.
        database: the application database.
        settings: extra ``postgresql.conf`` settings (e.g. ``{"max_connections": "300"}``),
            applied last.
        port: a fixed TCP port; default 0: a free one, chosen at start.
        keep_dir: keep the server's files here between runs instead of in a throwaway
            directory (the server's in ``keep_dir/server``, owned by the server's OS user; the
            PKI in ``keep_dir/pki``, owned by us, as a trusted bundle must be): an
            existing cluster is reused (only the role's password is set again), :meth:`stop`
            shuts it down cleanly and keeps the files, and the default PKI is kept in
            ``keep_dir/pki`` too (same root, same files, every run).
        ca_family: the CA family of the default PKI (``rsa2048``, ``rsa4096`` or ``ecc384``);
            a given ``pki`` has its own.
        bindir: the PostgreSQL build to run (e.g. :func:`~aurora_ssl.testing.fetch_server`'s);
            default: found as described in ``AURORA_SSL_PG_BINDIR``'s documentation.
        host: the name clients verify (:attr:`host`); the certificate names it unless the
            scenario says otherwise or :meth:`use_certificate` chose names.
        hostaddr: the address the server listens on (:attr:`hostaddr`): loopback by default;
            another address of this machine (e.g. eth0's) makes its clients' sessions
            non-loopback ones, as a remote client's are.
        standby_of: start as a hot standby of this running server (``pg_basebackup``, then
            streaming replication through its Unix socket); user, password and database are
            the primary's.

    Clients connect with :meth:`params` or :meth:`url` and pick the ``sslmode`` and
    ``sslrootcert`` under test; :meth:`admin_params` is a superuser over the Unix socket.
    """

    __test__ = False  # not a pytest test class

    host: str
    """The name clients verify the certificate against (it does not resolve)."""
    hostaddr: str
    """Where clients actually connect (libpq ``hostaddr``)."""

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
        standby_of: AuroraLikeServer | None = None,
    ) -> None:
        self.scenario = Scenario(scenario)
        if standby_of is not None:
            user, password, database = standby_of.user, standby_of.password, standby_of.database
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be between 1 and 65535 (or 0 for a free one), not {port}")
        if user == _SUPERUSER:
            raise ValueError(f"user must not be {_SUPERUSER!r}: that is the admin role")
        if database in ("postgres", "template0", "template1"):
            raise ValueError(f"database must not be {database!r}: the server needs it")
        self.user: str = user
        self.password: str = password if password is not None else secrets.token_urlsafe(18)
        self.database: str = database
        self.settings = dict(settings or {})
        for name in self.settings:
            if not _SETTING_NAME.fullmatch(name):
                raise ValueError(f"not a PostgreSQL setting name: {name!r}")
        self.port = port
        self.host, self.hostaddr = host, hostaddr
        self._fixed_port = port
        self._keep = Path(keep_dir).absolute() if keep_dir is not None else None
        self._pki = pki
        self._ca_family = _check_family(ca_family)
        self._own_pki_dir: Path | None = None
        names, foreign, expired = _CERTIFICATE_FOR[self.scenario]
        if host != CLUSTER_HOST and names == _GOOD_NAMES:
            names = (host,)
        self._certificate = (names, foreign, expired)
        self._primary = standby_of
        self._workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._account: _Account | None = None
        self._bindir: Path | None = Path(bindir) if bindir is not None else None
        self._owner_pid = os.getpid()
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        state = f"port={self.port}" if self.running else "stopped"
        return f"<AuroraLikeServer {self.scenario.value} {state}>"

    # -- properties ------------------------------------------------------------------------

    @property
    def pki(self) -> TestPKI:
        """The PKI the server certificate comes from (generated on first use if not given)."""
        with self._lock:
            if self._pki is None and self._keep is not None:
                self._pki = TestPKI.load_or_generate(self._keep / "pki", self._ca_family)
            elif self._pki is None:
                self._own_pki_dir = Path(tempfile.mkdtemp(prefix="aurora-ssl-pki-"))
                atexit.register(shutil.rmtree, self._own_pki_dir, ignore_errors=True)
                self._pki = TestPKI.generate(self._own_pki_dir, self._ca_family)
            return self._pki

    @property
    def data_kept(self) -> bool:
        """Whether the cluster outlives :meth:`stop` (``keep_dir`` was given)."""
        return self._keep is not None

    @property
    def running(self) -> bool:
        """Whether the server process is up."""
        return self._process is not None and self._process.poll() is None

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory (exists while started)."""
        return self._require_workdir() / "data"

    @property
    def log_path(self) -> Path:
        """The server log (exists while started)."""
        return self._require_workdir() / "postgres.log"

    @property
    def socket_dir(self) -> Path:
        """The directory of the server's Unix socket (private; used by :meth:`admin_params`)."""
        return self._require_workdir()

    def _require_workdir(self) -> Path:
        if self._workdir is None:
            raise TestServerError(f"{self!r} is not started; call start() first")
        return self._workdir

    # -- connection parameters -------------------------------------------------------------

    def params(self) -> dict[str, str]:
        """libpq keywords for the app role over TCP; no ``ssl*`` keys (those are under test)."""
        self._require_workdir()
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
        """
        return self._url(drivername, {})

    def database_url(self, drivername: str | None = None) -> str:
        """A ready ``DATABASE_URL``: the aurora-ssl SQLAlchemy plugin plus the test bundle.

        Works with ``aurora_ssl.create_engine(url)`` and with plain
        ``sqlalchemy.create_engine(url)`` (the ``plugin=aurora_ssl`` query key), so tools that
        only take a URL (Alembic, pandas) connect with verify-full to this server.

        Args:
            drivername: default ``postgresql+psycopg`` if psycopg 3 is installed, else
                ``postgresql+psycopg2``.
        """
        return self._url(
            drivername,
            {"plugin": "aurora_ssl", "aurora_ssl_bundle": str(self.pki.bundle_path)},
        )

    def _url(self, drivername: str | None, query: dict[str, str]) -> str:
        self._require_workdir()
        return sqlalchemy_url(
            drivername or _default_drivername(),
            user=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            database=self.database,
            query={"hostaddr": self.hostaddr, **query},
        )

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

    def __enter__(self) -> AuroraLikeServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> AuroraLikeServer:
        """Create the cluster from the template, start it, and create the role and database.

        Returns:
            ``self``, so ``server = AuroraLikeServer().start()`` reads well.

        Raises:
            TestServerError: binaries missing, or the server did not come up (the message
                carries the tail of its log).
        """
        with self._lock:
            if self._workdir is not None:
                return self
            bindir = self._bindir or _find_bindir()
            account = _server_account()
            template = _template(bindir, account)
            pki = self.pki
            if self._keep is not None:
                workdir = _kept_workdir(self._keep / "server", account)
            else:
                workdir = _make_workdir("aurora-ssl-pg-", account)
            reuse = (workdir / "data" / "PG_VERSION").is_file()
            self._bindir, self._account, self._workdir = bindir, account, workdir
            atexit.register(self.stop)
            try:
                if self._primary is not None and not reuse:
                    self._clone(self._primary)
                elif not reuse:
                    shutil.copytree(template, workdir / "data", symlinks=True)
                hba = _HBA_ANY if self.scenario in _PLAINTEXT_ALLOWED else _HBA_FORCE_SSL
                (workdir / "data" / "pg_hba.conf").write_text(hba, encoding="utf-8")
                self._install_certificate(pki)
                _chown_tree(workdir, account)
                self._launch(new_port=not self._fixed_port)
                if self._primary is None:
                    self._create_app_objects(reuse=reuse)
            except BaseException:
                self.stop()
                raise
            return self

    def stop(self) -> None:
        """Stop the server and remove its files (with ``keep_dir``: shut down cleanly, keep them).

        Safe to call twice, and a no-op in a forked child (the parent owns the server).
        """
        if os.getpid() != self._owner_pid:
            return
        with self._lock:
            atexit.unregister(self.stop)
            # immediate shutdown for throwaway data; a fast (clean) one for data that is kept
            self._shutdown(signal.SIGQUIT if self._keep is None else signal.SIGINT)
            if self._workdir is not None and self._keep is None:
                shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
            if self._own_pki_dir is not None:
                shutil.rmtree(self._own_pki_dir, ignore_errors=True)
                self._own_pki_dir = None
                self._pki = None
            self.port = self._fixed_port

    def restart(self) -> None:
        """Stop (fast shutdown: sessions are cut, data kept) and start again on the same port.

        This is what a client sees in a failover: connections break, reconnects succeed.
        """
        with self._lock:
            if self._workdir is None:
                self.start()
                return
            self._shutdown(signal.SIGINT)
            self._launch(new_port=False)

    def promote(self) -> None:
        """Turn this hot standby into a primary (``pg_promote``: what ``pg_ctl promote`` does);
        returns once it accepts writes."""
        with self._lock:
            promoted = self._psql(self.database, "SELECT pg_catalog.pg_promote(true, 60);\n")
            if promoted.strip() != "t":
                raise _start_failed_error("The standby was not promoted in 60 s", self.log_path)
            self._primary = None

    def follow(self, primary: AuroraLikeServer) -> None:
        """Replicate from ``primary`` from now on, as a hot standby.

        A running standby switches over on a reload; a stopped server (an old primary after a
        clean shutdown, as in a failover) starts again as a standby, following ``primary``'s
        new timeline.
        """
        with self._lock:
            self._primary = primary
            self._write_config()
            if self.running:
                assert self._process is not None
                self._process.send_signal(signal.SIGHUP)
                return
            signal_file = self.data_dir / "standby.signal"
            signal_file.touch()
            if self._account is not None:
                os.chown(signal_file, self._account.uid, self._account.gid)
            self._launch(new_port=False)

    def use_certificate(
        self,
        *,
        foreign: bool = False,
        expired: bool = False,
        names: Sequence[str] | None = None,
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
        with self._lock:
            self._certificate = (tuple(names or _GOOD_NAMES), foreign, expired)
            if self._workdir is None:
                return  # start() installs it
            der = self._install_certificate(self.pki)
            if not self.running:
                return
            assert self._process is not None
            self._process.send_signal(signal.SIGHUP)
            if self.scenario is not Scenario.NO_TLS:
                self._wait_for_certificate(der)

    # -- internals -------------------------------------------------------------------------

    def _install_certificate(self, pki: TestPKI) -> bytes:
        """Copy a fresh chain and key into the server's directory; returns the leaf (DER)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        names, foreign, expired = self._certificate
        chain, key = pki.issue_server(names, foreign=foreign, expired=expired)
        workdir = self._require_workdir()
        chain_pem = chain.read_bytes()
        for target, data in (("server.crt", chain_pem), ("server.key", key.read_bytes())):
            _write_private(workdir / target, data)
            if self._account is not None:
                os.chown(workdir / target, self._account.uid, self._account.gid)
        chain.unlink()
        key.unlink()
        leaf = x509.load_pem_x509_certificate(chain_pem)
        return leaf.public_bytes(serialization.Encoding.DER)

    def _clone(self, primary: AuroraLikeServer) -> None:
        """The data directory as a base backup of ``primary``, marked as a standby's."""
        assert self._bindir is not None
        workdir = self._require_workdir()
        backup = [
            str(self._bindir / "pg_basebackup"), "--pgdata", str(workdir / "data"),
            "--host", str(primary.socket_dir), "--port", str(primary.port),
            "--username", _SUPERUSER, "--wal-method", "stream", "--checkpoint", "fast",
            "--no-sync",
        ]  # fmt: skip
        _run_as_server(backup, self._account, workdir)
        (workdir / "data" / "standby.signal").touch()

    def _write_config(self) -> None:
        workdir = self._require_workdir()
        tls = self.scenario is not Scenario.NO_TLS
        standby: dict[str, str] = {}
        if (primary := self._primary) is not None:
            conninfo = f"host={primary.socket_dir} port={primary.port} user={_SUPERUSER}"
            standby = {"primary_conninfo": conninfo}
        settings = {
            "listen_addresses": self.hostaddr,
            "port": str(self.port),
            "unix_socket_directories": str(workdir),
            "ssl": "on" if tls else "off",
            "ssl_cert_file": str(workdir / "server.crt"),
            "ssl_key_file": str(workdir / "server.key"),
            "rds.force_ssl": "0" if self.scenario in _PLAINTEXT_ALLOWED else "1",
            **standby,
            **self.settings,
        }
        _write_conf(self.data_dir, settings, self._account)

    def _launch(self, *, new_port: bool) -> None:
        """Start the postmaster; on a lost port race pick another (or, on restart, retry)."""
        assert self._bindir is not None
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            if self._fixed_port:
                self.port = self._fixed_port
            elif new_port or not self.port:
                self.port = _free_port(self.hostaddr)
            self._write_config()
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            self._process = _spawn(self._bindir, self.data_dir, self.log_path, self._account)
            try:
                ready = _wait_ready(self._process, self.data_dir)
            except TimeoutError:
                self._shutdown(signal.SIGKILL)
                raise _start_failed_error(
                    f"PostgreSQL ({self.scenario.value}) was not ready after {_START_TIMEOUT:.0f}s",
                    self.log_path,
                ) from None
            if ready:
                return
            self._process = None
            with open(self.log_path, "rb") as handle:
                handle.seek(offset)
                fresh = handle.read().decode(errors="replace")
            if "could not bind" in fresh and self._fixed_port:
                raise _start_failed_error(
                    f"Port {self.port} is in use (another server?); choose another port, or 0 "
                    "for a free one",
                    self.log_path,
                )
            if "could not bind" in fresh and attempt < _PORT_ATTEMPTS:
                time.sleep(0.05 * attempt)
                continue
            raise _start_failed_error(
                f"PostgreSQL ({self.scenario.value}) did not start on port {self.port}",
                self.log_path,
            )

    def _shutdown(self, sig: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is not None:
            _terminate(process, sig)

    def _psql(self, database: str, sql: str) -> str:
        """Run ``sql`` as the superuser; returns psql's unaligned, tuples-only output."""
        assert self._bindir is not None
        params = {**self.admin_params(), "dbname": database}
        return _run_psql(self._bindir, params, sql, self.log_path, secret=self.password)

    def _create_app_objects(self, *, reuse: bool) -> None:
        """Rename the template's role and database and set the password, in one psql run.

        The template has ``sslinfo`` in ``template1`` and ``app`` (so test databases get it
        too); NO_SSLINFO drops it from both. A reused cluster only gets the password again.
        """
        role, database = _sql_ident(self.user), _sql_ident(self.database)
        sql = ["SET log_statement = 'none';"]
        start = "postgres"
        if not reuse and self.scenario is Scenario.NO_SSLINFO:
            start = "template1"  # \connect below names only our own constant databases
            sql += [
                "DROP EXTENSION sslinfo;",
                f"\\connect {_TEMPLATE_DATABASE}",
                "DROP EXTENSION sslinfo;",
                "\\connect postgres",
                "SET log_statement = 'none';",
            ]
        sql.append("SET password_encryption = 'scram-sha-256';")
        if not reuse and self.user != _TEMPLATE_ROLE:
            sql.append(f"ALTER ROLE {_sql_ident(_TEMPLATE_ROLE)} RENAME TO {role};")
        # CREATEDB like the RDS master user, so Django's test runner can create test_<NAME>.
        sql.append(f"ALTER ROLE {role} LOGIN CREATEDB PASSWORD {_sql_literal(self.password)};")
        if not reuse and self.database != _TEMPLATE_DATABASE:
            sql.append(f"ALTER DATABASE {_sql_ident(_TEMPLATE_DATABASE)} RENAME TO {database};")
        self._psql(start, "\n".join(sql) + "\n")

    def _wait_for_certificate(self, der: bytes, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                served = _served_certificate(self.hostaddr, self.port)
            except OSError:
                served = None
            if served == der:
                return
            if time.monotonic() > deadline:
                raise _start_failed_error(
                    "The server did not switch to the new certificate after a reload",
                    self.log_path,
                )
            time.sleep(0.01)


def _default_drivername() -> str:
    """psycopg 3 when installed (the driver new projects use), else psycopg2."""
    if importlib.util.find_spec("psycopg") is not None:
        return "postgresql+psycopg"
    return "postgresql+psycopg2"
