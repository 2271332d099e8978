"""``python -m verify notes``: rewrite the generated parts of ``paper_notes.md``.

``paper_notes.md`` is prose written by hand, with blocks that are derived from the code and from a
results file, each between a pair of markers::

    <!-- generated: measured:input-gradient -->
    ...
    <!-- end: measured:input-gradient -->

Everything outside the markers is left exactly as it is. The blocks are

- ``proof:ID``: the prover of the claim, its method, scope and verdict (from :func:`theory.prove.prove_all`);
- ``tests:ID``: the tests marked ``@pytest.mark.claim(ID)`` (read from the ``tests/`` folder);
- ``run``, ``summary`` and ``measured:ID``: what a sweep measured, from its results file (per dtype and
  device: networks, points, informative points, the largest gap/bound, kinks, exclusions, crossings, the
  verdict, the vacuous sub-checks, and the crossing fractions against h);
- ``dynamics:ID``: the training lab's verdict of an empirical claim, from lab results files
  (``python -m verify notes --dynamics FILE ...``, one file per data set).

The first two kinds depend only on the code, so a test can require them to be current (``--check``); the
others depend on a sweep, which the notes record with its settings, torch version and processor.

>>> text = "intro\\n<!-- generated: x -->\\nold\\n<!-- end: x -->\\nprose\\n"
>>> print(replace_blocks(text, {"x": "new"}), end="")
intro
<!-- generated: x -->
new
<!-- end: x -->
prose
"""

from __future__ import annotations

import importlib
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Iterable

from verify.errors import VerifyError

__all__ = ["BLOCK", "NotesError", "blocks", "replace_blocks", "marked_claims", "claim_tests", "static_blocks",
           "measured_blocks", "dynamics_blocks", "merge_dynamics_blocks", "update_notes", "SWEEP_RESULTS"]

#: One generated block: its name and body.
BLOCK = re.compile(r"<!-- generated: (?P<name>[\w:.-]+) -->\n(?P<body>.*?)<!-- end: (?P=name) -->", re.S)

#: Where ``python -m verify`` writes a sweep by default (its command's default ``--out``).
SWEEP_RESULTS = "results/verify.jsonl"


class NotesError(VerifyError, ValueError):
    """The notes file lacks a block the generator writes, or has one it does not know."""


def blocks(text: str) -> dict[str, str]:
    """The generated blocks of a notes text: name -> body (without the markers)."""
    return {m["name"]: m["body"] for m in BLOCK.finditer(text)}


def replace_blocks(text: str, new: dict[str, str]) -> str:
    """``text`` with the body of each block named in ``new`` replaced; every name must have its markers."""
    missing = sorted(set(new) - set(blocks(text)))
    if missing:
        raise NotesError(f"the notes have no markers for the generated block(s) {', '.join(missing)}; add "
                         f"'<!-- generated: NAME -->' and '<!-- end: NAME -->' lines where each belongs")
    body = lambda s: s if s.endswith("\n") else s + "\n"
    return BLOCK.sub(lambda m: (f"<!-- generated: {m['name']} -->\n{body(new[m['name']])}<!-- end: {m['name']} -->"
                                if m["name"] in new else m[0]), text)


# ---- tests marked with a claim ---------------------------------------------------------------------------

def marked_claims(obj) -> list[str]:
    """The ids of the ``claim`` markers on a test function and on its ``pytest.param`` values."""
    ids = []
    for mark in getattr(obj, "pytestmark", []):
        if mark.name == "claim":
            ids += mark.args
        elif mark.name == "parametrize":
            for value in mark.args[1]:
                ids += [cid for m in getattr(value, "marks", ()) if m.name == "claim" for cid in m.args]
    return ids


def claim_tests(root: str | Path, skip: Iterable[str | Path] = ()) -> dict[str, list[str]]:
    """claim id -> the tests marked with it (``tests/verify/test_x.py::test_y``), for every ``test_*.py``
    below ``root/tests`` (imported as ``tests.…``, so ``root`` must be the repository's top folder)."""
    root = Path(root).resolve()
    tests = root / "tests"
    if not (tests / "__init__.py").is_file():
        raise NotesError(f"{tests} is not the test package of this repository; run from the repository's top folder")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    skip = {Path(p).resolve() for p in skip}
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(tests.rglob("test_*.py")):
        if path.resolve() in skip:
            continue
        rel = path.relative_to(root)
        module = importlib.import_module(".".join(rel.with_suffix("").parts))
        for name, obj in vars(module).items():
            if name.startswith("test_") and callable(obj):
                for cid in dict.fromkeys(marked_claims(obj)):
                    found[cid].append(f"{rel.as_posix()}::{name}")
    return {cid: sorted(v) for cid, v in found.items()}


