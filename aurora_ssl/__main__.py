"""``python -m aurora_ssl``: the ``aurora-ssl`` command line (see :mod:`aurora_ssl.cli`)."""

from __future__ import annotations

from aurora_ssl.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
