"""The review's attacks on the connect path, each refused before any byte reaches the server.

Every attack comes with a control: the same input given to the plain driver succeeds (a
plaintext session, or a login over a Unix socket), which shows the attack is real. With
aurora-ssl the same input is refused, and the server's log (every connection attempt is
logged) shows that nothing reached it. The attacks refused without a server (an asyncpg host
that is no name, the opt-out warning's masking): tests/unit/test_attacks.py.
"""

from __future__ import annotations

import asyncio
import os
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

import aurora_ssl
from aurora_ssl.errors import AuroraSSLError, BundleError, InsecureConfigurationError
from aurora_ssl.testing import AuroraLikeServer
from tests import drivers
from tests.fix_servers import log_since, log_size


def attempts(server: AuroraLikeServer, since: int) -> list[str]:
    """Every connection the server received since ``since`` (TCP or Unix socket)."""
    return [line for line in log_since(server, since).splitlines() if "connection received" in line]


def weak_params(server: AuroraLikeServer, key: str, value: str) -> dict[str, Any]:
    """The server's parameters, verify-full as asked, and a second key spelled with a blank."""
    return {
        **server.params(),
        "sslmode": "verify-full",
        "sslrootcert": str(server.pki.bundle_path),
        key: value,
    }


# -- 1. a key spelled with a blank, tab or newline next to the real one ----------------------


@pytest.mark.parametrize("driver", drivers.params("psycopg2", "psycopg"))
def test_control_a_blank_in_a_key_gives_a_plaintext_session(
    plaintext_server: AuroraLikeServer, driver: str
) -> None:
    module = __import__(driver)
    with module.connect(**weak_params(plaintext_server, "sslmode ", "disable")) as conn:
        assert not drivers.ssl_in_use(conn)  # the attack works on the plain driver
    conn.close()


@pytest.mark.parametrize("driver", drivers.params("psycopg2", "psycopg"))
@pytest.mark.parametrize("key", ["sslmode ", "sslmode\t", "sslmode\n", "SSLMODE", "ssl\u200bmode"])
def test_connection_params_refuses_a_key_libpq_does_not_spell(
    plaintext_server: AuroraLikeServer, driver: str, key: str
) -> None:
    since = log_size(plaintext_server)
    with pytest.raises(InsecureConfigurationError, match="neither a libpq keyword"):
        aurora_ssl.connection_params(weak_params(plaintext_server, key, "disable"), driver=driver)
    assert attempts(plaintext_server, since) == []


@pytest.mark.parametrize("driver", drivers.params("psycopg2", "psycopg"))
def test_sqlalchemy_url_refuses_a_key_with_a_blank(
    plaintext_server: AuroraLikeServer, driver: str
) -> None:
    url = plaintext_server.url(f"postgresql+{driver}")
    since = log_size(plaintext_server)
    with pytest.raises(InsecureConfigurationError, match="'sslmode '"):  # at engine creation
        aurora_ssl.create_engine(
            f"{url}&sslmode=verify-full&sslmode%20=disable",
            aurora_ssl_bundle=str(plaintext_server.pki.bundle_path),
        )
    assert attempts(plaintext_server, since) == []


@pytest.mark.driver("psycopg2")
def test_control_a_host_key_with_a_blank_sends_the_password_to_a_socket(
    plaintext_server: AuroraLikeServer,
) -> None:
    # psycopg 3 resolves the first host itself and passes its address, which wins over a
    # socket directory; psycopg2 hands libpq the string as it serialised it.
    params = {k: v for k, v in plaintext_server.params().items() if k != "hostaddr"}
    params["host "] = str(plaintext_server.socket_dir)
    since = log_size(plaintext_server)
    import psycopg2

    with psycopg2.connect(**params) as conn:
        assert not drivers.ssl_in_use(conn)
    conn.close()
    assert "host=[local]" in "".join(attempts(plaintext_server, since))


@pytest.mark.parametrize("driver", drivers.params("psycopg2", "psycopg"))
def test_a_host_key_with_a_blank_is_refused(
    plaintext_server: AuroraLikeServer, driver: str
) -> None:
    params = {k: v for k, v in plaintext_server.params().items() if k != "hostaddr"}
    params["host "] = str(plaintext_server.socket_dir)
    since = log_size(plaintext_server)
    with pytest.raises(InsecureConfigurationError, match="'host '"):
        aurora_ssl.connection_params(params, driver=driver)
    assert attempts(plaintext_server, since) == []


