"""Checkers for the regularization-of-robustness paper (Wen, Li & Jia, ICML 2020; seed 002). [derived]

margin-lower-bound, at (x, yhat) with yhat the predicted class (so x is correctly classified; points
whose largest logit is not certified unique are excluded):

- within R(x) the logits are affine, so the decision region {f_yhat > f_j for all j} meets R(x) in a
  polyhedron, and the distance from x to its boundary is d_loc = min_{j != yhat} (f_yhat - f_j)/|w_yhat - w_j|
  (distance to an intersection of half-spaces' complement = the smallest distance to one hyperplane);
  every decision-boundary point within distance r(x) lies in R(x), so the distance to the decision
  boundary is >= min(d_loc, r(x)). We compute min(d_loc, r(x)) as the lhs proxy (exact within the region)
  and check  min(gamma_O / max_j |w_yhat - w_j|, r) <= min(d_loc, r);
- max_j |w_yhat - w_j| = max_j |J^T (e_yhat - e_j)| <= sqrt(2) |J|_2;
- |J|_2 <= prod_l |J_l|_2 with J = J_L ... J_1 (networks without residual additions; on others this
  link is recorded as a measurement marked n/a);
  ||J_l||_2 by SVD, or for large layers by a power-iteration lower bound (see ``_sigma``).
"""

from __future__ import annotations

import math

import torch

from verify.checkers.common import CheckContext, f64
from verify.numerics.bounds import Bounded, sigma_max, sq_norm

__all__ = ["CHECKERS", "layer_jacobians_bounded"]


def layer_jacobians_bounded(lin) -> list:
    """[(name, Bounded J_l)]: the linearization's layer Jacobians with their rounding bounds
    (:meth:`verify.numerics.linearize.Linearization.layer_jacobians` with ``bound=True``)."""
    return [(name, Bounded(Jl, E)) for name, Jl, E in lin.layer_jacobians(bound=True)]


def margin_lower_bound(ctx: CheckContext) -> list:
    """See the module docstring."""
    c_id, K, D = "margin-lower-bound", ctx.K, ctx.D
    y = ctx.yhat
    m = ctx.margin(ctx.f_def, y)                                # gamma_O, from the definition's logits
    excl = ((f64(m.value) - m.err) <= 0).cpu()
    notme = torch.nn.functional.one_hot(y, K).bool()
    wy = ctx.J_def.gather(-2, y.view(-1, 1, 1).expand(-1, 1, D))
    nd = sq_norm(ctx.J_def - wy, -1).sqrt()                     # |w_y - w_j| (B, K), 0 at j = y
    wmax = nd.amax(-1)
    lb = m / wmax
    r = f64(ctx.lin.boundary_distance())
    wy2 = ctx.J.gather(-2, y.view(-1, 1, 1).expand(-1, 1, D))
    n2 = sq_norm(ctx.J - wy2, -1).sqrt()
    gapf = ctx.f.gather(-1, y.view(-1, 1)) - ctx.f
    dist = gapf / n2
    dist = Bounded(dist.value.masked_fill(notme, math.inf), dist.err.masked_fill(notme, 0.0))
    d_loc = dist.amin(-1)
    lhs = Bounded(torch.minimum(f64(lb.value), r), lb.err)
    rhs = Bounded(torch.minimum(f64(d_loc.value), r), d_loc.err)
    gaps = [ctx.gap(c_id, "min(gamma_O / max_j |w_y - w_j|, r(x)) <= min(d_local, r(x))", "inequality", lhs, rhs,
                    excluded=excl, extra={"label": "predicted", "r": [float(v) for v in r.cpu()],
                                          "d_local": [float(v) for v in f64(d_loc.value).cpu()]})]
    s2 = math.sqrt(2)
    Jn = sigma_max(ctx.J)
    gaps.append(ctx.gap(c_id, "max_j |w_y - w_j| <= sqrt(2) |J|_2", "inequality", wmax, s2 * Jn, excluded=excl))
    try:
        layers = layer_jacobians_bounded(ctx.lin)
    except ValueError as exc:                                   # residual additions: J is not a chain
        # not applicable: recorded as a measurement saying why, with no verdict and no points
        gaps.append(ctx.measurement(c_id, "sqrt(2) |J|_2 <= sqrt(2) prod_l |J_l|_2", {"n/a": str(exc)}))
        return gaps
    prod, methods = None, []
    for _, Jl in layers:
        s, how = _sigma(ctx, Jl)
        methods.append(how)
        prod = s if prod is None else prod * s
    gaps.append(ctx.gap(c_id, "sqrt(2) |J|_2 <= sqrt(2) prod_l |J_l|_2", "inequality", s2 * Jn, s2 * prod,
                        extra={"layers": [n for n, _ in layers], "sigma_method": methods}))
    return gaps


#: Layer Jacobians with more entries than this get a power-iteration lower bound instead of an SVD.
SVD_MAX_ENTRIES = 2 ** 16
POWER_STEPS = 64


def _sigma(ctx: CheckContext, Jl: Bounded):
    """||J_l||_2 per point: the SVD for small layers; for large ones |J_l v| for v after POWER_STEPS power
    iterations, a LOWER bound on ||J_l||_2 (any unit v gives |J_l v| <= ||J_l||_2). A lower bound on the
    right-hand side only makes the inequality stricter, so a pass is sound; a failure would need a look."""
    if Jl.shape[-1] * Jl.shape[-2] <= SVD_MAX_ENTRIES:
        return sigma_max(Jl), "svd"
    A = Jl.value
    v = ctx.randn(A.shape[0], A.shape[-1])
    v = v / v.norm(dim=-1, keepdim=True)
    est = torch.zeros(A.shape[0], dtype=torch.float64, device=A.device)
    for step in range(1, POWER_STEPS + 1):
        w = (A.mT @ (A @ v.unsqueeze(-1))).squeeze(-1)           # |w| = |A^T A v| -> sigma^2
        new = f64(w.norm(dim=-1))
        v = w / w.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(A.dtype).tiny)
        if bool(((new - est).abs() <= 1e-6 * new).all()):
            break
        est = new
    how = f"power iteration ({step} steps, lower bound)"
    return sq_norm((Jl @ v.unsqueeze(-1)).squeeze(-1), -1).sqrt(), how


#: The checker of each claim of this paper's group, by claim id.
CHECKERS = {"margin-lower-bound": margin_lower_bound}
