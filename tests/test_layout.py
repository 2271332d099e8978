"""The house rules of the package layout (tests/layout.py measures them; ``python tests/layout.py`` prints them)."""

import textwrap
from pathlib import Path

import pytest

from tests.layout import MAX_LINES, MAX_TOP_MODULES, measure, report

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def layout():
    return measure(ROOT)


def test_no_import_cycles(layout):
    assert layout.cycles() == [], report(layout)


def test_no_private_name_is_imported_from_another_module(layout):
    assert layout.private == [], report(layout)


def test_no_module_is_over_the_line_limit(layout):
    assert layout.too_long() == [], report(layout)


def test_verify_keeps_its_modules_in_sub_packages(layout):
    assert len(layout.top_modules()) <= MAX_TOP_MODULES, report(layout)


def _tree(tmp_path, files: dict) -> Path:
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    for pkg in ("theory", "figures"):
        (tmp_path / pkg).mkdir(exist_ok=True)
    return tmp_path


def test_the_measure_sees_a_cycle_through_an_import_inside_a_function(tmp_path):
    root = _tree(tmp_path, {"verify/__init__.py": "", "verify/a.py": "from verify.b import f\n",
                            "verify/b.py": "def f():\n    from verify.a import g\n"})
    assert measure(root).cycles() == [["verify.a", "verify.b"]]


def test_the_measure_sees_a_private_import_a_long_module_and_the_top_modules(tmp_path):
    files = {"verify/__init__.py": "", "verify/sub/__init__.py": "", "verify/sub/x.py": "_h = 1\n",
             "verify/y.py": "from verify.sub.x import _h\n" + "\n" * MAX_LINES}
    files.update({f"verify/m{i}.py": "" for i in range(MAX_TOP_MODULES)})
    lay = measure(_tree(tmp_path, files))
    assert lay.private == [("verify.y", "verify.sub.x", "_h")]
    assert lay.too_long() == [("verify.y", MAX_LINES + 1)]
    assert len(lay.top_modules()) == MAX_TOP_MODULES + 1 and "verify.sub.x" not in lay.top_modules()


def test_relative_imports_resolve_like_absolute_ones(tmp_path):
    root = _tree(tmp_path, {"verify/__init__.py": "", "verify/p/__init__.py": "from .q import _z\n",
                            "verify/p/q.py": "from .. import r\n", "verify/r.py": "from .p import q\n"})
    lay = measure(root)
    assert lay.private == [("verify.p", "verify.p.q", "_z")]
    assert lay.edges["verify.p.q"] == {"verify.r"} and lay.edges["verify.r"] == {"verify.p.q"}
    assert lay.cycles() == [["verify.p.q", "verify.r"]]
