"""Symbolic proofs of the claims attributed to the regularization-of-robustness paper (Wen, Li & Jia, ICML 2020;
seed 002).

``margin-lower-bound`` is [derived]: true mathematics of the setting, and a proof here is not evidence that
the paper states it in this form. ``layer-smoothing`` and ``confidence-concentration`` are [abstract]
statements about adversarial training; they are empirical and cannot be proved symbolically.

>>> prove_layer_smoothing().holds is None
True
"""

from __future__ import annotations

import random

import sympy as sp
from sympy import KroneckerDelta as delta
from sympy import Sum

from theory.proofs import (
    METHOD_EMPIRICAL,
    METHOD_INSTANCES,
    Derivation,
    IndexAlgebra,
    Proof,
    lambda_max_interval,
    lambda_max_slack,
    network_affine,
    network_forward,
    network_pattern,
    random_rational,
    round_down,
    tiny_network,
)
from theory.proofs.setting import general_setting

__all__ = ["PROVERS", "prove_margin_lower_bound", "prove_layer_smoothing", "prove_confidence_concentration"]


def _gram(A: sp.Matrix) -> sp.Matrix:
    """The smaller of A^T A and A A^T: its largest eigenvalue is |A|_2^2."""
    return A.T * A if A.cols <= A.rows else A * A.T


def _product_slack(layers: list[sp.Matrix], J: sp.Matrix):
    """A rational lower bound on prod_l |J_l|_2^2 - |J|_2^2, and an upper bound (intervals of width <= 1e-40)."""
    eps = sp.Rational(1, 10**40)
    bounds = [lambda_max_interval(_gram(A), eps) for A in layers]
    lo_j, hi_j = lambda_max_interval(_gram(J), eps)
    lo_p, hi_p = sp.Mul(*[lo for lo, _ in bounds]), sp.Mul(*[hi for _, hi in bounds])
    return round_down(lo_p - hi_j), hi_p - lo_j


