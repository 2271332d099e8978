"""Figure ``margin-dynamics``: the effective weight norm and the effective margin over training.

Claim ``standard-training-small-margin`` (SPEC.md, "Empirical claims"): under plain cross-entropy the
effective weight norm omega(x) = ||w_y - w_j|| keeps growing while the effective margin
gamma(x) = (f_y - f_j) / omega(x) stalls; adding EMR gives larger margins and more robustness, in standard
and in adversarial training. Drawn from the lab's saved records, against the epoch (epoch 0 is the
initial network), for the two pairs the claim compares: ``ce`` against ``ce+emr`` (top row) and
``at(eps_2)`` against ``at(eps_2)+emr`` (bottom row). Columns: the median over the evaluation points of
omega (log axis: its growth ratios are what comparisons (1) and (2) compare) and of gamma; the certified
fraction, the share of points with |gamma| <= r (r the distance to the edge of the point's activation
region, where |gamma| is the exact distance to the y-vs-j boundary); and PGD robust accuracy at the middle
eps (comparisons (5) and (7)). A thin line per seed, a thick line for the median over the seeds; the
dotted lines mark the epochs M and E that the comparisons use. Each objective has its colour of
:data:`figures.style.OBJECTIVE_COLOURS`. The title names the saved verdict and the data set; every comparison
with its saved verdict goes to the caption (``fig.caption_notes``, written beside the figure), not on the axes.
"""

from __future__ import annotations

import math

import numpy as np

from ..style import DOUBLE, colour_name, figure, fs, objective_colour, styled, text
from .lab_data import (
    ROLE_LABELS,
    as_lab,
    comparison_line,
    eps_label,
    lab_notes,
    metric,
    pct,
    require_roles,
    role_rows,
    seed_median,
    verdict_line,
)

__all__ = ["fig_margin_dynamics", "CAPTION", "SUMMARY", "CLAIM", "PAIRS", "ROUND2_PAIRS"]

#: The claim this figure shows.
CLAIM = "standard-training-small-margin"

#: One line for ``--list``: what to see.
SUMMARY = "effective weight norm, effective margin, certified fraction against the epoch: ce vs ce+EMR, AT vs AT+EMR"

#: The figure's caption (its colour words from :data:`figures.style.OBJECTIVE_COLOURS`).
CAPTION = ("The effective weight norm omega = |w_y - w_j| (median over the evaluation points; log axis), the effective "
           "margin gamma = (f_y - f_j)/omega, the certified fraction (share of points with |gamma| <= r, r the distance "
           "to the activation region's edge) and PGD robust accuracy at the middle eps, against the epoch, for ce "
           "against ce+EMR (top) and AT(eps_2) against AT(eps_2)+EMR (bottom): thin lines one seed each, thick lines "
           "the median over seeds; dotted lines at the epochs M and E the comparisons use; colours, as in every lab "
           f"figure: {colour_name(objective_colour('ce'))} ce, {colour_name(objective_colour('ce+emr'))} ce+EMR, "
           f"{colour_name(objective_colour('at(eps2)'))} AT(eps_2), "
           f"{colour_name(objective_colour('at(eps2)+emr'))} AT(eps_2)+EMR. The title gives the saved verdict of "
           "standard-training-small-margin and the data set; each comparison's saved verdict is in the caption "
           "file written beside the figure (NAME.caption.txt), not on the figure.")

#: (baseline role, +EMR role) per row.
PAIRS = (("ce", "ce+emr"), ("at(eps2)", "at(eps2)+emr"))

#: Further rows where a round-2 lab holds both runs of a pair: TRADES and MART at eps_2, each against its +EMR.
ROUND2_PAIRS = (("trades(eps2)", "trades(eps2)+emr"), ("mart(eps2)", "mart(eps2)+emr"))


def _series(lab, role: str, get) -> tuple[np.ndarray, list[np.ndarray]]:
    """(epochs, [one array per seed]) of ``get(metrics)``; NaN at a missing epoch."""
    E = lab.epochs
    per = [np.array([get(rows[e]) if e < len(rows) else math.nan for e in range(E + 1)], dtype=float)
           for _, rows in sorted(role_rows(lab, role).items())]
    return np.arange(E + 1), per


def _comparisons(lab) -> list[str]:
    v = lab.verdicts.get(CLAIM)
    if not v:
        return []
    return [text(comparison_line(c)) for c in v["comparisons"]]


