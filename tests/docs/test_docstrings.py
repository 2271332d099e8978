"""Every public name (every entry of every ``__all__`` of theory, verify, figures and their sub-modules) has a
docstring: the API pages show it.

The names in ``NOT_YET`` had none when this test was written; it fails for any other name without one, and
for a name of ``NOT_YET`` that has one now (take it off the list), so the list only shrinks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.helpers import docstring, public_names

NOT_YET = frozenset((Path(__file__).parent / "undocumented.txt").read_text(encoding="utf-8").split())
NAMES = public_names()


def test_there_are_public_names():
    assert len(NAMES) > 500 and ("theory", "linearize") in NAMES and ("verify", "check_model") in NAMES


@pytest.mark.parametrize("module, name", NAMES, ids=[f"{m}.{n}" for m, n in NAMES])
def test_every_public_name_has_a_docstring(module, name):
    dotted = f"{module}.{name}"
    has = bool(docstring(module, name))
    if dotted in NOT_YET:
        assert not has, f"{dotted} has a docstring now: take it off tests/docs/undocumented.txt"
    else:
        assert has, f"{dotted} is public (in {module}.__all__) but has no docstring"


def test_the_list_of_names_without_a_docstring_names_only_public_names():
    stale = NOT_YET - {f"{m}.{n}" for m, n in NAMES}
    assert not stale, f"tests/docs/undocumented.txt names what is no longer public: {sorted(stale)}"


def test_the_check_tells_a_docstring_from_none(tmp_path, monkeypatch):
    (tmp_path / "docmod_probe.py").write_text(
        "from dataclasses import dataclass\n\n"
        "#: A documented constant.\nDOCUMENTED = 1\nBARE = 2\n\n"
        "def documented():\n    \"\"\"Says what it does.\"\"\"\n\n"
        "def bare():\n    pass\n\n"
        "@dataclass\nclass BareRecord:\n    x: int\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = {n: bool(docstring("docmod_probe", n)) for n in ("DOCUMENTED", "BARE", "documented", "bare", "BareRecord")}
    assert found == {"DOCUMENTED": True, "BARE": False, "documented": True, "bare": False, "BareRecord": False}