def prove_margin_lower_bound() -> Proof:
    """Within its region, the distance to the decision boundary is at least min(gamma_O / max_j |w_y - w_j|, r(x)).

    Identity and bounds: on the region (f_y - f_j)(x + dx) = (f_y - f_j)(x) + (w_y - w_j)^T dx >= gamma_O -
    |w_y - w_j| |dx| > 0 for |dx| < min(gamma_O / max_j |w_y - w_j|, r(x)), gamma_O = f_y - max_{j != y} f_j.
    Also w_y - w_j = J^T (e_y - e_j) with |e_y - e_j| = sqrt 2, so max_j |w_y - w_j| <= sqrt 2 |J|_2 <=
    sqrt 2 prod_l |J_l|_2 (J = J_L ... J_1, submultiplicativity).
    Assumptions: x correctly classified (gamma_O > 0) and in the interior of its activation region.
    Provenance: [derived] (setting of Wen, Li & Jia, ICML 2020); derived here, not evidence the paper states it.
    """
    s = general_setting()
    dv = Derivation("margin-lower-bound", "symbolic (general K, D) + " + METHOD_INSTANCES,
                    "general K and D for the affine step, Cauchy-Schwarz and w_y - w_j = J^T (e_y - e_j); two "
                    "standard facts cited (|A^T v| <= |A|_2 |v|, |AB|_2 <= |A|_2 |B|_2); every slack measured "
                    "exactly on 20 random rational networks Linear(2,3)-sigma_a-Linear(3,4)-maxout-Linear(2,K), "
                    "K <= 4")
    K, D, y, a, d, e, k, W, z = s.K, s.D, s.y, s.a, s.d, s.e, s.k, s.W, s.z
    dv.equal("on the region, (f_y - f_j)(x + dx) = (f_y - f_j)(x) + (w_y - w_j)^T dx (dx = z, j written a)",
             s.f(y, 1) - s.f(a, 1), s.f(y) - s.f(a) + Sum((W[y, d] - W[a, d]) * z[d], (d, 1, D)), s.alg,
             tex=r"(f_y - f_j)(x + \Delta x) = (f_y - f_j)(x) + (w_y - w_j)^\top \Delta x",
             why="the logits are affine on the region")
    v = sp.IndexedBase("v")
    dv.equal("Cauchy-Schwarz as a sum of squares: |v|^2 |dx|^2 - (v^T dx)^2 = 1/2 sum (v_d dx_e - v_e dx_d)^2",
             Sum(v[d] ** 2, (d, 1, D)) * Sum(z[e] ** 2, (e, 1, D)) - Sum(v[d] * z[d], (d, 1, D)) ** 2,
             Sum((v[d] * z[e] - v[e] * z[d]) ** 2, (d, 1, D), (e, 1, D)) / 2, IndexAlgebra({}, {}),
             tex=r"\|v\|^2 \|\Delta x\|^2 - (v^\top \Delta x)^2 = \frac{1}{2} \sum_{d,e} (v_d \Delta x_e - "
                 r"v_e \Delta x_d)^2 \geq 0",
             why=r"Cauchy-Schwarz as a sum of squares (Lagrange's identity), so $(w_y - w_j)^\top \Delta x \geq "
                 r"-\|w_y - w_j\| \|\Delta x\|$")
    g, m, eps = sp.Symbol("gamma_O", positive=True), sp.Symbol("m", positive=True), sp.Symbol("epsilon", positive=True)
    dv.equal("with |w_y - w_j| <= m and |dx| = gamma_O/m - epsilon: gamma_O - m |dx| = m epsilon > 0, so no class "
             "overtakes y while also |dx| < r(x) keeps x + dx in the region", g - m * (g / m - eps), m * eps,
             tex=r"\gamma_O - m \left(\frac{\gamma_O}{m} - \epsilon\right) = m \epsilon > 0",
             why=r"with $\|w_y - w_j\| \leq m$ and $\|\Delta x\| = \gamma_O / m - \epsilon$ no class overtakes "
                 r"$y$; $\|\Delta x\| < r(x)$ keeps $x + \Delta x$ in the region")
    dv.equal("w_y - w_j = J^T (e_y - e_j)", Sum(W[k, s.j] * (delta(k, y) - delta(k, a)), (k, 1, K)),
             W[y, s.j] - W[a, s.j], s.alg, tex=r"w_y - w_j = J^\top (e_y - e_j)",
             why=r"row $k$ of $J$ is $w_k^\top$")
    dv.equal("|e_y - e_j|^2 = 2 - 2 delta_yj = 2 for j != y, so |w_y - w_j| <= sqrt 2 |J|_2",
             Sum((delta(k, y) - delta(k, a)) ** 2, (k, 1, K)), 2 - 2 * delta(y, a), s.alg,
             tex=r"\|e_y - e_j\|^2 = 2 - 2 [y = j] = 2 \quad (j \neq y), \quad \|w_y - w_j\| \leq \sqrt{2} \|J\|_2",
             why=r"cited: $\|A^\top v\| \leq \|A\|_2 \|v\|$")
    dv.note("J = J_3 J_2 J_1 with J_1 = diag(lambda) V_1, J_2 = S V_2, J_3 = V_3 (local-affine), and "
            "|AB|_2 <= |A|_2 |B|_2, so |J|_2 <= prod_l |J_l|_2",
            tex=r"J = J_3 J_2 J_1, \quad \|J\|_2 \leq \prod_l \|J_l\|_2",
            why=r"local-affine: $J_1 = \operatorname{diag}(\lambda) V_1$, $J_2 = \Pi V_2$, $J_3 = V_3$; cited: "
                r"$\|AB\|_2 \leq \|A\|_2 \|B\|_2$")
    rng = random.Random(5)
    for n in range(20):
        K_n, slope = 2 + n % 3, (sp.S.Zero, sp.Rational(1, 10), sp.S.NegativeOne, sp.Rational(1, 4))[n % 4]
        net = tiny_network(K=K_n, rng=rng)
        pattern, f = None, None
        while pattern is None or len(set(f)) < K_n:
            x = sp.Matrix([random_rational(rng), random_rational(rng)])
            pattern = network_pattern(net, slope, x)
            f = list(network_forward(net, slope, x))
        J, _, layers = network_affine(net, slope, pattern)
        yn = max(range(K_n), key=lambda c: f[c])
        others = [c for c in range(K_n) if c != yn]
        d2 = {c: ((J[yn, :] - J[c, :]) * (J[yn, :] - J[c, :]).T)[0] for c in others}
        gamma_o, m2 = f[yn] - max(f[c] for c in others), max(d2.values())
        if m2 == 0:
            continue
        dv.min_slack("min_j gamma_j^2 - (gamma_O / max_j |w_y - w_j|)^2",
                     min((f[yn] - f[c]) ** 2 / d2[c] for c in others if d2[c] != 0) - gamma_o**2 / m2,
                     tex=r"\min_j \gamma_j^2 - (\gamma_O / \max_j \|w_y - w_j\|)^2")
        sl = lambda_max_slack(_gram(J), m2 / 2, above=True)
        dv.min_slack("2 |J|_2^2 - max_j |w_y - w_j|^2", -1 if sl is None else 2 * sl,
                     tex=r"2 \|J\|_2^2 - \max_j \|w_y - w_j\|^2")
        lo, hi = _product_slack(layers, J)
        if lo < 0 <= hi:
            dv.check(f"network {n}: prod |J_l|_2^2 >= |J|_2^2 undecided at interval width 1e-40", False,
                     tex=r"\prod_l \|J_l\|_2^2 \geq \|J\|_2^2",
                     why=f"network {n}: undecided at interval width $10^{{-40}}$")
        dv.min_slack("prod_l |J_l|_2^2 - |J|_2^2 (lower bound)", lo if lo >= 0 else hi,
                     tex=r"\prod_l \|J_l\|_2^2 - \|J\|_2^2 \text{ (a lower bound)}")
    return dv.proof()


