"""Figure ``layer-spectra``: the singular values of the layer Jacobians against the training budget eps.

Claim ``layer-smoothing`` (SPEC.md, "Empirical claims"): adversarial training with budget eps shrinks the
singular values of the layer Jacobians J_l(x) = Lambda_l V_l for most layers, across the whole spectrum.
One panel per spectrum statistic (rows: largest, mean, smallest non-zero singular value) and rectified
layer (columns), at the last epoch E: the median over the points the lab measured the spectra on, against
the training budget eps_0 = 0 (``ce``, since PGD at eps = 0 is the clean point), eps_1, eps_2, eps_3 of
``at(eps)``. A thin line joins each seed's four runs (they share the initial weights and the batches), the
thick line is the median over the seeds. Each panel names its saved per-layer verdict (the comparison
eps_3 < eps_0, seeds for / against) and the saved Spearman correlation with eps; each row the statistic's
verdict (a majority over the layers); the title the claim's verdict and the data set.
"""

from __future__ import annotations

import numpy as np

from ..style import DOUBLE, NEUTRAL, colour_name, figure, fs, objective_colour, styled, text
from .lab_data import (
    as_lab,
    eps_label,
    epsilon_roles,
    final_metrics,
    lab_notes,
    metric,
    require_roles,
    role_rows,
    seed_median,
    verdict_line,
)

__all__ = ["fig_layer_spectra", "CAPTION", "SUMMARY", "CLAIM", "STATISTICS", "TRADES"]

#: Round 2's defense at eps_3 (drawn, where the results hold it, as a diamond at eps_3; its comparison with
#: eps = 0 is a sub-verdict outside the claim's).
TRADES = "trades(eps3)"

#: The claim this figure shows.
CLAIM = "layer-smoothing"

#: One line for ``--list``: what to see.
SUMMARY = "largest, mean, smallest non-zero singular value of each layer Jacobian against the training eps"

#: The figure's caption (its colour words from :data:`figures.style.OBJECTIVE_COLOURS`).
CAPTION = ("The largest, mean and smallest non-zero singular value of each rectified layer's Jacobian "
           "J_l = Lambda_l V_l (median over the measured points) at the last epoch, against the adversarial-training "
           "budget eps (eps = 0: plain training): thin grey lines one seed each, the black line the median over seeds, "
           f"its dots in each objective's colour as in every lab figure ({colour_name(objective_colour('ce'))} ce, "
           f"{colour_name(objective_colour('at(eps1)'))}, {colour_name(objective_colour('at(eps2)'))}, "
           f"{colour_name(objective_colour('at(eps3)'))} AT(eps_1..3)). Each "
           "panel gives the saved verdict of 'smaller at eps_3 than at eps = 0' for its layer (seeds for/against) and "
           "the Spearman correlation with eps, each row its statistic's majority verdict, the title the verdict of "
           "layer-smoothing and the data set.")

#: (key in the results, row label).
STATISTICS = (("largest", r"largest $\sigma_{\max}(J_l)$"), ("mean", r"mean $\bar\sigma(J_l)$"),
              ("smallest_nonzero", r"smallest non-zero $\sigma_{\min}^{+}(J_l)$"))

#: The verdicts are written in black and dark grey: the colours of the lab figures are the objectives'.
_VERDICT_COLOUR = {"SUPPORTED": NEUTRAL["black"], "CONTRADICTED": NEUTRAL["dark grey"]}


def _layers(lab) -> list[str]:
    E = lab.epochs
    for rows in role_rows(lab, "ce").values():
        if rows and rows[E] is not None:
            spectra = rows[E].get("layer_spectra")
            if not spectra:
                break
            return sorted(spectra, key=lambda k: (len(k), k))
    from .sweep_data import NoDataError

    raise NoDataError("the lab results lack the metric layer_spectra (layer-spectra); were they written by an "
                      "older lab?")


