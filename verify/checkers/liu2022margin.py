"""Checkers for the effective-margin paper (Liu & Chan, BMVC 2022; seed 001).

euler-homogeneous, effective-margin and emr-limits are [derived]; cross-entropy-scale-variance is
[abstract] (our operationalisation: exact exponential bounds at a large scale c, and the series).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import closed_forms as cf
from .. import regularizers as reg
from ..bounds import Bounded, cross_entropy, softmax, sq_norm, vjp_err
from .common import C_GRID, CheckContext, bias_free, f64, to_list, upper

__all__ = ["CHECKERS"]

#: Temperatures of the EMR sweep, and the two used for the limit identities.
T_GRID = tuple(float(v) for v in torch.logspace(-3, 3, 13, dtype=torch.float64))
T_HOT, T_COLD = 1e6, 1e-6


def euler_homogeneous(ctx: CheckContext) -> list:
    """f(x) = J x on bias-free networks; on networks with a bias every point is excluded (n/a)."""
    free = bias_free(ctx.model)
    rhs = (ctx.J @ ctx.xf.unsqueeze(-1)).squeeze(-1)
    return [ctx.gap("euler-homogeneous", "f(x) = J x", "identity", ctx.f_def, rhs,
                    excluded=torch.full((ctx.B,), not free), extra={"bias_free": free})]


def _gamma(ctx: CheckContext, c: float | None = None) -> Bounded:
    """gamma by its definition (autograd of f_y - f_j on c * model), with its bound; j shared by all
    computations (the strongest other class of the linearization's logits)."""
    j = ctx.memo("j", lambda: cf.strongest_other(ctx.lin.logits, ctx.y))
    D = ctx.D
    pick = lambda k: ctx.J_def.gather(-2, k.view(-1, 1, 1).expand(-1, 1, D)).squeeze(-2)
    w = pick(ctx.y) - pick(j)                                    # err covers backprop of e_y - e_j
    num = cf.logit_gap(ctx.f_def, ctx.y, j)
    if c is None:
        val = reg.effective_margin(ctx.model, ctx.x, ctx.y, j=j)
    else:
        model_c, ct = ctx.scaled(c)
        cv = float(ct)
        val = reg.effective_margin(model_c, ctx.x, ctx.y, j=j)
        fc = Bounded(ctx.f_def.value * ct, ctx.f_def.err * cv + 2.0 * ctx.u * f64(ctx.f_def.value * ct).abs())
        num = cf.logit_gap(fc, ctx.y, j)
        w = ctx.scale_bounded(w, cv)
    n2 = sq_norm(w, -1)
    g = num / n2.sqrt()
    ctx.cache.setdefault("gamma_undefined", ((f64(n2.value) - n2.err) <= 0).cpu())
    return Bounded(val, g.err)


def effective_margin(ctx: CheckContext) -> list:
    """gamma (autograd) = signed distance to the local hyperplane of (y, j); invariant to logit scale;
    the fraction of points where |gamma| <= r(x), so that gamma is the exact distance."""
    c_id = "effective-margin"
    g = ctx.memo("gamma", lambda: _gamma(ctx))
    j = ctx.cache["j"]
    undef = ctx.cache["gamma_undefined"]          # w_y = w_j within rounding: gamma is not defined
    gaps = [ctx.gap(c_id, "gamma = signed distance to {(w_y - w_j)^T x' + b_y - b_j = 0}", "identity", g,
                    cf.hyperplane_distance(ctx.J, ctx.b, ctx.xf, ctx.y, j), excluded=undef)]
    for c in (C_GRID[0], C_GRID[-1]):
        gaps.append(ctx.gap(c_id, "gamma(c f) = gamma(f)", "identity", ctx.memo(("gamma", c), lambda: _gamma(ctx, c)),
                            g, excluded=undef, extra={"c": c}))
    r = f64(ctx.lin.boundary_distance()).cpu()
    ga = f64(g.value).abs().cpu()
    exact = ga <= r
    inner = ~ctx.on_kink
    frac = float(exact[inner].double().mean()) if bool(inner.any()) else float("nan")
    gaps.append(ctx.gap(c_id, "|gamma| <= r(x): gamma is the exact distance to the y-vs-j boundary", "measurement",
                        ga, r.nan_to_num(posinf=1e308), torch.zeros(ctx.B),
                        extra={"fraction": frac, "exact": [bool(v) for v in exact]}))
    return gaps


def _last_linear(model: nn.Module, x: torch.Tensor):
    """The nn.Linear whose output is the model's output (found with forward hooks), or None."""
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append((m, o))) for m in model.modules()
             if isinstance(m, nn.Linear)]
    try:
        with torch.no_grad():
            out = model(x[:1])
    finally:
        for h in hooks:
            h.remove()
    return seen[-1][0] if seen and seen[-1][1] is out else None


