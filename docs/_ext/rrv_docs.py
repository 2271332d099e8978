"""Pages generated from the code at build time: the claims, the regularizer map, the CLI and the API.

Nothing here is copied by hand: each page is written from the claim registry (:mod:`theory.claims`), the
specification (``SPEC.md``), the generated blocks of ``paper_notes.md`` (:func:`verify.jobs.notes.blocks`),
the figure registry (:mod:`figures.registry`), the argparse parsers of the commands and each module's
``__all__``. The pages are written into ``docs/generated/`` (git-ignored) when the build starts.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import io
import pkgutil
import re
import shutil
import textwrap
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
OUT = DOCS / "generated"
PACKAGES = ("theory", "verify", "figures")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:  # unchanged files keep Sphinx's cache
        path.write_text(text, encoding="utf-8")


def _indent(text: str, n: int = 3) -> str:
    return textwrap.indent(text, " " * n, lambda line: True)


# ------------------------------------------------------------------------------------------------- claims

def spec_sections() -> dict[str, str]:
    """Each claim's bullet block of ``SPEC.md`` (its mathematics and assumptions), by claim id."""
    text = (ROOT / "SPEC.md").read_text(encoding="utf-8")
    out, current, lines = {}, None, []
    for line in text.splitlines():
        m = re.match(r"- \*\*`([\w-]+)`\*\* (.*)$", line)
        if m or line.startswith("#") or (current and line and not line.startswith(" ") and not m):
            if current:
                out[current] = "\n".join(lines).rstrip()
            current, lines = (m[1], []) if m else (None, [])
            continue
        if current:
            lines.append(line[2:] if line.startswith("  ") else line)
    if current:
        out[current] = "\n".join(lines).rstrip()
    return out


def figure_for(name: str) -> Path | None:
    """The PNG of figure ``name``: built by ``python -m figures`` (figures/out/) or committed in docs/."""
    for path in (ROOT / "figures" / "out" / f"{name}.png", DOCS / f"{name}.png"):
        if path.is_file():
            return path
    return None


def claim_pages() -> list[str]:
    import regmap

    from figures.registry import FIGURES
    from theory.claims import CLAIMS
    from verify.jobs.notes import blocks

    spec = spec_sections()
    notes = blocks((ROOT / "paper_notes.md").read_text(encoding="utf-8"))
    missing = [cid for cid in CLAIMS if cid not in spec]
    if missing:
        raise RuntimeError(f"SPEC.md has no section for the claim(s) {', '.join(missing)}")
    concerns = regmap.concerns()
    (OUT / "claims" / "_fig").mkdir(parents=True, exist_ok=True)
    for cid, c in CLAIMS.items():
        regs = ", ".join(f"{r}" for r in concerns.get(cid, ())) or "none directly (the setting of all of them)"
        edges = [e for e in regmap.EDGES if e[0] == cid]
        parts = [f"({cid})=\n", f"# {cid}\n\n",
                 "| field | value |\n|---|---|\n",
                 f"| provenance tag | `[{c.tag}]` |\n| kind | {c.kind} |\n| source | {c.source} |\n",
                 f"| regularizers | {regs} |\n\n",
                 f"**Statement (the registry, `theory.claims.CLAIMS`).** {c.statement}\n\n",
                 f"**Assumptions.** {c.assumptions or 'none stated beyond the setting'}\n\n",
                 "## Mathematics (SPEC.md)\n\n", spec[cid].strip() + "\n\n"]
        if edges:
            parts.append("## Edges of the regularizer map\n\n")
            parts += [f"- {a} — {b}: {label}\n" for _, a, b, label in edges]
            parts.append("\nSee {doc}`the map </concepts>`.\n\n")
        parts.append("## Proof and tests (generated blocks of paper_notes.md)\n\n")
        for kind in ("proof", "tests"):
            body = notes.get(f"{kind}:{cid}")
            parts.append((body.strip() if body else f"*paper_notes.md has no `{kind}:{cid}` block.*") + "\n\n")
        parts.append("## Measured (generated block of paper_notes.md)\n\n")
        body = notes.get(f"measured:{cid}") or notes.get(f"dynamics:{cid}")
        parts.append((body.strip() if body else "*paper_notes.md has no measured block for this claim.*") + "\n\n")
        figs = [f for f in FIGURES.values() if cid in f.claims]
        parts.append("## Figures\n\n")
        if not figs:
            parts.append("No figure of `python -m figures` names this claim.\n\n")
        for f in figs:
            png = figure_for(f.name)
            parts.append(f"**`{f.name}`**: {f.summary}\n\n")
            if png is None:
                parts.append(f"*Not built when these pages were: `python -m figures --only {f.name}` draws it into "
                             f"`figures/out/` (reading the {f.reads} results), and the next build shows it.*\n\n")
            else:
                shutil.copyfile(png, OUT / "claims" / "_fig" / png.name)
                parts.append(f"```{{image}} _fig/{png.name}\n:alt: figure {f.name}\n:width: 90%\n```\n\n")
        _write(OUT / "claims" / f"{cid}.md", "".join(parts))
    rows = "".join(f"| {{doc}}`{cid} </generated/claims/{cid}>` | `[{c.tag}]` | {c.kind} | {', '.join(concerns.get(cid, ())) or '—'} |\n"
                   for cid, c in CLAIMS.items())
    run = notes.get("run", "").strip()
    _write(OUT / "claims" / "table.md", (f"The measured tables on these pages: {run}\n\n" if run else "")
           + "| claim | tag | kind | regularizers |\n|---|---|---|---|\n" + rows)
    return list(CLAIMS)


