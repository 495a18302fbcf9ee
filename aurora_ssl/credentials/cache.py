"""A per-key cache that fetches each value once, however many threads and tasks ask at once.

A pool that starts (or a failover that drops every connection) asks for the same token from
many threads and tasks in the same millisecond. Fetching once per key, not once per caller,
is what keeps the amortised cost near zero and Secrets Manager off its rate limit.

Sync callers and asyncio tasks share one in-flight :class:`concurrent.futures.Future` per key:
the first caller fetches (a thread caller in its own thread, a task in the loop's executor, so
the event loop never waits on signing or on AWS), and everyone else waits on that future.
The hit path takes no lock: one dict read and one clock read.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
import time
import types
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["Fetched", "SingleFlightCache"]

_NOTHING: Any = object()
_EMPTY: Mapping[Any, Any] = types.MappingProxyType({})
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class Fetched(Generic[V]):
    """A value and when (on the cache's clock) it must be fetched again; ``None``: never.

    ``fetched_at`` is set by the cache when it stores the value.
    """

    value: V
    refresh_at: float | None = None
    fetched_at: float = 0.0


class SingleFlightCache(Generic[K, V]):
    """Cache values per key; concurrent misses on one key share a single fetch.

    Args:
        clock: seconds, for ``refresh_at``; :func:`time.time` unless a test pins it.
        reinvalidate_after: an ``invalidate`` from a context that was never handed the value
            is ignored if the value is younger than this (see :meth:`invalidate`).
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.time, reinvalidate_after: float = 1.0
    ) -> None:
        self._clock = clock
        self._reinvalidate_after = reinvalidate_after
        self._values: dict[K, Fetched[V]] = {}
        self._inflight: dict[K, concurrent.futures.Future[Fetched[V]]] = {}
        self._lock = threading.Lock()
        self._handed: contextvars.ContextVar[Mapping[K, V]] = contextvars.ContextVar(
            f"aurora_ssl_handed_{id(self)}", default=_EMPTY
        )
        self.fetches = 0
        """How many fetches ran (for tests and the benchmark)."""

    def _fresh(self, key: K) -> Fetched[V] | None:
        entry = self._values.get(key)
        if entry is None or (entry.refresh_at is not None and self._clock() >= entry.refresh_at):
            return None
        return entry

    def _claim(self, key: K) -> tuple[concurrent.futures.Future[Fetched[V]], bool]:
        """The future to wait on for ``key``, and whether the caller must fill it."""
        with self._lock:
            entry = self._fresh(key)
            if entry is not None:
                done: concurrent.futures.Future[Fetched[V]] = concurrent.futures.Future()
                done.set_result(entry)
                return done, False
            future = self._inflight.get(key)
            if future is not None:
                return future, False
            future = concurrent.futures.Future()
            # RUNNING: a cancelled waiter (asyncio.wrap_future cancels its source) can no
            # longer cancel the fetch the other waiters share.
            future.set_running_or_notify_cancel()
            self._inflight[key] = future
            return future, True

    def _fill(
        self,
        key: K,
        future: concurrent.futures.Future[Fetched[V]],
        fetch: Callable[[], Fetched[V]],
    ) -> None:
        try:
            with self._lock:
                self.fetches += 1
            fetched = fetch()
            entry = Fetched(fetched.value, fetched.refresh_at, self._clock())
        except BaseException as exc:
            with self._lock:
                self._inflight.pop(key, None)
            future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        with self._lock:
            self._values[key] = entry
            self._inflight.pop(key, None)
        future.set_result(entry)

    def get(self, key: K, fetch: Callable[[], Fetched[V]]) -> V:
        """The cached value for ``key``, fetching it (once) if missing or due."""
        entry = self._fresh(key)
        if entry is not None:
            return self._hand_out(key, entry.value)
        future, owner = self._claim(key)
        if owner:
            self._fill(key, future, fetch)
        return self._hand_out(key, future.result().value)

    async def get_async(self, key: K, fetch: Callable[[], Fetched[V]]) -> V:
        """Like :meth:`get`; a fetch runs in the loop's default executor, never on the loop."""
        entry = self._fresh(key)
        if entry is not None:
            return self._hand_out(key, entry.value)
        future, owner = self._claim(key)
        if owner:
            asyncio.get_running_loop().run_in_executor(None, self._fill, key, future, fetch)
        return self._hand_out(key, (await asyncio.wrap_future(future)).value)

    def _hand_out(self, key: K, value: V) -> V:
        """Remember, for this thread or task only, which value it was given for ``key``."""
        handed = self._handed.get()
        if handed.get(key, _NOTHING) is not value:
            # A new dict, never mutated: tasks created from this context share the old one.
            self._handed.set({**handed, key: value})
        return value

    def invalidate(self, key: K) -> V | None:
        """Drop ``key`` if the caller's value is still the cached one; returns what was dropped.

        The caller is known by the value :meth:`get` last handed out in its context (thread or
        task). Fifty connections refused at once by a rotated password each report it; once
        the first report has replaced the value, the others name a value that is no longer
        cached and are ignored, so the fresh value is not thrown away again. A report from a
        context that never asked is believed unless the value is younger than
        ``reinvalidate_after`` seconds.
        """
        handed = self._handed.get().get(key, _NOTHING)
        with self._lock:
            entry = self._values.get(key)
            if entry is None:
                return None
            if handed is _NOTHING:
                if self._clock() - entry.fetched_at < self._reinvalidate_after:
                    return None
            elif handed is not entry.value and handed != entry.value:
                return None
            del self._values[key]
            return entry.value

    def clear(self) -> None:
        """Forget every value (in-flight fetches still complete)."""
        with self._lock:
            self._values.clear()
