"""The derived closed forms of SPEC.md in terms of J, p, S and G, batched. Provenance: [derived].

Every function takes batched arrays: J (B, K, D) with rows w_k = grad_x f_k, logits f and
probabilities p (B, K), labels y (B,) of int64. Each works on plain torch tensors *and* on
:class:`verify.numerics.bounds.Bounded` values, so the one formula written here yields both the float value
and its rounding-error bound (no second formula to keep in step).

These forms are what the definitions (``verify.regularizers``, autograd as the papers train) are
compared with. They hold at interior points of an activation region of a piecewise-linear network
(where J is the Jacobian of the logits and f is locally affine); the cross-Lipschitz identities hold
for any differentiable f.

>>> import torch
>>> J = torch.tensor([[[1., 0.], [0., 2.], [1., 1.]]], dtype=torch.float64)
>>> float(cross_lipschitz_pairwise(J)), float(cross_lipschitz_centered(J)), float(cross_lipschitz_expanded(J))
(16.0, 16.0, 16.0)
"""

from __future__ import annotations

import torch

from verify.numerics.bounds import Bounded, diag_embed, dot, gamma, onehot, softmax, sq_norm

__all__ = ["probabilities", "softmax_covariance", "gram", "centered", "gram_inner", "input_gradient",
           "input_gradient_pairwise", "hessian", "hvp", "jacobian_norm", "cross_lipschitz_pairwise",
           "cross_lipschitz_centered", "cross_lipschitz_expanded", "weighted_cross_lipschitz", "hessian_trace",
           "expected_gradient_norm", "softmax_jacobian_norm", "cure_soft_label", "cure_small_step",
           "cure_decomposition", "weighting_matrices", "cure_weighting", "strongest_other", "logit_gap",
           "effective_margin", "hyperplane_distance", "emr", "emr_hot_limit", "emr_cold_limit", "GRAM_ROWS"]


def _v(x):
    return x.value if isinstance(x, Bounded) else x


def probabilities(f):
    """p = softmax(f)."""
    return softmax(f)


def softmax_covariance(p):
    """S(p) = diag(p) - p p^T (B, K, K): symmetric PSD with S 1 = 0; the Jacobian of softmax.

    For a Bounded p the bound also covers autograd's evaluation of S u as p * u - p (p . u) (softmax's
    backward): its rounding is at most gamma_{K+2} (diag(p) + p p^T) |u|, added to the entrywise bound."""
    S = diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)
    if isinstance(S, Bounded):
        P = p.abs64 + p.err
        extra = gamma(p.shape[-1] + 2, p.u) * (torch.diag_embed(P) + P.unsqueeze(-1) * P.unsqueeze(-2))
        S = Bounded(S.value, S.err + extra, S.u)
    return S


def gram(J):
    """G = J J^T (B, K, K)."""
    return J @ J.mT


def centered(J):
    """C J = J - (1/K) 1 1^T J: the Jacobian of the centred logits f - mean(f)."""
    return J - J.mean(-2, keepdim=True)


def gram_inner(G, M):
    """<G, M> = sum_{kl} G_kl M_kl (B,)."""
    return (G * M).sum((-2, -1))


def input_gradient(J, p, y):
    """grad_x L(x, y) = J^T (p - e_y) (B, D). [derived, claim input-gradient]"""
    return (J.mT @ (p - onehot(y, p.shape[-1], p)).unsqueeze(-1)).squeeze(-1)


def input_gradient_pairwise(J, p, y):
    """sum_{j != y} p_j (w_j - w_y) (B, D); equal to J^T (p - e_y) because sum_j p_j = 1."""
    wy = J.gather(-2, y.view(-1, 1, 1).expand(-1, 1, J.shape[-1]))
    mask = 1 - onehot(y, p.shape[-1], p)
    return ((J - wy) * (p * mask).unsqueeze(-1)).sum(-2)


def hessian(J, p):
    """hess_x L = J^T S(p) J (B, D, D), at every interior point, for every label. [derived]"""
    return J.mT @ (softmax_covariance(p) @ J)


def hvp(J, p, V):
    """H v for directions V (B, r, D): returns (B, r, D) = (J^T S J V^T)^T, without forming H."""
    return ((J.mT @ (softmax_covariance(p) @ (J @ V.mT))).mT)


def jacobian_norm(J):
    """R-JAC = ||J||_F^2 (B,)."""
    return sq_norm(J, (-2, -1))


def cross_lipschitz_pairwise(J):
    """R-CL by its definition: sum_{l,m} ||w_l - w_m||^2 (B,). [definition]"""
    return sq_norm(J.unsqueeze(-2) - J.unsqueeze(-3), (-3, -2, -1))


def cross_lipschitz_centered(J):
    """2K ||C J||_F^2 (B,). [derived, claim cross-lipschitz-centered-jacobian]"""
    K = J.shape[-2]
    return (2 * K) * sq_norm(centered(J), (-2, -1))


def cross_lipschitz_expanded(J):
    """2K ||J||_F^2 - 2 ||J^T 1||^2 (B,). [derived]"""
    K = J.shape[-2]
    return (2 * K) * sq_norm(J, (-2, -1)) - 2 * sq_norm(J.sum(-2), -1)


def weighted_cross_lipschitz(J, p):
    """1/2 sum_{l,m} p_l p_m ||w_l - w_m||^2 (B,). [derived, claim hessian-trace-weighted-cross-lipschitz]"""
    d = sq_norm(J.unsqueeze(-2) - J.unsqueeze(-3), -1)
    return 0.5 * ((p.unsqueeze(-1) * p.unsqueeze(-2)) * d).sum((-2, -1))


def hessian_trace(J, p):
    """tr hess_x L = <G, S> (B,). [derived]"""
    return gram_inner(gram(J), softmax_covariance(p))


