"""``aurora-ssl bundle update``: fetch AWS's current RDS bundle, prove it is sane, install it.

AWS adds regions (and their roots) over time; an endpoint in a region the shipped bundle does
not know falls back to the full bundle with a warning, and the fix is a newer bundle. This
module gets one, from ``https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem`` by
default or from a local file (air-gapped hosts), and installs it where
:func:`aurora_ssl.trust.bundle_source` looks before the shipped copy
(:func:`aurora_ssl.trust.updated_bundle_path`).

What is refused, leaving the bundle in use untouched:

* any URL that is not ``https://`` (also after a redirect); the server's certificate is
  verified against certifi's roots, or the CA file given with ``cafile=`` /
  ``AURORA_SSL_UPDATE_CAFILE`` (a TLS-inspecting corporate proxy, tests). There is no switch
  to turn verification off;
* a download that fails, times out, is larger than 8 MiB, or is shorter than its
  ``Content-Length``;
* content that is not a clean sequence of PEM certificates (a cut-off block means truncation);
* any certificate that does not parse, is not a CA, is not self-signed (subject = issuer and a
  valid self-signature), is not named ``Amazon RDS ...``, or is expired;
* any root whose SHA-256 fingerprint the package does not know, unless it is named in
  ``accept_roots`` (``--accept-root``). Known are the roots of the shipped bundle and those of
  the installed update if it was accepted this way (a record next to it holds its SHA-256).
  The name proves nothing: anyone can make a self-signed "Amazon RDS us-east-1 Root CA RSA2048
  G1", and once installed it would be trusted for us-east-1's endpoints. There is no switch to
  accept every root: a cron job would accept an attacker's root the day one is served.

A refused update raises :class:`~aurora_ssl.errors.BundleUpdateError`. Installation is one
:func:`aurora_ssl.trust.write_atomically`, so readers see the old file or the new one.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import http.client
import os
import shlex
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from aurora_ssl._bundles import (
    GLOBAL_BUNDLE_URL,
    PEM_BLOCK,
    SHIPPED_BUNDLE,
    Bundle,
    load_bundle,
    pem_blocks,
    signed_by,
    timestamp,
)
from aurora_ssl._bundles import Certificate as BundleCertificate
from aurora_ssl._trust import BUNDLE_ENV, bundle_source, updated_bundle_path, write_atomically
from aurora_ssl.errors import AuroraSSLError, BundleError, BundleUpdateError

DEFAULT_URL = GLOBAL_BUNDLE_URL
#: A CA file to verify the download server with, instead of certifi's roots.
UPDATE_CAFILE_ENV = "AURORA_SSL_UPDATE_CAFILE"
#: AWS's bundle is about 160 KB; anything much larger is not it.
MAX_BYTES = 8 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0


@dataclasses.dataclass(frozen=True)
class BundleUpdate:
    """The outcome of :func:`update_bundle`.

    Attributes:
        source: the URL or file the new bundle came from.
        path: where it is (or would be) installed.
        sha256: the new bundle file's SHA-256.
        certificates: its certificates, validated.
        previous: the bundle the update replaces (the earlier update, or the shipped copy),
            and its origin (``updated`` or ``shipped``).
        added: certificates in the new bundle and not in the previous one.
        removed: certificates in the previous bundle and not in the new one.
        accepted: roots the package did not know, installed because ``accept_roots`` named them.
        installed: whether the file was written (``False`` for a dry run, or when the new
            bundle has the same certificates as the previous one).
        warnings: things to know (an environment variable overrides the installed bundle).
    """

    source: str
    path: Path
    sha256: str
    certificates: tuple[BundleCertificate, ...]
    previous: Path
    previous_origin: str
    added: tuple[BundleCertificate, ...]
    removed: tuple[BundleCertificate, ...]
    accepted: tuple[BundleCertificate, ...]
    installed: bool
    warnings: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (keys documented in docs/guides/cli.md, "bundle update")."""
        return {
            "source": self.source,
            "path": str(self.path),
            "sha256": self.sha256,
            "certificates": len(self.certificates),
            "regions": sorted({c.region for c in self.certificates if c.region}),
            "previous": {"path": str(self.previous), "origin": self.previous_origin},
            "added": [_cert_dict(c) for c in self.added],
            "removed": [_cert_dict(c) for c in self.removed],
            "accepted": [_cert_dict(c) for c in self.accepted],
            "changed": self.changed,
            "installed": self.installed,
            "warnings": list(self.warnings),
        }

    def to_text(self) -> str:
        lines = [
            f"source:    {self.source}",
            f"validated: {len(self.certificates)} Amazon RDS root certificate(s), "
            f"sha256 {self.sha256}",
            f"previous:  {self.previous} ({self.previous_origin})",
        ]
        lines.extend(f"added:     {c.subject} (until {c.not_after:%Y-%m-%d})" for c in self.added)
        lines.extend(f"removed:   {c.subject}" for c in self.removed)
        lines.extend(
            f"accepted:  {c.subject}, SHA-256 {_colons(c.sha256)} (--accept-root)"
            for c in self.accepted
        )
        if not self.changed:
            lines.append("changes:   none (same certificates as the previous bundle)")
        if self.installed:
            lines.append(f"installed: {self.path}")
        elif self.changed:
            lines.append(f"not installed (dry run); would go to {self.path}")
        else:
            lines.append("not installed: nothing to change")
        lines.extend(f"warning:   {w}" for w in self.warnings)
        return "\n".join(lines)


