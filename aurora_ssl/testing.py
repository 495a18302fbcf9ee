"""A throwaway, Aurora-like PostgreSQL with real TLS, for our test suite and for users' own.

Why a real server: the failures aurora-ssl exists to catch (a certificate for another host, a
look-alike CA in the middle, an expired certificate, a server without TLS) only show up in a
real libpq handshake. Mocks would test our assumptions about libpq, not libpq.

What makes it "Aurora-like":

* an RDS-shaped PKI (:class:`TestPKI`): a root named exactly like an RDS regional root, but for
  the fictitious region ``test-region-1``, a subordinate CA, and server certificates for
  cluster, reader and instance endpoint names (:data:`CLUSTER_HOST`, ...);
* ``pg_hba.conf`` as RDS writes it with ``rds.force_ssl = 1``: password (SCRAM) logins over
  TLS only, plain TCP rejected; ``rds.force_ssl`` itself is set as a custom setting so that
  server-side checks can read it;
* the endpoint names do not resolve, so clients connect with ``host=<name>`` for certificate
  verification and ``hostaddr=127.0.0.1`` for routing, exactly as libpq intends.

Typical use::

    with AuroraLikeServer("good") as server:
        conn = psycopg2.connect(**server.params(), sslmode="verify-full",
                                sslrootcert=str(server.pki.root_path))

``initdb`` runs once per process into a cached template that every server copies, so a
server starts in a fraction of a second. Each server lives in its own temporary directory,
which :meth:`AuroraLikeServer.stop` removes; an ``atexit`` hook stops forgotten servers.

Command line (for demos)::

    python -m aurora_ssl.testing serve [--scenario good] [--env-file PATH]
"""

from __future__ import annotations

import argparse
import atexit
import datetime
import enum
import glob
import ipaddress
import itertools
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from aurora_ssl.errors import TestServerError

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = [
    "CLUSTER_HOST",
    "INSTANCE_HOST",
    "OTHER_HOST",
    "READER_HOST",
    "TEST_REGION",
    "AuroraLikeServer",
    "Scenario",
    "TestPKI",
]

TEST_REGION = "test-region-1"
CLUSTER_HOST = "demo.cluster-abc123xyz.test-region-1.rds.amazonaws.com"
READER_HOST = "demo.cluster-ro-abc123xyz.test-region-1.rds.amazonaws.com"
INSTANCE_HOST = "demo-instance-1.abc123xyz.test-region-1.rds.amazonaws.com"
OTHER_HOST = "other.cluster-zzz999xyz.test-region-1.rds.amazonaws.com"
"""The only name on the wrong-host certificate: valid, trusted, but for another cluster."""

_GOOD_NAMES = (CLUSTER_HOST, READER_HOST, INSTANCE_HOST)
_ROOT_CN = f"Amazon RDS {TEST_REGION} Root CA RSA2048 G1"
_SUBORDINATE_CN = f"Amazon RDS {TEST_REGION} Subordinate CA RSA2048 G1.A.1"
_SUPERUSER = "postgres"
_BINARIES = ("initdb", "postgres", "psql")
_BINDIR_ENV = "AURORA_SSL_PG_BINDIR"
_TMPDIR_ENV = "AURORA_SSL_PG_TMPDIR"
_MIN_SHM_FREE = 1 << 30  # leave Docker's 64 MB /dev/shm to PostgreSQL's shared memory
_INSTALL_HINT = (
    "Install the PostgreSQL server and contrib packages, e.g. "
    "`apt-get install postgresql postgresql-contrib` (Debian/Ubuntu), "
    "`dnf install postgresql-server postgresql-contrib` (Fedora/RHEL) or "
    "`brew install postgresql` (macOS), or set "
    f"{_BINDIR_ENV} to the directory that holds initdb, postgres and psql."
)
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 30.0
_PORT_ATTEMPTS = 5
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


