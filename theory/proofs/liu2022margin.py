"""Symbolic proofs of the claims attributed to the effective-margin paper (Liu & Chan, BMVC 2022; seed 001).

Provenance differs by claim: ``euler-homogeneous``, ``effective-margin`` and ``emr-limits`` are [derived]
(true mathematics of the setting; a proof here is not evidence that the paper states them), while
``cross-entropy-scale-variance`` and ``standard-training-small-margin`` are [abstract] (the abstract says
them in words; the formal version is ours). The last one is about training and is empirical.

>>> prove_emr_limits().holds
True
"""

from __future__ import annotations

import random

import sympy as sp
from sympy import KroneckerDelta as delta
from sympy import Sum

from theory.proofs import (
    METHOD_EMPIRICAL,
    METHOD_SERIES,
    Derivation,
    IndexAlgebra,
    Proof,
    network_affine,
    network_autodiff,
    network_forward,
    network_pattern,
    random_rational,
    softmax_to_p,
    tiny_network,
)
from theory.proofs.setting import general_setting, sq, vanishes

__all__ = [
    "PROVERS", "prove_euler_homogeneous", "prove_effective_margin", "prove_cross_entropy_scale_variance",
    "prove_emr_limits", "prove_standard_training_small_margin",
]

_PATTERNS = [((s1, s2, s3), (w1, w2)) for s1 in (1, -1) for s2 in (1, -1) for s3 in (1, -1)
             for w1 in (0, 1) for w2 in (0, 1)]


