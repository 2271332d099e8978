"""The records of the float engine: the unit roundoff and gamma_n, the chunk sizes of a Jacobian product,
the compiled node (:class:`Node`) with its parameter tables (:func:`full`, :func:`pool_groups`) and the
forward pass with its pattern (:class:`Record`).

:class:`verify.numerics.engine.Engine` compiles layer descriptions into a list of :class:`Node` and
returns a :class:`Record` from its forward pass; the bounds of :mod:`verify.numerics.pass_bounds` use
:func:`unit_roundoff`, :func:`gamma` and :data:`SAFETY`.

>>> unit_roundoff(torch.float32) == 2.0 ** -24, gamma(0, 2.0 ** -53)
(True, 0.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from math import prod

import torch
import torch.nn.functional as F

from theory.layers import MaxPool2d, ShapeError

__all__ = ["Node", "Record", "full", "pool_groups", "unit_roundoff", "gamma", "SAFETY", "CHUNK_ELEMS", "MIN_CHUNK_ROWS"]

_U = {torch.float64: 2.0 ** -53, torch.float32: 2.0 ** -24, torch.float16: 2.0 ** -11, torch.bfloat16: 2.0 ** -8}

#: Relative inflation of every computed bound, covering the bound's own float64 rounding.
SAFETY = 1.0 + 2.0 ** -30

#: Largest intermediate stack (entries) of a Jacobian product; the batch is chunked to stay below.
CHUNK_ELEMS = 2 ** 22

#: Fewest rows (chunk x K) of a product that :meth:`verify.numerics.engine.Engine.jacobian` chunks for memory:
#: below, matrix products slow down more than the memory saved is worth.
MIN_CHUNK_ROWS = 256


def unit_roundoff(dtype: torch.dtype) -> float:
    """u of a torch float dtype (2^-53 for float64, 2^-24 for float32)."""
    if dtype not in _U:
        raise TypeError(f"expected a float dtype ({', '.join(map(str, _U))}), got {dtype}")
    return _U[dtype]


def gamma(n, u: float):
    """gamma_n = n u / (1 - n u) (inf where n u >= 1); n an int or a float64 tensor."""
    if isinstance(n, torch.Tensor):
        nu = n * u
        return torch.where(nu < 1, nu / (1 - nu).clamp_min(1e-300), torch.full_like(nu, math.inf))
    return n * u / (1 - n * u) if n * u < 1 else math.inf


@dataclass(eq=False)
class Node:
    """One compiled node: ``kind`` in input, linear, conv, avgpool, bn, rect, max, sum."""

    kind: str
    name: str
    src: tuple
    in_shape: tuple
    out_shape: tuple
    p: dict = field(default_factory=dict)
    rowlen: torch.Tensor | None = None   # float64 (n,): nonzeros per row (affine)
    inner: int = 0                       # max(row nonzeros, column nonzeros), or window overlap
    macs: int = 0                        # multiply-adds per vector of the linear action

    @property
    def size(self) -> int:
        return prod(self.out_shape)


@dataclass(eq=False)
class Record:
    """A forward pass: node values (B, n) and the pattern (rectifier pre-activations, max argmaxes)."""

    vals: list
    pre: dict = field(default_factory=dict)     # rect node -> (B, n) its pre-activation u (a view of vals)
    win: dict = field(default_factory=dict)     # max node -> (B, n) flat source index of the argmax
    groups: dict = field(default_factory=dict)  # max node -> (G, valid) group tables
    _pos: dict = field(default_factory=dict)

    def sign(self, k: int) -> torch.Tensor:
        """Rectifier node k: the sign pattern (B, n) int8, +1 where u > 0, -1 where u <= 0."""
        return (self.pre[k] > 0).to(torch.int8) * 2 - 1

    def pos(self, k: int) -> torch.Tensor:
        """Max node k: the argmax position (B, n) within each group (theory's pattern entry)."""
        if k not in self._pos:
            G, valid = self.groups[k]
            hit = (G.unsqueeze(0) == self.win[k].unsqueeze(2)) & valid
            self._pos[k] = hit.to(torch.int8).argmax(dim=2)
        return self._pos[k]

    def slice(self, sl: slice) -> "Record":
        cut = lambda d: {k: v[sl] for k, v in d.items()}
        return Record([v[sl] for v in self.vals], cut(self.pre), cut(self.win), self.groups, cut(self._pos))


def full(values, n: int, what: str) -> torch.Tensor:
    """Per-channel (or scalar) parameters expanded to one per flattened unit (channel-first)."""
    t = values if isinstance(values, torch.Tensor) else torch.as_tensor(values, dtype=torch.float64)
    t = t.detach().reshape(-1)
    if t.numel() == 1:
        return t.expand(n).clone()
    if n % t.numel():
        raise ShapeError(f"{what}: {t.numel()} per-channel values for {n} units")
    return t.repeat_interleave(n // t.numel())


def pool_groups(layer: MaxPool2d, shape, device: torch.device) -> dict:
    """Window table (n_out, kh*kw) of flat source indices, valid (non-padding) entries first in
    row-major window order, as in ``theory.network._pool_windows``."""
    (kh, kw), s, pd = layer.geometry()
    idx = torch.arange(prod(shape), dtype=torch.float64, device=device).reshape((1,) + tuple(shape)) + 1
    cols = F.unfold(idx, (kh, kw), padding=pd, stride=s)  # (1, C*kh*kw, L)
    c = shape[0]
    G = cols.reshape(c, kh * kw, -1).permute(0, 2, 1).reshape(-1, kh * kw).round().long() - 1
    order = torch.sort((G < 0).to(torch.int8), dim=1, stable=True).indices
    G = G.gather(1, order)
    valid = G >= 0
    offset = (torch.arange(c, device=device) * (shape[1] * shape[2])).unsqueeze(1)
    return dict(G=G.clamp_min(0), valid=valid, gsize=valid.sum(1), pool=((kh, kw), s, pd), offset=offset)
