"""Round trips on a real network: a delaying loopback proxy, and what it reveals.

:class:`DelayProxy` listens on 127.0.0.1 and forwards every byte, in both directions, to the
server after half the chosen round-trip time; nothing leaves loopback. A connection through
it pays the RTT once per round trip, so ``(wall at 20 ms - wall at 1 ms) / 19 ms`` is the
number of round trips the client waits for, free of local CPU time. TCP's own handshake is
answered by the kernel at the proxy, so it is not delayed: a real network adds one more RTT
to every variant alike.

Also here, without the proxy: libpq's own protocol trace of the server-side check (psycopg
3), which names every message the client sends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import queue
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from benchmarks import warm
from benchmarks.common import Target, median


class DelayProxy:
    """A thread-per-direction TCP proxy that delays every chunk by ``rtt / 2`` each way.

    ``rtt_s`` may be changed between connections. Chunks keep their order and their own
    arrival time, so a burst is delayed once, not once per chunk.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.rtt_s = 0.0
        #: Every accepted connection, in order.
        self.connections: list[Proxied] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self._closed = False
        threading.Thread(target=self._accept, name="delay-proxy", daemon=True).start()

    def close(self) -> None:
        self._closed = True
        self.listener.close()

    def __enter__(self) -> DelayProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            lock = threading.Lock()
            open_halves = [2]
            record = Proxied()
            self.connections.append(record)
            for src, dst, way in ((client, server, "c"), (server, client, "s")):
                self._pump(src, dst, lock, open_halves, (client, server), (record, way))

    def _pump(
        self,
        src: socket.socket,
        dst: socket.socket,
        lock: threading.Lock,
        open_halves: list[int],
        pair: tuple[socket.socket, socket.socket],
        record: tuple[Proxied, str],
    ) -> None:
        chunks: queue.Queue[tuple[float, bytes]] = queue.Queue()
        delay = self.rtt_s / 2
        proxied, way = record
        flights = proxied.flights

        def read() -> None:
            while True:
                try:
                    data = src.recv(65536)
                except OSError:
                    data = b""
                if data:
                    with lock:
                        if not flights or flights[-1] != way:
                            flights.append(way)
                chunks.put((time.perf_counter() + delay, data))
                if not data:
                    if way == "c":
                        proxied.client_closed.set()
                    return

        def write() -> None:
            while True:
                due, data = chunks.get()
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                if not data:
                    break
                try:
                    dst.sendall(data)
                except OSError:
                    break
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
            with lock:
                open_halves[0] -= 1
                last = open_halves[0] == 0
            if last:
                for sock in pair:
                    sock.close()

        threading.Thread(target=read, daemon=True).start()
        threading.Thread(target=write, daemon=True).start()


@dataclasses.dataclass
class Probe:
    """One measured thing through the proxy: a callable timed as a whole."""

    name: str
    run: Callable[..., None]
    prepare: Callable[[], None] = lambda: None  # untimed, before each sample
    samples: dict[float, list[float]] = dataclasses.field(default_factory=dict)
    turns: list[int] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Proxied:
    """One connection through the proxy: the directions of its flights in arrival order,
    "c" (client to server) or "s"; consecutive chunks of one direction are one flight."""

    flights: list[str] = dataclasses.field(default_factory=list)
    client_closed: threading.Event = dataclasses.field(default_factory=threading.Event)

    def round_trips(self) -> int:
        """Client flights the server answered, except the client's last one: that is its
        goodbye (Terminate and TLS close_notify), and the server's close_notify in reply
        is not waited for (it may or may not reach the proxy before the count)."""
        if not self.client_closed.wait(timeout=10):
            raise RuntimeError("a proxied connection was not closed by its client")
        ways = list(self.flights)
        last = max((i for i, way in enumerate(ways) if way == "c"), default=0)
        return sum(1 for a, b in itertools.pairwise(ways[: last + 1]) if (a, b) == ("c", "s"))