def prove_layer_smoothing() -> Proof:
    """Adversarial training (or the regularizers) shrinks the singular values of most layer Jacobians.

    This is a statement about what training does, not a theorem: it cannot be proved symbolically, and this
    function does not pretend to. It is established by measuring the spectra of J_l(x) per layer as the
    adversarial budget epsilon grows.
    Assumptions: none that a proof could use.
    Provenance: [abstract] Wen, Li & Jia (ICML 2020) say this in their abstract; the measurement protocol is ours.
    """
    dv = Derivation("layer-smoothing", METHOD_EMPIRICAL,
                    "established by experiment (largest, mean and smallest non-zero singular values of each layer "
                    "Jacobian J_l(x), measured as epsilon grows), not by this proof")
    dv.note("no symbolic proof exists: the claim is about the networks that adversarial training produces",
            why="a claim about the networks that adversarial training produces: no symbolic proof exists")
    dv.note("what is proved nearby: margin-lower-bound shows why small |J_l|_2 helps (the margin bound grows as "
            "prod_l |J_l|_2 shrinks); whether training shrinks them is measured",
            why=r"proved nearby: margin-lower-bound (the margin bound grows as $\prod_l \|J_l\|_2$ shrinks); "
                r"whether training shrinks them is measured")
    return dv.proof(holds=None)


def prove_confidence_concentration() -> Proof:
    """As the adversarial budget grows, clean accuracy falls and margins and confidences shift toward 0.

    This is a statement about what adversarial training does to a data distribution, not a theorem: it cannot
    be proved symbolically, and this function does not pretend to. It is established by measuring the
    distributions of output margins and softmax confidences as epsilon grows.
    Assumptions: none that a proof could use.
    Provenance: [abstract] Wen, Li & Jia (ICML 2020) say this in their abstract; the measurement protocol is ours.
    """
    dv = Derivation("confidence-concentration", METHOD_EMPIRICAL,
                    "established by experiment (clean accuracy, output-margin and confidence distributions as "
                    "epsilon grows), not by this proof")
    dv.note("no symbolic proof exists: the claim is about the distribution of trained networks' outputs on data",
            why="a claim about the distribution of trained networks' outputs on data: no symbolic proof exists")
    return dv.proof(holds=None)


#: The proof of each claim of this paper's group, by claim id.
PROVERS = {
    "margin-lower-bound": prove_margin_lower_bound,
    "layer-smoothing": prove_layer_smoothing,
    "confidence-concentration": prove_confidence_concentration,
}
