"""Regenerate aurora_ssl/data/rds-global-bundle.index from the shipped RDS bundle.

Run after replacing aurora_ssl/data/rds-global-bundle.pem (tests fail until you do):

    python scripts/generate_bundle_index.py          # write the index
    python scripts/generate_bundle_index.py --check  # exit 1 if it is stale

The index lets trust selection read the shipped bundle without an X.509 parser (issue 12);
this script is the one place that parses it, with ``cryptography``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aurora_ssl.bundle_index import format_index  # noqa: E402
from aurora_ssl.bundles import _describe, shipped_bundle_path, shipped_index_path  # noqa: E402
from aurora_ssl.certificates import pem_blocks  # noqa: E402


def generate(bundle: Path) -> bytes:
    """The index text for ``bundle``; every certificate must parse and be a self-signed CA."""
    data = bundle.read_bytes()
    blocks = pem_blocks(data)
    certificates = [_describe(block, str(bundle), index) for index, block in enumerate(blocks, 1)]
    wrong = [c.subject for c in certificates if not (c.is_ca and c.self_signed)]
    if wrong:
        raise SystemExit(f"{bundle}: not self-signed CA roots: {', '.join(wrong)}")
    digest = hashlib.sha256(data).hexdigest()
    text = format_index(digest, "shipped", (c.index_row() for c in certificates))
    if text is None:
        raise SystemExit(f"{bundle}: a subject cannot be stored in the index")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only verify the index is current")
    args = parser.parse_args(argv)
    text = generate(shipped_bundle_path())
    target = shipped_index_path()
    if args.check:
        current = target.read_bytes() if target.exists() else b""
        if current != text:
            print(f"{target} is stale; run scripts/generate_bundle_index.py", file=sys.stderr)
            return 1
        print(f"{target} is current")
        return 0
    target.write_bytes(text)
    rows = text.count(b"\n") - 3
    print(f"wrote {target} ({rows} certificates)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
