"""Every public name (every entry of every ``__all__`` of theory, verify, figures and their sub-modules) has a
docstring (a constant: its ``#:`` comment): the API pages show it.
"""

from __future__ import annotations

import pytest

from tests.docs.helpers import docstring, public_names

NAMES = public_names()


def test_there_are_public_names():
    assert len(NAMES) > 500 and ("theory", "linearize") in NAMES and ("verify", "check_model") in NAMES


@pytest.mark.parametrize("module, name", NAMES, ids=[f"{m}.{n}" for m, n in NAMES])
def test_every_public_name_has_a_docstring(module, name):
    assert docstring(module, name), f"{module}.{name} is public (in {module}.__all__) but has no docstring"


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