# -------------------------------------------------------------------------------------------------- CLI

def _help(parser: argparse.ArgumentParser) -> str:
    old = argparse.HelpFormatter.__init__

    def wide(self, prog, indent_increment=2, max_help_position=24, width=None, **kw):  # a fixed width: stable
        old(self, prog, indent_increment, max_help_position, 100, **kw)

    argparse.HelpFormatter.__init__ = wide
    try:
        return parser.format_help()
    finally:
        argparse.HelpFormatter.__init__ = old


def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def _help_of_main(main, argv) -> str:
    """The --help of a command whose parser is built inside its ``main``: what ``main([... '--help'])`` prints."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.suppress(SystemExit):
        main(argv)
    return buf.getvalue()


def cli_page() -> None:
    import figures.cli
    import theory.cli
    import verify.bench.linearize
    import verify.bench.radius
    import verify.bench.training
    import verify.cli

    sections = []

    def add(title, text, level="-"):
        sections.append(f"{title}\n{level * len(title)}\n\n.. code-block:: text\n\n{_indent(text.rstrip())}\n\n")

    def tree(title, parser, level="-"):
        add(title, _help(parser), level)
        for name, sub in _subparsers(parser):
            tree(f"{title} {name}", sub, "~")

    tree("python -m theory", theory.cli.build_parser())
    add("python -m verify", _help(verify.cli.build_parser()))
    for name in verify.cli.COMMANDS:
        tree(f"python -m verify {name}", verify.cli.command_parser(name), "~")
    tree("python -m figures", figures.cli.build_parser())
    add("python -m verify.bench", _help_of_main(verify.bench.linearize.main, ["--help"]))
    add("python -m verify.bench --training", _help_of_main(verify.bench.training.main, ["--help"]))
    add("python -m verify.bench.radius", _help_of_main(verify.bench.radius.main, ["--help"]))
    _write(OUT / "cli.rst", "".join(sections))


# -------------------------------------------------------------------------------------------------- API

def public_modules() -> list:
    """Every module of the three packages (not ``__main__``), packages first, in name order."""
    mods = []
    for top in PACKAGES:
        pkg = importlib.import_module(top)
        names = [top] + sorted(n.name for n in pkgutil.walk_packages(pkg.__path__, top + "."))
        mods += [importlib.import_module(n) for n in names if not n.endswith("__main__")
                 and not any(part.startswith("_") for part in n.split("."))]
    return mods


def _kind(obj) -> str:
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj) or callable(obj) and hasattr(obj, "__wrapped__"):
        return "function"
    if inspect.ismodule(obj):
        return "module"
    return "data"


def canonical(mods) -> dict[tuple[str, str], str]:
    """(module, name) of every ``__all__`` entry -> the module that documents it: the module that defines a
    class or function when it lists it, else the deepest module under the listing one that lists the same
    object."""
    listed = {m.__name__: m for m in mods if getattr(m, "__all__", None) is not None}
    out = {}
    for mname, mod in listed.items():
        for name in mod.__all__:
            obj = getattr(mod, name)
            home = getattr(obj, "__module__", None) if _kind(obj) in ("class", "exception", "function") else None
            if home in listed and name in listed[home].__all__ and getattr(listed[home], name, None) is obj:
                out[mname, name] = home
                continue
            same = [d for d in listed if (d == mname or d.startswith(mname + ".")) and name in listed[d].__all__
                    and getattr(listed[d], name, None) is obj]
            out[mname, name] = max(same, key=lambda d: d.count("."))
    return out


_ROLE = re.compile(r":[\w:.-]+:`~?([^`<]*?)(?: <[^>]*>)?`")


def _role(obj) -> str:
    return {"class": "class", "exception": "exc", "function": "func", "module": "mod"}.get(_kind(obj), "data")


def _summary(obj) -> str:
    """The first sentence of a docstring, its roles as literals: a summary shown away from its module, where
    its relative references would not resolve."""
    doc = inspect.getdoc(obj) if _kind(obj) != "data" or inspect.ismodule(obj) else ""
    first = (doc or "").split("\n\n")[0].replace("\n", " ")
    pieces = re.split(r"(``.+?``)", first)  # the first sentence ends at a '. ' outside literals
    for i in range(0, len(pieces), 2):
        cut = re.search(r"(?<=\.)\s", pieces[i])
        if cut:
            pieces = pieces[:i] + [pieces[i][:cut.start()]]
            break
    first = "".join(pieces)
    first = _ROLE.sub(lambda m: f"``{m[1]}``", first)
    return _escape(first) if "``" not in first else "".join(
        part if i % 2 else _escape(part) for i, part in enumerate(re.split(r"(``.+?``)", first)))


def _table(rows) -> str:
    body = "".join(f"   * - {ref}\n     - {_summary(obj) or ' '}\n" for ref, obj in rows)
    return f".. list-table::\n   :widths: 35 65\n\n{body}\n"


def _first_line(mod) -> str:
    doc = inspect.getdoc(mod) or ""
    return doc.split("\n\n")[0].replace("\n", " ")


def api_pages() -> list[str]:
    mods = public_modules()
    home = canonical(mods)
    pages = []
    for mod in mods:
        mname = mod.__name__
        names = list(getattr(mod, "__all__", None) or [])
        subs = sorted(m.__name__ for m in mods if m.__name__.rsplit(".", 1)[0] == mname and m.__name__ != mname)
        own = [n for n in names if home[mname, n] == mname and _kind(getattr(mod, n)) != "module"]
        elsewhere = [n for n in names if home[mname, n] != mname]
        lines = [f"{mname}\n{'=' * len(mname)}\n\n", f".. automodule:: {mname}\n   :no-members:\n\n",
                 f".. currentmodule:: {mname}\n\n"]
        if subs:
            lines.append("Modules\n-------\n\n" + _table([(f":mod:`~{s}`", importlib.import_module(s)) for s in subs]))
        if elsewhere:
            lines.append("Re-exported here\n----------------\n\n"
                         f"These names of ``{mname}.__all__`` are documented where they are defined.\n\n"
                         + _table([(f":{_role(getattr(mod, n))}:`~{home[mname, n]}.{n}`", getattr(mod, n))
                                   for n in elsewhere]))
        if own:
            lines.append("Summary\n-------\n\n" + _table([(f":{_role(getattr(mod, n))}:`~{mname}.{n}`", getattr(mod, n))
                                                for n in own]))
            lines.append("Reference\n---------\n\n")
            for n in own:
                kind = _kind(getattr(mod, n))
                directive = {"class": "autoclass", "exception": "autoexception", "function": "autofunction",
                             "data": "autodata"}[kind]
                opts = "   :members:\n   :undoc-members:\n   :show-inheritance:\n" if kind in ("class", "exception") else ""
                if kind == "data":
                    opts = "   :no-value:\n"
                lines.append(f".. {directive}:: {mname}.{n}\n{opts}\n")
        _write(OUT / "api" / f"{mname}.rst", "".join(lines))
        pages.append(mname)
    _write(OUT / "api" / "index.rst", "".join(
        f".. currentmodule:: {m}\n\n:mod:`{m}`: {_first_line(importlib.import_module(m))}\n\n"
        for m in pages if m.count(".") <= 1) + ".. currentmodule:: None\n\n")
    toc = ".. toctree::\n   :hidden:\n   :maxdepth: 1\n\n" + "".join(f"   /generated/api/{m}\n" for m in pages)
    _write(OUT / "api" / "toc.rst", toc)
    return pages


# ------------------------------------------------------------------------------------------ docstrings

# The docstrings are written to read as plain text too: |x| is a norm, a*b a product. Outside inline
# literals, roles, links and *emphasis*, those characters are escaped so that reST shows them as written.
_KEEP = re.compile(r"(``.+?``|:[\w:.-]+:`[^`]*`|`[^`]+`_{0,2}|(?<![\w*\\])\*\*?[^\s*|][^*|]*?(?<!\s)\*\*?(?![\w*]))")
_SPECIAL = re.compile(r"(?<!\\)([|*])")


def _escape(line: str) -> str:
    line = re.sub(r"^(\s*)\((\w)\) ", r"\1\\(\2) ", line)  # "(a) ..." at a line's start is prose, not a list
    parts = _KEEP.split(line)
    return "".join(part if i % 2 else _SPECIAL.sub(r"\\\1", part) for i, part in enumerate(parts))


def plain_docstring(app, what, name, obj, options, lines) -> None:
    """Escape ``|`` and stray ``*`` in prose lines, leaving doctest blocks and literal blocks as they are; drop
    the docstring a module-level constant inherits from its type (``dict``'s, for a registry)."""
    inherited = getattr(type(obj), "__doc__", None)
    inherited = inherited if isinstance(inherited, str) else ""      # a slot's descriptor is not a docstring
    if what in ("data", "attribute") and lines and "\n".join(lines).strip() == inherited.strip():
        lines[:] = []
        return
    literal_indent = None
    in_doctest = False
    hanging = None  # the indent of an "(a) ..." line, whose indented continuation lines join it
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if not stripped:
            in_doctest = False
            continue
        if literal_indent is not None:
            if indent > literal_indent:
                continue
            literal_indent = None
        if stripped.startswith(">>>") or in_doctest:
            in_doctest = True
            continue
        if hanging is not None and indent > hanging:
            line = " " * hanging + stripped
        else:
            hanging = indent if re.match(r"\(\w\) ", stripped) else None
        lines[i] = _escape(line)
        if stripped.endswith("::") and not stripped.startswith(".."):
            literal_indent = indent
        elif stripped.startswith(".. ") and "::" in stripped:
            literal_indent = indent


# --------------------------------------------------------------------------------------- cross-references

_ALIASES: dict[str, str] = {}
_DOCUMENTED: set[str] = set()


def _aliases() -> dict[str, str]:
    """``package.name`` -> the canonical ``module.name`` of every re-exported public name, and
    ``module.name`` -> canonical for every name a module imports and lists (so ``verify.linearize`` and, inside
    ``verify.checkers.common``, ``Gap`` resolve to where they are documented)."""
    if not _ALIASES:
        mods = public_modules()
        _DOCUMENTED.update(m.__name__ for m in mods)
        _DOCUMENTED.update(f"{home}.{name}" for (_, name), home in canonical(mods).items())
        for (mname, name), home in canonical(mods).items():
            if home != mname:
                _ALIASES[f"{mname}.{name}"] = f"{home}.{name}"
        for mod in mods:
            for name, obj in vars(mod).items():
                home = getattr(obj, "__module__", None)
                if (inspect.isclass(obj) or inspect.isfunction(obj)) and home and home != mod.__name__ \
                        and home.split(".")[0] in PACKAGES:
                    target = _ALIASES.get(f"{home}.{name}", f"{home}.{getattr(obj, '__qualname__', name)}")
                    _ALIASES.setdefault(f"{mod.__name__}.{name}", target)
    return _ALIASES


def _rewrite_aliases(app, doctree, docname) -> None:
    from sphinx.addnodes import pending_xref

    aliases = _aliases()
    for node in doctree.findall(pending_xref):
        if node.get("refdomain") != "py":
            continue
        target = node.get("reftarget", "")
        mod = node.get("py:module")
        for cand in ([f"{mod}.{target}"] if mod else []) + [target]:
            parts = cand.split(".")
            hit = next((cut for cut in range(len(parts), 0, -1) if ".".join(parts[:cut]) in aliases
                        or ".".join(parts[:cut]) in _DOCUMENTED), None)
            if hit and ".".join(parts[:hit]) in _DOCUMENTED:  # a real name: Sphinx resolves it
                break
            if hit:
                node["reftarget"] = ".".join([aliases[".".join(parts[:hit])]] + parts[hit:])
                node["refspecific"] = False
                break


def _unique_suffix(env, target: str, reftype: str):
    """The one project object whose full name ends with ``.target`` (a relative name in a summary line)."""
    domain = env.get_domain("py")
    ends = "." + target
    hits = sorted({name for name, entry in domain.objects.items()
                   if name.endswith(ends) and name.split(".")[0] in PACKAGES and not entry.aliased})
    return hits[0] if len(hits) == 1 else None


def resolve_alias(app, env, node, contnode):
    """Resolve a reference to a project name by the path it is imported under (``verify.linearize``, or a
    bare ``Gap`` inside a module that imports it) to the page where that name is documented. Only names of
    the project: anything else stays unresolved, and the nitpicky build says so."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    aliases = _aliases()
    candidates = [target]
    for ctx in (node.get("py:class"), node.get("py:module")):
        if ctx:
            candidates.insert(0, f"{ctx}.{target}")
            if node.get("py:module") and ctx == node.get("py:class"):
                candidates.insert(0, f"{node['py:module']}.{ctx}.{target}")
    unique = _unique_suffix(env, target, node["reftype"])
    if unique:
        candidates.append(unique)
        aliases = dict(aliases, **{unique: unique})
    for cand in candidates:
        parts = cand.split(".")
        for cut in range(len(parts), 0, -1):  # the longest aliased prefix: Network.values -> module.Network.values
            prefix = ".".join(parts[:cut])
            if prefix in aliases:
                real = ".".join([aliases[prefix]] + parts[cut:])
                domain = env.get_domain("py")
                newnode = node.deepcopy()
                newnode["reftarget"] = real
                newnode["refspecific"] = False
                found = domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], real, newnode,
                                            contnode)
                if found is None and node["reftype"] in ("func", "class", "meth", "data", "obj", "exc", "attr"):
                    found = domain.resolve_any_xref(env, node["refdoc"], app.builder, real, newnode, contnode)
                    found = found[0][1] if found else None
                if found is not None:
                    return found
    return None


# ------------------------------------------------------------------------------------------------ setup

def generate(app=None) -> None:
    OUT.mkdir(exist_ok=True)
    claim_pages()
    import regmap
    regmap.write(OUT)
    cli_page()
    api_pages()


def setup(app):
    app.connect("builder-inited", generate)
    app.connect("autodoc-process-docstring", plain_docstring)
    app.connect("missing-reference", resolve_alias)
    app.connect("doctree-read", lambda app, doctree: _rewrite_aliases(app, doctree, app.env.docname))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
