"""Figure ``trained-crossing``: the region-crossing share of R-CURE on trained networks beside random ones.

Claim ``curvature-region-crossing`` says that at the step sizes CURE trains with (h of 1 to 3) the
pattern-change term dominates R-CURE. The sweep measures it on random networks; ``python -m verify
--trained`` measures it on the training lab's networks, at their own data. z has unit l2 norm, so the
step moves each of the D inputs by h / sqrt(D) (root mean square): the x axis is that per-input step, so
that data sets and random networks of different D compare.

(a) the mean share of R-CURE due to the pattern change, over the points off kinks: the sweep's random
    networks (grey, binned by per-input step over every network), each data set's networks at epoch 0
    (dashed: the same weights every objective starts from) and after training (solid, pooled over the
    lab's objectives); the shaded span of each data set is where h runs from 1 to 3;
(b) the fraction of those points whose activation region changed between x and x + h z.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from ..style import NEUTRAL, SINGLE, figure, fs, styled
from .sweep_data import NoDataError

__all__ = ["fig_trained_crossing", "CAPTION", "SUMMARY", "cure_range_share"]

#: The one-line summary ``python -m figures --list`` prints.
SUMMARY = "share of R-CURE from the pattern change against the per-input step h/sqrt(D): trained vs random networks"

#: The figure's caption.
CAPTION = ("The share of R-CURE due to the activation-pattern change against the per-input step h/sqrt(D): the "
           "sweep's random networks, and the training lab's networks at epoch 0 and after training, on their own "
           "data (python -m verify --trained). Shaded: h from 1 to 3, where the claim says the pattern-change "
           "term dominates. (b) the fraction of points whose region changed.")

#: The lab's networks are pooled over the objectives: black and greys (the colours of the lab figures are the
#: objectives', figures.style.OBJECTIVE_COLOURS), a data set told apart by its marker.
_DATA_COLOURS = [NEUTRAL["black"], NEUTRAL["dark grey"]]
_DATA_MARKERS = ["o", "s", "^", "D", "v", "P"]


def _sweep_points(records):
    """(per-input step, share, changed) per network and h of the sweep's (random) records."""
    from verify.results.summary import crossing_by_h

    out = []
    for rec in records:
        shape = rec.get("network", {}).get("in_shape")
        if not shape:
            continue
        D = math.prod(shape)
        curve = crossing_by_h([rec])
        for h, v in curve.items():
            if isinstance(h, float) and v["n"]:
                out.append((h / math.sqrt(D), v["share"], v["changed"]))
    return out


def _binned(points, index):
    """Mean of column ``index`` of ``points`` in half-decade bins of the per-input step."""
    bins = defaultdict(list)
    for p in points:
        if p[index] is not None and math.isfinite(p[index]):
            bins[round(2 * math.log10(p[0]))].append(p[index])
    ks = sorted(bins)
    return [10 ** (k / 2) for k in ks], [float(np.mean(bins[k])) for k in ks]


def cure_range_share(curve: dict) -> float | None:
    """The mean share of R-CURE from the pattern change over the grid steps with 1 <= h <= 3 of a curve of
    :func:`verify.jobs.trained.crossing_curves` (None when none of them has a share)."""
    vals = [s for h, s in zip(curve["h"], curve["share"]) if 1.0 <= h <= 3.0 and s is not None]
    return float(np.mean(vals)) if vals else None


def _pooled(curves):
    """Pool the curves of one data set and stage (over the objectives), weighting by points."""
    hs = curves[0]["h"]
    out = dict(curves[0], role="pooled")
    for key in ("share", "changed"):
        vals = []
        for i in range(len(hs)):
            num = sum(c[key][i] * c["points"] for c in curves if c[key][i] is not None)
            den = sum(c["points"] for c in curves if c[key][i] is not None)
            vals.append(num / den if den else None)
        out[key] = vals
    out["points"] = sum(c["points"] for c in curves)
    return out


@styled
def fig_trained_crossing(results: list[dict]):
    """The pattern-change share of R-CURE and the region-change fraction against h/sqrt(D)."""
    from verify.jobs.trained import crossing_curves

    trained = [r for r in results if r.get("network", {}).get("trained")]
    random = [r for r in results if not r.get("network", {}).get("trained")]
    curves = crossing_curves(trained)
    if not curves:
        raise NoDataError("the results hold no 'curvature-region-crossing' records of trained networks "
                          "(run python -m verify --trained and pass its results file)")
    fig = figure(SINGLE, 3.7)
    ax_a, ax_b = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1.3, 1.0]})
    pts = _sweep_points(random)
    if pts:
        for ax, col in ((ax_a, 1), (ax_b, 2)):
            x, y = _binned(pts, col)
            ax.plot(x, y, color=NEUTRAL["light grey"], lw=2.0, label="random networks (sweep)", gid=f"sweep|{col}")
    datasets = list(dict.fromkeys(c["data"] for c in curves))
    for j, data in enumerate(datasets):
        colour = _DATA_COLOURS[j % len(_DATA_COLOURS)]
        D = next(c["D"] for c in curves if c["data"] == data)
        lo, hi = 1 / math.sqrt(D), 3 / math.sqrt(D)
        for ax in (ax_a, ax_b):
            ax.axvspan(lo, hi, color=NEUTRAL["grey"], alpha=0.12, lw=0)
        for stage, ls in (("initial", "--"), ("trained", "-")):
            cs = [c for c in curves if c["data"] == data and c["stage"] == stage]
            if not cs:
                continue
            c = _pooled(cs)
            at = cure_range_share(c)
            what = "epoch 0" if stage == "initial" else f"trained ({len(cs)} objectives)"
            label = f"{data}, {what}" + (f": {at:.2f} at h = 1-3" if at is not None else "")
            for ax, key in ((ax_a, "share"), (ax_b, "changed")):
                xs = [x for x, v in zip(c["per_input"], c[key]) if v is not None]
                ys = [v for v in c[key] if v is not None]
                ax.plot(xs, ys, color=colour, ls=ls, marker=_DATA_MARKERS[j % len(_DATA_MARKERS)] if stage == "trained"
                        else None, ms=2.2,
                        label=label if ax is ax_a else None, gid=f"{data}|{stage}|{key}")
    ax_a.axhline(0.5, color="black", lw=0.6, ls=":", zorder=0)
    ax_a.set_ylim(-0.03, 1.03)
    ax_b.set_ylim(-0.03, 1.03)
    ax_a.set_ylabel("share of $R_{\\mathrm{CURE}}$\nfrom the pattern change")
    ax_b.set_ylabel("region changed")
    ax_a.set_title("(a) the pattern-change share (dotted: one half)", loc="left")
    ax_b.set_title("(b) points whose region changed", loc="left")
    ax_b.set_xscale("log")
    ax_b.set_xlabel(r"per-input step $h/\sqrt{D}$")
    ax_a.legend(loc="upper left", fontsize=fs(5.8))
    return fig
