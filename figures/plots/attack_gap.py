"""Figure ``attack-gap``: PGD, AutoAttack and the exact robust accuracy of each objective at each budget.

Claim ``standard-training-small-margin``, round 2 (SPEC.md, "Round 2"): its robust accuracies are AutoAttack's,
and this figure shows what that changes. At the last epoch E, one row per attack budget eps of the grid and one
group per objective (every role whose records hold AutoAttack, in the lab's order): PGD's robust accuracy (the
round-1 measure), AutoAttack's on the same evaluation points (the lab runs it on the first
``autoattack_points``), each the median over the seeds (a larger mark) with every seed's value (small dots);
and, for the roles that measured the exact radius (``exact_radius``: complete l-inf verification by a MILP on
the first few evaluation points), the exact robust accuracy as the interval [proved robust, proved robust +
undecided] / n (medians over the seeds of the two ends), with PGD's robust accuracy on those same points as a
hollow mark on it. An attack's robust accuracy is an upper bound of the exact one: a PGD or AutoAttack mark
below the exact interval's lower end would be a contradiction. Every attack's settings are in the notes.
"""

from __future__ import annotations

import numpy as np

from ..style import DOUBLE, NEUTRAL, colour_name, figure, fs, styled, text
from .lab_data import (
    ROLE_LABELS,
    as_lab,
    attack_settings_line,
    eps_label,
    final_metrics,
    lab_notes,
    pct,
    require_round2,
    seed_median,
    verdict_line,
)
from .sweep_data import NoDataError

__all__ = ["fig_attack_gap", "CAPTION", "SUMMARY", "CLAIM", "MARKS"]

#: The claim whose round-2 robust accuracies this figure shows.
CLAIM = "standard-training-small-margin"

#: One line for ``--list``: what to see.
SUMMARY = "PGD, AutoAttack and the exact (MILP) robust accuracy per objective at each eps, medians and seeds"

#: The look of each measure: key -> (colour, marker, x offset in the group).
MARKS = {"pgd": (NEUTRAL["grey"], "s", -0.24), "autoattack": (NEUTRAL["black"], "o", 0.0),
         "exact": (NEUTRAL["dark grey"], "_", 0.24)}

#: The figure's caption.
CAPTION = ("Robust accuracy at the last epoch, one row per attack budget eps (l-inf), one group per objective: "
           f"PGD ({colour_name(MARKS['pgd'][0])} squares) and AutoAttack ({colour_name(MARKS['autoattack'][0])} "
           "circles) on the same evaluation points, large marks the median over the seeds, small dots one seed "
           f"each; {colour_name(MARKS['exact'][0])} bars, for the objectives that measured it, the exact robust "
           "accuracy by complete verification (a MILP) on fewer points, from proved robust to proved robust plus "
           "undecided (medians over the seeds), with PGD on those same points as a hollow square. An attack's "
           "number bounds the exact one from above. The attacks' settings and the numbers of points are in the "
           "notes; the title gives the saved verdict of standard-training-small-margin and the data set.")


def _roles(lab) -> list[str]:
    return [r for r in lab.table["runs"] if any("autoattack" in m for m in final_metrics(lab, r).values())]


def _series(per_seed: list, get) -> list[float]:
    out = []
    for m in per_seed:
        try:
            out.append(float(get(m)))
        except (KeyError, TypeError):
            out.append(float("nan"))
    return out