# --------------------------------------------------------------------------------------------
# PKI


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _new_key() -> rsa.RSAPrivateKey:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _rds_name(common_name: str) -> x509.Name:
    """A subject laid out like the real RDS CAs', so name-based code sees the familiar shape."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Amazon.com"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Amazon RDS"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "WA"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "Seattle"),
        ]
    )


def _pem(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read (PostgreSQL refuses group/world readable keys)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


class _Authority:
    """One root -> subordinate chain; keys are made once because RSA generation is the slow part."""

    def __init__(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        now = _now()
        self.root_key = _new_key()
        root_name = _rds_name(_ROOT_CN)
        root_ski = x509.SubjectKeyIdentifier.from_public_key(self.root_key.public_key())
        self.root = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(self.root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=30))
            .not_valid_after(now + datetime.timedelta(days=365 * 20))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(root_ski, critical=False)
            .sign(self.root_key, hashes.SHA256())
        )
        self.subordinate_key = _new_key()
        self.subordinate = (
            x509.CertificateBuilder()
            .subject_name(_rds_name(_SUBORDINATE_CN))
            .issuer_name(root_name)
            .public_key(self.subordinate_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=30))
            .not_valid_after(now + datetime.timedelta(days=365 * 5))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.subordinate_key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
                critical=False,
            )
            .sign(self.root_key, hashes.SHA256())
        )
        self._leaf_key: rsa.RSAPrivateKey | None = None
        self._lock = threading.Lock()

    @property
    def leaf_key(self) -> rsa.RSAPrivateKey:
        """The server key, shared by every certificate this authority issues."""
        with self._lock:
            if self._leaf_key is None:
                self._leaf_key = _new_key()
            return self._leaf_key

    def issue(self, names: Sequence[str], *, expired: bool) -> x509.Certificate:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        now = _now()
        if expired:
            start, end = now - datetime.timedelta(days=375), now - datetime.timedelta(days=10)
        else:
            start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=365)
        alt_names: list[x509.GeneralName] = []
        for name in names:
            try:
                alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alt_names.append(x509.DNSName(name))
        key = self.leaf_key
        subordinate_ski = self.subordinate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.subordinate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=True,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(subordinate_ski),
                critical=False,
            )
            .sign(self.subordinate_key, hashes.SHA256())
        )


def _ca_key_usage() -> x509.KeyUsage:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _shipped_bundle() -> bytes:
    return resources.files("aurora_ssl").joinpath("data/rds-global-bundle.pem").read_bytes()


class TestPKI:
    """RDS-like PKI: root 'Amazon RDS test-region-1 Root CA RSA2048 G1' -> subordinate -> server.

    Two authorities with identical subject names: the trusted one (its root is in
    :attr:`root_path` and :attr:`bundle_path`) and a foreign one (:attr:`foreign_root_path`)
    whose certificates look the same to a human but are signed with other keys, the way an
    intercepting proxy's would be. Build with :meth:`generate`.
    """

    __test__ = False  # not a pytest test class despite the name

    root_path: Path
    """PEM of the trusted test root alone: the smallest correct ``sslrootcert``."""
    bundle_path: Path
    """The shipped RDS bundle with the test root appended: what AWS's global bundle would be
    if ``test-region-1`` existed."""
    foreign_root_path: Path
    """PEM of the interception root (same subject names as the trusted root, other key)."""

    def __init__(self, directory: Path, trusted: _Authority, foreign: _Authority) -> None:
        """Use :meth:`generate`; this only stores what it made."""
        self.directory = directory
        self._trusted = trusted
        self._foreign = foreign
        self.root_path = directory / "root.pem"
        self.bundle_path = directory / "bundle.pem"
        self.foreign_root_path = directory / "foreign-root.pem"

    @classmethod
    def generate(cls, directory: Path) -> TestPKI:
        """Create both authorities and write the root, bundle and foreign root files.

        Args:
            directory: where the PEM files go (created if missing). The server never reads
                from it: it copies what it needs into its own directory.

        Returns:
            The PKI; issue server certificates with :meth:`issue_server`.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        pki = cls(directory, _Authority(), _Authority())
        root_pem = _pem(pki._trusted.root)
        pki.root_path.write_bytes(root_pem)
        pki.foreign_root_path.write_bytes(_pem(pki._foreign.root))
        shipped = _shipped_bundle()
        if shipped and not shipped.endswith(b"\n"):
            shipped += b"\n"
        pki.bundle_path.write_bytes(shipped + root_pem)
        return pki

    def issue_server(
        self, names: Sequence[str], *, expired: bool = False, foreign: bool = False
    ) -> tuple[Path, Path]:
        """Issue a server certificate and write it with its chain and key.

        Args:
            names: host names (or IP addresses) for the SANs; the first is also the CN.
            expired: make it expire ten days ago (valid for a year before that).
            foreign: sign it with the interception authority instead of the trusted one.

        Returns:
            ``(chain, key)``: the PEM chain file (leaf, then subordinate, as a server sends
            it) and the PEM private key file (mode 0600).
        """
        if not names:
            raise ValueError("issue_server() needs at least one name")
        authority = self._foreign if foreign else self._trusted
        from cryptography.hazmat.primitives import serialization

        leaf = authority.issue(list(names), expired=expired)
        # random, not a counter: a forked copy of this PKI must not overwrite our files
        stem = f"server-{secrets.token_hex(6)}{'-foreign' if foreign else ''}"
        chain_path = self.directory / f"{stem}.crt"
        key_path = self.directory / f"{stem}.key"
        chain_path.write_bytes(_pem(leaf) + _pem(authority.subordinate))
        _write_private(
            key_path,
            authority.leaf_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            ),
        )
        return chain_path, key_path


