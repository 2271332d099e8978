"""Comparisons within derived rounding bounds, shared by the verify tests.

Two float computations of one exact quantity (ours and autograd's, or ours and a re-implementation of a
paper's code) each lie within a rounding bound of the exact value, so they lie within the sum of the two
bounds of each other. No tolerance here is chosen by hand: every bound comes from verify.numerics.bounds.
"""

from __future__ import annotations

import torch

from verify.numerics.bounds import Bounded, gamma, softmax, worst_entry
from verify.results.gap import INFORMATIVE_RESOLUTION

#: Roundings of a batch value beyond its per-example values and the sum over the batch: a convention
#: scales by constants (1/B, 1/2, lambda, K/n, ...), and a scaling of a gradient that is then squared
#: counts twice. Eight such relative roundings cover every convention of verify.regularizers (the most is
#: cure-pytorch: the 1/B inside the mean loss's gradient, squared, then lambda, then / B).
SCALINGS = 8


def sides(lin):
    """(J, f, p, keep) of a linearization: J and the logits as Bounded with their rounding bounds, the
    softmax with its bound, and the points off kinks."""
    J = Bounded(lin.jacobian, lin.jacobian_bound)
    f = Bounded(lin.logits, lin.logits_bound)
    return J, f, softmax(f), ~lin.on_kink


def assert_within(lhs: Bounded, rhs: Bounded, keep: torch.Tensor, what: str):
    """Every entry of every kept point within bound(lhs) + bound(rhs); the message is a diagnosis. Some point
    must be kept: a comparison over none would pass without testing anything."""
    assert bool(torch.as_tensor(keep).any()), f"{what}: no point to compare (every point on a kink or excluded)"
    l, r, b = worst_entry(lhs, rhs)
    gap = (l - r).abs()
    bad = keep & ~(gap <= b)
    assert not bool(bad.any()), (f"{what}: {int(bad.sum())} points outside the bound; worst: lhs={l[bad][0]!r} "
                                 f"rhs={r[bad][0]!r} gap={gap[bad][0]:.3e} bound={b[bad][0]:.3e}")


def batch_bound(per: Bounded, scale: float, n_terms: int) -> float:
    """Bound on the distance of ANY float evaluation of scale * sum_i v_i from its exact value, when each
    per-example v_i (per: Bounded, shape (B,)) is a sum of n_terms terms whose inputs per.err accounts for.

    An implementation may sum all B * n_terms terms in one pass, in any order: gamma_{B n_terms - 1}
    relative to the sum of magnitudes (Higham), on top of sum_i e_i (which already holds the rounding of
    a per-example sum, so this counts it twice: conservative); and up to SCALINGS roundings of constant
    factors: gamma_{B n_terms - 1 + SCALINGS} in all.
    """
    B = per.shape[0]
    mag = float((per.abs64 + per.err).sum())
    return abs(scale) * (float(per.err.sum()) + gamma(B * n_terms - 1 + SCALINGS, per.u) * mag)


def assert_close(a, b, bound: float, per: Bounded, scale: float, what: str, *, coarse: str = "fail"):
    """|a - b| <= bound, and the bound could see a wrong constant: it is below INFORMATIVE_RESOLUTION of
    the value's size scale * sum_i |v_i| (a factor-2 error would fail).

    ``coarse="reject"``, for a drawn case whose value can legitimately be too small for its bound (a
    cancelling seed such as 1 - K p near the uniform p): a too-coarse bound rejects the Hypothesis
    example (it is redrawn) instead of failing; the agreement itself is asserted either way."""
    a, b = (float(v.detach()) if isinstance(v, torch.Tensor) else float(v) for v in (a, b))
    size = abs(scale) * float(per.abs64.sum())
    assert abs(a - b) <= bound, f"{what}: {a!r} vs {b!r}, gap {abs(a - b):.3e} > bound {bound:.3e}"
    if coarse == "reject" and not bound < INFORMATIVE_RESOLUTION * size:
        from hypothesis import reject

        reject()
    assert bound < INFORMATIVE_RESOLUTION * size, f"{what}: bound {bound:.3e} too coarse for a value of {size:.3e}"
