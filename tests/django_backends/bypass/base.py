"""A subclass whose ``get_connection_params`` never calls ours."""

from __future__ import annotations

from tests.django_backends.tamper.base import Bypass as DatabaseWrapper

__all__ = ["DatabaseWrapper"]
