"""Figure ``emr-limits``: R-EMR (as the official code computes it) against the temperature T.

Claim ``emr-limits``: as T -> infinity, R-EMR -> |J^T 1|^2 / K^2 (the gradient of the mean logit,
which cross-Lipschitz removes); as T -> 0, R-EMR -> |w_yhat|^2 for the predicted class. For up to three
saved examples (from different networks where possible), the saved sweep over T is drawn with both
limits as horizontal lines.
"""

from __future__ import annotations

import numpy as np

from ..style import DOUBLE, OKABE_ITO, SINGLE, figure, styled, text
from ._data import finite, prefer_float64, require, select

__all__ = ["fig_emr_limits", "CAPTION", "SUMMARY"]

#: One line for ``--list``: what to see.
SUMMARY = "R-EMR against the temperature T, reaching its T->0 and T->oo limits"

CAPTION = ("R-EMR = |J^T softmax(f/T)|^2 against the temperature T (log axis) for saved examples: it tends to "
           "|w_yhat|^2 of the predicted class as T -> 0 and to |J^T 1|^2/K^2, the mean-logit gradient, as T -> oo "
           "(dashed lines).")


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


@styled
def fig_emr_limits(results: list[dict], examples: int = 3):
    """R-EMR against T with its hot and cold limits, for up to ``examples`` saved examples."""
    pairs = _pick(prefer_float64(require(select(results, claim="emr-limits", kind="measurement",
                                                extra_keys=("T", "emr")), "'emr-limits' temperature-sweep")),
                  examples)
    n = len(pairs)
    fig = figure(SINGLE if n == 1 else DOUBLE, 2.5 if n > 1 else 2.9)
    axes = np.atleast_1d(fig.subplots(1, n))
    for k, (ax, (rec, g)) in enumerate(zip(axes, pairs)):
        T = np.asarray(g.extra["T"], dtype=float)
        emr = np.asarray([np.nan if v is None else v for v in g.extra["emr"]], dtype=float)
        ax.plot(T, emr, color=OKABE_ITO["blue"], lw=1.4, marker="o", ms=2, label=r"$R_{\mathrm{EMR}}(T)$",
                gid="emr")
        hot, cold = g.extra.get("hot_limit"), g.extra.get("cold_limit")
        if finite(cold):
            ax.axhline(cold, color=OKABE_ITO["vermillion"], ls="--", lw=1.0, gid="cold",
                       label=r"$T\to 0$: $\|w_{\hat y}\|^2$")
        if finite(hot):
            ax.axhline(hot, color=OKABE_ITO["green"], ls="--", lw=1.0, gid="hot",
                       label=r"$T\to\infty$: $\|J^\top \mathbf{1}\|^2/K^2$")
        ax.set_xscale("log")
        vals = [v for v in list(emr) + [hot, cold] if finite(v)]
        if vals and min(vals) > 0 and max(vals) / min(vals) > 30:
            ax.set_yscale("log")
        ax.set_xlabel("temperature $T$")
        if k == 0:
            ax.set_ylabel(r"$R_{\mathrm{EMR}} = \|J^\top \mathrm{softmax}(f/T)\|^2$")
        arch = text(str(rec.get("network", {}).get("id", g.arch)))
        ax.set_title(f"{arch}, point {g.extra.get('point', 0)}", fontsize=7, loc="left", color="0.3")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncol=len(handles), fontsize=7, frameon=False)
    return fig
