"""Django's and SQLAlchemy's own test suites, through aurora-ssl, against the local TLS server.

    python scripts/peer/run.py --django 5.2.20 --sqlalchemy 2.1.9   # what ``nox -s peer`` runs

Why: our backend and plugin sit in the connect path of every Django and SQLAlchemy user, so
the frameworks' own tests (thousands of them, written by people who know every corner) must
pass through them. Their source distributions are downloaded once from PyPI and unpacked into
a cache (``$AURORA_SSL_PEER_CACHE``, default ``~/.cache/aurora-ssl/peer``); one Aurora-like
server (:mod:`aurora_ssl.testing`) serves both runs over verified TLS: Django's runner with
``ENGINE = django_aurora_ssl.backends.postgresql`` (``peer_settings.py``), SQLAlchemy's pytest
with ``--dburi`` set to the server's ``database_url()`` (``plugin=aurora_ssl`` and the test
bundle in the URL), once with psycopg and once with its asyncio dialect.

A test may fail only as :data:`EXPECTED` says: with our refusal of a connection we cannot
verify (a mock, a test's proxy, a pool or creator that skips our connect step), its text
checked. Any other failure, an expected one that passes, or a test of :data:`MUST_PASS` that
did not run and pass fails the session. The Django and SQLAlchemy versions are the session's
(noxfile.py): the lists below are written against them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import psycopg

from aurora_ssl.testing import AuroraLikeServer

HERE = Path(__file__).resolve().parent

DJANGO_MODULES = [
    "dbshell", "backends", "basic", "transactions", "transaction_hooks", "queries",
    "select_for_update", "introspection", "schema", "db_functions", "expressions",
    "expressions_window", "aggregation", "annotations", "model_fields", "migrations", "lookup",
    "bulk_create", "update", "delete", "ordering", "indexes", "constraints", "get_or_create",
    "raw_query", "multiple_database", "test_utils", "servers", "async", "handlers",
]  # fmt: skip
SQLALCHEMY_SYNC = ["test/engine", "test/dialect/postgresql", "test/sql/test_query.py"]
SQLALCHEMY_ASYNC = ["test/ext/asyncio"]
#: Tests that cannot run here and never reach our code (pytest -k), with the reason.
NOT_HERE = {
    "test_multiple_host_real_connect": "rebuilds the URL from host, port, user and password "
    "only: the query (plugin=aurora_ssl, hostaddr) is dropped, so our plugin is not in the "
    "engine and the server's RDS-like name, which does not resolve here, cannot be reached",
    "test_array_str_collation": 'needs the OS locale en_US (collation "en_US") in the server',
}

_UNCHECKED = "connection reached the pool without passing aurora-ssl's connect step"
_POOL = "pool= is not accepted by aurora-ssl"
#: Test id (a prefix ends with ``*``, or names a class) -> (why it fails, text its failure has).
EXPECTED: dict[str, tuple[str, str]] = {
    "test.engine.test_execute.DialectEventTest.test_connect_replace_params": (
        "replaces the engine's dialect.connect with a Mock, whose Mock connection is refused",
        f"unittest.mock.Mock {_UNCHECKED}",
    ),
    "test.engine.test_execute.DialectEventTest.test_connect_do_connect": (
        "a do_connect listener returns a Mock as the connection, which is refused",
        f"unittest.mock.Mock {_UNCHECKED}",
    ),
    "test.engine.test_execute.DialectEventTest."
    "test_connect_do_connect_no_cargs_cparams_leak_nullpool": (
        "replaces the engine's dialect.connect with a Mock, whose Mock connection is refused",
        f"unittest.mock.Mock {_UNCHECKED}",
    ),
    "test.engine.test_reconnect.RealPrePingEventHandlerTest": (
        "its fixture patches the driver's connect to wrap each connection in a test proxy "
        "(DBAPIProxyConnection); the read-back knows drivers by type and refuses the proxy",
        "ExplodeConnection connection: aurora-ssl reads the TLS state of psycopg2",
    ),
    "test.engine.test_pool.QueuePoolTest.test_recycle_pool_no_race": (
        "hands create_engine a pool= of its own, which would skip our connect step",
        _POOL,
    ),
    "test.dialect.postgresql.test_dialect.DialectTest.test_ensure_version_is_qualified": (
        "a do_connect listener connects by itself with the cparams SQLAlchemy gives it, which "
        "carry plugin=aurora_ssl (engine.url keeps it, so engines made from it stay protected): "
        "psycopg refuses that key before sending anything; a connection made there would be "
        "refused as unchecked",
        'invalid connection option "plugin"',
    ),
    "test.ext.asyncio.test_engine.AsyncEngineTest.test_async_creator_invoked": (
        "hands create_async_engine an async_creator=, which would skip our connect step",
        "async_creator= is not accepted by aurora-ssl",
    ),
    "test.ext.asyncio.test_engine.AsyncEngineTest.test_async_creator_handle_error": (
        "hands create_async_engine an async_creator=, which would skip our connect step",
        "async_creator= is not accepted by aurora-ssl",
    ),
    "test.ext.asyncio.test_engine.AsyncEngineTest.test_pool_classes[instantiate-*": (
        "hands create_async_engine a pool= instance, which would skip our connect step",
        _POOL,
    ),
}
#: What the issue asked about: these must run, and pass.
MUST_PASS = [
    "dbshell.test_postgresql.PostgreSqlDbshellCommandTestCase.test_sigint_handler",
    "test.engine.test_execute.DialectEventTest.test_connect_do_connect_info_there_after_invalidate",
    "test.engine.test_execute.DialectEventTest.test_connect_do_connect_info_there_after_recycle",
]


def cache_root() -> Path:
    override = os.environ.get("AURORA_SSL_PEER_CACHE")
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aurora-ssl"
    return Path(override) if override else base / "peer"


def source(project: str, version: str) -> Path:
    """The unpacked sdist of ``project==version``: downloaded and unpacked once (atomically)."""
    root = cache_root()
    tree = root / f"{project.lower()}-{version}"
    if (tree / "PKG-INFO").is_file():
        return tree
    sdists = root / "sdists"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
         "--no-binary", ":all:", "--no-deps", "--dest", str(sdists), f"{project}=={version}"],
        check=True,
    )  # fmt: skip
    archive = next(sdists.glob(f"{project.lower()}-{version}.tar.gz"))
    with tempfile.TemporaryDirectory(dir=root) as scratch, tarfile.open(archive) as tar:
        # filter="data" (no links out, no devices) where this Python has it (3.10.12, 3.11.4)
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(scratch, **safe)  # noqa: S202 - PyPI's sdist, filtered where possible
        os.replace(Path(scratch) / tree.name, tree)
    return tree


def start_server() -> AuroraLikeServer:
    """One server for both suites, with what SQLAlchemy's tests need besides the defaults:
    prepared transactions, the two schemas of its cross-schema tests, and hstore and citext
    before its first connection (which decides whether psycopg reads hstore natively)."""
    server = AuroraLikeServer(settings={"max_prepared_transactions": "10"}).start()
    with psycopg.connect(**server.admin_params(), autocommit=True) as admin:
        for schema in ("test_schema", "test_schema_2"):
            admin.execute(f'CREATE SCHEMA {schema} AUTHORIZATION "{server.user}"')
        for extension in ("hstore", "citext"):
            admin.execute(f"CREATE EXTENSION {extension}")
    return server


def run_django(tree: Path, url: str, scratch: Path) -> dict[str, object]:
    results = scratch / "django.json"
    path = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "DATABASE_URL": url, "AURORA_SSL_PEER_RESULTS": str(results),
           "PYTHONPATH": path}  # fmt: skip
    command = [sys.executable, "runtests.py", "--settings=peer_settings", "--noinput",
               "--parallel=1", *DJANGO_MODULES]  # fmt: skip
    subprocess.run(command, cwd=tree / "tests", env=env, check=False)
    if not results.is_file():
        sys.exit("peer: Django's runner stopped before running the tests (see above)")
    outcome: dict[str, object] = json.loads(results.read_text())
    if not outcome["protected"]:
        sys.exit("peer: Django's connections were not made by aurora-ssl's backend")
    return outcome


def run_sqlalchemy(tree: Path, url: str, paths: list[str], xml: Path) -> dict[str, object]:
    deselect = " and ".join(f"not {name}" for name in NOT_HERE)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--tb=short",
               "--dburi", url, "--junitxml", str(xml), "-k", deselect, *paths]  # fmt: skip
    subprocess.run(command, cwd=tree, check=False)
    if not xml.is_file():
        sys.exit("peer: SQLAlchemy's pytest stopped before running the tests (see above)")
    failed: dict[str, str] = {}
    passed, skipped = [], 0
    for case in ET.parse(xml).getroot().iter("testcase"):  # noqa: S314 - pytest's own report
        # Backend tests are classes per database: "DialectTest_postgresql+psycopg_15_18".
        cls = re.sub(r"_postgresql\+[^.]*$", "", case.get("classname", ""))
        name = f"{cls}.{case.get('name', '')}"
        problems = [p for p in case if p.tag in ("failure", "error")]
        if problems:
            failed[name] = "\n".join(f"{p.get('message', '')}\n{p.text or ''}" for p in problems)
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed.append(name)
    return {"ran": len(passed) + len(failed) + skipped, "skipped": skipped, "passed": passed,
            "failed": failed}  # fmt: skip


def expected_key(test: str) -> str | None:
    """The key of :data:`EXPECTED` that covers ``test``, if any."""
    for key in EXPECTED:
        if key.endswith("*") and test.startswith(key[:-1]):
            return key
        if test == key or test.startswith((f"{key}.", f"{key}[")):
            return key
    return None


def verdict(outcomes: dict[str, dict[str, object]]) -> list[str]:
    """Print each run's counts and expected failures; return what fails the session."""
    problems: list[str] = []
    seen: set[str] = set()
    passed_anywhere: set[str] = set()
    for run, outcome in outcomes.items():
        failed: dict[str, str] = outcome["failed"]  # type: ignore[assignment]
        passed: list[str] = outcome["passed"]  # type: ignore[assignment]
        passed_anywhere.update(passed)
        print(f"peer: {run}: {outcome['ran']} ran, {len(passed)} passed, "
              f"{outcome['skipped']} skipped, {len(failed)} failed")  # fmt: skip
        for test, text in sorted(failed.items()):
            key = expected_key(test)
            if key is None:
                problems.append(f"{run}: {test} failed:\n{_tail(text)}")
                continue
            seen.add(key)
            why, must_say = EXPECTED[key]
            if must_say in text:
                print(f"peer:   expected: {test}: {why}")
            else:
                problems.append(f"{run}: {test} failed, not with {must_say!r}:\n{_tail(text)}")
    problems += [f"expected to fail, did not: {key} (update EXPECTED)" for key in EXPECTED
                 if key not in seen]  # fmt: skip
    problems += [f"must run and pass, did not: {test}" for test in MUST_PASS
                 if test not in passed_anywhere]  # fmt: skip
    return problems


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(f"    {line}" for line in text.strip().splitlines()[-lines:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--django", required=True, help="the Django release, e.g. 5.2.20")
    parser.add_argument("--sqlalchemy", required=True, help="the SQLAlchemy release, e.g. 2.1.9")
    args = parser.parse_args()
    import django

    if django.__version__ != args.django:
        sys.exit(f"peer: Django {django.__version__} is installed; its tests are {args.django}")
    cache_root().mkdir(parents=True, exist_ok=True)
    django_tree = source("Django", args.django)
    sqlalchemy_tree = source("SQLAlchemy", args.sqlalchemy)
    started = time.monotonic()
    outcomes: dict[str, dict[str, object]] = {}
    with start_server() as server, tempfile.TemporaryDirectory() as scratch:
        url = server.database_url("postgresql+psycopg")
        async_url = server.database_url("postgresql+psycopg_async")
        outcomes[f"Django {args.django}"] = run_django(django_tree, url, Path(scratch))
        for label, dburi, paths in [("psycopg", url, SQLALCHEMY_SYNC),
                                    ("psycopg_async", async_url, SQLALCHEMY_ASYNC)]:  # fmt: skip
            xml = Path(scratch) / f"sqlalchemy-{label}.xml"
            run = f"SQLAlchemy {args.sqlalchemy} ({label})"
            outcomes[run] = run_sqlalchemy(sqlalchemy_tree, dburi, paths, xml)
    problems = verdict(outcomes)
    print(f"peer: {time.monotonic() - started:.0f} s with the server up")
    for problem in problems:
        print(f"peer: FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
