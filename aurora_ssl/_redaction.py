"""The one way aurora-ssl masks secrets and shortens overlong values before showing them.

Why one module: messages, logs and reports are built from many inputs (keyword parameters,
libpq conninfo strings, URIs, SQLAlchemy URLs, driver messages), and every ad-hoc masker
missed a form the others caught (``?password=`` in a URL query, ``sslpassword``, a token).
Everything that shows user input goes through here. It imports only the standard library,
so the connect path can use it.

Masking errs on the side of hiding: anything that might be a secret is replaced by
:data:`MASK`; a value longer than :data:`LONG` characters is cut to its first :data:`KEEP`
characters plus ``"... (N characters)"`` so that a 100 kB host name never lands in a log line.
None of these functions raises on malformed input: they are used while reporting errors.
"""

from __future__ import annotations

import re

# typing and urllib.parse are not imported at run time: warn_insecure uses this module on
# the connect path, where each would cost a fresh process milliseconds (issue 12).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


#: What a secret value is replaced with.
MASK = "********"
#: Values longer than this are shortened (longer than any DNS name, 253, or usual path).
LONG = 256
#: How many leading characters of a shortened value are kept.
KEEP = 100
#: The keys whose values are shown: libpq's keywords known not to be secret, and the keys of
#: drivers and SQLAlchemy a URL query may carry that are none. Every other value is masked,
#: so a secret keyword a newer libpq adds (libpq 18's ``scram_client_key``) is never printed.
SHOWN_KEYS = frozenset(
    {
        "host",
        "hostaddr",
        "port",
        "dbname",
        "user",
        "service",
        "application_name",
        "fallback_application_name",
        "client_encoding",
        "options",
        "connect_timeout",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
        "sslmode",
        "sslnegotiation",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "sslcrl",
        "sslcrldir",
        "sslsni",
        "sslcompression",
        "sslcertmode",
        "channel_binding",
        "ssl_min_protocol_version",
        "ssl_max_protocol_version",
        "min_protocol_version",
        "max_protocol_version",
        "gssencmode",
        "gsslib",
        "gssdelegation",
        "krbsrvname",
        "require_auth",
        "requirepeer",
        "target_session_attrs",
        "load_balance_hosts",
        "database",
        "plugin",
        "timeout",
        "ssl",
        "direct_tls",
        "prepare_threshold",
    }
)
# key=value as in a conninfo string: the value is a quoted string (to the end if the quote is
# never closed), or a run of non-space characters with backslash escapes.
_VALUE = r"""'(?:[^'\\]|\\.)*(?:'|$)|"(?:[^"\\]|\\.)*(?:"|$)|(?:\\.|[^\s\\])+\\?"""
# A value masked already (in a URL query): keep what follows it.
_MASKED = r"\*{8}(?=&|\s|$)"
_PAIR = re.compile(
    rf"(?<![A-Za-z0-9_.-])(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)(?P<eq>\s*=\s*)(?P<value>{_VALUE})?"
)
# A secret key followed by "=" or ":" (conninfo, URL query, Python repr, JSON), wherever it
# stands: "user=bob,password=x" must not hide the password inside another value.
_SECRET_PAIR = re.compile(
    r"(?i)(?<![A-Za-z0-9_.-])(?P<key>['\"]?[A-Za-z0-9_.-]*"
    r"(?:password|passwd|passfile|token|secret|scram|keylog)[A-Za-z0-9_.-]*['\"]?)"
    rf"(?P<eq>\s*[=:]\s*)(?P<value>{_MASKED}|{_VALUE})"
)
# The look-behinds keep these linear: a match may only start where a word starts.
_URL = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://\S*")
_WORD = re.compile(rf"\S{{{LONG + 1},}}")
_TRAILING = "\"'`<>),.;]}"


