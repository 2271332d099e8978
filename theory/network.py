"""An exact network: layer descriptions compiled to rational matrices on flattened vectors.

Every layer becomes one of three exact node kinds, which is all the region theory needs:

- :class:`AffineNode` ``y = W u + b`` (Linear, Conv2d, AvgPool2d, BatchNorm; Flatten is free);
- :class:`RectNode` ``y_i = sigma_{a_i}(u_i)`` with one slope per unit;
- :class:`MaxNode` ``y_j = max_{k in g_j} u_k`` over index groups (MaxPool2d, Maxout);

plus :class:`SumNode` for residual additions. Nodes form a DAG in topological order; node 0 is the
input.

>>> net = Network([Linear([[1, -1], [1, 1]], [0, -1]), Rectifier(0), Linear([[2, 3]])], (2,))
>>> net([3, 1])
Matrix([[13]])
>>> [type(n).__name__ for n in net.nodes]
['InputNode', 'AffineNode', 'RectNode', 'AffineNode']
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any, Sequence

import flint

from .exact import matrix, rational, to_sympy_matrix, vector
from .layers import (
    SUPPORTED,
    AvgPool2d,
    BatchNorm,
    Conv2d,
    Flatten,
    Linear,
    Maxout,
    MaxPool2d,
    Rectifier,
    Residual,
    ShapeError,
    UnsupportedLayerError,
    as_pair,
    infer_shapes,
)

__all__ = ["Network", "InputNode", "AffineNode", "RectNode", "MaxNode", "SumNode", "mlp"]


@dataclass(frozen=True, eq=False)
class InputNode:
    """The input node of the exact network: a vector of ``size`` entries."""
    size: int
    name: str = "input"


@dataclass(frozen=True, eq=False)
class AffineNode:
    """A node ``weight @ value(src) + bias`` of the exact network (bias None: no bias)."""
    src: int
    weight: flint.fmpq_mat
    bias: flint.fmpq_mat | None
    name: str
    kind: str = "Linear"
    #: per output, the magnitudes the float bias is computed from (BatchNorm's |beta| + |mu scale|), added
    #: to |bias| in the rounding bound; None: |bias| alone
    bias_terms: flint.fmpq_mat | None = None

    @property
    def size(self):
        return self.weight.nrows()


@dataclass(frozen=True, eq=False)
class RectNode:
    """A node of rectifier units: entry i is sigma_a(value(src)[i]) with the slope a = ``slopes[i]``."""
    src: int
    slopes: tuple  # one fmpq per unit
    name: str

    @property
    def size(self):
        return len(self.slopes)


@dataclass(frozen=True, eq=False)
class MaxNode:
    """A node of max units: each entry is the max of the entries of node ``src`` in one of ``groups``."""
    src: int
    groups: tuple  # tuple of tuples of source indices
    name: str

    @property
    def size(self):
        return len(self.groups)


@dataclass(frozen=True, eq=False)
class SumNode:
    """A node that adds the values of the nodes ``srcs`` (a residual connection)."""
    srcs: tuple
    size: int
    name: str


def _array(values, shape, what):
    """Exact entries of an array-like of a given shape, as a flat row-major list of fmpq."""
    m = matrix(values, (prod(shape), 1), what=what)
    return m.entries()


def _conv_matrix(layer: Conv2d, in_shape, out_shape):
    c, h, w = in_shape
    co, oh, ow = out_shape
    _, _, kh, kw = (int(s) for s in (getattr(layer.weight, "shape", None) or _nested_shape(layer.weight)))
    (sh, sw), (ph, pw) = as_pair(layer.stride), as_pair(layer.padding)
    wt = _array(layer.weight, (co, c, kh, kw), f"{layer.name}.weight")
    W = flint.fmpq_mat(co * oh * ow, c * h * w)
    for o in range(co):
        for i in range(oh):
            for j in range(ow):
                row = (o * oh + i) * ow + j
                for ci in range(c):
                    for a in range(kh):
                        y = i * sh - ph + a
                        if not 0 <= y < h:
                            continue
                        for b in range(kw):
                            x = j * sw - pw + b
                            if 0 <= x < w:
                                W[row, (ci * h + y) * w + x] = wt[((o * c + ci) * kh + a) * kw + b]
    bias = None
    if layer.bias is not None:
        bv = _array(layer.bias, (co,), f"{layer.name}.bias")
        bias = flint.fmpq_mat(co * oh * ow, 1, [bv[o] for o in range(co) for _ in range(oh * ow)])
    return W, bias


def _nested_shape(v):
    out = []
    while isinstance(v, (list, tuple)):
        out.append(len(v))
        v = v[0]
    return out


def _pool_windows(layer: AvgPool2d, in_shape):
    """For each output unit, the flat input indices of its window (padding excluded) and the divisor."""
    c, h, w = in_shape
    (kh, kw), (sh, sw), (ph, pw) = layer.geometry()
    _, oh, ow = layer.out_shape(in_shape)
    windows = []
    for ch in range(c):
        for i in range(oh):
            for j in range(ow):
                win = tuple((ch * h + y) * w + x
                            for y in range(i * sh - ph, i * sh - ph + kh) if 0 <= y < h
                            for x in range(j * sw - pw, j * sw - pw + kw) if 0 <= x < w)
                windows.append(win)
    return windows, kh * kw


class Network:
    """An exact piecewise-linear network built from :mod:`theory.layers` descriptions.

    Parameters are read exactly (floats as the dyadic rationals they are). ``in_shape`` is the input
    shape without a batch dimension.
    """

    def __init__(self, layers: Sequence, in_shape, name: str | None = None):
        self.layers = tuple(layers)
        self.in_shape = tuple(int(s) for s in in_shape)
        self.shapes = infer_shapes(self.layers, self.in_shape)
        self.name = name or "network"
        self.nodes: list = [InputNode(prod(self.in_shape))]
        out = self._compile(self.layers, 0, self.in_shape, prefix="")
        self.output = out
        if len(self.shapes[-1]) != 1:
            raise ShapeError(f"the network must end in a vector of logits, got output shape {self.shapes[-1]}; "
                             "add a Flatten")
        self.has_bias = any(isinstance(n, AffineNode) and n.bias is not None and any(n.bias.entries())
                            for n in self.nodes)

    @property
    def n_in(self) -> int:
        return self.nodes[0].size

    @property
    def n_out(self) -> int:
        return self.nodes[self.output].size

    def _add(self, node) -> int:
        self.nodes.append(node)
        return len(self.nodes) - 1

    def _compile(self, layers, src: int, shape, prefix: str) -> int:
        for k, layer in enumerate(layers):
            name = f"{prefix}{k}:{layer.name}"
            out_shape = tuple(layer.out_shape(shape))
            n_in = prod(shape)
            if isinstance(layer, Linear):
                out, _ = out_shape[0], n_in
                W = matrix(layer.weight, (out, n_in), what=f"{name}.weight")
                b = None if layer.bias is None else vector(layer.bias, out, what=f"{name}.bias")
                src = self._add(AffineNode(src, W, b, name, "Linear"))
            elif isinstance(layer, Conv2d):
                W, b = _conv_matrix(layer, shape, out_shape)
                src = self._add(AffineNode(src, W, b, name, "Conv2d"))
            elif isinstance(layer, MaxPool2d):
                windows, _ = _pool_windows(layer, shape)
                src = self._add(MaxNode(src, tuple(windows), name))
            elif isinstance(layer, AvgPool2d):
                windows, div = _pool_windows(layer, shape)
                W = flint.fmpq_mat(len(windows), n_in)
                inv = flint.fmpq(1, div)
                for r, win in enumerate(windows):
                    for i in win:
                        W[r, i] = inv
                src = self._add(AffineNode(src, W, None, name, "AvgPool2d"))
            elif isinstance(layer, Flatten):
                pass
            elif isinstance(layer, BatchNorm):
                c = shape[0]
                per = n_in // c
                sc = _array(layer.scale, (c,), f"{name}.scale")
                sh = _array(layer.shift, (c,), f"{name}.shift")
                W = flint.fmpq_mat(n_in, n_in)
                for i in range(n_in):
                    W[i, i] = sc[i // per]
                b = flint.fmpq_mat(n_in, 1, [sh[i // per] for i in range(n_in)])
                bt = None
                if layer.shift_terms is not None:
                    st = _array(layer.shift_terms, (c,), f"{name}.shift_terms")
                    bt = flint.fmpq_mat(n_in, 1, [abs(st[i // per]) for i in range(n_in)])
                src = self._add(AffineNode(src, W, b, name, "BatchNorm", bt))
            elif isinstance(layer, Rectifier):
                if layer.per_channel():
                    a = [rational(v, what=f"{name}.slope") for v in matrix(layer.slope, what=f"{name}.slope").entries()]
                    per = n_in // len(a) if len(a) > 1 else n_in
                    slopes = tuple(a[i // per] if len(a) > 1 else a[0] for i in range(n_in))
                else:
                    a = rational(layer.slope, what=f"{name}.slope")
                    slopes = (a,) * n_in
                src = self._add(RectNode(src, slopes, name))
            elif isinstance(layer, Maxout):
                p = layer.pieces
                src = self._add(MaxNode(src, tuple(tuple(range(j * p, j * p + p)) for j in range(n_in // p)), name))
            elif isinstance(layer, Residual):
                body = self._compile(layer.body, src, shape, prefix=name + "/body/")
                short = self._compile(layer.shortcut, src, shape, prefix=name + "/shortcut/")
                src = self._add(SumNode((body, short), prod(out_shape), name))
            else:
                raise UnsupportedLayerError(
                    f"{type(layer).__name__} is not supported; supported: {', '.join(SUPPORTED)}")
            shape = out_shape
        return src

    # ---- exact evaluation ----------------------------------------------------------------
    def read_input(self, x: Any) -> flint.fmpq_mat:
        """Read one input exactly, checking its shape: returns an (n_in x 1) rational column."""
        from .exact import flat_entries

        entries, shp = flat_entries(x, "input x")
        ok = shp in (self.in_shape, (self.n_in,), (self.n_in, 1), (1,) + self.in_shape)
        if not ok:
            raise ShapeError(f"input x: expected shape {self.in_shape} (or {self.n_in} numbers), got shape {shp}")
        return vector(entries, self.n_in, what="input x")

    def values(self, x: flint.fmpq_mat) -> list:
        """Exact value of every node at x (x already read)."""
        vals = [x]
        for node in self.nodes[1:]:
            if isinstance(node, AffineNode):
                v = node.weight * vals[node.src]
                if node.bias is not None:
                    v = v + node.bias
            elif isinstance(node, RectNode):
                u = vals[node.src].entries()
                v = flint.fmpq_mat(len(u), 1, [ui if ui >= 0 else a * ui for ui, a in zip(u, node.slopes)])
            elif isinstance(node, MaxNode):
                u = vals[node.src].entries()
                v = flint.fmpq_mat(len(node.groups), 1, [max(u[i] for i in g) for g in node.groups])
            else:
                v = vals[node.srcs[0]] + vals[node.srcs[1]]
            vals.append(v)
        return vals

    def values_columns(self, xs: list) -> list:
        """:meth:`values` at several points at once: ``xs`` a list of read inputs (n_in x 1 each); returns one
        list per point, equal to ``values(x)`` entry by entry. Each affine layer is one matrix product for all
        points (n_out x B), which is several times faster than one product per point."""
        B = len(xs)
        if B == 0:
            return []
        X = flint.fmpq_mat(self.n_in, B, [v for row in zip(*(x.entries() for x in xs)) for v in row])
        cols = [X]
        for node in self.nodes[1:]:
            if isinstance(node, AffineNode):
                v = node.weight * cols[node.src]
                if node.bias is not None:
                    v = v + node.bias * flint.fmpq_mat(1, B, [1] * B)
            elif isinstance(node, RectNode):
                u = cols[node.src].entries()
                v = flint.fmpq_mat(node.size, B, [ui if ui >= 0 else node.slopes[k // B] * ui
                                                  for k, ui in enumerate(u)])
            elif isinstance(node, MaxNode):
                u = cols[node.src].entries()
                v = flint.fmpq_mat(len(node.groups), B, [max(u[i * B + j] for i in g)
                                                         for g in node.groups for j in range(B)])
            else:
                v = cols[node.srcs[0]] + cols[node.srcs[1]]
            cols.append(v)
        out = [[None] * len(cols) for _ in range(B)]
        for k, m in enumerate(cols):
            e, n = m.entries(), m.nrows()
            for j in range(B):
                out[j][k] = flint.fmpq_mat(n, 1, e[j::B])
        return out

    def __call__(self, x: Any):
        """The exact logits f(x), as a sympy column Matrix."""
        return to_sympy_matrix(self.values(self.read_input(x))[self.output])

    def __repr__(self):
        return f"Network({self.name!r}, in_shape={self.in_shape}, {len(self.layers)} layers, K={self.n_out})"


def mlp(weights: Sequence, biases: Sequence | None = None, slope: Any = 0, name: str = "mlp") -> Network:
    """An MLP W_L sigma_a(... sigma_a(W_1 x + b_1) ...) + b_L from weight matrices (out x in).

    >>> net = mlp([[[1, 0], [0, 1]], [[1, 1]]], slope="1/10")
    >>> net([-10, 5])
    Matrix([[4]])
    """
    biases = biases if biases is not None else [None] * len(weights)
    layers: list = []
    for i, (W, b) in enumerate(zip(weights, biases)):
        layers.append(Linear(W, b))
        if i < len(weights) - 1:
            layers.append(Rectifier(slope))
    n_in = len(weights[0][0]) if isinstance(weights[0], (list, tuple)) else int(weights[0].shape[1])
    return Network(layers, (n_in,), name=name)
