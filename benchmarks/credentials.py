"""What an RDS IAM password costs per new connection: our cached provider vs the usual way.

    .venv/bin/python benchmarks/credentials.py            # about 20 seconds
    .venv/bin/python benchmarks/credentials.py --connections 50000 --json out.json

Variants, all in one run, all with the same fixed fake AWS credentials from the environment
(nothing here talks to AWS: a token is computed locally in every variant):

* **per connection, new session** (django-iam-dbauth's way): for every connection, a new
  botocore session, a new RDS client and ``generate_db_auth_token``;
* **ours, amortised**: one :class:`aurora_ssl.credentials.IAMTokenProvider` serving
  ``--connections`` connections spread over simulated time (``--rate`` connections per
  second, so tokens expire and are re-signed as in production), first use included:
  credential chain resolution, every signing, every cache hit;
* **ours, cache hit** and **ours, signing** (cold key): the two halves of that average;
* **ours, async hit**: ``await provider.password_async(...)``, the asyncpg / psycopg async path;
* **floor**: one verified-TLS connection (``connect + SELECT 1 + close``, psycopg2) to a local
  Aurora-like server, for scale (``--no-server`` skips it).

The target: ours, amortised, at most 0.1 ms per connection. The machine is shared and noisy:
read medians and ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

TARGET_AMORTISED_MS = 0.1
HOST = "bench.cluster-abc123xyz.us-east-1.rds.amazonaws.com"


def fake_aws_environment() -> None:
    """Fixed fake credentials; no config files, no instance metadata: nothing leaves the host."""
    empty = tempfile.mkdtemp(prefix="aurora-ssl-bench-aws-")
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "AKIDBENCHMARKFAKE001",
            "AWS_SECRET_ACCESS_KEY": "bench/fake/secret/key/not/real/0000000000",
            "AWS_CONFIG_FILE": os.path.join(empty, "config"),
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(empty, "credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN"):
        os.environ.pop(name, None)


def timed_ms(function: Callable[[], object], repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def per_connection_session(target: Any) -> str:
    """django-iam-dbauth's way, with botocore alone (it uses boto3, which adds more)."""
    import botocore.session

    session = botocore.session.Session()
    client = session.create_client("rds", region_name="us-east-1")
    return str(client.generate_db_auth_token(target.host, target.port, target.user))


def ours_amortised(connections: int, rate: float) -> tuple[float, int]:
    """Total ms per connection over ``connections`` at ``rate``/s, first use included."""
    import botocore.auth

    from aurora_ssl.credentials import CredentialTarget, IAMTokenProvider

    simulated = [1_800_000_000.0]

    def simulated_now(remove_tzinfo: bool = True) -> datetime.datetime:
        moment = datetime.datetime.fromtimestamp(simulated[0], datetime.timezone.utc)
        return moment.replace(tzinfo=None) if remove_tzinfo else moment

    provider = IAMTokenProvider()
    target = CredentialTarget(HOST, 5432, "app")
    step = 1.0 / rate
    real_now = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = simulated_now  # what botocore signs and we expire by
    try:
        start = time.perf_counter()
        for _ in range(connections):
            provider.password(target)
            simulated[0] += step
        elapsed_ms = (time.perf_counter() - start) * 1000
    finally:
        botocore.auth.get_current_datetime = real_now
    return elapsed_ms / connections, provider.signings


def ours_parts(repeats: int) -> dict[str, list[float]]:
    from aurora_ssl.credentials import CredentialTarget, IAMTokenProvider

    provider = IAMTokenProvider()
    target = CredentialTarget(HOST, 5432, "app")
    provider.password(target)  # resolve the chain once, as the first connection does

    def thousand_hits() -> None:
        for _ in range(1000):
            provider.password(target)

    # Per hit, from batches of 1000: one hit is near the timer's resolution.
    hits = [ms / 1000 for ms in timed_ms(thousand_hits, repeats)]
    users = iter(range(10**9))
    signing = timed_ms(
        lambda: provider.password(CredentialTarget(HOST, 5432, f"u{next(users)}")), repeats
    )

    async def async_hits() -> list[float]:
        await provider.password_async(target)
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(1000):
                await provider.password_async(target)
            samples.append((time.perf_counter() - start) * 1000 / 1000)
        return samples

    return {"hit": hits, "signing": signing, "async_hit": asyncio.run(async_hits())}


