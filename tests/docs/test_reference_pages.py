"""The pages people look things up in stay complete: the API reference and troubleshooting.

* docs/reference/api.md documents every public name (each public module's ``__all__``) and
  nothing else: every ``:::`` directive renders a public name, a private path only under a
  heading that says which public name it is.
* docs/guides/troubleshooting.md has an entry for every headline aurora-ssl prints: each error
  class, each Django check id, each report, inspection and audit verdict, each warning code.
  A new one without an entry fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aurora_ssl import errors
from aurora_ssl._diagnostics import _report
from aurora_ssl._diagnostics._audit import Audit, Instance, Session
from aurora_ssl._diagnostics._inspection import Verdict, WarningCode
from django_aurora_ssl._checks import CHECKS
from tests.docs.test_pages import ROOT, public_names

API = ROOT / "docs" / "reference" / "api.md"
TROUBLESHOOTING = ROOT / "docs" / "guides" / "troubleshooting.md"
#: ``::: path`` and its indented options block.
DIRECTIVE = re.compile(r"^::: (?P<path>\S+)\n(?P<options>(?:[ \t]+\S.*\n?)*)", re.MULTILINE)


def _public_paths() -> set[str]:
    return {f"{module}.{name}" for module, names in public_names().items() for name in names}


def _documented(page: Path) -> list[str]:
    """The public name each ``:::`` directive of ``page`` renders (its heading, if it has one)."""
    names = []
    for match in DIRECTIVE.finditer(page.read_text(encoding="utf-8")):
        heading = re.search(r"^\s+heading:\s*(\S+)\s*$", match["options"], re.MULTILINE)
        names.append(heading[1] if heading else match["path"])
    return names


def test_every_public_name_is_in_the_api_reference() -> None:
    text = API.read_text(encoding="utf-8")
    missing = sorted(
        path for path in _public_paths() if not re.search(rf"{re.escape(path)}(?![\w.])", text)
    )
    assert not missing, f"docs/reference/api.md lacks these public names: {missing}"


def test_the_api_reference_documents_only_public_names() -> None:
    public = _public_paths()
    text = API.read_text(encoding="utf-8")
    for match in DIRECTIVE.finditer(text):
        path, options = match["path"], match["options"]
        heading = re.search(r"^\s+heading:\s*(\S+)\s*$", options, re.MULTILINE)
        shown = heading[1] if heading else path
        assert shown in public, f"api.md documents {shown}, which no public __all__ exports"
        private = [part for part in path.split(".") if part.startswith("_")]
        if private:  # rendered from where it lives, under its public name
            assert heading, f"{path} is private: give it a heading with its public name"
            assert path.rsplit(".", 1)[1] == shown.rsplit(".", 1)[1], (path, shown)
        members = re.findall(r"^\s+- (\S+)", options, re.MULTILINE)
        assert not [m for m in members if m.startswith("_")], f"private members of {path}"
    documented = _documented(API)
    assert len(documented) == len(set(documented)), "a name is documented twice"


def test_the_reference_checks_catch_a_private_directive(tmp_path: Path) -> None:
    page = tmp_path / "api.md"
    page.write_text("::: aurora_ssl._policy.Policy\n\n::: aurora_ssl.connection_params\n")
    assert _documented(page) == ["aurora_ssl._policy.Policy", "aurora_ssl.connection_params"]
    assert "aurora_ssl._policy.Policy" not in _public_paths()
    page.write_text("::: a._b.c\n    options:\n      heading: a.c\n")
    assert _documented(page) == ["a.c"]


# -- troubleshooting ---------------------------------------------------------------------------


def _headings(page: Path) -> set[str]:
    """The text of each heading, backticks removed."""
    text = page.read_text(encoding="utf-8")
    return {h.replace("`", "").strip() for h in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}


def _report_headline(verdict: Verdict) -> str:
    """``VERDICT - what``, as a report's headline begins (after its label)."""
    return f"{verdict.value.upper()} - {_report._HEADLINES[verdict]}"


def _audit_headline(plaintext: int, hidden: int) -> str:
    """The first line of ``aurora-ssl audit``, up to its counts, the count spelled ``N``."""
    instance = Instance("h", None, None, "auditor", True, {})

    def session(ssl: bool | None) -> Session:
        kind = None if ssl is None else "client backend"
        return Session("h", 1, "u", "d", "a", "10.0.0.1", kind, ssl, None, None, None, False)

    sessions = [session(True)] + [session(False)] * plaintext + [session(None)] * hidden
    line = Audit([instance], sessions, []).to_text().splitlines()[0].split(" (", 1)[0]
    return re.sub(r"\b[1-9]\b", "N", line)


@pytest.mark.parametrize(
    "name",
    [
        n
        for n, c in vars(errors).items()
        if isinstance(c, type) and issubclass(c, errors.AuroraSSLError)
    ],
)
def test_troubleshooting_explains_every_error_class(name: str) -> None:
    assert name in _headings(TROUBLESHOOTING), f"troubleshooting.md has no '### `{name}`'"


@pytest.mark.parametrize("check_id", list(CHECKS))
def test_troubleshooting_explains_every_django_check(check_id: str) -> None:
    text = TROUBLESHOOTING.read_text(encoding="utf-8")
    assert f"- `{check_id}`:" in text, f"troubleshooting.md has no entry for {check_id}"


@pytest.mark.parametrize("verdict", list(_report._HEADLINES), ids=lambda v: v.value)
def test_troubleshooting_explains_every_report_headline(verdict: Verdict) -> None:
    headline = _report_headline(verdict)
    assert headline in _headings(TROUBLESHOOTING), f"no heading '{headline}'"


@pytest.mark.parametrize(
    "verdict",
    [Verdict.VERIFIED, Verdict.EXPIRED, Verdict.UNTRUSTED, Verdict.HOSTNAME_MISMATCH],
    ids=lambda v: v.value,
)
def test_troubleshooting_explains_every_inspection_verdict(verdict: Verdict) -> None:
    assert verdict.value.upper() in _headings(TROUBLESHOOTING)


@pytest.mark.parametrize(("plaintext", "hidden"), [(0, 0), (1, 0), (0, 1)])
def test_troubleshooting_explains_every_audit_headline(plaintext: int, hidden: int) -> None:
    headline = _audit_headline(plaintext, hidden)
    assert headline in _headings(TROUBLESHOOTING), f"no heading '{headline}'"


#: Warning codes of inspections that are not WarningCode members (literal in _inspection).
INSPECTION_WARNINGS = ("expires-soon", "bundle-outdated", "profile")


@pytest.mark.parametrize("code", [*(c.value for c in WarningCode), *INSPECTION_WARNINGS])
def test_troubleshooting_explains_every_warning_code(code: str) -> None:
    assert code in _headings(TROUBLESHOOTING), f"troubleshooting.md has no '### `{code}`'"


def test_the_inspection_warning_codes_listed_here_are_the_codes_it_emits() -> None:
    source = (ROOT / "aurora_ssl" / "_diagnostics" / "_inspection.py").read_text()
    emitted = set(re.findall(r'Finding\(\s*"([a-z0-9-]+)"', source))
    assert emitted == set(INSPECTION_WARNINGS)


def test_every_report_verdict_has_a_headline() -> None:
    """Reports use every verdict but the inspection's own: a new one gets a headline (and
    then an entry above)."""
    inspection_only = {Verdict.EXPIRED, Verdict.UNTRUSTED, Verdict.HOSTNAME_MISMATCH}
    assert set(_report._HEADLINES) == set(Verdict) - inspection_only
