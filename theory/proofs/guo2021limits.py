"""The prover of the claim ``confident-limit`` (Guo et al., the connections paper), symbolic in K and D:
re-exported by :mod:`theory.proofs.guo2021connections`, whose ``PROVERS`` holds it."""

from __future__ import annotations

import sympy as sp
from sympy import Sum

from theory.proofs import METHOD_SERIES, Derivation, Proof
from theory.proofs.setting import GENERAL, cl_sum, fro_sum, general_setting

__all__ = ["prove_confident_limit"]


def prove_confident_limit() -> Proof:
    """Scaling the logits by c -> oo drives R-IG, tr H and small-h R-CURE to 0 exponentially; R-JAC, R-CL grow as c^2.

    With f -> c f (J -> c J) at a correctly classified x with gap delta = f_y - max_{j != y} f_j > 0:
    q_j = p_j / p_y = exp(-c (f_y - f_j)) <= exp(-c delta), 1 - p_y <= sum_{j != y} q_j <= (K-1) exp(-c delta),
    so R-IG <= (1 - p_y) c^2 CL / 2, tr H <= exp(-c delta) c^2 CL / 2, h^2 |H z|^2 <= h^2 (tr H)^2 (|z| = 1),
    each c^n exp(-c delta) -> 0; and R-JAC(cJ) = c^2 R-JAC(J), R-CL(cJ) = c^2 R-CL(J) exactly.
    Assumptions: x correctly classified with a unique largest logit; x in the interior of its region.
    Provenance: [derived] (setting of Guo et al., TPAMI 2021); derived here, not evidence the paper states it.
    """
    s = general_setting()
    dv = Derivation("confident-limit", GENERAL + " + " + METHOD_SERIES,
                    "general K and D (bounds proved symbolically, limits of the bounds by sympy with symbolic "
                    "delta, K, CL); one instance K = 3, D = 2 with rational J and logits (1, 0, -1): exact "
                    "leading orders in t = exp(-c)")
    c, delta_ = sp.Symbol("c", positive=True), sp.Symbol("delta", positive=True)
    CL, h = sp.Symbol("CL", nonnegative=True), s.h
    dv.equal("R-JAC(c J) = c^2 R-JAC(J)", Sum((c * s.W[s.k, s.d]) ** 2, (s.k, 1, s.K), (s.d, 1, s.D)),
             c**2 * fro_sum(s), s.alg, tex=r"\text{R-JAC}(c J) = c^2\, \text{R-JAC}(J)",
             why=r"R-JAC is quadratic in $J$, and scaling the logits $f \to c f$ scales $J \to c J$")
    dv.equal("R-CL(c J) = c^2 R-CL(J)",
             Sum((c * s.W[s.l, s.d] - c * s.W[s.m, s.d]) ** 2, (s.l, 1, s.K), (s.m, 1, s.K), (s.d, 1, s.D)),
             c**2 * cl_sum(s), s.alg, tex=r"\text{R-CL}(c J) = c^2\, \text{R-CL}(J)",
             why="R-CL is quadratic in $J$ too")
    sig, qj = sp.Symbol("sigma", nonnegative=True), sp.Symbol("q_j", nonnegative=True)
    dv.equal("1 - p_y = sigma/(1 + sigma) with sigma = sum_{j != y} q_j, and sigma - sigma/(1 + sigma) "
             "= sigma^2/(1 + sigma) >= 0", sig - (1 - 1 / (1 + sig)), sig**2 / (1 + sig),
             tex=r"1 - p_y = \frac{\sigma}{1 + \sigma} \leq \sigma, \quad \sigma = \sum_{j \neq y} q_j, \quad "
                 r"q_j = \frac{p_j}{p_y} = e^{-c (f_y - f_j)}",
             why=r"$\sigma - \sigma / (1 + \sigma) = \sigma^2 / (1 + \sigma) \geq 0$")
    dv.equal("p_j = q_j/(1 + sigma) <= q_j: q_j - p_j = q_j sigma/(1 + sigma) >= 0", qj - qj / (1 + sig),
             qj * sig / (1 + sig), tex=r"p_j = \frac{q_j}{1 + \sigma} \leq q_j",
             why=r"$q_j - p_j = q_j \sigma / (1 + \sigma) \geq 0$")
    dv.note("so 1 - p_y <= (K - 1) exp(-c delta), and p_l p_m <= exp(-c delta) for l != m (one of them is not y)",
            tex=r"1 - p_y \leq (K - 1) e^{-c \delta}, \quad p_l p_m \leq e^{-c \delta} \quad (l \neq m)",
            why=r"each $q_j \leq e^{-c \delta}$, with the gap $\delta = f_y - \max_{j \neq y} f_j > 0$; one of "
                r"$l \neq m$ is not $y$")
    small = r" = o(e^{-c \delta / 2})"
    bounds = {"R-IG <= c^2 (K - 1) exp(-c delta) CL/2 (chain (b) of input-gradient-bounds)":
              (c**2 * (s.K - 1) * sp.exp(-c * delta_) * CL / 2,
               r"\text{R-IG} \leq c^2 (K - 1) e^{-c \delta}\, \mathrm{CL}/2" + small,
               r"chain (b) of input-gradient-bounds at scale $c$"),
              "tr H = 1/2 sum p_l p_m |c w_l - c w_m|^2 <= exp(-c delta) c^2 CL/2":
              (sp.exp(-c * delta_) * c**2 * CL / 2,
               r"\operatorname{tr} H = \frac{1}{2} \sum_{l \neq m} p_l p_m c^2 \|w_l - w_m\|^2 \leq e^{-c \delta} "
               r"c^2\, \mathrm{CL}/2" + small,
               r"hessian-trace-weighted-cross-lipschitz at scale $c$, with $p_l p_m \leq e^{-c \delta}$"),
              "small-h R-CURE <= h^2 (tr H)^2 (H PSD, |z| = 1)":
              (h**2 * (sp.exp(-c * delta_) * c**2 * CL / 2) ** 2,
               r"h^2 \|H z\|^2 \leq h^2 (\operatorname{tr} H)^2 \leq h^2 (e^{-c \delta} c^2\, \mathrm{CL}/2)^2" + small,
               r"$\|H z\| \leq \lambda_{\max}(H) \leq \operatorname{tr} H$ for a PSD $H$ and $\|z\| = 1$")}
    for text, (bound, tex, why) in bounds.items():
        dv.check(f"{text}; the bound times exp(c delta / 2) -> 0 as c -> oo",
                 sp.limit(bound * sp.exp(c * delta_ / 2), c, sp.oo) == 0, sp.Eq(sp.Symbol("bound"), bound),
                 tex=tex, why=why + r"; sympy: the bound times $e^{c \delta / 2}$ tends to 0 as $c \to \infty$")
    t, R = sp.Symbol("t", positive=True), sp.Rational
    J, fl = sp.Matrix([[1, 2], [R(-1, 2), 3], [2, -1]]), [1, 0, -1]
    q = [t ** (fl[0] - v) for v in fl]
    P = sp.Matrix([v / sum(q) for v in q])
    S, e = sp.diag(*P) - P * P.T, sp.eye(3)[:, 0]
    g = J.T * (P - e)
    H = J.T * S * J
    normF, trace = sp.Function("norm_F"), sp.Function("tr")
    orders = {"R-IG / c^2": ((g.T * g)[0], 2, sp.Symbol("R_IG") / c**2, r"\text{R-IG} / c^2"),
              "tr H / c^2": (H.trace(), 1, trace(sp.Symbol("H")) / c**2, r"\operatorname{tr} H / c^2"),
              "|H|_F^2 / c^4": (sum(v**2 for v in H), 2, normF(sp.Symbol("H")) ** 2 / c**4, r"\|H\|_F^2 / c^4")}
    for name, (expr, order, label, label_tex) in orders.items():
        lead = sp.limit(sp.cancel(expr / t**order), t, 0)
        dv.check(f"instance: {name} = O(t^{order}) with t = exp(-c), leading coefficient {lead} (so -> 0 "
                 f"exponentially)", sp.cancel(expr).subs(t, 0) == 0 and lead.is_finite and lead != 0,
                 sp.Eq(label, sp.series(sp.cancel(expr), t, 0, order + 1)),
                 tex=rf"{label_tex} = {sp.latex(lead)}\, {sp.latex(t**order)} + \mathcal{{O}}(t^{order + 1}), "
                     r"\quad t = e^{-c}",
                 why=r"an exact instance ($K = 3$, $D = 2$, logits $(1, 0, -1)$ scaled by $c$): the leading order in "
                     r"$t = e^{-c}$ has a finite nonzero coefficient")
    return dv.proof()
