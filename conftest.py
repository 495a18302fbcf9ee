"""Session set-up for tests/ and docs/: a private trust cache, and the fixture plugins.

The cache directory is set before any test runs so no test writes to the developer's
``~/.cache``, and an ``AURORA_SSL_BUNDLE`` of the developer's shell cannot steer selection.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

pytest_plugins = ["tests.fix_servers", "tests.fix_django", "tests.fix_docs"]

_SESSION_CACHE = tempfile.mkdtemp(prefix="aurora-ssl-test-cache-")
os.environ["AURORA_SSL_CACHE_DIR"] = _SESSION_CACHE
atexit.register(shutil.rmtree, _SESSION_CACHE, ignore_errors=True)
os.environ.pop("AURORA_SSL_BUNDLE", None)
