"""Figure ``float-error``: the true error of a float Jacobian against its computed error bound.

Float weights are exact dyadic rationals, so the exact engine gives the exact J of the very network
that was evaluated in float (claim ``local-affine``, check "float J vs exact J"). Each entry of J is
one dot: its true error |J_float - J_exact| against the rounding-error bound computed beside it,
log-log, one colour per (dtype, device). The bound holds where every dot lies below the diagonal.
Errors that are exactly 0 sit at a floor marked 0.
"""

from __future__ import annotations

import math

import numpy as np

from ..style import SINGLE, figure, fs, group_colour, styled
from .sweep_data import decade_ticks, group_key, group_label, interior, log_floor, require, select

__all__ = ["fig_float_error", "CAPTION", "SUMMARY"]

#: One line for ``--list``: what to see.
SUMMARY = "true error of float Jacobian entries against their computed bound: all below the diagonal"

#: The figure's caption.
CAPTION = ("True error of every float Jacobian entry, |J_float - J_exact| (exact J of the same float weights), "
           "against the computed rounding-error bound, log-log, by dtype and device: all dots below the diagonal "
           "means the bound holds; exact zeros at the floor.")

CHECK_HINT = "float J vs exact J"


def _pairs(results):
    pairs = select(results, claim="local-affine", kind="identity", check=CHECK_HINT)
    if not pairs:   # another wording of the same check
        pairs = [p for p in select(results, claim="local-affine", kind="identity") if "exact" in p[1].check]
    return require(pairs, "'local-affine' float-J-vs-exact-J")


def _entries(ax):
    return [c for c in ax.collections if (c.get_gid() or "").startswith("entries|")]


@styled
def fig_float_error(results: list[dict]):
    """|J_float - J_exact| against its bound, per entry, log-log."""
    pairs = _pairs(results)
    data: dict = {}
    for _, g in pairs:
        err, bound = g.abs_err, g.bound
        d = data.setdefault((g.dtype, g.device), ([], []))
        for i in interior(g):
            d[0].append(bound[i])
            d[1].append(err[i])
    errs = [e for d in data.values() for e in d[1]]
    bounds = [b for d in data.values() for b in d[0]]
    pos_b = [v for v in bounds if v > 0 and math.isfinite(v)]
    pos_e = [v for v in errs if v > 0 and math.isfinite(v)]
    x_floor = log_floor(pos_b, 1e-20)              # where a zero bound is drawn
    y_floor = log_floor(pos_e, x_floor)            # where a zero error is drawn
    hi = 10 ** math.ceil(math.log10(max(pos_b + pos_e))) if pos_b + pos_e else 1.0
    fig = figure(SINGLE, 3.0)
    ax = fig.subplots()
    for grp in sorted(data, key=lambda k: group_key(*k)):
        b = np.asarray(data[grp][0], dtype=float)
        e = np.asarray(data[grp][1], dtype=float)
        above = int(np.sum(~(e <= b)))
        ax.scatter(np.where(b > 0, b, x_floor), np.where(e > 0, e, y_floor), s=4, color=group_colour(*grp),
                   alpha=0.5, linewidths=0, rasterized=True, gid=f"entries|{grp[0]}|{grp[1]}",
                   label=f"{group_label(*grp)}: {e.size} entries, {above} above")
    lo = min(x_floor, y_floor)
    ax.plot([lo, hi * 2], [lo, hi * 2], color="black", lw=0.8, ls="--", gid="diagonal", label="error = bound")
    ax.axhspan(y_floor / 3, y_floor * 2.2, color="0.93", zorder=0, lw=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    x_lo = min(pos_b) if pos_b else x_floor
    ax.set_xlim((x_floor if any(b <= 0 for b in bounds) else x_lo) / 2, hi * 2)
    ax.set_ylim(y_floor / 3, hi * 2)
    decade_ticks(ax, "y", low=y_floor * 5, zero_at=y_floor)
    decade_ticks(ax, "x")
    ax.set_xlabel(r"computed bound on $|J_{\mathrm{float}} - J_{\mathrm{exact}}|$ (per entry)")
    ax.set_ylabel(r"true error $|J_{\mathrm{float}} - J_{\mathrm{exact}}|$")
    ax.legend(loc="upper left", fontsize=fs(6.5), markerscale=2.5, handletextpad=0.2)
    return fig
