"""Checkers for the claims of the connections paper (Guo et al., TPAMI 2021; seeds 000, 003). All [derived].

Here: local-affine, input-gradient, hessian-gauss-newton and the three curvature claims; the cross-Lipschitz
claims are checked in :mod:`verify.checkers.guo2021cross_lipschitz`. :data:`CHECKERS` holds all eleven, in
the claims' order.

Each checker takes a :class:`~verify.checkers.common.CheckContext` and returns Gaps. Vector and
matrix identities are reported per point at their WORST ENTRY (the entry with the largest
|lhs - rhs| / bound), so a point passes iff every entry is within its own bound.
"""

from __future__ import annotations

import math

import torch

from verify.checkers.common import H_GRID, CheckContext, f64, to_list, upper
from verify.checkers.guo2021cross_lipschitz import (
    confident_limit,
    cross_lipschitz_centered_jacobian,
    gram_unification,
    hessian_trace_weighted_cross_lipschitz,
    input_gradient_bounds,
)
from verify.numerics.bounds import Bounded, eig_extreme, singular_values, sq_norm, vjp_err
from verify.numerics.kinks import NOT_JUDGED, combine_codes, confirm_own_pass
from verify.regularizers import closed_forms as cf
from verify.regularizers.definitions import unchecked as reg  # the context has checked and linearized the batch
from verify.results.gap import Gap

__all__ = ["CHECKERS"]


def _zero(ctx) -> Bounded:
    return Bounded(torch.zeros(ctx.B, dtype=ctx.dtype, device=ctx.device))


