"""``aurora-ssl bundle update``: fetch AWS's current RDS bundle, prove it is sane, install it.

AWS adds regions (and their roots) over time; an endpoint in a region the shipped bundle does
not know falls back to the full bundle with a warning, and the fix is a newer bundle. This
module gets one, from ``https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem`` by
default or from a local file (air-gapped hosts), and installs it where
:func:`aurora_ssl._trust.bundle_source` looks before the shipped copy
(:func:`aurora_ssl._trust.updated_bundle_path`).

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
:func:`aurora_ssl._trust.write_atomically`, so readers see the old file or the new one.
"""

from __future__ import annotations

import datetime
import hashlib
import http.client
import os
import shlex
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

import certifi

from aurora_ssl._bundles import (
    GLOBAL_BUNDLE_URL,
    PEM_BLOCK,
    Certificate,
    load_bundle,
    read_certificates,
    signed_by,
    timestamp,
)
from aurora_ssl._redaction import mask_url
from aurora_ssl._trust import (
    BUNDLE_ENV,
    SHIPPED_BUNDLE,
    bundle_source,
    updated_bundle_path,
    write_atomically,
)
from aurora_ssl.errors import BundleError, BundleUpdateError

#: A CA file to verify the download server with, instead of certifi's roots.
UPDATE_CAFILE_ENV = "AURORA_SSL_UPDATE_CAFILE"
#: AWS's bundle is about 160 KB; anything much larger is not it.
MAX_BYTES = 8 * 1024 * 1024


def listed(certificates: Iterable[Certificate]) -> list[dict[str, Any]]:
    """Certificates as JSON lists them (``bundle info``, ``bundle update``)."""
    return [
        {
            "subject": c.subject,
            "region": c.region,
            "sha256": c.sha256,
            "not_after": timestamp(c.not_after),
        }
        for c in certificates
    ]


def update_bundle(
    *,
    url: str | None = None,
    from_file: str | os.PathLike[str] | None = None,
    cafile: str | os.PathLike[str] | None = None,
    timeout: float = 30.0,
    dry_run: bool = False,
    accept_roots: Iterable[str] = (),
) -> dict[str, Any]:
    """Get a new RDS bundle (URL or file), validate it, and install it atomically.

    Args:
        url: where to download from (``https://`` only); default AWS's global bundle.
        from_file: read the bundle from this file instead (air-gapped hosts).
        cafile: verifies the download server (default: ``AURORA_SSL_UPDATE_CAFILE``, certifi).
        timeout: network timeout in seconds (connecting, and each read).
        dry_run: validate and compare, but do not install.
        accept_roots: SHA-256 fingerprints of roots the package does not know that may be
            installed (see :func:`normalise_fingerprint` for the spelling).

    Returns:
        What ``aurora-ssl bundle update --format json`` prints without its ``ok`` (the keys
        are in docs/guides/cli.md): ``installed``, ``added``, ``removed``, ``accepted``...

    Raises:
        BundleUpdateError: the new bundle was refused (also when it holds a root the package
            does not know and ``accept_roots`` does not name: the message lists each one and
            the command that accepts them); the bundle in use is untouched.
    """
    if url is not None and from_file is not None:
        raise BundleUpdateError("Give either a URL or a file, not both.")
    target = Path(updated_bundle_path())
    try:
        accepted = {normalise_fingerprint(text) for text in accept_roots}
        if from_file is not None:
            source = os.fspath(from_file)
            with open(source, "rb") as handle:
                data = handle.read(MAX_BYTES + 1)
        else:  # shown with its secrets masked
            source = mask_url(url or GLOBAL_BUNDLE_URL)
            data = _download(url or GLOBAL_BUNDLE_URL, source, cafile, timeout)
        if len(data) > MAX_BYTES:
            raise BundleUpdateError(f"{source} has more than {MAX_BYTES} bytes; not the bundle.")
        certificates = validate_bundle(data, source=source)
        previous_path, previous_origin, previous, known = _previous(target)
        unknown = [c for c in certificates if c.sha256 not in known]
        if any(c.sha256 not in accepted for c in unknown):
            raise BundleUpdateError(_unknown_roots(unknown, source, url, from_file, cafile))
        old, new = {c.sha256 for c in previous}, {c.sha256 for c in certificates}
        added = [c for c in certificates if c.sha256 not in old]
        removed = [c for c in previous if c.sha256 not in new]
        installed = bool(added or removed or unknown) and not dry_run
        digest = hashlib.sha256(data).hexdigest()
        if installed:  # the record first: should the bundle's rename fail, the record matches
            # no content and vouches for nothing, while the bundle in use stays as it was
            write_atomically(_record(target), f"{digest}\n".encode())
            write_atomically(target, data)
    except (OSError, BundleError, BundleUpdateError) as exc:
        raise BundleUpdateError(f"{exc}\nNothing was changed.") from exc
    return {
        "source": source,
        "path": str(target),
        "sha256": digest,
        "certificates": len(certificates),
        "regions": sorted({c.region for c in certificates if c.region}),
        "previous": {"path": str(previous_path), "origin": previous_origin},
        "added": listed(added),
        "removed": listed(removed),
        "accepted": listed(unknown),
        "changed": bool(added or removed),
        "installed": installed,
        "warnings": _warnings(target, len(removed), accepted - {c.sha256 for c in unknown}),
    }