@styled
def fig_layer_spectra(results):
    """A grid of statistics (rows) by rectified layers (columns): the statistic at the last epoch against eps."""
    lab = as_lab(results)
    eps_roles = epsilon_roles(lab)
    require_roles(lab, [r for _, r in eps_roles], "layer-spectra")
    layers = _layers(lab)
    E = lab.epochs
    v = lab.verdicts.get(CLAIM)
    groups = (v or {}).get("groups", {})
    stats_v, rho = groups.get("statistics", {}), groups.get("spearman", {})
    eps = np.array([e for e, _ in eps_roles])
    seeds = sorted(set().union(*(role_rows(lab, r).keys() for _, r in eps_roles)))
    nL = len(layers)
    trades = bool(final_metrics(lab, TRADES))
    fig = figure(DOUBLE, 0.5 + 1.45 * len(STATISTICS))
    axes = np.atleast_2d(fig.subplots(len(STATISTICS), nL, sharex=True, squeeze=False))
    for i, (stat, label) in enumerate(STATISTICS):
        for j, layer in enumerate(layers):
            ax = axes[i, j]

            def value(role, seed):
                rows = role_rows(lab, role).get(seed)
                m = rows[E] if rows and len(rows) > E else None
                return metric(m, "layer_spectra", layer, stat, "median", what="layer-spectra")

            table = np.array([[value(role, s) for _, role in eps_roles] for s in seeds], dtype=float)
            for s, ys in zip(seeds, table):
                ax.plot(eps, ys, color=NEUTRAL["grey"], lw=0.5, alpha=0.5, gid=f"seed|{stat}|{layer}|{s}")
            med = np.array([seed_median(col) for col in table.T])
            ax.plot(eps, med, color=NEUTRAL["black"], lw=1.2, gid=f"median|{stat}|{layer}")
            for k, (_, role) in enumerate(eps_roles):     # each objective's median in its colour
                ax.plot(eps[k], med[k], ls="none", marker="o", ms=3.5, color=objective_colour(role),
                        gid=f"median-point|{stat}|{layer}|{role}")
            if trades:                                     # round 2: TRADES at eps_3, a diamond beside at(eps_3)
                tv = [value(TRADES, s_) for s_ in sorted(role_rows(lab, TRADES))]
                ax.plot([eps[-1]], [seed_median(tv)], ls="none", marker="D", ms=3.2, color=objective_colour(TRADES),
                        gid=f"median-point|{stat}|{layer}|{TRADES}")
                table = np.vstack([table, np.array(tv, dtype=float)[:, None].repeat(table.shape[1], 1)])
            lv = stats_v.get(stat, {}).get("layers", {}).get(layer)
            r = rho.get(stat, {}).get(layer)
            bits = []
            if lv:
                bits.append(f"{lv['verdict'].lower()} ({lv['n_for']}/{lv['n_against']})")
            if r is not None and r == r:
                bits.append(f"$\\rho$ = {r:+.2f}")
            if bits:
                ax.text(0.97, 0.96, "\n".join(bits), transform=ax.transAxes, ha="right", va="top", fontsize=fs(6.3),
                        color=_VERDICT_COLOUR.get(lv["verdict"] if lv else "", "0.25"), gid=f"verdict|{stat}|{layer}")
            finite = table[np.isfinite(table)]
            if finite.size:                            # room above the data for the verdict
                lo, hi = float(finite.min()), float(finite.max())
                span = (hi - lo) or abs(hi) or 1.0
                ax.set_ylim(lo - 0.1 * span, hi + 0.5 * span)
            ax.set_xticks(eps)
            ax.set_xticklabels([eps_label(e) for e in eps])
            if i == 0:
                ax.set_title(f"layer {text(layer)}", fontsize=fs(7.5))
            if i == len(STATISTICS) - 1:
                ax.set_xlabel(r"training budget $\epsilon$ ($\ell_\infty$)")
            if j == 0:
                sv = stats_v.get(stat, {}).get("verdict")
                ax.set_ylabel(label + (f"\n{sv.lower()}" if sv else ""), fontsize=fs(7),
                              color=_VERDICT_COLOUR.get(sv or "", "black"))
    s = lab.settings
    notes = [text(f"epoch E = {E}; eps = 0 is the ce run; the comparison of each panel: the statistic at "
                  f"eps_3 = {s.eps_grid[-1]:.4g} below the one at eps = 0, per seed (seeds for/against); "
                  f"spectra over the first {s.n_spectra} evaluation points")]
    sub = {k: d for k, d in ((v or {}).get("sub_verdicts") or {}).items() if k != TRADES}
    if sub:
        notes.append(text("the same comparison for ce+R against ce (outside the claim's verdict): "
                          + ", ".join(f"{k} {d['verdict'].lower()}" for k, d in sub.items())))
    if trades:
        tv = ((v or {}).get("sub_verdicts") or {}).get(TRADES)
        notes.append(text(f"{colour_name(objective_colour(TRADES))} diamonds: TRADES at eps_3 (round 2), the median "
                          "over the seeds; its comparison with eps = 0 in place of at(eps_3) (outside the claim's "
                          "verdict): " + (_trades_line(tv) if tv else "no saved sub-verdict")))
    lab_notes(fig, text(verdict_line(lab, CLAIM)), notes)
    return fig


def _trades_line(tv: dict) -> str:
    """The saved sub-verdict with trades(eps3): overall, then per statistic its layers' verdicts (for/against)."""
    parts = []
    for stat, d in tv.get("statistics", {}).items():
        layers = ", ".join(f"{layer} {x['verdict'].lower()} ({x['n_for']}/{x['n_against']})"
                           for layer, x in d.get("layers", {}).items())
        parts.append(f"{stat} {d['verdict'].lower()} [{layers}]")
    return f"{tv['verdict']}" + (f"; {'; '.join(parts)}" if parts else "")
