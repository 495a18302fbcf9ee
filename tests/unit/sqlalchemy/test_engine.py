"""SQLAlchemy's engine without a server: an unsupported driver is refused naming the supported
ones, and ``import aurora_ssl`` loads no framework, driver or X.509 parser.

The engine against real PostgreSQL servers over real TLS: tests/integration/sqlalchemy/test_engine.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import aurora_ssl
from aurora_ssl.errors import (
    InsecureConfigurationError,
)


def test_unsupported_driver_is_refused(bundle_env: Path) -> None:
    # pg8000 is supported since issue 11 (tests/integration/sqlalchemy/test_pg8000.py); psycopg2cffi
    # is not, and the message lists what is.
    with pytest.raises(InsecureConfigurationError, match="psycopg2cffi cannot be made") as info:
        aurora_ssl.create_engine("postgresql+psycopg2cffi://u@db.example.com/x")
    assert "postgresql+pg8000" in str(info.value)


def test_import_is_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, aurora_ssl; heavy = [m for m in ('sqlalchemy', 'django', 'cryptography',"
        " 'psycopg2', 'psycopg', 'asyncpg') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
