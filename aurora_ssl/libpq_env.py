"""What libpq tools (psql, pg_dump) read, rendered so that nothing is left for them to fill.

libpq ranks its inputs: explicit conninfo keys, then a service file (``service=`` or
``PGSERVICE``), then ``PG*`` environment variables, then built-in defaults. So exporting
``PGSSLMODE=verify-full`` is not enough while ``PGSERVICE`` names a service with
``sslmode=disable``: :func:`render_env` unsets ``PGSERVICE`` first, and
:func:`render_conninfo` gives one connection string whose keys outrank both. Every key is
rendered generically from :data:`LIBPQ_ENV` (libpq's own ``PQconndefaults`` table, tested).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aurora_ssl.redaction import shorten

__all__ = [
    "LIBPQ_ENV",
    "LIBPQ_SINCE",
    "UNSET",
    "env_variables",
    "for_libpq",
    "render_conninfo",
    "render_env",
    "system_libpq_version",
]

#: The environment variable libpq reads for each keyword (PQconndefaults' ``envvar``).
LIBPQ_ENV = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "service": "PGSERVICE",
    "passfile": "PGPASSFILE",
    "channel_binding": "PGCHANNELBINDING",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "client_encoding": "PGCLIENTENCODING",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
    "sslmode": "PGSSLMODE",
    "sslnegotiation": "PGSSLNEGOTIATION",
    "sslcompression": "PGSSLCOMPRESSION",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcertmode": "PGSSLCERTMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcrl": "PGSSLCRL",
    "sslcrldir": "PGSSLCRLDIR",
    "sslsni": "PGSSLSNI",
    "requirepeer": "PGREQUIREPEER",
    "require_auth": "PGREQUIREAUTH",
    "min_protocol_version": "PGMINPROTOCOLVERSION",
    "max_protocol_version": "PGMAXPROTOCOLVERSION",
    "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
    "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
    "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME",
    "gsslib": "PGGSSLIB",
    "gssdelegation": "PGGSSDELEGATION",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "load_balance_hosts": "PGLOADBALANCEHOSTS",
}
#: The first libpq major version that knows each keyword (older ones refuse the whole
#: conninfo string with 'invalid connection option').
LIBPQ_SINCE = {
    "gssencmode": 12,
    "ssl_min_protocol_version": 13,
    "ssl_max_protocol_version": 13,
    "sslsni": 14,
    "sslcrldir": 14,
    "require_auth": 16,
    "sslcertmode": 16,
    "load_balance_hosts": 16,
    "sslnegotiation": 17,
    "gssdelegation": 17,
    "sslkeylogfile": 18,
    "min_protocol_version": 18,
    "max_protocol_version": 18,
}
#: What an older libpq that lacks a keyword does anyway: leaving the key out is then safe.
_IMPLIED_BEFORE = {"sslnegotiation": "postgres", "gssencmode": "disable", "sslkeylogfile": ""}
#: Variables unset before the exports: a service file outranks every environment variable.
UNSET = ("PGSERVICE",)


def env_variables(params: Mapping[str, str]) -> dict[str, str]:
    """The ``PG*`` variables for ``params``, every key rendered.

    A key without a variable (``sslkeylogfile``) is left out only at its default, the empty
    value: with ``PGSERVICE`` unset nothing else can set it.

    Raises:
        ValueError: a key has a value but no environment variable.
    """
    missing = sorted(key for key, value in params.items() if key not in LIBPQ_ENV and value)
    if missing:
        raise ValueError(
            f"{', '.join(missing)} cannot be set through environment variables (libpq has "
            "none for them)."
        )
    return {LIBPQ_ENV[key]: value for key, value in params.items() if key in LIBPQ_ENV}


def render_conninfo(params: Mapping[str, str]) -> str:
    """One libpq connection string (``key=value ...``, quoted where libpq needs it)."""
    return " ".join(f"{key}={_conninfo_quote(value)}" for key, value in params.items())


def _conninfo_quote(value: str) -> str:
    if value and not any(c.isspace() or c in "'\\" for c in value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def for_libpq(params: Mapping[str, str], version: int | None) -> dict[str, str]:
    """``params`` for a libpq of major ``version`` (``None``: current): keys it does not know
    are left out where it behaves that way anyway (``sslnegotiation=postgres`` before 17).

    Raises:
        ValueError: a key that this libpq lacks asks for a behaviour it cannot give.
    """
    if version is None:
        return dict(params)
    kept: dict[str, str] = {}
    for key, value in params.items():
        since = LIBPQ_SINCE.get(key)
        if since is None or version >= since:
            kept[key] = value
        elif _IMPLIED_BEFORE.get(key) == value:
            continue  # e.g. sslnegotiation=postgres: the only way libpq < 17 negotiates
        else:
            raise ValueError(
                f"{key}={shorten(value)} needs libpq {since} or newer, and this machine's "
                f"libpq is {version}; upgrade libpq (the postgresql client package), or pass "
                "--libpq-version for the libpq your tool uses."
            )
    return kept


def system_libpq_version() -> int | None:
    """Major version of the libpq that psql and pg_dump on this machine load, if found."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("pq")
    if not name:
        return None
    try:
        number = int(ctypes.CDLL(name).PQlibVersion())
    except (OSError, AttributeError, ValueError):
        return None
    return number // 10000 or None


def render_env(
    variables: Mapping[str, str], shell: str = "sh", *, unset: Sequence[str] = ()
) -> str:
    """Shell commands that unset ``unset`` and set ``variables``.

    Args:
        variables: environment variable names and values.
        shell: ``sh`` (bash, zsh), ``fish`` or ``powershell``.
        unset: variables to remove first (``PGSERVICE``).
    """
    if shell == "fish":
        lines = [f"set -e {name};" for name in unset]
        lines += [f"set -gx {name} {_fish_quote(value)};" for name, value in variables.items()]
        return "\n".join(lines)
    if shell == "powershell":
        lines = [f"Remove-Item Env:{name} -ErrorAction SilentlyContinue" for name in unset]
        lines += [
            f"$env:{name} = '{value.replace(chr(39), chr(39) * 2)}'"
            for name, value in variables.items()
        ]
        return "\n".join(lines)
    import shlex

    exports = "export " + " ".join(f"{name}={shlex.quote(v)}" for name, v in variables.items())
    return "\n".join([*(f"unset {name}" for name in unset), exports])


def _fish_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
