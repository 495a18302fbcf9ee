"""A subclass that changes a security parameter after aurora-ssl set it.

It puts ``settings_dict["TAMPER"]`` (``{"sslrootcert": ...}`` or any other key) into the
parameters Django passes to the driver: the kind of change a well-meant hook makes. They are
checked at ``get_new_connection`` like OPTIONS, so a weakening is refused before connecting.
"""

from __future__ import annotations

from typing import Any

from django_aurora_ssl.backends.postgresql.base import DatabaseWrapper as AuroraWrapper


class DatabaseWrapper(AuroraWrapper):  # type: ignore[misc]
    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        params.update(self.settings_dict.get("TAMPER") or {})
        return params


class Bypass(AuroraWrapper):  # type: ignore[misc]
    """Builds the parameters itself, never calling ours (``ENGINE`` ``...tamper.bypass``)."""

    def get_connection_params(self) -> dict[str, Any]:
        from django.db.backends.postgresql.base import DatabaseWrapper as Django

        params: dict[str, Any] = Django.get_connection_params(self)
        params["sslmode"] = "verify-full"  # looks right; checked at get_new_connection all the same
        return params
