"""MkDocs hook: the hints of the Django system checks come from the code, so they cannot drift.

docs/reference/checks.md holds a marker, ``<!-- aurora-ssl: check-hints -->``, above its
table of check ids and when each fires; the build removes the marker and ends each row with
the hint the check's messages carry (:data:`django_aurora_ssl._checks.CHECKS`).
tests/docs/test_reference_tables.py holds the table's ids equal to the code's.
"""

from __future__ import annotations

import re
from typing import Any

MARKER = "<!-- aurora-ssl: check-hints -->\n"
ROW = re.compile(r"^\| `(aurora_ssl\.[EW]\d{3})` \|.*\|$", re.MULTILINE)


def with_hints(markdown: str) -> str:
    """The page, each row of the checks table ending with its hint."""
    from django_aurora_ssl._checks import CHECKS

    def add_hint(row: re.Match[str]) -> str:
        return f"{row[0]} {CHECKS[row[1]].format(alias='ALIAS')} |"

    return ROW.sub(add_hint, markdown.replace(MARKER, ""))


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return with_hints(markdown) if MARKER in markdown else markdown
