"""Figure ``gap-overview``: every identity claim's gap against its floating-point error bound.

For each claim checked as an identity, every interior point (not on a kink, not outside the claim's
assumptions) is one dot at gap / bound = |lhs - rhs| / bound, on a log axis; one row per claim, one
colour per (dtype, device). The line at 1 is the bound: a claim holds where all its dots lie left of
it. Gaps that are exactly 0 are drawn at a floor value, marked "0" on the axis. A point where the bound
is at least half the size of the values (resolution >= 1/2, see :mod:`verify.results.gap`) could not have seen a
factor-2 error: it is drawn hollow and counted as uninformative. The counts of points, of uninformative
points, of kinks and of points outside the assumptions are written beside each row. Only a claim's
identity sub-checks are drawn and counted (its inequality and measurement sub-checks are not), so the
counts can be smaller than the console table's, which counts every sub-check.
"""

from __future__ import annotations

import math

import numpy as np

from ..style import DOUBLE, figure, fs, group_colour, styled, text
from .sweep_data import decade_ticks, group_key, group_label, interior, log_floor, order_claims, require, select

__all__ = ["fig_gap_overview", "CAPTION", "SUMMARY"]

#: One line for ``--list``: what to see.
SUMMARY = "gap/bound of every identity claim per point, by dtype and device: dots left of 1 mean it holds"

#: The figure's caption.
CAPTION = ("Each identity claim's gap |lhs - rhs| divided by its floating-point error bound, one dot per interior "
           "point, by dtype and device; every dot left of the line at 1 means the claim holds within the bound. "
           "Exact zeros sit at the floor marked 0; hollow dots are uninformative points, where the bound is at "
           "least half the values; kinks and points outside a claim's assumptions are counted, not plotted. Only "
           "identity sub-checks are drawn and counted: a claim's inequality and measurement sub-checks are not.")


def _collect(results):
    pairs = require(select(results, kind="identity"), "identity-claim")
    rows: dict = {}
    for _, g in pairs:
        row = rows.setdefault(g.claim, {"groups": {}, "hollow": {}, "n": 0, "kinks": 0, "excluded": 0,
                                        "uninformative": 0})
        idx = interior(g)
        informative = set(g.informative_points())
        gob = g.gap_over_bound
        key = (g.dtype, g.device)
        row["groups"].setdefault(key, []).extend(gob[i] for i in idx if i in informative)
        row["hollow"].setdefault(key, []).extend(gob[i] for i in idx if i not in informative)
        row["n"] += len(idx)
        row["uninformative"] += len(idx) - len(informative)
        row["kinks"] += g.n_kinks
        kinks = g.on_kink or [False] * g.n_points
        row["excluded"] += sum(1 for i, e in enumerate(g.excluded or []) if e and not kinks[i])
    return rows


