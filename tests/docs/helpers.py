"""What the documentation tests share: the site's build command, and the public names with their docstrings."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

#: The one command that builds the site (README, docs/getting-started.md), with the output folder last.
BUILD = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-b", "html", "docs"]


def sphinx_missing() -> str | None:
    """Why the site cannot be built here (a package of the ``docs`` extra missing), or None."""
    for module in ("sphinx", "furo", "myst_parser", "sphinx_gallery", "sphinx-mathjax-offline"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e \".[docs]\")"
    return None


def _generator():
    """docs/_ext/rrv_docs.py, the module that writes the API pages (it decides where each name is documented)."""
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import rrv_docs
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    return rrv_docs


def public_names() -> list[tuple[str, str]]:
    """(module, name) of every entry of every ``__all__`` of theory, verify, figures and their sub-modules."""
    return sorted((m.__name__, n) for m in _generator().public_modules() for n in (getattr(m, "__all__", None) or []))


@lru_cache(maxsize=None)
def attr_docs(module: str) -> dict[str, str]:
    """The documentation of a module's constants as autodoc reads it: the ``#:`` comment lines just above an
    assignment at module level (also inside ``try``/``if``), or a string just below it; name -> text."""
    path = importlib.util.find_spec(module).origin
    source = Path(path).read_text(encoding="utf-8")
    lines = source.splitlines()
    docs: dict[str, str] = {}

    def visit(body):
        for i, node in enumerate(body):
            if isinstance(node, (ast.Try, ast.If)):
                for block in (node.body, getattr(node, "orelse", []), getattr(node, "finalbody", []),
                              *[h.body for h in getattr(node, "handlers", [])]):
                    visit(block)
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
                if isinstance(node, ast.AnnAssign) else []
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if not names:
                continue
            above, j = [], node.lineno - 2
            while j >= 0 and lines[j].strip().startswith("#:"):
                above.insert(0, lines[j].strip()[2:].strip())
                j -= 1
            text = " ".join(above)
            nxt = body[i + 1] if i + 1 < len(body) else None
            if not text and isinstance(nxt, ast.Expr) and isinstance(getattr(nxt, "value", None), ast.Constant) \
                    and isinstance(nxt.value.value, str):
                text = nxt.value.value
            for n in names:
                if text.strip():
                    docs.setdefault(n, text.strip())

    visit(ast.parse(source).body)
    return docs


def docstring(module: str, name: str) -> str:
    """The docstring of ``module.name`` as the API pages show it: a module's, class's or function's own
    (not one inherited from a base class, nor the signature a dataclass writes for itself), and for a constant
    the ``#:`` comment or string beside its assignment in the module that defines it."""
    gen = _generator()
    mod = importlib.import_module(module)
    obj = getattr(mod, name)
    if inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isroutine(obj) or hasattr(obj, "__wrapped__"):
        doc = obj.__doc__ or ""
        if inspect.isclass(obj) and doc.startswith(f"{obj.__name__}("):  # a dataclass's own signature
            doc = ""
        return doc.strip()
    # a constant is documented where it is assigned: in this module or in any module holding the same object
    homes = [module] + [m.__name__ for m in gen.public_modules() if getattr(m, name, None) is obj and m.__name__ != module]
    for home in homes:
        doc = attr_docs(home).get(name, "")
        if doc:
            return doc
    return ""
