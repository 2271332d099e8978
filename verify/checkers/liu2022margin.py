"""Checkers for the effective-margin paper (Liu & Chan, BMVC 2022; seed 001).

euler-homogeneous, effective-margin and emr-limits are [derived]; cross-entropy-scale-variance is
[abstract] (our operationalisation: exact exponential bounds at a large scale c, and the series).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from verify.checkers.common import C_GRID, CheckContext, bias_free, f64, to_list, upper
from verify.numerics.bounds import Bounded, cross_entropy, softmax, sq_norm, vjp_err
from verify.regularizers import closed_forms as cf
from verify.regularizers.definitions import unchecked as reg  # the context has checked and linearized the batch
from verify.results.gap import Gap

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


def _temperature(ctx: CheckContext, T: float) -> float:
    """T as the model's dtype represents it: the temperature the definition divides by, taken as exact."""
    return float(torch.tensor(T, dtype=ctx.dtype))


def _emr_seed(ctx: CheckContext, T: float, m_lo: torch.Tensor, logits: Bounded | None = None) -> Bounded:
    """The seed pt~ = softmax(f~/T) of the definition (float, as emr_grad computes it), with a bound on its
    distance to the exact pt = softmax(f/T): the smaller of two valid bounds per entry.

    - relative: :func:`verify.numerics.bounds.softmax` of f~/T, whose logit error is err(f)/T (grows as T -> 0);
    - one-hot: with s = f/T and s~ = fl(f~/T) within sigma of s, both exact softmaxes have
      p_j <= e^{-(s_yhat - s_j)} <= e^{-mu} for j != yhat, mu = m/T - 2 max sigma (m >= m_lo), and
      1 - p_yhat = sum_{j != yhat} p_j, so |p_j(s~) - p_j(s)| <= e^{-mu} and |p_yhat(s~) - p_yhat(s)| <=
      (K-1) e^{-mu}; plus torch's evaluation of softmax(s~), bounded by verify.numerics.bounds.softmax at err 0.
    """
    sc = (ctx.f_def if logits is None else logits) / T
    rel = softmax(sc)
    rnd = softmax(Bounded(sc.value))
    mu = m_lo / T - 2 * sc.err.amax(-1)
    tail = torch.exp(-mu).unsqueeze(-1).expand(-1, ctx.K)
    tail = torch.where(F.one_hot(ctx.yhat, ctx.K).bool(), (ctx.K - 1) * tail, tail)
    return Bounded(rel.value, torch.minimum(rel.err, rnd.err + upper(tail)))


def _emr_def(ctx: CheckContext, T: float, m_lo: torch.Tensor) -> Bounded:
    """R-EMR(T) = |J^T pt|^2 by its definition (autograd of sum_k pt_k f_k, pt = softmax(f/T) detached;
    ``T`` representable in the dtype), with the bound of backprop of the seed (see :func:`_emr_seed`)."""
    return sq_norm(Bounded(ctx.emr_grad(T), vjp_err(ctx.J, _emr_seed(ctx, T, m_lo))), -1)


def _emr_closed(ctx: CheckContext, T: float, m_lo: torch.Tensor) -> Bounded:
    """R-EMR(T) = |J^T pt|^2 in closed form from the linearization: J and pt = softmax(f/T) of its logits,
    pt bounded as in :func:`_emr_seed`."""
    return cf.emr(ctx.J, _emr_seed(ctx, T, m_lo, ctx.f))


def _norm_up(v: Bounded) -> torch.Tensor:
    """An upper bound on sqrt(v) for a Bounded square norm v (float64)."""
    return upper((f64(v.value) + v.bound()).clamp(min=0).sqrt())


def _hot_truncation(JF: torch.Tensor, spread: torch.Tensor, T: float, K: int, hot: Bounded) -> torch.Tensor:
    """A bound on | |J^T pt|^2 - |J^T 1|^2/K^2 | at temperature T (see :func:`emr_limits`): with
    delta = (e^rho - 1)/sqrt K >= |pt - 1/K|, rho = spread/T, spread >= max f - min f,
    |J|_F delta min(|J|_F (1 + 1/sqrt K), 2 |J^T 1|/K + |J|_F delta), and never above |J|_F^2;
    0 where J = 0 (both sides are 0)."""
    delta = torch.expm1(spread / T) / math.sqrt(K)
    plus = torch.minimum(JF * (1 + 1 / math.sqrt(K)), 2 * _norm_up(hot) + JF * delta)
    t = torch.minimum(upper(JF * delta * plus), upper(JF ** 2))
    return torch.where(JF > 0, t, torch.zeros_like(t))


def _cold_truncation(JF: torch.Tensor, m_lo: torch.Tensor, T: float, K: int, cold: Bounded) -> torch.Tensor:
    """An a-priori bound on | |J^T pt|^2 - |w_yhat|^2 | at temperature T (see :func:`emr_limits`): with
    eps = sqrt(2)(K-1) e^{-m/T} >= |pt - e|, m >= m_lo > 0, |J|_F eps min(2 |J|_F, 2 |w_yhat| + |J|_F eps), and
    never above |J|_F^2. e^{-m/T} is kept at least the smallest subnormal, so that its underflow to 0 cannot make the bound
    smaller than the true term."""
    eps = math.sqrt(2) * (K - 1) * torch.exp(-m_lo.clamp(min=0) / T).clamp(min=2.0 ** -1074)
    return torch.minimum(upper(JF * eps * torch.minimum(2 * JF, 2 * _norm_up(cold) + JF * eps)), upper(JF ** 2))


