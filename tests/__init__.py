"""aurora-ssl's test suite (see tests/README.md for its layout)."""

from pathlib import Path

#: The repository's root: scripts, docs and the example project are found from here.
ROOT = Path(__file__).resolve().parent.parent
