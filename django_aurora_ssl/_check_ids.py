"""Every system check id of ``django_aurora_ssl``: when it fires, and how to fix it.

The one list: the reference page (docs/reference/checks.md) is rendered from it when the docs
are built, and a test holds it equal to the ids :mod:`django_aurora_ssl._checks` emits. Importing
it needs no Django settings.
"""

from __future__ import annotations

#: id -> (when it fires, what to do)
CHECKS: dict[str, tuple[str, str]] = {
    "aurora_ssl.E001": (
        "an `AURORA_SSL` key on a database whose backend (by class) is not aurora-ssl's, or an "
        "`ENGINE` under `django_aurora_ssl` that does not exist",
        "set `ENGINE` to `django_aurora_ssl.backends.postgresql` (or `.postgis`), or a subclass",
    ),
    "aurora_ssl.E002": (
        "`AURORA_SSL` is not a dict, has an unknown key, a value of the wrong type or a "
        "boolean spelled other than true/false, 1/0, yes/no, on/off, or sits inside `OPTIONS`",
        "use the documented keys, next to `OPTIONS`",
    ),
    "aurora_ssl.E003": (
        "`OPTIONS` weakens verification (`sslmode` other than `verify-full`, "
        "`sslrootcert=system` or empty, `gssencmode`, `ssl_min_protocol_version` below "
        "TLSv1.2, `sslsni=0`, `sslkeylogfile`, a NUL character), or `NAME` / "
        "`OPTIONS['dbname']` holds a connection string",
        "remove it; with dj-database-url remove `ssl_require=True` from `config()` / `parse()`, "
        "or `sslmode=` from the URL",
    ),
    "aurora_ssl.E004": (
        "no TCP host (empty `HOST`, or a Unix socket): libpq never uses TLS there",
        "set `HOST` to the endpoint's name",
    ),
    "aurora_ssl.E005": (
        "a trust file cannot be used (`BUNDLE`, `AURORA_SSL_BUNDLE`, `OPTIONS['sslrootcert']`, "
        "an updated bundle): missing, unreadable, not PEM CA certificates, or not safely owned",
        "point it at a valid PEM bundle or remove it",
    ),
    "aurora_ssl.E006": (
        "a China (`.amazonaws.com.cn`) or GovCloud (`us-gov-*`) endpoint without a bundle",
        "download that partition's bundle (the URL is in the message) and set `BUNDLE`",
    ),
    "aurora_ssl.E007": (
        "`INSECURE_LOCAL_DEV` while any host source (`HOST`, `OPTIONS['host']`, "
        "`OPTIONS['hostaddr']`, `TLS_SERVER_NAME`) names an AWS endpoint",
        "remove it",
    ),
    "aurora_ssl.E008": (
        "database check: no verified TLS connection (untrusted or expired certificate, wrong "
        "name, server without TLS, parameters changed after aurora-ssl), or the connection "
        "failed otherwise (network, timeout, a refused login whose TLS state is unknown: the "
        "driver's libpq predates the fix for CVE-2024-10977); the message gives the reason",
        "fix the cause; never weaken `sslmode`",
    ),
    "aurora_ssl.E009": (
        "database check: the server says the session is not encrypted although the client "
        "negotiated TLS",
        "find what terminates TLS in between",
    ),
    "aurora_ssl.E010": (
        "database check: TLS was verified, then the server refused the login (SQLSTATE class "
        "28: wrong password or IAM token, unknown role, `pg_hba.conf`); the message gives the "
        "server's reason",
        "fix `USER`, `PASSWORD` (or the IAM token or password provider) or the server's rules; "
        "TLS is not the problem",
    ),
    "aurora_ssl.E011": (
        "database check: no password for the login, found before connecting (a password "
        "provider, IAM or Secrets Manager failed; AWS credentials or botocore missing)",
        "fix what the message names; nothing was sent to the server",
    ),
    "aurora_ssl.W001": (
        "`INSECURE_LOCAL_DEV` is in effect",
        "remove it as soon as the server has TLS",
    ),
    "aurora_ssl.W002": (
        "the app is installed but no database uses an aurora-ssl backend",
        "set the `ENGINE`",
    ),
    "aurora_ssl.W003": (
        "trust selection warns: `HOST` is not an RDS name (the full bundle is trusted; a CNAME "
        "fails by design), the bundle lacks the endpoint's region, or a bundle of yours holds "
        "RDS-named roots that are not AWS's",
        "set `TLS_SERVER_NAME`, run `aurora-ssl bundle update`, or check the bundle",
    ),
    "aurora_ssl.W004": (
        "an RDS/Aurora endpoint configured with Django's own PostgreSQL/PostGIS backend, or a "
        "subclass of it (no verification)",
        "switch to the aurora-ssl backend, or subclass it",
    ),
    "aurora_ssl.W005": (
        "database check: the `sslinfo` extension is not installed",
        "`CREATE EXTENSION sslinfo;` (on RDS as `rds_superuser`)",
    ),
    "aurora_ssl.W006": (
        "database check: `rds.force_ssl` is off on the server (other clients may connect "
        "unencrypted)",
        "set `rds.force_ssl = 1` in the parameter group",
    ),
}
