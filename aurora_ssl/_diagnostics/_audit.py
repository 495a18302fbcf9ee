"""The audit: is every session of the server (of every instance of an Aurora cluster) on TLS?

Security reviews (PCI DSS, HIPAA, SOC 2) must show that every connection to the database is
encrypted, not only the application's: ``rds.force_ssl`` may be off, and a cron job or a BI
tool may connect in plaintext. Only the server knows, so each instance is asked
(``pg_stat_activity`` joined with ``pg_stat_ssl``) over a verified connection of our own.

What counts. Client backends and walsenders are sessions, and so is every row whose backend
type PostgreSQL hides: without ``pg_read_all_stats``, another role's session shows its user,
database and application name, but not its type, address or TLS state. Background workers that
run as a role (the logical replication launcher) look the same then, so they count as hidden
too: a role that cannot see cannot prove. Processes without a role (checkpointer, autovacuum)
are not sessions.

Local sessions, over a Unix socket or from a loopback address (the provider's maintenance
sessions; a tunnel or proxy on the database host), never cross a network: they are listed apart
and do not decide the exit status. A hidden session's address is hidden too: it is never local.

Exit status (:attr:`Audit.exit_status`): 3 when a session without TLS is seen, else 4 when some
are hidden, else 0.

On Aurora (``pg_catalog.aurora_replica_status()`` exists), every instance of the topology is
audited, each connected with verify-full to its own instance endpoint: the server id, then the
domain of the cluster endpoint, as AWS's Advanced Python Wrapper builds them.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
from collections.abc import Callable
from typing import Any

from aurora_ssl._endpoint import EndpointKind, host_problem, parse_endpoint
from aurora_ssl._redaction import mask_text, shorten
from aurora_ssl.errors import AuroraSSLError

EXIT_OK, EXIT_PLAINTEXT, EXIT_HIDDEN = 0, 3, 4
#: The server settings that decide the answer (``rds.force_ssl`` exists on RDS only).
SETTINGS = ("rds.force_ssl", "ssl_min_protocol_version", "password_encryption")

# pg_settings leaves out what the role may not read (ssl_min_protocol_version needs
# pg_read_all_settings) where current_setting() would fail; rds.force_ssl, readable by all, is a
# placeholder off RDS, which pg_settings does not list.
_FACTS = """
SELECT current_user, pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE'),
       pg_catalog.current_setting('rds.force_ssl', true),
       (SELECT setting FROM pg_catalog.pg_settings WHERE name = 'ssl_min_protocol_version'),
       (SELECT setting FROM pg_catalog.pg_settings WHERE name = 'password_encryption'),
       pg_catalog.to_regproc('pg_catalog.aurora_replica_status') IS NOT NULL
"""
_SESSIONS = """
SELECT a.pid, a.usename, a.datname, a.application_name, pg_catalog.host(a.client_addr),
       a.backend_type, s.ssl, s.version, s.cipher, pg_catalog.to_json(a.backend_start) #>> '{}',
       a.pid = pg_catalog.pg_backend_pid()
  FROM pg_catalog.pg_stat_activity AS a
  LEFT JOIN pg_catalog.pg_stat_ssl AS s ON s.pid = a.pid
 WHERE a.backend_type IN ('client backend', 'walsender')
    OR (a.backend_type IS NULL AND a.usesysid IS NOT NULL)
 ORDER BY a.backend_start, a.pid
"""
# The instances AWS's wrapper takes (one that has not reported for 5 minutes is gone): the
# writer first, and which one this connection is on.
_TOPOLOGY = """
SELECT server_id, session_id = 'MASTER_SESSION_ID',
       server_id = pg_catalog.aurora_db_instance_identifier()
  FROM pg_catalog.aurora_replica_status()
 WHERE session_id = 'MASTER_SESSION_ID' OR last_update_timestamp IS NULL
    OR pg_catalog.now() - last_update_timestamp <= interval '300 seconds'
 ORDER BY 2 DESC, 1