def prove_euler_homogeneous() -> Proof:
    """A bias-free piecewise-linear network satisfies Euler's identity f(x) = J(x) x.

    Identity: every bias-free layer is positively homogeneous (sigma_a(t u) = t sigma_a(u), max(t u, t v) =
    t max(u, v), V (t x) = t V x for t > 0), so f(t x) = t f(x); differentiating at t = 1 gives J(x) x = f(x).
    Assumptions: no biases (BatchNorm shifts count as biases); x in the interior of its activation region.
    Provenance: [derived] (setting of Liu & Chan, BMVC 2022); derived here, not evidence the paper states it.
    """
    dv = Derivation("euler-homogeneous", "symbolic (general depth and widths; explicit network instance)",
                    "homogeneity of each layer type for general sizes (case split on signs); the bias-free network "
                    "Linear(2,3)-sigma_a-Linear(3,4)-maxout(2x2)-Linear(2,2) with symbolic weights and slope a for "
                    "all 32 patterns; 4 rational bias-free networks")
    t, s, a = sp.Symbol("t", positive=True), sp.Symbol("s", positive=True), sp.Symbol("a", real=True)
    u = sp.Symbol("u", real=True)
    sigma = lambda v: sp.Max(v, 0) + a * sp.Min(v, 0)  # noqa: E731
    for text, v, case in (("u = s > 0", s, "u > 0"), ("u = -s < 0", -s, "u < 0"), ("u = 0", sp.S.Zero, "u = 0")):
        dv.equal(f"sigma_a(t u) = t sigma_a(u) for t > 0, case {text}", sigma(t * v), t * sigma(v),
                 tex=rf"\sigma_a(t u) = t \sigma_a(u) \quad (t > 0,\ {case})",
                 why=r"$\sigma_a(u) = \max(u, 0) + a \min(u, 0)$ commutes with scaling by $t > 0$ "
                     rf"(case ${case}$)")
    for text, (v1, v2) in (("u_1 > u_2", (u + s, u)), ("u_1 < u_2", (u, u + s)), ("u_1 = u_2", (u, u))):
        dv.equal(f"max(t u_1, t u_2) = t max(u_1, u_2), case {text}", sp.Max(t * v1, t * v2), t * sp.Max(v1, v2),
                 tex=rf"\max(t u_1, t u_2) = t \max(u_1, u_2) \quad (t > 0,\ {text.replace('>', '> ')})",
                 why=rf"scaling by $t > 0$ keeps the order of $u_1$ and $u_2$ (case ${text}$)")
    n0, n1 = sp.symbols("n_0 n_1", integer=True, positive=True)
    V, x_ = sp.MatrixSymbol("V", n1, n0), sp.MatrixSymbol("x", n0, 1)
    dv.equal("a bias-free linear layer: V (t x) = t V x (any sizes)", V * (t * x_), t * (V * x_),
             tex=r"V (t x) = t V x", why="a bias-free linear layer is linear (any sizes)")
    dv.note("so f(t x) = t f(x) for t > 0 by induction on depth; where f is differentiable, d/dt at t = 1 "
            "gives J(x) x (chain rule) = f(x) (derivative of t f(x))",
            tex=r"f(t x) = t f(x) \quad (t > 0), \quad \text{so} \quad J(x) x = f(x)",
            why=r"induction on depth; then $\frac{d}{dt}$ at $t = 1$: the chain rule gives $J(x) x$ on the left, "
                r"$f(x)$ on the right")
    net, x = tiny_network(bias=False), sp.Matrix(sp.symbols("x_1:3"))
    ok = all(vanishes(network_forward(net, a, x, pat) - network_affine(net, a, pat)[0] * x) for pat in _PATTERNS)
    dv.check("symbolic bias-free network, all 32 patterns: f - J x == 0", ok,
             tex=r"f(x) - J x = 0 \quad \text{(all 32 patterns)}",
             why=r"the bias-free network Linear(2,3)-$\sigma_a$-Linear(3,4)-maxout-Linear(2,2) with symbolic "
                 r"weights, pattern by pattern")
    biased = tiny_network()
    pat = _PATTERNS[0]
    J, b, _ = network_affine(biased, a, pat)
    dv.check("control: with biases, f - J x equals the offset b (not 0): the bias-free assumption is needed",
             vanishes(network_forward(biased, a, x, pat) - J * x - b) and not vanishes(b),
             tex=r"f(x) - J x = b \neq 0 \quad \text{(with biases)}",
             why="control: with biases the identity fails by exactly the offset $b$, so the assumption is needed")
    rng, ok = random.Random(4), True
    for slope in (sp.S.Zero, sp.Rational(1, 10), sp.S.NegativeOne, sp.Rational(1, 4)):
        net = tiny_network(bias=False, rng=rng)
        x0 = sp.Matrix([random_rational(rng), random_rational(rng)])
        while network_pattern(net, slope, x0) is None:
            x0 = sp.Matrix([random_rational(rng), random_rational(rng)])
        ok &= network_forward(net, slope, x0) == network_autodiff(net, slope, x0) * x0
    dv.check("rational bias-free networks: f(x0) == J(x0) x0 with J(x0) from autodiff", ok,
             tex=r"f(x_0) = J(x_0) x_0", why="four rational bias-free networks, $J(x_0)$ by autodiff")
    return dv.proof()


