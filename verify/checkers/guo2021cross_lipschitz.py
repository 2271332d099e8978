"""Checkers for the cross-Lipschitz claims of the connections paper (Guo et al., TPAMI 2021; seeds 000, 003).
All [derived]: cross-lipschitz-centered-jacobian, input-gradient-bounds, hessian-trace-weighted-cross-lipschitz,
gram-unification and confident-limit (the registry, ``CHECKERS``, is
:data:`verify.checkers.guo2021connections.CHECKERS`).

Each checker takes a :class:`~verify.checkers.common.CheckContext` and returns Gaps. Vector and
matrix identities are reported per point at their WORST ENTRY (the entry with the largest
|lhs - rhs| / bound), so a point passes iff every entry is within its own bound.
"""

from __future__ import annotations

import math

import torch

from verify.checkers.common import C_GRID, H_GRID, CheckContext, f64, to_list, upper
from verify.numerics.bounds import Bounded, const, eig_extreme, onehot, softmax, sq_norm, vjp_err
from verify.regularizers import closed_forms as cf
from verify.regularizers.definitions import unchecked as reg  # the context has checked and linearized the batch

__all__ = ["cross_lipschitz_centered_jacobian", "input_gradient_bounds", "hessian_trace_weighted_cross_lipschitz", "gram_unification", "confident_limit"]


# ---- cross-lipschitz ---------------------------------------------------------------------------------------
def _cl_def(ctx):
    return ctx.memo("CL", lambda: cf.cross_lipschitz_pairwise(ctx.J_def))


def cross_lipschitz_centered_jacobian(ctx: CheckContext) -> list:
    """sum_{l,m} |w_l - w_m|^2 (from autograd rows) = 2K |CJ|_F^2 = 2K |J|_F^2 - 2 |J^T 1|^2 <= 2K |J|_F^2."""
    CL = _cl_def(ctx)
    two_k = (2 * ctx.K) * cf.jacobian_norm(ctx.J_def)
    extra = {"|J^T 1|^2": to_list(sq_norm(ctx.J.sum(-2), -1).value)}
    return [ctx.gap("cross-lipschitz-centered-jacobian", "sum |w_l - w_m|^2 = 2K |C J|_F^2", "identity", CL,
                    cf.cross_lipschitz_centered(ctx.J)),
            ctx.gap("cross-lipschitz-centered-jacobian", "sum |w_l - w_m|^2 = 2K |J|_F^2 - 2 |J^T 1|^2", "identity", CL,
                    cf.cross_lipschitz_expanded(ctx.J)),
            ctx.gap("cross-lipschitz-centered-jacobian", "sum |w_l - w_m|^2 <= 2K |J|_F^2", "inequality", CL, two_k,
                    extra=extra)]


# ---- input-gradient-bounds ---------------------------------------------------------------------------------
def input_gradient_bounds(ctx: CheckContext) -> list:
    """Every link of chains (a) and (b), each an inequality Gap with its slack."""
    IG = sq_norm(ctx.g_def, -1)
    v = ctx.p - onehot(ctx.y, ctx.K, ctx.p)
    pe2 = sq_norm(v, -1)
    CJ = cf.centered(ctx.J)
    lam = eig_extreme(CJ @ CJ.mT, "max")                      # |C J|_2^2
    CL = _cl_def(ctx)
    JF2 = cf.jacobian_norm(ctx.J_def)
    py = ctx.p.gather(-1, ctx.y.view(-1, 1)).squeeze(-1)
    wy = ctx.J_def.gather(-2, ctx.y.view(-1, 1, 1).expand(-1, 1, ctx.D))
    pw = ((ctx.p * (1 - onehot(ctx.y, ctx.K, ctx.p))) * sq_norm(ctx.J_def - wy, -1)).sum(-1)
    a1, a2, a3 = pe2 * lam, pe2 * CL * (1.0 / (2 * ctx.K)), pe2 * JF2
    b1, b2 = (1 - py) * pw, (1 - py) * CL * 0.5
    c = "input-gradient-bounds"
    return [ctx.gap(c, "(a1) IG <= |p-e|^2 |CJ|_2^2", "inequality", IG, a1),
            ctx.gap(c, "(a2) |p-e|^2 |CJ|_2^2 <= |p-e|^2 CL/(2K)", "inequality", a1, a2),
            ctx.gap(c, "(a3) |p-e|^2 CL/(2K) <= |p-e|^2 |J|_F^2", "inequality", a2, a3),
            ctx.gap(c, "(b1) IG <= (1 - p_y) sum_{j != y} p_j |w_j - w_y|^2", "inequality", IG, b1),
            ctx.gap(c, "(b2) (1 - p_y) sum_{j != y} p_j |w_j - w_y|^2 <= (1 - p_y) CL/2", "inequality", b1, b2)]


