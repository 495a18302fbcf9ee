"""MkDocs hook: reference tables rendered from the code, so they cannot drift from it.

A page holds a marker such as ``<!-- aurora-ssl: check-ids -->``; the build replaces it with
the table built from the module that owns the facts (tests/test_reference_docs.py checks the
same functions against the code's behaviour).
"""

from __future__ import annotations

from typing import Any


def check_ids_table() -> str:
    """The Django system checks, from :data:`django_aurora_ssl._check_ids.CHECKS`."""
    from django_aurora_ssl._check_ids import CHECKS

    rows = ["| id | when | what to do |", "| --- | --- | --- |"]
    rows += [f"| `{key}` | {when} | {fix} |" for key, (when, fix) in CHECKS.items()]
    return "\n".join(rows)


def report_keys_table() -> str:
    """The JSON report's keys, from :data:`aurora_ssl._diagnostics.REPORT_FIELDS`."""
    from aurora_ssl._diagnostics import REPORT_FIELDS

    rows = ["| key | type | meaning |", "| --- | --- | --- |"]
    rows += [f"| `{key}` | {kind} | {meaning} |" for key, (kind, meaning) in REPORT_FIELDS.items()]
    return "\n".join(rows)


MARKERS = {
    "<!-- aurora-ssl: check-ids -->": check_ids_table,
    "<!-- aurora-ssl: report-keys -->": report_keys_table,
}


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    for marker, render in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, render())
    return markdown
