"""Helpers for the reliability tests, shared by the SQLAlchemy and the Django variants.

Concurrency (threads released together, the trust cache left complete), secrets (every log,
warning and exception searched for the password in any of its URL forms) and failover (a
writer thread through server restarts, a restart as an impostor). The ``all_logs`` fixture is
registered by the root conftest.py (``pytest_plugins``).

Spawned test processes import the reliability test modules and so this one: it stays light.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

import pytest
from sqlalchemy.exc import DBAPIError

import aurora_ssl
from aurora_ssl.errors import AuroraSSLError

if TYPE_CHECKING:
    from aurora_ssl.testing import AuroraLikeServer, TestPKI

# --- concurrency ------------------------------------------------------------------------------

THREADS = 64
PROCESSES = 4
THREADS_PER_PROCESS = 8


@pytest.fixture
def racing_cache(cache: Path, pki: TestPKI, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh private trust cache, and the test PKI's bundle as the user's
    (``AURORA_SSL_BUNDLE``): every thread and process of the test races to split it there."""
    monkeypatch.setenv("AURORA_SSL_BUNDLE", str(pki.bundle_path))
    return cache


def assert_only_complete_trust_files(cache: Path, pki: TestPKI) -> None:
    """The cache holds the bundle split once (``bundles/<sha256>/``), complete: no staging
    directory or temporary file left behind, the full bundle as given, the test region's file
    exactly the test root, every file a PEM block list."""
    leftovers = [p.name for p in cache.rglob("*") if ".tmp" in p.name]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    splits = list((cache / "bundles").iterdir()) if (cache / "bundles").is_dir() else []
    assert len(splits) == 1, f"the bundle was not split exactly once: {splits}"
    (split,) = splits
    assert (split / "full.pem").read_bytes() == Path(pki.bundle_path).read_bytes()
    assert (split / "test-region-1.pem").read_bytes() == Path(pki.root_path).read_bytes()
    for path in split.iterdir():
        text = path.read_bytes()
        assert text.startswith(b"-----BEGIN CERTIFICATE-----"), path.name
        assert text.rstrip().endswith(b"-----END CERTIFICATE-----"), f"{path.name} is cut"
    others = [p for p in cache.rglob("*") if p.is_file() and split not in p.parents]
    assert all(p.parent.name == "direct-tls" for p in others), f"unexpected files: {others}"


def all_at_once(count: int, task: Callable[[int], Any]) -> list[Any]:
    """Run ``task(i)`` in ``count`` threads released together by a barrier."""
    gate = threading.Barrier(count)

    def run(i: int) -> Any:
        gate.wait(timeout=30)
        return task(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


# --- secrets: the password never shows -------------------------------------------------------

PASSWORD = "Zq9+Sekrit/pw%40:@x"  # URL-special characters on purpose
FORMS = {PASSWORD, quote(PASSWORD, safe=""), quote_plus(PASSWORD), quote(PASSWORD)}


class Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception as exc:  # noqa: BLE001 - a broken log call is itself evidence
            self.lines.append(f"<unformattable record {record.name}: {exc!r} {record.args!r}>")
        if record.exc_info and record.exc_info[1] is not None:
            self.lines.append("".join(traceback.format_exception(record.exc_info[1])))


@pytest.fixture
def all_logs() -> Iterator[Everything]:
    """Every logger at DEBUG, including ones that do not propagate."""
    handler = Everything()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    saved = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    isolated = [logger for logger in loggers if not logger.propagate]
    for logger in isolated:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        logging.getLogger().removeHandler(handler)
        for logger in isolated:
            logger.removeHandler(handler)
        for logger, level in saved:
            logger.setLevel(level)


def exception_text(exc: BaseException) -> str:
    parts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), repr(getattr(current, "args", ()))]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


def forms_of(password: str) -> set[str]:
    return {password, quote(password, safe=""), quote_plus(password), quote(password)}


def assert_no_secret(where: str, content: str, forms: set[str] = FORMS) -> None:
    for form in forms:
        assert form not in content, f"the password ({form!r}) appears in {where}"


