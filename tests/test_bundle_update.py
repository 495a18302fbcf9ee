"""``bundle update`` against a local HTTPS server with its own CA (there is no internet here).

The rule under test: the installed bundle changes only on success. Every refusal (tampered
content, a non-CA, an expired root, truncation, http, a redirect to http, a server down, a
server certificate nobody vouched for) leaves the previous bundle byte for byte as it was.
"""

from __future__ import annotations

import datetime
import http.server
import json
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from aurora_ssl.bundle_update import UPDATE_CAFILE_ENV, update_bundle, validate_bundle
from aurora_ssl.cli import main
from aurora_ssl.errors import BundleUpdateError
from aurora_ssl.trust import bundle_source, shipped_bundle_path, updated_bundle_path

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


def _cert(
    cn: str,
    *,
    ca: bool = True,
    expired: bool = False,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None = None,
    san: str | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer_name, issuer_key = issuer or (name, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - (400 if expired else 1) * DAY)
        .not_valid_after(NOW - 10 * DAY if expired else NOW + 3650 * DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    # Key identifiers and key usage: Python 3.13 verifies with VERIFY_X509_STRICT by default.
    builder = builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
    ).add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
        critical=False,
    ).add_extension(
        x509.KeyUsage(
            digital_signature=not ca, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
            encipher_only=False, decipher_only=False,
        ),
        critical=True,
    )  # fmt: skip
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256()), key


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _root(region: str, kind: str = "ECC384") -> bytes:
    return _pem(_cert(f"Amazon RDS {region} Root CA {kind} G1")[0])


