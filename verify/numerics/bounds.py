"""Floating-point error bounds computed beside the values: :class:`Bounded` (defined, with its arithmetic
and the model of rounding, in :mod:`verify.numerics.bounded_arith`, and importable from here) and the
functions on Bounded values: norms and inner products, softmax and cross-entropy, eigenvalues and singular
values, the bound of a vector-Jacobian product, and the worst entry of a comparison.

Softmax (:func:`softmax`): with logits error e_f (per point, max over classes),
|p_k(f~) - p_k(f)| <= expm1(2 e_f) p_k (each ratio exp(f_j - f_k) moves by at most exp(2 e_f)),
and torch's evaluation (max subtraction, exp and log within 2 ulp = 4u, a sum of K terms, a
division; or log_softmax and exp, as autograd's backward does) adds a relative error of at most
expm1((2|f_k - m| + 2 max_j |f_j - m| + 2K + 16) u), m = max_j f_j. Both are combined
multiplicatively.

Eigenvalues and singular values (:func:`eig_extreme`, :func:`sigma_max`, :func:`singular_values`):
Weyl's theorem moves each by at most ||M~ - M||_2 <= ||e_M||_F; the solver is assumed backward stable
with backward error at most gamma_{n^2} ||M~||_F (n the larger dimension), an a-priori form with a
constant of 1 that exceeds LAPACK's usual p(n) u ||M||_2 (stated as an assumption).

>>> import torch
>>> a = Bounded(torch.tensor([1.0, 2.0], dtype=torch.float32))
>>> s = sq_norm(a)
>>> float(s.value), 0 < float(s.err) <= 11 * 2**-24   # gamma_2 * 5
(5.0, True)
"""

from __future__ import annotations

import math

import torch

from verify.numerics.bounded_arith import ETA, SAFETY, Bounded, as_f64, bounded, const, gamma, unit_roundoff

__all__ = ["unit_roundoff", "gamma", "Bounded", "bounded", "const", "sq_norm", "dot", "softmax", "cross_entropy",
           "vjp_err", "eig_extreme", "sigma_max", "singular_values", "worst_entry", "onehot", "diag_embed", "SAFETY"]


def _dispatch(x):
    return isinstance(x, Bounded)


def sq_norm(x, dim=-1):
    """sum of squares over ``dim`` for a tensor or a Bounded."""
    if _dispatch(x):
        return x.sq_norm(dim)
    return x.square().sum(dim)


def dot(a, b, dim=-1):
    """sum over ``dim`` of a * b (tensor or Bounded)."""
    if _dispatch(a) or _dispatch(b):
        return (a.unsqueeze(-2) @ b.unsqueeze(-1)).squeeze(-1).squeeze(-1) if dim == -1 else (a * b).sum(dim)
    return (a * b).sum(dim)


def onehot(y: torch.Tensor, K: int, like) -> torch.Tensor:
    """e_y as a (B, K) tensor in ``like``'s dtype (exact)."""
    v = like.value if _dispatch(like) else like
    return torch.nn.functional.one_hot(y, K).to(v.dtype)


def diag_embed(x):
    """diag(x) (B, K, K), exact."""
    if _dispatch(x):
        return Bounded(torch.diag_embed(x.value), torch.diag_embed(x.err), x.u)
    return torch.diag_embed(x)


def softmax(f, dim=-1):
    """softmax over the last dim; for a Bounded, with the bound of the module docstring."""
    if not _dispatch(f):
        return torch.softmax(f, dim)
    p = torch.softmax(f.value, dim)
    u, K = f.u, f.shape[-1]
    fv = as_f64(f.value)
    d = (fv - fv.amax(-1, keepdim=True)).abs()
    rnd = torch.expm1((2 * d + 2 * d.amax(-1, keepdim=True) + 2 * K + 16) * u)
    prop = torch.expm1(2 * f.err.amax(-1, keepdim=True))
    rel = (1 + prop) * (1 + rnd) - 1
    eta = ETA.get(u, 0.0)                        # exp and the division may underflow: 2 eta absolute
    return Bounded(p, rel * (1 + rel) * (as_f64(p) + 2 * eta) + 2 * eta, u)


def cross_entropy(f: Bounded, y: torch.Tensor) -> Bounded:
    """L = logsumexp(f) - f_y per point; |dL| <= 2 e_f (L is 2-Lipschitz in the sup norm: |p - e_y|_1 <= 2)
    plus rounding (2|f_y - m| + 2 max|f - m| + 6 log K + 2K + 16) u (shift, exp, sum, log, subtraction)."""
    L = torch.nn.functional.cross_entropy(f.value, y, reduction="none")
    fv = as_f64(f.value)
    d = (fv - fv.amax(-1, keepdim=True)).abs()
    K = f.shape[-1]
    rnd = (2 * d.gather(-1, y[:, None]).squeeze(-1) + 2 * d.amax(-1) + 6 * math.log(K) + 2 * K + 16) * f.u
    return Bounded(L, 2 * f.err.amax(-1) + rnd + gamma(1, f.u) * as_f64(L).abs(), f.u)


