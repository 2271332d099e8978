"""Symbolic proofs of the curvature (CURE) claims attributed to the connections paper (Guo et al., TPAMI 2021;
seeds 000, 003): the soft-label gradient inside a region, the small-step expansion and the region crossing.

Every claim here is tagged [derived] (see :mod:`theory.proofs.guo2021connections`, which registers these
provers with the rest of the paper's).

>>> prove_curvature_small_step().holds
True
"""

from __future__ import annotations

import sympy as sp
from sympy import KroneckerDelta as delta
from sympy import Sum

from theory.proofs import (
    METHOD_SERIES,
    Derivation,
    IndexAlgebra,
    Proof,
)
from theory.proofs.setting import GENERAL, general_setting, sq, vanishes

__all__ = ["prove_curvature_soft_label_gradient", "prove_curvature_small_step", "prove_curvature_region_crossing"]


def prove_curvature_soft_label_gradient() -> Proof:
    """Within one region, the CURE difference of gradients is a soft-label input gradient.

    Identity: grad L(x + h z) - grad L(x) = J^T (p(x + h z) - p(x)); and the cross-entropy against a soft
    label q, L_q = -sum_k q_k log p_k, has gradient J^T (p - q), which at x + h z with q = p(x) is the same.
    Assumptions: x and x + h z in the same activation region (same J and b).
    Provenance: [derived] (setting of Guo et al., TPAMI 2021); derived here, not evidence the paper states it.
    """
    s = general_setting()
    dv = Derivation("curvature-soft-label-gradient", GENERAL, "general K and D")
    K, k, j, h = s.K, s.k, s.j, s.h
    p2, Z2, q = sp.IndexedBase("p'"), sp.Symbol("Z'", positive=True), sp.IndexedBase("q")
    alg = IndexAlgebra(s.alg.ranges, {s.p: K, p2: K, q: K})
    g0 = s.to_p(sp.diff(s.L(s.y), s.x[j]))
    gh = s.to_p(sp.diff(s.L(s.y, shift=h), s.x[j]), shift=h, p=p2, Z=Z2)
    dv.note("gradient at x + h z (same W, b), derived by diff; exp(f_k(x + h z)) = Z' p'_k", gh,
            tex=r"\nabla L(x + h z)_j = \sum_k p'_k J_{kj} - J_{yj}, \quad p' = p(x + h z)",
            why=r"the same affine piece (same $J$, $b$) at the moved point, derived by sympy; "
                r"$\exp(f_k(x + h z)) = Z' p'_k$")
    dv.equal("grad L(x + h z) - grad L(x) = (J^T (p' - p))_j", gh - g0,
             Sum(s.W[k, j] * (p2[k] - s.p[k]), (k, 1, K)), alg,
             tex=r"\nabla L(x + h z) - \nabla L(x) = J^\top (p' - p)", why="the label terms $-J_{yj}$ cancel")
    logp = lambda c: s.f(c, h) - sp.log(Sum(sp.exp(s.f(k, h)), (k, 1, K)))  # noqa: E731
    r = sp.Dummy("r", integer=True)
    Lq = -Sum(q[r] * logp(r), (r, 1, K))
    gq = s.to_p(sp.diff(Lq, s.x[j]), shift=h, p=p2, Z=Z2)
    dv.note("soft-label cross-entropy L_q(x + h z) = -sum_r q_r log p_r(x + h z), differentiated by diff", gq,
            tex=r"L_q = -\sum_r q_r \log p_r, \quad \frac{\partial L_q}{\partial x_j}(x + h z) = "
                r"\left(\sum_r q_r\right) \sum_k p'_k J_{kj} - \sum_r q_r J_{rj}",
            why="the cross-entropy against a soft label $q$, differentiated by sympy at $x + h z$")
    dv.equal("grad L_q(x + h z) = (J^T (p' - q))_j (sum_k q_k = 1)", gq,
             Sum(s.W[k, j] * (p2[k] - q[k]), (k, 1, K)), alg,
             tex=r"\nabla L_q(x + h z) = J^\top (p' - q)", why=r"a soft label sums to 1: $\sum_r q_r = 1$")
    dv.note("with q = p(x) the two gradients coincide: R-CURE is |grad L_{p(x)}(x + h z)|^2",
            tex=r"\nabla L_{p(x)}(x + h z) = J^\top (p' - p) = \nabla L(x + h z) - \nabla L(x)",
            why=r"take $q = p(x)$: R-CURE $= \|\nabla L_{p(x)}(x + h z)\|^2$, a soft-label input gradient")
    return dv.proof()


