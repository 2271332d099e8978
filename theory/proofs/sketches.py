r"""Each claim's statement in conventional notation (LaTeX prose) and a short proof sketch, for ``explain``.

The sketches say in words what the symbolic steps check; they decide nothing. Maths is inline ``$...$``
(LaTeX that matplotlib's mathtext also reads); the text rendering is :func:`~theory.proofs.human.inline_text`.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Summary", "SKETCHES"]


class Summary(NamedTuple):
    """A claim as a person reads it: its ``statement`` in LaTeX and a proof ``sketch`` of a few sentences."""

    statement: str
    sketch: str


_S = Summary

#: claim id -> its :class:`Summary`, shown by ``python -m theory explain`` beside the symbolic check.
SKETCHES: dict[str, Summary] = {
    "local-affine": _S(
        r"On the activation region $R(x)$, $f(x') = J x' + b$ exactly, and $J$ equals autodiff's Jacobian at "
        r"interior points.",
        r"Fix the activation pattern of $x$. On $R(x)$ every rectifier acts as a fixed diagonal matrix "
        r"$\operatorname{diag}(\lambda)$ with $\lambda_i \in \{1, a\}$, and every max unit as a fixed 0/1 "
        r"selection matrix. The network is then a composition of affine maps, hence affine, with linear part $J$ "
        r"the product of the layer matrices. At an interior point the pattern is constant on a neighbourhood, so "
        r"$f$ is differentiable there with derivative $J$, which is what autodiff's chain rule computes."),
    "input-gradient": _S(
        r"$\nabla_x L(x, y) = J^\top (p - e_y) = \sum_{j \neq y} p_j (w_j - w_y)$, where $w_k^\top$ is row $k$ "
        r"of $J$ and $p = \operatorname{softmax}(f)$.",
        r"On the region $f = J x + b$, so $L = -f_y + \log \sum_k \exp(f_k)$ depends on $x$ through $f$ only. "
        r"The chain rule gives $\nabla_x L = J^\top \nabla_f L$, and $\partial L / \partial f_k = p_k - [k = y]$. "
        r"Since $\sum_k p_k = 1$, $J^\top (p - e_y) = \sum_k p_k w_k - w_y = \sum_{k \neq y} p_k (w_k - w_y)$. "
        r"The check differentiates $L$ with sympy and compares entry $j$ with both forms for general $K$ and $D$."),
    "hessian-gauss-newton": _S(
        r"$\nabla_x^2 L = J^\top S(p) J$ with $S(p) = \operatorname{diag}(p) - p p^\top$; it does not depend on "
        r"$y$, is positive semidefinite, has rank at most $K - 1$; $\lambda_{\max}(S) \leq \max_i 2 p_i (1 - p_i) "
        r"\leq 1/2$; $\operatorname{tr} S = 1 - \|p\|^2$.",
        r"Differentiating $\nabla_x L = J^\top (p - e_y)$ once more, the constant $e_y$ drops out and the softmax "
        r"Jacobian $\partial p / \partial f = S(p)$ gives $H = J^\top S(p) J$, independent of $y$. For any $u$, "
        r"$u^\top H u = \frac{1}{2} \sum_{k,l} p_k p_l ((Ju)_k - (Ju)_l)^2 \geq 0$, so $H$ is PSD. "
        r"$S \mathbf{1} = 0$ makes $S$ singular, so $\operatorname{rank} H \leq \operatorname{rank} S \leq K - 1$. "
        r"Gershgorin's theorem bounds every eigenvalue of $S$ by a diagonal entry plus its row radius, "
        r"$2 p_a (1 - p_a) \leq 1/2$, and the trace is $\sum_k p_k (1 - p_k) = 1 - \|p\|^2$."),
    "cross-lipschitz-centered-jacobian": _S(
        r"$\sum_{l,m} \|w_l - w_m\|^2 = 2K \|C J\|_F^2 = 2K \|J\|_F^2 - 2 \|J^\top \mathbf{1}\|^2 \leq "
        r"2K \|J\|_F^2$, with $C = I - \mathbf{1}\mathbf{1}^\top / K$, and equality iff $\sum_k w_k = 0$.",
        r"Expanding $\|w_l - w_m\|^2 = \|w_l\|^2 + \|w_m\|^2 - 2 w_l^\top w_m$ and summing over $l, m$ gives "
        r"$\mathrm{CL} = 2K \|J\|_F^2 - 2 \|\sum_k w_k\|^2$, and $\sum_k w_k = J^\top \mathbf{1}$. The centring "
        r"matrix $C$ is the orthogonal projection off $\mathbf{1}$, so $\|CJ\|_F^2 = \|J\|_F^2 - "
        r"\|J^\top \mathbf{1}\|^2 / K$, the same expression divided by $2K$. The gap $2K \|J\|_F^2 - \mathrm{CL} = "
        r"2 \|J^\top \mathbf{1}\|^2$ is zero exactly when the rows of $J$ sum to zero."),
    "input-gradient-bounds": _S(
        r"$\mathrm{IG} = \|J^\top (p - e_y)\|^2$ satisfies (a) $\mathrm{IG} \leq \|p - e_y\|^2 \|CJ\|_2^2 \leq "
        r"\|p - e_y\|^2 \mathrm{CL}/(2K) \leq \|p - e_y\|^2 \|J\|_F^2$ and (b) $\mathrm{IG} \leq (1 - p_y) "
        r"\sum_{j \neq y} p_j \|w_j - w_y\|^2 \leq (1 - p_y) \mathrm{CL}/2$.",
        r"(a) Because $\mathbf{1}^\top (p - e_y) = 0$, the centring $C$ leaves $p - e_y$ unchanged, so "
        r"$J^\top (p - e_y) = (CJ)^\top (p - e_y)$ and the operator-norm bound gives the first inequality; then "
        r"$\|CJ\|_2^2 \leq \|CJ\|_F^2 = \mathrm{CL}/(2K) \leq \|J\|_F^2$ by cross-lipschitz-centered-jacobian. "
        r"(b) $J^\top (p - e_y) = \sum_{j \neq y} p_j (w_j - w_y)$ is a sum with total weight $1 - p_y$, and "
        r"Jensen's inequality (here an exact sum of squares) gives the first bound. Each weight $p_j$ is at most "
        r"1, and the distances $\|w_j - w_y\|^2$ are part of $\mathrm{CL}/2$, which gives the second. Both chains "
        r"are also measured, with their exact slack, on random rational instances."),
    "hessian-trace-weighted-cross-lipschitz": _S(
        r"$\operatorname{tr} \nabla_x^2 L = \langle G, S\rangle = \frac{1}{2} \sum_{l,m} p_l p_m \|w_l - w_m\|^2 "
        r"= \mathbb{E}_{\hat{y} \sim p} \|\nabla_x L(x, \hat{y})\|^2$, with $G = J J^\top$.",
        r"With $H = J^\top S J$, $\operatorname{tr} H = \operatorname{tr}(S J J^\top) = \langle G, S\rangle$. "
        r"Since $G_{lm} = w_l^\top w_m$, $\langle G, S\rangle = \sum_l p_l \|w_l\|^2 - \|\sum_l p_l w_l\|^2$, the "
        r"variance of $w_{\hat{y}}$ under $\hat{y} \sim p$, which is half the mean squared distance between two "
        r"independent draws. The same variance is $\mathbb{E}_{\hat{y}} \|J^\top (p - e_{\hat{y}})\|^2$, the "
        r"expected squared input gradient for a label drawn from the model. The Hessian and the gradients are "
        r"derived by sympy."),
    "curvature-soft-label-gradient": _S(
        r"If $x + h z \in R(x)$: $\nabla L(x + h z) - \nabla L(x) = J^\top (p(x + h z) - p(x))$; R-CURE is the "
        r"squared input gradient at $x + h z$ of the cross-entropy against the soft label $p(x)$.",
        r"Both points lie on the same affine piece, so both gradients have the form $J^\top (p - e_y)$ with the "
        r"same $J$, and $e_y$ cancels in the difference. For a soft label $q$ with $\sum_k q_k = 1$, the "
        r"cross-entropy $L_q = -\sum_k q_k \log p_k$ has gradient $J^\top (p - q)$ by the same chain rule. At "
        r"$x + h z$ with $q = p(x)$ this is exactly the difference above, so R-CURE $= \|\nabla L_{p(x)}(x + h z)"
        r"\|^2$."),
    "curvature-small-step": _S(
        r"R-CURE $= h^2 \|H z\|^2 + \mathcal{O}(h^3)$, with $H = J^\top S(p) J$.",
        r"Let $g(h) = \nabla L(x + h z) - \nabla L(x)$ and $R(h) = \|g(h)\|^2$; inside the region $g$ is analytic "
        r"in $h$. Then $g(0) = 0$ and $g'(0) = H z$, the derivative of the gradient along $z$. Hence "
        r"$R(0) = R'(0) = 0$ and $R''(0)/2 = \|g'(0)\|^2 = \|H z\|^2$, and Taylor's theorem gives the "
        r"$\mathcal{O}(h^3)$ remainder. The coefficients are derived by sympy for general $K$ and $D$, and a full "
        r"series in $h$ is cross-checked for $K = 3$, $D = 2$."),
    "curvature-region-crossing": _S(
        r"When $x + h z$ leaves $R(x)$, R-CURE gains the term $(J' - J)^\top (p' - e_y)$; measured against $h$ "
        r"with exact exit times: the crossing fraction and the pattern-change share of R-CURE.",
        r"At $x' = x + h z$ on another affine piece $(J', b')$ the gradient is $J'^\top (p' - e_y)$. Adding and "
        r"subtracting $J^\top (p' - e_y)$ splits the difference into the within-region term $J^\top (p' - p)$ "
        r"and a pattern-change term $(J' - J)^\top (p' - e_y)$ that vanishes when $J' = J$. A half-space of the "
        r"region with value $v > 0$ at $x$ and rate $s < 0$ along $z$ is crossed at $t = v/(-s)$, the exact exit "
        r"time. The measurements against $h$ are numeric, made by the checker, and not proved here."),
    "gram-unification": _S(
        r"Every regularizer is $\langle G, M\rangle = \sum_{k,l} G_{kl} M_{kl}$ with $G = J J^\top$ and a "
        r"$K \times K$ weighting $M$: R-JAC: $I$; R-CL: $2K C$; R-IG: $(p - e_y)(p - e_y)^\top$; "
        r"$\operatorname{tr} H$: $S$; R-EMR: $\tilde{p} \tilde{p}^\top$; softmax Jacobian: $S^2$; small-$h$ "
        r"R-CURE $= h^2 z^\top J^\top S G S J z$.",
        r"Each regularizer is a squared norm $\|J^\top v\|^2$ or a trace $\operatorname{tr}(J^\top A J)$ for some "
        r"vector $v$ or symmetric $A$. Since $\|J^\top v\|^2 = v^\top G v = \langle G, v v^\top\rangle$ and "
        r"$\operatorname{tr}(J^\top A J) = \langle G, A\rangle$, each one pairs the Gram matrix $G$ with its own "
        r"weighting. R-JAC takes $A = I$, R-CL $A = 2K C$ (cross-lipschitz-centered-jacobian), R-IG and R-EMR "
        r"$v = p - e_y$ and $v = \tilde{p}$, $\operatorname{tr} H$ takes $A = S$, and the softmax Jacobian "
        r"$S J$ takes $A = S^2$. Small-$h$ R-CURE is $h^2 \|J^\top S J z\|^2 = h^2 (S J z)^\top G (S J z)$."),
    "confident-limit": _S(
        r"Scaling the logits by $c \to \infty$ at a correctly classified $x$: R-IG, $\operatorname{tr} H$ and "
        r"small-$h$ R-CURE $\to 0$ exponentially in $c$, while R-JAC and R-CL grow as $c^2$.",
        r"Scaling $f \to c f$ scales $J \to c J$, so the quadratic regularizers R-JAC and R-CL are multiplied by "
        r"exactly $c^2$. With the logit gap $\delta = f_y - \max_{j \neq y} f_j > 0$, the ratios "
        r"$q_j = p_j / p_y = \exp(-c (f_y - f_j))$ are at most $\exp(-c \delta)$, so $1 - p_y$ and every "
        r"$p_l p_m$ with $l \neq m$ decay like $\exp(-c \delta)$. The bounds R-IG $\leq (1 - p_y) c^2 \mathrm{CL}/2$, "
        r"$\operatorname{tr} H \leq \exp(-c \delta) c^2 \mathrm{CL}/2$ and $h^2 \|H z\|^2 \leq h^2 "
        r"(\operatorname{tr} H)^2$ then go to 0, since $c^n \exp(-c \delta) \to 0$. An exact instance confirms "
        r"the leading orders in $t = \exp(-c)$."),
    "euler-homogeneous": _S(
        r"For a bias-free piecewise-linear network, $f(x) = J(x) x$ exactly.",
        r"Without biases every layer is positively homogeneous: $\sigma_a(t u) = t \sigma_a(u)$, "
        r"$\max(t u_1, t u_2) = t \max(u_1, u_2)$ and $V (t x) = t V x$ for $t > 0$. By induction on depth, "
        r"$f(t x) = t f(x)$. Differentiating at $t = 1$ gives $J(x) x = f(x)$ wherever $f$ is differentiable "
        r"(Euler's identity for functions homogeneous of degree 1). A control with biases shows that the "
        r"residual is then exactly the offset $b$."),
    "effective-margin": _S(
        r"$\gamma(x) = (f_y - f_j) / \|w_y - w_j\|$ is the exact distance to the local decision hyperplane "
        r"between $y$ and the strongest other class $j$; it is invariant to logit scaling; if $\gamma \leq r(x)$ "
        r"it is the exact distance to the decision boundary between $y$ and $j$.",
        r"On the region $f_y - f_j = v^\top x + c_0$ with $v = w_y - w_j$, an affine function whose zero set is a "
        r"hyperplane. For $x'$ on it, $v^\top (x' - x) = -(v^\top x + c_0)$, and Cauchy-Schwarz gives "
        r"$\|x' - x\| \geq |v^\top x + c_0| / \|v\| = |\gamma|$, attained at the foot point "
        r"$x^* = x - (v^\top x + c_0) v / \|v\|^2$. Scaling the logits by $c > 0$ multiplies numerator and "
        r"denominator by $c$. If $\gamma \leq r(x)$ the foot point lies in the closure of $R(x)$, where the "
        r"network is this affine map, so it is on the true boundary $\{f_y = f_j\}$ and no closer point is."),
    "cross-entropy-scale-variance": _S(
        r"Scaling the logits by $c$ leaves $\gamma$ unchanged while CE $\to 0$ and $\|\nabla \mathrm{CE}\| \to 0$ "
        r"(input and parameters): the loss can fall by growing the effective weight norm without growing the "
        r"margin.",
        r"The margin $\gamma$ is scale invariant (effective-margin). For a correctly classified $x$ with gap "
        r"$\delta > 0$, $\mathrm{CE}(c) = \log(1 + \sum_{j \neq y} \exp(-c (f_y - f_j))) \leq (K - 1) "
        r"\exp(-c \delta) \to 0$. The input gradient is $c J^\top (p(c) - e_y)$, whose squared norm is at most "
        r"$c^2 (K - 1) \exp(-c \delta) \mathrm{CL}/2 \to 0$; for the last layer "
        r"$\partial \mathrm{CE} / \partial V = c (p - e_y) h^\top$ with $\|p - e_y\|^2 \leq 2 (1 - p_y)^2$, also "
        r"$\to 0$. Meanwhile $\|c J\|_F = c \|J\|_F$ grows without bound."),
    "emr-limits": _S(
        r"As $T \to \infty$, R-EMR $\to \|J^\top \mathbf{1}\|^2 / K^2$; as $T \to 0$, R-EMR $\to "
        r"\|w_{\hat{y}}\|^2$ for the predicted class $\hat{y}$.",
        r"R-EMR as coded is $\|J^\top \tilde{p}\|^2$ with $\tilde{p} = \operatorname{softmax}(f / T)$, a "
        r"polynomial and hence continuous function of $\tilde{p}$, so its limits are its values at the limits of "
        r"$\tilde{p}$. As $T \to \infty$ every $\exp(f_k / T) \to 1$, so $\tilde{p} \to \mathbf{1}/K$ and R-EMR "
        r"$\to \|J^\top \mathbf{1}\|^2 / K^2$. As $T \to 0^+$ with a unique largest logit, "
        r"$\tilde{p}_k / \tilde{p}_{\hat{y}} = \exp(-(f_{\hat{y}} - f_k)/T) \to 0$, so $\tilde{p} \to "
        r"e_{\hat{y}}$ and R-EMR $\to \|w_{\hat{y}}\|^2$. A rational instance checks both limits of the full "
        r"expression."),
    "standard-training-small-margin": _S(
        r"Under plain cross-entropy training the effective weight norm keeps growing while the effective margin "
        r"stalls; adding EMR gives larger effective margins and more robustness.",
        r"This is a statement about what training does, so it is established by experiment, not proved. What is "
        r"proved nearby is cross-entropy-scale-variance: the loss can fall by scaling the logits while the margin "
        r"stays fixed. Whether gradient descent does so, and whether EMR counters it, is measured by training "
        r"small networks with and without EMR."),
    "margin-lower-bound": _S(
        r"Within the region, the distance to the decision boundary is at least "
        r"$\min(\gamma_O / \max_{j \neq y} \|w_y - w_j\|, r(x))$; $\max_j \|w_y - w_j\| \leq \sqrt{2} \|J\|_2 "
        r"\leq \sqrt{2} \prod_l \|J_l\|_2$.",
        r"On the region the logit gap is affine: $(f_y - f_j)(x + \Delta x) = (f_y - f_j)(x) + (w_y - w_j)^\top "
        r"\Delta x \geq \gamma_O - \|w_y - w_j\| \|\Delta x\|$ by Cauchy-Schwarz, with "
        r"$\gamma_O = f_y - \max_{j \neq y} f_j$. So no class overtakes $y$ while "
        r"$\|\Delta x\| < \gamma_O / \max_j \|w_y - w_j\|$, as long as $\|\Delta x\| < r(x)$ keeps the point in "
        r"the region. Since $w_y - w_j = J^\top (e_y - e_j)$ and $\|e_y - e_j\| = \sqrt{2}$, "
        r"$\|w_y - w_j\| \leq \sqrt{2} \|J\|_2$, and $J = J_3 J_2 J_1$ with submultiplicativity gives the product "
        r"bound. The slacks are measured exactly on random rational networks."),
    "layer-smoothing": _S(
        r"Adversarial training (or the regularizers) shrinks the singular values of the layer Jacobians "
        r"$J_l(x)$ for most layers, across the whole spectrum.",
        r"This is a statement about the networks that adversarial training produces, so it is established by "
        r"measuring the singular values of each $J_l(x)$ as the budget $\epsilon$ grows, not proved. What is "
        r"proved nearby is margin-lower-bound: a smaller $\prod_l \|J_l\|_2$ gives a larger guaranteed margin "
        r"within the region. Whether training does shrink them is what the measurement reports."),
    "confidence-concentration": _S(
        r"As $\epsilon$ grows, clean accuracy falls and output margins and softmax confidences shift toward 0: "
        r"samples concentrate near the decision boundaries.",
        r"This is a statement about the distribution of trained networks' outputs on data, so it is established "
        r"by experiment (clean accuracy, margin and confidence distributions as $\epsilon$ grows), not proved. "
        r"No symbolic step is claimed for it. What is proved nearby is margin-lower-bound, which bounds the "
        r"distance to the decision boundary from below within an activation region."),
}
