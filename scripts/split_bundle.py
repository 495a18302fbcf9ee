"""Split the shipped RDS bundle into one trust file per region, and write RDS Proxy's roots.

    python scripts/split_bundle.py          # rewrite aurora_ssl/data/roots/
    python scripts/split_bundle.py --check  # exit 1 if the committed files differ

Why per region: libpq parses the whole ``sslrootcert`` file on every connection, and a region's
three roots are cheaper than all 102; with one file per region committed, choosing trust for an
RDS name is a regular expression and a path. RDS Proxy presents ACM certificates, which chain to
the Amazon Trust Services roots: taken from certifi, each accepted only with its pinned SHA-256.
tests/unit/test_trust.py runs ``--check``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aurora_ssl import _bundles, _trust  # noqa: E402 - after the path

#: The roots RDS Proxy's ACM certificates chain to: SHA-256 of the DER.
AMAZON_TRUST_SERVICES = {
    "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e": "Amazon Root CA 1",
    "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4": "Amazon Root CA 2",
    "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4": "Amazon Root CA 3",
    "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092": "Amazon Root CA 4",
    "568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5": (
        "Starfield Services Root Certificate Authority - G2"
    ),
}


def expected_files() -> dict[str, bytes]:
    """File name -> content of every file aurora_ssl/data/roots/ must hold."""
    import certifi

    certificates = _bundles.load_bundle(_trust.SHIPPED_BUNDLE).certificates
    files = {f"{region}.pem": pem for region, pem in _bundles.split(certificates).items()}
    with open(certifi.where(), "rb") as handle:
        blocks = _bundles.pem_blocks(handle.read())
    proxy = {hashlib.sha256(_bundles.pem_der(b)).hexdigest(): b + b"\n" for b in blocks}
    missing = sorted(set(AMAZON_TRUST_SERVICES) - set(proxy))
    if missing:
        raise SystemExit(f"certifi lacks {', '.join(AMAZON_TRUST_SERVICES[m] for m in missing)}")
    files["proxy.pem"] = b"".join(proxy[sha] for sha in AMAZON_TRUST_SERVICES)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    target = Path(_trust.SHIPPED_ROOTS)
    expected = expected_files()
    present = {p.name: p.read_bytes() for p in target.glob("*.pem")} if target.exists() else {}
    if args.check:
        if present != expected:
            changed = sorted(
                set(present) ^ set(expected)
                | {n for n in expected if present.get(n) != expected[n]}
            )
            print(f"aurora_ssl/data/roots differs from the bundle: {', '.join(changed)}")
            return 1
        return 0
    target.mkdir(exist_ok=True)
    for stale in set(present) - set(expected):
        (target / stale).unlink()
    for name, content in expected.items():
        (target / name).write_bytes(content)
    print(f"wrote {len(expected)} files to {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
