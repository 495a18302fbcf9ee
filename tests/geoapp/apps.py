from __future__ import annotations

from django.apps import AppConfig


class GeoAppConfig(AppConfig):
    name = "tests.geoapp"
    label = "geoapp"
    default_auto_field = "django.db.models.BigAutoField"
