"""Users' own backends over ours, as ``ENGINE`` targets for the tests (issue 10 and 8)."""
