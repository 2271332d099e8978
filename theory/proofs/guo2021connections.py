"""Symbolic proofs of the claims attributed to the connections paper (Guo et al., TPAMI 2021; seeds 000, 003).

Every claim here is tagged [derived]: it is true mathematics reconstructed from the connections that the
abstract announces. A proof here is not evidence that the paper states the claim in this form.

The claims of the affine piece itself (``local-affine``, ``input-gradient``, ``hessian-gauss-newton``) are
proved in :mod:`theory.proofs.guo2021affine`; ``PROVERS`` here registers them with the rest.

The derivations start from the definitions: the cross-entropy ``L = -f_y + log sum_k exp(f_k)`` of the
affine piece ``f = J x + b`` (``J = W`` with symbolic entries), differentiated by sympy. Softmax
probabilities enter as ``exp(f_k) = Z p_k`` with ``sum_k p_k = 1``.

>>> prove_cross_lipschitz_centered_jacobian().holds
True
"""

from __future__ import annotations

import random

import sympy as sp
from sympy import KroneckerDelta as delta
from sympy import Sum

from theory.proofs import (
    METHOD_INSTANCES,
    Derivation,
    Proof,
    explicit_softmax_to_p,
    lambda_max_slack,
    random_rational,
    random_simplex,
)
from theory.proofs.guo2021affine import prove_hessian_gauss_newton, prove_input_gradient, prove_local_affine
from theory.proofs.guo2021curvature import (
    prove_curvature_region_crossing,
    prove_curvature_small_step,
    prove_curvature_soft_label_gradient,
)
from theory.proofs.guo2021limits import prove_confident_limit
from theory.proofs.setting import GENERAL, cl_sum, colsum_sq, explicit_piece, fro_sum, general_setting, sq, vanishes

__all__ = [
    "PROVERS", "prove_local_affine", "prove_input_gradient",
    "prove_hessian_gauss_newton", "prove_cross_lipschitz_centered_jacobian",
    "prove_hessian_trace_weighted_cross_lipschitz", "prove_curvature_soft_label_gradient",
    "prove_curvature_region_crossing", "prove_gram_unification", "prove_input_gradient_bounds",
    "prove_curvature_small_step", "prove_confident_limit",
]

def prove_cross_lipschitz_centered_jacobian() -> Proof:
    """Cross-Lipschitz is the Jacobian regularizer of the centred logits.

    Identity: sum_{l,m} |w_l - w_m|^2 = 2K |C J|_F^2 = 2K |J|_F^2 - 2 |J^T 1|^2, C = I - 1 1^T / K; hence
    CL <= 2K |J|_F^2, with 2K |J|_F^2 - CL = 2 sum_d (sum_k W_kd)^2, zero iff sum_k w_k = 0.
    Assumptions: none beyond differentiability (J is any K x D matrix).
    Provenance: [derived] (setting of Guo et al., TPAMI 2021); derived here, not evidence the paper states it.
    """
    s = general_setting()
    dv = Derivation("cross-lipschitz-centered-jacobian", GENERAL,
                    "general K and D (J any K x D matrix); cross-checked by explicit expansion for K = 4, D = 3")
    C = lambda r, c: delta(r, c) - sp.Integer(1) / s.K  # noqa: E731
    CJ = Sum(C(s.k, s.l) * s.W[s.l, s.j], (s.l, 1, s.K))
    cj_fro = Sum(CJ.xreplace({s.j: s.d, s.k: s.m}) ** 2, (s.m, 1, s.K), (s.d, 1, s.D))
    dv.equal("CL = 2K |C J|_F^2", cl_sum(s), 2 * s.K * cj_fro, s.alg,
             tex=r"\mathrm{CL} = \sum_{l,m} \|w_l - w_m\|^2 = 2K \|C J\|_F^2, \quad C = I - \mathbf{1}\mathbf{1}^\top / K",
             why=r"expand both sides entry by entry, with $(CJ)_{md} = J_{md} - \frac{1}{K} \sum_l J_{ld}$")
    dv.equal("CL = 2K |J|_F^2 - 2 |J^T 1|^2", cl_sum(s), 2 * s.K * fro_sum(s) - 2 * colsum_sq(s), s.alg,
             tex=r"\mathrm{CL} = 2K \|J\|_F^2 - 2 \|J^\top \mathbf{1}\|^2",
             why=r"expand $\|w_l - w_m\|^2 = \|w_l\|^2 + \|w_m\|^2 - 2 w_l^\top w_m$ and sum over $l, m$")
    dv.equal("2K |J|_F^2 - CL = 2 sum_d (sum_k W_kd)^2 >= 0: equality iff every column sum, i.e. "
             "sum_k w_k, is 0", 2 * s.K * fro_sum(s) - cl_sum(s), 2 * colsum_sq(s), s.alg,
             tex=r"2K \|J\|_F^2 - \mathrm{CL} = 2 \sum_d \left(\sum_k J_{kd}\right)^2 \geq 0",
             why=r"a sum of squares, 0 iff every column of $J$ sums to 0, i.e. $\sum_k w_k = 0$")
    n = explicit_piece(4, 3)
    w = [n.J[r, :] for r in range(4)]
    cl = sum(((w[r] - w[c]) * (w[r] - w[c]).T)[0] for r in range(4) for c in range(4))
    CJm = (sp.eye(4) - sp.ones(4, 4) / 4) * n.J
    one = n.J.T * sp.ones(4, 1)
    dv.check("explicit K = 4, D = 3: CL == 8 |CJ|_F^2 == 8 |J|_F^2 - 2 |J^T 1|^2",
             vanishes(cl - 8 * sum(v**2 for v in CJm))
             and vanishes(cl - 8 * sum(v**2 for v in n.J) + 2 * (one.T * one)[0]),
             tex=r"\mathrm{CL} = 8 \|CJ\|_F^2 = 8 \|J\|_F^2 - 2 \|J^\top \mathbf{1}\|^2 \quad (K = 4,\ D = 3)",
             why="cross-check with explicit matrices, every entry expanded")
    return dv.proof()


