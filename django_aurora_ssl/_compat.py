"""Every Django / driver version difference the integration cares about, in one place.

Supported: Django 4.2 LTS, 5.2 LTS and 6.x, with psycopg2 (>= 2.8.4) or psycopg 3 (>= 3.1.8).
Nothing here imports a driver at module import time except through Django's own backend
module, which has already picked one (psycopg 3 when both are installed).
"""

from __future__ import annotations

from typing import Any

import django

DJANGO_VERSION: tuple[int, int] = (django.VERSION[0], django.VERSION[1])

#: Django 5.1 added ``OPTIONS["pool"]`` (psycopg 3 + psycopg_pool) to the PostgreSQL backend.
SUPPORTS_POOL = DJANGO_VERSION >= (5, 1)


def is_psycopg3() -> bool:
    """Whether Django's PostgreSQL backend runs on psycopg 3 (it prefers it over psycopg2)."""
    from django.db.backends.postgresql.psycopg_any import is_psycopg3 as flag

    return bool(flag)


def connection_pool(wrapper: Any) -> Any:
    """The psycopg_pool ``ConnectionPool`` Django uses for this wrapper, or ``None``."""
    if not SUPPORTS_POOL:
        return None
    return wrapper.pool


def is_pool_timeout(exc: BaseException) -> bool:
    """``psycopg_pool.PoolTimeout``: the pool could not hand out a connection in time."""
    return type(exc).__name__ == "PoolTimeout" and type(exc).__module__.startswith("psycopg_pool")


def driver_name(wrapper: Any) -> str:
    """``psycopg`` or ``psycopg2``: the driver module this wrapper uses (``self.Database``)."""
    return str(getattr(wrapper.Database, "__name__", "psycopg")).split(".")[0]
