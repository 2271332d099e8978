"""Figure ``confidence-concentration``: confidences, output margins and accuracy against the training budget.

Claim ``confidence-concentration`` (SPEC.md, "Empirical claims"): as the adversarial-training budget eps
grows, clean accuracy falls and the output margins m(x) = f_y - max_{j != y} f_j and the softmax confidences
max_k p_k shift toward 0: the samples concentrate near the decision boundaries. At the last epoch E, for
eps_0 = 0 (``ce``: PGD at eps = 0 is the clean point) and eps_1 < eps_2 < eps_3 of ``at(eps)`` (eps_1 and
eps_2 where the results hold them: they come with the layer-smoothing runs; the claim compares eps_3 with 0):

(a) the distribution of the softmax confidence over the evaluation points, all seeds pooled, on a logit
    axis (it spreads 0.5, 0.9, 0.99, ... evenly; most points sit near 1): a violin of the per-point values
    the lab keeps at the last epoch, with the box of its quartiles and 5 / 95 % whiskers; when the results
    hold only the saved quantiles (an older lab), only the box, drawn from them, and the panel says so. The
    dots beside each violin are the seeds' medians (what the verdict compares), the numbers above it the
    share of points with confidence below 1/2 (comparison (4));
(b) the same for the output margin, on a linear axis with the decision boundary m = 0;
(c) clean accuracy and PGD robust accuracy at each attack budget of the grid, against the training eps:
    one dot per seed, the line through the medians over the seeds.

The title names the saved verdict and the data set; the notes list the saved comparisons.
"""

from __future__ import annotations

import numpy as np

from ..style import DOUBLE, NEUTRAL, colour_name, figure, fs, objective_colour, styled, text
from .lab_data import (
    as_lab,
    comparison_line,
    eps_label,
    epsilon_roles,
    final_metrics,
    lab_notes,
    metric,
    pct,
    require_roles,
    role_rows,
    seed_median,
    summary_of,
    verdict_line,
)

__all__ = ["fig_confidence_concentration", "CAPTION", "SUMMARY", "CLAIM", "REQUIRED", "logit", "TRADES"]

#: Round 2's defense at eps_3: where the results hold it, a fifth violin (a) and box (b) and open marks in (c);
#: its comparisons with eps = 0 are a sub-verdict outside the claim's.
TRADES = "trades(eps3)"

#: The claim this figure shows.
CLAIM = "confidence-concentration"
#: The runs the claim compares (at(0) is ce); the other budgets are drawn when the results hold them.
REQUIRED = ("ce", "at(eps3)")

#: One line for ``--list``: what to see.
SUMMARY = "softmax confidence and output margin distributions, clean and robust accuracy against the training eps"

#: Colour of the seeds' medians (no objective's colour: each violin has its objective's), and of the clean and
#: attack curves of (c), told apart by their line styles.
_DOTS = NEUTRAL["black"]
_ATTACKS = [(NEUTRAL["dark grey"], "--", "s"), (NEUTRAL["grey"], "-.", "^"), (NEUTRAL["grey"], ":", "v"),
            (NEUTRAL["light grey"], "--", "D")]

#: The figure's caption (its colour words from :data:`figures.style.OBJECTIVE_COLOURS`).
CAPTION = ("At the last epoch, against the adversarial-training budget eps (eps = 0: plain training): (a) the "
           "distribution of the softmax confidence max_k p_k over the evaluation points, all seeds pooled, on a logit "
           "axis (violin of the per-point values, box of the quartiles, whiskers at 5 and 95 %; dots: the seeds' "
           "medians; numbers: the share of points below 1/2), (b) the same for the output margin f_y - max_j f_j "
           "(m = 0 is the decision boundary), (c) clean accuracy and PGD robust accuracy at each attack budget "
           f"({colour_name(_DOTS)} and greys, by line style). Each violin has its objective's colour, as in every lab "
           f"figure: {colour_name(objective_colour('ce'))} ce (eps = 0), "
           f"{colour_name(objective_colour('at(eps1)'))} AT(eps_1), {colour_name(objective_colour('at(eps2)'))} "
           f"AT(eps_2), {colour_name(objective_colour('at(eps3)'))} AT(eps_3); {colour_name(_DOTS)} dots: the seeds' "
           "medians. The title gives the saved verdict of confidence-concentration and the data set, the notes each "
           "comparison.")