"""


@dataclasses.dataclass(frozen=True)
class Session:
    """One client session as the server shows it; ``None`` where PostgreSQL hides a value.

    Attributes:
        instance: the instance it is on (Aurora's instance id, else the host name audited).
        ssl: whether it uses TLS; ``None`` when hidden from the auditing role.
        own: the audit's own session.
    """

    instance: str
    pid: int
    user: str | None
    database: str | None
    application_name: str | None
    client_addr: str | None
    backend_type: str | None
    ssl: bool | None
    tls_version: str | None
    cipher: str | None
    backend_start: str | None
    own: bool

    @property
    def hidden(self) -> bool:
        return self.backend_type is None

    @property
    def local(self) -> bool:
        """Over a Unix socket or from a loopback address: never on a network."""
        if self.hidden or self.client_addr is None:  # a hidden session's address is hidden too
            return not self.hidden  # else no address: a Unix socket
        address = ipaddress.ip_address(self.client_addr)
        return bool((getattr(address, "ipv4_mapped", None) or address).is_loopback)


@dataclasses.dataclass(frozen=True)
class Instance:
    """One audited server: the name connected to, what it is, and what decides the answer.

    Attributes:
        host: the name connected to (and verified).
        instance_id: Aurora's instance identifier (``None`` off Aurora).
        writer: whether it is the cluster's writer (``None`` off Aurora).
        user: the auditing role; ``sees_all``: whether it sees every session.
        settings: :data:`SETTINGS` as the server has them (``None``: no such setting).
    """

    host: str
    instance_id: str | None
    writer: bool | None
    user: str
    sees_all: bool
    settings: dict[str, str | None]


@dataclasses.dataclass(frozen=True)
class Audit:
    """Every session of the audited instances (see the module for what counts).

    Attributes:
        sessions: the sessions that decide: on TLS, without it, or hidden.
        local_sessions: Unix-socket and loopback sessions, reported apart.
    """

    instances: list[Instance]
    sessions: list[Session]
    local_sessions: list[Session]

    @property
    def tls(self) -> int:
        return sum(s.ssl is True for s in self.sessions)

    @property
    def plaintext(self) -> int:
        return sum(s.ssl is False for s in self.sessions)

    @property
    def hidden(self) -> int:
        return sum(s.hidden for s in self.sessions)

    @property
    def exit_status(self) -> int:
        """0: every session visible and on TLS; 3: one without TLS seen; 4: some hidden."""
        return EXIT_PLAINTEXT if self.plaintext else EXIT_HIDDEN if self.hidden else EXIT_OK

    def messages(self) -> list[str]:
        """What to do, one message per finding."""
        found = []
        if self.plaintext:
            names = sorted({_client(s) for s in self.sessions if s.ssl is False})
            found.append(
                f"{self.plaintext} session(s) without TLS: {', '.join(names)}. Make those "
                "clients connect with sslmode=verify-full, then set rds.force_ssl to 1 in the "
                "DB (cluster) parameter group (elsewhere: hostssl lines only in pg_hba.conf)."
            )
        for instance in self.instances:
            if instance.settings.get("rds.force_ssl") == "0":
                found.append(f"{_name(instance)}: rds.force_ssl is 0, plaintext logins work.")
            hidden = sum(s.hidden for s in self.sessions if s.instance == _name(instance))
            if hidden:
                found.append(
                    f"{_name(instance)}: {hidden} session(s) hidden from role {instance.user}. "
                    "PostgreSQL shows another role's sessions only to members of "
                    f"pg_read_all_stats: run GRANT pg_read_all_stats TO {instance.user} (on RDS "
                    "and Aurora as a member of rds_superuser, such as the master user), or audit "
                    "as a member of rds_superuser."
                )
        return found

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (docs/reference/json.md)."""
        return {
            "format": 1,
            "ok": self.exit_status == EXIT_OK,
            "exit_status": self.exit_status,
            "totals": {
                "tls": self.tls,
                "plaintext": self.plaintext,
                "hidden": self.hidden,
                "local": len(self.local_sessions),
            },
            **dataclasses.asdict(self),  # sessions, local_sessions, instances
            "messages": self.messages(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_text(self) -> str:
        verdict = {
            EXIT_OK: "ENCRYPTED - every session uses TLS",
            EXIT_PLAINTEXT: f"NOT ENCRYPTED - {self.plaintext} session(s) without TLS",
            EXIT_HIDDEN: f"INCOMPLETE - {self.hidden} session(s) hidden from the auditing role",
        }[self.exit_status]
        lines = [
            f"{verdict} ({self.tls} on TLS, {self.plaintext} without, {self.hidden} hidden; "
            f"{len(self.local_sessions)} local, not counted; {len(self.instances)} instance(s))"
        ]
        for instance in self.instances:
            name = _name(instance)
            role = {None: "", True: " (writer)", False: " (reader)"}[instance.writer]
            where = f" at {instance.host}" if instance.instance_id else ""
            settings = ", ".join(f"{k}={v or '?'}" for k, v in instance.settings.items())
            sees = "sees every session" if instance.sees_all else "lacks pg_read_all_stats"
            lines.append(f"{name}{role}{where}: {settings}; role {instance.user} {sees}")
            lines += [_line(s) for s in self.sessions if s.instance == name]
            local = [_line(s) for s in self.local_sessions if s.instance == name]
            lines += ["  local, not counted:"] * bool(local) + [f"  {line}" for line in local]
        return "\n".join(lines + [f"- {m}" for m in self.messages()])


def _name(instance: Instance) -> str:
    return instance.instance_id or instance.host


def _client(session: Session) -> str:
    application = shorten(session.application_name or "(no application name)")
    return f"{application} from {session.client_addr or '?'}"


def _line(session: Session) -> str:
    state = "HIDDEN" if session.hidden else "TLS" if session.ssl else "PLAINTEXT"
    tls = f" {session.tls_version} {session.cipher}" if session.ssl else ""
    kind = "" if session.backend_type == "client backend" else f" [{session.backend_type or '?'}]"
    who = f"{session.user or '?'}@{session.database or '-'}{kind}"
    own = " (this audit)" if session.own else ""
    return (
        f"  {state:<9} pid {session.pid:<7} {who} {_client(session)}{tls}, since "
        f"{session.backend_start or '?'}{own}"
    )


def instance_endpoint(cluster_host: str, server_id: str) -> str | None:
    """The instance endpoint of ``server_id`` in the cluster ``cluster_host`` names (a cluster,
    reader, custom or instance endpoint); ``None`` for other names (a CNAME, RDS Proxy)."""
    endpoint = parse_endpoint(cluster_host)
    kinds = (EndpointKind.CLUSTER, EndpointKind.READER, EndpointKind.CUSTOM, EndpointKind.INSTANCE)
    if endpoint.kind not in kinds:
        return None
    domain = endpoint.host.split(".", 1)[1]
    return f"{server_id}.{re.sub(r'^cluster-(?:custom-|ro-)?', '', domain)}"


def audit_sessions(
    connect: Callable[[str | None], Any],
    host: str,
    *,
    close: Callable[[Any], None] = lambda connection: connection.close(),
) -> Audit:
    """Audit the server ``connect(None)`` reaches and, on Aurora, every other instance.

    Args:
        connect: opens a verified DB-API connection: ``connect(None)`` to the target as
            configured, ``connect(name)`` to the instance endpoint ``name``.
        host: the name the target is verified against (the cluster endpoint on Aurora).
        close: closes a connection ``connect`` opened.

    Raises:
        AuroraSSLError: a connection or a query failed on some instance (the audit would be
            incomplete), or the instance endpoints cannot be built from ``host``.
    """
    user, sees_all, settings, rows, topology = _ask(connect, None, host, close)
    current = ((server_id, writer) for server_id, writer, here in topology if here)
    instance_id, writer = next(current, (None, None))
    instances = [Instance(host, instance_id, writer, user, sees_all, settings)]
    sessions = [Session(instance_id or host, *row) for row in rows]
    for server_id, writer, here in topology:
        if here:
            continue
        name = instance_endpoint(host, server_id)
        if name is None or host_problem(name):
            raise AuroraSSLError(
                f"{host} is an Aurora cluster, but the endpoint of its instance "
                f"{shorten(server_id)} cannot be built from that name; audit it through the "
                "cluster endpoint's name (mydb.cluster-xxxx.REGION.rds.amazonaws.com)."
            )
        user, sees_all, settings, rows, _ = _ask(connect, name, name, close)
        instances.append(Instance(name, server_id, writer, user, sees_all, settings))
        sessions += [Session(server_id, *row) for row in rows]
    local = [s for s in sessions if s.local]
    return Audit(instances, [s for s in sessions if not s.local], local)


def _ask(
    connect: Callable[[str | None], Any], name: str | None, shown: str, close: Callable[[Any], None]
) -> tuple[str, bool, dict[str, str | None], list[Any], list[Any]]:
    """(role, sees every session, settings, session rows, topology rows) of one instance."""
    try:
        connection = connect(name)
    except AuroraSSLError:
        raise
    except Exception as exc:
        raise AuroraSSLError(f"Could not connect to {shown} to audit it: {_said(exc)}") from exc
    try:
        cursor = connection.cursor()
        cursor.execute(_FACTS)
        user, sees_all, *values, aurora = cursor.fetchone()
        cursor.execute(_SESSIONS)
        rows = cursor.fetchall()
        topology = []
        if aurora and name is None:
            cursor.execute(_TOPOLOGY)
            topology = cursor.fetchall()
        cursor.close()
    except Exception as exc:
        raise AuroraSSLError(f"Auditing {shown} failed: {_said(exc)}") from exc
    finally:
        close(connection)
    return str(user), bool(sees_all), dict(zip(SETTINGS, values, strict=True)), rows, topology


def _said(exc: BaseException) -> str:
    return mask_text(" ".join(f"{type(exc).__name__}: {exc}".split()))