def _ig(s):
    return sq(Sum(s.W[s.k, s.j] * (s.p[s.k] - delta(s.k, s.y)), (s.k, 1, s.K)), s.j, s.D)


def _dist2(s, r, c):
    return Sum((s.W[r, s.e] - s.W[c, s.e]) ** 2, (s.e, 1, s.D))


def prove_input_gradient_bounds() -> Proof:
    """Two chains of upper bounds on the input-gradient regularizer IG = |J^T (p - e)|^2.

    (a) IG <= |p-e|^2 |CJ|_2^2 <= |p-e|^2 CL/(2K) <= |p-e|^2 |J|_F^2, because C (p - e) = p - e;
    (b) IG <= (1 - p_y) sum_{j != y} p_j |w_j - w_y|^2 <= (1 - p_y) CL/2 (Jensen / Lagrange identity).
    Assumptions: x in the interior of its activation region; p a probability vector.
    Provenance: [derived] (setting of Guo et al., TPAMI 2021); derived here, not evidence the paper states it.
    """
    s = general_setting()
    dv = Derivation("input-gradient-bounds", GENERAL + " + " + METHOD_INSTANCES,
                    "general K and D: (b) both steps and the identities behind (a) as sums of squares; (a) also "
                    "uses two standard facts, |A^T v| <= |A|_2 |v| and |A|_2^2 <= |A|_F^2. Every slack "
                    "measured exactly on 40 random rational instances, K <= 5, D <= 3")
    K, k, l, m, y, p, W = s.K, s.k, s.l, s.m, s.y, s.p, s.W
    nd = lambda r: 1 - delta(r, y)  # noqa: E731
    C = lambda r, c: delta(r, c) - sp.Integer(1) / K  # noqa: E731
    dv.equal("(a) C (p - e) = p - e since 1^T (p - e) = 0, so J^T (p - e) = (C J)^T (p - e)",
             Sum(W[k, s.j] * (p[k] - delta(k, y)), (k, 1, K)),
             Sum(C(k, l) * W[l, s.j] * (p[k] - delta(k, y)), (k, 1, K), (l, 1, K)), s.alg,
             tex=r"J^\top (p - e_y) = (C J)^\top (p - e_y)",
             why=r"(a) $C$ is symmetric and $C (p - e_y) = p - e_y$, because $\mathbf{1}^\top (p - e_y) = 0$")
    dv.note("(a) hence IG <= |p - e|^2 |CJ|_2^2 (operator norm), and |CJ|_2^2 <= |CJ|_F^2 = CL/(2K) "
            "(proved in cross-lipschitz-centered-jacobian) <= |J|_F^2 (their difference is 2|J^T 1|^2/(2K))",
            tex=r"\mathrm{IG} \leq \|p - e_y\|^2 \|CJ\|_2^2 \leq \|p - e_y\|^2 \|CJ\|_F^2 = \|p - e_y\|^2 "
                r"\frac{\mathrm{CL}}{2K} \leq \|p - e_y\|^2 \|J\|_F^2",
            why=r"(a) cited: $\|A^\top v\| \leq \|A\|_2 \|v\|$ and $\|A\|_2 \leq \|A\|_F$; then "
                r"cross-lipschitz-centered-jacobian")
    weighted = Sum(nd(k) * p[k] * _dist2(s, k, y), (k, 1, K))
    dv.equal("(b1) (1 - p_y) sum_{k != y} p_k |w_k - w_y|^2 - IG is a sum of squares",
             (1 - p[y]) * weighted - _ig(s),
             Sum(nd(l) * nd(m) * p[l] * p[m] * _dist2(s, l, m), (l, 1, K), (m, 1, K)) / 2, s.alg,
             tex=r"(1 - p_y) \sum_{k \neq y} p_k \|w_k - w_y\|^2 - \mathrm{IG} = \frac{1}{2} "
                 r"\sum_{l, m \neq y} p_l p_m \|w_l - w_m\|^2 \geq 0",
             why=r"(b1) Jensen's inequality for the weights $p_k$, $k \neq y$, of total $1 - p_y$, as an exact sum "
                 r"of squares")
    dv.equal("(b2) CL/2 - sum_{k != y} p_k |w_k - w_y|^2 has nonnegative terms (0 <= p_k <= 1)",
             cl_sum(s) / 2 - weighted,
             Sum(nd(k) * (1 - p[k]) * _dist2(s, k, y), (k, 1, K))
             + Sum(nd(l) * nd(m) * _dist2(s, l, m), (l, 1, K), (m, 1, K)) / 2, s.alg,
             tex=r"\frac{\mathrm{CL}}{2} - \sum_{k \neq y} p_k \|w_k - w_y\|^2 = \sum_{k \neq y} (1 - p_k) "
                 r"\|w_k - w_y\|^2 + \frac{1}{2} \sum_{l, m \neq y} \|w_l - w_m\|^2",
             why=r"(b2) every term on the right is $\geq 0$ as $p_k \leq 1$; times $1 - p_y \geq 0$ this gives (b)")
    rng = random.Random(3)
    for _ in range(40):
        Kn, Dn = rng.randint(2, 5), rng.randint(1, 3)
        J = sp.Matrix(Kn, Dn, lambda r, c: random_rational(rng))
        q, yn = sp.Matrix(random_simplex(rng, Kn)), rng.randrange(Kn)
        v = q - sp.eye(Kn)[:, yn]
        g = J.T * v
        ig, pe2 = (g.T * g)[0], (v.T * v)[0]
        w = [J[r, :] for r in range(Kn)]
        d2 = lambda r, c: ((w[r] - w[c]) * (w[r] - w[c]).T)[0]  # noqa: E731
        cl = sum(d2(r, c) for r in range(Kn) for c in range(Kn))
        CJ = (sp.eye(Kn) - sp.ones(Kn, Kn) / Kn) * J
        gram = CJ.T * CJ if Dn <= Kn else CJ * CJ.T
        a1 = lambda_max_slack(gram, ig / pe2, above=True)
        a2 = lambda_max_slack(gram, cl / (2 * Kn), above=False)
        dv.min_slack("(a1) |p-e|^2 |CJ|_2^2 - IG", -1 if a1 is None else pe2 * a1,
                     tex=r"\text{(a1) } \|p - e_y\|^2 \|CJ\|_2^2 - \mathrm{IG}")
        dv.min_slack("(a2) |p-e|^2 (CL/(2K) - |CJ|_2^2)", -1 if a2 is None else pe2 * a2,
                     tex=r"\text{(a2) } \|p - e_y\|^2 (\mathrm{CL}/(2K) - \|CJ\|_2^2)")
        dv.min_slack("(a3) |p-e|^2 (|J|_F^2 - CL/(2K))", pe2 * (sum(x ** 2 for x in J) - cl / (2 * Kn)),
                     tex=r"\text{(a3) } \|p - e_y\|^2 (\|J\|_F^2 - \mathrm{CL}/(2K))")
        b1 = (1 - q[yn]) * sum(q[r] * d2(r, yn) for r in range(Kn) if r != yn)
        dv.min_slack("(b1) (1-p_y) sum p_j |w_j - w_y|^2 - IG", b1 - ig,
                     tex=r"\text{(b1) } (1 - p_y) \sum_{j \neq y} p_j \|w_j - w_y\|^2 - \mathrm{IG}")
        dv.min_slack("(b2) (1-p_y) CL/2 - (1-p_y) sum p_j |w_j - w_y|^2", (1 - q[yn]) * cl / 2 - b1,
                     tex=r"\text{(b2) } (1 - p_y) \mathrm{CL}/2 - (1 - p_y) \sum_{j \neq y} p_j \|w_j - w_y\|^2")
    return dv.proof()