@styled
def fig_attack_gap(results):
    """One row per eps: PGD, AutoAttack (medians and seeds) and the exact interval, per objective."""
    lab = as_lab(results)
    require_round2(lab, "attack-gap")
    roles = _roles(lab)
    if not roles:
        raise NoDataError("the lab results hold no AutoAttack measure at the last epoch (attack-gap); were they "
                          "written by python -m verify dynamics --round 2?")
    s = lab.settings
    grid = [float(e) for e in s.eps_grid]
    finals = {r: list(final_metrics(lab, r).values()) for r in roles}
    fig = figure(DOUBLE, 0.9 + 1.35 * len(grid))
    axes = np.atleast_1d(fig.subplots(len(grid), 1, sharex=True))
    xs = np.arange(len(roles))
    pc = pct()
    for ax, e in zip(axes, grid):
        key = repr(e)
        drawn = []
        for k, role in enumerate(roles):
            ms = finals[role]
            for what, get in (("pgd", lambda m: m["autoattack"][key]["pgd_robust_accuracy"]),
                              ("autoattack", lambda m: m["autoattack"][key]["robust_accuracy"])):
                colour, marker, dx = MARKS[what]
                vals = 100 * np.array(_series(ms, get))
                drawn.extend(vals)
                ax.plot(np.full(len(vals), k + dx), vals, ls="none", marker=".", ms=2.2, color=colour, alpha=0.6,
                        gid=f"seed|{what}|{key}|{role}")
                ax.plot([k + dx], [seed_median(vals)], ls="none", marker=marker, ms=4.2 if marker == "o" else 3.8,
                        color=colour, gid=f"median|{what}|{key}|{role}", zorder=3,
                        label={"pgd": "PGD", "autoattack": "AutoAttack"}[what] if k == 0 else None)
            ex = [m["exact_radius"]["exact_robust_accuracy"][key] for m in ms
                  if key in ((m.get("exact_radius") or {}).get("exact_robust_accuracy") or {})]
            if ex:
                colour, _, dx = MARKS["exact"]
                lo = 100 * seed_median([v["fraction"] for v in ex])
                hi = 100 * seed_median([v["fraction_upper"] for v in ex])
                drawn.extend([lo, hi, 100 * seed_median([v["pgd"] for v in ex])])
                ax.plot([k + dx, k + dx], [lo, hi], color=colour, lw=3.0, solid_capstyle="butt",
                        gid=f"exact|{key}|{role}", label="exact (MILP)" if not ax.get_legend_handles_labels()[1].count(
                            "exact (MILP)") else None)
                for y in (lo, hi):                     # the ends, visible also when the interval is a point
                    ax.plot([k + dx - 0.09, k + dx + 0.09], [y, y], color=colour, lw=1.0, gid=f"exact-end|{key}|{role}")
                ax.plot([k + dx + 0.14], [100 * seed_median([v["pgd"] for v in ex])], ls="none", marker="s", ms=3.4,
                        mfc="white", mec=MARKS["pgd"][0], mew=0.9, gid=f"exact-pgd|{key}|{role}", zorder=4,
                        label="PGD on the exact points" if not ax.get_legend_handles_labels()[1].count(
                            "PGD on the exact points") else None)
        for k in range(1, len(roles)):
            ax.axvline(k - 0.5, color=NEUTRAL["light grey"], lw=0.4, zorder=0)
        finite = [y for y in drawn if np.isfinite(y)] or [0.0, 100.0]
        lo, hi = max(0.0, min(finite)), min(100.0, max(finite))
        pad = 0.08 * ((hi - lo) or 10.0)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_ylabel(f"robust acc. ({pc})\n$\\epsilon$ = {eps_label(e)}", fontsize=fs(7))
        ax.set_xlim(-0.6, len(roles) - 0.4)
    axes[0].legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=4, fontsize=fs(6.2), handlelength=1.2,
                   borderaxespad=0.2, columnspacing=1.2)
    axes[-1].set_xticks(xs)
    axes[-1].set_xticklabels([ROLE_LABELS.get(r, text(r)) for r in roles], rotation=40, ha="right",
                             rotation_mode="anchor", fontsize=fs(6.2))
    notes = _settings_notes(lab, roles, finals, grid)
    lab_notes(fig, text(verdict_line(lab, CLAIM)), notes)
    return fig


def _settings_notes(lab, roles, finals, grid) -> list[str]:
    """The attacks' settings (as saved with the numbers) and the numbers of points and seeds."""
    s = lab.settings
    first = next(m for r in roles for m in finals[r])
    aa = first["autoattack"][repr(grid[0])]
    out = [text(f"epoch E = {lab.epochs}; medians over {max(len(v) for v in finals.values())} seeds; "
                f"{attack_settings_line(aa['settings'], 'each row' + chr(39) + 's')} and "
                f"{attack_settings_line(aa['pgd_settings'], 'each row' + chr(39) + 's')}, both on the first {aa['n']} "
                f"evaluation points; AT = PGD-{s.train_steps} adversarial training")]
    ex = next((m["exact_radius"] for r in roles for m in finals[r] if "exact_radius" in m), None)
    if ex:
        st = ex["settings"]
        n = next(iter(ex["exact_robust_accuracy"].values()))["n"]
        und = {repr(e): sum(m["exact_radius"]["exact_robust_accuracy"][repr(e)]["undecided"] for r in roles
                            for m in finals[r] if "exact_radius" in m) for e in grid}
        out.append(text(f"exact robust accuracy: complete l-inf verification ({st.get('linf', 'MILP')}) on the first "
                        f"{n} evaluation points of each run, at most {st['max_binaries']} binaries and {st['node_limit']} nodes per "
                        f"program, {st['time_limit']:g} s per point; undecided points (summed over roles and seeds): "
                        + ", ".join(f"eps {eps_label(e)}: {und[repr(e)]}" for e in grid)))
    return out
