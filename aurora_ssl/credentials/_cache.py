"""Values per key, each fetched once while every caller waits for it (boundedly), and fork-safe.

A pool that starts (or a failover that drops every connection) asks for the same token from
many threads and tasks in the same millisecond. Fetching once per key, not once per caller,
keeps the amortised cost near zero and Secrets Manager off its rate limit. Every fetch runs in
a thread of its own and fills a :class:`concurrent.futures.Future` that threads wait on and
tasks await, so the event loop never waits on AWS, a failure reaches every waiter, and no wait
(not even the first caller's) outlasts :data:`WAIT_SECONDS`.

A ``fork`` (Celery prefork, gunicorn ``--preload``) copies the in-flight futures and the lock
but not the threads that would complete or release them, so every cache starts the child with
a new lock and nothing in flight (``os.register_at_fork``). Values survive: a token or a
secret is as good in the child.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import os
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from aurora_ssl.credentials._contract import CredentialTarget
from aurora_ssl.errors import CredentialsError

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
#: A fetch: given the value last dropped by :meth:`SingleFlight.invalidate` (or ``None``),
#: the new value and when (on the cache's clock) to fetch it again (``None``: only when told).
Fetch = Callable[[V | None], tuple[V, float | None]]

WAIT_SECONDS = 30.0
"""How long a caller waits for a fetch before it gives up with a CredentialsError."""

_NOTHING: Any = object()
_LIVE: weakref.WeakSet[SingleFlight[Any, Any]] = weakref.WeakSet()


class SingleFlight(Generic[K, V]):
    """A cache whose concurrent misses on one key share a single fetch.

    Args:
        what: what is cached, for messages ("an IAM token").
        clock: seconds, the clock of the fetches' refresh times.
    """

    def __init__(self, what: str, *, clock: Callable[[], float] = time.time) -> None:
        self.fetches = 0
        """How many fetches started (tests and the benchmark read it)."""
        self._what = what
        self._clock = clock
        self._values: dict[K, tuple[V, float | None]] = {}  # the value, when to fetch it again
        self._dropped: dict[K, V] = {}
        self._lock = threading.Lock()
        self._inflight: dict[K, concurrent.futures.Future[V]] = {}
        # What get() last handed out, per key, in this thread or task (a dict never mutated).
        self._handed: contextvars.ContextVar[dict[K, V]] = contextvars.ContextVar(
            f"aurora_ssl_handed_{id(self)}"
        )
        _LIVE.add(self)

    def get(self, key: K, fetch: Fetch[V], target: CredentialTarget | None) -> V:
        """The value for ``key``, fetched (once) if missing or due.

        Raises:
            CredentialsError: the fetch raised it, or did not finish within
                :data:`WAIT_SECONDS`.
            Exception: whatever else the fetch raised.
        """
        value = self._fresh(key)
        if value is _NOTHING:
            try:
                value = self._fetching(key, fetch).result(timeout=WAIT_SECONDS)
            except concurrent.futures.TimeoutError:
                raise self._gave_up(target) from None
        return self._hand_out(key, value)

    async def get_async(self, key: K, fetch: Fetch[V], target: CredentialTarget | None) -> V:
        """Like :meth:`get`, awaiting the fetch instead of blocking the event loop."""
        value = self._fresh(key)
        if value is _NOTHING:
            import asyncio  # a module sync applications need not load

            future = asyncio.wrap_future(self._fetching(key, fetch))
            try:
                value = await asyncio.wait_for(future, WAIT_SECONDS)
            except asyncio.TimeoutError:
                raise self._gave_up(target) from None
        return self._hand_out(key, value)

    def invalidate(self, key: K) -> None:
        """Drop ``key`` if the caller's value is still the cached one; the next fetch is told it.

        The caller is known by the value :meth:`get` last handed out in its context (thread or
        task). Fifty connections refused at once by a rotated password each report it; once
        the first report has replaced the value, the others name a value that is no longer
        cached and are ignored, so the fresh value is not thrown away again. A report from a
        context that was never handed a value is believed.
        """
        handed = self._handed.get({}).get(key, _NOTHING)
        with self._lock:
            entry = self._values.get(key)
            if entry is None or (handed is not _NOTHING and handed != entry[0]):
                return
            self._dropped[key] = self._values.pop(key)[0]

    def _fresh(self, key: K) -> V:
        """The cached value, or ``_NOTHING``: one dict read and, if it expires, one clock read."""
        entry = self._values.get(key)
        if entry is None or (entry[1] is not None and self._clock() >= entry[1]):
            return _NOTHING  # type: ignore[no-any-return]
        return entry[0]

    def _fetching(self, key: K, fetch: Fetch[V]) -> concurrent.futures.Future[V]:
        """The future of ``key``'s fetch: the one in flight, or a new one started in a thread."""
        future: concurrent.futures.Future[V] = concurrent.futures.Future()
        with self._lock:
            if key in self._inflight:
                return self._inflight[key]
            value = self._fresh(key)  # filled since the caller looked
            if value is not _NOTHING:
                future.set_result(value)
                return future
            # RUNNING: a cancelled waiter (asyncio.wrap_future cancels its source) can no
            # longer cancel the fetch the other waiters share.
            future.set_running_or_notify_cancel()
            self._inflight[key] = future
            self.fetches += 1
        threading.Thread(
            target=self._fill, args=(key, future, fetch), name="aurora-ssl-fetch", daemon=True
        ).start()
        return future

    def _fill(self, key: K, future: concurrent.futures.Future[V], fetch: Fetch[V]) -> None:
        try:
            value, refresh_at = fetch(self._dropped.pop(key, None))
        except BaseException as exc:  # noqa: BLE001 - handed to every waiter
            with self._lock:
                del self._inflight[key]
            future.set_exception(exc)
            return
        with self._lock:
            self._values[key] = (value, refresh_at)
            del self._inflight[key]
        future.set_result(value)

    def _hand_out(self, key: K, value: V) -> V:
        """Remember, for this thread or task only, which value it was given for ``key``."""
        handed = self._handed.get({})
        if handed.get(key, _NOTHING) is not value:
            # A new dict, never mutated: tasks created from this context share the old one.
            self._handed.set({**handed, key: value})
        return value

    def _gave_up(self, target: CredentialTarget | None) -> CredentialsError:
        login = f" for {target}" if target is not None else ""
        return CredentialsError(
            f"Waited {WAIT_SECONDS:g} s for {self._what}{login}, and it has not arrived. Check "
            "that this host can reach AWS (the network, a VPC endpoint, the instance or "
            "container credentials endpoint) or that your provider answers; the next "
            "connection asks again."
        )


def _after_fork_in_child() -> None:
    for cache in list(_LIVE):
        cache._lock = threading.Lock()
        cache._inflight = {}


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)