def probes(target: Target, proxy_port: int, sa_driver: str, aliases: list[str]) -> list[Probe]:
    """floor and ours per framework through the proxy, plus ours + the server-side check."""
    import psycopg2

    from aurora_ssl import Options as Settings
    from aurora_ssl import connection_params, server_tls

    via = target.via(proxy_port)
    floor_params = via.libpq(via.root_path)
    settings = Settings(bundle=str(via.bundle_path))

    def psycopg2_run(check: bool, ours: bool) -> Callable[[], None]:
        def run() -> None:
            params = connection_params(via.libpq(None), settings) if ours else floor_params
            conn = psycopg2.connect(**params)
            try:
                if check:
                    server_tls(conn)
                with conn.cursor() as cur:
                    cur.execute("SELECT 1")
                    cur.fetchone()
            finally:
                conn.close()

        return run

    out = [
        Probe("psycopg2 floor", psycopg2_run(check=False, ours=False)),
        Probe("psycopg2 ours", psycopg2_run(check=False, ours=True)),
        Probe("psycopg2 ours + server_tls", psycopg2_run(check=True, ours=True)),
        Probe("sqlalchemy floor", warm.sqlalchemy_variant(via, via.root_path, sa_driver)),
        Probe("sqlalchemy ours", warm.sqlalchemy_variant(via, None, sa_driver)),
    ]
    if "rt-floor" in aliases:
        out.append(Probe("django floor", warm.django_variant("rt-floor")))
    if "rt-ours" in aliases:
        from django.db import connections

        def first_in_process() -> None:
            # The startup check's memory is the wrapper's (one per alias and thread).
            vars(connections["rt-ours"]).pop("_aurora_ssl_checked", None)

        out.append(Probe("django ours, later", warm.django_variant("rt-ours")))
        out.append(
            Probe(
                "django ours, first in process",
                warm.django_variant("rt-ours", warm_up=False),
                prepare=first_in_process,
            )
        )
    return out


def calibrate(target: Target, proxy_port: int, n: int) -> float:
    """Seconds of one round trip as a client sees it through the proxy: ``SELECT 1`` on an
    open connection (the injected RTT plus the proxy's and the server's own time)."""
    import psycopg2

    via = target.via(proxy_port)
    conn = psycopg2.connect(**via.libpq(via.root_path))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            times = []
            for _ in range(n + 1):
                start = time.perf_counter()
                cur.execute("SELECT 1")
                cur.fetchone()
                times.append(time.perf_counter() - start)
    finally:
        conn.close()
    return median(times[1:])


#: What the round-trip comparisons must show (issue 12): (ours, floor, extra round trips).
EXPECTED = {
    "psycopg2: ours vs floor": ("psycopg2 ours", "psycopg2 floor", 0),
    "sqlalchemy: ours vs floor": ("sqlalchemy ours", "sqlalchemy floor", 0),
    "django: ours vs floor, later connections": ("django ours, later", "django floor", 0),
    "server_tls(conn) on a connection": ("psycopg2 ours + server_tls", "psycopg2 ours", 1),
    "django: first connection per process and alias (startup check)": (
        "django ours, first in process",
        "django floor",
        1,
    ),
}


def measure(
    target: Target,
    proxy: DelayProxy,
    sa_driver: str,
    aliases: list[str],
    rtts_ms: tuple[float, float],
    samples: tuple[int, int],
) -> dict[str, Any]:
    """Median wall time per probe at each RTT, and the round trips derived from them.

    Round trips are derived two ways from wall time, both relative to the calibrated RTT
    ``c`` (one ``SELECT 1`` on an open connection through the proxy): ``wall / c`` at each
    latency (includes local CPU, as a fraction of an RTT), and the slope
    ``(wall_high - wall_low) / (c_high - c_low)`` (local CPU cancels out). The proxy also
    counts the client's answered flights per connection: the exact integer.
    """
    probe_list = probes(target, proxy.port, sa_driver, aliases)
    calibrated: dict[float, float] = {}
    for rtt_ms, n in zip(rtts_ms, samples, strict=True):
        proxy.rtt_s = rtt_ms / 1000
        calibrated[rtt_ms] = calibrate(target, proxy.port, max(n, 9)) * 1000
        for probe in probe_list:  # one untimed pass at this latency
            probe.prepare()
            probe.run()
        for _ in range(n):
            for probe in probe_list:
                probe.prepare()
                first = len(proxy.connections)
                start = time.perf_counter()
                probe.run()
                probe.samples.setdefault(rtt_ms, []).append(time.perf_counter() - start)
                probe.turns.append(sum(c.round_trips() for c in proxy.connections[first:]))
    low, high = rtts_ms
    results: dict[str, Any] = {
        "rtts_ms": list(rtts_ms),
        "samples": list(samples),
        "calibrated_rtt_ms": {f"{k:g}": v for k, v in calibrated.items()},
        "probes": {},
    }
    p: dict[str, Any] = results["probes"]
    for probe in probe_list:
        walls = {rtt: median(s) * 1000 for rtt, s in probe.samples.items()}
        p[probe.name] = {
            "wall_ms": {f"{k:g}": v for k, v in walls.items()},
            "wall_over_rtt": {f"{k:g}": v / calibrated[k] for k, v in walls.items()},
            "round_trips_slope": (walls[high] - walls[low]) / (calibrated[high] - calibrated[low]),
            "round_trips_counted": sorted(set(probe.turns)),
        }
    comparisons: dict[str, Any] = {}
    by_name = {probe.name: probe for probe in probe_list}
    for label, (ours, floor, expected) in EXPECTED.items():
        if ours not in p or floor not in p:
            continue
        a, b = p[ours], p[floor]
        counted = [x - y for x in a["round_trips_counted"] for y in b["round_trips_counted"]]
        # Paired: the two ran back to back in each pass, so a disturbance hits both.
        pairs = zip(by_name[ours].samples[high], by_name[floor].samples[high], strict=True)
        comparisons[label] = {
            "expected": expected,
            "counted": counted[0] if len(set(counted)) == 1 else counted,
            "slope": a["round_trips_slope"] - b["round_trips_slope"],
            f"at_{high:g}ms": median([(x - y) * 1000 / calibrated[high] for x, y in pairs]),
        }
    results["comparisons"] = comparisons
    return results