def prove_curvature_small_step() -> Proof:
    """For small steps, CURE is the squared Hessian-vector product: R-CURE = h^2 |H z|^2 + O(h^3).

    With g(h) = grad L(x + h z) - grad L(x) (both derived by ``diff``): g(0) = 0 and
    R-CURE(h) = |g(h)|^2 has R(0) = R'(0) = 0 and R''(0) / 2 = |H z|^2 with H = J^T S J; R is analytic in h
    inside the region, so Taylor's theorem gives the O(h^3) remainder.
    Assumptions: x in the interior of its activation region and h small enough that x + h z stays in it.
    Provenance: [derived] (setting of Guo et al., TPAMI 2021); derived here, not evidence the paper states it.
    """
    s = general_setting()
    dv = Derivation("curvature-small-step", GENERAL + " + " + METHOD_SERIES,
                    "Taylor coefficients of R-CURE up to h^2 for general K and D (diff at h = 0); sympy series "
                    "in h for K = 3, D = 2 with symbolic J, z and p")
    K, k, l, j, i, h, W, z = s.K, s.k, s.l, s.j, s.i, s.h, s.W, s.z
    g = sp.diff(s.L(s.y, shift=h), s.x[j]) - sp.diff(s.L(s.y), s.x[j])
    dv.check("g(0) == 0", g.subs(h, 0) == 0,
             tex=r"g(h) = \nabla L(x + h z) - \nabla L(x), \quad g(0) = 0",
             why="the difference of the gradients, derived by sympy, vanishes at $h = 0$")
    Hz = lambda r: Sum(W[k, r] * s.S(k, l) * W[l, i] * z[i], (k, 1, K), (l, 1, K), (i, 1, s.D))  # noqa: E731
    dv.equal("g'(0) = (H z)_j with H = J^T S J", s.to_p(sp.diff(g, h).subs(h, 0)), Hz(j), s.alg,
             tex=r"g'(0) = J^\top S(p) J z = H z",
             why=r"$\frac{d}{dh} p(x + h z) = S(p(x + h z)) J z$; at $h = 0$ this is the Hessian times $z$")
    R = sq(g, j, s.D)
    dv.check("R(0) == 0 and R'(0) == 0", R.subs(h, 0).doit() == 0
             and s.alg.residual(s.to_p(sp.diff(R, h).subs(h, 0))) == 0,
             tex=r"R(h) = \|g(h)\|^2: \quad R(0) = 0, \quad R'(0) = 2 g(0)^\top g'(0) = 0",
             why="both vanish because $g(0) = 0$")
    dv.equal("R''(0) / 2 = |H z|^2", s.to_p(sp.diff(R, h, 2).subs(h, 0)) / 2, sq(Hz(j), j, s.D), s.alg,
             tex=r"\frac{1}{2} R''(0) = \|g'(0)\|^2 = \|H z\|^2",
             why=r"$R'' = 2 \|g'\|^2 + 2 g^\top g''$ and $g(0) = 0$; Taylor: $R(h) = h^2 \|H z\|^2 + "
                 r"\mathcal{O}(h^3)$")
    # series on an instance: p_k(h) = p_k exp(h u_k) / sum_l p_l exp(h u_l) with u = J z
    J = sp.Matrix(3, 2, lambda r, c: sp.Symbol(f"w_{r + 1}{c + 1}"))
    u, p = sp.symbols("u_1:4"), list(sp.symbols("p_1:3")) + [1 - sum(sp.symbols("p_1:3"))]
    hh = sp.Symbol("h")
    num = [pk * sp.exp(hh * uk) for pk, uk in zip(p, u)]
    inv = sp.series(1 / sum(num), hh, 0, 3).removeO()
    series = [sp.expand(sp.series(nk, hh, 0, 3).removeO() * inv) for nk in num]
    series = [sum(e.coeff(hh, n) * hh**n for n in range(3)) for e in series]
    dv.note("sympy series (to O(h^3)) of p(x + h z) - p(x), from the series of exp(h u_k) and of "
            "1 / sum_l p_l exp(h u_l) (exp(f_k) = Z p_k, p_3 = 1 - p_1 - p_2)",
            sp.Matrix([sp.collect(sp.expand(a - b), hh) for a, b in zip(series, p)]),
            tex=r"p_k(x + h z) = \frac{p_k \exp(h u_k)}{\sum_l p_l \exp(h u_l)}, \quad u = J z",
            why=r"an instance ($K = 3$, $D = 2$, symbolic $J$, $z$, $p$): the softmax at the moved point, expanded "
                r"by sympy's series to $\mathcal{O}(h^3)$")
    d = sp.Matrix([sp.expand(a - b) for a, b in zip(series, p)])
    gs = (J.T * d).applyfunc(sp.expand)
    coeff = [gs.applyfunc(lambda e: e.coeff(hh, n)) for n in range(3)]
    r0, r1 = (coeff[0].T * coeff[0])[0], (2 * coeff[0].T * coeff[1])[0]
    r2 = (coeff[1].T * coeff[1] + 2 * coeff[0].T * coeff[2])[0]
    P = sp.Matrix(p)
    JSu = J.T * (sp.diag(*P) - P * P.T) * sp.Matrix(u)
    dv.check("K = 3, D = 2: the series of R-CURE = |J^T (p(x + h z) - p(x))|^2 has h^0 and h^1 "
             "coefficients 0", vanishes(r0) and vanishes(r1),
             tex=r"[h^0]\, R = [h^1]\, R = 0, \quad R = \|J^\top (p(x + h z) - p(x))\|^2",
             why="on the instance, the constant and linear coefficients of the series vanish")
    dv.equal("K = 3, D = 2: its h^2 coefficient is |J^T S u|^2, i.e. |H z|^2 at u = J z", r2, (JSu.T * JSu)[0],
             show=sp.Eq(sp.Symbol("[h^2] R_CURE"), sp.Symbol("|J^T S J z|^2")),
             tex=r"[h^2]\, R = \|J^\top S(p) u\|^2 = \|H z\|^2 \quad (u = J z)",
             why="on the instance, the quadratic coefficient is the squared Hessian-vector product")
    return dv.proof()