def is_secret_key(key: object) -> bool:
    """Whether the value of a parameter named ``key`` is masked (case-insensitive).

    Everything but an allowlist (:data:`SHOWN_KEYS`) is, so a secret keyword a newer libpq
    adds (libpq 18's ``scram_client_key``) is masked before anyone lists it.
    """
    return str(key).strip().strip("'\"").lower() not in SHOWN_KEYS


def shorten(value: str, *, long: int = LONG, keep: int = KEEP) -> str:
    """``value`` itself, or its first ``keep`` characters plus ``"... (N characters)"``."""
    if len(value) <= long:
        return value
    return f"{value[:keep]}... ({len(value)} characters)"


def mask_conninfo(text: str) -> str:
    """A libpq connection string (``key=value ...`` or a URI) with its secrets masked.

    Malformed strings (an unterminated quote, junk) are masked too: the secret keys are
    found wherever they stand, before any value is shortened.
    """
    stripped = text.strip()
    if _URL.fullmatch(stripped):
        return mask_url(stripped)
    masked = _mask_secret_pairs(_URL.sub(lambda m: mask_url(m[0]), text))

    def shown(match: re.Match[str]) -> str:
        value = match["value"] or ""
        secret = is_secret_key(match["key"]) and value not in ("", "''", MASK)
        return f"{match['key']}{match['eq']}{MASK if secret else shorten(value)}"

    shortened = _PAIR.sub(shown, masked)
    return _WORD.sub(lambda m: shorten(m[0]), shortened)


def mask_url(text: str) -> str:
    """A URL (libpq URI or SQLAlchemy URL, any ``scheme+driver://``) with secrets masked.

    Masks the password of the userinfo and the value of every secret query key
    (``?password=``, ``&sslpassword=``, ``?aws_token=``); long parts are shortened.
    """
    from urllib.parse import unquote  # not at import: the connect path masks no URL

    scheme, sep, rest = text.partition("://")
    if not sep:
        return mask_text(text)
    kept = rest.rstrip(_TRAILING)  # what closes the sentence around the URL stays shown
    rest, after = kept, rest[len(kept) :]
    at = rest.find("@")
    userinfo = ""
    if at >= 0:
        user, colon, _ = rest[:at].partition(":")
        if "/" not in user and "?" not in user:
            userinfo = f"{shorten(user)}{colon}{MASK if colon else ''}@"
            rest = rest[at + 1 :]
    location, question, query = rest.partition("?")
    query, hash_, fragment = query.partition("#")
    if not question:
        location, hash_, fragment = rest.partition("#")
    shown = f"{scheme}://{userinfo}{shorten(location)}"
    if question:
        shown += "?" + "&".join(
            f"{key}={MASK}" if equals and is_secret_key(unquote(key)) else key + equals + shorten(v)
            for key, equals, v in (item.partition("=") for item in query.split("&"))
        )
    if hash_:
        shown += "#" + shorten(fragment)
    return shown + after


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Free text (a driver's message, a log line) with anything secret-shaped masked.

    Masks, in order: each string in ``secrets`` (raw and URL-encoded), the secrets of every
    URL in the text (:func:`mask_url`), the values of secret keys written ``key=value``,
    ``key: value``, ``'key': 'value'`` or ``"key": "value"`` (see :func:`is_secret_key`);
    then shortens every run of more than :data:`LONG` non-space characters.

    Args:
        text: the text to show.
        secrets: values known to be secret (passwords, tokens); empty ones are ignored.
    """
    for secret in secrets:
        if secret:
            from urllib.parse import quote, quote_plus

            for form in sorted({secret, quote(secret, safe=""), quote_plus(secret)}, key=len)[::-1]:
                text = text.replace(form, MASK)
    text = _mask_secret_pairs(_URL.sub(lambda m: mask_url(m[0]), text))
    return _WORD.sub(lambda m: shorten(m[0]), text)


def _mask_secret_pairs(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        value = match["value"]
        quote_char = value[0] if value[:1] in ("'", '"') else ""
        return f"{match['key']}{match['eq']}{quote_char}{MASK}{quote_char}"

    return _SECRET_PAIR.sub(replace, text)
