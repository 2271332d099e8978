"""Figure ``gram-unification``: every regularizer is <G, M> for a K x K weighting matrix M.

For one saved example: the Gram matrix G = J J^T and the weighting matrix M of every regularizer as
heatmaps side by side (diverging colours centred at 0, each panel scaled to its largest entry), each
titled with <G, M> and the regularizer's value by its definition, which the claim says are equal.
"""

from __future__ import annotations

import math

import numpy as np

from ..style import DIVERGING, DOUBLE, figure, fs, styled, text
from .sweep_data import M_LABELS, prefer_float64, require, select

__all__ = ["fig_gram_unification", "CAPTION", "SUMMARY", "ORDER"]

#: One line for ``--list``: what to see.
SUMMARY = "G = J J^T and each regularizer's weighting matrix M; <G, M> against the definition"

#: The figure's caption.
CAPTION = ("For one example, the Gram matrix G = J J^T and the K x K weighting matrix M of every regularizer "
           "(each panel scaled to its largest |entry|, diverging colours centred at 0); every regularizer equals "
           "<G, M>, and each title compares <G, M> with the value by the regularizer's definition.")

#: The order of the weighting matrices' panels.
ORDER = ("R-JAC", "R-CL", "R-IG", "trH", "R-EMR", "softmax-jacobian", "R-CURE")


def _fmt(v) -> str:
    if v is None or not isinstance(v, (int, float)) or not math.isfinite(v):
        return "n/a"
    return f"{v:.4g}"


@styled
def fig_gram_unification(results: list[dict], example: int = 0):
    """G and every M of one example (the ``example``-th saved one, float64 preferred) as heatmaps."""
    pairs = prefer_float64(require(select(results, claim="gram-unification", kind="measurement",
                                          extra_keys=("G", "M")), "'gram-unification' matrices"))
    rec, g = pairs[min(example, len(pairs) - 1)]
    G = np.asarray(g.extra["G"], dtype=float)
    Ms = g.extra["M"]
    names = [n for n in ORDER if n in Ms] + sorted(set(Ms) - set(ORDER), key=str)
    inner, definition = g.extra.get("inner", {}), g.extra.get("definition", {})
    panels = [("G", G)] + [(n, np.asarray(Ms[n], dtype=float)) for n in names]
    ncol = min(4, len(panels))
    nrow = math.ceil(len(panels) / ncol)
    fig = figure(DOUBLE, 0.25 + 2.1 * nrow)
    axes = np.atleast_1d(fig.subplots(nrow, ncol)).ravel()
    K = G.shape[0]
    im = None
    for i, (ax, (name, M)) in enumerate(zip(axes, panels)):
        scale = float(np.max(np.abs(M))) if M.size else 0.0
        shown = M / scale if scale > 0 else M
        im = ax.imshow(shown, cmap=DIVERGING, vmin=-1, vmax=1, interpolation="nearest", gid=f"matrix|{name}")
        ax.set_xticks([])
        ax.set_yticks(range(K) if i % ncol == 0 else [])
        ax.set_yticklabels([str(k + 1) for k in range(K)] if i % ncol == 0 else [], fontsize=fs(6))
        ax.tick_params(length=0, pad=1)
        for sp in ax.spines.values():
            sp.set_visible(False)
        if name == "G":
            ax.set_title(r"$G = J J^\top$" + "\n(Gram matrix of\nthe logit gradients)", fontsize=fs(6.5))
        else:                                   # three short lines: the panels are a quarter of a page wide
            reg, mdef = M_LABELS.get(name, (text(name), ""))
            ax.set_title(f"{reg}:  {mdef}\n" + r"$\langle G, M\rangle$ = " + _fmt(inner.get(name))
                         + f"\ndefinition: {_fmt(definition.get(name))}", fontsize=fs(6.5))
        ax.text(0.5, -0.03, text("max |entry| = ") + f"{scale:.3g}", transform=ax.transAxes, ha="center", va="top",
                fontsize=fs(6), color="0.35")
    spare = list(axes[len(panels):])
    for ax in spare:
        ax.axis("off")
    if im is not None:
        if spare:  # the colour bar in the first empty slot
            cax = spare[0].inset_axes([0.1, 0.12, 0.08, 0.76])
            cb = fig.colorbar(im, cax=cax)
        else:
            cb = fig.colorbar(im, ax=list(axes), shrink=0.7, aspect=30, pad=0.01)
        cb.set_label(text("entry / max |entry|"), fontsize=fs(6.5))
        cb.ax.tick_params(labelsize=6)
    arch = text(str(rec.get("network", {}).get("id", g.arch)))
    fig.suptitle(f"one example (point {g.extra.get('point', 0)}, {arch}, {g.dtype}, K = {K})", fontsize=fs(7),
                 color="0.3", x=0.01, ha="left")
    return fig
