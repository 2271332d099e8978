"""Symbolic proofs of the connections paper's claims about the affine piece itself (Guo et al., TPAMI 2021;
seeds 000, 003): the network is exactly affine on an activation region (``local-affine``), and the input
gradient and Hessian of the cross-entropy on that piece (``input-gradient``, ``hessian-gauss-newton``). The
regularizers built on them are proved in :mod:`theory.proofs.guo2021connections`, which also registers these
provers (its ``PROVERS``).

Every claim here is tagged [derived]: it is true mathematics reconstructed from the connections that the
abstract announces. A proof here is not evidence that the paper states the claim in this form.
"""

from __future__ import annotations

import random

import sympy as sp
from sympy import KroneckerDelta as delta
from sympy import Sum

from theory.proofs import (
    Derivation,
    Proof,
    lambda_max_slack,
    network_affine,
    network_autodiff,
    network_forward,
    network_pattern,
    random_rational,
    random_simplex,
    tiny_network,
)
from theory.proofs.setting import GENERAL, explicit_piece, general_setting, vanishes

__all__ = ["prove_local_affine", "prove_input_gradient", "prove_hessian_gauss_newton"]


# ------------------------------------------------------------------------------------------ provers
def prove_local_affine() -> Proof:
    """On its activation region a rectified network is exactly affine: f(x') = J x' + b.

    Identity: with the pattern fixed, sigma_a acts as diag(lambda), lambda_i in {1, a}, and a max unit as a
    0/1 selection matrix S, so f(x') = V_3 S V_2 diag(lambda) V_1 x' + b: J is the product of the layer
    matrices, and at interior points it equals the derivative (autodiff's Jacobian) of the true network.
    Assumptions: x in the interior of its activation region (no zero pre-activation, no tied max).
    Provenance: [derived] (setting of Guo et al., TPAMI 2021); derived here, not evidence the paper states it.
    """
    dv = Derivation("local-affine", "symbolic (general depth and widths; explicit network instance)",
                    "affine-of-affine and the unit branches for general sizes; the network "
                    "Linear(2,3)-sigma_a-Linear(3,4)-maxout(2x2)-Linear(2,2) with symbolic weights and slope a "
                    "for all 32 patterns; 4 rational networks (a = 0, 1/10, -1, 1/4) for autodiff and exactness")
    n0, n1, n2 = sp.symbols("n_0 n_1 n_2", integer=True, positive=True)
    A1, A2 = sp.MatrixSymbol("A_1", n1, n0), sp.MatrixSymbol("A_2", n2, n1)
    x_, c1, c2 = sp.MatrixSymbol("x", n0, 1), sp.MatrixSymbol("c_1", n1, 1), sp.MatrixSymbol("c_2", n2, 1)
    dv.equal("affine after affine is affine, linear part the product (any sizes; induction on depth)",
             A2 * (A1 * x_ + c1) + c2, A2 * A1 * x_ + (A2 * c1 + c2),
             tex=r"A_2 (A_1 x + c_1) + c_2 = (A_2 A_1) x + (A_2 c_1 + c_2)",
             why="an affine map of an affine map is affine, its linear part the product; by induction, any depth")
    a, t = sp.Symbol("a", real=True), sp.Symbol("t", positive=True)
    u = sp.Symbol("u", real=True)
    sigma = lambda v: sp.Max(v, 0) + a * sp.Min(v, 0)  # noqa: E731
    dv.equal("sigma_a on an active unit (u = t > 0) is u", sigma(t), t,
             tex=r"\sigma_a(u) = \max(u, 0) + a \min(u, 0) = u \quad (u > 0)",
             why="an active unit passes its input on (slope 1)")
    dv.equal("sigma_a on an inactive unit (u = -t < 0) is a u", sigma(-t), a * (-t),
             tex=r"\sigma_a(u) = a u \quad (u < 0)", why="an inactive unit multiplies its input by the slope $a$")
    dv.equal("a max unit whose first entry wins (u_1 = u + t) selects it", sp.Max(u + t, u), u + t,
             tex=r"\max(u_1, u_2) = u_1 \quad (u_1 > u_2)",
             why="a max unit with a strict winner selects it: a fixed 0/1 row")

    net, x = tiny_network(), sp.Matrix(sp.symbols("x_1:3"))
    ok, shown = True, None
    for signs in [(s1, s2, s3) for s1 in (1, -1) for s2 in (1, -1) for s3 in (1, -1)]:
        for winners in [(0, 0), (0, 1), (1, 0), (1, 1)]:
            f = network_forward(net, a, x, (signs, winners))
            J, b, layers = network_affine(net, a, (signs, winners))
            ok &= vanishes(f.jacobian(x) - J) and vanishes(f - (J * x + b))
            if shown is None:
                shown = sp.Eq(sp.Symbol("J"), sp.MatMul(*[sp.ImmutableMatrix(m) for m in layers[::-1]],
                                                        evaluate=False), evaluate=False)
    dv.check("symbolic network, all 32 patterns: d f/dx == product of layer matrices and "
             "f - (J x + b) == 0 (first pattern shown)", ok, shown,
             tex=r"J = V_3 \Pi V_2 \operatorname{diag}(\lambda) V_1 = \partial f / \partial x, \quad f(x) - (J x + b) = 0",
             why=r"for Linear(2,3)-$\sigma_a$-Linear(3,4)-maxout-Linear(2,2) with symbolic weights, in all 32 "
                 r"patterns ($\Pi$: the 0/1 selection of the max units)")

    rng, ok, points = random.Random(1), True, 0
    for slope in (sp.S.Zero, sp.Rational(1, 10), sp.S.NegativeOne, sp.Rational(1, 4)):
        net = tiny_network(rng=rng)
        pattern = None
        while pattern is None:
            x0 = sp.Matrix([random_rational(rng), random_rational(rng)])
            pattern = network_pattern(net, slope, x0)
        J, b, _ = network_affine(net, slope, pattern)
        ok &= network_autodiff(net, slope, x0) == J
        for _ in range(3):
            x1 = x0 + sp.Matrix([random_rational(rng), random_rational(rng)]) / 1000
            if network_pattern(net, slope, x1) == pattern:
                points += 1
                ok &= network_forward(net, slope, x1) == J * x1 + b
    dv.check(f"rational networks: autodiff (chain rule of sympy's derivatives of Max/Min) at x0 == J, and "
             f"f(x') == J x' + b at {points} points x' of the same region", ok and points > 0,
             tex=r"\mathrm{autodiff}\, f(x_0) = J, \quad f(x') = J x' + b \quad (x' \in R(x_0))",
             why=f"4 rational networks (slopes $a = 0, 1/10, -1, 1/4$), the affine map at {points} points of the "
                 f"same region")
    return dv.proof()


