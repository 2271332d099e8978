"""The symbolic setting shared by the proofs: one affine piece ``f = J x + b`` and its cross-entropy.

:func:`general_setting` writes it for general K and D (``IndexedBase`` entries and ``Sum``), to be
decided by :class:`~theory.proofs.IndexAlgebra`; :func:`explicit_piece` writes it for explicit sizes,
to be decided entry by entry by :func:`vanishes`. Softmax enters through ``exp(f_k) = Z p_k`` with
``sum_k p_k = 1``.

>>> n = explicit_piece(3, 2)
>>> vanishes(n.grad - n.J.T * (n.P - n.e))
True
"""

from __future__ import annotations

from types import SimpleNamespace

import sympy as sp
from sympy import KroneckerDelta as delta
from sympy import Sum

from theory.proofs import IndexAlgebra, explicit_residual, explicit_softmax_to_p, softmax_to_p

__all__ = ["GENERAL", "general_setting", "sq", "explicit_piece", "vanishes", "cl_sum", "fro_sum", "colsum_sq"]

#: The method of a proof that holds symbolically for general K and D.
GENERAL = "symbolic (general K, D)"


def general_setting() -> SimpleNamespace:
    """Symbols for general K and D: entries ``W[k, d]``, ``x[d]``, ``b[k]``, ``p[k]``, ``z[d]``; free indices
    ``y, a`` in 1..K and ``i, j`` in 1..D; the logits ``f(c, shift)`` at ``x + shift z`` and the
    cross-entropy ``L(label, shift)`` built from ``exp``; ``to_p`` turns ``exp(f_k)`` into ``Z p_k``."""
    K, D = sp.symbols("K D", integer=True, positive=True)
    s = SimpleNamespace(K=K, D=D, h=sp.Symbol("h", positive=True), Z=sp.Symbol("Z", positive=True))
    s.y, s.a, s.i, s.j = sp.symbols("y a i j", integer=True)
    s.k, s.l, s.m, s.d, s.e = sp.symbols("k l m d e", integer=True)
    s.W, s.x, s.b, s.p, s.z = (sp.IndexedBase(n) for n in ("W", "x", "b", "p", "z"))
    k, d, e = s.k, s.d, s.e
    s.f = lambda c, shift=0, W=s.W, b=s.b: Sum(W[c, d] * (s.x[d] + shift * s.z[d]), (d, 1, D)) + b[c]
    s.L = lambda label, shift=0, W=s.W, b=s.b: (
        -s.f(label, shift, W, b) + sp.log(Sum(sp.exp(s.f(k, shift, W, b)), (k, 1, K))))
    s.to_p = lambda expr, shift=0, p=s.p, Z=s.Z, W=s.W, b=s.b: softmax_to_p(
        expr, lambda c: s.f(c, shift, W, b), p, Z, K)
    s.S = lambda r, c, p=s.p: p[r] * delta(r, c) - p[r] * p[c]
    s.G = lambda r, c: Sum(s.W[r, e] * s.W[c, e], (e, 1, D))
    s.alg = IndexAlgebra({s.y: K, s.a: K, s.i: D, s.j: D}, {s.p: K})
    return s


def sq(expr, index, upper):
    """``sum_{n=1}^{upper} expr(n)^2``: the squared norm of a vector given by its entry at ``index``."""
    n = sp.Dummy("n", integer=True)
    return Sum(expr.xreplace({index: n}) ** 2, (n, 1, upper))


def explicit_piece(K: int, D: int, y: int = 0) -> SimpleNamespace:
    """Explicit sizes: symbolic ``J`` (K x D), ``x``, ``b``; ``p`` with ``p_K = 1 - sum``; the derived
    gradient and (on demand) Hessian of ``L = -f_y + log sum exp(f)``, with ``exp(f_k) = Z p_k``."""
    J = sp.Matrix(K, D, lambda r, c: sp.Symbol(f"w_{r + 1}{c + 1}"))
    x, b = sp.Matrix(sp.symbols(f"x_1:{D + 1}")), sp.Matrix(sp.symbols(f"b_1:{K + 1}"))
    f, p, Z = J * x + b, list(sp.symbols(f"p_1:{K + 1}")), sp.Symbol("Z", positive=True)
    P = sp.Matrix(p[:-1] + [1 - sum(p[:-1])])
    L = -f[y] + sp.log(sum(sp.exp(fk) for fk in f))
    n = SimpleNamespace(K=K, D=D, J=J, x=x, b=b, f=f, p=p, P=P, Z=Z, L=L, e=sp.eye(K)[:, y],
                        S=sp.diag(*P) - P * P.T)
    n.grad = explicit_softmax_to_p(sp.Matrix([sp.diff(L, xd) for xd in x]), list(f), p, Z)
    n.hess = lambda: explicit_softmax_to_p(sp.Matrix(D, D, lambda r, c: sp.diff(L, x[r], x[c])),
                                           list(f), p, Z)
    return n


def vanishes(m) -> bool:
    """Whether every entry of ``m`` (an expression or a matrix) is identically 0, decided by
    :func:`~theory.proofs.explicit_residual` (``expand``, then ``cancel``): exact, compared with ``==``.

    >>> w = sp.Symbol("w")
    >>> vanishes(sp.Matrix([(w**2 - 1) / (w - 1) - w - 1, 0])), vanishes(w - w**2)
    (True, False)
    """
    return all(explicit_residual(v) == 0 for v in sp.Matrix([m]))


# ------------------------------------------------------------------------------------------ provers
def cl_sum(s, W=None):
    """sum_{l,m,d} (W[l, d] - W[m, d])^2 of the setting ``s`` (its W unless ``W``): the cross-Lipschitz sum."""
    W = s.W if W is None else W
    return Sum((W[s.l, s.d] - W[s.m, s.d]) ** 2, (s.l, 1, s.K), (s.m, 1, s.K), (s.d, 1, s.D))


def fro_sum(s, W=None):
    """sum_{k,d} W[k, d]^2 of the setting ``s`` (its W unless ``W``): the squared Frobenius norm."""
    W = s.W if W is None else W
    return Sum(W[s.k, s.d] ** 2, (s.k, 1, s.K), (s.d, 1, s.D))


def colsum_sq(s):
    """sum_d (sum_k W[k, d])^2 of the setting ``s``: |J^T 1|^2."""
    return Sum(Sum(s.W[s.k, s.d], (s.k, 1, s.K)) ** 2, (s.d, 1, s.D))
