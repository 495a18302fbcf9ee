"""``bundle update`` against a local HTTPS server with its own CA (there is no internet here).

The rule under test: the installed bundle changes only on success. Every refusal (tampered
content, a non-CA, an expired root, truncation, http, a redirect to http, a server down, a
server certificate nobody vouched for, a root the package does not know and nobody accepted)
leaves the previous bundle byte for byte as it was.
"""

from __future__ import annotations

import datetime
import hashlib
import http.server
import json
import re
import shlex
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

from aurora_ssl import _trust as trust
from aurora_ssl._bundle_update import UPDATE_CAFILE_ENV, update_bundle, validate_bundle
from aurora_ssl._bundles import pem_der
from aurora_ssl._trust import bundle_source, select_trust
from aurora_ssl.cli import main
from aurora_ssl.errors import BundleUpdateError
from tests.certs import make_cert_pem as make_certificate_pem


def shipped_bundle_path() -> Path:
    return Path(trust.SHIPPED_BUNDLE)


def updated_bundle_path() -> Path:
    return Path(trust.updated_bundle_path())


NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


def _cert(
    cn: str,
    *,
    ca: bool = True,
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
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 3650 * DAY)
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
    return make_certificate_pem(f"Amazon RDS {region} Root CA {kind} G1")


def _sha256(pem: bytes) -> str:
    return hashlib.sha256(pem_der(pem)).hexdigest()


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
    result = update_bundle(url=url, cafile=site.cafile, accept_roots=[_sha256(new_root)])
    assert result["installed"]
    assert [c["subject"] for c in result["added"]] == [
        "Amazon RDS zz-newregion-1 Root CA ECC384 G1"
    ]
    assert result["accepted"] == result["added"]
    assert result["removed"] == []
    assert updated_bundle_path().read_bytes() == SHIPPED + new_root
    assert bundle_source() == (str(updated_bundle_path()), "updated")
    assert result["installed"] is True
    assert "zz-newregion-1" in result["regions"]
    assert result["added"][0]["region"] == "zz-newregion-1"
    assert result["added"][0]["subject"] == "Amazon RDS zz-newregion-1 Root CA ECC384 G1"


def test_update_reports_removed_certificates(site: Site, previous: bytes) -> None:
    blocks = SHIPPED.split(b"-----END CERTIFICATE-----\n")
    fewer = b"-----END CERTIFICATE-----\n".join(blocks[1:])  # the first root dropped
    result = update_bundle(url=site.serve("/fewer.pem", fewer), cafile=site.cafile)
    assert result["installed"]
    assert len(result["removed"]) == 1
    assert any("not in the new one" in w for w in result["warnings"])


def test_same_content_is_not_reinstalled(site: Site, previous: bytes) -> None:
    path = updated_bundle_path()
    before = path.stat().st_mtime_ns
    result = update_bundle(url=site.serve("/same.pem", SHIPPED), cafile=site.cafile)
    assert not result["installed"]
    assert not result["changed"]
    assert path.stat().st_mtime_ns == before


def test_dry_run_installs_nothing(site: Site, cache: Path) -> None:
    root = _root("zz-dry-1")
    url = site.serve("/dry.pem", SHIPPED + root)
    with pytest.raises(BundleUpdateError, match="does not know"):
        update_bundle(url=url, cafile=site.cafile, dry_run=True)
    result = update_bundle(url=url, cafile=site.cafile, dry_run=True, accept_roots=[_sha256(root)])
    assert result["changed"]
    assert not result["installed"]
    assert not updated_bundle_path().exists()


