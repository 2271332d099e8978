"""Selecting saved values from results records; no claim is computed here.

A results record (see :func:`verify.results.records.read_results`) is ``{"schema", "run", "network", "gaps"}``
with ``gaps`` a list of :class:`verify.results.gap.Gap`. The figures only select values from these and
summarise them for display (counts, quantiles).

>>> from verify.results.gap import Gap
>>> g = Gap("input-gradient", "c", "identity", [1, 2, 3], [1, 2, 3], [1, 1, 1], "float64", "cpu", 0, "a",
...         on_kink=[False, True, False], excluded=[False, False, True])
>>> interior(g)
[0]
>>> select([{"gaps": [g]}], claim="input-gradient") == [({"gaps": [g]}, g)]
True
"""

from __future__ import annotations

import math
from typing import Iterable

from figures.errors import NoDataError

__all__ = ["NoDataError", "select", "require", "interior", "group_label", "group_key", "order_claims", "finite", "log_floor",
           "SERIES_LABELS", "M_LABELS", "prefer_float64", "decade_ticks"]


def select(results: Iterable[dict], claim: str | None = None, check: str | None = None,
           kind: str | None = None, extra_keys: tuple = ()) -> list[tuple[dict, object]]:
    """(record, gap) for every gap of the given claim / check / kind that carries the given extra keys."""
    out = []
    for rec in results:
        for g in rec.get("gaps", []):
            if claim is not None and g.claim != claim:
                continue
            if check is not None and g.check != check:
                continue
            if kind is not None and g.kind != kind:
                continue
            if any(k not in (g.extra or {}) for k in extra_keys):
                continue
            out.append((rec, g))
    return out


def require(pairs: list, what: str) -> list:
    """``pairs`` unless empty; empty raises :class:`NoDataError` naming what is missing."""
    if not pairs:
        raise NoDataError(f"the results hold no {what} records")
    return pairs


def interior(g) -> list[int]:
    """The points where the claim's assumptions hold: not on a kink and not excluded."""
    kinks = g.on_kink or [False] * g.n_points
    out = g.excluded or [False] * g.n_points
    return [i for i in range(g.n_points) if not kinks[i] and not out[i]]


def group_label(dtype: str, device: str) -> str:
    """The legend label of a dtype and device, e.g. ``float32, CPU``."""
    return f"{dtype}, {'GPU' if device == 'cuda' else device.upper()}"


def group_key(dtype: str, device: str) -> tuple:
    """Sort order of (dtype, device) groups: float64 before float32, CPU before GPU."""
    return ({"float64": 0, "float32": 1}.get(dtype, 2), dtype, {"cpu": 0, "cuda": 1}.get(device, 2), device)


def order_claims(ids: Iterable[str]) -> list[str]:
    """Claim ids in the order of the claim registry (SPEC.md), unknown ids last, sorted."""
    from theory.claims import CLAIMS

    rank = {c: i for i, c in enumerate(CLAIMS)}
    return sorted(set(ids), key=lambda c: (rank.get(c, len(rank)), c))


def finite(v) -> bool:
    """Whether ``v`` is a finite number (not None, NaN or an infinity)."""
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def log_floor(values: Iterable[float], default: float = 1e-3) -> float:
    """A power of ten at least one decade below the smallest positive finite value: where zeros are drawn
    on a log axis."""
    pos = [v for v in values if finite(v) and v > 0]
    if not pos:
        return default
    return 10.0 ** (math.floor(math.log10(min(pos))) - 1)


def prefer_float64(pairs: list) -> list:
    """The float64 gaps of ``pairs`` if there are any, else all of them."""
    f64 = [p for p in pairs if p[1].dtype == "float64"]
    return f64 or pairs


#: Mathtext labels of the regularizers and related quantities (SPEC.md notation).
SERIES_LABELS = {
    "R-IG": r"$R_{\mathrm{IG}} = \|\nabla_x L\|^2$",
    "trH": r"$\mathrm{tr}\,\nabla_x^2 L$",
    "tr H": r"$\mathrm{tr}\,\nabla_x^2 L$",
    "R-CURE": r"$R_{\mathrm{CURE}}$ (small $h$)",
    "R-JAC": r"$R_{\mathrm{JAC}} = \|J\|_F^2$",
    "R-CL": r"$R_{\mathrm{CL}}$ (cross-Lipschitz)",
    "R-EMR": r"$R_{\mathrm{EMR}}$",
}

#: Short mathtext names of the weighting matrices M of claim ``gram-unification``.
M_LABELS = {
    "R-JAC": (r"$R_{\mathrm{JAC}}$", r"$M = I$"),
    "R-CL": (r"$R_{\mathrm{CL}}$", r"$M = 2K\,C$"),
    "R-IG": (r"$R_{\mathrm{IG}}$", r"$M = (p-e)(p-e)^\top$"),
    "trH": (r"$\mathrm{tr}\,H$", r"$M = S$"),
    "tr H": (r"$\mathrm{tr}\,H$", r"$M = S$"),
    "R-EMR": (r"$R_{\mathrm{EMR}}$", r"$M = \tilde p\,\tilde p^\top$"),
    "softmax-jacobian": (r"$\|\partial p/\partial x\|_F^2$", r"$M = S^2$"),
    "softmax-Jacobian": (r"$\|\partial p/\partial x\|_F^2$", r"$M = S^2$"),
    "R-CURE": (r"$R_{\mathrm{CURE}}/h^2$", r"$M = S J z z^\top J^\top S$"),
    "R-CURE/h^2 (h->0)": (r"$R_{\mathrm{CURE}}/h^2$ ($h \to 0$)", r"$M = S J z z^\top J^\top S$"),
}


def decade_ticks(ax, axis: str = "y", max_ticks: int = 7, low: float | None = None, zero_at: float | None = None,
                 inf_at: float | None = None):
    """Ticks at powers of ten, every 1, 2, 5, 10, 20 or 50 decades so that at most ``max_ticks`` show, labelled
    10^k; with ``zero_at``, one more tick there labelled 0 (where exact zeros are drawn on a log axis), and
    with ``inf_at`` one labelled "inf/NaN" (where non-finite values are drawn). Call after the limits are set."""
    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    lo = max(lo, low) if low is not None else lo
    lo = max(lo, zero_at * 15) if zero_at is not None else lo     # keep the "0" label clear of the first decade
    hi = min(hi, inf_at / 5) if inf_at is not None else hi
    k0, k1 = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
    step = next((s for s in (1, 2, 5, 10, 20, 50, 100) if (k1 - k0) // s + 1 <= max_ticks), 100)
    ks = [k for k in range(k0, k1 + 1) if k % step == 0]
    ticks = [10.0 ** k for k in ks]
    labels = [f"$10^{{{k}}}$" for k in ks]
    if zero_at is not None:
        ticks, labels = [zero_at] + ticks, ["0"] + labels
    if inf_at is not None:
        ticks, labels = ticks + [inf_at], labels + [r"$\infty$/NaN"]
    setter = ax.yaxis if axis == "y" else ax.xaxis
    setter.set_ticks(ticks)
    setter.set_ticklabels(labels)
    setter.set_minor_locator(_NullLocator())


def _NullLocator():
    from matplotlib.ticker import NullLocator

    return NullLocator()