# ---- blocks that depend only on the code ------------------------------------------------------------------

def _proof_line(p) -> str:
    from theory.prove import PROVERS

    status = {True: "holds", False: "FAILS", None: "not a theorem (empirical)"}[p.holds]
    fn = PROVERS[p.claim]
    return f"**Proof.** `{fn.__module__}.{fn.__name__}` — {p.method}; scope: {p.scope}. Status: {status}."


def _proof_cell(p) -> str:
    if p.holds is None:
        return "not a theorem"
    if p.holds is False:
        return "**FAILS**"
    return "proved" + (" + exact instances" if p.slack else "")


def static_blocks(proofs: Iterable, tests: dict[str, list[str]]) -> dict[str, str]:
    """The ``proof:ID``, ``tests:ID`` and ``claims`` blocks, from the proofs and the marked tests."""
    from theory.claims import CLAIMS

    proofs = {p.claim: p for p in proofs}
    out = {}
    rows = ["| claim | tag | kind | proof |", "|---|---|---|---|"]
    for cid, c in CLAIMS.items():
        p = proofs.get(cid)
        rows.append(f"| [{cid}](#{cid}) | {c.tag} | {c.kind} | {_proof_cell(p) if p else 'no proof'} |")
        if p is not None:
            out[f"proof:{cid}"] = _proof_line(p)
        names = tests.get(cid, [])
        out[f"tests:{cid}"] = (f"**Tests.** `python -m pytest --claim {cid}` runs the tests marked with this claim: "
                               + ", ".join(f"`{t}`" for t in names) + "." if names else
                               "**Tests.** No test is marked with this claim.")
    out["claims"] = "\n".join(rows)
    return out


# ---- blocks that depend on a sweep ------------------------------------------------------------------------

def _g(v: float) -> str:
    return f"{v:.2g}"