def prove_effective_margin() -> Proof:
    """gamma = (f_y - f_j) / |w_y - w_j| is the exact distance to the local decision hyperplane, and scale invariant.

    Identity: on the region, f_y - f_j = v^T x + c0 with v = w_y - w_j, c0 = b_y - b_j. Any x' on the
    hyperplane {v^T x' + c0 = 0} has |x' - x| >= |v^T x + c0| / |v| (Cauchy-Schwarz as the Lagrange sum of
    squares), attained at x* = x - (v^T x + c0) v / |v|^2. Scaling the logits by c > 0 leaves gamma unchanged.
    If gamma <= r(x), x* lies in the closure of R(x), where f is affine, so gamma is also the exact distance to
    the decision boundary {f_y = f_j}.
    Assumptions: x in the interior of its activation region; w_y != w_j.
    Provenance: [derived] (setting of Liu & Chan, BMVC 2022); derived here, not evidence the paper states it.
    """
    dv = Derivation("effective-margin", "symbolic (general D; attainment for every D <= 4)",
                    "general K and D for the logit gap, the Cauchy-Schwarz lower bound and scale invariance; "
                    "attainment by the foot point x* for every D <= 4")
    s = general_setting()
    D, y, a, d, e, W, x = s.D, s.y, s.a, s.d, s.e, s.W, s.x
    dv.equal("on the region f_y - f_j = (w_y - w_j)^T x + (b_y - b_j) (j written a)", s.f(y) - s.f(a),
             Sum((W[y, d] - W[a, d]) * x[d], (d, 1, D)) + s.b[y] - s.b[a], s.alg,
             tex=r"f_y - f_j = (w_y - w_j)^\top x + (b_y - b_j) = v^\top x + c_0",
             why="the logits are affine on the region")
    v, dl = sp.IndexedBase("v"), sp.IndexedBase("delta")
    alg = IndexAlgebra({}, {})
    dv.equal("Lagrange: |v|^2 |dx|^2 - (v^T dx)^2 = 1/2 sum_{d,e} (v_d dx_e - v_e dx_d)^2 >= 0",
             Sum(v[d] ** 2, (d, 1, D)) * Sum(dl[e] ** 2, (e, 1, D)) - Sum(v[d] * dl[d], (d, 1, D)) ** 2,
             Sum((v[d] * dl[e] - v[e] * dl[d]) ** 2, (d, 1, D), (e, 1, D)) / 2, alg,
             tex=r"\|v\|^2 \|\Delta\|^2 - (v^\top \Delta)^2 = \frac{1}{2} \sum_{d,e} (v_d \Delta_e - v_e \Delta_d)^2 "
                 r"\geq 0",
             why="Lagrange's identity: Cauchy-Schwarz as a sum of squares")
    dv.note("for x' on the hyperplane, v^T (x' - x) = -(v^T x + c0), so |x' - x| >= |v^T x + c0| / |v| = |gamma|",
            tex=r"v^\top (x' - x) = -(v^\top x + c_0) \Rightarrow \|x' - x\| \geq \frac{|v^\top x + c_0|}{\|v\|} = "
                r"|\gamma|",
            why=r"any $x'$ on the hyperplane $v^\top x' + c_0 = 0$, with $\Delta = x' - x$ above")
    ok = True
    for Dn in range(1, 5):
        vv, xx = sp.Matrix(sp.symbols(f"v_1:{Dn + 1}")), sp.Matrix(sp.symbols(f"x_1:{Dn + 1}"))
        c0 = sp.Symbol("c_0")
        g, n2 = (vv.T * xx)[0] + c0, (vv.T * vv)[0]
        xs = xx - g * vv / n2
        ok &= sp.cancel((vv.T * xs)[0] + c0) == 0 and sp.cancel(((xs - xx).T * (xs - xx))[0] - g**2 / n2) == 0
    dv.check("D <= 4: x* = x - (v^T x + c0) v / |v|^2 lies on the hyperplane and |x* - x|^2 = (v^T x + c0)^2 / |v|^2",
             ok, tex=r"x^* = x - \frac{v^\top x + c_0}{\|v\|^2} v: \quad v^\top x^* + c_0 = 0, \quad "
                     r"\|x^* - x\|^2 = \frac{(v^\top x + c_0)^2}{\|v\|^2}",
             why=r"the foot point attains the bound (checked for every $D \leq 4$)")
    c, N, gap = sp.Symbol("c", positive=True), sp.Symbol("N", positive=True), sp.Symbol("g", real=True)
    dv.equal("|c v|^2 = c^2 |v|^2", Sum((c * v[d]) ** 2, (d, 1, D)), c**2 * Sum(v[d] ** 2, (d, 1, D)), alg,
             tex=r"\|c v\|^2 = c^2 \|v\|^2", why=r"scaling the logits by $c > 0$ scales $v = w_y - w_j$ by $c$")
    dv.equal("so gamma(c f) = c g / sqrt(c^2 |v|^2) = g / |v| = gamma (c > 0; the strongest other class is "
             "unchanged too)", c * gap / sp.sqrt(c**2 * N), gap / sp.sqrt(N),
             tex=r"\gamma(c f) = \frac{c g}{\sqrt{c^2 \|v\|^2}} = \frac{g}{\|v\|} = \gamma(f), \quad g = f_y - f_j",
             why=r"numerator and denominator both scale by $c > 0$; the strongest other class is unchanged too")
    dv.note("if gamma <= r(x), x* is within r(x) of x, so in the closure of R(x) where f = J x + b: there "
            "f_y(x*) = f_j(x*), and no point of {f_y = f_j} is closer (it would lie in R(x), on the hyperplane)",
            tex=r"\gamma \leq r(x) \Rightarrow \|x^* - x\| \leq r(x), \quad f_y(x^*) = f_j(x^*)",
            why=r"then $x^*$ lies in the closure of $R(x)$, where $f = J x + b$: it is on the decision boundary, "
                r"and no boundary point is closer")
    return dv.proof()