#: Confidences are clipped to [CLIP, 1 - CLIP] before the logit (a confidence of exactly 1 has no logit).
CLIP = 1e-12


def logit(p) -> np.ndarray:
    """log(p / (1 - p)) of p clipped to [CLIP, 1 - CLIP].

    >>> logit([0.5, 0.9]).round(6).tolist()
    [0.0, 2.197225]
    """
    p = np.clip(np.asarray(p, dtype=float), CLIP, 1 - CLIP)
    return np.log(p) - np.log1p(-p)


def _points(lab, role: str, key: str):
    """Per seed: (the saved per-point values at E or None, the saved summary at E)."""
    E = lab.epochs
    out = []
    for _, rows in sorted(role_rows(lab, role).items()):
        m = rows[E] if rows and len(rows) > E else None
        if m is None:
            continue
        pts = (m.get("points") or {}).get(key)
        out.append((None if pts is None else np.asarray(pts, dtype=float),
                    summary_of(m, key, "confidence-concentration")))
    return out


def _box(ax, x, q, width, colour, gid, transform=lambda v: v):
    """A box from the saved quantiles q (q05, q25, median, q75, q95), drawn through ``transform``."""
    stats = {"whislo": transform(q["q05"]), "q1": transform(q["q25"]), "med": transform(q["median"]),
             "q3": transform(q["q75"]), "whishi": transform(q["q95"]), "fliers": []}
    art = ax.bxp([stats], positions=[x], widths=width, showfliers=False, patch_artist=True, manage_ticks=False,
                 boxprops={"facecolor": "white", "edgecolor": colour, "lw": 0.8},
                 medianprops={"color": colour, "lw": 1.4}, whiskerprops={"color": colour, "lw": 0.8},
                 capprops={"color": colour, "lw": 0.8})
    for part in art.values():
        for a in part:
            a.set_gid(gid)
    return art


def _quantiles(values: np.ndarray) -> dict:
    qs = np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95])
    return dict(zip(("q05", "q25", "median", "q75", "q95"), map(float, qs)))


def _distribution_panel(ax, lab, eps_roles, key: str, transform, what: str) -> bool:
    """Violins (per-point values, seeds pooled) or quantile boxes per training eps; True if all from points."""
    all_points = True
    xs = np.arange(len(eps_roles))
    for x, (e, role) in zip(xs, eps_roles):
        per = _points(lab, role, key)
        pts = [p for p, _ in per if p is not None]
        if pts and len(pts) == len(per):
            vals = transform(np.concatenate(pts))
            vals = vals[np.isfinite(vals)]
            if vals.size > 1:
                parts = ax.violinplot([vals], positions=[x], widths=0.7, showextrema=False)
                for body in parts["bodies"]:
                    body.set_facecolor(objective_colour(role))
                    body.set_alpha(0.3)
                    body.set_edgecolor("none")
                    body.set_gid(f"violin|{key}|{role}")
            q = _quantiles(np.concatenate(pts))
        else:
            all_points = False
            # no per-point values: the box of the quantiles pooled over seeds is not known; draw each seed's
            summaries = [s for _, s in per]
            q = {k: seed_median([s[k] for s in summaries]) for k in ("q05", "q25", "median", "q75", "q95")}
        _box(ax, x, q, 0.22, "0.15", f"box|{key}|{role}", transform)
        meds = transform(np.array([s["median"] for _, s in per], dtype=float))
        ax.plot(x + 0.42 + np.linspace(-0.04, 0.04, len(meds)), meds, ls="none", marker="o", ms=2.2,
                color=_DOTS, gid=f"seed-median|{key}|{role}")
    ax.set_xticks(xs)
    ax.set_xticklabels([eps_label(e) + ("\nTRADES" if role == TRADES else "") for e, role in eps_roles])
    ax.set_xlim(-0.6, len(eps_roles) - 0.3)
    ax.set_xlabel(r"training budget $\epsilon$ ($\ell_\infty$)")
    if not all_points:
        ax.text(0.02, 0.02, f"no per-point {what} saved:\nboxes from the seeds'\nmedian quantiles", fontsize=fs(5.8),
                transform=ax.transAxes, ha="left", va="bottom", color="0.35")
    return all_points