def prove_input_gradient() -> Proof:
    """Input gradient of the cross-entropy on an affine piece.

    Identity: grad_x L(x, y) = J^T (p - e_y) = sum_{j != y} p_j (w_j - w_y), with the left side computed by
    sympy's ``diff`` of L = -f_y + log sum_k exp(f_k), f = J x + b.
    Assumptions: x in the interior of its activation region, so f = J x + b near x.
    Provenance: [derived] (setting of Guo et al., TPAMI 2021); derived here, not evidence the paper states it.
    """
    s = general_setting()
    dv = Derivation("input-gradient", GENERAL, "general K and D; cross-checked by explicit expansion "
                    "for every K <= 4, D <= 3 with y = 1 and y = K")
    dv.note("cross-entropy of the affine piece", sp.Eq(sp.Symbol("L"), s.L(s.y)),
            tex=r"L(x, y) = -f_y + \log \sum_{k=1}^{K} \exp(f_k), \quad f = J x + b",
            why="the cross-entropy of the logits on the affine piece of $x$")
    raw = sp.diff(s.L(s.y), s.x[s.j])
    dv.note("sympy diff with respect to x_j", sp.Eq(sp.Derivative(sp.Symbol("L"), s.x[s.j]), raw),
            tex=r"\frac{\partial L}{\partial x_j} = -J_{yj} + \frac{\sum_k \exp(f_k) J_{kj}}{\sum_l \exp(f_l)}",
            why=r"differentiate with respect to $x_j$ (sympy's diff), using $\partial f_k / \partial x_j = J_{kj}$")
    g = s.to_p(raw)
    dv.note("substitute exp(f_k) = Z p_k and sum_k Z p_k = Z", g,
            tex=r"\frac{\partial L}{\partial x_j} = \sum_k p_k J_{kj} - J_{yj}",
            why=r"write $\exp(f_k) = Z p_k$ with $Z = \sum_l \exp(f_l)$: the factors $Z$ cancel")
    dv.equal("the derived gradient equals (J^T (p - e_y))_j", g,
             Sum(s.W[s.k, s.j] * (s.p[s.k] - delta(s.k, s.y)), (s.k, 1, s.K)), s.alg,
             tex=r"\frac{\partial L}{\partial x_j} = \sum_k J_{kj} (p_k - [k = y]) = (J^\top (p - e_y))_j",
             why="collect the terms of each class $k$")
    dv.equal("and equals sum_{k != y} p_k (w_k - w_y)_j", g,
             Sum((1 - delta(s.k, s.y)) * s.p[s.k] * (s.W[s.k, s.j] - s.W[s.y, s.j]), (s.k, 1, s.K)), s.alg,
             tex=r"J^\top (p - e_y) = \sum_k p_k w_k - w_y = \sum_{k \neq y} p_k (w_k - w_y)",
             why=r"$w_y = \sum_k p_k w_y$ since $\sum_k p_k = 1$, and the term $k = y$ vanishes")
    ok = all(vanishes(n.grad - n.J.T * (n.P - n.e)) for K in range(2, 5) for D in range(1, 4)
             for n in (explicit_piece(K, D, 0), explicit_piece(K, D, K - 1)))
    dv.check("explicit K <= 4, D <= 3: diff of L == J^T (p - e_y)", ok,
             tex=r"\nabla_x L = J^\top (p - e_y) \quad (K \leq 4,\ D \leq 3,\ y \in \{1, K\})",
             why="cross-check with explicit matrices, every entry expanded")
    return dv.proof()