# ---- hessian-trace-weighted-cross-lipschitz ------------------------------------------------------------------
def _trace_def(ctx):
    return ctx.memo("trH", lambda: ctx.trace_def())


def hessian_trace_weighted_cross_lipschitz(ctx: CheckContext) -> list:
    """tr hess L (D HVPs) = <G, S> = 1/2 sum p_l p_m |w_l - w_m|^2 = E_{yhat ~ p} |grad L(x, yhat)|^2."""
    c = "hessian-trace-weighted-cross-lipschitz"
    GS = cf.hessian_trace(ctx.J, ctx.p)
    wcl = cf.weighted_cross_lipschitz(ctx.J_def, ctx.p_def)
    terms = []
    for k in range(ctx.K):
        yk = torch.full_like(ctx.y, k)
        terms.append(sq_norm(ctx.grad_def(yk), -1).unsqueeze(-1))
    sq = Bounded(torch.cat([t.value for t in terms], -1), torch.cat([t.err for t in terms], -1))
    expect = (ctx.p_def * sq).sum(-1)
    return [ctx.gap(c, "tr hess L = <G, S>", "identity", _trace_def(ctx), GS),
            ctx.gap(c, "1/2 sum p_l p_m |w_l - w_m|^2 = <G, S>", "identity", wcl, GS),
            ctx.gap(c, "E_{yhat~p} |grad L(x, yhat)|^2 = <G, S>", "identity", expect, GS)]


# ---- gram-unification ------------------------------------------------------------------------------------------
def gram_unification(ctx: CheckContext) -> list:
    """Each regularizer by its definition = <G, M> for its weighting matrix M."""
    c = "gram-unification"
    G = cf.gram(ctx.J)
    M = cf.weighting_matrices(ctx.p, ctx.y, ctx.p)              # R-EMR at T = 1: pt = p
    M["R-CURE/h^2 (h->0)"] = cf.cure_weighting(ctx.J, ctx.p, ctx.z.reshape(ctx.B, -1))
    emr = reg.emr(ctx.model, ctx.x)                             # per-example |J^T pt|^2 (T = 1)
    emr_b = sq_norm(Bounded(ctx.emr_grad(1.0), vjp_err(ctx.J, ctx.p)), -1)
    S = cf.softmax_covariance(ctx.p)
    rows = reg.logit_jacobian(_Softmaxed(ctx.model), ctx.x)     # dp/dx (B, K, D), K backward passes
    smj = sq_norm(Bounded(rows, vjp_err(ctx.J, S).mT), (-2, -1))
    zf = ctx.z.reshape(ctx.B, -1)
    Hz = reg.hessian(ctx.model, ctx.x, ctx.y, directions=zf.unsqueeze(1)).squeeze(1)
    Sb = S @ (ctx.J @ zf.unsqueeze(-1))
    hz = sq_norm(Bounded(Hz, vjp_err(ctx.J, Sb).squeeze(-1)), -1)
    defs = {"R-JAC": cf.jacobian_norm(ctx.J_def), "R-CL": _cl_def(ctx), "R-IG": sq_norm(ctx.g_def, -1),
            "trH": _trace_def(ctx), "R-EMR": Bounded(emr, emr_b.err), "softmax-Jacobian": smj,
            "R-CURE/h^2 (h->0)": hz}
    gaps, inner = [], {}
    for name in cf.GRAM_ROWS:
        inner[name] = cf.gram_inner(G, M[name])
        gaps.append(ctx.gap(c, f"<G, M> = {name}", "identity", defs[name], inner[name]))
    first = lambda t: f64(t.value if isinstance(t, Bounded) else t)[0].tolist()
    gaps.append(ctx.measurement(c, "matrices", {
        "G": first(G), "M": {k: first(v) for k, v in M.items()},
        "inner": {k: float(f64(v.value)[0]) for k, v in inner.items()},
        "definition": {k: float(f64(v.value)[0]) for k, v in defs.items()}, "point": 0}))
    return gaps


