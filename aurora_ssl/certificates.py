"""Certificates, one place: PEM splitting, the facts everyone asks about, and "signed by".

Everyone reads certificates the same way through this module: bundle loading and its index
(``trust``, ``bundle_index``), ``bundle update`` and the diagnostics. The PEM functions need
only :mod:`re` and :mod:`binascii`, because the connect path splits bundles without parsing
them; the functions that take an ``x509.Certificate`` import ``cryptography`` when called, so
importing this module never does.
"""

from __future__ import annotations

import binascii
import re

TYPE_CHECKING = False  # typing stays off the connect path (issue 12); mypy reads the block
if TYPE_CHECKING:
    import datetime

    from cryptography import x509

__all__ = [
    "PEM_BLOCK",
    "common_name",
    "is_ca",
    "label",
    "labelled_pem_blocks",
    "pem_blocks",
    "pem_der",
    "sha256_fingerprint",
    "signed_by",
    "timestamp",
]

#: One complete ``CERTIFICATE`` block; ``body`` is its base64 text. The only PEM pattern.
_PEM_PATTERN = rb"-----BEGIN CERTIFICATE-----\r?\n(?P<body>.+?)\r?\n-----END CERTIFICATE-----"
PEM_BLOCK = re.compile(_PEM_PATTERN, re.DOTALL)
#: certifi's entries: '# Label: "..."', comment lines, then the block (compiled on first use).
_LABELLED = rb'# Label: "(?P<label>[^"]+)"\r?\n.*?(?P<block>' + _PEM_PATTERN + rb")"
_labelled: re.Pattern[bytes] | None = None


_BEGIN = b"-----BEGIN CERTIFICATE-----"
_END = b"\n-----END CERTIFICATE-----"


def pem_blocks(data: bytes) -> list[bytes]:
    """The complete ``-----BEGIN CERTIFICATE-----`` blocks of ``data``, in file order.

    The same blocks as ``PEM_BLOCK.finditer`` (a property test holds the two together), found
    with ``bytes.find``: the regular expression's lazy ``(.+?)`` tries the end marker at every
    byte, about 1.5 ms for the 160 kB RDS bundle in every fresh process (issue 12).
    """
    blocks: list[bytes] = []
    start = data.find(_BEGIN)
    while start != -1:
        body = start + len(_BEGIN)
        if data.startswith(b"\r\n", body):
            body += 2
        elif data.startswith(b"\n", body):
            body += 1
        else:  # not a block start: look for the next one
            start = data.find(_BEGIN, start + 1)
            continue
        end = data.find(_END, body + 1)  # the body holds at least one byte
        if end == -1:
            break
        end += len(_END)
        blocks.append(data[start:end])
        start = data.find(_BEGIN, end)
    return blocks


def labelled_pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """``(label, block)`` for each ``# Label: "..."`` entry of a certifi-style bundle."""
    global _labelled
    if _labelled is None:
        _labelled = re.compile(_LABELLED, re.DOTALL)
    return [
        (match["label"].decode("utf-8", "replace"), match["block"])
        for match in _labelled.finditer(data)
    ]


def pem_der(block: bytes) -> bytes:
    """The DER inside one PEM block.

    Raises:
        ValueError: ``block`` is not exactly one certificate block, or its body is not base64.
    """
    match = PEM_BLOCK.fullmatch(block.strip())
    if match is None:
        raise ValueError("not a single PEM certificate block")
    return binascii.a2b_base64(match["body"])


def timestamp(moment: datetime.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` in UTC: how validity dates appear in indexes, JSON and text."""
    import datetime

    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def common_name(name: x509.Name) -> str | None:
    """The first CN of ``name``, if it has one."""
    from cryptography.x509.oid import NameOID

    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


def label(cert: x509.Certificate) -> str:
    """How a certificate is named to people: its CN, else its whole subject."""
    return common_name(cert.subject) or cert.subject.rfc4514_string()


def is_ca(cert: x509.Certificate) -> bool:
    """Whether BasicConstraints says CA (absent means not a CA).

    Raises:
        ValueError: the extension is malformed (cryptography parses extensions lazily).
    """
    from cryptography import x509

    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def sha256_fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER, in hex: the fingerprint operators compare."""
    from cryptography.hazmat.primitives import hashes

    return cert.fingerprint(hashes.SHA256()).hex()


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer``'s key made ``cert``'s signature (and the names chain); no profile,
    no time: the question a look-alike CA must fail."""
    from cryptography.exceptions import InvalidSignature

    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