def _grid_gap(ctx: CheckContext, check: str, lhs: list, rhs: Bounded | list, trunc: list | None, Ts: list,
              excluded: torch.Tensor | None, extra: dict) -> Gap:
    """One identity Gap over the whole temperature grid: point t * B + i is input i at T = Ts[t], with
    bound = rounding of both sides + the truncation term at that T (none for an exact identity); ``rhs`` is
    one value per input (a limit) or a list, one per T; kinks and exclusions repeat per T."""
    n = len(Ts)
    rhs = rhs if isinstance(rhs, list) else [rhs] * n
    trunc = trunc if trunc is not None else [torch.zeros_like(f64(lhs[0].value))] * n
    L = torch.stack([f64(v.value) for v in lhs]).cpu()
    bound = (torch.stack([v.bound() for v in lhs]) + torch.stack([v.bound() for v in rhs]) + torch.stack(trunc)).cpu()
    R = torch.stack([f64(v.value) for v in rhs]).cpu()
    ex = to_list(excluded.repeat(n)) if excluded is not None else None
    return Gap("emr-limits", check, "identity", to_list(L), to_list(R), to_list(bound),
               dtype=str(ctx.dtype).replace("torch.", ""), device=str(ctx.device), seed=int(ctx.seed),
               arch=ctx.arch, kink_distance=ctx.kink * n, on_kink=[bool(v) for v in ctx.on_kink.repeat(n)],
               kink_decision=ctx.kink_codes * n,
               excluded=[bool(v) for v in ex] if ex is not None else None,
               extra=dict(extra, T=[T for T in Ts for _ in range(ctx.B)],
                          truncation=to_list(torch.stack(trunc))))


#: The sweep checks of emr-limits, each one Gap over the whole T_GRID x point grid: the definition against
#: its closed form at every T (an exact identity), and against each limit within its truncation bound.
EMR_CLOSED_SWEEP = "R-EMR(T) = |J^T softmax(f/T)|^2 (closed form), every T"
EMR_HOT_SWEEP = "R-EMR(T) = |J^T 1|^2/K^2 + O(e^{range(f)/T} - 1), every T"
EMR_COLD_SWEEP = "R-EMR(T) = |w_yhat|^2 + O((K-1) e^{-m/T}), every T"