def prove_curvature_region_crossing() -> Proof:
    """When x + h z leaves the region, the CURE difference gains a pattern-change term.

    Identity: grad L(x') - grad L(x) = J^T (p' - p) + (J' - J)^T (p' - e_y), with (J, b) the affine piece at x
    and (J', b') the one at x' = x + h z, both gradients derived by ``diff``. The exit time along z: a half-space
    with value v > 0 and slope s < 0 along z reaches 0 at t = v / (-s).
    Assumptions: x in the interior of its region; x + h z anywhere (interior of its own region).
    Provenance: [derived] (setting of Guo et al., TPAMI 2021); derived here, not evidence the paper states it.
    The claim's measurements (exit times, crossing fraction, share of R-CURE) are made by the numeric checker.
    """
    s = general_setting()
    dv = Derivation("curvature-region-crossing", GENERAL,
                    "general K and D for the decomposition; the measurements against h are numeric, not proved here")
    K, k, j, h = s.K, s.k, s.j, s.h
    W2, b2, p2, Z2 = sp.IndexedBase("W'"), sp.IndexedBase("b'"), sp.IndexedBase("p'"), sp.Symbol("Z'", positive=True)
    alg = IndexAlgebra(s.alg.ranges, {s.p: K, p2: K})
    g0 = s.to_p(sp.diff(s.L(s.y), s.x[j]))
    g1 = s.to_p(sp.diff(s.L(s.y, h, W2, b2), s.x[j]), shift=h, p=p2, Z=Z2, W=W2, b=b2)
    dv.note("gradient at x' = x + h z on the piece (W', b'), derived by diff", g1,
            tex=r"\nabla L(x') = J'^\top (p' - e_y), \quad x' = x + h z \text{ on the piece } (J', b')",
            why="the gradient on the other affine piece, derived by sympy")
    dv.equal("grad L(x') - grad L(x) = J^T (p' - p) + (J' - J)^T (p' - e_y)", g1 - g0,
             Sum(s.W[k, j] * (p2[k] - s.p[k]) + (W2[k, j] - s.W[k, j]) * (p2[k] - delta(k, s.y)), (k, 1, K)), alg,
             tex=r"\nabla L(x') - \nabla L(x) = J^\top (p' - p) + (J' - J)^\top (p' - e_y)",
             why=r"add and subtract $J^\top (p' - e_y)$; the second term is the pattern change, 0 when $J' = J$")
    v, t = sp.Symbol("v", positive=True), sp.Symbol("t", nonnegative=True)
    slope = sp.Symbol("s", negative=True)
    dv.check("exit time: v + t s = 0 exactly at t = v / (-s)", sp.solve(sp.Eq(v + t * slope, 0), t) == [v / -slope],
             tex=r"v + t s = 0 \Leftrightarrow t = v / (-s)",
             why=r"a half-space with value $v > 0$ at $x$ and rate $s < 0$ along $z$ is left exactly at this $t$")
    return dv.proof()
