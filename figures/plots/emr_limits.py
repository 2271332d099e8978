"""Figure ``emr-limits``: R-EMR (as the official code computes it) against the temperature T.

Claim ``emr-limits``: as T -> infinity, R-EMR -> |J^T 1|^2 / K^2 (the gradient of the mean logit,
which cross-Lipschitz removes); as T -> 0, R-EMR -> |w_yhat|^2 for the predicted class. For up to three
saved examples (from different networks where possible), the saved sweep over T is drawn with both
limits as horizontal lines, and around each limit the band limit +- bound that the checker judged at each
T (the derived truncation bound plus rounding; saved as ``hot_bound`` and ``cold_bound``): the curve
must stay inside a band wherever the band is drawn. A band is clipped to the axes, whose limits are set
by the curve and the limits alone; it is drawn at the T where it leaves part of the axis uncovered, and at
their neighbours (far from its limit a band would cover the whole axis: the bound says nothing there).
"""

from __future__ import annotations

import numpy as np

from ..style import DOUBLE, OKABE_ITO, SINGLE, figure, fs, styled, text
from .sweep_data import finite, prefer_float64, require, select

__all__ = ["fig_emr_limits", "band", "CAPTION", "SUMMARY"]

#: One line for ``--list``: what to see.
SUMMARY = "R-EMR against the temperature T, inside the derived bands around its T->0 and T->oo limits"

#: The figure's caption.
CAPTION = ("R-EMR = |J^T softmax(f/T)|^2 against the temperature T (log axis) for saved examples: it tends to "
           "|w_yhat|^2 of the predicted class as T -> 0 and to |J^T 1|^2/K^2, the mean-logit gradient, as T -> oo "
           "(dashed lines). The shaded bands are each limit +- the bound the checker derived at that T "
           "(|J|_F^2 (e^{range(f)/T} - 1)/sqrt K-type for the hot limit, (K-1) |J|_F^2 e^{-m/T}-type for the cold "
           "one, plus rounding), clipped to the axes and left out where they would cover all of it; R-EMR stays "
           "inside both wherever they are drawn.")

#: (limit key, bound key, colour, gid, label) of the two limits.
_LIMITS = (("cold_limit", "cold_bound", OKABE_ITO["vermillion"], "cold", r"$T\to 0$: $\|w_{\hat y}\|^2$"),
           ("hot_limit", "hot_bound", OKABE_ITO["green"], "hot", r"$T\to\infty$: $\|J^\top \mathbf{1}\|^2/K^2$"))


def _pick(pairs, n=3):
    """Up to n examples, one per network (architecture) first."""
    out, seen = [], set()
    for p in pairs:
        if p[1].arch not in seen:
            out.append(p)
            seen.add(p[1].arch)
        if len(out) == n:
            return out
    for p in pairs:
        if p not in out and len(out) < n:
            out.append(p)
    return out


def _floats(values) -> np.ndarray:
    return np.asarray([np.nan if v is None else v for v in values], dtype=float)


def band(limit: float, bound, ylim: tuple) -> tuple:
    """(lower, upper, drawn) of the band limit +- bound, clipped to ``ylim`` = (bottom, top). ``drawn`` marks
    the grid points where the band is drawn: where it leaves some of the axis uncovered (there the bound says
    something), and their neighbours, so that the band is seen to widen; never where the bound is missing
    or NaN.

    >>> lo, hi, drawn = band(1.0, [float("inf"), 20.0, 0.5, 0.25, None], (0.1, 10.0))
    >>> lo.tolist(), hi.tolist(), drawn.tolist()
    ([0.1, 0.1, 0.5, 0.75, 1.0], [10.0, 10.0, 1.5, 1.25, 1.0], [False, True, True, True, False])
    """
    b = _floats(bound)
    known = ~np.isnan(b)
    bb = np.where(known, b, 0.0)
    lo, hi = np.clip(limit - bb, *ylim), np.clip(limit + bb, *ylim)
    says = known & ~((lo <= ylim[0]) & (hi >= ylim[1]))
    near = says.copy()
    near[1:] |= says[:-1]
    near[:-1] |= says[1:]
    return lo, hi, near & known


