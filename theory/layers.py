"""Layer descriptions shared by the exact engine (``theory``) and the float engine (``verify``).

A network is a sequence of these small dataclasses. They record *what* each layer is, with its
parameters as given (nested lists of ints, Fractions, sympy Rationals, decimal strings, or float
arrays, which are read as the exact dyadic rationals they are). The exact engine compiles them to
rational matrices (:mod:`theory.network`); the float engine runs them in torch (:mod:`verify`).

Shapes are channel-first without a batch dimension: ``(D,)`` for vectors, ``(C, H, W)`` for images.

Every layer here is piecewise linear:

- affine: :class:`Linear`, :class:`Conv2d`, :class:`AvgPool2d`, :class:`Flatten`, :class:`BatchNorm`
  (eval mode, given by its per-channel scale and shift);
- rectified: :class:`Rectifier`, sigma_a(u) = max(u, 0) + a min(u, 0), with one slope or one per channel
  (a = 0 ReLU, 0 < a < 1 leaky ReLU, learned per channel PReLU, a = -1 absolute value);
- max units: :class:`MaxPool2d`, :class:`Maxout`;
- :class:`Residual`: x + F(x), or S(x) + F(x) with an affine shortcut S.

>>> Linear([[1, 2], [3, 4], [5, 6]], [0, 0, 1]).out_shape((2,))
(3,)
>>> Conv2d([[[[1]]]], None, stride=1, padding=0).out_shape((1, 4, 4))
(1, 4, 4)
>>> MaxPool2d(2).out_shape((3, 4, 4))
(3, 2, 2)
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any, Sequence

from theory.errors import KinkError, ShapeError, TrainingModeError, UnsupportedLayerError

__all__ = [
    "Linear", "Conv2d", "AvgPool2d", "MaxPool2d", "Flatten", "BatchNorm", "Rectifier", "Maxout",
    "Residual", "Layer", "ShapeError", "UnsupportedLayerError", "TrainingModeError", "KinkError", "infer_shapes",
    "SUPPORTED", "as_pair",
]


def as_pair(v) -> tuple[int, int]:
    """``v`` as a pair of ints: an int ``n`` gives ``(n, n)``, a pair is kept (a kernel size, stride or padding)."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ShapeError(f"expected an int or a pair of ints, got {v!r}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _conv_out(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


def _shape_of(nested: Any) -> tuple[int, ...]:
    """The shape of a nested list or an array-like."""
    shp = getattr(nested, "shape", None)
    if shp is not None:
        return tuple(int(s) for s in shp)
    out = []
    while isinstance(nested, (list, tuple)):
        out.append(len(nested))
        nested = nested[0] if nested else None
    return tuple(out)


def _who(layer) -> str:
    """How shape errors name a layer: its name and its kind, e.g. "layer '0' (Linear)"."""
    return f"layer {layer.name!r} ({type(layer).__name__})"


def _need_image(layer, in_shape: tuple) -> tuple[int, int, int]:
    if len(in_shape) != 3:
        raise ShapeError(f"{_who(layer)} expects an input of shape (C, H, W), got shape {tuple(in_shape)}")
    return in_shape


@dataclass(frozen=True, eq=False)
class Linear:
    """y = W x + b, with W of shape (out, in) as in ``torch.nn.Linear``."""

    weight: Any
    bias: Any = None
    name: str = "linear"

    def out_shape(self, in_shape):
        out, n_in = _shape_of(self.weight)
        if len(in_shape) != 1 or in_shape[0] != n_in:
            raise ShapeError(f"{_who(self)}: expected an input of shape ({n_in},), got shape {tuple(in_shape)}")
        return (out,)


@dataclass(frozen=True, eq=False)
class Conv2d:
    """2-D convolution (cross-correlation, as torch computes it); groups = 1, dilation = 1."""

    weight: Any  # (C_out, C_in, kH, kW)
    bias: Any = None
    stride: Any = 1
    padding: Any = 0
    name: str = "conv2d"

    def out_shape(self, in_shape):
        c, h, w = _need_image(self, in_shape)
        co, ci, kh, kw = _shape_of(self.weight)
        if ci != c:
            raise ShapeError(f"{_who(self)}: expected {ci} input channels, got shape {tuple(in_shape)}")
        (sh, sw), (ph, pw) = as_pair(self.stride), as_pair(self.padding)
        oh, ow = _conv_out(h, kh, sh, ph), _conv_out(w, kw, sw, pw)
        if oh < 1 or ow < 1:
            raise ShapeError(f"{_who(self)}: kernel {kh}x{kw} does not fit input shape {tuple(in_shape)}")
        return (co, oh, ow)


@dataclass(frozen=True, eq=False)
class AvgPool2d:
    """Average pooling; the divisor is the full kernel size (torch's ``count_include_pad=True``)."""

    kernel: Any
    stride: Any = None
    padding: Any = 0
    name: str = "avgpool2d"

    def geometry(self):
        k = as_pair(self.kernel)
        return k, as_pair(self.stride if self.stride is not None else k), as_pair(self.padding)

    def out_shape(self, in_shape):
        c, h, w = _need_image(self, in_shape)
        (kh, kw), (sh, sw), (ph, pw) = self.geometry()
        return (c, _conv_out(h, kh, sh, ph), _conv_out(w, kw, sw, pw))


@dataclass(frozen=True, eq=False)
class MaxPool2d(AvgPool2d):
    """Max pooling: each output selects the argmax of its window (padding never wins)."""

    name: str = "maxpool2d"


@dataclass(frozen=True, eq=False)
class Flatten:
    """Reshape to a vector (C, H, W) -> (C*H*W,), in torch's row-major order."""

    name: str = "flatten"

    def out_shape(self, in_shape):
        return (prod(in_shape),)


@dataclass(frozen=True, eq=False)
class BatchNorm:
    """Eval-mode batch normalisation folded to y = scale_c * x + shift_c per channel.

    With running mean mu, variance v, weight g, bias beta and eps: scale = g / sqrt(v + eps),
    shift = beta - mu * scale. The square root is irrational in general; a description converted from
    torch uses the float values of scale and shift (read exactly), see :mod:`theory.torch_bridge`.

    ``shift_terms`` (optional, per channel) is |beta| + |mu * scale|, the size of the terms whose
    difference is the shift: a float pass that normalises from the running statistics computes the
    shift with an error relative to it, not to |shift| (they cancel when beta ~ mu * scale). The
    rounding bounds of :mod:`theory.rounding` use it; ``None`` means |shift|.
    """

    scale: Any
    shift: Any
    name: str = "batchnorm"
    shift_terms: Any = None

    def out_shape(self, in_shape):
        (n,) = _shape_of(self.scale)
        if not in_shape or in_shape[0] != n:
            raise ShapeError(f"{_who(self)}: expected {n} channels first, got shape {tuple(in_shape)}")
        return tuple(in_shape)


@dataclass(frozen=True, eq=False)
class Rectifier:
    """sigma_a(u) = max(u, 0) + a min(u, 0), elementwise; ``slope`` is one a, or one a per channel."""

    slope: Any = 0
    name: str = "relu"

    def per_channel(self) -> bool:
        return isinstance(self.slope, (list, tuple)) or len(_shape_of(self.slope)) > 0

    def out_shape(self, in_shape):
        if self.per_channel():
            (n,) = _shape_of(self.slope)
            if n != 1 and (not in_shape or in_shape[0] != n):
                raise ShapeError(f"{_who(self)}: {n} per-channel slopes for input shape {tuple(in_shape)}")
        return tuple(in_shape)


@dataclass(frozen=True, eq=False)
class Maxout:
    """Maxout over a vector of ``features * pieces`` units: output j is max_k u[j * pieces + k]."""

    pieces: int
    name: str = "maxout"

    def out_shape(self, in_shape):
        if len(in_shape) != 1 or in_shape[0] % self.pieces:
            raise ShapeError(f"{_who(self)}: expected a vector whose length is a multiple of "
                             f"{self.pieces}, got shape {tuple(in_shape)}")
        return (in_shape[0] // self.pieces,)


@dataclass(frozen=True, eq=False)
class Residual:
    """y = shortcut(x) + body(x); the shortcut is the identity when ``shortcut`` is empty.

    ``body`` and ``shortcut`` are sequences of layers; the shortcut must be affine.
    """

    body: tuple = ()
    shortcut: tuple = ()
    name: str = "residual"

    def out_shape(self, in_shape):
        out = infer_shapes(self.body, in_shape)[-1]
        short = infer_shapes(self.shortcut, in_shape)[-1]
        if tuple(out) != tuple(short):
            raise ShapeError(f"{_who(self)}: body gives shape {tuple(out)} but shortcut gives {tuple(short)}")
        return tuple(out)


#: Any of the layer descriptions the exact network is built from.
Layer = Linear | Conv2d | AvgPool2d | MaxPool2d | Flatten | BatchNorm | Rectifier | Maxout | Residual

#: What the theory supports, for error messages and documentation.
SUPPORTED = ("Linear", "Conv2d (groups=1, dilation=1)", "AvgPool2d", "MaxPool2d", "Flatten",
             "BatchNorm1d/2d in eval mode", "ReLU", "LeakyReLU", "PReLU", "absolute value",
             "Maxout", "residual additions")

_AFFINE = (Linear, Conv2d, AvgPool2d, Flatten, BatchNorm)


def infer_shapes(layers: Sequence, in_shape) -> list[tuple[int, ...]]:
    """The shapes before the first layer and after every layer.

    >>> infer_shapes([Flatten(), Linear([[1] * 4])], (1, 2, 2))
    [(1, 2, 2), (4,), (1,)]
    """
    shapes = [tuple(int(s) for s in in_shape)]
    for layer in layers:
        if not hasattr(layer, "out_shape"):
            raise UnsupportedLayerError(
                f"{type(layer).__name__} is not a layer description; supported: {', '.join(SUPPORTED)}")
        if isinstance(layer, Residual) and any(not isinstance(s, _AFFINE) for s in layer.shortcut):
            raise UnsupportedLayerError(f"{layer.name}: the shortcut must be affine")
        shapes.append(tuple(layer.out_shape(shapes[-1])))
    return shapes