def _groups(records: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """(dtype, device) -> records, float64 first, CPU first."""
    out: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for rec in records:
        out[(rec["run"]["dtype"], rec["run"]["device"])].append(rec)
    order = lambda k: (k[1] != "cpu", k[1], k[0] != "float64", k[0])
    return {k: out[k] for k in sorted(out, key=order)}


def _run_line(records: list[dict], path: str) -> str:
    from verify.jobs.sweep import QUICK

    runs = [r["run"] for r in records]
    sweep = runs[0].get("sweep") or {}
    size = sweep.get("size", "?")
    how = ("`python -m verify`" if sweep.get("size") == "quick" and sweep.get("networks") == QUICK["networks"]
           and sweep.get("points") == QUICK["points"] and sweep.get("seed") == 0 and not sweep.get("claims")
           else "`python -m verify " + " ".join(
               [f"--networks {sweep.get('networks')}", f"--points {sweep.get('points')}", f"--seed {sweep.get('seed')}"]
               + (["--full"] if size == "full" else []) + (["--claims " + " ".join(sweep["claims"])] if sweep.get("claims") else [])) + "`")
    devices = sorted({(r["device"], r.get("device_name", "?"), r.get("cpu_capability") if r["device"] == "cpu" else None)
                      for r in runs})
    where = "; ".join(f"{d} ({name}" + (f", {cap}" if cap else "") + ")" for d, name, cap in devices)
    days = sorted({r.get("time", "")[:10] for r in runs if r.get("time")})
    torch_v = ", ".join(sorted({r.get("torch", "?") for r in runs}))
    return (f"Measured with {how} ({size} sweep: {sweep.get('networks')} networks, {sweep.get('points')} points "
            f"each, seed {sweep.get('seed')}; results file `{path}`), torch {torch_v}, on {where}"
            + (f", {days[0]}" if len(days) == 1 else f", {days[0]} to {days[-1]}" if days else "") + ". "
            "Counts and ratios can differ slightly on another processor or BLAS: its rounding decides which "
            "points lie within rounding of a kink or of a region boundary. The verdicts should not.")


def measured_blocks(records: list[dict], path: str = SWEEP_RESULTS) -> dict[str, str]:
    """The ``run``, ``summary`` and ``measured:ID`` blocks from a sweep's records."""
    from theory.claims import CLAIMS
    from verify.checkers import CHECKERS
    from verify.results.summary import crossing_summary, summarize

    if not records:
        raise NotesError(f"{path} holds no records")
    models = sum(1 for r in records if not r["run"].get("sweep"))
    if models:
        raise NotesError(f"{path} holds {models} record(s) of a check of one model (python -m verify --model), not "
                         f"a sweep of random networks; paper_notes.md records a sweep: run python -m verify "
                         f"(results in {SWEEP_RESULTS}) and pass that file")
    groups = _groups(records)
    per = {key: {r.claim: r for r in summarize(recs)} for key, recs in groups.items()}
    cuda = any(dev != "cpu" for _, dev in groups)
    head = ["claim"] + [f"{dt} ({dev.upper() if dev == 'cpu' else dev}): max gap/bound" for dt, dev in groups]
    rows = ["| " + " | ".join(head) + (" |" if cuda else " | GPU |"), "|" + "---|" * (len(head) + (not cuda))]
    out = {}
    for cid in CLAIMS:
        cells, lines = [], []
        for (dt, dev), table in per.items():
            r = table.get(cid)
            if r is None:
                cells.append("not measured")
                continue
            cells.append(f"{_g(r.max_gap_over_bound)}, {r.status.lower()}" if r.checked else r.status.lower())
            lines.append(f"| {dt} | {dev} | {r.networks} | {r.points} | {r.checked} | {r.informative} | "
                         f"{_g(r.max_gap_over_bound) if r.checked else '-'} | {r.kinks} | {r.excluded} | "
                         f"{r.crossings} | {r.status.lower()} |")
        rows.append(f"| [{cid}](#{cid}) | " + " | ".join(cells) + (" |" if cuda else " | not run |"))
        if not lines:
            if cid in CHECKERS:
                out[f"measured:{cid}"] = "Not measured in this sweep (its `--claims` left this claim out)."
            continue
        body = ["| dtype | device | networks | points | checked | informative | max gap/bound | kinks | excluded | "
                "crossings | status |", "|---|---|---|---|---|---|---|---|---|---|---|"] + lines
        vac = [f"{check} ({dt}" + "".join(f", {k} = {v:.3g}" for k, v in (("h", h), ("c", c)) if v is not None) + ")"
               for (dt, _), table in per.items() if cid in table for check, _, h, c in table[cid].vacuous]
        if vac:
            body += ["", "Vacuous sub-checks (no informative point in the sweep): " + "; ".join(sorted(vac)) + "."]
        na = sum(1 for rec in records for g in rec["gaps"] if g.claim == cid and "n/a" in g.extra)
        if na:
            body += ["", f"Sub-checks marked n/a (not applicable to that network, no verdict): {na} record(s)."]
        if cid == "curvature-region-crossing":
            body += ["", "Measured against h (from the same sweep):", "", "```", crossing_summary(records), "```"]
        out[f"measured:{cid}"] = "\n".join(body)
    out["summary"] = "\n".join(rows)
    out["run"] = _run_line(records, path)
    return out


def dynamics_blocks(paths) -> dict[str, str]:
    """The ``dynamics:ID`` blocks of the three empirical claims from lab results files (one per data set):
    the run, the final accuracies and the claim's report, as ``python -m verify dynamics report`` prints it.
    A round-2 file's part is labelled with the round and the network ("digits, round 2, cnn16x32"), so that it
    stands beside the round-1 part of its data set (and an MLP's beside a CNN's) instead of replacing it."""
    from verify.dynamics.lab import read_dynamics
    from verify.dynamics.report import EMPIRICAL_CLAIMS, accuracy_lines, format_report, judge_all

    parts: dict[str, list[str]] = {c: [] for c in EMPIRICAL_CLAIMS}
    for path in paths:
        records = read_dynamics(path)
        table, verdicts = judge_all(records)
        cfg, st = table["config"], table["settings"]
        runs = records[0]["run"]
        days = sorted({r["run"].get("time", "")[:10] for r in records if r["run"].get("time")})
        label = cfg["data"] + (f", round 2, {st.arch}" if cfg.get("round", 1) == 2 else "")   # its own part
        head = (f"**{label}**, from `{path}`: {cfg['seeds']} seeds, {st.arch}, {st.epochs} epochs, {cfg['dtype']} "
                f"on {runs.get('device', '?')} ({runs.get('device_name', '?')}), torch {runs.get('torch', '?')}"
                + (f", {days[-1]}" if days else "") + f"; eps grid {', '.join(f'{e:.4g}' for e in st.eps_grid)}, "
                f"lambda {st.lam}, T = {st.T:g}, CURE h = {st.cure_h:g}"
                + (f"; adversarial training's eps grows over the first {st.warmup_epochs()} epochs" if st.eps_warmup else "")
                + ".")
        for v in verdicts:
            parts[v.claim] += [head, "", f"Verdict: **{v.verdict}**.", "", "```",
                               *accuracy_lines(table), "", format_report(table, [v]), "```", ""]
    return {f"dynamics:{c}": "\n".join(body).rstrip() if body else "Not measured: no lab results file was given."
            for c, body in parts.items()}


#: The head line of one data set's part of a ``dynamics:ID`` block (:func:`dynamics_blocks` writes it).
_DATA_PART = re.compile(r"^\*\*(?P<data>[^*\n]+)\*\*, from `", re.M)


def _data_parts(body: str) -> list[tuple[str, str]]:
    """The (data set, text) parts of a ``dynamics:ID`` block body, in order (none for a placeholder)."""
    heads = list(_DATA_PART.finditer(body))
    ends = [m.start() for m in heads[1:]] + [len(body)]
    return [(m["data"], body[m.start():end].rstrip()) for m, end in zip(heads, ends)]


def merge_dynamics_blocks(old: dict[str, str], fresh: dict[str, str]) -> dict[str, str]:
    """Each ``dynamics:ID`` block with the parts of the data sets measured in ``fresh`` replaced (or added at
    the end) and the parts of the other data sets kept as they were in ``old``: a lab results file updates its
    own data set's part, so a long run on one data set need not be repeated to refresh another's."""
    out = {}
    for name, body in fresh.items():
        new_parts = dict(_data_parts(body))
        parts = [new_parts.pop(d, text) for d, text in _data_parts(old.get(name, ""))] + list(new_parts.values())
        out[name] = "\n\n".join(parts) if parts else body       # no part anywhere: the placeholder
    return out


def update_notes(notes: str | Path, *, results: str | Path | None = None, root: str | Path | None = None,
                 check: bool = False, proofs=None, dynamics=()) -> list[str]:
    """Regenerate the blocks of ``notes``: the code-derived ones always, the measured ones when a
    ``results`` file is given. ``root`` is the repository's top folder (default: the current folder), whose
    ``tests/`` are read for claim markers; ``proofs`` defaults to :func:`theory.prove.prove_all` (about 10 s).
    Returns the names of the blocks whose text changed; with ``check`` the file is not written."""
    notes = Path(notes)
    if not notes.is_file():
        raise NotesError(f"no such notes file: {notes}")
    root = Path(root) if root is not None else Path.cwd()
    if proofs is None:
        from theory.prove import prove_all

        proofs = prove_all()
    new = static_blocks(proofs, claim_tests(root))
    if results is not None:
        from verify.results.records import read_results

        new.update(measured_blocks(read_results(results), str(results)))
    text = notes.read_text(encoding="utf-8")
    old = blocks(text)
    if dynamics:
        new.update(merge_dynamics_blocks(old, dynamics_blocks(dynamics)))
    unknown = sorted(n for n in old if n not in new and not n.startswith(("run", "summary", "measured:", "dynamics:")))
    if unknown:
        raise NotesError(f"{notes} has generated block(s) that nothing writes: {', '.join(unknown)}")
    changed = [n for n in new if old.get(n, None) != (new[n] if new[n].endswith("\n") else new[n] + "\n")]
    updated = replace_blocks(text, new)
    if not check and updated != text:
        notes.write_text(updated, encoding="utf-8")
    return changed
