"""Every Python example in the docs runs, against the local Aurora-like TLS server.

Sybil collects the ```python blocks of each page in order, as one namespace per page. The
``docs_env`` fixture (tests/fix_docs.py) starts the server and sets ``DATABASE_URL`` and
``AURORA_SSL_BUNDLE`` the way a deployment would, so the examples read as a user writes them.
"""

from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser

pytest_collect_file = Sybil(
    parsers=[PythonCodeBlockParser(), SkipParser()],
    patterns=["*.md"],
    fixtures=["docs_env"],
).pytest()