def _previous(target: Path) -> tuple[Path, str, tuple[Certificate, ...], set[str]]:
    """What an update replaces (the updated bundle if there is one, else the shipped copy),
    its certificates, and the roots known: the shipped ones, and the installed update's if
    this module installed it as it is (its record holds the content's SHA-256)."""
    shipped = load_bundle(SHIPPED_BUNDLE).certificates
    known = {c.sha256 for c in shipped}
    if not target.is_file():
        return Path(SHIPPED_BUNDLE), "shipped", shipped, known
    data = target.read_bytes()
    try:
        previous = tuple(read_certificates(data, str(target)))
    except BundleError:
        previous = ()  # an unusable bundle in use: everything in the new one is "added"
    record, digest = _record(target), hashlib.sha256(data).hexdigest().encode()
    if record.is_file() and record.read_bytes().strip() == digest:
        known.update(c.sha256 for c in previous)
    return target, "updated", previous, known


def _warnings(target: Path, removed: int, unused: set[str]) -> list[str]:
    in_use, origin = bundle_source()
    notes = {
        f"{BUNDLE_ENV} is set ({in_use}); it takes precedence over the updated bundle in "
        f"{target}. Unset it to use the update.": origin in ("argument", BUNDLE_ENV),
        f"{removed} certificate(s) of the previous bundle are not in the new one; endpoints "
        "signed by them will fail verification after the update.": removed,
        "--accept-root named no root that needed it (the bundle's other roots are known "
        f"already): {', '.join(colons(f) for f in sorted(unused))}.": unused,
    }
    return [note for note, applies in notes.items() if applies]


def _record(target: Path) -> Path:
    """Next to an installed update: the SHA-256 of the content this module installed, so a
    bundle installed by an earlier version, or changed since, vouches for none of its roots."""
    return target.with_name(target.name + ".accepted")


def _unknown_roots(
    unknown: list[Certificate],
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
    command += [f"--accept-root {colons(cert.sha256)}" for cert in unknown]
    roots = "".join(
        f"  {c.region or '-'}  {c.subject}  SHA-256 {colons(c.sha256)}\n" for c in unknown
    )
    return (
        f"The bundle from {source} holds {len(unknown)} root certificate(s) whose SHA-256 "
        "fingerprint aurora-ssl does not know (not in the bundle shipped with it, nor in a "
        "bundle you accepted before). Anyone can make a root with an Amazon RDS name; once "
        f"installed, it would be trusted for that region's endpoints:\n{roots}"
        "Compare each fingerprint with AWS's bundle fetched another way (another machine or "
        "network: `openssl x509 -noout -fingerprint -sha256`). If they match, install it with:\n"
        f"  {' '.join(command)}"
    )


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


def colons(digest: str) -> str:
    """``AB:CD:...``, as ``openssl x509 -noout -fingerprint -sha256`` prints it."""
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2)).upper()


# -- getting the bundle: a file, or verified HTTPS --------------------------------------------


class _NoHTTP(urllib.request.HTTPHandler):
    """Takes the place of urllib's http:// handler: a redirect to http is refused, never
    followed (no silent downgrade)."""

    def http_open(self, req: urllib.request.Request) -> NoReturn:
        raise BundleUpdateError(
            f"The bundle download was redirected to {mask_url(req.full_url)}, which is not "
            "https; refusing it."
        )