# -- 2. asyncpg with hostaddr=/some/dir ------------------------------------------------------


@pytest.mark.driver("asyncpg")
def test_control_asyncpg_takes_a_path_as_host_and_logs_in_over_a_socket(
    plaintext_server: AuroraLikeServer,
) -> None:
    import asyncpg

    params = plaintext_server.params()
    since = log_size(plaintext_server)

    async def run() -> None:
        conn = await asyncpg.connect(
            host=str(plaintext_server.socket_dir),
            port=int(params["port"]),
            user=params["user"],
            password=params["password"],
            database=params["dbname"],
        )
        await conn.close()

    asyncio.run(run())
    assert "host=[local]" in "".join(attempts(plaintext_server, since))


@pytest.mark.driver("asyncpg")
@pytest.mark.parametrize("where", ["url", "connect_args"])
def test_asyncpg_hostaddr_that_is_a_path_is_refused(
    plaintext_server: AuroraLikeServer, where: str
) -> None:
    url = plaintext_server.url("postgresql+asyncpg").replace("hostaddr=127.0.0.1", "")
    socket_dir = str(plaintext_server.socket_dir)
    kwargs: dict[str, Any] = {"aurora_ssl_bundle": str(plaintext_server.pki.bundle_path)}
    if where == "url":
        url += "hostaddr=" + urllib.parse.quote(socket_dir, safe="")
    else:
        kwargs["connect_args"] = {"hostaddr": socket_dir}
    since = log_size(plaintext_server)

    async def run() -> None:
        engine = aurora_ssl.create_async_engine(url, **kwargs)
        try:
            async with engine.connect():
                pass
        finally:
            await engine.dispose()

    with pytest.raises(InsecureConfigurationError, match="not an IP address"):
        asyncio.run(run())
    assert attempts(plaintext_server, since) == []


# -- 6. a trust file another local user can write --------------------------------------------


@pytest.mark.driver("libpq")
@pytest.mark.parametrize("mode", [0o775, 0o757])
def test_a_bundle_in_a_directory_others_can_write_is_refused(
    logged_server: AuroraLikeServer, tmp_path: Path, mode: int, fresh_caches: None
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    bundle = shared / "bundle.pem"
    bundle.write_bytes(logged_server.pki.bundle_path.read_bytes())
    shared.chmod(mode)  # another user could add a root to it
    since = log_size(logged_server)
    with pytest.raises(BundleError, match="writable by other users"):
        aurora_ssl.connection_params(
            logged_server.params(),
            aurora_ssl.Options(bundle=str(bundle)),
            driver=drivers.libpq_driver(),
        )
    assert attempts(logged_server, since) == []
    shared.chmod(0o755)  # the control: the same file, closed to others, is used
    conn = drivers.libpq_connect(
        **aurora_ssl.connection_params(
            logged_server.params(),
            aurora_ssl.Options(bundle=str(bundle)),
            driver=drivers.libpq_driver(),
        )
    )
    assert drivers.ssl_in_use(conn)
    conn.close()


@pytest.mark.driver("libpq")
def test_a_trust_file_of_another_user_is_refused(
    logged_server: AuroraLikeServer, tmp_path: Path, fresh_caches: None
) -> None:
    if os.getuid() != 0:
        pytest.skip("giving a file to another user needs root")
    root = tmp_path / "ca.pem"
    root.write_bytes(logged_server.pki.root_path.read_bytes())
    os.chown(root, 65534, 65534)
    params = {**logged_server.params(), "sslrootcert": str(root)}
    since = log_size(logged_server)
    with pytest.raises(BundleError, match="belongs to another user"):
        aurora_ssl.connection_params(params, driver=drivers.libpq_driver())
    assert attempts(logged_server, since) == []


# -- the refusal's words: where it came from, what to do -------------------------------------


@pytest.mark.driver("libpq")
def test_a_refused_key_is_named_with_its_source(tls_server: AuroraLikeServer) -> None:
    with pytest.raises(AuroraSSLError) as info:
        aurora_ssl.connection_params(
            {**tls_server.params(), "sslmode\t": "disable"},
            driver=drivers.libpq_driver(),
            origin="the settings of test",
        )
    text = str(info.value)
    assert "'sslmode\\t'" in text
    assert "the settings of test" in text
    assert tls_server.password not in text