def run_failing(
    action: Callable[[], Any], logs: Everything, forms: set[str] = FORMS
) -> BaseException:
    """Run ``action``, which must fail; search everything it left behind for ``forms``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - any failure is what we inspect
            failure = exc
        else:
            pytest.fail("expected this path to fail")
    assert_no_secret("the exception or its chain", exception_text(failure), forms)
    assert_no_secret("the logs", "\n".join(logs.lines), forms)
    assert_no_secret("warnings", "\n".join(str(w.message) for w in caught), forms)
    return failure


# --- failover: a writer through restarts, and a restart as an impostor -----------------------

SURFACED = (DBAPIError, AuroraSSLError)


@dataclass
class Writer:
    """Runs ``write(n)`` for n = 0, 1, 2, ... in a thread until stopped."""

    write: Callable[[int], None]
    committed: list[int] = field(default_factory=list)
    failed: dict[int, BaseException] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    pause: float = 0.005

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self.stop.is_set():
            try:
                self.write(n)
            except Exception as exc:  # noqa: BLE001 - every failure is kept and checked
                self.failed[n] = exc
            else:
                self.committed.append(n)
            n += 1
            time.sleep(self.pause)

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()

    def wait_for_commits(self, more: int, timeout: float = 20.0) -> None:
        target = len(self.committed) + more
        deadline = time.monotonic() + timeout
        while len(self.committed) < target:
            assert time.monotonic() < deadline, (
                f"writer stuck at {len(self.committed)} commits; last errors: "
                f"{list(self.failed.values())[-3:]}"
            )
            time.sleep(0.01)

    def attempts(self) -> int:
        return len(self.committed) + len(self.failed)


@pytest.fixture(scope="module")
def own_server() -> Iterator[AuroraLikeServer]:
    """A server of the test module's own, with a PKI of its own (restarts and certificate swaps
    would disturb the session's servers); the log shows every connection attempt,
    authorisation and statement."""
    from aurora_ssl.testing import AuroraLikeServer
    from tests.fix_servers import LOG_EVERYTHING

    with AuroraLikeServer("good", settings=LOG_EVERYTHING) as server:
        yield server


@pytest.fixture
def own_bundle_env(
    own_server: AuroraLikeServer, monkeypatch: pytest.MonkeyPatch, fresh_caches: None
) -> Path:
    """``own_server``'s bundle as the user's RDS bundle (``AURORA_SSL_BUNDLE``)."""
    monkeypatch.setenv("AURORA_SSL_BUNDLE", str(own_server.pki.bundle_path))
    return Path(own_server.pki.bundle_path)


def run_failover(server: AuroraLikeServer, writer: Writer, restarts: int = 2) -> None:
    with writer:
        writer.wait_for_commits(20)
        for _ in range(restarts):
            server.restart()
            writer.wait_for_commits(20)


def check_rows(
    rows: list[tuple[int, int, bool, str]],
    writer: Writer,
    surfaced: tuple[type[BaseException], ...] = SURFACED,
) -> None:
    ids = [row[0] for row in rows]
    assert len(ids) == len(set(ids)), "a row was written twice"
    present = set(ids)
    missing = set(writer.committed) - present
    assert not missing, f"committed rows lost: {sorted(missing)[:10]}"
    unexplained = present - set(writer.committed) - set(writer.failed)
    assert not unexplained, f"rows nobody wrote: {sorted(unexplained)[:10]}"
    assert writer.failed, "no attempt failed: the restarts did not hit the writer"
    for exc in writer.failed.values():
        assert isinstance(exc, surfaced), repr(exc)
    assert all(row[2] is True for row in rows), "a row was written without TLS"
    assert {row[3] for row in rows} <= {"TLSv1.2", "TLSv1.3"}
    # Three server lifetimes: at least three different backends wrote rows.
    assert len({row[1] for row in rows}) >= 3


class Failover:
    """Restart the server as an impostor (foreign CA, same names), and back."""

    def __init__(self, server: AuroraLikeServer) -> None:
        self.server = server
        self.impostor = False

    def to_impostor(self) -> None:
        self.server.use_certificate(foreign=True)
        self.server.restart()
        self.impostor = True
        self.log_from = self.server.log_path.stat().st_size

    def back(self) -> None:
        self.log_until = self.server.log_path.stat().st_size
        self.server.use_certificate()
        self.server.restart()
        self.impostor = False

    def impostor_log(self) -> str:
        """What the server logged while it was the impostor."""
        with open(self.server.log_path, "rb") as log:
            log.seek(self.log_from)
            return log.read(self.log_until - self.log_from).decode(errors="replace")


def assert_nothing_reached(log: str) -> None:
    """Attempts arrived, but none got past the TLS handshake: no login, no statement."""
    assert "connection received" in log, log[-2000:]
    assert "connection authorized" not in log, log[-2000:]
    assert "statement:" not in log, log[-2000:]


# What libpq/OpenSSL say when a foreign CA has the same names as the trusted one: which one
# depends on the keys (an RSA signature checked with the wrong modulus fails in various ways).
UNTRUSTED_WORDS = (
    "certificate verify failed",
    "invalid padding",
    "bad signature",
    "data too large for modulus",
    "unknown ca",
)


def refused_as_untrusted(exc: BaseException) -> bool:
    if isinstance(exc, aurora_ssl.UntrustedCertificateError):
        return True
    chain: list[str] = []
    current: BaseException | None = exc
    while current is not None:
        chain.append(str(current).lower())
        current = current.__cause__ or current.__context__
    text_ = "\n".join(chain)
    return any(word in text_ for word in UNTRUSTED_WORDS)
