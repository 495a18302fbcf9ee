"""Settings of the example project: one database, verified TLS, configured from the environment.

The variables are the ones ``python -m aurora_ssl.testing serve --env-file F`` writes, so the
demo can point the project at a local Aurora-like server; for a real cluster set them by hand:

=============================  ===============================================================
AURORA_SSL_DEMO_HOST           endpoint name, e.g. mydb.cluster-xxxx.us-east-1.rds.amazonaws.com
AURORA_SSL_DEMO_HOSTADDR       optional IP address to connect to (the name is still verified)
AURORA_SSL_DEMO_PORT           default 5432
AURORA_SSL_DEMO_DBNAME         database name
AURORA_SSL_DEMO_USER           user name
AURORA_SSL_DEMO_PASSWORD       password
AURORA_SSL_DEMO_BUNDLE         optional RDS bundle file (default: the one shipped with aurora-ssl)
AURORA_SSL_DEMO_POOL           "1": use Django's psycopg 3 connection pool (Django >= 5.1)
=============================  ===============================================================
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent


def _env(name: str, default: str = "") -> str:
    return os.environ.get(f"AURORA_SSL_DEMO_{name}", default)


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-project-not-secret")
DEBUG = False
ALLOWED_HOSTS: list[str] = []
INSTALLED_APPS = [
    "django_aurora_ssl",  # system checks and `manage.py check_aurora_ssl`
    "example_project.notes",
]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_options: dict[str, Any] = {}
if _env("HOSTADDR"):
    _options["hostaddr"] = _env("HOSTADDR")  # libpq connects here, verifies HOST's name
if _env("POOL") == "1":
    _options["pool"] = {"min_size": 1, "max_size": 4, "timeout": 10}

DATABASES = {
    "default": {
        "ENGINE": "django_aurora_ssl.backends.postgresql",
        "HOST": _env("HOST"),
        "PORT": _env("PORT", "5432"),
        "NAME": _env("DBNAME", "postgres"),
        "USER": _env("USER", "postgres"),
        "PASSWORD": _env("PASSWORD"),
        "OPTIONS": _options,
        "CONN_HEALTH_CHECKS": True,
        "AURORA_SSL": {
            "BUNDLE": _env("BUNDLE") or None,
            "SERVER_CHECK_AT_STARTUP": True,
        },
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"aurora_ssl": {"handlers": ["console"], "level": "WARNING"}},
}
