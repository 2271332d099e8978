"""The lab's verdicts from its results: one block per claim, and a verdicts file for the figures and notes."""

from __future__ import annotations

import json
import math
from pathlib import Path

from verify.dynamics import liu2022margin, wen2020robustness
from verify.dynamics.lab import claim_roles, run_table
from verify.dynamics.verdicts import Comparison, format_effect

__all__ = ["JUDGES", "EMPIRICAL_CLAIMS", "judge_all", "format_report", "write_verdicts", "verdicts_path",
           "accuracy_lines", "untrained_lines", "radius_lines", "autoattack_lines", "JUDGES2", "final_measure"]

#: The round-1 judge of each empirical claim (claim id -> judge(table) -> ClaimVerdict).
JUDGES = {liu2022margin.CLAIM: liu2022margin.judge,
          wen2020robustness.LAYER_SMOOTHING: wen2020robustness.judge_layer_smoothing,
          wen2020robustness.CONFIDENCE: wen2020robustness.judge_confidence}
#: The empirical claims, in the order a report lists them.
EMPIRICAL_CLAIMS = tuple(JUDGES)
#: Round 2's judges (SPEC.md, "Round 2"): the margin claim's (1)-(12), the others as in round 1 (their
#: round-2 sub-verdicts appear where the runs have the round-2 defenses).
JUDGES2 = {**JUDGES, liu2022margin.CLAIM: liu2022margin.judge_round2}


def judge_all(records: list[dict], claims=None) -> tuple[dict, list]:
    """(table, [ClaimVerdict]) for the claims of the records' lab run (or ``claims``)."""
    table = run_table(records)
    claims = claims or table["config"]["claims"]
    judges = JUDGES2 if table["config"].get("round", 1) == 2 else JUDGES
    roles = claim_roles(table["config"])
    out = []
    for cid in claims:
        if all(r in table["runs"] for r in roles[cid]):
            out.append(judges[cid](table))
    return table, out


def _runs(table, claim) -> int:
    return sum(len(table["runs"].get(r, {})) for r in claim_roles(table["config"])[claim])


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
    return lines + untrained_lines(table) + radius_lines(table) + autoattack_lines(table)


def final_measure(table, key: str) -> dict:
    """Per role, the ``key`` entry of each seed's record at the final epoch, for the roles whose runs have one
    (a role none of whose seeds measured it is left out)."""
    E = table["settings"].epochs
    got = {role: [r[E][key] for r in seeds.values() if r and r[E] is not None and key in r[E]]
           for role, seeds in table["runs"].items()}
    return {k: v for k, v in got.items() if v}