@dataclass
class Site:
    """The local HTTPS server: ``url(path)``, the CA file that trusts it, and its pages."""

    port: int
    cafile: Path
    pages: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"https://localhost:{self.port}{path}"

    def serve(self, path: str, body: bytes, status: int = 200, **headers: str) -> str:
        self.pages[path] = (status, headers, body)
        return self.url(path)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    directory = tmp_path_factory.mktemp("https")
    ca, ca_key = _cert("aurora-ssl test download CA")
    leaf, leaf_key = _cert("localhost", ca=False, issuer=(ca.subject, ca_key), san="localhost")
    (directory / "ca.pem").write_bytes(_pem(ca))
    (directory / "server.pem").write_bytes(_pem(leaf))
    (directory / "server.key").write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "server.pem", directory / "server.key")
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = pages.get(self.path, (404, {}, b"not found"))
            self.send_response(status)
            for key, value in headers.items():
                if key != "Content-Length":
                    self.send_header(key, value)
            # A page may announce more than it has: the client sees a cut-off download.
            self.send_header("Content-Length", headers.get("Content-Length", str(len(body))))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Site(port=server.server_address[1], cafile=directory / "ca.pem", pages=pages)
    server.shutdown()
    server.server_close()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_caches: None) -> Path:
    """A private cache directory, so an installed bundle never leaks into other tests."""
    monkeypatch.setenv("AURORA_SSL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("AURORA_SSL_BUNDLE", raising=False)
    monkeypatch.delenv(UPDATE_CAFILE_ENV, raising=False)
    return tmp_path / "cache"


@pytest.fixture
def previous(cache: Path) -> bytes:
    """An earlier update is installed: the content every failure must leave untouched."""
    content = shipped_bundle_path().read_bytes()
    path = updated_bundle_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return content


SHIPPED = shipped_bundle_path().read_bytes()


def test_update_installs_and_reports_the_difference(site: Site, previous: bytes) -> None:
    new_root = _root("zz-newregion-1")
    url = site.serve("/global-bundle.pem", SHIPPED + new_root)
    result = update_bundle(url=url, cafile=site.cafile)
    assert result.installed
    assert [c.subject for c in result.added] == ["Amazon RDS zz-newregion-1 Root CA ECC384 G1"]
    assert result.removed == ()
    assert updated_bundle_path().read_bytes() == SHIPPED + new_root
    assert bundle_source() == (updated_bundle_path(), "updated")
    data = result.to_dict()
    assert data["installed"] is True
    assert "zz-newregion-1" in data["regions"]
    assert data["added"][0]["region"] == "zz-newregion-1"
    assert "added:     Amazon RDS zz-newregion-1 Root CA ECC384 G1" in result.to_text()


def test_update_reports_removed_certificates(site: Site, previous: bytes) -> None:
    blocks = SHIPPED.split(b"-----END CERTIFICATE-----\n")
    fewer = b"-----END CERTIFICATE-----\n".join(blocks[1:])  # the first root dropped
    result = update_bundle(url=site.serve("/fewer.pem", fewer), cafile=site.cafile)
    assert result.installed
    assert len(result.removed) == 1
    assert any("not in the new one" in w for w in result.warnings)


def test_same_content_is_not_reinstalled(site: Site, previous: bytes) -> None:
    path = updated_bundle_path()
    before = path.stat().st_mtime_ns
    result = update_bundle(url=site.serve("/same.pem", SHIPPED), cafile=site.cafile)
    assert not result.installed
    assert not result.changed
    assert path.stat().st_mtime_ns == before


def test_dry_run_installs_nothing(site: Site, cache: Path) -> None:
    result = update_bundle(
        url=site.serve("/dry.pem", SHIPPED + _root("zz-dry-1")), cafile=site.cafile, dry_run=True
    )
    assert result.changed
    assert not result.installed
    assert not updated_bundle_path().exists()


def test_ca_file_from_the_environment(
    site: Site, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(UPDATE_CAFILE_ENV, str(site.cafile))
    result = update_bundle(url=site.serve("/env.pem", SHIPPED + _root("zz-env-1")))
    assert result.installed


def test_update_from_file(cache: Path, tmp_path: Path) -> None:
    source = tmp_path / "global-bundle.pem"
    source.write_bytes(SHIPPED + _root("zz-file-1"))
    result = update_bundle(from_file=source)
    assert result.installed
    assert result.previous_origin == "shipped"
    assert updated_bundle_path().read_bytes() == source.read_bytes()


def _tampered() -> dict[str, tuple[bytes, str]]:
    not_rds = _pem(_cert("Evil Corp Root CA")[0])
    not_ca = _pem(_cert("Amazon RDS zz-leaf-1 Root CA RSA2048 G1", ca=False)[0])
    expired = _pem(_cert("Amazon RDS zz-old-1 Root CA RSA2048 G1", expired=True)[0])
    issuer_cert, issuer_key = _cert("Amazon RDS zz-issuer-1 Root CA RSA2048 G1")
    not_self_signed = _pem(
        _cert("Amazon RDS zz-sub-1 Root CA RSA2048 G1", issuer=(issuer_cert.subject, issuer_key))[0]
    )
    cut = SHIPPED[: len(SHIPPED) // 2]
    return {
        "non-RDS CA": (SHIPPED + not_rds, "is not an Amazon RDS root"),
        "not a CA": (SHIPPED + not_ca, "is not a CA certificate"),
        "expired root": (SHIPPED + expired, "expired on"),
        "not self-signed": (SHIPPED + not_self_signed, "is not self-signed"),
        "cut mid-block": (cut, "probably truncated"),
        "garbage": (SHIPPED + b"<html>oops</html>\n", "outside its certificates"),
        "empty": (b"", "is empty"),
        "html": (b"<html>login required</html>", "holds no PEM certificate"),
        "broken base64": (
            SHIPPED + b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "does not parse",
        ),
    }


TAMPERED = _tampered()


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_refused_content_leaves_the_bundle_untouched(
    site: Site, previous: bytes, case: str
) -> None:
    body, reason = TAMPERED[case]
    url = site.serve(f"/{case.replace(' ', '-')}.pem", body)
    with pytest.raises(BundleUpdateError, match=reason) as caught:
        update_bundle(url=url, cafile=site.cafile)
    assert "Nothing was changed" in str(caught.value) or "nothing was changed" in str(caught.value)
    assert updated_bundle_path().read_bytes() == previous


def test_truncated_download_is_refused(site: Site, previous: bytes) -> None:
    """The server announces more bytes than it sends, then closes the connection."""
    url = site.serve(
        "/truncated.pem", SHIPPED[: len(SHIPPED) - 1000], **{"Content-Length": str(len(SHIPPED))}
    )
    with pytest.raises(BundleUpdateError, match=r"is truncated: \d+ of \d+ bytes"):
        update_bundle(url=url, cafile=site.cafile)
    assert updated_bundle_path().read_bytes() == previous


def test_http_url_is_refused(previous: bytes) -> None:
    with pytest.raises(BundleUpdateError, match="only https:// URLs are allowed"):
        update_bundle(url="http://truststore.pki.rds.amazonaws.com/global/global-bundle.pem")
    assert updated_bundle_path().read_bytes() == previous


def test_redirect_to_http_is_refused(site: Site, previous: bytes) -> None:
    url = site.serve("/moved.pem", b"", status=302, Location="http://127.0.0.1:1/bundle.pem")
    with pytest.raises(
        BundleUpdateError, match=re.escape("redirected to http://127.0.0.1:1/bundle.pem")
    ):
        update_bundle(url=url, cafile=site.cafile)
    assert updated_bundle_path().read_bytes() == previous


def test_http_error_is_refused(site: Site, previous: bytes) -> None:
    with pytest.raises(BundleUpdateError, match="HTTP 404"):
        update_bundle(url=site.url("/missing.pem"), cafile=site.cafile)
    assert updated_bundle_path().read_bytes() == previous


def test_server_down(previous: bytes) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(BundleUpdateError, match="connection refused"):
        update_bundle(url=f"https://127.0.0.1:{port}/bundle.pem", timeout=2)
    assert updated_bundle_path().read_bytes() == previous


def test_untrusted_download_server(site: Site, previous: bytes) -> None:
    """Without the test CA, certifi's roots do not vouch for the server: refused."""
    url = site.serve("/unverified.pem", SHIPPED + _root("zz-unverified-1"))
    with pytest.raises(BundleUpdateError, match="certificate is not trusted"):
        update_bundle(url=url)
    assert updated_bundle_path().read_bytes() == previous


def test_first_update_failure_leaves_no_file(site: Site, cache: Path) -> None:
    with pytest.raises(BundleUpdateError):
        update_bundle(url=site.serve("/bad-first.pem", b"nope"), cafile=site.cafile)
    assert not updated_bundle_path().exists()
    assert bundle_source()[1] == "shipped"


def test_environment_override_is_reported(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AURORA_SSL_BUNDLE", str(shipped_bundle_path()))
    source = tmp_path / "b.pem"
    source.write_bytes(SHIPPED + _root("zz-override-1"))
    result = update_bundle(from_file=source)
    assert result.installed
    assert any("AURORA_SSL_BUNDLE is set" in w for w in result.warnings)


def test_validate_shipped_bundle() -> None:
    certificates = validate_bundle(SHIPPED, source="shipped")
    assert len(certificates) == 102
    assert all(c.subject.startswith("Amazon RDS ") for c in certificates)


def test_cli_update_json(site: Site, previous: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    url = site.serve("/cli.pem", SHIPPED + _root("zz-cli-1"))
    assert (
        main(["bundle", "update", "--url", url, "--ca-file", str(site.cafile), "--format", "json"])
        == 0
    )
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert data["ok"] is True
    assert data["installed"] is True
    assert [a["subject"] for a in data["added"]] == ["Amazon RDS zz-cli-1 Root CA ECC384 G1"]
    assert "downloading" in err


def test_cli_update_refused(
    site: Site, previous: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    body, _ = TAMPERED["non-RDS CA"]
    url = site.serve("/cli-bad.pem", body)
    assert main(["bundle", "update", "--url", url, "--ca-file", str(site.cafile)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "aurora-ssl: error:" in err
    assert "is not an Amazon RDS root" in err
    assert updated_bundle_path().read_bytes() == previous


def test_cli_update_refused_json(previous: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bundle", "update", "--url", "http://example.com/b.pem", "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False
    assert data["error"]["code"] == "BundleUpdateError"


def test_cli_update_from_file_and_url_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bundle", "update", "--from", "a.pem", "--url", "https://x/b.pem"]) == 2
    assert "not allowed with" in capsys.readouterr().err
