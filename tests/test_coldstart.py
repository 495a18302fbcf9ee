"""Cold start (issue 12): a fresh process's verified connection imports only what it needs.

Not a timing test: timings on a shared machine are noise. What a fresh process pays for is,
first of all, the modules it imports, so the test runs a real verified connection (the run's
libpq driver) through ``aurora_ssl.connection_params`` in a new interpreter and judges
``sys.modules`` afterwards, against what a plain ``import <driver>`` process loads, and the
server's own view (``pg_stat_ssl``) that the session was encrypted.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aurora_ssl.certificates import PEM_BLOCK as _PEM_BLOCK
from aurora_ssl.certificates import pem_blocks
from aurora_ssl.testing import AuroraLikeServer, TestPKI
from tests import drivers
from tests.fix_servers import verified_connect_in_fresh_process

ROOT = Path(__file__).resolve().parent.parent

#: Modules a plain ``import psycopg2`` process does not load, and why each must stay out of
#: the connect path. Each costs a fresh process (a cron job, a Lambda cold start, every
#: gunicorn or Celery child) time and memory that the 1.05x / +2 MiB goal does not allow.
NOT_ON_THE_CONNECT_PATH = {
    "typing": "about 3 ms; annotations need it only under TYPE_CHECKING",
    "dataclasses": "imports inspect; value classes are __slots__ classes (aurora_ssl._frozen)",
    "inspect": "with ast, dis, tokenize and linecache, the bulk of dataclasses' cost",
    "ast": "pulled in by inspect; nothing on the connect path parses Python",
    "dis": "pulled in by inspect",
    "tokenize": "pulled in by inspect (via linecache)",
    "logging": "imports traceback, string, threading, weakref; logged only on rare events",
    "traceback": "pulled in by logging, with textwrap",
    "textwrap": "pulled in by traceback",
    "threading": "the two locks are _thread locks, which need no import",
    "contextlib": "a try/except does what suppress() did",
    "copy": "pulled in by dataclasses",
    "importlib": "the lazy attributes use __import__",
    "pathlib": "trust files are handled as str paths; a Path is made only when one is asked for",
    "urllib.parse": "pulled in by pathlib; conninfo imports it only to decode a URI",
    "ipaddress": "pulled in by urllib.parse; an endpoint imports it only for a non-RDS host",
    "cryptography": "X.509 parsing: about 10 MiB; bundles are read through their index",
    "OpenSSL": "another X.509 parser: none may be used to connect",
    "asn1crypto": "another X.509 parser: none may be used to connect",
}


def _fresh_process(cache: Path, params: dict[str, str], bundle: str) -> dict[str, object]:
    return verified_connect_in_fresh_process(cache, params, bundle)


def _plain_driver_modules(driver: str) -> set[str]:
    """What ``import <driver>`` alone loads in a fresh interpreter: the floor."""
    done = subprocess.run(
        [sys.executable, "-c", f"import sys, {driver}; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return set(done.stdout.split())


@pytest.mark.driver("libpq")
def test_a_verified_connection_imports_nothing_heavy(
    tmp_path: Path, tls_server: AuroraLikeServer, pki: TestPKI
) -> None:
    cache = tmp_path / "cache"
    params = tls_server.params()
    first = _fresh_process(cache, params, str(pki.bundle_path))  # validates the new bundle
    modules = set(first["modules"])  # type: ignore[call-overload]
    assert "cryptography" in modules  # the first sight of a user bundle parses it, once
    second = _fresh_process(cache, params, str(pki.bundle_path))
    assert second["server_saw_tls"] is True
    assert second["sslmode"] == "verify-full"
    modules = set(second["modules"])  # type: ignore[call-overload]
    driver = drivers.libpq_driver()
    assert {driver, "aurora_ssl.policy", "aurora_ssl.trust"} <= modules  # the path ran
    # aurora-ssl adds none of them; psycopg 3 itself loads some (typing, logging...), which
    # aurora-ssl cannot be blamed for. With psycopg2 the floor has none (the test below).
    floor = _plain_driver_modules(driver)
    added = {name: why for name, why in NOT_ON_THE_CONNECT_PATH.items() if name in modules}
    assert {name: why for name, why in added.items() if name not in floor} == {}
    assert "cryptography" not in floor  # so the check above is not empty where it matters most


@pytest.mark.driver("psycopg2")
def test_the_heavy_modules_are_really_absent_from_a_plain_psycopg2_process() -> None:
    """The list above is fair: plain psycopg2 (the floor) loads none of these either."""
    assert _plain_driver_modules("psycopg2") & set(NOT_ON_THE_CONNECT_PATH) == set()


_FRAGMENTS = st.sampled_from(
    [
        b"-----BEGIN CERTIFICATE-----",
        b"-----END CERTIFICATE-----",
        b"\n",
        b"\r",
        b"\r\n",
        b"MIIB",
        b"x",
        b"-----",
        b"# Label",
    ]
)


@given(st.lists(_FRAGMENTS, max_size=24).map(b"".join))
def test_pem_blocks_finds_what_the_regular_expression_finds(data: bytes) -> None:
    assert pem_blocks(data) == [m.group(0) for m in _PEM_BLOCK.finditer(data)]


@pytest.mark.parametrize(
    "data",
    [
        b"-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----",
        b"-----BEGIN CERTIFICATE-----\r\nA\r\n-----END CERTIFICATE-----\n",
        b"-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----",  # empty body: no block
        b"-----BEGIN CERTIFICATE-----A\n-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----",
    ],
)
def test_pem_blocks_edge_cases(data: bytes) -> None:
    assert pem_blocks(data) == [m.group(0) for m in _PEM_BLOCK.finditer(data)]
    assert pem_blocks(data) == re.findall(
        rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", data, re.DOTALL
    )


def test_value_classes_keep_the_frozen_dataclass_contract() -> None:
    """Settings and Endpoint are lru_cache keys; TrustSelection is public API (repr, replace)."""
    import copy
    import pickle

    from aurora_ssl import Settings, parse_endpoint
    from aurora_ssl.trust import TrustSelection

    settings = Settings(bundle="b.pem", tls_server_name="db.example.com")
    same = Settings(bundle="b.pem", tls_server_name="db.example.com")
    assert settings == same
    assert hash(settings) == hash(same)
    assert settings != Settings(bundle="b.pem")
    assert settings != ("b.pem", "db.example.com", False)  # equal only to its own class
    with pytest.raises(AttributeError, match="cannot assign to field 'bundle'"):
        settings.bundle = "other.pem"  # type: ignore[misc]
    assert repr(settings) == (
        "Settings(bundle='b.pem', tls_server_name='db.example.com', insecure_local_dev=False)"
    )
    endpoint = parse_endpoint("db.cluster-abc.us-east-1.rds.amazonaws.com")
    assert pickle.loads(pickle.dumps(endpoint)) == endpoint  # noqa: S301 - our own bytes
    assert copy.deepcopy(settings) == settings
    selection = TrustSelection("p.pem", "region:x", ("A",), "src", _content=b"pem")
    assert selection == TrustSelection("p.pem", "region:x", ("A",), "src")  # content not compared
    assert "_content" not in repr(selection)
    changed = selection.replace(scope="selected by aurora-ssl")
    assert (changed.scope, changed.path, changed._content) == (
        "selected by aurora-ssl",
        "p.pem",
        b"pem",
    )
    assert selection.scope == "region:x"
