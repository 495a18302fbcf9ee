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
from typing import Any

from aurora_ssl._redaction import mask_text
from aurora_ssl.cli._common import EXIT_FAILED, EXIT_OK, emit_json, warn


def cmd_bundle_path(args: argparse.Namespace) -> int:
    from aurora_ssl._bundles import load_bundle
    from aurora_ssl._trust import bundle_source, select_trust

    if args.host:
        selection = select_trust(args.host, bundle=args.bundle)
        path = selection.ensure()
        for warning in selection.warnings:
            warn(warning)
        data: dict[str, Any] = {
            "path": path,
            "host": args.host,
            "scope": selection.scope,
            "source": selection.source,
            "cas": list(selection.subjects),
            "warnings": list(selection.warnings),
        }
    else:
        source, origin = bundle_source(args.bundle)
        bundle = load_bundle(source)  # a path that would not work is an error, not output
        path = str(bundle.path)
        data = {
            "path": path,
            "host": None,
            "scope": "full-bundle",
            "source": origin,
            "cas": [c.subject for c in bundle.certificates],
            "warnings": [],
        }
    if args.format == "json":
        emit_json(data)
    else:
        print(path)
    return EXIT_OK


def cmd_bundle_info(args: argparse.Namespace) -> int:
    from aurora_ssl._bundles import load_bundle
    from aurora_ssl._trust import bundle_source, updated_bundle_path

    source, origin = bundle_source(args.bundle)
    bundle = load_bundle(source)
    now = datetime.datetime.now(datetime.timezone.utc)
    newest = max(c.not_before for c in bundle.certificates)
    age_days = (now - newest).days
    certificates = sorted(bundle.certificates, key=lambda c: (c.region or "", c.subject))
    expired = [c for c in certificates if c.not_after <= now]
    notes: list[str] = []
    updated = updated_bundle_path()
    if origin not in ("updated",) and os.path.isfile(updated):
        notes.append(f"an updated bundle exists in {updated} but {origin} takes precedence")
    if expired:
        notes.append(f"{len(expired)} certificate(s) have expired; run `aurora-ssl bundle update`")
    # AWS's bundle also holds roots for pre-release environments ("Amazon RDS Beta us-east-1
    # Root CA ..."): listed apart, since no endpoint name has such a region (region trimming
    # never selects them; only the whole bundle, for names that are not RDS's, holds them).
    regions = list(bundle.regions)
    environments = sorted(
        {
            c.subject.split()[2]
            for c in certificates
            if not c.region and c.subject.startswith("Amazon RDS ")
        }
    )
    data = {
        "path": str(bundle.path),
        "origin": origin,
        "sha256": bundle.sha256,
        "newest_not_before": newest.strftime("%Y-%m-%d"),
        "age_days": age_days,
        "count": len(bundle.certificates),
        "regions": regions,
        "environments": environments,
        "earliest_expiry": min(c.not_after for c in certificates).strftime("%Y-%m-%d"),
        "certificates": [
            {
                "subject": c.subject,
                "region": c.region,
                "not_after": c.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "sha256": c.sha256,
            }
            for c in certificates
        ],
        "warnings": notes,
    }
    if args.format == "json":
        emit_json(data)
        return EXIT_OK
    print(f"bundle:    {bundle.path}")
    print(f"origin:    {origin}")
    print(f"sha256:    {bundle.sha256}")
    print(
        f"age:       newest certificate issued {data['newest_not_before']} ({age_days} day(s) ago)"
    )
    print(f"contents:  {len(certificates)} certificate(s), {len(regions)} region(s)")
    print(f"regions:   {', '.join(regions)}")
    if environments:
        print(
            f"also:      {', '.join(environments)} (AWS pre-release environments, not regions: "
            "region trimming never selects their roots)"
        )
    print(f"expiry:    earliest {data['earliest_expiry']}")
    for cert in certificates:
        print(f"  {cert.not_after:%Y-%m-%d}  {cert.subject}")
    for note in notes:
        warn(note)
    return EXIT_OK


def cmd_bundle_update(args: argparse.Namespace) -> int:
    from aurora_ssl._bundle_update import DEFAULT_URL, update_bundle
    from aurora_ssl.errors import BundleUpdateError

    if args.from_file:
        print(f"aurora-ssl: reading {args.from_file} ...", file=sys.stderr)
    else:
        print(f"aurora-ssl: downloading {args.url or DEFAULT_URL} ...", file=sys.stderr)
    try:
        result = update_bundle(
            url=args.url,
            from_file=args.from_file,
            cafile=args.ca_file,
            timeout=args.timeout,
            dry_run=args.dry_run,
            accept_roots=args.accept_root,
        )
    except BundleUpdateError as exc:
        if args.format == "json":
            raise
        # Our own text, whose lines (one per unknown root, then the command) are kept.
        print(f"aurora-ssl: error: {mask_text(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    if args.format == "json":
        emit_json({"ok": True, **result.to_dict()})
    else:
        print(result.to_text())
    return EXIT_OK