def autoattack_lines(table) -> list[str]:
    """Round 2: AutoAttack's robust accuracy at the final epoch beside PGD's on the same points, per role
    (medians over seeds), with the points each broke that the other did not (summed over seeds) and the
    attack's settings; nothing where the records have no AutoAttack (round 1)."""
    s = table["settings"]
    E = s.epochs
    got = final_measure(table, "autoattack")
    if not got:
        return []
    st = next(iter(got.values()))[0][repr(float(s.eps_grid[0]))]["settings"]
    med = lambda xs: sorted(xs)[len(xs) // 2] if len(xs) % 2 else sum(sorted(xs)[len(xs) // 2 - 1:len(xs) // 2 + 1]) / 2
    lines = [f"AutoAttack at epoch {E} ({st['package']}, {st['version']}: {', '.join(st['attacks'])}; APGD "
             f"{st['apgd_iterations']} iterations, {st['target_classes']} target classes, seed {st['seed']}), medians "
             f"over seeds, beside PGD on the same points; [AA only / PGD only] = points broken by one attack alone, "
             f"summed over seeds:"]
    for role, ms in got.items():
        cells = []
        for e in s.eps_grid:
            a = [m[repr(float(e))] for m in ms]
            cells.append(f"eps {e:.4g}: AA {med([v['robust_accuracy'] for v in a]):.3f} PGD "
                         f"{med([v['pgd_robust_accuracy'] for v in a]):.3f} "
                         f"[{sum(v['broken_by_autoattack_only'] for v in a)}/{sum(v['broken_by_pgd_only'] for v in a)}]")
        lines.append(f"  {role:<22} " + "; ".join(cells) + f"   ({len(ms)} seeds, {ms[0][repr(float(s.eps_grid[0]))]['n']} points)")
    return lines


#: Every data set the lab reads has 10 classes (digits, MNIST, MNIST-1D, Fashion-MNIST, CIFAR-10, synthetic).
CLASSES = 10


def untrained_lines(table, classes: int = CLASSES) -> list[str]:
    """A warning per role with a seed whose final clean accuracy is below 1.5 / classes (near chance): such a
    network did not learn, and a comparison that uses it tests nothing about the claim. The verdict rule is
    not changed by it (SPEC.md fixes the rule); the warning says which verdicts to read with care."""
    E = table["settings"].epochs
    lines = []
    for role, seeds in table["runs"].items():
        bad = {seed: r[E]["clean_accuracy"] for seed, r in seeds.items() if r and r[E] is not None
               and r[E].get("clean_accuracy", 1.0) < 1.5 / classes}
        if bad:
            lines.append(f"  warning: {role} did not learn in {len(bad)} of {len(seeds)} seed(s) (final clean accuracy "
                         + ", ".join(f"{v:.3f} (seed {k})" for k, v in sorted(bad.items()))
                         + f"; chance is {1 / classes:.2f}): the comparisons that use these seeds test nothing about the claim")
    return lines


def radius_lines(table) -> list[str]:
    """The exact radius at the final epoch, per role that measured it, pooled over seeds (outside every
    verdict): exact robust accuracy (complete l-inf verification) beside PGD's on the same points, and the
    effective margin beside the exact l2 radius."""
    s = table["settings"]
    E = s.epochs
    got = final_measure(table, "exact_radius")
    if not got:
        return []
    st = next(iter(got.values()))[0]["settings"]
    lines = [f"exact robust accuracy at epoch {E} (complete l-inf verification, MILP; first {st['points']} points; "
             f"at most {st['max_binaries']} binaries and {st['node_limit']} nodes per program, {st['time_limit']:g} s "
             f"per point), pooled over seeds, beside PGD on the same points:"]
    for role, ms in got.items():
        cells = []
        for e in s.eps_grid:
            a = [m["exact_robust_accuracy"][repr(float(e))] for m in ms]
            n, rob, und = sum(v["n"] for v in a), sum(v["robust"] for v in a), sum(v["undecided"] for v in a)
            pgd = sum(v["pgd"] * v["n"] for v in a) / n if n else float("nan")
            bad = sum(v["contradictions"] for v in a)
            span = f"{rob / n:.3f}" if not und else f"[{rob / n:.3f}, {(rob + und) / n:.3f}]"
            cells.append(f"eps {e:.4g}: exact {span} PGD {pgd:.3f}" + (f" ({und} undecided)" if und else "")
                         + (f" ({bad} PGD points proved robust: a contradiction)" if bad else ""))
        lines.append(f"  {role:<14} " + "; ".join(cells) + f"   ({len(ms)} seeds)")
    lines.append(f"effective margin gamma beside the exact l2 radius rho_2 (region search; first {st['l2_points']} "
                 f"points, at most {st['l2_regions']} regions and {st['l2_time_limit']:g} s per point), pooled over seeds:")
    for role, ms in got.items():
        pts = [(g, lo, up, st_) for m in ms for g, lo, up, st_ in zip(m["exact_l2_radius"]["gamma"],
                                                                      m["exact_l2_radius"]["lower"],
                                                                      m["exact_l2_radius"]["upper"],
                                                                      m["exact_l2_radius"]["status"])]
        use = [(g, lo, up, st_) for g, lo, up, st_ in pts if st_ != "misclassified" and math.isfinite(g)
               and math.isfinite(up) and up > 0]
        exact = sorted(g / up for g, lo, up, st_ in use if st_ == "optimal")
        bound = sorted(g / up for g, lo, up, st_ in use)
        mid = lambda v: v[len(v) // 2] if v else float("nan")
        lines.append(f"  {role:<14} rho_2 found at {sum(1 for p in pts if p[3] == 'optimal')}/{len(pts)} points"
                     + (f", gamma/rho_2 median {mid(exact):.3g} there" if exact else "")
                     + f"; over {len(use)} points gamma/upper (<= gamma/rho_2, upper a checked witness's distance) "
                       f"median {mid(bound):.3g}, and gamma > upper at {sum(1 for g, lo, up, _ in use if g > up)}")
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
                out.append(_comparison_line(c))
            out.extend(_round2_lines(v))
        for note in v.notes:
            out.append(f"    note: {note}")
    if table["diverged"]:
        out.append("diverged runs (their seeds are missing from the comparisons): "
                   + "; ".join(f"{k}: {m}" for k, m in table["diverged"].items()))
    return "\n".join(out)


def _comparison_line(c) -> str:
    return (f"    {c.name:<52} effect B/A {format_effect(c):<22} for/against {c.n_for}/{c.n_against}"
            + (f" (+{c.n_missing} missing)" if c.n_missing else "") + f"  p={c.p_for:.3g}  {c.verdict}")


def _round2_lines(v) -> list[str]:
    """Round 2's lines beside a claim's comparisons: the round-1 verdict, the dose-response of EMR, the
    official EMR arm, the sub-verdicts of the round-2 defenses (nothing for a round-1 verdict)."""
    out = []
    sub = v.sub_verdicts
    if "round 1" in sub:
        out.append(f"    round-1 verdict ((1)-(7), PGD): {sub['round 1']['verdict']}   round-2 verdict ((1)-(12), "
                   f"AutoAttack): {v.verdict}")
    dr = sub.get("dose-response")
    if dr:
        out.append(f"    dose-response of EMR (outside the verdict; lambda_0 times {', '.join(f'{d:g}' for d in dr['doses'])}; "
                   f"Holm over the doses):")
        for label, entries in dr["comparisons"].items():
            out.append(f"      {label}: " + "; ".join(
                f"x{e['dose']:g} {e['result']} (for/against {e['comparison']['n_for']}/{e['comparison']['n_against']}, "
                f"p_Holm {e['p_for_holm']:.3g}, effect {format_effect(Comparison.from_dict(e['comparison']))})"
                for e in entries))
        for c in dr.get("official", []):
            out.append("    official EMR arm: " + _comparison_line(Comparison.from_dict(c)).strip())
    for role, sv in sub.items():
        if role in ("round 1", "dose-response") or "comparisons" not in sv:
            continue
        out.append(f"    sub-verdict with {role} in place of at(eps3) (outside the claim): {sv['verdict']}")
        for c in sv["comparisons"]:
            out.append("  " + _comparison_line(Comparison.from_dict(c)))
    return out


def _eff(d) -> str:
    if d["effect"] is None:
        return "effect n/a"
    lo, hi = d["interval"]
    return f"B/A {d['effect']:.3g} [{lo:.3g}, {hi:.3g}]"


def verdicts_path(results: str | Path) -> Path:
    """Where the verdicts of a results file are saved: ``results/dynamics.jsonl`` ->
    ``results/dynamics.verdicts.json``."""
    results = Path(results)
    return results.with_name(results.stem + ".verdicts.json")


def write_verdicts(results: str | Path, table, verdicts) -> Path:
    """Write the verdicts beside the results (``<stem>.verdicts.json``), for the figures and the notes."""
    path = verdicts_path(results)
    body = {"results": str(results), "settings": table["settings"].to_dict(), "config": table["config"],
            "verdicts": [v.to_dict() for v in verdicts], "diverged": table["diverged"]}
    path.write_text(json.dumps(body, indent=1, allow_nan=True), encoding="utf-8")
    return path
