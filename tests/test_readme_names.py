"""Every name the README and the documentation's pages (docs/**/*.md, written by hand) import, or call as
``verify.X`` / ``theory.X`` / ``figures.X``, exists where they say."""

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_GENERATED = ("_build", "generated", "auto_tutorials")
PAGES = [ROOT / "README.md"] + sorted(p for p in (ROOT / "docs").rglob("*.md")
                                      if not set(p.relative_to(ROOT / "docs").parts) & set(_GENERATED))
README = "\n".join(p.read_text(encoding="utf-8") for p in PAGES)
CODE = "\n".join(re.findall(r"```python\n(.*?)```", README, re.S))
IMPORTS = sorted(set(re.findall(r"^\s*from ((?:theory|verify|figures)[\w.]*) import ([\w, ]+)", CODE, re.M)))
DOTTED = sorted(set(re.findall(r"`((?:theory|verify|figures)(?:\.\w+)+)", README)))


def _resolve(dotted: str):
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


def test_the_readme_has_python_to_check():
    assert len(PAGES) >= 10, "the documentation's pages are missing"
    assert len(IMPORTS) >= 3 and len(DOTTED) >= 10


@pytest.mark.parametrize("module, names", IMPORTS)
def test_every_import_of_the_readme_works(module, names):
    mod = importlib.import_module(module)
    for name in (n.strip() for n in names.split(",")):
        assert hasattr(mod, name) or importlib.util.find_spec(f"{module}.{name}"), f"from {module} import {name}"


@pytest.mark.parametrize("dotted", DOTTED)
def test_every_dotted_name_of_the_readme_exists(dotted):
    _resolve(dotted)