def _logit_ticks(ax, lo: float, hi: float, max_ticks: int = 6):
    """Ticks of a logit axis (the values drawn are logits): 0.5, 0.9, 0.99, 0.999, 1 - 10^-4, ... within the data,
    every second (third, ...) decade when more than ``max_ticks`` would show."""
    low = [p for p in (0.5,) if lo <= logit([p])[0] <= hi]
    ks = [k for k in range(1, 16) if lo <= logit([1 - 10.0 ** -k])[0] <= hi]
    step = next(st for st in range(1, 16) if len(low) + len(ks[::st]) <= max_ticks)
    ks = ks[::step]
    ticks = low + [1 - 10.0 ** -k for k in ks]
    labels = [f"{p:g}" for p in low] + ["0." + "9" * k if k <= 3 else f"$1-10^{{-{k}}}$" for k in ks]
    ax.set_yticks(logit(ticks))
    ax.set_yticklabels(labels)


@styled
def fig_confidence_concentration(results):
    """Three panels against the training eps: confidence (logit axis), output margin, clean and robust accuracy."""
    lab = as_lab(results)
    require_roles(lab, REQUIRED, "confidence-concentration")
    # eps_1 and eps_2 come with the layer-smoothing runs; a lab run for this claim alone has eps_0 and eps_3
    eps_roles = [(e, r) for e, r in epsilon_roles(lab) if r in REQUIRED or role_rows(lab, r)]
    trades = [(float(lab.settings.eps_grid[-1]), TRADES)] if role_rows(lab, TRADES) else []
    s = lab.settings
    E = lab.epochs
    fig = figure(DOUBLE, 2.0)
    ax_c, ax_m, ax_a = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.1, 1.1, 1.0]})

    from_points = _distribution_panel(ax_c, lab, eps_roles + trades, "confidence", logit, "confidences")
    ax_c.axhline(0.0, color="0.45", lw=0.6, ls="--", zorder=0, gid="half")
    lo, hi = ax_c.get_ylim()
    _logit_ticks(ax_c, lo, hi)
    ax_c.set_ylim(lo, hi + 0.2 * (hi - lo))
    for x, (_, role) in enumerate(eps_roles + trades):
        shares = [metric(rows[E], "confidence_below_half") for rows in role_rows(lab, role).values()
                  if rows and len(rows) > E and rows[E] is not None]
        ax_c.text(x, 0.985, f"{100 * seed_median(shares):.1f}", transform=ax_c.get_xaxis_transform(),
                  ha="center", va="top", fontsize=fs(5.8), color="0.2", gid=f"below-half|{role}")
    ax_c.text(-0.03, 0.985, f"{pct()} below 1/2:", transform=ax_c.transAxes, ha="right", va="top", fontsize=fs(5.8),
              color="0.2")
    ax_c.set_title("(a) softmax confidence\n$\\mathrm{max}_k\\, p_k$", fontsize=fs(7.5), loc="left")
    if not trades:      # with TRADES's violin at the right end the label would touch it; the tick says 0.5
        ax_c.text(0.99, 0.0, "1/2", transform=ax_c.get_yaxis_transform(), ha="right", va="bottom", fontsize=fs(5.8),
                  color="0.45")

    _distribution_panel(ax_m, lab, eps_roles + trades, "output_margin", lambda v: np.asarray(v, dtype=float), "margins")
    ax_m.axhline(0.0, color="0.45", lw=0.6, ls="--", zorder=0, gid="boundary")
    ax_m.set_title("(b) output margin\n$f_y - \\mathrm{max}_{j\\neq y}\\, f_j$", fontsize=fs(7.5), loc="left")

    # (c) accuracy against the training eps
    xs = np.array([e for e, _ in eps_roles])
    lines = [("clean", "clean", lambda m: 100 * metric(m, "clean_accuracy"), (_DOTS, "-", "o"))]
    for k, e in enumerate(s.eps_grid):
        lines.append((f"robust|{e!r}", f"PGD $\\epsilon$={eps_label(float(e))}",
                      lambda m, e=e: 100 * metric(m, "robust_accuracy", repr(float(e))), _ATTACKS[k % len(_ATTACKS)]))
    for key, label, get, (colour, ls, marker) in lines:
        table = []
        for _, role in eps_roles:
            vals = [get(rows[E]) for rows in role_rows(lab, role).values() if rows and len(rows) > E]
            table.append(vals)
        for x, vals in zip(xs, table):
            ax_a.plot(np.full(len(vals), x), vals, ls="none", marker="o", ms=1.8, color=colour, alpha=0.5,
                      gid=f"acc-seed|{key}")
        ax_a.plot(xs, [seed_median(v) for v in table], color=colour, lw=1.2, ls=ls, marker=marker, ms=2.5,
                  label=label, gid=f"acc|{key}")
        if trades:                                   # TRADES at eps_3: an open mark of the same attack, beside it
            vals = [get(m) for m in final_metrics(lab, TRADES).values()]
            ax_a.plot([xs[-1] * 1.04], [seed_median(vals)], ls="none", marker=marker, ms=3.2, mfc="white", mec=colour,
                      gid=f"acc-trades|{key}|{TRADES}")
    ax_a.set_xticks(xs)
    ax_a.set_xticklabels([eps_label(e) for e in xs])
    ax_a.set_ylim(0, 100)
    ax_a.set_xlabel(r"training budget $\epsilon$ ($\ell_\infty$)")
    ax_a.set_title(f"(c) clean and robust\naccuracy ({pct()})", fontsize=fs(7.5), loc="left")
    ax_a.legend(loc="lower right", fontsize=fs(6), handlelength=1.0, handletextpad=0.4, borderaxespad=0.1,
                labelspacing=0.3, frameon=True, framealpha=0.85, edgecolor="none", borderpad=0.3)

    notes = []
    v = lab.verdicts.get(CLAIM)
    if v:
        notes += [text(comparison_line(c)) for c in v["comparisons"]]
    if trades:
        tv = ((v or {}).get("sub_verdicts") or {}).get(TRADES)
        notes.append(text(f"TRADES at eps_3 (round 2; the {colour_name(objective_colour(TRADES))} violin in (a), (b); "
                          "open marks in (c)), in place of at(eps_3), outside the claim's verdict: "
                          + (f"{tv['verdict']}; " + "; ".join(comparison_line(c) for c in tv["comparisons"])
                             if tv else "no saved sub-verdict")))
    notes.append(text(f"epoch E = {E}; eps = 0 is the ce run; "
                      + ("violins: every evaluation point of every seed; " if from_points else "")
                      + f"{colour_name(_DOTS)} dots: the seeds' medians; the numbers on top of (a): the median over the seeds of the percentage of points with confidence below 1/2; robust accuracy under PGD-{s.eval_steps} (l-inf), "
                        f"{s.eval_restarts} restart(s), adversarial training with PGD-{s.train_steps}"))
    lab_notes(fig, text(verdict_line(lab, CLAIM)), notes)
    return fig
