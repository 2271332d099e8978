"""The Bounded value and its arithmetic: a float value with an entrywise bound, and the operators that propagate
the bound (the functions on Bounded values are in :mod:`verify.numerics.bounds`).

A :class:`Bounded` pairs a float value ``v~`` (in the model's dtype, computed as training would) with
an entrywise bound ``err`` (float64, >= 0) such that ``|v~ - v| <= err``, where ``v`` is the exact
value of the same quantity on the exact inputs. Every operation on Bounded values computes the float
result *and* propagates the bound, so a bound is never tuned: it is the computation's own a-priori
(Higham-style) bound.

Model of arithmetic (u = unit roundoff of the dtype, gamma_n = n u / (1 - n u)):

- one operation: fl(a op b) = (a op b)(1 + d), |d| <= u; hence |fl(s) - s| <= gamma_1 |fl(s)|;
- a sum of n terms, in any order: |fl(sum x_i) - sum x_i| <= gamma_{n-1} sum |x_i|;
- an inner product of length n, in any order, with or without FMA: error <= gamma_n |a|^T |b|.

Propagation rules (rigorous, not first order), for inputs with |a~ - a| <= e_a, |b~ - b| <= e_b:

- ``a +- b``:  e_a + e_b + gamma_1 |r~|;
- ``a * b``:   e_a |b~| + (|a~| + e_a) e_b + gamma_1 |r~|;
- ``A @ B`` (inner dim n):  e_A |B~| + (|A~| + e_A) e_B + gamma_n |A~| |B~|;
- ``sum`` over n:  sum e + gamma_{n-1} sum |x~|;  ``sq_norm``: sum e (2|x~| + e) + gamma_n sum x~^2;
- ``sqrt``: min(sqrt(e), e / sqrt(a~)) + gamma_1 |r~|;  ``a / b``: (e_a + |a~/b~| e_b) / (|b~| - e_b) + gamma_1 |r~|;
- ``max``: max e (max is exact in float and 1-Lipschitz in the sup norm);
- underflow (gradual): every product may add eta, the smallest subnormal, absolutely (n eta for an
  inner product of length n); sums are exact when they underflow.

The bounds are evaluated in float64; their own rounding (relative ~1e-15) is covered by the factor
``1 + 2**-40`` applied by :meth:`Bounded.bound`.
"""

from __future__ import annotations

import math

import torch

__all__ = ["unit_roundoff", "gamma", "Bounded", "bounded", "const", "as_f64", "SAFETY", "ETA"]

#: Relative allowance for rounding in the float64 evaluation of the bounds themselves.
SAFETY = 1.0 + 2.0 ** -40

_U = {torch.float64: 2.0 ** -53, torch.float32: 2.0 ** -24, torch.float16: 2.0 ** -11, torch.bfloat16: 2.0 ** -8}
#: Underflow: with gradual underflow, fl(a * b) = a b (1 + d) + e with |e| <= eta (half the smallest
#: subnormal; we take the whole), and additions are exact when they underflow.
ETA = {2.0 ** -53: 2.0 ** -1074, 2.0 ** -24: 2.0 ** -149, 2.0 ** -11: 2.0 ** -24, 2.0 ** -8: 2.0 ** -133}


def unit_roundoff(dtype) -> float:
    """The unit roundoff u of a torch float dtype (or its name).

    >>> unit_roundoff(torch.float32) == 2 ** -24
    True
    """
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype.replace("torch.", ""))
    try:
        return _U[dtype]
    except KeyError:
        raise ValueError(f"unit_roundoff: unsupported dtype {dtype}; known: {', '.join(map(str, _U))}") from None


def gamma(n, u: float):
    """gamma_n = n u / (1 - n u) (Higham); n may be a tensor. Infinite when n u >= 1."""
    nu = n * u
    if isinstance(nu, torch.Tensor):
        return torch.where(nu < 1, nu / (1 - nu), torch.full_like(nu, math.inf))
    return nu / (1 - nu) if nu < 1 else math.inf


def as_f64(t) -> torch.Tensor:
    """t detached, in float64 (the dtype every bound is evaluated in)."""
    return t.detach().to(torch.float64)


