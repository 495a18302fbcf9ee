"""What every ``aurora-ssl`` command shares: exit codes, the usage error, and output.

Results go to stdout (``--format json``: one JSON document), warnings to stderr, masked
(:func:`aurora_ssl._redaction.mask_text`) so that no password is ever printed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from aurora_ssl._redaction import mask_text

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Input that cannot work (a bad port, host name or URL key): exit status 2, one line."""


def emit_json(data: Mapping[str, Any], out: TextIO | None = None) -> None:
    print(json.dumps(data, indent=2), file=out or sys.stdout)


def warn(message: str) -> None:
    print(f"aurora-ssl: warning: {mask_text(message)}", file=sys.stderr)
