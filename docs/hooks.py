"""MkDocs hook: reference tables rendered from the code, so they cannot drift from it.

A page holds a marker such as ``<!-- aurora-ssl: check-ids -->``; the build replaces it with
the table built from the module that owns the facts (tests/docs/test_reference_tables.py checks the
same functions against the code's behaviour).
"""

from __future__ import annotations

from typing import Any


def check_ids_table() -> str:
    """The Django system checks, from :data:`django_aurora_ssl._checks.CHECKS`."""
    from django_aurora_ssl._checks import CHECKS

    rows = ["| id | when | hint |", "| --- | --- | --- |"]
    rows += [
        f"| `{key}` | {when} | {hint.format(alias='ALIAS')} |"
        for key, (when, hint) in CHECKS.items()
    ]
    return "\n".join(rows)


MARKERS = {
    "<!-- aurora-ssl: check-ids -->": check_ids_table,
}


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    for marker, render in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, render())
    return markdown