class _Softmaxed(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return torch.softmax(self.model(x), dim=1)


# ---- confident-limit ---------------------------------------------------------------------------------------------
def confident_limit(ctx: CheckContext) -> list:
    """Scale the logits by c at (x, yhat), yhat the predicted class: R-JAC and R-CL grow exactly as c^2;
    R-IG, tr H and R-CURE (small h, in R(x)) fall below derived exponential bounds at every c of the
    grid 0.1..100; the series over c for the point of largest margin.

    Bounds at exact quantities (m = f_yhat - max_{j != yhat} f_j > 0, 1 - p_yhat <= (K-1) e^{-c m},
    |p - e|^2 <= 2 (1 - p_yhat)^2, |J|_2 <= |J|_F):
    R-IG <= 2 (K-1)^2 c^2 |J|_F^2 e^{-2 c m}; tr H = c^2 <G, S> <= c^2 |J|_F^2 (1 - |p|^2) <=
    2 (K-1) c^2 |J|_F^2 e^{-c m}; R-CURE = |c J^T (p' - p)|^2 <= 2 (K-1)^2 c^2 |J|_F^2 (e^{-c m} + e^{-c m'})^2.
    m is replaced by its certified lower bound, |J|_F by an upper bound; points with m <= 0 certified are excluded."""
    c_id, yh = "confident-limit", ctx.yhat
    gaps = []
    for c in (C_GRID[0], C_GRID[-1]):
        model_c, ct = ctx.scaled(c)
        cv = float(ct)
        Jc = Bounded(reg.logit_jacobian(model_c, ctx.x), ctx.J_def.err * cv)
        cc = const(cv, ctx.x) * const(cv, ctx.x)
        gaps.append(ctx.gap(c_id, "R-JAC(c f) = c^2 R-JAC(f)", "identity", cf.jacobian_norm(Jc),
                            cc * cf.jacobian_norm(ctx.J_def), extra={"c": cv}))
        gaps.append(ctx.gap(c_id, "R-CL(c f) = c^2 R-CL(f)", "identity", cf.cross_lipschitz_pairwise(Jc),
                            cc * _cl_def(ctx), extra={"c": cv}))
    # the limit inequalities at every c of the grid: a bound of order e^{-c m} is far above the rounding
    # error while c m is a few units, and underflows past it (those points are reported uninformative)
    m = ctx.margin(ctx.f, yh)
    h = min(H_GRID, key=lambda v: abs(math.log(v / 1e-2)))
    m_lo = f64(m.value) - m.err
    JF = ctx.frobenius_upper()
    for cmax in C_GRID:
        gaps.extend(_limit_inequalities(ctx, m_lo, JF, h, cmax))
    gaps.append(_scale_sweep(ctx, m, h))
    return gaps


def _limit_inequalities(ctx: CheckContext, m_lo: torch.Tensor, JF: torch.Tensor, h: float, cmax: float) -> list:
    """R-IG, tr H and R-CURE of c f below their exponential bounds at c = ``cmax`` (see
    :func:`confident_limit`); ``m_lo`` a certified lower bound on the margin, ``JF`` an upper bound on |J|_F."""
    c_id, yh, gaps = "confident-limit", ctx.yhat, []
    model_c, ct = ctx.scaled(cmax)
    cv = float(ct)
    Jc = ctx.scale_bounded(ctx.J, cv)
    fc = Bounded(ctx.lin.logits * ct, ctx.f.err * cv + 2.0 * ctx.u * f64(ctx.lin.logits * ct).abs())
    pc = softmax(fc)
    excl = (m_lo <= 0).cpu()
    K = ctx.K
    ig = sq_norm(ctx.grad_def(yh, Jc, pc, model=model_c), -1)
    rhs_ig = upper(2 * (K - 1) ** 2 * cv ** 2 * JF ** 2 * torch.exp(-2 * cv * m_lo))
    gaps.append(ctx.gap(c_id, "R-IG(c f) <= 2 (K-1)^2 c^2 |J|_F^2 exp(-2 c m)", "inequality", ig, Bounded(rhs_ig),
                        excluded=excl, extra={"c": cv, "label": "predicted"}))
    tr = ctx.trace_def(model=model_c, y=yh, J=Jc, p=pc)
    rhs_tr = upper(2 * (K - 1) * cv ** 2 * JF ** 2 * torch.exp(-cv * m_lo))
    gaps.append(ctx.gap(c_id, "tr H(c f) <= 2 (K-1) c^2 |J|_F^2 exp(-c m)", "inequality", tr, Bounded(rhs_tr),
                        excluded=excl, extra={"c": cv, "label": "predicted"}))
    s = ctx.shifted[h]
    g0 = ctx.grad_def(yh, Jc, pc, model=model_c)
    p1c = softmax(Bounded(s["f"].value * ct, s["f"].err * cv + 2.0 * ctx.u * f64(s["f"].value * ct).abs()))
    g1 = ctx.grad_def(yh, ctx.scale_bounded(s["J"], cv), p1c, x=s["x"], model=model_c)
    cure = sq_norm(g1 - g0, -1)
    m1 = ctx.margin(s["f"], yh)
    m1_lo = f64(m1.value) - m1.err
    rhs_cure = upper(2 * (K - 1) ** 2 * cv ** 2 * JF ** 2 * (torch.exp(-cv * m_lo) + torch.exp(-cv * m1_lo)) ** 2)
    gaps.append(ctx.gap(c_id, "R-CURE(c f) <= 2 (K-1)^2 c^2 |J|_F^2 (exp(-c m) + exp(-c m'))^2", "inequality",
                        cure, Bounded(rhs_cure), kinks=s["kinks"], pattern_changed=s["changed"],
                        excluded=excl | s["changed"], extra={"c": cv, "h": h, "label": "predicted"}))
    return gaps


def _scale_sweep(ctx: CheckContext, m: Bounded, h: float):
    """R-IG, tr H, R-CURE (h), R-JAC, R-CL by their definitions on c * model for one point over C_GRID."""
    mv = f64(m.value).masked_fill(ctx.on_kink.to(m.value.device), -math.inf)
    i = int(mv.argmax())
    n = len(C_GRID)
    X = ctx.x[i:i + 1].repeat(n, *([1] * (ctx.x.dim() - 1)))
    Y = ctx.yhat[i:i + 1].repeat(n)
    model_c, _ = ctx.scaled(torch.tensor(C_GRID))
    J = reg.logit_jacobian(model_c, X)
    series = {"R-IG": reg.input_gradient(model_c, X, Y), "trH": reg.hessian_trace(model_c, X, Y),
              "R-CURE": reg.curvature(model_c, X, Y, h=h), "R-JAC": J.square().sum((1, 2)),
              "R-CL": (J.unsqueeze(2) - J.unsqueeze(1)).square().sum((1, 2, 3))}
    return ctx.measurement("confident-limit", "scale sweep", {
        "c": list(C_GRID), "series": {k: to_list(v) for k, v in series.items()}, "point": i,
        "label": int(ctx.yhat[i]), "margin": float(f64(m.value)[i]), "cure_h": h})