# ---- local-affine ----------------------------------------------------------------------------------------
def _exact_jacobians(ctx: CheckContext, max_entries: int = 2000):
    """Float J entries vs the exact J (theory) of the same network at the same float inputs."""
    import theory
    from theory.layers import KinkError

    net = theory.from_torch(ctx.model, tuple(ctx.x.shape[1:]))
    n_pts = max(1, min(ctx.B, max_entries // (ctx.K * ctx.D)))
    lhs, rhs, bnd, kd, ok, codes = [], [], [], [], [], []
    u64 = 2.0 ** -53
    for i in range(n_pts):
        Jf = f64(ctx.lin.jacobian[i]).reshape(-1)[: max_entries].cpu()
        jb = f64(ctx.lin.jacobian_bound[i]).reshape(-1)[: len(Jf)].cpu()
        try:
            r = theory.linearize(net, f64(ctx.x[i]).reshape(-1).cpu().numpy())
            ex = torch.tensor([float(v) for v in r.jacobian_fmpq.entries()], dtype=torch.float64)[: len(Jf)]
            code = ctx.kink_codes[i]
        except KinkError:                       # the exact engine finds x on a kink: so did the re-decision
            ex, code = torch.full_like(Jf, math.nan), "kink"
        kink = code in NOT_JUDGED
        lhs += Jf.tolist()
        rhs += ex.tolist()
        bnd += (jb + u64 * ex.abs().nan_to_num()).mul(1 + 2.0 ** -40).tolist()   # + rounding of the exact to float64
        kd += [ctx.kink[i]] * len(Jf)
        ok += [kink] * len(Jf)
        codes += [code] * len(Jf)
        if len(lhs) >= max_entries:
            break
    return Gap("local-affine", "float J vs exact J", "identity", lhs, rhs, bnd, str(ctx.dtype).replace("torch.", ""),
               str(ctx.device), int(ctx.seed), ctx.arch, kink_distance=kd, on_kink=ok, kink_decision=codes,
               extra={"points": n_pts, "entries": len(lhs), "unit": "one value per Jacobian entry"})


def local_affine(ctx: CheckContext) -> list:
    """f = J x + b at x; f(x') = J x' + b at x' = x + t d in R(x) (t = half the exit time along a random
    unit d, at most 1); J vs torch.func.jacrev; float J vs exact J (small networks, or ctx.exact)."""
    gaps = []
    affine = (ctx.J @ ctx.xf.unsqueeze(-1)).squeeze(-1) + ctx.b
    gaps.append(ctx.gap("local-affine", "f(x) = J x + b", "identity", ctx.f_def, affine))
    d = ctx.randn(ctx.B, ctx.D)
    d = d / d.norm(dim=-1, keepdim=True)
    t = torch.nan_to_num(ctx.lin.exit_time(d) / 2, posinf=1.0).clamp(max=1.0).to(ctx.dtype)
    x2 = (ctx.xf + t[:, None] * d).reshape(ctx.x.shape)
    lin2 = ctx.linearize_at(x2)
    changed = ~ctx.lin.same_pattern(lin2).cpu()
    with torch.no_grad():
        f2 = Bounded(ctx.model(x2), lin2.logits_bound)
    rhs = (ctx.J @ x2.reshape(ctx.B, -1).unsqueeze(-1)).squeeze(-1) + ctx.b
    gaps.append(ctx.gap("local-affine", "f(x') = J x' + b for x' in R(x)", "identity", f2, rhs,
                        kinks=combine_codes(ctx.kink_codes, lin2.kinks.codes), pattern_changed=changed, excluded=changed,
                        extra={"t": to_list(t)}))
    fn = lambda xi: ctx.model(xi.unsqueeze(0)).squeeze(0)
    # torch 2.13: vmap(jacrev) through a per-channel PReLU raises a size error when B != K and returns
    # silently wrong Jacobians when B == K, so such models are differentiated one example at a time.
    prelu = any(isinstance(m, torch.nn.PReLU) and m.num_parameters > 1 for m in ctx.model.modules())
    try:
        if prelu:
            raise RuntimeError("per-channel PReLU: vmap(jacrev) is unreliable in torch 2.13")
        Jr, how, mode = torch.func.vmap(torch.func.jacrev(fn))(ctx.x), "vmap(jacrev)", "vmap"
    except RuntimeError as exc:
        Jr = torch.stack([torch.func.jacrev(fn)(xi) for xi in ctx.x])
        how, mode = f"jacrev per example ({str(exc)[:120]})", "each"
    Jr = Jr.reshape(ctx.B, ctx.K, ctx.D)
    # jacrev evaluates the model example by example: at a recovered point its own float pass is read too
    own = confirm_own_pass(ctx.lin, ctx.lin.kinks, ctx.model, mode=mode).codes
    gaps.append(ctx.gap("local-affine", "J = torch.func.jacrev", "identity", Bounded(Jr, ctx.lin.jacobian_bound), ctx.J,
                        kinks=own, extra={"jacrev": how}))
    small = ctx.D * ctx.K <= 5000 and ctx.D <= 1024
    if ctx.exact or (ctx.exact is None and small):
        gaps.append(_exact_jacobians(ctx))
    return gaps


# ---- input-gradient ---------------------------------------------------------------------------------------
def input_gradient(ctx: CheckContext) -> list:
    """grad_x L (autograd) = J^T (p - e_y) = sum_{j != y} p_j (w_j - w_y); worst entry per point."""
    return [ctx.gap("input-gradient", "grad L = J^T (p - e_y)", "identity", ctx.g_def, cf.input_gradient(ctx.J, ctx.p, ctx.y)),
            ctx.gap("input-gradient", "grad L = sum_{j != y} p_j (w_j - w_y)", "identity", ctx.g_def,
                    cf.input_gradient_pairwise(ctx.J, ctx.p, ctx.y))]


# ---- hessian-gauss-newton ---------------------------------------------------------------------------------
def hessian_gauss_newton(ctx: CheckContext) -> list:
    """hess L (double backprop) = J^T S J; y-independence; PSD; rank <= K - 1; lambda_max(S) bounds; tr S."""
    full = ctx.hess_mode == "full"
    H = ctx.memo("H", lambda: ctx.hess_def(ctx.y))
    rhs = cf.hessian(ctx.J, ctx.p) if full else cf.hvp(ctx.J, ctx.p, ctx.probes)
    mode = {"mode": ctx.hess_mode, "directions": ctx.D if full else ctx.K + 4}
    gaps = [ctx.gap("hessian-gauss-newton", "hess L = J^T S J", "identity", H, rhs, extra=mode)]
    y2 = (ctx.y + 1) % ctx.K
    gaps.append(ctx.gap("hessian-gauss-newton", "hess L(x, y) = hess L(x, y')", "identity", H, ctx.hess_def(y2),
                        extra=dict(mode, other_label="(y + 1) mod K")))
    # PSD: the quadratic form along the most negative direction available
    # (its true value is 0 along a null direction, so it is judged against the largest form, |H|_2 for
    # unit v: a negative eigenvalue of that size would be seen)
    if full:
        Hs = 0.5 * (f64(H.value) + f64(H.value).mT)
        eig = torch.linalg.eigh(Hs)
        v = eig.eigenvectors[..., 0].to(ctx.dtype)
        q = (v.unsqueeze(-2) @ (H @ v.unsqueeze(-1))).reshape(ctx.B)
        size = eig.eigenvalues.abs().amax(-1)
    else:
        V = ctx.probes
        qs = (H * Bounded(V)).sum(-1)                                  # v_r^T H v_r, (B, r)
        i = f64(qs.value).argmin(-1, keepdim=True)
        q = qs.gather(-1, i).squeeze(-1)
        size = f64(qs.value).abs().amax(-1)
    gaps.append(ctx.gap("hessian-gauss-newton", "v^T hess L v >= 0 (PSD)", "inequality", _zero(ctx), q, extra=mode,
                        scale=size))
    # rank: singular values of H (or of H V) above the Weyl + solver threshold
    s, tau = singular_values(H)
    rank = (f64(s) > tau.unsqueeze(-1)).sum(-1).to(torch.float64)
    sK = f64(s[..., ctx.K - 1]) if s.shape[-1] >= ctx.K else torch.zeros(ctx.B, dtype=torch.float64)
    gaps.append(ctx.gap("hessian-gauss-newton", "rank hess L <= K - 1", "inequality", rank,
                        torch.full((ctx.B,), ctx.K - 1.0), torch.zeros(ctx.B),
                        extra=dict(mode, threshold=to_list(tau), sigma_K=to_list(sK))))
    S = cf.softmax_covariance(ctx.p)
    two = (2 * ctx.p * (1 - ctx.p)).amax(-1)
    gaps.append(ctx.gap("hessian-gauss-newton", "lambda_max(S) <= max_i 2 p_i (1 - p_i)", "inequality",
                        eig_extreme(S, "max"), two))
    gaps.append(ctx.gap("hessian-gauss-newton", "max_i 2 p_i (1 - p_i) <= 1/2", "inequality", two,
                        Bounded(torch.full((ctx.B,), 0.5, dtype=ctx.dtype))))
    gaps.append(ctx.gap("hessian-gauss-newton", "tr S = 1 - |p|^2", "identity", S.diagonal().sum(-1),
                        1 - sq_norm(ctx.p, -1)))
    return gaps


# ---- curvature -----------------------------------------------------------------------------------------------
def curvature_soft_label_gradient(ctx: CheckContext) -> list:
    """In R(x): grad L(x+hz) - grad L(x) = J^T (p(x+hz) - p(x)) = grad_x CE(x+hz; soft label p(x)).
    Points whose x + h z left R(x) are excluded (pattern_changed recorded)."""
    gaps, c = [], "curvature-soft-label-gradient"
    soft = ctx.p_def.value
    for h in H_GRID:
        s = ctx.shifted[h]
        diff = s["g"] - ctx.g_def
        gs = reg.loss_gradient(ctx.model, s["x"], soft).reshape(ctx.B, -1)
        gsoft = Bounded(gs, vjp_err(s["J"], s["p"] - ctx.p_def))
        kw = dict(kinks=s["kinks"], pattern_changed=s["changed"], excluded=s["changed"], extra={"h": h})
        gaps.append(ctx.gap(c, "grad L(x+hz) - grad L(x) = J^T (p(x+hz) - p(x))", "identity", diff,
                            cf.cure_soft_label(ctx.J, s["p"], ctx.p), **kw))
        gaps.append(ctx.gap(c, "grad L(x+hz) - grad L(x) = grad_x CE(x+hz; p(x))", "identity", diff, gsoft, **kw))
    return gaps


def _cure_def(ctx, h):
    s = ctx.shifted[h]
    return sq_norm(s["g"] - ctx.g_def, -1)


def curvature_small_step(ctx: CheckContext) -> list:
    """R-CURE (autograd) vs h^2 |Hz|^2 over the h grid (measurement), and the limit as an identity at
    every h of the grid with the derived O(h) remainder.

    Remainder (x + s in R(x), s = fl(x + h z) - x the step actually taken, a = J s / h, rho = max a -
    min a): phi(t) = softmax(f + t a) has |phi''|_1 = sum p_k |(a_k - abar)^2 - Var| <= 2 Var <= rho^2/2
    (Popoviciu), so J^T (p' - p) = J^T S J s + J^T r with |r|_2 <= h^2 rho^2 / 4, and
    |R-CURE/h^2 - |H s/h|^2| <= h |J|_2 rho^2 |H s/h| / 2 + h^2 |J|_2^2 rho^4 / 16 (|J|_2 <= |J|_F).
    This is an identity with a derived bound (float bounds of both sides added)."""
    gaps, c = [], "curvature-small-step"
    z = Bounded(ctx.z.reshape(ctx.B, -1))
    for h in H_GRID:
        s = ctx.shifted[h]
        rhs = cf.cure_small_step(ctx.J, ctx.p, z.value, h=h)
        gaps.append(ctx.gap(c, "R-CURE vs h^2 |Hz|^2", "measurement", _cure_def(ctx, h).value, rhs.value,
                            torch.zeros(ctx.B), kinks=s["kinks"], pattern_changed=s["changed"], extra={"h": h}))
    JF = ctx.frobenius_upper()
    for h in H_GRID:
        gaps.append(_small_step_identity(ctx, h, JF))
    return gaps


def _small_step_identity(ctx: CheckContext, h: float, JF: torch.Tensor):
    """R-CURE/h^2 = |H s/h|^2 within the derived O(h) remainder (plus float bounds), at one h; points
    whose x + h z left R(x) are excluded. Small h is informative in float64; in float32 the rounding
    of g(x+hz) - g(x) swamps small h, and the larger h of the grid carry the test."""
    c = "curvature-small-step"
    s = ctx.shifted[h]
    step = f64(s["x"]).reshape(ctx.B, -1) - f64(ctx.x).reshape(ctx.B, -1)
    stepb = Bounded(step.to(ctx.dtype), (step - f64(step.to(ctx.dtype))).abs() + 2.0 ** -52 * step.abs())
    Hs = cf.hvp(ctx.J, ctx.p, stepb.unsqueeze(-2)).squeeze(-2) * (1.0 / h)
    rhs = sq_norm(Hs, -1)
    lhs = _cure_def(ctx, h) * (1.0 / (h * h))
    a = (ctx.J @ stepb.unsqueeze(-1)).squeeze(-1) * (1.0 / h)
    rho = f64(a.value).amax(-1) - f64(a.value).amin(-1) + 2 * a.err.amax(-1)
    nHs = f64(Hs.value).norm(dim=-1) + Hs.err.norm(dim=-1)
    rem = upper(h * JF * rho ** 2 * nHs / 2 + h ** 2 * JF ** 2 * rho ** 4 / 16)
    return ctx.gap(c, "R-CURE/h^2 = |Hz|^2 + O(h)", "identity", lhs, rhs, rem,
                   kinks=s["kinks"], pattern_changed=s["changed"], excluded=s["changed"],
                   extra={"h": h, "remainder": to_list(rem), "note": "z replaced by the float step s/h"})


def curvature_region_crossing(ctx: CheckContext) -> list:
    """R-CURE = |J^T (p'-p) + (J'-J)^T (p'-e_y)|^2 at every h (identity, across regions), and the share of
    the pattern-change part, with exact-in-float exit times t*(x, z)."""
    gaps, c = [], "curvature-region-crossing"
    for h in H_GRID:
        s = ctx.shifted[h]
        inside, change = cf.cure_decomposition(ctx.J, ctx.p, s["J"], s["p"], ctx.y)
        kw = dict(kinks=s["kinks"], pattern_changed=s["changed"])
        gaps.append(ctx.gap(c, "decomposition", "identity", _cure_def(ctx, h), sq_norm(inside + change, -1),
                            extra={"h": h}, **kw))
        ni, nc = f64(inside.value).norm(dim=-1), f64(change.value).norm(dim=-1)
        share = torch.where(ni + nc > 0, nc / (ni + nc), torch.zeros_like(ni))
        gaps.append(ctx.gap(c, "pattern-change share", "measurement", sq_norm(inside, -1).value,
                            sq_norm(change, -1).value, torch.zeros(ctx.B),
                            extra={"h": h, "share": to_list(share), "exit_time": ctx.exit_time,
                                   "crossed_fraction": float(s["changed"].double().mean())}, **kw))
    return gaps


#: The checker of each claim of this paper's group, by claim id.
CHECKERS = {
    "local-affine": local_affine,
    "input-gradient": input_gradient,
    "hessian-gauss-newton": hessian_gauss_newton,
    "cross-lipschitz-centered-jacobian": cross_lipschitz_centered_jacobian,
    "input-gradient-bounds": input_gradient_bounds,
    "hessian-trace-weighted-cross-lipschitz": hessian_trace_weighted_cross_lipschitz,
    "curvature-soft-label-gradient": curvature_soft_label_gradient,
    "curvature-small-step": curvature_small_step,
    "curvature-region-crossing": curvature_region_crossing,
    "gram-unification": gram_unification,
    "confident-limit": confident_limit,
}
