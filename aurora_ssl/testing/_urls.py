"""SQLAlchemy URL strings for the test server that every SQLAlchemy 2.x reads back exactly.

Why this needs care: SQLAlchemy 2.0 takes the database part of a URL verbatim, while 2.1
percent-decodes it. Percent-encoding it always (what ``url()`` once did) broke any database
name with a quote or a space on 2.0: ``db'name`` arrived as ``db%27name``. So the database
is written verbatim whenever both versions read it the same way (no ``%`` and no ``?``), and
encoded only where the installed SQLAlchemy decodes it.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping


def sqlalchemy_url(
    drivername: str,
    *,
    user: str,
    password: str,
    host: str,
    port: int,
    database: str,
    query: Mapping[str, str],
) -> str:
    """Render a URL whose parts SQLAlchemy gives back unchanged.

    User and password are percent-encoded (every SQLAlchemy decodes them), query values too
    (``parse_qsl`` decodes them); ``/`` stays readable in paths such as a bundle file.

    Raises:
        ValueError: the database name contains ``?``, which SQLAlchemy 2.0 cannot read from
            a URL (it starts the query string); pass the name in ``connect_args`` instead.
    """
    quote = urllib.parse.quote
    pairs = "&".join(f"{quote(k, safe='')}={quote(v, safe='/')}" for k, v in query.items())
    return (
        f"{drivername}://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}"
        f"/{_database_part(database)}{'?' + pairs if pairs else ''}"
    )


def _database_part(database: str) -> str:
    if "%" not in database and "?" not in database:
        return database  # read verbatim by 2.0, and unquoting changes nothing in 2.1
    if _sqlalchemy_decodes_database():
        return urllib.parse.quote(database, safe=" +/")  # what SQLAlchemy 2.1 renders
    if "?" in database:
        raise ValueError(
            f"the database name {database!r} contains '?', which the installed SQLAlchemy "
            "cannot read from a URL; choose another name for the test database"
        )
    return database


def _sqlalchemy_decodes_database() -> bool:
    """Whether the installed SQLAlchemy percent-decodes the database (2.1+); asked, not guessed
    from a version number. Without SQLAlchemy, the newer behaviour is the safe default."""
    try:
        from sqlalchemy.engine import make_url
    except ImportError:
        return True
    return make_url("postgresql://h/%41").database == "A"