# --------------------------------------------------------------------------------------------
# Finding and running PostgreSQL


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
    test or CI job can pin a version), ``pg_config --bindir``, ``/usr/lib/postgresql/*/bin``
    (newest first: Debian and Ubuntu keep the server out of PATH), then PATH.

    Raises:
        TestServerError: nothing found; the message lists every place searched and how to
            install the binaries.
    """
    candidates: list[tuple[str, Path]] = []
    searched: list[str] = []
    pinned = os.environ.get(_BINDIR_ENV)
    if pinned:
        candidates.append((f"${_BINDIR_ENV}", Path(pinned)))
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
    and given a password per server). ``--wal-segsize=1`` keeps the copy small (1 MB of WAL
    instead of 16 MB); ``FILE_COPY`` keeps the new database out of the WAL.
    """
    key = (bindir, account.uid if account else None)
    with _templates_lock:
        cached = _templates.get(key)
        if cached is not None and cached.is_dir():
            return cached
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
        _run_as_server(
            [str(bindir / "postgres"), "--single", "-D", str(data), "-F", "postgres"],
            account,
            workdir,
            stdin=(
                f"CREATE ROLE {_sql_ident(_TEMPLATE_ROLE)} NOLOGIN\n"
                f"CREATE DATABASE {_sql_ident(_TEMPLATE_DATABASE)} "
                f"OWNER {_sql_ident(_TEMPLATE_ROLE)} STRATEGY = FILE_COPY\n"
            ),
        )
        with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# per-server settings written by aurora_ssl.testing\n")
            conf.write("include_if_exists = 'aurora_ssl.conf'\n")
        _templates[key] = data
        return data


def _free_port() -> int:
    """A port the kernel just handed out; the start retries if someone takes it meanwhile."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _served_certificate(port: int, timeout: float = 5.0) -> bytes | None:
    """The DER leaf certificate the server on ``port`` presents now (``None``: no TLS).

    Speaks just enough of the protocol (SSLRequest, then a TLS handshake without
    verification) to see which certificate new connections get.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(struct.pack("!ii", 8, 80877103))
        if sock.recv(1) != b"S":
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # only reading which certificate is served
        with context.wrap_socket(sock, server_hostname=CLUSTER_HOST) as tls:
            return tls.getpeercert(binary_form=True)


# --------------------------------------------------------------------------------------------
# The server


_CERTIFICATE_FOR: dict[Scenario, tuple[tuple[str, ...], bool, bool]] = {
    # scenario: (names, foreign, expired)
    Scenario.GOOD: (_GOOD_NAMES, False, False),
    Scenario.WRONG_HOST: ((OTHER_HOST,), False, False),
    Scenario.INTERCEPTION: (_GOOD_NAMES, True, False),
    Scenario.EXPIRED: (_GOOD_NAMES, False, True),
    Scenario.NO_TLS: (_GOOD_NAMES, False, False),
    Scenario.NO_SSLINFO: (_GOOD_NAMES, False, False),
}

_HBA_FORCE_SSL = """\
# TYPE    DATABASE USER ADDRESS       METHOD
# Like RDS with rds.force_ssl = 1. The socket directory is private to this machine's owner.
local     all      all                trust
hostssl   all      all  127.0.0.1/32  scram-sha-256
hostssl   all      all  ::1/128       scram-sha-256
hostnossl all      all  127.0.0.1/32  reject
hostnossl all      all  ::1/128       reject
"""

_HBA_NO_TLS = """\
# TYPE    DATABASE USER ADDRESS       METHOD
# Like RDS with rds.force_ssl = 0 and TLS unavailable.
local     all      all                trust
host      all      all  127.0.0.1/32  scram-sha-256
host      all      all  ::1/128       scram-sha-256
"""


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

    Clients connect with :meth:`params` or :meth:`url` and pick the ``sslmode`` and
    ``sslrootcert`` under test; :meth:`admin_params` is a superuser over the Unix socket.
    """

    __test__ = False  # not a pytest test class

    host: str = CLUSTER_HOST
    """The name clients verify the certificate against (it does not resolve)."""
    hostaddr: str = "127.0.0.1"
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
    ) -> None:
        self.scenario = Scenario(scenario)
        if user == _SUPERUSER:
            raise ValueError(f"user must not be {_SUPERUSER!r}: that is the admin role")
        if database in ("postgres", "template0", "template1"):
            raise ValueError(f"database must not be {database!r}: the server needs it")
        self.user = user
        self.password = password if password is not None else secrets.token_urlsafe(18)
        self.database = database
        self.settings = dict(settings or {})
        for name in self.settings:
            if not _SETTING_NAME.fullmatch(name):
                raise ValueError(f"not a PostgreSQL setting name: {name!r}")
        self.port = 0
        self._pki = pki
        self._own_pki_dir: Path | None = None
        self._certificate = _CERTIFICATE_FOR[self.scenario]
        self._workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._account: _Account | None = None
        self._bindir: Path | None = None
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
            if self._pki is None:
                self._own_pki_dir = Path(tempfile.mkdtemp(prefix="aurora-ssl-pki-"))
                atexit.register(shutil.rmtree, self._own_pki_dir, ignore_errors=True)
                self._pki = TestPKI.generate(self._own_pki_dir)
            return self._pki

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

    def url(self, drivername: str = "postgresql+psycopg2") -> str:
        """A SQLAlchemy URL for the app role; ``hostaddr`` rides in the query string."""
        self._require_workdir()
        quote = urllib.parse.quote
        return (
            f"{drivername}://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(self.database, safe='')}"
            f"?hostaddr={self.hostaddr}"
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
            bindir = _find_bindir()
            account = _server_account()
            template = _template(bindir, account)
            pki = self.pki
            workdir = _make_workdir("aurora-ssl-pg-", account)
            self._bindir, self._account, self._workdir = bindir, account, workdir
            atexit.register(self.stop)
            try:
                shutil.copytree(template, workdir / "data", symlinks=True)
                hba = _HBA_NO_TLS if self.scenario is Scenario.NO_TLS else _HBA_FORCE_SSL
                (workdir / "data" / "pg_hba.conf").write_text(hba, encoding="utf-8")
                self._install_certificate(pki)
                _chown_tree(workdir, account)
                self._launch(new_port=True)
                self._create_app_objects()
            except BaseException:
                self.stop()
                raise
            return self

    def stop(self) -> None:
        """Stop the server (immediately: its data is thrown away) and remove its files.

        Safe to call twice, and a no-op in a forked child (the parent owns the server).
        """
        if os.getpid() != self._owner_pid:
            return
        with self._lock:
            atexit.unregister(self.stop)
            self._shutdown(signal.SIGQUIT)
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
                self._workdir = None
            if self._own_pki_dir is not None:
                shutil.rmtree(self._own_pki_dir, ignore_errors=True)
                self._own_pki_dir = None
                self._pki = None
            self.port = 0

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

    def _write_config(self) -> None:
        workdir = self._require_workdir()
        tls = self.scenario is not Scenario.NO_TLS
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(workdir),
            "shared_buffers": "16MB",
            "max_connections": "100",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "wal_level": "minimal",
            "max_wal_senders": "0",
            "password_encryption": "scram-sha-256",
            "ssl": "on" if tls else "off",
            "ssl_cert_file": str(workdir / "server.crt"),
            "ssl_key_file": str(workdir / "server.key"),
            "ssl_min_protocol_version": "TLSv1.2",
            "rds.force_ssl": "1" if tls else "0",
            **self.settings,
        }
        text = "".join(f"{name} = {_conf_value(value)}\n" for name, value in settings.items())
        path = self.data_dir / "aurora_ssl.conf"
        path.write_text(text, encoding="utf-8")
        if self._account is not None:
            os.chown(path, self._account.uid, self._account.gid)

    def _launch(self, *, new_port: bool) -> None:
        """Start the postmaster; on a lost port race pick another (or, on restart, retry)."""
        assert self._bindir is not None
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            if new_port or not self.port:
                self.port = _free_port()
            self._write_config()
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            with open(self.log_path, "ab") as log:
                self._process = subprocess.Popen(
                    [str(self._bindir / "postgres"), "-D", str(self.data_dir)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self._workdir,
                    env=_clean_env(),
                    start_new_session=True,  # a Ctrl-C meant for us must not hit the server
                    **(self._account.popen_kwargs() if self._account else {}),
                )
            if self._wait_ready():
                return
            with open(self.log_path, "rb") as handle:
                handle.seek(offset)
                fresh = handle.read().decode(errors="replace")
            if "could not bind" in fresh and attempt < _PORT_ATTEMPTS:
                time.sleep(0.05 * attempt)
                continue
            raise _start_failed_error(
                f"PostgreSQL ({self.scenario.value}) did not start on port {self.port}",
                self.log_path,
            )

    def _wait_ready(self) -> bool:
        """Poll ``postmaster.pid`` for "ready" (what ``pg_ctl -w`` does, but every 5 ms)."""
        process = self._process
        assert process is not None
        pid_file = self.data_dir / "postmaster.pid"
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._process = None
                return False
            try:
                lines = pid_file.read_text().splitlines()
            except OSError:
                lines = []
            if len(lines) >= 8 and lines[0] == str(process.pid) and lines[7].strip() == "ready":
                return True
            time.sleep(0.005)
        self._shutdown(signal.SIGKILL)
        raise _start_failed_error(
            f"PostgreSQL ({self.scenario.value}) was not ready after {_START_TIMEOUT:.0f}s",
            self.log_path,
        )

    def _shutdown(self, sig: signal.Signals) -> None:
        """SIGQUIT = immediate, SIGINT = fast shutdown; kill if it hangs."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _psql(self, database: str, sql: str) -> None:
        assert self._bindir is not None
        conninfo = " ".join(
            f"{key}={_conninfo_value(value)}"
            for key, value in {**self.admin_params(), "dbname": database}.items()
        )
        command = [str(self._bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo]
        result = subprocess.run(
            command,
            input=sql,
            capture_output=True,
            text=True,
            cwd=self._workdir,
            env=_clean_env(),
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            detail = result.stderr.strip()
            if self.password:
                detail = detail.replace(self.password, "********")
            if "sslinfo" in detail:
                detail += f"\nThe sslinfo extension ships with the contrib package. {_INSTALL_HINT}"
            raise _start_failed_error(
                f"Setting up the test database failed (psql exit code {result.returncode})",
                self.log_path,
                detail,
            )

    def _create_app_objects(self) -> None:
        """Rename the template's role and database, set the password, add ``sslinfo``.

        ``sslinfo`` goes everywhere except NO_SSLINFO, as an RDS user would install it.
        """
        role, database = _sql_ident(self.user), _sql_ident(self.database)
        sql = ["SET log_statement = 'none';", "SET password_encryption = 'scram-sha-256';"]
        if self.user != _TEMPLATE_ROLE:
            sql.append(f"ALTER ROLE {_sql_ident(_TEMPLATE_ROLE)} RENAME TO {role};")
        # CREATEDB like the RDS master user, so Django's test runner can create test_<NAME>.
        sql.append(f"ALTER ROLE {role} LOGIN CREATEDB PASSWORD {_sql_literal(self.password)};")
        if self.database != _TEMPLATE_DATABASE:
            sql.append(f"ALTER DATABASE {_sql_ident(_TEMPLATE_DATABASE)} RENAME TO {database};")
        self._psql("postgres", "\n".join(sql) + "\n")
        if self.scenario is not Scenario.NO_SSLINFO:
            self._psql(self.database, "CREATE EXTENSION sslinfo;\n")

    def _wait_for_certificate(self, der: bytes, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                served = _served_certificate(self.port)
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


# --------------------------------------------------------------------------------------------
# Command line


def _demo_env(server: AuroraLikeServer) -> dict[str, str]:
    params = server.params()
    return {
        "AURORA_SSL_DEMO_HOST": params["host"],
        "AURORA_SSL_DEMO_HOSTADDR": params["hostaddr"],
        "AURORA_SSL_DEMO_PORT": params["port"],
        "AURORA_SSL_DEMO_USER": params["user"],
        "AURORA_SSL_DEMO_PASSWORD": params["password"],
        "AURORA_SSL_DEMO_DBNAME": params["dbname"],
        "AURORA_SSL_DEMO_BUNDLE": str(server.pki.bundle_path),
    }


def _write_env_file(path: Path, env: Mapping[str, str]) -> None:
    """Atomically, and owner-only (it holds a password): a watcher never sees half a file."""
    path = path.absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, "".join(f"{k}={v}\n" for k, v in env.items()).encode())


def _serve(scenario: str, env_file: Path | None) -> int:
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with AuroraLikeServer(scenario) as server:
            env = _demo_env(server)
            for key, value in env.items():
                print(f"{key}={value}")
            if env_file is not None:
                _write_env_file(env_file, env)
            print(
                f"# {scenario} server ready on 127.0.0.1:{server.port} as {server.host}; "
                "Ctrl-C (SIGINT) or SIGTERM stops it.",
                file=sys.stderr,
            )
            sys.stdout.flush()
            sys.stderr.flush()
            while not stop.wait(0.5):
                if not server.running:
                    print(f"# the server exited; log: {server.log_path}", file=sys.stderr)
                    return 1
        return 0
    finally:
        if env_file is not None:
            env_file.unlink(missing_ok=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    """``python -m aurora_ssl.testing serve``: run one Aurora-like server until interrupted.

    Returns:
        The exit status: 0 after a clean stop, 1 if the server could not run.
    """
    parser = argparse.ArgumentParser(
        prog="python -m aurora_ssl.testing",
        description="A local Aurora-like PostgreSQL with an RDS-like TLS certificate chain.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="start a server, print its connection settings, stop on SIGINT/SIGTERM",
    )
    serve.add_argument(
        "--scenario", choices=[s.value for s in Scenario], default=Scenario.GOOD.value
    )
    serve.add_argument(
        "--env-file",
        type=Path,
        help="also write the settings as KEY=value lines here (removed on exit)",
    )
    args = parser.parse_args(argv)
    try:
        return _serve(args.scenario, args.env_file)
    except TestServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