def emr_limits(ctx: CheckContext) -> list:
    """R-EMR(T) (autograd, as the official code computes it) against its two limits, each within a derived
    truncation bound plus the rounding of both sides: at T = 1e6 and T = 1e-6, and at every T of the sweep
    T_GRID = 1e-3 .. 1e3 at every point; at every T of the sweep also against its closed form |J^T pt|^2 from
    the linearization (rounding only: this identity sees a wrong temperature such as softmax(f/T^2), which
    only changes how fast the limits are approached); and, for one point, the sweep with both bounds (a
    measurement).

    With a = pt = softmax(f/T) and b the limit's weights, | |J^T a|^2 - |J^T b|^2 | <= |J^T (a - b)| |J^T (a + b)|
    <= |J|_F |a - b| |J^T (a + b)|, and |J^T (a + b)| <= min(|J|_F |a + b|, 2 |J^T b| + |J|_F |a - b|).

    - Hot (b = 1/K, every point): pt_k = 1 / sum_j e^{(f_j - f_k)/T} lies in [e^{-rho}/K, e^{rho}/K] with
      rho = range(f)/T, so |pt - 1/K| <= delta = (e^rho - 1)/sqrt(K); |a + b| <= |pt| + |1/K| <= 1 + 1/sqrt(K)
      and |J^T b| = |J^T 1|/K, hence | R-EMR(T) - |J^T 1|^2/K^2 | <= |J|_F delta min(|J|_F (1 + 1/sqrt K),
      2 |J^T 1|/K + |J|_F delta) (the first form is |J|_F^2 (e^rho - 1)(1 + 1/sqrt K)/sqrt K).
    - Cold (b = e_yhat, at points with a certified unique max, margin m = f_yhat - max_{j != yhat} f_j > 0;
      others excluded): 1 - pt_yhat = sum_{j != yhat} pt_j <= sum_{j != yhat} e^{-(f_yhat - f_j)/T} <=
      (K-1) e^{-m/T} and |pt - e|^2 = (1 - pt_yhat)^2 + sum_{j != yhat} pt_j^2 <= 2 (1 - pt_yhat)^2, so
      |pt - e| <= eps = sqrt(2)(K-1) e^{-m/T}; |a + b| <= |pt| + 1 <= 2, hence
      | R-EMR(T) - |w_yhat|^2 | <= |J|_F eps min(2 |J|_F, 2 |w_yhat| + |J|_F eps) <= 2 sqrt(2)(K-1) |J|_F^2 e^{-m/T}.

    Both sides also obey the trivial bound |R-EMR(T) - limit| <= max(R-EMR(T), limit) <= |J|_F^2 (each is a
    square norm of J^T v with |v| <= 1), which caps either truncation bound where it explodes (the hot one
    as T -> 0, the cold one as T -> oo): there it is uninformative, but finite. range(f) is replaced by a
    certified upper bound, m by a certified lower bound, |J|_F, |J^T 1| and |w_yhat| by upper bounds. The sweep judges the a-priori cold bound (the predicted decay rate e^{-m/T}) at every T;
    the single check at T = 1e-6 judges the a-posteriori |J|_F^2 |pt~ - e|(|pt~| + 1) on the float seed pt~
    the definition used, with the a-priori bound recorded in extra. The definition's rounding bound covers
    backprop and its float seed (:func:`_emr_seed`). Each side's sweep is one Gap over the T x point grid
    (point t * B + i is input i at T_GRID[t], the temperatures as the dtype represents them); at the end of
    the grid away from a limit the truncation bound exceeds the values, and those points are counted
    uninformative (both sides are checked at every T: where a bound can be informative depends on range(f)
    and m, not on T alone)."""
    c_id, K = "emr-limits", ctx.K
    JF = ctx.frobenius_upper()
    fv = f64(ctx.f_def.value)
    spread = fv.amax(-1) - fv.amin(-1) + 2 * ctx.f_def.err.amax(-1)      # >= range of the exact logits
    hot_lim, cold_lim = cf.emr_hot_limit(ctx.J), cf.emr_cold_limit(ctx.J, ctx.yhat)
    m = ctx.margin(ctx.f, ctx.yhat)
    m_lo = f64(m.value) - m.err
    excl = (m_lo <= 0).cpu()
    Th = _temperature(ctx, T_HOT)
    trunc = _hot_truncation(JF, spread, Th, K, hot_lim)
    gaps = [ctx.gap(c_id, "R-EMR(T=1e6) = |J^T 1|^2/K^2 (hot limit)", "identity", _emr_def(ctx, Th, m_lo),
                    hot_lim, trunc, extra={"T": Th, "truncation": to_list(trunc)})]
    with torch.no_grad():
        ptc = torch.softmax(ctx.f_def.value / T_COLD, dim=1)
    cold = sq_norm(Bounded(ctx.emr_grad(T_COLD), vjp_err(ctx.J, Bounded(ptc))), -1)
    dev = (f64(ptc) - F.one_hot(ctx.yhat, K).to(torch.float64)).norm(dim=-1)
    post = upper(JF ** 2 * dev * (f64(ptc).norm(dim=-1) + 1))
    prior = _cold_truncation(JF, m_lo, T_COLD, K, cold_lim)
    gaps.append(ctx.gap(c_id, "R-EMR(T=1e-6) = |w_yhat|^2 (cold limit)", "identity", cold, cold_lim, post,
                        excluded=excl, extra={"T": T_COLD, "truncation": to_list(post), "a_priori": to_list(prior)}))
    # the sweep: every T, every point, each side against its a-priori truncation bound
    Ts = [_temperature(ctx, T) for T in T_GRID]
    emr = [_emr_def(ctx, T, m_lo) for T in Ts]
    hot = _grid_gap(ctx, EMR_HOT_SWEEP, emr, hot_lim, [_hot_truncation(JF, spread, T, K, hot_lim) for T in Ts],
                    Ts, None, {"side": "hot"})
    cold = _grid_gap(ctx, EMR_COLD_SWEEP, emr, cold_lim, [_cold_truncation(JF, m_lo, T, K, cold_lim) for T in Ts],
                     Ts, excl, {"side": "cold"})
    closed = _grid_gap(ctx, EMR_CLOSED_SWEEP, emr, [_emr_closed(ctx, T, m_lo) for T in Ts], None, Ts, None,
                       {"side": "closed form"})
    gaps += [closed, hot, cold]
    # the measurement for the figure: the judged values and bounds of one point (largest margin, off kinks)
    mv = f64(m.value).cpu().masked_fill(ctx.on_kink, -math.inf)
    i, B = int(mv.argmax()), ctx.B
    at = [t * B + i for t in range(len(Ts))]
    gaps.append(ctx.measurement(c_id, "temperature sweep", {
        "T": Ts, "emr": [hot.lhs[k] for k in at], "hot_limit": hot.rhs[i], "cold_limit": cold.rhs[i],
        "hot_bound": [hot.bound[k] for k in at],
        "cold_bound": None if bool(excl[i]) else [cold.bound[k] for k in at],
        "point": i, "predicted": int(ctx.yhat[i])}))
    return gaps


#: The checker of each claim of this paper's group, by claim id.
CHECKERS = {
    "euler-homogeneous": euler_homogeneous,
    "effective-margin": effective_margin,
    "cross-entropy-scale-variance": cross_entropy_scale_variance,
    "emr-limits": emr_limits,
}