def cross_entropy_scale_variance(ctx: CheckContext) -> list:
    """At correctly classified points (given labels; others excluded), scaling the logits by c keeps gamma
    (identity) while CE and |grad_x CE| fall below derived bounds at every c of the grid 0.1..100:
    CE(c f) = log(1 + sum_{j != y} e^{-c (f_y - f_j)}) <= (K-1) e^{-c m}, and
    |grad_x CE| = c |J^T (p_c - e)| <= c |J|_F sqrt(2) (K-1) e^{-c m}. The series over c (CE, |grad_x CE|,
    |grad_W CE| for the last Linear layer, gamma) is a measurement for the point of largest margin."""
    c_id, K = "cross-entropy-scale-variance", ctx.K
    g = ctx.memo("gamma", lambda: _gamma(ctx))
    gaps = [ctx.gap(c_id, "gamma(c f) = gamma(f)", "identity", ctx.memo(("gamma", c), lambda: _gamma(ctx, c)), g,
                    excluded=ctx.cache["gamma_undefined"], extra={"c": c}) for c in (C_GRID[0], C_GRID[-1])]
    m = ctx.margin(ctx.f, ctx.y)
    m_lo = f64(m.value) - m.err
    excl = (m_lo <= 0).cpu()
    JF = ctx.frobenius_upper()
    for cmax in C_GRID:  # e^{-c m} is far above the rounding error while c m is a few units
        model_c, ct = ctx.scaled(cmax)
        cv = float(ct)
        with torch.no_grad():
            fcv = model_c(ctx.x)
        fc = Bounded(fcv, ctx.f.err * cv + 2.0 * ctx.u * f64(fcv).abs())
        ce = cross_entropy(fc, ctx.y)
        gx = sq_norm(ctx.grad_def(ctx.y, ctx.scale_bounded(ctx.J, cv), softmax(fc), model=model_c), -1).sqrt()
        gaps.append(ctx.gap(c_id, "CE(c f) <= (K-1) exp(-c m)", "inequality", ce,
                            Bounded(upper((K - 1) * torch.exp(-cv * m_lo))), excluded=excl, extra={"c": cv}))
        gaps.append(ctx.gap(c_id, "|grad_x CE(c f)| <= sqrt(2) (K-1) c |J|_F exp(-c m)", "inequality", gx,
                            Bounded(upper(math.sqrt(2) * (K - 1) * cv * JF * torch.exp(-cv * m_lo))), excluded=excl,
                            extra={"c": cv}))
    gaps.append(_ce_sweep(ctx, m, excl))
    return gaps


def _ce_sweep(ctx: CheckContext, m: Bounded, excl: torch.Tensor):
    mv = f64(m.value).cpu().masked_fill(excl | ctx.on_kink, -math.inf)
    label_kind = "given"
    if not bool(torch.isfinite(mv).any()):
        mv, label_kind = f64(ctx.margin(ctx.f, ctx.yhat).value).cpu(), "predicted"
    i = int(mv.argmax())
    y = (ctx.y if label_kind == "given" else ctx.yhat)[i:i + 1]
    last = _last_linear(ctx.model, ctx.x)
    CE, GX, GW, GA = [], [], [], []
    for c in C_GRID:
        model_c, _ = ctx.scaled(c)
        xl = ctx.x[i:i + 1].detach().clone().requires_grad_(True)
        loss = F.cross_entropy(model_c(xl), y)
        params = [xl] + ([last.weight] if last is not None else [])
        grads = torch.autograd.grad(loss, params)
        CE.append(float(loss.detach()))
        GX.append(float(grads[0].norm()))
        GW.append(float(grads[1].norm()) if last is not None else math.nan)
        j = cf.strongest_other(ctx.lin.logits[i:i + 1], y)
        GA.append(float(reg.effective_margin(model_c, ctx.x[i:i + 1], y, j=j)))
    return ctx.measurement("cross-entropy-scale-variance", "scale sweep", {
        "c": list(C_GRID), "series": {"CE": CE, "|grad_x CE|": GX, "|grad_W CE|": GW, "gamma": GA},
        "point": i, "label": label_kind, "last_layer": "nn.Linear" if last is not None else None})