def _download(url: str, shown: str, cafile: str | os.PathLike[str] | None, timeout: float) -> bytes:
    """The body of ``url`` (``shown`` in messages), fetched over verified HTTPS; at most
    ``MAX_BYTES + 1`` bytes."""
    if urllib.parse.urlsplit(url).scheme.lower() != "https":
        raise BundleUpdateError(
            f"Refusing to download the CA bundle from {shown}: only https:// URLs are allowed, "
            "because whoever can change the bundle in transit decides whom your connections "
            f"trust. Use {GLOBAL_BUNDLE_URL}, or download it yourself and pass --from FILE."
        )
    cafile = cafile or os.environ.get(UPDATE_CAFILE_ENV) or certifi.where()
    try:
        context = ssl.create_default_context(cafile=os.fspath(cafile))
    except OSError as exc:  # ssl.SSLError too
        raise BundleUpdateError(
            f"Cannot use {cafile} to verify the download server: {exc}."
        ) from exc
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _NoHTTP())
    try:  # https only, see above
        with opener.open(url, timeout=timeout) as response:
            announced = response.headers.get("Content-Length")
            data: bytes = response.read(MAX_BYTES + 1)
    except (OSError, http.client.HTTPException) as exc:  # refused, timed out, reset, cut off
        reason = getattr(exc, "reason", exc)
        if isinstance(exc, urllib.error.HTTPError):
            why = f"HTTP {exc.code} {exc.reason}"
        elif isinstance(reason, ssl.SSLCertVerificationError):
            why = (
                f"its certificate is not trusted ({reason.verify_message}); behind a "
                f"TLS-inspecting proxy, set {UPDATE_CAFILE_ENV} or --ca-file to its CA"
            )
        else:
            why = getattr(reason, "strerror", None) or f"{type(reason).__name__}: {reason}"
        raise BundleUpdateError(
            f"Downloading {shown} failed: {why}. On a host without internet access, copy the "
            "bundle over and use `aurora-ssl bundle update --from FILE`."
        ) from exc
    if announced and announced.isdigit() and int(announced) > len(data):
        raise BundleUpdateError(
            f"The download of {shown} is truncated: {len(data)} of {announced} bytes; try again."
        )
    return data


# -- validation: a clean PEM sequence of valid, self-signed Amazon RDS roots ------------------


def validate_bundle(data: bytes, *, source: str) -> tuple[Certificate, ...]:
    """The certificates of ``data``, in file order (repeats dropped), if it is a clean PEM
    sequence of valid, self-signed Amazon RDS roots.

    Raises:
        BundleUpdateError: naming the first certificate (by position and subject) that fails,
            and why.
    """
    now = datetime.datetime.now(datetime.timezone.utc)
    parsed = read_certificates(data, source)  # none, or one that does not parse: refused
    leftover = len(PEM_BLOCK.sub(b"", data).strip())
    if leftover:
        raise BundleUpdateError(
            f"{source} has {leftover} byte(s) outside complete PEM certificates: it is probably "
            "truncated or altered (the RDS bundle holds only certificates)."
        )
    certificates: dict[str, Certificate] = {}
    for index, cert in enumerate(parsed, 1):
        problem = _problem(cert, now)
        if problem:
            raise BundleUpdateError(f"Certificate #{index} of {source} ({cert.subject}) {problem}.")
        certificates.setdefault(cert.sha256, cert)
    return tuple(certificates.values())


def _problem(cert: Certificate, now: datetime.datetime) -> str | None:
    """Why ``cert`` has no place in AWS's RDS bundle, if it has none."""
    from cryptography import x509

    if not cert.is_ca:
        return "is not a CA certificate; a trust bundle holds only CAs"
    if not cert.subject.startswith("Amazon RDS "):
        return (
            "is not an Amazon RDS root (its name does not start with 'Amazon RDS '); the RDS "
            "bundle holds nothing else"
        )
    parsed = x509.load_pem_x509_certificate(cert.pem)
    if not (cert.self_signed and signed_by(parsed, parsed)):
        return "is not self-signed; the RDS bundle holds only root certificates"
    if cert.not_after <= now:
        return (
            f"expired on {cert.not_after:%Y-%m-%d}; AWS's current bundle holds no expired roots, "
            "so this content is stale or not AWS's"
        )
    return None
