"""The dose-response rule of the round-2 specification (SPEC.md, "Round 2"): Holm's step-down correction
(:func:`holm`) and, per dose, whether it helps, hurts or neither (:func:`dose_response`).
"""

from __future__ import annotations

import math

from verify.dynamics.verdicts import ALPHA, HELPS, HURTS, NEITHER, compare

__all__ = ["holm", "dose_response"]


def holm(pvalues) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: with p_(1) <= ... <= p_(m) sorted,
    adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)). A hypothesis is rejected at level alpha when its
    adjusted p < alpha, which controls the family-wise error over the m.

    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    ps = [float(p) for p in pvalues]
    if any(math.isnan(p) or p < 0 or p > 1 for p in ps):
        raise ValueError(f"holm: p-values must lie in [0, 1], got {ps}")
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    adj = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adj[i] = running
    return adj


def dose_response(name: str, doses, a, b, seeds=None) -> list[dict]:
    """The dose-response rule of SPEC.md (round 2): for each dose d (``doses[i]``), the comparison
    "A < B" over paired seeds (``a[i]``, ``b[i]``: one value per seed, as :func:`compare` takes), with
    both one-sided sign-test p-values Holm-corrected over the doses (:func:`holm`); the dose
    ``helps`` when the corrected p of "A < B" is below :data:`ALPHA`, ``hurts`` when the corrected p of
    the opposite, "A > B", is, and ``neither`` otherwise. Each entry: dose, the comparison (its
    :meth:`Comparison.to_dict`), p_for_holm, p_against_holm, result.

    >>> r = dose_response("gamma", [1, 10], [[1.0] * 5, [1.0] * 5], [[2.0] * 5, [2.0] * 5])
    >>> [(e["p_for_holm"], e["result"]) for e in r]
    [(0.0625, 'neither'), (0.0625, 'neither')]
    """
    doses = list(doses)
    if not (len(doses) == len(a) == len(b)) or not doses:
        raise ValueError(f"dose_response({name!r}): one a and one b per dose; got {len(doses)} doses, "
                         f"{len(a)} a, {len(b)} b")
    comps = [compare(f"{name} (dose x{d:g})", ai, bi, seeds) for d, ai, bi in zip(doses, a, b)]
    p_for = holm([c.p_for for c in comps])
    p_against = holm([c.p_against for c in comps])
    out = []
    for d, c, pf, pa in zip(doses, comps, p_for, p_against):
        result = HELPS if pf < ALPHA else HURTS if pa < ALPHA else NEITHER
        out.append({"dose": float(d), "comparison": c.to_dict(), "p_for_holm": pf, "p_against_holm": pa,
                    "result": result})
    return out
