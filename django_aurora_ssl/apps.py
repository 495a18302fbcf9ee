"""The ``django_aurora_ssl`` app: system checks and ``manage.py check_aurora_ssl``."""

from __future__ import annotations

from django.apps import AppConfig


class AuroraSSLConfig(AppConfig):  # type: ignore[misc]  # Django has no stubs
    """Registers the checks; never connects or imports a driver (setup only)."""

    name = "django_aurora_ssl"
    verbose_name = "aurora-ssl"

    def ready(self) -> None:
        from django_aurora_ssl._checks import register_checks

        register_checks()