def prove_hessian_trace_weighted_cross_lipschitz() -> Proof:
    """The trace of the input Hessian is a probability-weighted cross-Lipschitz regularizer.

    Identity: tr hess_x L = <G, S> = 1/2 sum_{l,m} p_l p_m |w_l - w_m|^2 = E_{yhat ~ p} |grad_x L(x, yhat)|^2,
    with the Hessian and the gradients derived by ``diff``.
    Assumptions: x in the interior of its activation region.
    Provenance: [derived] (setting of Guo et al., TPAMI 2021); derived here, not evidence the paper states it.
    """
    s = general_setting()
    dv = Derivation("hessian-trace-weighted-cross-lipschitz", GENERAL,
                    "general K and D; cross-checked by explicit expansion for K = 3, D = 2")
    K, k, l, m, p, j = s.K, s.k, s.l, s.m, s.p, s.j
    H = s.to_p(sp.diff(s.L(s.y), s.x[j], s.x[s.i]))
    n = sp.Dummy("n", integer=True)
    trH = Sum(H.xreplace({s.i: n, j: n}), (n, 1, s.D))
    dv.note("tr of the Hessian derived by diff (exp(f_k) = Z p_k)", trH,
            tex=r"\operatorname{tr} H = \sum_d H_{dd} = \sum_{k,d} p_k J_{kd}^2 - \sum_d \left(\sum_k p_k J_{kd}"
                r"\right)^2",
            why="the diagonal of the Hessian derived by sympy (as in hessian-gauss-newton), summed")
    gram_S = Sum(s.G(k, l) * s.S(k, l), (k, 1, K), (l, 1, K))
    dv.equal("tr H = <G, S>", trH, gram_S, s.alg,
             tex=r"\operatorname{tr} H = \langle G, S\rangle = \sum_{k,l} G_{kl} S_{kl}, \quad G = J J^\top",
             why=r"$\operatorname{tr}(J^\top S J) = \operatorname{tr}(S J J^\top)$")
    dv.equal("<G, S> = 1/2 sum_{l,m} p_l p_m |w_l - w_m|^2", gram_S,
             Sum(p[l] * p[m] * _dist2(s, l, m), (l, 1, K), (m, 1, K)) / 2, s.alg,
             tex=r"\langle G, S\rangle = \sum_l p_l \|w_l\|^2 - \|\sum_l p_l w_l\|^2 = \frac{1}{2} \sum_{l,m} "
                 r"p_l p_m \|w_l - w_m\|^2",
             why=r"the variance of $w_{\hat{y}}$, $\hat{y} \sim p$, is half the mean squared distance of two "
                 r"independent draws")
    yh = sp.Dummy("yhat", integer=True)
    g = s.to_p(sp.diff(s.L(yh), s.x[j]))
    dv.equal("<G, S> = E_{yhat ~ p} |grad_x L(x, yhat)|^2 (gradient derived by diff with label yhat)", gram_S,
             Sum(p[yh] * sq(g, j, s.D), (yh, 1, K)), s.alg,
             tex=r"\langle G, S\rangle = \sum_{\hat{y}} p_{\hat{y}} \|\nabla_x L(x, \hat{y})\|^2 = "
                 r"\mathbb{E}_{\hat{y} \sim p} \|J^\top (p - e_{\hat{y}})\|^2",
             why=r"the gradient for each label $\hat{y}$ derived by sympy: the same variance once more")
    e = explicit_piece(3, 2)
    G = e.J * e.J.T
    ok = vanishes(e.hess().trace() - sum(G[r, c] * e.S[r, c] for r in range(3) for c in range(3)))
    ok &= vanishes(e.hess().trace() - sum(e.P[r] * ((e.J.T * (e.P - sp.eye(3)[:, r])).T
                                                 * (e.J.T * (e.P - sp.eye(3)[:, r])))[0] for r in range(3)))
    dv.check("explicit K = 3, D = 2: tr(diff of L twice) == <G, S> == E_yhat |J^T (p - e_yhat)|^2", ok,
             tex=r"\operatorname{tr} \nabla_x^2 L = \langle G, S\rangle = \mathbb{E}_{\hat{y} \sim p} "
                 r"\|J^\top (p - e_{\hat{y}})\|^2 \quad (K = 3,\ D = 2)",
             why="cross-check with explicit matrices, every entry expanded")
    return dv.proof()


