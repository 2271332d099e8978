"""Figure ``confident-limit``: scaling the logits by c at a correctly classified point.

Claim ``confident-limit``: as c grows, the loss-based regularizers (R-IG, tr H, small-h R-CURE) go to
0 exponentially in c, while the logit-based ones (R-JAC, R-CL) grow as c^2. Each saved scale sweep
is drawn as lines on log-log axes, one colour per regularizer, with a c^2 reference line. Values
that underflowed to 0 are not drawn (a log axis has no 0).
"""

from __future__ import annotations

import numpy as np

from ..style import SINGLE, figure, fs, styled
from .sweep_data import SERIES_LABELS, decade_ticks, prefer_float64, require, select

__all__ = ["fig_confident_limit", "CAPTION", "SUMMARY", "SERIES_ORDER"]

#: One line for ``--list``: what to see.
SUMMARY = "regularizers against the logit scale c: R-IG, tr H, R-CURE vanish; R-JAC, R-CL grow as c^2"

#: The figure's caption.
CAPTION = ("Scaling the logits by c at a correctly classified point: the loss-based regularizers R-IG, tr H and "
           "R-CURE vanish exponentially while R-JAC and R-CL grow as c^2 (dashed reference), so the loss-based "
           "ones can be satisfied by inflating the logit scale.")

#: The order in which the regularizers' curves are drawn and listed.
SERIES_ORDER = ("R-JAC", "R-CL", "R-IG", "trH", "R-CURE")
_STYLE = {"R-JAC": ("#0072B2", "-"), "R-CL": ("#CC79A7", "--"), "R-IG": ("#D55E00", "-"),
          "trH": ("#E69F00", "--"), "R-CURE": ("#009E73", "-.")}


def positive(values) -> np.ndarray:
    """The values as floats, with non-positive or non-finite ones replaced by NaN (not drawn on log axes)."""
    v = np.array([np.nan if x is None else x for x in values], dtype=float)
    return np.where(np.isfinite(v) & (v > 0), v, np.nan)


#: The two panels: the logit-based regularizers (grow as c^2) and the loss-based ones (vanish).
GROWING = ("R-JAC", "R-CL")


@styled
def fig_confident_limit(results: list[dict]):
    """Every saved scale sweep: the regularizers against the logit scale c, log-log, in two panels
    (logit-based above, with the c^2 reference; loss-based below)."""
    pairs = prefer_float64(require(select(results, claim="confident-limit", kind="measurement",
                                          extra_keys=("c", "series")), "'confident-limit' scale-sweep"))
    fig = figure(SINGLE, 4.0)
    ax_up, ax_down = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1.25]})
    names = [n for n in SERIES_ORDER if any(n in g.extra["series"] for _, g in pairs)]
    names += sorted({n for _, g in pairs for n in g.extra["series"]} - set(names))
    alpha = 0.9 if len(pairs) <= 3 else max(0.25, 1.5 / len(pairs))
    for _, g in pairs:
        c = np.asarray(g.extra["c"], dtype=float)
        for name in names:
            if name not in g.extra["series"]:
                continue
            col, ls = _STYLE.get(name, (None, "-"))
            ax = ax_up if name in GROWING else ax_down
            ax.plot(c, positive(g.extra["series"][name]), color=col, ls=ls, lw=1.1, alpha=alpha,
                    gid=f"series|{name}|{g.arch}|{g.extra.get('point', '')}")
    # the c^2 reference, a factor 4 above the first R-JAC sweep at its smallest c
    ref = next((g for _, g in pairs if "R-JAC" in g.extra["series"]), None)
    if ref is not None:
        c = np.asarray(ref.extra["c"], dtype=float)
        y = positive(ref.extra["series"]["R-JAC"])
        if np.isfinite(y).any():
            k = int(np.flatnonzero(np.isfinite(y))[0])
            line = y[k] * (c / c[k]) ** 2 * 4.0
            ax_up.plot(c, line, color="black", lw=0.8, ls=(0, (4, 3)), gid="reference")
    for ax, title in ((ax_up, "(a) logit-based: grow as $c^2$"), (ax_down, "(b) loss-based: vanish as $c \\to \\infty$")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylabel("value")
        ax.set_title(title, loc="left")
        shown = [n for n in names if (n in GROWING) == (ax is ax_up)]
        handles = [ax.plot([], [], color=_STYLE.get(n, (None,))[0], ls=_STYLE.get(n, (None, "-"))[1],
                           label=SERIES_LABELS.get(n, n))[0] for n in shown]
        if ax is ax_up and ref is not None:
            handles.append(ax.plot([], [], color="black", lw=0.8, ls=(0, (4, 3)), label="$c^2$ reference")[0])
        ax.legend(handles=handles, loc="upper left" if ax is ax_up else "lower left", fontsize=fs(6.5),
                  handlelength=2.2)
    for ax in (ax_up, ax_down):
        decade_ticks(ax, "y", max_ticks=6)
    ax_down.set_xlabel(r"logit scale $c$   ($f \to c\,f$)")
    n = len(pairs)
    ax_up.text(0.98, 0.04, f"{n} point{'s' if n != 1 else ''}, each swept over $c$\n"
                           f"{', '.join(sorted({g.dtype for _, g in pairs}))}",
               transform=ax_up.transAxes, ha="right", va="bottom", fontsize=fs(6.5), color="0.35")
    return fig