def _ylim(values: list, log: bool) -> tuple:
    """Axis limits from the curve and the limits alone (never from the bands)."""
    lo, hi = min(values), max(values)
    if log:
        return lo / 3, hi * 3
    pad = 0.15 * (hi - lo) if hi > lo else 0.15 * max(abs(hi), 1e-300)
    return max(lo - pad, 0.0) if lo >= 0 else lo - pad, hi + pad


@styled
def fig_emr_limits(results: list[dict], examples: int = 3):
    """R-EMR against T with its hot and cold limits and their derived bands, for up to ``examples`` saved
    examples."""
    from matplotlib.legend_handler import HandlerTuple
    from matplotlib.patches import Patch

    pairs = _pick(prefer_float64(require(select(results, claim="emr-limits", kind="measurement",
                                                extra_keys=("T", "emr")), "'emr-limits' temperature-sweep")),
                  examples)
    n = len(pairs)
    fig = figure(SINGLE if n == 1 else DOUBLE, 2.6 if n > 1 else 3.0)
    axes = np.atleast_1d(fig.subplots(1, n))
    handles: dict = {}
    for k, (ax, (rec, g)) in enumerate(zip(axes, pairs)):
        T = np.asarray(g.extra["T"], dtype=float)
        emr = _floats(g.extra["emr"])
        handles["emr"] = ax.plot(T, emr, color=OKABE_ITO["blue"], lw=1.4, marker="o", ms=2, zorder=3,
                                 label=r"$R_{\mathrm{EMR}}(T)$", gid="emr")[0]
        limits = {key: g.extra.get(key) for key, *_ in _LIMITS}
        vals = [v for v in list(emr) + list(limits.values()) if finite(v)]
        log = bool(vals) and min(vals) > 0 and max(vals) / min(vals) > 30
        ax.set_xscale("log")
        if log:
            ax.set_yscale("log")
        ylim = _ylim(vals, log) if vals else None
        for key, bkey, colour, gid, label in _LIMITS:
            lim = limits[key]
            if not finite(lim):
                continue
            line = ax.axhline(lim, color=colour, ls="--", lw=1.0, gid=gid, zorder=2)
            parts = [line]
            if g.extra.get(bkey) is not None and ylim is not None:
                lo, hi, drawn = band(lim, g.extra[bkey], ylim)
                ax.fill_between(T, lo, hi, where=drawn, color=colour, alpha=0.18, lw=0, gid=f"{gid}-band",
                                zorder=1)
                parts.insert(0, Patch(facecolor=colour, alpha=0.18, lw=0))
            handles.setdefault(gid, (tuple(parts), label + (r" $\pm$ bound" if len(parts) > 1 else "")))
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.set_xlim(T.min(), T.max())
        ax.set_xlabel("temperature $T$")
        if k == 0:
            ax.set_ylabel(r"$R_{\mathrm{EMR}} = \|J^\top \mathrm{softmax}(f/T)\|^2$")
        arch = text(str(rec.get("network", {}).get("id", g.arch)))
        sep = "\n" if len(arch) > 24 else ", "       # a long network id would run into the next panel's title
        ax.set_title(f"{arch}{sep}point {g.extra.get('point', 0)}", fontsize=fs(7), loc="left", color="0.3")
    hs = [handles["emr"]] + [handles[gid][0] for gid in ("cold", "hot") if gid in handles]
    labels = [r"$R_{\mathrm{EMR}}(T)$"] + [handles[gid][1] for gid in ("cold", "hot") if gid in handles]
    fig.legend(hs, labels, loc="outside upper center", ncol=len(hs), fontsize=fs(7), frameon=False,
               handler_map={tuple: HandlerTuple(ndivide=1, pad=0)})
    return fig