def _cert_dict(cert: BundleCertificate) -> dict[str, Any]:
    return {
        "subject": cert.subject,
        "region": cert.region,
        "sha256": cert.sha256,
        "not_after": timestamp(cert.not_after),
    }


class _HTTPSOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to other https:// URLs (no silent downgrade to http)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        if urllib.parse.urlsplit(newurl).scheme.lower() != "https":
            raise BundleUpdateError(
                f"The bundle download was redirected to {_shown(newurl)}, which is not https; "
                "refusing it. Nothing was changed."
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _shown(url: str) -> str:
    """The URL without user info or query (never print credentials a URL might carry)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def download(
    url: str = DEFAULT_URL,
    *,
    cafile: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = MAX_BYTES,
) -> bytes:
    """Fetch ``url`` over verified HTTPS and return the body.

    Args:
        url: an ``https://`` URL.
        cafile: CA file to verify the server with; default ``AURORA_SSL_UPDATE_CAFILE`` or
            certifi's roots.
        timeout: seconds for connecting and for each read.
        max_bytes: refuse bodies larger than this.

    Raises:
        BundleUpdateError: not https, server unreachable or untrusted, HTTP error, too large,
            or shorter than announced (truncated).
    """
    shown = _shown(url)
    if urllib.parse.urlsplit(url).scheme.lower() != "https":
        raise BundleUpdateError(
            f"Refusing to download the CA bundle from {shown}: only https:// URLs are allowed, "
            "because whoever can change the bundle in transit decides whom your connections "
            f"trust. Use {DEFAULT_URL}, or download it yourself and pass --from FILE."
        )
    cafile = cafile or os.environ.get(UPDATE_CAFILE_ENV) or None
    try:
        if cafile is None:
            import certifi

            cafile = certifi.where()
        context = ssl.create_default_context(cafile=os.fspath(cafile))
    except (OSError, ssl.SSLError) as exc:
        raise BundleUpdateError(
            f"Cannot use {cafile} to verify the download server: {exc}. Nothing was changed."
        ) from exc
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context), _HTTPSOnlyRedirects()
    )
    from importlib.metadata import version

    agent = {"User-Agent": f"aurora-ssl/{version('aurora-ssl')}"}
    request = urllib.request.Request(url, headers=agent)  # noqa: S310 - https only, see above
    try:
        with opener.open(request, timeout=timeout) as response:
            announced = response.headers.get("Content-Length")
            data: bytes = response.read(max_bytes + 1)
    except BundleUpdateError:
        raise
    except urllib.error.HTTPError as exc:
        raise BundleUpdateError(
            f"Downloading {shown} failed: HTTP {exc.code} {exc.reason}. Nothing was changed."
        ) from exc
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            why = (
                f"its certificate is not trusted ({reason.verify_message}); behind a "
                f"TLS-inspecting proxy, set {UPDATE_CAFILE_ENV} or --ca-file to its CA"
            )
        elif isinstance(reason, ConnectionRefusedError):
            why = "connection refused"
        elif isinstance(reason, (TimeoutError, socket.timeout)):
            why = f"no answer within {timeout:g} s"
        elif isinstance(reason, socket.gaierror):
            why = f"the name does not resolve ({reason.strerror})"
        else:
            why = str(reason)
        raise BundleUpdateError(
            f"Downloading {shown} failed: {why}. Nothing was changed; on a host without "
            "internet access, copy the bundle over and use `aurora-ssl bundle update --from "
            "FILE`."
        ) from exc
    except (http.client.HTTPException, OSError) as exc:  # IncompleteRead, resets, timeouts
        raise BundleUpdateError(
            f"Downloading {shown} failed: {type(exc).__name__}: {exc}. The download is "
            "incomplete; nothing was changed."
        ) from exc
    if len(data) > max_bytes:
        raise BundleUpdateError(
            f"{shown} sent more than {max_bytes} bytes; that is not the RDS bundle. Nothing "
            "was changed."
        )
    if announced is not None and announced.isdigit() and int(announced) != len(data):
        raise BundleUpdateError(
            f"The download of {shown} is truncated: {len(data)} of {announced} bytes. "
            "Nothing was changed; try again."
        )
    return data


def normalise_fingerprint(text: str) -> str:
    """A SHA-256 fingerprint as 64 lowercase hex digits; colons and either case are accepted.

    Raises:
        BundleUpdateError: ``text`` is not 32 bytes of hex.
    """
    digits = text.strip().replace(":", "").lower()
    if len(digits) != 64 or not all(c in "0123456789abcdef" for c in digits):
        raise BundleUpdateError(
            f"{text[:100]!r} is not a SHA-256 fingerprint: give the 64 hex digits (colons "
            "optional) that `aurora-ssl bundle update` printed for the root."
        )
    return digits


def _colons(digest: str) -> str:
    """``AB:CD:...``, as ``openssl x509 -noout -fingerprint -sha256`` prints it."""
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2)).upper()


def update_bundle(
    *,
    url: str | None = None,
    from_file: str | os.PathLike[str] | None = None,
    cafile: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    dry_run: bool = False,
    now: datetime.datetime | None = None,
    accept_roots: Iterable[str] = (),
) -> BundleUpdate:
    """Get a new RDS bundle (URL or file), validate it, and install it atomically.

    Args:
        url: where to download from (``https://`` only); default :data:`DEFAULT_URL`.
        from_file: read the bundle from this file instead (air-gapped hosts).
        cafile: CA file to verify the download server (see :func:`download`).
        timeout: network timeout in seconds.
        dry_run: validate and compare, but do not install.
        now: the time certificates must be valid at (default: now).
        accept_roots: SHA-256 fingerprints of roots the package does not know that may be
            installed (see :func:`normalise_fingerprint` for the spelling).

    Returns:
        What was validated, added, removed and whether it was installed.

    Raises:
        BundleUpdateError: the new bundle was refused (also when it holds a root the package
            does not know and ``accept_roots`` does not name: the message lists each one and
            the command that accepts them); the bundle in use is untouched.
    """
    if url is not None and from_file is not None:
        raise BundleUpdateError("Give either a URL or a file, not both.")
    accepted = {normalise_fingerprint(text) for text in accept_roots}
    if from_file is not None:
        source = os.fspath(from_file)
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise BundleUpdateError(
                f"Cannot read {source}: {exc.strerror or exc}. Nothing was changed."
            ) from exc
        if len(data) > MAX_BYTES:
            raise BundleUpdateError(f"{source} is larger than {MAX_BYTES} bytes; not the bundle.")
    else:
        source = _shown(url or DEFAULT_URL)
        data = download(url or DEFAULT_URL, cafile=cafile, timeout=timeout)
    certificates = validate_bundle(data, source=source, now=now)
    try:
        target = Path(updated_bundle_path())
        in_use, in_use_origin = bundle_source()
        shipped = load_bundle(SHIPPED_BUNDLE).certificates
    except (OSError, BundleError) as exc:
        raise BundleUpdateError(f"Cannot prepare the installation: {exc}") from exc
    # Compared with what the update replaces: the updated bundle if there is one, else the
    # shipped copy (an AURORA_SSL_BUNDLE override is reported, not compared).
    if target.is_file():
        previous_path, previous_origin = target, "updated"
        previous = _previous_certificates(target)
        vouched = previous if _was_accepted(target) else ()
    else:
        previous_path, previous_origin = Path(SHIPPED_BUNDLE), "shipped"
        previous = vouched = shipped
    known = {c.sha256 for c in (*shipped, *vouched)}
    unknown = tuple(c for c in certificates if c.sha256 not in known)
    if any(c.sha256 not in accepted for c in unknown):
        raise BundleUpdateError(_unknown_roots_message(unknown, source, url, from_file, cafile))
    old = {c.sha256: c for c in previous}
    new = {c.sha256: c for c in certificates}
    added = tuple(c for key, c in new.items() if key not in old)
    removed = tuple(c for key, c in old.items() if key not in new)
    warnings: list[str] = []
    if in_use_origin in ("argument", BUNDLE_ENV):
        warnings.append(
            f"{BUNDLE_ENV} is set ({in_use}); it takes precedence over the updated bundle in "
            f"{target}. Unset it to use the update."
        )
    if removed:
        warnings.append(
            f"{len(removed)} certificate(s) of the previous bundle are not in the new one; "
            "endpoints signed by them will fail verification after the update."
        )
    unused = sorted(accepted - {c.sha256 for c in unknown})
    if unused:
        warnings.append(
            "--accept-root named no root that needed it (the bundle's other roots are known "
            f"already): {', '.join(_colons(f) for f in unused)}."
        )
    digest = hashlib.sha256(data).hexdigest()
    installed = False
    if (added or removed or unknown) and not dry_run:
        _install(target, data, digest)
        installed = True
    return BundleUpdate(
        source=source,
        path=target,
        sha256=digest,
        certificates=certificates,
        previous=previous_path,
        previous_origin=previous_origin,
        added=added,
        removed=removed,
        accepted=unknown,
        installed=installed,
        warnings=tuple(warnings),
    )


def _unknown_roots_message(
    unknown: tuple[BundleCertificate, ...],
    source: str,
    url: str | None,
    from_file: str | os.PathLike[str] | None,
    cafile: str | os.PathLike[str] | None,
) -> str:
    """What was refused, each root as the operator can check it, and the command to run."""
    command = ["aurora-ssl", "bundle", "update"]
    if from_file is not None:
        command += ["--from", shlex.quote(os.fspath(from_file))]
    elif url is not None:  # a URL with credentials or a query is not repeated: say where
        command += ["--url", shlex.quote(source) if source == url else "URL"]
    if cafile is not None:
        command += ["--ca-file", shlex.quote(os.fspath(cafile))]
    for cert in unknown:
        command += ["--accept-root", _colons(cert.sha256)]
    roots = "\n".join(
        f"  {cert.region or '-'}  {cert.subject}  SHA-256 {_colons(cert.sha256)}"
        for cert in unknown
    )
    return (
        f"The bundle from {source} holds {len(unknown)} root certificate(s) whose SHA-256 "
        "fingerprint aurora-ssl does not know (not in the bundle shipped with it, nor in a "
        "bundle you accepted before). Anyone can make a root with an Amazon RDS name; once "
        "installed, it would be trusted for that region's endpoints:\n"
        f"{roots}\n"
        "Compare each fingerprint with AWS's bundle fetched another way (another machine or "
        "network: `openssl x509 -noout -fingerprint -sha256`). If they match, install it with:\n"
        f"  {' '.join(command)}\n"
        "Nothing was changed."
    )


def _previous_certificates(path: Path) -> tuple[BundleCertificate, ...]:
    try:
        bundle: Bundle = load_bundle(path)
    except BundleError:
        return ()  # an unusable bundle in use: everything in the new one is "added"
    return bundle.certificates


def _acceptance_record(target: Path) -> Path:
    """Next to an installed update: the SHA-256 of the content this module installed."""
    return target.with_name(target.name + ".accepted")


def _was_accepted(target: Path) -> bool:
    """Whether the installed update is the one this module installed (after acceptance).

    A bundle installed by an earlier version, or changed since, vouches for none of its roots.
    """
    try:
        record = _acceptance_record(target).read_text("ascii").strip()
        content = target.read_bytes()
    except (OSError, UnicodeDecodeError):
        return False
    return record == hashlib.sha256(content).hexdigest()


def _install(target: Path, data: bytes, digest: str) -> None:
    """Write ``data`` and its acceptance record atomically; on failure put both back."""
    record = _acceptance_record(target)
    backups: dict[Path, bytes | None] = {}
    for path in (target, record):
        try:
            backups[path] = path.read_bytes()
        except FileNotFoundError:
            backups[path] = None
        except OSError as exc:
            raise BundleUpdateError(f"Cannot read the installed {path}: {exc}") from exc
    try:
        write_atomically(target, data)
        load_bundle(target)
        write_atomically(record, f"{digest}\n".encode("ascii"))
    except (OSError, AuroraSSLError) as exc:
        for path, backup in backups.items():
            try:
                if backup is None:
                    path.unlink(missing_ok=True)
                else:
                    write_atomically(path, backup)
            except OSError:
                pass
        raise BundleUpdateError(
            f"Installing the new bundle into {target} failed ({exc}); the previous bundle was kept."
        ) from exc


# -- validation: a clean PEM sequence of valid, self-signed Amazon RDS roots ------------------

_BEGIN = b"-----BEGIN CERTIFICATE-----"
_END = b"-----END CERTIFICATE-----"


def validate_bundle(
    data: bytes,
    *,
    source: str,
    now: datetime.datetime | None = None,
    check_expiry: bool = True,
) -> tuple[BundleCertificate, ...]:
    """Check that ``data`` is a clean PEM sequence of valid, self-signed Amazon RDS roots.

    Args:
        data: the candidate bundle.
        source: where it came from, for messages.
        now: the time certificates must be valid at (default: now).
        check_expiry: refuse expired roots. Off when re-checking an installed bundle: a
            root that expired since the update must not break the other regions' connections.

    Returns:
        The certificates, in file order.

    Raises:
        BundleUpdateError: naming the first certificate (by position and subject) that fails,
            and why.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if not data.strip():
        raise BundleUpdateError(f"{source} is empty; nothing was changed.")
    begins, ends = data.count(_BEGIN), data.count(_END)
    blocks = pem_blocks(data)
    if begins != ends or begins != len(blocks):
        raise BundleUpdateError(
            f"{source} is not a clean PEM bundle ({begins} BEGIN and {ends} END markers, "
            f"{len(blocks)} complete certificate(s)): the download is probably truncated or "
            "altered. Nothing was changed."
        )
    if not blocks:
        raise BundleUpdateError(f"{source} holds no PEM certificate; nothing was changed.")
    leftover = PEM_BLOCK.sub(b"", data).strip()
    if leftover:
        raise BundleUpdateError(
            f"{source} has {len(leftover)} byte(s) of content outside its certificates; the "
            "RDS bundle holds only certificates. Nothing was changed."
        )
    certificates: list[BundleCertificate] = []
    seen: set[str] = set()
    for index, block in enumerate(blocks, 1):
        cert = _validate_one(block, index, source, now if check_expiry else None)
        if cert.sha256 not in seen:
            seen.add(cert.sha256)
            certificates.append(cert)
    return tuple(certificates)


def _validate_one(
    block: bytes, index: int, source: str, now: datetime.datetime | None
) -> BundleCertificate:
    from cryptography import x509

    where = f"certificate #{index} of {source}"
    try:
        cert = x509.load_pem_x509_certificate(block)
    except ValueError as exc:
        raise BundleUpdateError(
            f"The {where} does not parse ({exc}); nothing was changed."
        ) from exc
    try:
        facts = BundleCertificate(block + b"\n", cert)
    except ValueError as exc:  # a malformed extension
        raise BundleUpdateError(f"The {where} has malformed extensions: {exc}.") from exc
    subject = facts.subject
    where = f"{where} ({subject})"
    if not facts.is_ca:
        raise BundleUpdateError(
            f"The {where} is not a CA certificate; a trust bundle must hold only CAs. The "
            "content was tampered with or is not the RDS bundle. Nothing was changed."
        )
    if not subject.startswith("Amazon RDS "):
        raise BundleUpdateError(
            f"The {where} is not an Amazon RDS root (its name does not start with "
            "'Amazon RDS '); the RDS bundle holds nothing else. Nothing was changed."
        )
    if not facts.self_signed or not signed_by(cert, cert):
        raise BundleUpdateError(
            f"The {where} is not self-signed; the RDS bundle holds only root certificates. "
            "Nothing was changed."
        )
    if now is not None and cert.not_valid_after_utc <= now:
        raise BundleUpdateError(
            f"The {where} expired on {cert.not_valid_after_utc:%Y-%m-%d}; AWS's current "
            "bundle holds no expired roots, so this content is stale or not AWS's. Nothing "
            "was changed."
        )
    return facts
