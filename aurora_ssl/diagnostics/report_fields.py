"""Every key of a connection report's JSON form, with its type and meaning.

The one description of the format: ``REPORT_KEYS`` (the top level, in output order) is derived
from it, the reference page (docs/reference/json.md) is rendered from it, and a test compares
it with the keys real reports have. Adding a key is a minor change; renaming or removing one is
a breaking change.
"""

from __future__ import annotations

__all__ = ["REPORT_FIELDS", "REPORT_KEYS"]

#: dotted key -> (JSON type, meaning); ``errors[].code`` is a key of each list item.
REPORT_FIELDS: dict[str, tuple[str, str]] = {
    "label": ("str", "what the report is about: the Django alias, or the masked DSN"),
    "host": ("str", "the host as configured"),
    "port": ("int \\| null", "the port"),
    "endpoint": ("object", "what the verified name is"),
    "endpoint.kind": (
        "str",
        "`cluster`, `cluster-ro`, `cluster-custom`, `instance`, `proxy`, `proxy-endpoint`, "
        "`shard-group` or `other`",
    ),
    "endpoint.region": ("str \\| null", "AWS region of an RDS name"),
    "endpoint.partition": ("str \\| null", "`aws`, `aws-cn` or `aws-us-gov`"),
    "trust": (
        "object \\| null",
        "the trust set (null with the insecure opt-out, or when it could not be built: see "
        "`errors`)",
    ),
    "trust.file": ("str", "the `sslrootcert` file libpq reads"),
    "trust.scope": ("str", "`region:<name>`, `proxy`, `full-bundle` or `user-file`"),
    "trust.source": ("str", "the bundle the roots were taken from"),
    "trust.cas": ("list of str", "common names of the trusted CAs"),
    "client": ("object \\| null", "the driver's view (null when no connection was made)"),
    "client.tls": ("bool", "TLS in use (`PQsslInUse`)"),
    "client.protocol": ("str \\| null", "e.g. `TLSv1.3` (null for psycopg 3)"),
    "client.cipher": ("str \\| null", "e.g. `TLS_AES_256_GCM_SHA384` (null for psycopg 3)"),
    "client.bits": ("int \\| null", "key bits of the cipher"),
    "client.driver": ("str", "`psycopg2`, `psycopg`, `asyncpg` or `pg8000`"),
    "effective": (
        "object \\| null",
        "what libpq really used, read back from the connection: `host`, `hostaddr`, `port`, "
        "`sslmode`, `sslrootcert`, `sslkeylogfile`, `gssencmode`, `ssl_min_protocol_version`, "
        "`sslsni`, `sslnegotiation` (null when no connection was made, or without libpq)",
    ),
    "server": (
        "object \\| null",
        "the server's view (null when not asked: no connection, or no TLS)",
    ),
    "server.ssl": ("bool", "`ssl_is_used()` (sslinfo) or `pg_stat_ssl.ssl`"),
    "server.version": ("str \\| null", "TLS version the server negotiated"),
    "server.cipher": ("str \\| null", "cipher the server negotiated"),
    "server.bits": ("int \\| null", "from `pg_stat_ssl`"),
    "server.sslinfo": ("bool", "the `sslinfo` extension is installed"),
    "server.source": ("str", "`sslinfo` or `pg_stat_ssl`"),
    "server.rds_force_ssl": (
        "str \\| null",
        "`current_setting('rds.force_ssl', true)`; null outside RDS",
    ),
    "verdict": (
        "str",
        "`verified`, `insecure` (opt-out in effect), `refused` (no verified TLS: certificate, "
        "name, no TLS, parameters other than the policy's, trust file) or `error` (another "
        "failure: authentication, network)",
    ),
    "ok": ("bool", "`verdict` is `verified`"),
    "insecure_local_dev": ("bool", "the insecure opt-out is on"),
    "errors": ("list of objects", "why the connection is not verified"),
    "errors[].code": (
        "str",
        "the exception class (`UntrustedCertificateError`, `OperationalError`, ...)",
    ),
    "errors[].message": ("str", "what happened and what to do"),
    "errors[].cause": ("str \\| null", "the driver's original message behind a translated error"),
    "warnings": (
        "list of objects",
        "things to fix that do not fail the check (unless `--fail-on-warning`)",
    ),
    "warnings[].code": (
        "str",
        "`trust`, `insecure-local-dev`, `sslinfo-missing` or `rds-force-ssl-off`",
    ),
    "warnings[].message": ("str", "what to do"),
    "warnings[].cause": ("str \\| null", "as for errors"),
}

#: The top-level keys of a report, in output order.
REPORT_KEYS = tuple(key for key in REPORT_FIELDS if "." not in key and "[" not in key)