class Bounded:
    """A float value with an entrywise bound on its distance to the exact value.

    ``value``: tensor in the computation's dtype; ``err``: float64 tensor of the same shape (default 0:
    the value is exact, e.g. an input); ``u``: unit roundoff (default from ``value.dtype``).
    """

    __slots__ = ("value", "err", "u")
    __array_priority__ = 1000

    def __init__(self, value: torch.Tensor, err=None, u: float | None = None):
        self.value = value.detach()
        self.u = unit_roundoff(value.dtype) if u is None else u
        e = torch.zeros(value.shape, dtype=torch.float64, device=value.device) if err is None else as_f64(err)
        self.err = e.expand(value.shape) if e.shape != value.shape else e

    # ---- helpers --------------------------------------------------------------------------------------
    @property
    def shape(self):
        return self.value.shape

    @property
    def abs64(self) -> torch.Tensor:
        return as_f64(self.value).abs()

    def bound(self) -> torch.Tensor:
        """The error bound (float64), with the allowance for its own float64 evaluation."""
        return self.err * SAFETY

    @property
    def eta(self) -> float:
        """The underflow allowance of one product (the smallest subnormal of the dtype)."""
        return ETA.get(self.u, 0.0)

    def _round(self, r: torch.Tensor) -> torch.Tensor:
        return gamma(1, self.u) * as_f64(r).abs() + self.eta

    def _wrap(self, other):
        if isinstance(other, Bounded):
            return other
        if isinstance(other, torch.Tensor):
            return Bounded(other.to(self.value.dtype), u=self.u)
        return const(other, self.value)

    def __repr__(self):
        return f"Bounded(value={self.value!r}, err={self.err!r})"

    # ---- exact restructurings ---------------------------------------------------------------------------
    def _same(self, fn) -> "Bounded":
        return Bounded(fn(self.value), fn(self.err), self.u)

    def __getitem__(self, idx):
        return self._same(lambda t: t[idx])

    def reshape(self, *s):
        return self._same(lambda t: t.reshape(*s))

    def unsqueeze(self, d):
        return self._same(lambda t: t.unsqueeze(d))

    def squeeze(self, d):
        return self._same(lambda t: t.squeeze(d))

    def expand(self, *s):
        return self._same(lambda t: t.expand(*s))

    def flatten(self, start=0, end=-1):
        return self._same(lambda t: t.flatten(start, end))

    def transpose(self, a, b):
        return self._same(lambda t: t.transpose(a, b))

    @property
    def mT(self):
        return self._same(lambda t: t.mT)

    def diagonal(self, offset=0, dim1=-2, dim2=-1):
        return self._same(lambda t: t.diagonal(offset, dim1, dim2))

    def gather(self, dim, index):
        return self._same(lambda t: t.gather(dim, index))

    def abs(self):
        return Bounded(self.value.abs(), self.err, self.u)

    def __neg__(self):
        return Bounded(-self.value, self.err, self.u)

    def detach(self):
        return self

    # ---- arithmetic -------------------------------------------------------------------------------------
    def __add__(self, other):
        """a + b: e_a + e_b + gamma_1 |r~| (+ eta)."""
        o = self._wrap(other)
        r = self.value + o.value
        return Bounded(r, self.err + o.err + self._round(r), self.u)

    __radd__ = __add__

    def __sub__(self, other):
        """a - b: e_a + e_b + gamma_1 |r~| (+ eta)."""
        o = self._wrap(other)
        r = self.value - o.value
        return Bounded(r, self.err + o.err + self._round(r), self.u)

    def __rsub__(self, other):
        return self._wrap(other) - self

    def __mul__(self, other):
        """a * b (entrywise, broadcast): e_a |b~| + (|a~| + e_a) e_b + gamma_1 |r~| + eta."""
        o = self._wrap(other)
        r = self.value * o.value
        e = self.err * o.abs64 + (self.abs64 + self.err) * o.err + self._round(r)
        return Bounded(r, e, self.u)

    __rmul__ = __mul__

    def __truediv__(self, other):
        """a / b: (e_a + |a~/b~| e_b) / (|b~| - e_b) + gamma_1 |r~| + eta; inf when |b~| <= e_b."""
        o = self._wrap(other)
        r = self.value / o.value
        den = o.abs64 - o.err
        e = (self.err + as_f64(r).abs() * o.err) / den
        e = torch.where(den > 0, e, torch.full_like(e, math.inf))
        e = torch.where((self.err == 0) & (o.err == 0), torch.zeros_like(e), e)
        return Bounded(r, e + self._round(r), self.u)

    def __matmul__(self, other):
        """A @ B (inner dim n): e_A |B~| + (|A~| + e_A) e_B + gamma_n |A~| |B~| + n eta."""
        o = self._wrap(other)
        n = self.value.shape[-1]
        r = self.value @ o.value
        a, b = self.abs64, o.abs64
        e = self.err @ b + (a + self.err) @ o.err + gamma(n, self.u) * (a @ b) + n * self.eta
        return Bounded(r, e, self.u)

    def __rmatmul__(self, other):
        return self._wrap(other) @ self

    def sum(self, dim, keepdim=False):
        """sum of n terms: sum e + gamma_{n-1} sum |x~| (any order)."""
        n = self.value.shape[dim] if isinstance(dim, int) else math.prod(self.value.shape[d] for d in dim)
        r = self.value.sum(dim, keepdim=keepdim)
        e = self.err.sum(dim, keepdim=keepdim) + gamma(max(n - 1, 0), self.u) * self.abs64.sum(dim, keepdim=keepdim)
        return Bounded(r, e, self.u)

    def mean(self, dim, keepdim=False):
        n = self.value.shape[dim]
        return self.sum(dim, keepdim) * (1.0 / n)

    def sq_norm(self, dim=-1):
        """sum of n squares: sum e (2 |x~| + e) + gamma_n sum x~^2 + n eta."""
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        n = math.prod(self.value.shape[d] for d in dims)
        r = self.value.square().sum(dims)
        a = self.abs64
        e = (self.err * (2 * a + self.err)).sum(dims) + gamma(n, self.u) * a.square().sum(dims) + n * self.eta
        return Bounded(r, e, self.u)

    def sqrt(self):
        """sqrt(a): min(sqrt(e), e / sqrt(a~)) + gamma_1 |r~| + eta (|sqrt(a) - sqrt(b)| <= |a - b| / sqrt(a))."""
        r = self.value.clamp(min=0).sqrt()
        a = as_f64(self.value).clamp(min=0)
        e = torch.minimum(self.err.sqrt(), torch.where(a > 0, self.err / a.sqrt(), torch.full_like(a, math.inf)))
        return Bounded(r, e + self._round(r), self.u)

    def amax(self, dim, keepdim=False):
        """max over ``dim``; bound: the largest err among the entries that can be the exact argmax
        (a~_j + e_j >= max_k (a~_k - e_k)); the float argmax is one of them."""
        return (-(-self).amin(dim, keepdim))

    def amin(self, dim, keepdim=False):
        """min over ``dim``; bound: the largest err among the candidates a~_j - e_j <= min_k (a~_k + e_k)."""
        v = as_f64(self.value)
        cand = (v - self.err) <= (v + self.err).amin(dim, keepdim=True)
        e = torch.where(cand, self.err, torch.zeros_like(self.err)).amax(dim, keepdim=keepdim)
        return Bounded(self.value.amin(dim, keepdim=keepdim), e, self.u)

    def maximum(self, other):
        o = self._wrap(other)
        return Bounded(torch.maximum(self.value, o.value), torch.maximum(self.err, o.err), self.u)

    def minimum(self, other):
        o = self._wrap(other)
        return Bounded(torch.minimum(self.value, o.value), torch.maximum(self.err, o.err), self.u)

    def __pow__(self, k):
        if k != 2:
            raise ValueError("Bounded supports only ** 2")
        return self * self


def bounded(value: torch.Tensor, err=None) -> Bounded:
    """Wrap a float value and its bound (``err=None``: exact)."""
    return Bounded(value, err)


def const(c, like: torch.Tensor) -> Bounded:
    """A python number as a Bounded constant in ``like``'s dtype: exact if representable, else within
    gamma_1 relative (the rounding of the number to the dtype)."""
    t = torch.as_tensor(c, dtype=like.dtype, device=like.device)
    exact = float(t) == float(c)
    u = unit_roundoff(like.dtype)
    return Bounded(t, None if exact else gamma(1, u) * as_f64(t).abs(), u)