@styled
def fig_gap_overview(results: list[dict]):
    """One row per identity claim: the distribution of gap / bound, by dtype and device."""
    rows = _collect(results)
    claims = order_claims(rows)
    groups = sorted({k for r in rows.values() for k in r["groups"]}, key=lambda k: group_key(*k))
    values = [v for r in rows.values() for part in ("groups", "hollow") for vs in r[part].values() for v in vs]
    floor = min(log_floor(values), 1e-3)
    finite_vals = [v for v in values if math.isfinite(v)]
    top = max([2.0] + [v for v in finite_vals if v > 0])
    # where a non-finite gap / bound (a zero bound with a non-zero gap, or a NaN) is drawn
    ceil = 10.0 ** math.ceil(math.log10(top) + 1) if any(not math.isfinite(v) for v in values) else None

    fig = figure(DOUBLE, 0.75 + 0.36 * len(claims))
    ax = fig.subplots()
    rng = np.random.default_rng(0)                 # jitter only: where a dot sits within its lane
    n_g = len(groups)
    lane = 0.7 / max(n_g, 1)
    for r, claim in enumerate(claims):
        y0 = len(claims) - 1 - r
        for j, grp in enumerate(groups):
            yc = y0 + 0.35 - lane * (j + 0.5)
            xs = []
            for part in ("groups", "hollow"):
                vals = np.asarray(rows[claim][part].get(grp, []), dtype=float)
                if not vals.size:
                    continue
                x = np.where(vals == 0, floor, vals)
                if ceil is not None:
                    x = np.where(np.isfinite(x), x, ceil)
                y = yc + rng.uniform(-0.32, 0.32, x.size) * lane
                colour = group_colour(*grp)
                style = dict(s=5, color=colour, alpha=0.55, linewidths=0) if part == "groups" else \
                    dict(s=9, facecolors="none", edgecolors=colour, alpha=0.8, linewidths=0.5)
                ax.scatter(x, y, rasterized=True, label=None, **style,
                           gid=f"{'points' if part == 'groups' else 'uninformative'}|{claim}|{grp[0]}|{grp[1]}")
                xs.append(x)
            if xs:
                ax.plot([np.median(np.concatenate(xs))] * 2, [yc - 0.45 * lane, yc + 0.45 * lane], color="black",
                        lw=1.0, solid_capstyle="butt", zorder=3)
        row = rows[claim]
        # two lines beside the row: the points (and how many are uninformative), then what was left out
        note = f"n = {row['n']}"
        note += f" $\\cdot$ {row['uninformative']} uninformative" if row["uninformative"] else ""
        note += f"\n{row['kinks']} kink{'s' if row['kinks'] != 1 else ''}"
        note += f" $\\cdot$ {row['excluded']} outside assumptions" if row["excluded"] else ""
        ax.annotate(note, xy=(1.0, y0), xycoords=("axes fraction", "data"), xytext=(4, 0),
                    textcoords="offset points", va="center", ha="left", fontsize=fs(6.5), color="0.25",
                    annotation_clip=False)
        if r:
            ax.axhline(y0 + 0.5, color="0.85", lw=0.5, zorder=0)
    ax.axvline(1.0, color="black", lw=0.9, ls="--", zorder=2)
    ax.set_xscale("log")
    left = floor / 3
    right = (ceil * 3) if ceil is not None else 10 ** math.ceil(math.log10(top) + 0.5)
    ax.set_xlim(left, right)
    ax.set_ylim(-0.5, len(claims) - 0.5)
    ax.set_yticks(range(len(claims)))
    ax.set_yticklabels([text(c) for c in reversed(claims)])
    ax.tick_params(axis="y", length=0)
    ax.spines["left"].set_visible(False)
    # the floor (exact zeros) and, if any, the ceiling (non-finite values)
    ax.axvspan(left, floor * 2.2, color="0.93", zorder=0, lw=0)
    if ceil is not None:
        ax.axvspan(ceil / 2.2, right, color="0.93", zorder=0, lw=0)
    decade_ticks(ax, "x", max_ticks=10, low=floor * 5, zero_at=floor, inf_at=ceil)
    ax.set_xlabel(r"gap / bound $=|\mathrm{lhs}-\mathrm{rhs}|\,/\,\mathrm{bound}$" "\n"
                  r"per interior point of each claim's identity sub-checks (the counts on the right are of these)")
    handles = [ax.scatter([], [], s=14, color=group_colour(*g), label=group_label(*g)) for g in groups]
    if any(r["uninformative"] for r in rows.values()):
        handles.append(ax.scatter([], [], s=14, facecolors="none", edgecolors="0.3", linewidths=0.6,
                                  label="uninformative"))
    handles.append(ax.plot([], [], color="black", lw=1.0, label="median")[0])
    handles.append(ax.plot([], [], color="black", lw=0.9, ls="--", label="gap = bound")[0])
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=len(handles),
              frameon=False, handletextpad=0.3, columnspacing=1.2)
    return fig