def prove_cross_entropy_scale_variance() -> Proof:
    """Scaling the logits by c -> oo keeps gamma but drives the cross-entropy and its gradients to 0.

    Statement: gamma(c f) = gamma(f), while CE(c) = log(1 + sum_{j != y} exp(-c (f_y - f_j))) <=
    (K-1) exp(-c delta) -> 0, |grad_x CE|^2 = c^2 |J^T (p - e)|^2 -> 0, and for the last layer
    dCE/dV = c (p - e) h^T -> 0; so the loss falls while |c J|_F = c |J|_F grows and the margin does not.
    Assumptions: x correctly classified with a unique largest logit (gap delta > 0).
    Provenance: [abstract] Liu & Chan (BMVC 2022) say in their abstract that cross-entropy can be lowered by
    scaling without improving the margin; this formal version is ours.
    """
    s = general_setting()
    dv = Derivation("cross-entropy-scale-variance", "symbolic (general K, D) + " + METHOD_SERIES,
                    "general K and D (gradients derived by diff, bounds symbolic, limits by sympy with symbolic "
                    "delta, K); the form of CE(c) for K = 3")
    K, y, a, i, j, k, p, W = s.K, s.y, s.a, s.i, s.j, s.k, s.p, s.W
    c, dlt = sp.Symbol("c", positive=True), sp.Symbol("delta", positive=True)
    N, gap = sp.Symbol("N", positive=True), sp.Symbol("g", real=True)
    dv.equal("gamma(c f) = c g / sqrt(c^2 |w_y - w_j|^2) = gamma(f)", c * gap / sp.sqrt(c**2 * N), gap / sp.sqrt(N),
             tex=r"\gamma(c f) = \frac{c g}{\sqrt{c^2 \|w_y - w_j\|^2}} = \gamma(f)",
             why="the margin is scale invariant (effective-margin)")
    E = sp.symbols("E_1:4", positive=True)
    q = sp.symbols("q_2:4", positive=True)
    ce = -sp.log(E[0] / sum(E))
    dv.equal("K = 3: CE = -log p_y = log(1 + sum_{j != y} q_j), q_j = exp(c f_j) / exp(c f_y) = exp(-c (f_y - f_j))",
             sp.expand_log(ce.subs({E[1]: E[0] * q[0], E[2]: E[0] * q[1]}), force=True).simplify(),
             sp.log(1 + q[0] + q[1]),
             tex=r"\mathrm{CE} = -\log p_y = \log\left(1 + \sum_{j \neq y} q_j\right), \quad q_j = e^{-c (f_y - f_j)}",
             why=r"divide the numerator and the denominator of $p_y$ by $e^{c f_y}$ (checked for $K = 3$)")
    sg = sp.Symbol("sigma", nonnegative=True)
    dv.check("log(1 + sigma) <= sigma: sigma - log(1 + sigma) is 0 at 0 with derivative sigma / (1 + sigma) >= 0",
             sp.simplify(sp.diff(sg - sp.log(1 + sg), sg) - sg / (1 + sg)) == 0,
             tex=r"\log(1 + \sigma) \leq \sigma",
             why=r"$\sigma - \log(1 + \sigma)$ is 0 at $\sigma = 0$ and has derivative $\sigma / (1 + \sigma) \geq 0$")
    dv.check("CE(c) <= (K - 1) exp(-c delta) -> 0", sp.limit((K - 1) * sp.exp(-c * dlt), c, sp.oo) == 0,
             tex=r"\mathrm{CE}(c) \leq (K - 1) e^{-c \delta} \to 0 \quad (c \to \infty)",
             why=r"each $q_j \leq e^{-c \delta}$ with the gap $\delta > 0$; the limit by sympy")
    logit = lambda r: c * s.f(r)  # noqa: E731
    Lc = -logit(y) + sp.log(Sum(sp.exp(logit(k)), (k, 1, K)))
    gx = softmax_to_p(sp.diff(Lc, s.x[j]), logit, p, s.Z, K)
    dv.equal("grad_x CE(c) (diff) = c J^T (p(c) - e_y)", gx, c * Sum(W[k, j] * (p[k] - delta(k, y)), (k, 1, K)), s.alg,
             tex=r"\nabla_x \mathrm{CE}(c) = c J^\top (p(c) - e_y)",
             why="the gradient of the cross-entropy of the scaled logits $c f$, derived by sympy")
    CL = sp.Symbol("CL", nonnegative=True)
    dv.check("|grad_x CE|^2 = c^2 IG <= c^2 (K - 1) exp(-c delta) CL/2 -> 0 (chain (b) of input-gradient-bounds)",
             sp.limit(c**2 * (K - 1) * sp.exp(-c * dlt) * CL / 2, c, sp.oo) == 0,
             tex=r"\|\nabla_x \mathrm{CE}\|^2 = c^2\, \mathrm{IG} \leq c^2 (K - 1) e^{-c \delta}\, \mathrm{CL}/2 \to 0",
             why=r"chain (b) of input-gradient-bounds with $1 - p_y \leq (K - 1) e^{-c \delta}$; the limit by sympy")
    M = sp.Symbol("M", integer=True, positive=True)
    V, bb, hh, r = sp.IndexedBase("V"), sp.IndexedBase("beta"), sp.IndexedBase("h"), sp.Symbol("r", integer=True)
    last = lambda cls: c * (Sum(V[cls, r] * hh[r], (r, 1, M)) + bb[cls])  # noqa: E731
    Lv = -last(y) + sp.log(Sum(sp.exp(last(k)), (k, 1, K)))
    alg = IndexAlgebra({y: K, a: K, i: M}, {p: K})
    gV = softmax_to_p(sp.diff(Lv, V[a, i]), last, p, s.Z, K)
    dv.equal("last layer f = c (V h + beta): dCE/dV_ai (diff) = c (p_a - e_a) h_i", gV,
             c * (p[a] - delta(a, y)) * hh[i], alg,
             tex=r"\frac{\partial \mathrm{CE}}{\partial V_{ai}} = c (p_a - [a = y]) h_i, \quad f = c (V h + \beta)",
             why="the gradient with respect to the last layer's weights, derived by sympy")
    l_ = s.l
    nd = lambda t: 1 - delta(t, y)  # noqa: E731
    dv.equal("|p - e_y|^2 <= 2 (1 - p_y)^2: the difference is sum_{j != l, both != y} p_j p_l >= 0",
             2 * (1 - p[y]) ** 2 - Sum((p[k] - delta(k, y)) ** 2, (k, 1, K)),
             Sum(nd(k) * nd(l_) * (1 - delta(k, l_)) * p[k] * p[l_], (k, 1, K), (l_, 1, K)), alg,
             tex=r"2 (1 - p_y)^2 - \|p - e_y\|^2 = \sum_{k \neq l;\ k, l \neq y} p_k p_l \geq 0",
             why=r"$\|p - e_y\|^2 = (1 - p_y)^2 + \sum_{k \neq y} p_k^2$ and $\sum_{k \neq y} p_k = 1 - p_y$")
    H2 = sp.Symbol("|h|^2", nonnegative=True)
    dv.check("|dCE/dV|_F^2 = c^2 |p - e|^2 |h|^2 <= 2 c^2 (K - 1)^2 exp(-2 c delta) |h|^2 -> 0; w.r.t. the "
             "scaled weights c V it is (p - e) h^T, also -> 0",
             sp.limit(2 * c**2 * (K - 1) ** 2 * sp.exp(-2 * c * dlt) * H2, c, sp.oo) == 0,
             tex=r"\|\partial \mathrm{CE} / \partial V\|_F^2 = c^2 \|p - e_y\|^2 \|h\|^2 \leq 2 c^2 (K - 1)^2 "
                 r"e^{-2 c \delta} \|h\|^2 \to 0",
             why=r"the limit by sympy; with respect to the scaled weights $c V$ the gradient is $(p - e_y) h^\top$, "
                 r"which also goes to 0")
    dv.note("earlier layers: grad_theta CE = (df/dtheta)^T (p - e) with df/dtheta scaled by c, so -> 0 likewise; "
            "meanwhile |c J|_F = c |J|_F -> oo and gamma is constant",
            tex=r"\nabla_\theta \mathrm{CE} = (\partial f / \partial \theta)^\top (p - e_y) \to 0, \quad "
                r"\|c J\|_F = c \|J\|_F \to \infty",
            why=r"earlier layers likewise, while the effective weight norm grows and $\gamma$ stays constant")
    return dv.proof()