def _solver(M: torch.Tensor, u: float) -> torch.Tensor:
    n = max(M.shape[-2:])
    return gamma(n * n, u) * torch.linalg.matrix_norm(as_f64(M), "fro")


def eig_extreme(M: Bounded, which: str = "max") -> Bounded:
    """The largest (or smallest) eigenvalue of a symmetric M (lower triangle read), per batch entry,
    with bound ||e_M||_F (Weyl) + gamma_{n^2} ||M~||_F (backward-stable solver, assumed)."""
    w = torch.linalg.eigvalsh(M.value)
    v = w[..., -1] if which == "max" else w[..., 0]
    e = torch.linalg.matrix_norm(M.err, "fro") + _solver(M.value, M.u)
    return Bounded(v, e, M.u)


def sigma_max(M: Bounded) -> Bounded:
    """The spectral norm ||M||_2 per batch entry, bounded like :func:`eig_extreme`."""
    s = torch.linalg.matrix_norm(M.value, 2)
    e = torch.linalg.matrix_norm(M.err, "fro") + _solver(M.value, M.u)
    return Bounded(s, e, M.u)


def singular_values(M: Bounded) -> tuple[torch.Tensor, torch.Tensor]:
    """All singular values of M~ (descending) and one bound per matrix for all of them (Weyl + solver)."""
    s = torch.linalg.svdvals(M.value)
    e = torch.linalg.matrix_norm(M.err, "fro") + _solver(M.value, M.u)
    return s, e * SAFETY


def vjp_err(J: Bounded, v: Bounded) -> torch.Tensor:
    """Bound on autograd's J^T v (backprop of the seed v through the layers), v (B, K) or (B, K, r).

    Backprop multiplies v by the same layer matrices whose product is J, so its rounding is at most
    gamma_m |A_1|^T ... |A_L|^T |v'| <= J.err^T |v'| (J.err being the Higham product bound of the
    Jacobian, same matrices, same m); its own float seed v' is within v.err of the exact seed, so
    |v'| <= |v~| + 2 v.err. Total: J.err^T (|v~| + 2 e_v) + (|J~| + J.err)^T e_v.
    """
    vec = v.value.dim() == J.value.dim() - 1
    V, E = (v.abs64, v.err) if not vec else (v.abs64.unsqueeze(-1), v.err.unsqueeze(-1))
    out = J.err.mT @ (V + 2 * E) + (J.abs64 + J.err).mT @ E
    # underflow: an allowance of N eta per entry, amplified by at most 1 + the column sums of |J|
    # (N = 8 max(D, K, 1024) products; matters only where values are already subnormal)
    N = 8 * max(J.shape[-1], J.shape[-2], 1024)
    out = out + N * J.eta * (1 + (J.abs64 + J.err).sum(-2)).unsqueeze(-1)
    return out.squeeze(-1) if vec else out


def worst_entry(lhs: Bounded, rhs: Bounded, start_dim: int = 1):
    """Per point, the entry with the largest |lhs - rhs| / (bound_lhs + bound_rhs): returns float64
    tensors (lhs, rhs, bound) of shape (B,). A point passes iff every entry is within its bound, so this
    reduction keeps the verdict of the full entrywise comparison.

    >>> a = Bounded(torch.tensor([[1.0, 2.0]], dtype=torch.float64), torch.tensor([[0.1, 1e-9]], dtype=torch.float64))
    >>> b = Bounded(torch.tensor([[1.0, 2.5]], dtype=torch.float64))
    >>> l, r, bd = worst_entry(a, b)
    >>> l.tolist(), r.tolist(), round(bd.item() * 1e9, 6)
    ([2.0], [2.5], 1.0)
    """
    L, R, Bd = as_f64(lhs.value), as_f64(rhs.value), lhs.bound() + rhs.bound()
    L, R = torch.broadcast_tensors(L, R)
    Bd = Bd.expand(L.shape)
    if L.dim() == start_dim:
        L, R, Bd = L.unsqueeze(-1), R.unsqueeze(-1), Bd.unsqueeze(-1)
    L, R, Bd = L.flatten(start_dim), R.flatten(start_dim), Bd.flatten(start_dim)
    gap = (L - R).abs()
    ratio = torch.where(Bd > 0, gap / Bd, torch.where(gap == 0, torch.zeros_like(gap), torch.full_like(gap, math.inf)))
    ratio = torch.nan_to_num(ratio, nan=math.inf)
    i = ratio.argmax(-1, keepdim=True)
    return L.gather(-1, i).squeeze(-1), R.gather(-1, i).squeeze(-1), Bd.gather(-1, i).squeeze(-1)
