"""Django settings for Django's own test runner (``tests/runtests.py``), on our backend.

Both aliases come from the local server's ``DATABASE_URL`` through ``database_url()``, as a
user's settings would; ``other`` gets a test database of its own, as Django's multi-database
tests expect. The runner writes what ran and what failed to ``$AURORA_SSL_PEER_RESULTS`` (JSON)
for ``scripts/peer/run.py``, which compares it with the expected failures.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from django.test.runner import DiscoverRunner
from django.test.utils import iter_test_cases

from django_aurora_ssl import database_url, is_protected

DATABASES = {
    "default": database_url(os.environ["DATABASE_URL"]),
    "other": database_url(os.environ["DATABASE_URL"], TEST={"NAME": "test_other"}),
}
SECRET_KEY = "django_tests_secret_key"  # noqa: S105 - Django's own test settings
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = False
TEST_RUNNER = "peer_settings.RecordingRunner"


class RecordingRunner(DiscoverRunner):
    """Django's runner; also writes each test's outcome (``failed`` maps id to traceback) and
    whether both aliases are on our backend with verification on."""

    def run_suite(self, suite: Any, **kwargs: Any) -> Any:
        ran = [test.id() for test in iter_test_cases(suite)]  # the suite empties as it runs
        protected = all(is_protected(alias) for alias in DATABASES)  # our backend, verifying
        result = super().run_suite(suite, **kwargs)
        failed = {test.id(): text for test, text in [*result.errors, *result.failures]}
        failed.update({test.id(): "unexpected success" for test in result.unexpectedSuccesses})
        skipped = {test.id() for test, _ in result.skipped}
        passed = [name for name in ran if name not in failed and name not in skipped]
        outcome = {"ran": result.testsRun, "skipped": len(skipped), "passed": passed,
                   "failed": failed, "protected": protected}  # fmt: skip
        Path(os.environ["AURORA_SSL_PEER_RESULTS"]).write_text(json.dumps(outcome))
        return result
