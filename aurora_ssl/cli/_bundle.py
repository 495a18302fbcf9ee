"""``aurora-ssl bundle path|info|update``: the trust file for a host, and the RDS bundle.

``path`` prints what to give psql as ``sslrootcert``; ``info`` describes the bundle in use
(source, age and expiry, both read from its certificates: a file's time says when it was
copied, not how current AWS's roots in it are); ``update`` installs AWS's current bundle
(:mod:`aurora_ssl._bundle_update`).
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys

from aurora_ssl._bundle_update import listed, update_bundle
from aurora_ssl._bundles import GLOBAL_BUNDLE_URL, load_bundle
from aurora_ssl._redaction import mask_text
from aurora_ssl._trust import bundle_source, select_trust, updated_bundle_path
from aurora_ssl.cli._common import EXIT_OK, emit


def cmd_bundle_path(args: argparse.Namespace) -> int:
    """Print the trust file for HOST (or the bundle in use).

    Print the path of the trust file aurora-ssl selects for HOST (its region's roots, the
    Amazon Trust Services roots for RDS Proxy, or the full bundle), for
    psql "sslrootcert=$(aurora-ssl bundle path HOST)". Without HOST: the full bundle in use.
    """
    if args.host:
        selection = select_trust(args.host, bundle=args.bundle)
        path, scope, source = selection.ensure(), selection.scope, selection.source
        cas, warnings = list(selection.subjects), list(selection.warnings)
    else:
        source, origin = bundle_source(args.bundle)
        bundle = load_bundle(source)  # a path that would not work is an error, not output
        path, scope, source = str(bundle.path), "full-bundle", origin
        cas, warnings = [c.subject for c in bundle.certificates], []
    data = {"path": path, "host": args.host, "scope": scope, "source": source, "cas": cas}
    emit(args, {**data, "warnings": warnings}, path)
    return EXIT_OK


def cmd_bundle_info(args: argparse.Namespace) -> int:
    """Source, age, regions and certificates of the bundle in use."""
    source, origin = bundle_source(args.bundle)
    bundle = load_bundle(source)
    now = datetime.datetime.now(datetime.timezone.utc)
    certificates = sorted(bundle.certificates, key=lambda c: (c.region or "", c.subject))
    newest = max(c.not_before for c in certificates)
    expired = len([c for c in certificates if c.not_after <= now])
    updated = updated_bundle_path()
    overridden = origin != "updated" and os.path.isfile(updated)
    notes = {
        f"an updated bundle exists in {updated} but {origin} takes precedence": overridden,
        f"{expired} certificate(s) have expired; run `aurora-ssl bundle update`": expired,
    }
    # AWS's bundle also holds roots for pre-release environments ("Amazon RDS Beta us-east-1
    # Root CA ..."): listed apart, since no endpoint name has such a region (region trimming
    # never selects them; only the whole bundle, for names that are not RDS's, holds them).
    environments = {
        c.subject.split()[2]
        for c in certificates
        if not c.region and c.subject.startswith("Amazon RDS ")
    }
    data = {
        "path": bundle.path,
        "origin": origin,
        "sha256": bundle.sha256,
        "newest_not_before": f"{newest:%Y-%m-%d}",
        "age_days": (now - newest).days,
        "count": len(certificates),
        "regions": list(bundle.regions),
        "environments": sorted(environments),
        "earliest_expiry": f"{min(c.not_after for c in certificates):%Y-%m-%d}",
        "certificates": listed(certificates),
        "warnings": [note for note, applies in notes.items() if applies],
    }
    emit(args, data)
    return EXIT_OK


def cmd_bundle_update(args: argparse.Namespace) -> int:
    """Fetch, validate and install AWS's current RDS bundle.

    Download AWS's current global bundle over verified HTTPS (or read --from FILE), check every
    certificate (parses, CA, self-signed Amazon RDS root, not expired), show what was added and
    removed, and install it atomically in the cache, where it takes precedence over the shipped
    copy. A root aurora-ssl does not know (by SHA-256) is installed only when named with
    --accept-root. On any failure nothing changes.
    """
    doing = "reading" if args.from_file else "downloading"
    source = mask_text(args.from_file or args.url or GLOBAL_BUNDLE_URL)  # a URL's password too
    print(f"aurora-ssl: {doing} {source} ...", file=sys.stderr)
    names = ("url", "from_file", "cafile", "timeout", "dry_run", "accept_roots")  # its options
    result = update_bundle(**{name: getattr(args, name) for name in names})
    emit(args, {"ok": True, **result})
    return EXIT_OK
