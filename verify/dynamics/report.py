"""The lab's verdicts from its results: one block per claim, and a verdicts file for the figures and notes."""

from __future__ import annotations

import json
import math
from pathlib import Path

from . import liu2022margin, wen2020robustness
from .lab import CLAIM_ROLES, run_table
from .verdicts import format_effect

__all__ = ["JUDGES", "EMPIRICAL_CLAIMS", "judge_all", "format_report", "write_verdicts", "verdicts_path",
           "accuracy_lines"]

JUDGES = {liu2022margin.CLAIM: liu2022margin.judge,
          wen2020robustness.LAYER_SMOOTHING: wen2020robustness.judge_layer_smoothing,
          wen2020robustness.CONFIDENCE: wen2020robustness.judge_confidence}
EMPIRICAL_CLAIMS = tuple(JUDGES)


def judge_all(records: list[dict], claims=None) -> tuple[dict, list]:
    """(table, [ClaimVerdict]) for the claims of the records' lab run (or ``claims``)."""
    table = run_table(records)
    claims = claims or table["config"]["claims"]
    out = []
    for cid in claims:
        if all(r in table["runs"] for r in CLAIM_ROLES[cid]):
            out.append(JUDGES[cid](table))
    return table, out


def _runs(table, claim) -> int:
    return sum(len(table["runs"].get(r, {})) for r in CLAIM_ROLES[claim])


def accuracy_lines(table) -> list[str]:
    """Final clean and robust accuracy per role (median over seeds): whether the runs trained."""
    s = table["settings"]
    E = s.epochs
    lines = [f"final epoch {E}, medians over seeds: clean accuracy, robust accuracy at eps = "
             + ", ".join(f"{e:.4g}" for e in s.eps_grid) + " (PGD-"
             + f"{s.eval_steps}, {s.eval_restarts} restart{'s' if s.eval_restarts > 1 else ''})"]
    for role, seeds in table["runs"].items():
        rows = [r[E] for r in seeds.values() if r and r[E] is not None]
        if not rows:
            continue
        med = lambda xs: sorted(xs)[len(xs) // 2] if len(xs) % 2 else sum(sorted(xs)[len(xs) // 2 - 1:len(xs) // 2 + 1]) / 2
        rob = [med([r["robust_accuracy"][repr(float(e))] for r in rows]) for e in s.eps_grid]
        lines.append(f"  {role:<14} {med([r['clean_accuracy'] for r in rows]):6.3f}   "
                     + "  ".join(f"{v:5.3f}" for v in rob) + f"   ({len(rows)} seeds)")
    return lines


def format_report(table, verdicts) -> str:
    """The console report: per claim a header (claim, data set, runs, verdict) and one line per comparison."""
    out = []
    for v in verdicts:
        out.append(f"{v.claim}  [{v.data}, {_runs(table, v.claim)} runs]  {v.verdict}")
        if v.claim == wen2020robustness.LAYER_SMOOTHING:
            for stat, g in v.groups["statistics"].items():
                layers = ", ".join(f"{k}: {d['verdict'].lower()} ({d['n_for']}/{d['n_against']}, "
                                   f"{_eff(d)})" for k, d in g["layers"].items())
                out.append(f"    {stat:<17} {g['verdict']:<13} {layers}")
            for stat, per in v.groups["spearman"].items():
                out.append(f"    Spearman rho of {stat} with eps: "
                           + ", ".join(f"{k} {r:+.2f}" if not math.isnan(r) else f"{k} n/a" for k, r in per.items()))
            for role, sv in v.sub_verdicts.items():
                out.append(f"    sub-verdict {role} < ce (outside the claim): {sv['verdict']}  ("
                           + ", ".join(f"{k} {g['verdict'].lower()}" for k, g in sv["statistics"].items()) + ")")
        else:
            for c in v.comparisons:
                out.append(f"    {c.name:<52} effect B/A {format_effect(c):<22} for/against {c.n_for}/{c.n_against}"
                           + (f" (+{c.n_missing} missing)" if c.n_missing else "") + f"  p={c.p_for:.3g}  {c.verdict}")
        for note in v.notes:
            out.append(f"    note: {note}")
    if table["diverged"]:
        out.append("diverged runs (their seeds are missing from the comparisons): "
                   + "; ".join(f"{k}: {m}" for k, m in table["diverged"].items()))
    return "\n".join(out)


def _eff(d) -> str:
    if d["effect"] is None:
        return "effect n/a"
    lo, hi = d["interval"]
    return f"B/A {d['effect']:.3g} [{lo:.3g}, {hi:.3g}]"


def verdicts_path(results: str | Path) -> Path:
    results = Path(results)
    return results.with_name(results.stem + ".verdicts.json")


def write_verdicts(results: str | Path, table, verdicts) -> Path:
    """Write the verdicts beside the results (``<stem>.verdicts.json``), for the figures and the notes."""
    path = verdicts_path(results)
    body = {"results": str(results), "settings": table["settings"].to_dict(), "config": table["config"],
            "verdicts": [v.to_dict() for v in verdicts], "diverged": table["diverged"]}
    path.write_text(json.dumps(body, indent=1, allow_nan=True), encoding="utf-8")
    return path