def expected_gradient_norm(J, p):
    """E_{yhat ~ p} ||J^T (p - e_yhat)||^2 = sum_k p_k ||J^T (p - e_k)||^2 (B,)."""
    K = p.shape[-1]
    eye = torch.eye(K, dtype=_v(p).dtype, device=_v(p).device)
    V = p.unsqueeze(-2) - eye                       # (B, K, K): row k is p - e_k
    g = V @ J                                       # row k is (J^T (p - e_k))^T
    return (p * sq_norm(g, -1)).sum(-1)


def softmax_jacobian_norm(J, p):
    """||dp/dx||_F^2 = ||S J||_F^2 = <G, S^2> (B,)."""
    return sq_norm(softmax_covariance(p) @ J, (-2, -1))


def cure_soft_label(J, p_shift, p):
    """J^T (p(x + h z) - p(x)) (B, D): the CURE gradient difference when x + h z stays in R(x)."""
    return (J.mT @ (p_shift - p).unsqueeze(-1)).squeeze(-1)


def cure_small_step(J, p, z, *, h: float):
    """h^2 ||H z||^2 with H = J^T S J (B,): the leading term of R-CURE as h -> 0."""
    Hz = hvp(J, p, z.unsqueeze(-2)).squeeze(-2)
    return (h * h) * sq_norm(Hz, -1)


def cure_decomposition(J, p, J2, p2, y):
    """grad L(x') - grad L(x) = J^T (p' - p) + (J' - J)^T (p' - e_y), with J', p' at x' = x + h z.

    Returns the two parts (B, D): the in-region part and the pattern-change part (zero when J' = J).
    Holds for any two interior points x, x' (each with its own region)."""
    K = p.shape[-1]
    inside = (J.mT @ (p2 - p).unsqueeze(-1)).squeeze(-1)
    change = ((J2 - J).mT @ (p2 - onehot(y, K, p2)).unsqueeze(-1)).squeeze(-1)
    return inside, change


def weighting_matrices(p, y, pt):
    """The K x K weighting matrices M with regularizer = <G, M> (claim gram-unification).

    R-JAC: I; R-CL: 2K C = 2K I - 2 1 1^T; R-IG: (p - e_y)(p - e_y)^T; trH: S; R-EMR: pt pt^T;
    softmax-Jacobian: S^2. (R-CURE at small h: :func:`cure_weighting`.)"""
    K = p.shape[-1]
    P = _v(p)
    eye = torch.eye(K, dtype=P.dtype, device=P.device).expand(P.shape[0], K, K)
    ones = torch.ones_like(eye)
    v = p - onehot(y, K, p)
    S = softmax_covariance(p)
    return {"R-JAC": eye, "R-CL": (2 * K) * eye - 2 * ones, "R-IG": v.unsqueeze(-1) * v.unsqueeze(-2),
            "trH": S, "R-EMR": pt.unsqueeze(-1) * pt.unsqueeze(-2), "softmax-Jacobian": S @ S}


#: The rows of the gram-unification table, in SPEC.md order.
GRAM_ROWS = ("R-JAC", "R-CL", "R-IG", "trH", "R-EMR", "softmax-Jacobian", "R-CURE/h^2 (h->0)")


def cure_weighting(J, p, z):
    """M = (S J z)(S J z)^T: R-CURE / h^2 -> z^T J^T S G S J z = <G, M> as h -> 0."""
    a = (softmax_covariance(p) @ (J @ z.unsqueeze(-1))).squeeze(-1)
    return a.unsqueeze(-1) * a.unsqueeze(-2)


def strongest_other(f, y):
    """j = argmax_{k != y} f_k (B,), from the float logits (a decision, shared by both sides)."""
    F_ = _v(f).clone()
    F_.scatter_(-1, y.view(-1, 1), -torch.inf)
    return F_.argmax(-1)


def logit_gap(f, y, j):
    """f_y - f_j (B,)."""
    return f.gather(-1, y.view(-1, 1)).squeeze(-1) - f.gather(-1, j.view(-1, 1)).squeeze(-1)


def _wdiff(J, y, j):
    D = J.shape[-1]
    pick = lambda k: J.gather(-2, k.view(-1, 1, 1).expand(-1, 1, D)).squeeze(-2)
    return pick(y) - pick(j)


def effective_margin(J, f, y, j):
    """gamma = (f_y - f_j) / ||w_y - w_j|| (B,): signed; positive when y beats j. [derived]"""
    return logit_gap(f, y, j) / sq_norm(_wdiff(J, y, j), -1).sqrt()


def hyperplane_distance(J, b, x, y, j):
    """Signed distance from x to {x' : (w_y - w_j)^T x' + b_y - b_j = 0}, from the local affine map (B,)."""
    w = _wdiff(J, y, j)
    val = dot(w, x.flatten(1) if not isinstance(x, Bounded) else x.flatten(1), -1) + logit_gap(b, y, j)
    return val / sq_norm(w, -1).sqrt()


def emr(J, pt):
    """R-EMR = ||J^T pt||^2 (B,)."""
    return sq_norm((J.mT @ pt.unsqueeze(-1)).squeeze(-1), -1)


def emr_hot_limit(J):
    """lim_{T -> oo} R-EMR = ||J^T 1||^2 / K^2 (B,)."""
    K = J.shape[-2]
    return sq_norm(J.sum(-2), -1) * (1.0 / (K * K))


def emr_cold_limit(J, yhat):
    """lim_{T -> 0} R-EMR = ||w_yhat||^2 (B,), yhat the unique predicted class."""
    D = J.shape[-1]
    return sq_norm(J.gather(-2, yhat.view(-1, 1, 1).expand(-1, 1, D)).squeeze(-2), -1)
