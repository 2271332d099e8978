"""Checkers for the claims of the connections paper (Guo et al., TPAMI 2021; seeds 000, 003). All [derived].

Each checker takes a :class:`~verify.checkers.common.CheckContext` and returns Gaps. Vector and
matrix identities are reported per point at their WORST ENTRY (the entry with the largest
|lhs - rhs| / bound), so a point passes iff every entry is within its own bound.
"""

from __future__ import annotations

import math

import torch

from verify.regularizers import closed_forms as cf
from verify.regularizers.definitions import unchecked as reg  # the context has checked and linearized the batch
from verify.numerics.bounds import Bounded, const, eig_extreme, onehot, singular_values, softmax, sq_norm, vjp_err
from verify.results.gap import Gap
from verify.numerics.kinks import NOT_JUDGED, combine_codes, confirm_own_pass
from verify.checkers.common import C_GRID, H_GRID, CheckContext, f64, to_list, upper

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
        rhs = cf.cure_small_step(ctx.J, ctx.p, z.value, h)
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
              "R-CURE": reg.curvature(model_c, X, Y, h), "R-JAC": J.square().sum((1, 2)),
              "R-CL": (J.unsqueeze(2) - J.unsqueeze(1)).square().sum((1, 2, 3))}
    return ctx.measurement("confident-limit", "scale sweep", {
        "c": list(C_GRID), "series": {k: to_list(v) for k, v in series.items()}, "point": i,
        "label": int(ctx.yhat[i]), "margin": float(f64(m.value)[i]), "cure_h": h})


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