def prove_hessian_gauss_newton() -> Proof:
    """The input Hessian of the cross-entropy on an affine piece is the Gauss-Newton matrix J^T S(p) J.

    Identity: hess_x L = J^T S J, S = diag(p) - p p^T. Consequences: it does not depend on y; it is PSD
    (u^T H u = 1/2 sum_{k,l} p_k p_l ((Ju)_k - (Ju)_l)^2); rank <= K-1 (S 1 = 0);
    lambda_max(S) <= max_i 2 p_i (1 - p_i) <= 1/2 (Gershgorin); tr S = 1 - |p|^2.
    Assumptions: x in the interior of its activation region.
    Provenance: [derived] (setting of Guo et al., TPAMI 2021); derived here, not evidence the paper states it.
    """
    s = general_setting()
    dv = Derivation("hessian-gauss-newton", GENERAL, "general K and D; cross-checked by explicit "
                    "expansion for every K <= 4, D <= 3; det S = 0 for every K <= 5; the eigenvalue bound also on "
                    "30 exact rational p (K <= 5)")
    i, j, k, l, a, p, W, K = s.i, s.j, s.k, s.l, s.a, s.p, s.W, s.K
    raw = sp.diff(s.L(s.y), s.x[j], s.x[i])
    H = s.to_p(raw)
    dv.note("sympy diff of L twice (x_j then x_i), with exp(f_k) = Z p_k", H,
            tex=r"H_{ij} = \frac{\partial^2 L}{\partial x_i \partial x_j} = \sum_k p_k J_{ki} J_{kj} "
                r"- \left(\sum_k p_k J_{ki}\right) \left(\sum_l p_l J_{lj}\right)",
            why=r"differentiate $L$ twice (sympy's diff) and write $\exp(f_k) = Z p_k$: the factors $Z$ cancel")
    dv.equal("the derived Hessian equals (J^T S J)_ij", H,
             Sum(W[k, i] * s.S(k, l) * W[l, j], (k, 1, K), (l, 1, K)), s.alg,
             tex=r"H = J^\top S(p) J, \quad S(p) = \operatorname{diag}(p) - p p^\top",
             why=r"the two terms are $J^\top \operatorname{diag}(p) J$ and $(J^\top p)(J^\top p)^\top$")
    dv.check("it does not depend on y: y is not a free symbol of the derived Hessian", s.y not in H.free_symbols,
             tex=r"H(x, y) = H(x, y') \quad \text{for all labels } y, y'",
             why=r"the label enters $\nabla_x L$ only through the constant $e_y$, which a further derivative removes")
    u, n1, n2 = sp.IndexedBase("u"), sp.Dummy("r", integer=True), sp.Dummy("c", integer=True)
    uHu = Sum(u[n1] * H.xreplace({i: n1, j: n2}) * u[n2], (n1, 1, s.D), (n2, 1, s.D))
    Ju = lambda r: Sum(W[r, s.d] * u[s.d], (s.d, 1, s.D))  # noqa: E731
    dv.equal("PSD: u^T H u is a sum of squares with weights p_k p_l >= 0", uHu,
             Sum(p[k] * p[l] * (Ju(k) - Ju(l)) ** 2, (k, 1, K), (l, 1, K)) / 2, s.alg,
             tex=r"u^\top H u = \frac{1}{2} \sum_{k,l} p_k p_l \left((Ju)_k - (Ju)_l\right)^2 \geq 0",
             why=r"$u^\top J^\top S J u = v^\top S v$ with $v = Ju$: the variance of $v_k$ under $k \sim p$, so $H$ "
                 r"is PSD")
    dv.equal("S 1 = 0, so rank S <= K - 1 and rank H = rank(J^T S J) <= K - 1",
             Sum(s.S(a, l), (l, 1, K)), sp.S.Zero, s.alg,
             tex=r"S \mathbf{1} = p - p (p^\top \mathbf{1}) = 0, \quad \operatorname{rank} H \leq "
                 r"\operatorname{rank} S \leq K - 1",
             why=r"$\sum_l S_{al} = p_a - p_a \sum_l p_l = 0$: $\mathbf{1}$ is in the kernel of $S$")
    dv.equal("Gershgorin row radius: sum_{l != a} |S_al| = sum_{l != a} p_a p_l = p_a (1 - p_a) (p >= 0)",
             Sum((1 - delta(a, l)) * p[a] * p[l], (l, 1, K)), p[a] * (1 - p[a]), s.alg,
             tex=r"\sum_{l \neq a} |S_{al}| = \sum_{l \neq a} p_a p_l = p_a (1 - p_a)",
             why=r"Gershgorin's row radius: the off-diagonal entries are $S_{al} = -p_a p_l \leq 0$")
    dv.equal("the diagonal S_aa = p_a (1 - p_a), so every eigenvalue is <= max_a 2 p_a (1 - p_a)",
             s.S(a, a), p[a] * (1 - p[a]), s.alg,
             tex=r"S_{aa} = p_a (1 - p_a), \quad \lambda_{\max}(S) \leq \max_a \left(S_{aa} + \sum_{l \neq a} "
                 r"|S_{al}|\right) = \max_a 2 p_a (1 - p_a)",
             why=r"every eigenvalue lies in a Gershgorin disc: centre $S_{aa}$, radius $p_a (1 - p_a)$")
    t = sp.Symbol("t", real=True)
    half = sp.Rational(1, 2)
    dv.equal("1/2 - 2 t (1 - t) = 2 (t - 1/2)^2 >= 0", half - 2 * t * (1 - t), 2 * (t - half) ** 2,
             tex=r"\frac{1}{2} - 2 t (1 - t) = 2 \left(t - \frac{1}{2}\right)^2 \geq 0",
             why=r"so $2 p_a (1 - p_a) \leq 1/2$ for every $p_a$")
    dv.equal("tr S = 1 - |p|^2", Sum(s.S(k, k), (k, 1, K)), 1 - Sum(p[k] ** 2, (k, 1, K)), s.alg,
             tex=r"\operatorname{tr} S = \sum_k (p_k - p_k^2) = 1 - \|p\|^2",
             why=r"the diagonal entries, with $\sum_k p_k = 1$")
    ok = all(vanishes(n.hess() - n.J.T * n.S * n.J) for K_ in range(2, 5) for D in range(1, 4)
             for n in [explicit_piece(K_, D)])
    dv.check("explicit K <= 4, D <= 3: diff of L twice == J^T S J", ok,
             tex=r"\nabla_x^2 L = J^\top S(p) J \quad (K \leq 4,\ D \leq 3)",
             why="cross-check with explicit matrices, every entry expanded")
    dv.check("explicit K <= 5: det S == 0 (S is singular)",
             all(sp.expand(explicit_piece(K_, 1).S.det()) == 0 for K_ in range(2, 6)),
             tex=r"\det S(p) = 0 \quad (K \leq 5)", why="cross-check: $S$ is singular for explicit sizes")
    rng = random.Random(2)
    for _ in range(30):
        q = random_simplex(rng, rng.randint(2, 5))
        bound = max(2 * v * (1 - v) for v in q)
        slack = lambda_max_slack(sp.diag(*q) - sp.Matrix(q) * sp.Matrix(q).T, bound, above=False)
        dv.min_slack("lambda_max(S) <= max_i 2 p_i (1 - p_i)", -1 if slack is None else slack,
                     tex=r"\lambda_{\max}(S) \leq \max_i 2 p_i (1 - p_i)")
        dv.min_slack("max_i 2 p_i (1 - p_i) <= 1/2", sp.Rational(1, 2) - bound,
                     tex=r"\max_i 2 p_i (1 - p_i) \leq 1/2")
    return dv.proof()
