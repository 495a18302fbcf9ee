"""A user's backend over Django's plain PostgreSQL one: W004 must still see it."""

from __future__ import annotations

from django.db.backends.postgresql.base import DatabaseWrapper as PlainWrapper


class DatabaseWrapper(PlainWrapper):  # type: ignore[misc]
    """Nothing changed; what matters is the base class."""