def prove_emr_limits() -> Proof:
    """Temperature limits of the EMR regularizer as coded, R-EMR(T) = |J^T softmax(f / T)|^2.

    Identity: as T -> oo, pt -> 1/K, so R-EMR -> |J^T 1|^2 / K^2 (the mean-logit gradient that cross-Lipschitz
    removes); as T -> 0+, pt -> e_yhat, so R-EMR -> |w_yhat|^2.
    Assumptions: a unique largest logit yhat for T -> 0.
    Provenance: [derived] from the official EMR code (Liu & Chan, BMVC 2022); derived here, not evidence the
    paper states it.
    """
    s = general_setting()
    dv = Derivation("emr-limits", METHOD_SERIES,
                    "general K and D (sympy limit of each softmax entry with symbolic logits and gaps; R-EMR is a "
                    "polynomial in pt, hence continuous); full-expression sympy limits on one rational instance "
                    "K = 3, D = 2")
    K, D, k, d, W = s.K, s.D, s.k, s.d, s.W
    T, fk, gap = sp.Symbol("T", positive=True), sp.Symbol("f_k", real=True), sp.Symbol("Delta_k", positive=True)
    dv.check("T -> oo: exp(f_k / T) -> 1 for every k, so pt_k -> 1/K", sp.limit(sp.exp(fk / T), T, sp.oo) == 1,
             sp.Eq(sp.Limit(sp.exp(fk / T), T, sp.oo), 1),
             tex=r"\lim_{T \to \infty} \exp(f_k / T) = 1, \quad \text{so} \quad \tilde{p}_k \to 1/K",
             why="every logit divided by a growing temperature tends to 0; the limit by sympy")
    alg = IndexAlgebra({}, {})
    emr = lambda pt: sq(Sum(W[k, s.j] * pt(k), (k, 1, K)), s.j, D)  # noqa: E731
    dv.equal("R-EMR at pt = 1/K equals |J^T 1|^2 / K^2", emr(lambda r: 1 / K),
             Sum(Sum(W[k, d], (k, 1, K)) ** 2, (d, 1, D)) / K**2, alg,
             tex=r"\text{R-EMR}(\tilde{p} = \mathbf{1}/K) = \|J^\top \mathbf{1}\|^2 / K^2",
             why=r"R-EMR $= \|J^\top \tilde{p}\|^2$ is a polynomial in $\tilde{p}$, hence continuous: its limit is "
                 r"its value at the limit")
    dv.check("T -> 0+: pt_k / pt_yhat = exp(-(f_yhat - f_k) / T) -> 0 for k != yhat, so pt -> e_yhat",
             sp.limit(sp.exp(-gap / T), T, 0, "+") == 0, sp.Eq(sp.Limit(sp.exp(-gap / T), T, 0, "+"), 0),
             tex=r"\lim_{T \to 0^+} \tilde{p}_k / \tilde{p}_{\hat{y}} = \lim_{T \to 0^+} e^{-(f_{\hat{y}} - f_k)/T} "
                 r"= 0 \quad (k \neq \hat{y})",
             why=r"with a unique largest logit $f_{\hat{y}}$ every other ratio vanishes, so "
                 r"$\tilde{p} \to e_{\hat{y}}$")
    yh = s.y
    dv.equal("R-EMR at pt = e_yhat equals |w_yhat|^2", emr(lambda r: delta(r, yh)),
             Sum(W[yh, d] ** 2, (d, 1, D)), IndexAlgebra({yh: K}, {}),
             tex=r"\text{R-EMR}(\tilde{p} = e_{\hat{y}}) = \|w_{\hat{y}}\|^2",
             why=r"$J^\top e_{\hat{y}} = w_{\hat{y}}$, row $\hat{y}$ of $J$")
    R = sp.Rational
    J, f = sp.Matrix([[1, 2], [R(-1, 2), 3], [2, -1]]), [2, 1, R(-1, 2)]
    ex = [sp.exp(v / T) for v in f]
    pt = sp.Matrix([v / sum(ex) for v in ex])
    val = ((J.T * pt).T * (J.T * pt))[0]
    one = J.T * sp.ones(3, 1)
    dv.equal("instance: limit_{T -> oo} R-EMR(T) = |J^T 1|^2 / 9", sp.limit(val, T, sp.oo), (one.T * one)[0] / 9,
             tex=r"\lim_{T \to \infty} \text{R-EMR}(T) = \|J^\top \mathbf{1}\|^2 / 9",
             why=r"a rational instance ($K = 3$, $D = 2$, logits $(2, 1, -1/2)$): the limit of the full expression "
                 r"by sympy")
    dv.equal("instance: limit_{T -> 0+} R-EMR(T) = |w_1|^2 (yhat = 1)", sp.limit(val, T, 0, "+"),
             (J[0, :] * J[0, :].T)[0], tex=r"\lim_{T \to 0^+} \text{R-EMR}(T) = \|w_1\|^2 \quad (\hat{y} = 1)",
             why=r"the same instance as $T \to 0^+$")
    return dv.proof()