def prove_gram_unification() -> Proof:
    """Every regularizer is a weighted Gram inner product <G, M> = sum_{k,l} G_kl M_kl, G = J J^T.

    Identity, row by row (left side by its definition): R-JAC: M = I; R-CL: M = 2K C; R-IG: M = (p-e)(p-e)^T
    (gradient by diff); tr H: M = S (Hessian by diff); R-EMR: M = pt pt^T; |dp/dx|_F^2 (softmax Jacobian by
    diff): M = S^2; small-h R-CURE: h^2 |H z|^2 = h^2 z^T J^T S G S J z.
    Assumptions: x in the interior of its activation region.
    Provenance: [derived] (setting of Guo et al., TPAMI 2021); derived here, not evidence the paper states it.
    """
    s = general_setting()
    dv = Derivation("gram-unification", GENERAL,
                    "general K and D, every row; cross-checked by explicit expansion for K = 3, D = 2")
    K, D, k, l, m, a, i, j, p, W, y = s.K, s.D, s.k, s.l, s.m, s.a, s.i, s.j, s.p, s.W, s.y
    pt, z, h = sp.IndexedBase("pt"), s.z, s.h
    gram = lambda M: Sum(s.G(k, l) * M(k, l), (k, 1, K), (l, 1, K))  # noqa: E731
    dv.equal("R-JAC: |J|_F^2 = <G, I>", fro_sum(s), gram(delta), s.alg,
             tex=r"\text{R-JAC} = \|J\|_F^2 = \langle G, I\rangle",
             why=r"$\|J\|_F^2 = \operatorname{tr}(J J^\top)$, with $G = J J^\top$")
    dv.equal("R-CL = <G, 2K C>", cl_sum(s), gram(lambda r, c: 2 * K * (delta(r, c) - sp.Integer(1) / K)), s.alg,
             tex=r"\text{R-CL} = \sum_{l,m} \|w_l - w_m\|^2 = \langle G, 2K C\rangle, \quad C = I - "
                 r"\mathbf{1}\mathbf{1}^\top / K",
             why=r"$\|w_l - w_m\|^2 = G_{ll} + G_{mm} - 2 G_{lm}$, summed over $l, m$")
    g = s.to_p(sp.diff(s.L(y), s.x[j]))
    dv.equal("R-IG: |grad L|^2 (diff) = <G, (p - e)(p - e)^T>", sq(g, j, D),
             gram(lambda r, c: (p[r] - delta(r, y)) * (p[c] - delta(c, y))), s.alg,
             tex=r"\text{R-IG} = \|\nabla_x L\|^2 = \langle G, (p - e_y)(p - e_y)^\top\rangle",
             why=r"the gradient derived by sympy is $J^\top (p - e_y)$, and $\|J^\top v\|^2 = \langle G, v v^\top"
                 r"\rangle$")
    H = s.to_p(sp.diff(s.L(y), s.x[j], s.x[i]))
    n = sp.Dummy("n", integer=True)
    dv.equal("tr H (diff) = <G, S>", Sum(H.xreplace({i: n, j: n}), (n, 1, D)), gram(s.S), s.alg,
             tex=r"\operatorname{tr} H = \langle G, S\rangle",
             why=r"the Hessian derived by sympy is $J^\top S J$, and $\operatorname{tr}(J^\top S J) = "
                 r"\langle G, S\rangle$")
    dv.equal("R-EMR: |J^T pt|^2 = <G, pt pt^T>", sq(Sum(W[k, j] * pt[k], (k, 1, K)), j, D),
             gram(lambda r, c: pt[r] * pt[c]), s.alg,
             tex=r"\text{R-EMR} = \|J^\top \tilde{p}\|^2 = \langle G, \tilde{p} \tilde{p}^\top\rangle",
             why=r"the weights $\tilde{p} = \operatorname{softmax}(f/T)$ are held constant: $\|J^\top v\|^2$ with "
                 r"$v = \tilde{p}$")
    soft = sp.exp(s.f(a)) / Sum(sp.exp(s.f(k)), (k, 1, K))
    dp = s.to_p(sp.diff(soft, s.x[j]))
    dv.note("softmax Jacobian dp_a/dx_j by diff, exp(f_k) = Z p_k", dp,
            tex=r"\frac{\partial p_a}{\partial x_j} = p_a J_{aj} - p_a \sum_k p_k J_{kj} = (S J)_{aj}",
            why=r"the softmax Jacobian derived by sympy, with $\exp(f_k) = Z p_k$")
    r_ = sp.Dummy("r", integer=True)
    dv.equal("|dp/dx|_F^2 = <G, S^2>", Sum(sq(dp, j, D).xreplace({a: r_}), (r_, 1, K)),
             gram(lambda r, c: Sum(s.S(r, m) * s.S(m, c), (m, 1, K))), s.alg,
             tex=r"\|\partial p / \partial x\|_F^2 = \|S J\|_F^2 = \langle G, S^2\rangle",
             why=r"$\|S J\|_F^2 = \operatorname{tr}(S G S) = \langle G, S^2\rangle$, as $S$ is symmetric")
    Hz = lambda r: Sum(H.xreplace({j: r, i: n}) * z[n], (n, 1, D))  # noqa: E731
    SJz = lambda r: Sum(s.S(r, m) * W[m, s.d] * z[s.d], (m, 1, K), (s.d, 1, D))  # noqa: E731
    dv.equal("small-h R-CURE: h^2 |H z|^2 = h^2 z^T J^T S G S J z", h**2 * sq(Hz(j), j, D),
             h**2 * Sum(SJz(k) * s.G(k, l) * SJz(l), (k, 1, K), (l, 1, K)), s.alg,
             tex=r"h^2 \|H z\|^2 = h^2 z^\top J^\top S G S J z",
             why=r"small-$h$ R-CURE (curvature-small-step): $\|J^\top S J z\|^2 = (S J z)^\top G (S J z)$")
    e = explicit_piece(3, 2)
    G, P, S, J = e.J * e.J.T, e.P, e.S, e.J
    inner = lambda M: sum(G[r, c] * M[r, c] for r in range(3) for c in range(3))  # noqa: E731
    f = e.f
    soft_m = sp.Matrix([sp.exp(fk) / sum(sp.exp(v) for v in f) for fk in f])
    dpm = explicit_softmax_to_p(soft_m.jacobian(e.x), list(f), e.p, e.Z)
    w = [J[r, :] for r in range(3)]
    cl = sum(((w[r] - w[c]) * (w[r] - w[c]).T)[0] for r in range(3) for c in range(3))
    ok = (vanishes(sum(v**2 for v in J) - inner(sp.eye(3))) and vanishes(cl - inner(6 * sp.eye(3) - 2 * sp.ones(3, 3)))
          and vanishes((e.grad.T * e.grad)[0] - inner((P - e.e) * (P - e.e).T))
          and vanishes(e.hess().trace() - inner(S)) and vanishes(sum(v**2 for v in dpm) - inner(S * S)))
    dv.check("explicit K = 3, D = 2: rows R-JAC, R-CL, R-IG, tr H and softmax Jacobian", ok,
             tex=r"\langle G, M\rangle \text{ for } M = I,\ 2K C,\ (p - e_y)(p - e_y)^\top,\ S,\ S^2 \quad "
                 r"(K = 3,\ D = 2)",
             why=r"cross-check of the rows R-JAC, R-CL, R-IG, $\operatorname{tr} H$ and the softmax Jacobian with "
                 r"explicit matrices")
    return dv.proof()


#: The proof of each claim of this paper's group, by claim id.
PROVERS = {
    "local-affine": prove_local_affine,
    "input-gradient": prove_input_gradient,
    "hessian-gauss-newton": prove_hessian_gauss_newton,
    "cross-lipschitz-centered-jacobian": prove_cross_lipschitz_centered_jacobian,
    "input-gradient-bounds": prove_input_gradient_bounds,
    "hessian-trace-weighted-cross-lipschitz": prove_hessian_trace_weighted_cross_lipschitz,
    "curvature-soft-label-gradient": prove_curvature_soft_label_gradient,
    "curvature-small-step": prove_curvature_small_step,
    "curvature-region-crossing": prove_curvature_region_crossing,
    "gram-unification": prove_gram_unification,
    "confident-limit": prove_confident_limit,
}