def test_ca_file_from_the_environment(
    site: Site, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(UPDATE_CAFILE_ENV, str(site.cafile))
    fewer = SHIPPED.split(b"-----END CERTIFICATE-----\n", 1)[1]
    result = update_bundle(url=site.serve("/env.pem", fewer))
    assert result["installed"]


def test_update_from_file(cache: Path, tmp_path: Path) -> None:
    source = tmp_path / "global-bundle.pem"
    root = _root("zz-file-1")
    source.write_bytes(SHIPPED + root)
    result = update_bundle(from_file=source, accept_roots=[_sha256(root)])
    assert result["installed"]
    assert result["previous"]["origin"] == "shipped"
    assert updated_bundle_path().read_bytes() == source.read_bytes()


def _tampered() -> dict[str, tuple[bytes, str]]:
    not_rds = make_certificate_pem("Evil Corp Root CA")
    not_ca = make_certificate_pem("Amazon RDS zz-leaf-1 Root CA RSA2048 G1", ca=False)
    expired = make_certificate_pem("Amazon RDS zz-old-1 Root CA RSA2048 G1", expired=True)
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
        "garbage": (SHIPPED + b"<html>oops</html>\n", "outside complete PEM certificates"),
        "empty": (b"", "contains no PEM certificate"),
        "html": (b"<html>login required</html>", "contains no PEM certificate"),
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
    assert str(caught.value).endswith("\nNothing was changed.")
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
    with pytest.raises(BundleUpdateError, match=r"(?i)connection refused"):
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
    source.write_bytes(SHIPPED.split(b"-----END CERTIFICATE-----\n", 1)[1])
    result = update_bundle(from_file=source)
    assert result["installed"]
    assert any("AURORA_SSL_BUNDLE is set" in w for w in result["warnings"])


def test_validate_shipped_bundle() -> None:
    certificates = validate_bundle(SHIPPED, source="shipped")
    assert len(certificates) == 102
    assert all(c.subject.startswith("Amazon RDS ") for c in certificates)


def test_cli_update_json(site: Site, previous: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    root = _root("zz-cli-1")
    url = site.serve("/cli.pem", SHIPPED + root)
    args = ["bundle", "update", "--url", url, "--ca-file", str(site.cafile), "--format", "json"]
    assert main([*args, "--accept-root", _sha256(root)]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert data["ok"] is True
    assert data["installed"] is True
    assert [a["subject"] for a in data["added"]] == ["Amazon RDS zz-cli-1 Root CA ECC384 G1"]
    assert [a["sha256"] for a in data["accepted"]] == [_sha256(root)]
    assert "downloading" in err


def test_no_secret_of_a_download_url_is_shown(
    site: Site, previous: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    """A presigned URL's query and a password in its user info: masked in the progress line,
    the JSON document and the refusal alike (the update itself still works)."""
    signed = site.serve("/signed.pem?X-Amz-Signature=sig-0451&X-Amz-Credential=AKIA-0451", SHIPPED)
    args = ["bundle", "update", "--ca-file", str(site.cafile), "--url"]
    assert main([*args, signed, "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["source"].endswith("X-Amz-Signature=********&X-Amz-Credential=********")
    assert "X-Amz-Signature=********" in err
    login = site.url("/gone.pem?X-Amz-Signature=sig-0451").replace(
        "https://", "https://ops:pw-0451@"
    )
    assert main([*args, login]) == 1
    out, err = capsys.readouterr()
    assert "aurora-ssl: error:" in err
    assert "ops:********@" in err
    assert "0451" not in out + err
    assert updated_bundle_path().read_bytes() == previous


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


# ----------------------------------------------------------------- roots nobody vouched for
#
# The attack: AWS's bundle with one more self-signed root, made by anyone, named like AWS's
# us-east-1 root. Its name and shape pass every other check; only its fingerprint tells.

US_EAST_1 = "db.cluster-abc123.us-east-1.rds.amazonaws.com"
IMPOSTOR_CN = "Amazon RDS us-east-1 Root CA RSA2048 G1"


@pytest.fixture(scope="module")
def impostor() -> bytes:
    return make_certificate_pem(IMPOSTOR_CN)


def _colons(digest: str) -> str:
    return ":".join(digest[i : i + 2] for i in range(0, 64, 2)).upper()


def _us_east_1_trust() -> bytes:
    return Path(select_trust(US_EAST_1).path).read_bytes()


@pytest.mark.parametrize("installed", [True, False], ids=["over-an-update", "over-shipped"])
@pytest.mark.parametrize("via", ["file", "url"])
def test_impostor_root_is_refused_and_nothing_changes(
    site: Site,
    cache: Path,
    tmp_path: Path,
    impostor: bytes,
    capsys: pytest.CaptureFixture[str],
    via: str,
    installed: bool,
) -> None:
    if installed:
        updated_bundle_path().parent.mkdir(parents=True)
        updated_bundle_path().write_bytes(SHIPPED)
    trusted_before = _us_east_1_trust()
    assert impostor not in trusted_before
    if via == "file":
        given = tmp_path / "global bundle.pem"  # a blank: the printed command must quote it
        given.write_bytes(SHIPPED + impostor)
        source = ["--from", str(given)]
    else:
        source = ["--url", site.serve("/impostor.pem", SHIPPED + impostor)]
        source += ["--ca-file", str(site.cafile)]
    assert main(["bundle", "update", *source]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    fingerprint = _colons(_sha256(impostor))
    assert f"  us-east-1  {IMPOSTOR_CN}  SHA-256 {fingerprint}\n" in err
    command = f"aurora-ssl bundle update {shlex.join(source)} --accept-root {fingerprint}"
    assert f"install it with:\n  {command}\nNothing was changed." in err
    # byte for byte as it was (or still absent), and us-east-1 trusts what it trusted
    if installed:
        assert updated_bundle_path().read_bytes() == SHIPPED
    else:
        assert not updated_bundle_path().parent.exists()
    trust.clear_caches()
    assert _us_east_1_trust() == trusted_before

    # The command it printed is the way in: installed, reported, and from now on trusted.
    assert main(shlex.split(command)[1:]) == 0
    out, _ = capsys.readouterr()
    accepted = rf"^accepted: +\S+  {IMPOSTOR_CN}  SHA-256 {fingerprint}$"
    assert re.search(accepted, out, re.MULTILINE), out
    assert re.search(rf"^added: +\S+  {IMPOSTOR_CN}  SHA-256 {fingerprint}$", out, re.MULTILINE)
    assert updated_bundle_path().read_bytes() == SHIPPED + impostor
    trust.clear_caches()
    assert impostor in _us_east_1_trust()


@pytest.mark.parametrize(
    "spelling", [str.lower, str.upper, lambda f: f.replace(":", ""), lambda f: f.lower()[3:]]
)
def test_accept_root_spellings(
    cache: Path, tmp_path: Path, impostor: bytes, spelling: object
) -> None:
    source = tmp_path / "bundle.pem"
    source.write_bytes(SHIPPED + impostor)
    written = spelling(_colons(_sha256(impostor)))  # type: ignore[operator]
    if len(written.replace(":", "")) != 64:  # a digit short: refused as no fingerprint at all
        assert main(["bundle", "update", "--from", str(source), "--accept-root", written]) == 2
        assert not updated_bundle_path().exists()
        return
    result = update_bundle(from_file=source, accept_roots=[written])
    assert result["installed"]
    assert [c["subject"] for c in result["accepted"]] == [IMPOSTOR_CN]


def test_wrong_fingerprint_is_refused(
    previous: bytes, tmp_path: Path, impostor: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bundle.pem"
    source.write_bytes(SHIPPED + impostor)
    other = _sha256(make_certificate_pem(IMPOSTOR_CN))  # same name, another key
    assert main(["bundle", "update", "--from", str(source), "--accept-root", other]) == 1
    err = capsys.readouterr().err
    assert f"--accept-root {_colons(_sha256(impostor))}" in err
    assert updated_bundle_path().read_bytes() == previous
    # a fingerprint of a root AWS's bundle holds accepts nothing else either
    known = _sha256(
        SHIPPED.split(b"-----END CERTIFICATE-----\n", 1)[0] + b"-----END CERTIFICATE-----"
    )
    with pytest.raises(BundleUpdateError, match="does not know"):
        update_bundle(from_file=source, accept_roots=[known])
    assert updated_bundle_path().read_bytes() == previous


def test_accepted_roots_are_known_to_the_next_update(
    cache: Path, tmp_path: Path, impostor: bytes
) -> None:
    source = tmp_path / "bundle.pem"
    source.write_bytes(SHIPPED + impostor)
    update_bundle(from_file=source, accept_roots=[_sha256(impostor)])
    newer = _root("zz-later-1")
    source.write_bytes(SHIPPED + impostor + newer)
    with pytest.raises(BundleUpdateError) as refused:  # only the new one is unknown
        update_bundle(from_file=source)
    assert "holds 1 root certificate(s)" in str(refused.value)
    assert "zz-later-1" in str(refused.value)
    assert update_bundle(from_file=source, accept_roots=[_sha256(newer)])["installed"]


@pytest.mark.parametrize("how", ["by an earlier version", "changed since"])
def test_an_update_not_accepted_here_vouches_for_nothing(
    cache: Path, tmp_path: Path, impostor: bytes, how: str
) -> None:
    """The installed update vouches for its roots only as this module left it."""
    source = tmp_path / "bundle.pem"
    installed = updated_bundle_path()
    if how == "changed since":  # accepted once, then its content replaced
        first = _root("zz-first-1")
        source.write_bytes(SHIPPED + first)
        update_bundle(from_file=source, accept_roots=[_sha256(first)])
    else:  # installed before updates recorded what was accepted
        installed.parent.mkdir(parents=True)
    installed.write_bytes(SHIPPED + impostor)
    source.write_bytes(SHIPPED + impostor)
    with pytest.raises(BundleUpdateError, match=re.escape(IMPOSTOR_CN)):
        update_bundle(from_file=source)
    assert installed.read_bytes() == SHIPPED + impostor
    # accepted now, it is recorded: the same content again needs no acceptance
    assert update_bundle(from_file=source, accept_roots=[_sha256(impostor)])["installed"]
    assert not update_bundle(from_file=source)["installed"]