def emr_limits(ctx: CheckContext) -> list:
    """R-EMR (autograd) at T = 1e6 vs |J^T 1|^2/K^2, and at T = 1e-6 vs |w_yhat|^2, each within a derived
    bound; and the temperature sweep for one point.

    Hot: pt_k in [e^{-rho}/K, e^{rho}/K] with rho = range(f)/T, so |pt - 1/K|_2 <= (e^rho - 1)/sqrt(K) and
    | |J^T pt|^2 - |J^T 1/K|^2 | <= |J|_F^2 (e^rho - 1)(1 + 1/sqrt(K))/sqrt(K).
    Cold (certified unique max, others excluded): | |J^T pt~|^2 - |w_yhat|^2 | <= |J|_F^2 |pt~ - e|(|pt~| + 1),
    evaluated a posteriori on the float pt~ the definition used (its seed), plus the rounding of the
    backprop of that seed; the a-priori |pt - e| <= sqrt(2)(K-1) e^{-m/T} is recorded in extra."""
    c_id, K = "emr-limits", ctx.K
    JF = ctx.frobenius_upper()
    fv = f64(ctx.f_def.value)
    rho = (fv.amax(-1) - fv.amin(-1) + 2 * ctx.f_def.err.amax(-1)) / T_HOT
    trunc = upper(JF ** 2 * torch.expm1(rho) * (1 + 1 / math.sqrt(K)) / math.sqrt(K))
    pt = softmax(ctx.f_def * (1.0 / T_HOT))
    hot = sq_norm(Bounded(ctx.emr_grad(T_HOT), vjp_err(ctx.J, pt)), -1)
    gaps = [ctx.gap(c_id, "R-EMR(T=1e6) = |J^T 1|^2/K^2 (hot limit)", "identity", hot, cf.emr_hot_limit(ctx.J), trunc,
                    extra={"T": T_HOT, "truncation": to_list(trunc)})]
    m = ctx.margin(ctx.f, ctx.yhat)
    m_lo = f64(m.value) - m.err
    excl = (m_lo <= 0).cpu()
    with torch.no_grad():
        ptc = torch.softmax(ctx.f_def.value / T_COLD, dim=1)
    cold = sq_norm(Bounded(ctx.emr_grad(T_COLD), vjp_err(ctx.J, Bounded(ptc))), -1)
    dev = (f64(ptc) - F.one_hot(ctx.yhat, K).to(torch.float64)).norm(dim=-1)
    post = upper(JF ** 2 * dev * (f64(ptc).norm(dim=-1) + 1))
    prior = upper(JF ** 2 * math.sqrt(2) * (K - 1) * torch.exp(-m_lo.clamp(min=0) / T_COLD) * 2)
    gaps.append(ctx.gap(c_id, "R-EMR(T=1e-6) = |w_yhat|^2 (cold limit)", "identity", cold,
                        cf.emr_cold_limit(ctx.J, ctx.yhat), post, excluded=excl,
                        extra={"T": T_COLD, "truncation": to_list(post), "a_priori": to_list(prior)}))
    mv = f64(m.value).cpu().masked_fill(ctx.on_kink, -math.inf)
    i = int(mv.argmax())
    X = ctx.x[i:i + 1].repeat(len(T_GRID), *([1] * (ctx.x.dim() - 1)))
    series = ctx.emr_grad(torch.tensor(T_GRID), x=X).square().sum(-1)
    gaps.append(ctx.measurement(c_id, "temperature sweep", {
        "T": list(T_GRID), "emr": to_list(series), "hot_limit": float(f64(cf.emr_hot_limit(ctx.J).value)[i]),
        "cold_limit": float(f64(cf.emr_cold_limit(ctx.J, ctx.yhat).value)[i]), "point": i,
        "predicted": int(ctx.yhat[i])}))
    return gaps


CHECKERS = {
    "euler-homogeneous": euler_homogeneous,
    "effective-margin": effective_margin,
    "cross-entropy-scale-variance": cross_entropy_scale_variance,
    "emr-limits": emr_limits,
}
