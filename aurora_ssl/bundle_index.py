"""Bundle indexes: the facts trust selection needs about each certificate, without X.509 parsing.

Why: parsing the 100-odd certificates of the RDS bundle with ``cryptography`` costs a fresh
process about 10 MiB and tens of milliseconds (issue 12). Selection only needs, per PEM block,
its SHA-256, subject CN, region, expiry and whether it is a (self-signed) CA. Those facts are
computed once, by a parser, and kept in a small text file:

- for the shipped bundle, generated at build time by ``scripts/generate_bundle_index.py`` into
  ``aurora_ssl/data/rds-global-bundle.index`` (a test proves it matches the bundle);
- for a user or updated bundle, written into the cache directory the first time the bundle is
  validated, under the bundle's content hash.

An index applies to exactly one file content: its header names the file's SHA-256 and the
validation it records, and a reader uses it only when both match. This module only reads and
writes the format; it imports nothing that parses certificates.

Format (UTF-8 text, one certificate per line, in file order, tab-separated)::

    # aurora-ssl bundle index 1
    # file-sha256 <hex>
    # validated <shipped|update|user>
    <der-sha256>\t<notAfter YYYY-MM-DDTHH:MM:SSZ>\t<ca|->\t<self-signed|->\t<region|->\t<subject CN>
"""

from __future__ import annotations

import re
from collections import namedtuple

from aurora_ssl._digest import sha256_hex
from aurora_ssl.certificates import pem_der

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import NamedTuple

__all__ = [
    "IndexRow",
    "der_sha256",
    "format_index",
    "parse_index",
    "region_of",
    "sha256_hex",
]

_MAGIC = "# aurora-ssl bundle index 1"
_RDS_ROOT_CN = re.compile(r"^Amazon RDS (?P<region>\S+) ")
_HEX64 = re.compile(r"[0-9a-f]{64}")


if TYPE_CHECKING:

    class IndexRow(NamedTuple):
        """What an index records about one certificate."""

        sha256: str
        not_after: str
        is_ca: bool
        self_signed: bool
        region: str | None
        subject: str

else:  # the same tuple without importing typing (issue 12: no typing on the connect path)
    IndexRow = namedtuple(
        "IndexRow", ("sha256", "not_after", "is_ca", "self_signed", "region", "subject")
    )
    IndexRow.__doc__ = "What an index records about one certificate."


def der_sha256(block: bytes) -> str:
    """SHA-256 of the DER inside one PEM block: the certificate's usual fingerprint.

    Raises:
        ValueError: the block's body is not base64.
    """
    return sha256_hex(pem_der(block))


def region_of(subject: str) -> str | None:
    """The region word of an RDS root's CN ('Amazon RDS us-east-1 Root CA ...')."""
    match = _RDS_ROOT_CN.match(subject)
    return match["region"] if match else None


def format_index(file_sha256: str, validated: str, rows: Iterable[IndexRow]) -> bytes | None:
    """The index text for one bundle content, or ``None`` if a subject cannot be stored.

    A CN holding a tab or line break cannot be written unambiguously; such a bundle is simply
    parsed again by the next process (correct, only slower).
    """
    lines = [_MAGIC, f"# file-sha256 {file_sha256}", f"# validated {validated}"]
    for row in rows:
        if any(ch in row.subject for ch in "\t\r\n") or not row.subject:
            return None
        lines.append(
            "\t".join(
                (
                    row.sha256,
                    row.not_after,
                    "ca" if row.is_ca else "-",
                    "self-signed" if row.self_signed else "-",
                    row.region or "-",
                    row.subject,
                )
            )
        )
    return ("\n".join(lines) + "\n").encode("utf-8")


def parse_index(
    text: bytes, *, file_sha256: str, validated: str, count: int
) -> tuple[IndexRow, ...] | None:
    """Read an index; ``None`` unless it is well formed and describes exactly this content.

    Args:
        text: the index file's bytes.
        file_sha256: the SHA-256 of the bundle file it must describe.
        validated: the validation the caller requires (``shipped``, ``update`` or ``user``).
        count: how many PEM blocks the bundle holds; the index must have one row for each.
    """
    try:
        lines = text.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return None
    if lines[:3] != [_MAGIC, f"# file-sha256 {file_sha256}", f"# validated {validated}"]:
        return None
    rows: list[IndexRow] = []
    for line in lines[3:]:
        fields = line.split("\t")
        if len(fields) != 6 or not _HEX64.fullmatch(fields[0]):
            return None
        sha, not_after, ca, self_signed, region, subject = fields
        rows.append(
            IndexRow(
                sha256=sha,
                not_after=not_after,
                is_ca=ca == "ca",
                self_signed=self_signed == "self-signed",
                region=None if region == "-" else region,
                subject=subject,
            )
        )
    if len(rows) != count:
        return None
    return tuple(rows)


def rows_match_blocks(rows: Sequence[IndexRow], blocks: Sequence[bytes]) -> bool:
    """Whether each row's fingerprint is its block's (for tests and the generator)."""
    return len(rows) == len(blocks) and all(
        row.sha256 == der_sha256(block) for row, block in zip(rows, blocks, strict=True)
    )
