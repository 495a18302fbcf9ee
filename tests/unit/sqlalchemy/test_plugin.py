"""SQLAlchemy's entry points refuse without a server what would weaken a connection (issue 8):
an ``async_creator_fn`` in the connect parameters, and the insecure opt-out for any AWS name,
whichever source the host comes from.

Every entry point against real servers: tests/integration/sqlalchemy/test_entry_points.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import aurora_ssl
from aurora_ssl.errors import InsecureConfigurationError
from tests import drivers

AWS = "demo.cluster-abc123xyz.us-east-1.rds.amazonaws.com"


# --- 1. creator=, pool=, async_creator= ----------------------------------------------------


@pytest.mark.parametrize("driver", drivers.params("postgresql+asyncpg", "postgresql+psycopg"))
def test_async_creator_fn_in_connect_args_is_refused(bundle_env: Path, driver: str) -> None:
    # The async dialects read a creator from the connect parameters too.
    with pytest.raises(InsecureConfigurationError, match="async_creator_fn"):
        aurora_ssl.create_async_engine(
            f"{driver}://u@{AWS}/db", connect_args={"async_creator_fn": print}
        )


# --- 3. the opt-out's AWS guard sees every host source ------------------------------------


@pytest.mark.driver("libpq")  # LIBPQ: the run's libpq driver (tests/drivers.py)
@pytest.mark.parametrize(
    ("url", "kwargs", "env"),
    [
        (f"postgresql+LIBPQ://u@{AWS}/db", {}, {}),
        (f"postgresql+LIBPQ://u@localhost/db?host={AWS}", {}, {}),
        (f"postgresql+LIBPQ://u@/db?host=localhost,{AWS}", {}, {}),
        (f"postgresql+LIBPQ://u@/db?host=localhost:5432&host={AWS}:5432", {}, {}),
        ("postgresql+LIBPQ://u@localhost/db", {"connect_args": {"host": AWS}}, {}),
        ("postgresql+LIBPQ://u@/db", {"connect_args": {"dsn": f"host={AWS} password=s3cret"}}, {}),
        ("postgresql+LIBPQ://u@/db?hostaddr=127.0.0.1", {}, {"PGHOST": AWS}),
        (f"postgresql+asyncpg://u@localhost/db?hostaddr={AWS}", {}, {}),
        ("postgresql+LIBPQ://u@localhost/db", {"aurora_ssl_tls_server_name": AWS}, {}),
        (f"postgresql+LIBPQ://u@localhost/db?aurora_ssl_tls_server_name={AWS}", {}, {}),
        pytest.param(
            "postgresql+psycopg2://u@localhost/db", {}, {"X": "control: no AWS name"},
            marks=pytest.mark.driver("psycopg2"),  # the controls create the engine
        ),
        pytest.param(
            "postgresql+psycopg://u@localhost/db", {}, {"X": "control: no AWS name"},
            marks=pytest.mark.driver("psycopg"),
        ),
    ],
    ids=[
        "url-host", "query-host", "query-host-list", "query-host-repeated", "connect_args-host",
        "dsn-host", "PGHOST-with-hostaddr-only", "asyncpg-hostaddr", "tls_server_name-kwarg",
        "tls_server_name-url", "control-localhost", "control-localhost-psycopg",
    ],
)  # fmt: skip
def test_insecure_opt_out_guard_sees_every_host_source(
    monkeypatch: pytest.MonkeyPatch, url: str, kwargs: dict[str, Any], env: dict[str, str]
) -> None:
    monkeypatch.delenv("PGHOST", raising=False)
    url = url.replace("+LIBPQ", "+" + drivers.libpq_driver())
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    make = aurora_ssl.create_async_engine if "asyncpg" in url else aurora_ssl.create_engine
    if "X" in env:
        make(url, aurora_ssl_insecure_local_dev=True, **kwargs)  # accepted: nothing AWS
        return
    with pytest.raises(InsecureConfigurationError, match="AWS endpoint") as refused:
        make(url, aurora_ssl_insecure_local_dev=True, **kwargs)
    assert "s3cret" not in str(refused.value)  # the name is quoted, not the connection string