def connection_floor(repeats: int) -> list[float]:
    import psycopg2

    import aurora_ssl
    from aurora_ssl.testing import AuroraLikeServer

    with AuroraLikeServer() as server:
        params = aurora_ssl.connection_params(
            server.params(), aurora_ssl.Options(bundle=str(server.pki.bundle_path))
        )

        def once() -> None:
            conn = psycopg2.connect(**params)
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
            conn.close()

        once()
        return timed_ms(once, repeats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=20000)
    parser.add_argument("--rate", type=float, default=20.0, help="simulated connections/s")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--no-server", action="store_true", help="skip the connection floor")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    fake_aws_environment()
    from aurora_ssl.credentials import CredentialTarget

    target = CredentialTarget(HOST, 5432, "app")
    per_connection_session(target)  # warm imports and botocore's model files
    print("per connection, new session ...", file=sys.stderr)
    theirs = timed_ms(lambda: per_connection_session(target), args.repeats)
    print("ours ...", file=sys.stderr)
    amortised_ms, signings = ours_amortised(args.connections, args.rate)
    parts = ours_parts(args.repeats)
    floor = None if args.no_server else connection_floor(args.repeats)
    median = statistics.median
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "per_connection_session_ms": median(theirs),
        "per_connection_session_p95_ms": sorted(theirs)[int(0.95 * (len(theirs) - 1))],
        "ours_amortised_ms": amortised_ms,
        "ours_amortised_over": {
            "connections": args.connections,
            "simulated_seconds": args.connections / args.rate,
            "signings": signings,
        },
        "ours_hit_ms": median(parts["hit"]),
        "ours_async_hit_ms": median(parts["async_hit"]),
        "ours_signing_ms": median(parts["signing"]),
        "floor_connect_ms": None if floor is None else median(floor),
    }
    results["ratio_theirs_vs_ours"] = results["per_connection_session_ms"] / amortised_ms
    if floor is not None:
        results["ours_vs_floor"] = amortised_ms / results["floor_connect_ms"]
        results["theirs_vs_floor"] = results["per_connection_session_ms"] / median(floor)
    results["target_met"] = amortised_ms <= TARGET_AMORTISED_MS
    print_report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if results["target_met"] else 1


def print_report(r: dict[str, Any]) -> None:
    over = r["ours_amortised_over"]
    print(f"IAM token cost per new connection ({r['machine']}; medians)")
    print(
        f"  per connection, new session + client  {r['per_connection_session_ms']:9.3f} ms"
        f"   (p95 {r['per_connection_session_p95_ms']:.3f} ms)"
    )
    print(
        f"  ours, amortised                       {r['ours_amortised_ms']:9.4f} ms"
        f"   ({over['connections']} connections over {over['simulated_seconds']:.0f} "
        f"simulated s, {over['signings']} signings)"
    )
    print(f"    of which a cache hit                {r['ours_hit_ms']:9.4f} ms")
    print(f"    async cache hit                     {r['ours_async_hit_ms']:9.4f} ms")
    print(f"    a signing (cold key)                {r['ours_signing_ms']:9.4f} ms")
    if r["floor_connect_ms"] is not None:
        print(f"  floor: verified-TLS connect + SELECT 1 {r['floor_connect_ms']:8.3f} ms")
    print("ratios")
    print(f"  new-session way / ours                {r['ratio_theirs_vs_ours']:9.0f} x")
    if r["floor_connect_ms"] is not None:
        print(f"  ours / floor connect                  {r['ours_vs_floor']:9.5f}")
        print(f"  new-session way / floor connect       {r['theirs_vs_floor']:9.2f}")
    verdict = "met" if r["target_met"] else "MISSED"
    print(f"target: ours amortised <= {TARGET_AMORTISED_MS} ms per connection: {verdict}")


if __name__ == "__main__":
    sys.exit(main())
