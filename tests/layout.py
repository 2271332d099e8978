"""The package layout, measured: import cycles, imports of a private name from another module, module sizes.

Run it from the repository's top folder (``python tests/layout.py``); ``tests/test_layout.py`` asserts the
house rules on the same numbers:

- **0 import cycles** among the modules of theory/, verify/ and figures/, imports inside functions included
  (every ``import`` statement anywhere in a module is an edge);
- **0 imports of a private name** (``_name``) from another module;
- **no module over 400 lines**;
- **at most 8 modules directly in verify/** (the rest live in its sub-packages).

A package's ``__init__`` is a module like any other: ``from verify.results import gap`` is an edge to
``verify.results.gap``; ``from verify import linearize`` (a name, not a module) is an edge to ``verify``.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ("theory", "verify", "figures")
MAX_LINES = 400
MAX_TOP_MODULES = 8


@dataclass
class Layout:
    """The modules of the packages, the import edges between them and the private imports."""

    modules: dict = field(default_factory=dict)          # dotted name -> (path, is a package __init__)
    edges: dict = field(default_factory=dict)            # dotted name -> set of dotted names it imports
    private: list = field(default_factory=list)          # (importer, module, name)

    def cycles(self) -> list[list[str]]:
        """The strongly connected components with more than one module (Tarjan), each sorted."""
        index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

        def visit(v):
            index[v] = low[v] = counter[0]
            counter[0] += 1
            stack.append(v)
            on.add(v)
            for w in sorted(self.edges.get(v, ())):
                if w not in index:
                    visit(w)
                    low[v] = min(low[v], low[w])
                elif w in on:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in self.edges.get(v, ()):
                    out.append(sorted(comp))

        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 10 * len(self.modules) + 100))
        try:
            for v in sorted(self.modules):
                if v not in index:
                    visit(v)
        finally:
            sys.setrecursionlimit(limit)
        return sorted(out)

    def sizes(self) -> dict[str, int]:
        """Lines per module."""
        return {m: len(p.read_text(encoding="utf-8").splitlines()) for m, (p, _) in self.modules.items()}

    def too_long(self, limit: int = MAX_LINES) -> list[tuple[str, int]]:
        """The modules over ``limit`` lines, longest first."""
        return sorted(((m, n) for m, n in self.sizes().items() if n > limit), key=lambda t: -t[1])

    def top_modules(self, package: str = "verify") -> list[str]:
        """The plain modules (not sub-packages) directly in ``package``, its ``__init__`` not counted."""
        return sorted(m for m, (_, pkg) in self.modules.items() if not pkg and m.rpartition(".")[0] == package)


def _owner(modules: dict, name: str) -> str | None:
    """The longest prefix of ``name`` that is one of ``modules``."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _absolute(module: str, is_pkg: bool, node: ast.ImportFrom) -> str | None:
    if node.level == 0:
        return node.module
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def measure(root: str | Path = ".") -> Layout:
    """Read every module of :data:`PACKAGES` under ``root``."""
    root = Path(root)
    lay = Layout()
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            lay.modules[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    for mod, (path, is_pkg) in lay.modules.items():
        edges = lay.edges.setdefault(mod, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = _owner(lay.modules, alias.name)
                    if target and target != mod:
                        edges.add(target)
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(mod, is_pkg, node)
                if base is None:
                    continue
                for alias in node.names:
                    if f"{base}.{alias.name}" in lay.modules:          # a sub-module
                        if f"{base}.{alias.name}" != mod:
                            edges.add(f"{base}.{alias.name}")
                        continue
                    target = _owner(lay.modules, base)
                    if target is None or target == mod:
                        continue
                    edges.add(target)
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        lay.private.append((mod, target, alias.name))
    return lay


def report(lay: Layout) -> str:
    """The four numbers, with what makes each non-zero."""
    cycles, long, top = lay.cycles(), lay.too_long(), lay.top_modules()
    lines = [f"modules: {len(lay.modules)} in {', '.join(PACKAGES)}",
             f"import cycles: {len(cycles)}"] + [f"  {' <-> '.join(c)}" for c in cycles]
    lines += [f"imports of a private name from another module: {len(lay.private)}"]
    lines += [f"  {imp} imports {name} from {mod}" for imp, mod, name in lay.private]
    lines += [f"modules over {MAX_LINES} lines: {len(long)}"] + [f"  {m}: {n}" for m, n in long]
    lines += [f"modules directly in verify/: {len(top)} (at most {MAX_TOP_MODULES}): {', '.join(top)}"]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(measure(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1])))