def prove_standard_training_small_margin() -> Proof:
    """Under plain cross-entropy training the effective weight norm grows while the effective margin stalls.

    This is a statement about training dynamics, not a theorem: it cannot be proved symbolically, and this
    function does not pretend to. It is established (or refuted) by training small networks and measuring.
    Assumptions: none that a proof could use.
    Provenance: [abstract] Liu & Chan (BMVC 2022) say this in their abstract; the measurement protocol is ours.
    """
    dv = Derivation("standard-training-small-margin", METHOD_EMPIRICAL,
                    "established by experiment (training small networks on generated data, or user-supplied MNIST "
                    "or CIFAR files, with and without EMR), not by this proof")
    dv.note("no symbolic proof exists: the claim is about what gradient descent on data does over training",
            why="a claim about what gradient descent on data does over training: no symbolic proof exists")
    dv.note("what is proved nearby: cross-entropy-scale-variance shows the loss CAN fall by scaling the logits "
            "with the margin fixed; whether training DOES so is measured by the experiment",
            why="proved nearby: cross-entropy-scale-variance (the loss can fall by scaling the logits at a fixed "
                "margin); whether training does so is measured by the experiment")
    return dv.proof(holds=None)


#: The proof of each claim of this paper's group, by claim id.
PROVERS = {
    "euler-homogeneous": prove_euler_homogeneous,
    "effective-margin": prove_effective_margin,
    "cross-entropy-scale-variance": prove_cross_entropy_scale_variance,
    "emr-limits": prove_emr_limits,
    "standard-training-small-margin": prove_standard_training_small_margin,
}