# --- libpq's protocol trace of the server-side check (no proxy) ----------------------------


def check_round_trips(target: Target) -> dict[str, Any]:
    """Count what the one-query check sends, from libpq's protocol trace (psycopg 3).

    A round trip is a simple Query ('Q') or an extended-protocol Sync ('S'): each makes the
    client wait for the server. Connection set-up (startup, authentication) is not counted.
    """
    import psycopg

    from aurora_ssl import Options as Settings
    from aurora_ssl import connection_params, server_tls

    params = connection_params(target.libpq(None), Settings(bundle=str(target.bundle_path)))
    with psycopg.connect(**params, autocommit=True) as conn, tempfile.TemporaryFile() as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        facts = server_tls(conn)
        conn.pgconn.untrace()
        trace.seek(0)
        sent = frontend_messages(trace.read().decode(errors="replace"))
    return {
        "server_tls": dataclasses.asdict(facts),
        "messages_sent": [name for name, _ in sent],
        "round_trips_libpq_trace": sum(1 for name, _ in sent if name in ("Query", "Sync")),
        "round_trips_django_command": django_command_round_trips(),
    }


def django_command_round_trips() -> dict[str, Any] | None:
    """What ``manage.py check_aurora_ssl --database ours`` sends, from libpq's own trace.

    Every psycopg 3 connection Django opens during the command is traced from right after
    its handshake, so the backend's startup check (run inside ``get_new_connection``) is
    seen too; Django's query capture would miss it (it runs on the raw connection).
    """
    if not (warm.django_available() and warm.django_ours_available()):
        return None
    import psycopg
    from django.core.management import call_command
    from django.db import connections

    if connections["ours"].Database is not psycopg:
        return None  # the trace needs psycopg 3 (Django uses it when both are installed)
    traces: list[Any] = []
    original = psycopg.connect
    files = contextlib.ExitStack()

    def traced_connect(*args: Any, **kwargs: Any) -> Any:
        conn = original(*args, **kwargs)
        trace = files.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 - the stack closes it
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        traces.append(trace)
        return conn

    connections["ours"].close()
    # A fresh process: the startup check has not run yet (its memory is the wrapper's).
    vars(connections["ours"]).pop("_aurora_ssl_checked", None)
    psycopg.connect = traced_connect
    try:
        with open(os.devnull, "w") as sink:
            call_command("check_aurora_ssl", "--database", "ours", stdout=sink, stderr=sink)
    finally:
        psycopg.connect = original
        connections["ours"].close()
    sent: list[tuple[str, str]] = []
    with files:
        for trace in traces:
            trace.seek(0)
            sent += frontend_messages(trace.read().decode(errors="replace"))
    # Django's own connection set-up (the plain backend does it too) is not the check's.
    django_setup = [m for m in sent if "set_config('TimeZone'" in m[1]]
    waits = [m for m in sent if m[0] in ("Query", "Sync") and m not in django_setup]
    return {
        "connections": len(traces),
        "round_trips": len(waits),
        "statements": [" ".join(text.split())[:60] for _, text in waits],
        "django_setup_round_trips": len(django_setup),
    }


def frontend_messages(trace: str) -> list[tuple[str, str]]:
    """(message name, text) of every client-to-server message in a libpq trace; a query's
    text may span several lines (continuation lines start with neither "F" nor "B")."""
    messages: list[tuple[str, str]] = []
    current: list[str] | None = None
    for line in trace.splitlines():
        if line.startswith(("F\t", "B\t")):
            parts = line.split("\t")
            current = [parts[2], "\t".join(parts[3:])] if line.startswith("F\t") else None
            if current is not None:
                messages.append((current[0], current[1]))
        elif current is not None:
            current[1] += "\n" + line
            messages[-1] = (current[0], current[1])
    return messages
