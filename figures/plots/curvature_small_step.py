"""Figure ``curvature-small-step`` (headline): when is CURE a curvature penalty?

Claim ``curvature-small-step``: R-CURE = h^2 |H z|^2 + O(h^3) while x + h z stays in the region of x;
claim ``curvature-region-crossing``: once the step leaves the region, a pattern-change term appears.
Three panels over the step size h (log axis, shared):

(a) the median and interquartile range of R-CURE / (h^2 |H z|^2) over all points, per dtype; near 1
    the second-order term explains CURE, and the dotted line keeps only the points whose region did
    not change;
(b) the fraction of points whose region changed, the mean share of R-CURE due to the pattern change,
    and the empirical distribution function of the exact exit time t* (the fraction should follow it);
(c) the distribution of the exact exit times t*(x, z), with a rug.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from matplotlib.ticker import MaxNLocator

from ..style import OKABE_ITO, SINGLE, figure, group_colour, styled
from .sweep_data import finite, group_key, group_label, interior, prefer_float64, require, select

__all__ = ["fig_curvature_small_step", "CAPTION", "SUMMARY"]

#: One line for ``--list``: what to see.
SUMMARY = "R-CURE/(h^2|Hz|^2) against h: near 1 only while x+hz stays in the region; crossings take over"

#: The figure's caption.
CAPTION = ("CURE against its second-order term as the step h grows: (a) median and IQR of "
           "R-CURE / (h^2 |Hz|^2), which stays near 1 only while x + hz stays in the region of x; "
           "(b) the fraction of points whose region changed and the share of R-CURE due to the pattern change; "
           "(c) the exact exit times t*, where that change begins.")


def _ratio_stats(pairs):
    """Per (dtype, device) and h: quantiles of lhs / rhs over the points off kinks (all / unchanged)."""
    data = defaultdict(lambda: defaultdict(lambda: ([], [])))
    for _, g in pairs:
        h = float(g.extra["h"])
        kinks = g.on_kink or [False] * g.n_points
        changed = g.pattern_changed or [False] * g.n_points
        bucket = data[(g.dtype, g.device)][h]
        for a, b, k, c in zip(g.lhs, g.rhs, kinks, changed):
            if k or not (b > 0) or not math.isfinite(a):
                continue
            bucket[0].append(a / b)
            if not c:
                bucket[1].append(a / b)
    return data


@styled
def fig_curvature_small_step(results: list[dict]):
    """R-CURE / (h^2 |Hz|^2), the region-crossing share, and the exit times, against the step h."""
    small = require(select(results, claim="curvature-small-step", kind="measurement", extra_keys=("h",)),
                    "'curvature-small-step' measurement")
    cross = select(results, claim="curvature-region-crossing", kind="measurement", extra_keys=("h",))

    fig = figure(SINGLE, 4.6)
    axes = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [1.35, 1.0, 0.62]})
    ax_a, ax_b, ax_c = axes

    # (a) the ratio
    stats = _ratio_stats(small)
    hs_all = sorted({float(g.extra["h"]) for _, g in small})
    for grp in sorted(stats, key=lambda k: group_key(*k)):
        hs = sorted(stats[grp])
        col = group_colour(*grp)
        q = np.array([np.quantile(stats[grp][h][0], [0.25, 0.5, 0.75]) if stats[grp][h][0] else [np.nan] * 3
                      for h in hs])
        ax_a.fill_between(hs, q[:, 0], q[:, 2], color=col, alpha=0.2, lw=0)
        ax_a.plot(hs, q[:, 1], color=col, marker="o", ms=2.5, label=group_label(*grp), gid=f"ratio|{grp[0]}|{grp[1]}")
        med_in = [np.median(stats[grp][h][1]) if stats[grp][h][1] else np.nan for h in hs]
        ax_a.plot(hs, med_in, color=col, ls=":", lw=1.0)
    ax_a.axhline(1.0, color="black", lw=0.7, ls="--", zorder=0)
    ax_a.set_yscale("log")
    ax_a.set_ylabel(r"$R_{\mathrm{CURE}}\,/\,h^2\|Hz\|^2$")
    handles, labels = ax_a.get_legend_handles_labels()
    handles.append(ax_a.plot([], [], color="0.3", ls=":", lw=1.0)[0])
    labels.append("median, region unchanged")
    ax_a.legend(handles, labels, loc="upper left", fontsize=6.5)
    ax_a.set_title("(a) CURE against its second-order term", loc="left")

    # (b) region changes and the share of CURE they cause
    exits = []
    if cross:
        pairs = prefer_float64(cross)
        frac, share = defaultdict(list), defaultdict(list)
        seen = set()
        for rec, g in pairs:
            h = float(g.extra["h"])
            idx = interior(g)    # points on a kink change region at every h: they are not shown
            changed = g.pattern_changed or [False] * g.n_points
            frac[h].extend(bool(changed[i]) for i in idx)
            sh = g.extra.get("share", [])
            share[h].extend(float(sh[i]) for i in idx if i < len(sh) and finite(sh[i]))
            key = (str(rec.get("network", {}).get("id")), g.dtype, g.device, g.seed)
            if key not in seen and "exit_time" in g.extra:
                seen.add(key)
                ex = g.extra["exit_time"]
                exits.extend(float(ex[i]) if ex[i] is not None else math.inf for i in idx if i < len(ex))
        hs = sorted(frac)
        ax_b.plot(hs, [np.mean(frac[h]) if frac[h] else np.nan for h in hs], color=OKABE_ITO["vermillion"],
                  marker="o", ms=2.5, label="points whose region changed", gid="changed")
        hs2 = sorted(share)
        ax_b.plot(hs2, [np.mean(share[h]) for h in hs2], color=OKABE_ITO["blue"], marker="s", ms=2.5,
                  label="mean share of $R_{\\mathrm{CURE}}$ from the change", gid="share")
        fin = np.sort([t for t in exits if math.isfinite(t) and t > 0])
        if fin.size:
            n = len(exits)
            grid = np.concatenate([[min(hs_all) / 10], fin, [max(hs_all) * 10]])
            ax_b.step(grid, np.searchsorted(fin, grid, side="right") / n, where="post", color="0.4", lw=0.8,
                      ls="--", label=r"fraction with $t^* \leq h$", gid="ecdf")
        dtypes = sorted({g.dtype for _, g in pairs})
        ax_b.set_title(f"(b) region changes, points off kinks ({', '.join(dtypes)})", loc="left")
    else:
        ax_b.text(0.5, 0.5, "no 'curvature-region-crossing' records", transform=ax_b.transAxes, ha="center",
                  va="center", color="0.4")
        ax_b.set_title("(b) region changes", loc="left")
    ax_b.set_ylim(-0.03, 1.03)
    ax_b.set_ylabel("fraction")
    ax_b.legend(loc="upper left", fontsize=6.5)

    # (c) exit times
    lo, hi = min(hs_all) / 2, max(hs_all) * 2
    fin = np.array([t for t in exits if math.isfinite(t) and t > 0])
    if fin.size:
        inside = fin[(fin >= lo) & (fin <= hi)]
        bins = np.logspace(math.log10(lo), math.log10(hi), 31)
        counts, _, _ = ax_c.hist(inside, bins=bins, color=OKABE_ITO["green"], alpha=0.75, lw=0, gid="exit-hist")
        ax_c.set_ylim(0, max(1.0, float(np.max(counts)) * 1.3))   # headroom for the note
        ax_c.plot(inside, np.zeros_like(inside), "|", color="black", ms=5, mew=0.5, alpha=0.6, gid="exit-rug",
                  clip_on=False)
        outside = [int((fin < lo).sum()), int((fin > hi).sum()), sum(1 for t in exits if not math.isfinite(t))]
        notes = [f"{outside[0]} below", f"{outside[1]} above",
                 f"{outside[2]} never exit{'s' if outside[2] == 1 else ''}"]
        notes = [n for n, k in zip(notes, outside) if k]
        if notes:
            notes[0] = f"outside the axis: {notes[0]}"
            ax_c.text(0.01, 0.95, ", ".join(notes), transform=ax_c.transAxes, ha="left", va="top", fontsize=6.5,
                      color="0.3")
    else:
        ax_c.text(0.5, 0.5, "no exit times recorded", transform=ax_c.transAxes, ha="center", va="center",
                  color="0.4")
    ax_c.set_ylabel("points")
    ax_c.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=3))
    ax_c.set_title(r"(c) exact exit times $t^*(x, z)$", loc="left")
    ax_c.set_xscale("log")
    ax_c.set_xlim(lo, hi)
    ax_c.set_xlabel(r"step size $h$  (and exit time $t^*$)")
    return fig