@styled
def fig_margin_dynamics(results):
    """Four columns (omega, gamma, certified fraction, robust accuracy at eps_2) against the epoch, in two
    rows (ce vs ce+EMR; AT(eps_2) vs AT(eps_2)+EMR), and one more per pair of :data:`ROUND2_PAIRS` that a
    round-2 lab holds."""
    lab = as_lab(results)
    require_roles(lab, [r for pair in PAIRS for r in pair], "margin-dynamics")
    s = lab.settings
    E, M = lab.epochs, lab.epochs // 2
    eps2 = repr(float(s.middle_eps))
    cols = (("omega", "effective\n" r"weight norm $\omega$", lambda m: metric(m, "effective_weight_norm", "median")),
            ("gamma", "effective\n" r"margin $\gamma$", lambda m: metric(m, "effective_margin", "median")),
            ("certified", f"certified ({pct()}):\n" r"$|\gamma| \leq r$", lambda m: 100 * metric(m, "certified_fraction")),
            ("robust", f"robust accuracy ({pct()})\nPGD $\\epsilon$ = {eps_label(s.middle_eps)}",
             lambda m: 100 * metric(m, "robust_accuracy", eps2)))
    pairs = PAIRS + tuple(p for p in ROUND2_PAIRS if all(role_rows(lab, role) for role in p))
    last = len(pairs) - 1
    fig = figure(DOUBLE, 2.9 * len(pairs) / 2)
    axes = fig.subplots(len(pairs), 4, sharex=True)
    handles = {}
    for r, pair in enumerate(pairs):
        for c, (key, label, get) in enumerate(cols):
            ax = axes[r, c]
            lows = []
            for role, kind in zip(pair, ("base", "emr")):
                colour = objective_colour(role)
                epochs, per = _series(lab, role, get)
                for seed, ys in zip(sorted(role_rows(lab, role)), per):
                    ax.plot(epochs, ys, color=colour, lw=0.5, alpha=0.4, gid=f"seed|{key}|{role}|{seed}")
                med = np.array([seed_median(col) for col in np.array(per).T]) if per else np.array([])
                h = ax.plot(epochs, med, color=colour, lw=1.5, gid=f"median|{key}|{role}",
                            label=ROLE_LABELS.get(role, text(role)))[0]
                handles.setdefault((r, kind), h)
                lows.extend(y for ys in per for y in ys[1:] if math.isfinite(y))
            if key == "omega":
                ax.set_yscale("log")
            if key == "gamma" and lows:
                # epoch 0 (the initial network, gamma < 0 at most points) would flatten the late curve
                lo, hi = min(lows), max(lows)
                pad = 0.08 * (hi - lo or abs(hi) or 1.0)
                ax.set_ylim(lo - pad, hi + pad)
            for e, name in ((M, "M"), (E, "E")):
                ax.axvline(e, color="0.5", lw=0.6, ls=":", zorder=0, gid=f"epoch|{name}")
                if r == 0:
                    ax.text(e, 1.0, name, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                            fontsize=fs(6.5), color="0.4")
            ax.set_xlim(0, E)
            if r == last:
                ax.set_xlabel("epoch")
            if r == 0:
                ax.set_title(label, fontsize=fs(7.5), pad=fs(9))
        axes[r, 0].legend(handles=[handles[(r, "base")], handles[(r, "emr")]], loc="lower right",
                          fontsize=fs(6.5), handlelength=1.2)
    notes = _comparisons(lab)
    notes.append(text(f"M = epoch {M}, E = epoch {E}; AT = PGD-{s.train_steps} adversarial training at "
                      f"eps_2 = {s.middle_eps:.4g} (l-inf); robust accuracy: PGD-{s.eval_steps}, "
                      f"{s.eval_restarts} restart(s); thin lines: one seed each, thick: the median over the seeds; "
                      f"gamma at epoch 0 (the initial network) may lie below its axis"
                      + ("; further rows: " + ", ".join(f"{a} against {b}" for a, b in pairs[len(PAIRS):])
                         + " (round 2; beta and the inner attack as the lab's round-2 settings say)"
                         if len(pairs) > len(PAIRS) else "")))
    lab_notes(fig, text(verdict_line(lab, CLAIM)), notes, draw_notes=False)
    return fig
