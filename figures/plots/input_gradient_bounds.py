"""Figure ``input-gradient-bounds`` (with a ``margin-lower-bound`` panel): how tight each inequality is.

Every link lhs <= rhs of the chains of claim ``input-gradient-bounds`` (and of ``margin-lower-bound``)
is one row: the histogram, over interior points, of the relative slack (rhs - lhs) / rhs on a log
axis. Near 0 the link is tight; at 1 the left side is negligible. Exact equalities sit at the floor
marked 0; a negative slack (a violation, to be judged against the bound) is counted beside the row.
"""

from __future__ import annotations

import math

import numpy as np

from ..style import DOUBLE, OKABE_ITO, figure, fs, styled, text
from .sweep_data import interior, log_floor, select

__all__ = ["fig_input_gradient_bounds", "CAPTION", "SUMMARY", "relative_slacks"]

#: One line for ``--list``: what to see.
SUMMARY = "relative slack of every input-gradient-bound and margin-bound link: how tight each is"

#: The figure's caption.
CAPTION = ("Tightness of every inequality link of the input-gradient bounds (chains a and b) and of the margin "
           "lower bound: histograms of the relative slack (rhs - lhs)/rhs over interior points, log scale; "
           "near 0 the bound is tight, exact equalities at 0.")

CLAIMS = ("input-gradient-bounds", "margin-lower-bound")


def relative_slacks(g) -> tuple[list[float], int, int, int]:
    """(relative slacks >= 0, number of negative slacks beyond the saved rounding bound (violations),
    number of negative slacks within it (equal to rounding: plotted as 0), number with rhs <= 0)."""
    rel, neg, tied, skipped = [], 0, 0, 0
    for i in interior(g):
        lhs, rhs = g.lhs[i], g.rhs[i]
        if not (rhs > 0) or not math.isfinite(lhs):
            skipped += 1
            continue
        s = (rhs - lhs) / rhs
        if s >= 0:
            rel.append(s)
        elif lhs - rhs <= g.bound[i]:
            tied += 1
            rel.append(0.0)
        else:
            neg += 1
    return rel, neg, tied, skipped


def _links(results, claim):
    links: dict = {}
    for _, g in select(results, claim=claim, kind="inequality"):
        rel, neg, tied, skipped = relative_slacks(g)
        d = links.setdefault(g.check, {"rel": [], "neg": 0, "tied": 0, "skipped": 0, "n": 0})
        d["tied"] += tied
        d["rel"] += rel
        d["neg"] += neg
        d["skipped"] += skipped
        d["n"] += len(interior(g))
    return links


@styled
def fig_input_gradient_bounds(results: list[dict]):
    """Histograms of the relative slack of each inequality link, one row per link."""
    from .sweep_data import NoDataError

    panels = [(c, _links(results, c)) for c in CLAIMS]
    panels = [(c, l) for c, l in panels if l]
    if not panels:
        raise NoDataError("the results hold no 'input-gradient-bounds' or 'margin-lower-bound' inequality records")
    allvals = [v for _, links in panels for d in links.values() for v in d["rel"]]
    floor = min(log_floor(allvals, 1e-6), 1e-2)
    n_rows = [len(l) for _, l in panels]
    fig = figure(DOUBLE, 0.55 + 0.34 * sum(n_rows) + 0.3 * len(panels))
    axes = fig.subplots(len(panels), 1, sharex=True, gridspec_kw={"height_ratios": [n + 0.6 for n in n_rows]},
                        squeeze=False)[:, 0]
    edges = np.logspace(math.log10(floor) + 0.5, 0.0, 41)
    colours = [OKABE_ITO["blue"], OKABE_ITO["green"]]
    for p, (ax, (claim, links)) in enumerate(zip(axes, panels)):
        names = list(links)
        for r, name in enumerate(names):
            d = links[name]
            y0 = len(names) - 1 - r
            rel = np.asarray(d["rel"], dtype=float)
            zeros = int((rel == 0).sum())
            pos = rel[rel > 0]
            counts, _ = np.histogram(np.clip(pos, edges[0], 1.0), bins=edges)
            top = max(counts.max() if counts.size else 0, zeros, 1)
            heights = 0.82 * counts / top
            ax.stairs(y0 + heights, edges, baseline=y0, fill=True, color=colours[p % 2], alpha=0.75, lw=0,
                      gid=f"hist|{claim}|{name}")
            if zeros:
                ax.bar([floor], [0.82 * zeros / top], bottom=y0, width=floor * 1.4, color=colours[p % 2],
                       alpha=0.95, lw=0, gid=f"zeros|{claim}|{name}")
            if rel.size:
                ax.plot([max(np.median(rel), floor)] * 2, [y0, y0 + 0.86], color="black", lw=0.9)
            note = f"n = {d['n']}"
            if d["neg"]:
                note += f" $\\cdot$ {d['neg']} VIOLATED"
            if d["tied"]:
                note += f" $\\cdot$ {d['tied']} equal within rounding"
            if d["skipped"]:
                note += f" $\\cdot$ {d['skipped']} with rhs $\\leq$ 0"
            ax.annotate(note, xy=(1.0, y0 + 0.35), xycoords=("axes fraction", "data"), xytext=(4, 0),
                        textcoords="offset points", va="center", ha="left", fontsize=fs(6.5), color="0.25",
                        annotation_clip=False)
            ax.axhline(y0, color="0.75", lw=0.5, zorder=0)
        ax.set_yticks([len(names) - 1 - r + 0.35 for r in range(len(names))])
        ax.set_yticklabels([text(n) for n in names], fontsize=fs(6.5))
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        ax.set_ylim(-0.15, len(names))
        ax.set_title(text(claim), loc="left", fontweight="bold")
        ax.axvspan(floor / 2, floor * 2.2, color="0.93", zorder=0, lw=0)
    ax = axes[-1]
    ax.set_xscale("log")
    ax.set_xlim(floor / 2, 1.3)
    ticks = [10.0 ** k for k in range(int(round(math.log10(floor))) + 1, 1)]
    ticks = [t for t in ticks if t > floor * 5]
    step = max(1, math.ceil(len(ticks) / 6))   # at most about six labelled decades
    ticks = ticks[::-1][::step][::-1]
    ax.set_xticks([floor] + ticks)
    ax.set_xticklabels(["0"] + [f"$10^{{{int(round(math.log10(t)))}}}$" for t in ticks])
    for a in axes:
        a.minorticks_off()
    ax.set_xlabel(r"relative slack $(\mathrm{rhs}-\mathrm{lhs})\,/\,\mathrm{rhs}$   (0: tight; black tick: median)")
    return fig
