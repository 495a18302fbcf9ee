"""The command line in-process for the tests: ``aurora-ssl ARGS`` through ``main``, and what it
printed (pytest's ``capsys``)."""

from __future__ import annotations

import pytest

from aurora_ssl.cli import main

Capture = pytest.CaptureFixture[str]


def run_cli(capsys: Capture, *argv: str) -> tuple[int, str, str]:
    """``aurora-ssl ARGV`` in-process: its exit status, and what it wrote to stdout and stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
