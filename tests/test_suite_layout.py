"""Habits that keep the suite easy to run in part:

- No test module imports from another ``test_*.py`` module: shared fixtures live in a ``conftest.py``, shared
  helpers in a helper module (``tests/theory/strategies.py``, ``tests/verify/helpers.py``, ...). Importing a
  test module runs its collection-time code twice and ties one file's tests to another's.
- No module-level ``pytest.importorskip`` (nor ``pytest.skip(..., allow_module_level=True)``) in the tests: it
  skips every test of the file when an optional package is missing, though only some need it. Such a test
  asks for the package itself (``pytest.importorskip`` in its body, or a fixture that calls it, such as
  ``tueplots`` in ``tests/figures/conftest.py``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
FILES = sorted(TESTS.rglob("*.py"))


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)


def imported_test_modules(tree: ast.AST, module: str) -> list[str]:
    """The modules named ``test_*`` that ``tree`` (the source of ``module``) imports, anywhere in it."""
    package = module.split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = (package[:len(package) - node.level + 1] if node.level else []) + \
                (node.module.split(".") if node.module else [])
            names = [".".join(base)] if node.module else [".".join(base + [a.name]) for a in node.names]
        else:
            continue
        found += [f"line {node.lineno}: {n}" for n in names if n.split(".")[-1].startswith("test_")]
    return found


def module_level_skips(tree: ast.AST) -> list[str]:
    """The calls of ``importorskip``, or of ``skip(..., allow_module_level=True)``, that run on import (outside
    every function)."""
    found, todo = [], list(ast.iter_child_nodes(tree))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        todo += ast.iter_child_nodes(node)
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            module_skip = name == "skip" and any(k.arg == "allow_module_level" for k in node.keywords)
            if name == "importorskip" or module_skip:
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(TESTS)))
def test_no_test_module_imports_another(path):
    bad = imported_test_modules(ast.parse(path.read_text(), str(path)), _module_name(path))
    assert not bad, (f"{path.relative_to(TESTS)} imports from a test module (move shared fixtures to a "
                     f"conftest.py, shared helpers to a helper module): {bad}")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(TESTS)))
def test_no_module_level_importorskip(path):
    bad = module_level_skips(ast.parse(path.read_text(), str(path)))
    assert not bad, (f"{path.relative_to(TESTS)} skips on import (every test of the file); skip only the "
                     f"tests that need the package (importorskip in the test, or a fixture): {bad}")


def test_the_checks_find_what_they_look_for():
    src = """
import pytest
import tests.verify.test_sweep_cli
from tests.figures.test_figures import write_synthetic
from .test_linearize import small_spec
from . import test_checkers
from .helpers import batch
from .strategies import REPORT
tueplots = pytest.importorskip("tueplots")
if True:
    pytest.skip("no dask", allow_module_level=True)

class TestX:
    scipy = pytest.importorskip("scipy")

def test_fine():
    from tests.verify.test_checkers import batch
    pytest.importorskip("mlxtend")
    pytest.skip("not here")
"""
    tree = ast.parse(src)
    imports = imported_test_modules(tree, "tests.verify.test_new")
    assert [i.split(": ")[1] for i in imports] == [
        "tests.verify.test_sweep_cli", "tests.figures.test_figures", "tests.verify.test_linearize",
        "tests.verify.test_checkers", "tests.verify.test_checkers"], imports
    skips = module_level_skips(tree)
    assert sorted(int(s.split(":")[0][5:]) for s in skips) == [9, 11, 14], skips
