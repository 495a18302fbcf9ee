"""The review's attacks on the connect path that are refused without a server: an asyncpg host
that is no name, and the insecure opt-out's warning, which masks every secret or debug keyword.

The attacks that need a server to show they are real (a control that gets through with the
plain driver, a server log that shows nothing reached it): tests/integration/test_attacks.py.
"""

from __future__ import annotations

import pytest

import aurora_ssl
from aurora_ssl.errors import InsecureConfigurationError

# -- 2. asyncpg with a host that is no name -------------------------------------------------


@pytest.mark.driver("asyncpg")
@pytest.mark.parametrize("host", ["/tmp", "@abstract", "", " ", "a b"])
def test_asyncpg_host_that_is_no_name_is_refused(host: str) -> None:
    from aurora_ssl._policy import Policy

    policy = Policy(aurora_ssl.Options())
    with pytest.raises(InsecureConfigurationError):
        policy.decide_socket({"host": host, "port": 5432}, "connect_args", driver="asyncpg")


# -- 7. libpq 18's SCRAM keys and every secret or debug keyword are masked -------------------


@pytest.mark.driver("psycopg")
def test_every_secret_or_debug_keyword_is_masked_in_the_opt_out_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from psycopg import pq

    from aurora_ssl._policy import warn_insecure

    marked = [o.keyword.decode() for o in pq.Conninfo.get_defaults() if o.dispchar in (b"*", b"D")]
    assert {"password", "scram_client_key", "sslkeylogfile"} <= set(marked)
    secret = "s3cr3t-V4lue"
    query = "&".join(f"{key}={secret}" for key in marked)
    conninfo = " ".join(f"{key}={secret}" for key in marked)
    with caplog.at_level("WARNING", logger="aurora_ssl"):
        warn_insecure(f"postgresql://app@localhost/app?{query}")
        warn_insecure(conninfo)
    assert "INSECURE" in caplog.text
    assert secret not in caplog.text


def test_the_opt_out_warning_keeps_what_is_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    from aurora_ssl._policy import warn_insecure

    with caplog.at_level("WARNING", logger="aurora_ssl"):
        warn_insecure("postgresql://app@localhost:5433/app?sslmode=disable&application_name=x")
    assert "localhost:5433/app" in caplog.text
    assert "sslmode=disable" in caplog.text
