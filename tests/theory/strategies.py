"""Hypothesis strategies for the exact engine: rational networks of every supported layer kind, rational
points and rational directions.

The strategies encode the theory's assumptions. A drawn :class:`NetCase` is a small piecewise-linear
network (input size D <= 12, K = 2..4 logits) with rational parameters, built from
:mod:`theory.layers` descriptions:

- ``mlp``: Linear, optional BatchNorm (rational scale and shift), a rectifier, ..., Linear;
- ``conv``: Conv2d (stride, padding), optional BatchNorm, a rectifier, optional AvgPool2d or MaxPool2d,
  Flatten, Linear;
- ``maxout``: Linear, Maxout, Linear;
- ``residual``: Linear, rectifier, Residual (identity or affine shortcut), rectifier, Linear.

The rectifier's slope is a = 0 (ReLU), a = -1 (absolute value), a leaky a in (0, 1), or one slope per
channel (PReLU). Points have denominators that are primes of 7..29, which makes an exact kink (a zero
pre-activation, a tied max) rare; tests reject the remaining kinks with ``assume``.

Hypothesis manages only ``random`` and ``numpy.random``; anything that needs torch randomness draws an
integer seed here and builds a ``torch.Generator`` from it (see ``tests/theory/test_convert.py``).

>>> case = NetCase("mlp", (Linear([[1, 0]]),), (2,), "relu")
>>> case.id, case.K, case.D
('mlp-2x1-relu', 1, 2)
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction
from math import prod

from hypothesis import assume, event
from hypothesis import strategies as st

from theory import (
    AvgPool2d,
    BatchNorm,
    Conv2d,
    Flatten,
    KinkError,
    Linear,
    Maxout,
    MaxPool2d,
    Network,
    Rectifier,
    Residual,
    linearize,
)
from theory.layers import infer_shapes

__all__ = ["NetCase", "rationals", "weights", "slopes", "slope_label", "networks", "points", "directions",
           "interior_region", "cases", "pinned", "REPORT", "ARCHS", "PRIME_DENOMINATORS"]

#: Lines that tests add for the end-of-run summary (printed by ``tests/conftest.py``).
REPORT: dict[str, list] = defaultdict(list)

ARCHS = ("mlp", "conv", "maxout", "residual")
PRIME_DENOMINATORS = (7, 11, 13, 17, 19, 23, 29)


@dataclass(frozen=True, eq=False)
class NetCase:
    """One drawn network: its architecture, layer descriptions, input shape and a readable id."""

    arch: str
    layers: tuple
    in_shape: tuple
    slope: str

    def network(self) -> Network:
        return Network(self.layers, self.in_shape, name=self.id)

    @property
    def D(self) -> int:
        return prod(self.in_shape)

    @property
    def K(self) -> int:
        return infer_shapes(self.layers, self.in_shape)[-1][0]

    @property
    def sequential(self) -> bool:
        return not any(isinstance(layer, Residual) for layer in self.layers)

    @property
    def id(self) -> str:
        shapes = infer_shapes(self.layers, self.in_shape)
        sizes = [prod(s) for s in shapes]
        sizes = "x".join(str(n) for i, n in enumerate(sizes) if i == 0 or n != sizes[i - 1])
        dims = "x".join(str(s) for s in self.in_shape) if len(self.in_shape) > 1 else None
        return "-".join(p for p in (self.arch, dims, sizes, self.slope) if p)

    def __repr__(self):  # what Hypothesis prints for a falsifying example
        return f"NetCase({self.id}: {[type(layer).__name__ for layer in self.layers]})"


# ------------------------------------------------------------------------------------------ numbers
def rationals(max_num: int = 4, max_den: int = 4, nonzero: bool = False):
    """Small rationals n/d with |n| <= max_num, 1 <= d <= max_den."""
    q = st.builds(Fraction, st.integers(-max_num, max_num), st.integers(1, max_den))
    return q.filter(lambda v: v != 0) if nonzero else q


def weights(rows: int, cols: int, **kw):
    """A rows x cols nested list of small rationals."""
    return st.lists(st.lists(rationals(**kw), min_size=cols, max_size=cols), min_size=rows, max_size=rows)


def _vector(n: int, **kw):
    return st.lists(rationals(**kw), min_size=n, max_size=n)


@st.composite
def slopes(draw, channels: int | None = None):
    """(slope, label): a = 0, a = -1, a leaky a in (0, 1), or (given ``channels``) one slope per channel."""
    kinds = ["relu", "abs", "leaky"] + (["prelu"] if channels else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "relu":
        return 0, "relu"
    if kind == "abs":
        return -1, "abs"
    if kind == "leaky":
        d = draw(st.integers(2, 10))
        a = Fraction(draw(st.integers(1, d - 1)), d)
        return a, f"leaky{a}"
    per = draw(st.lists(st.one_of(st.sampled_from([Fraction(0), Fraction(-1), Fraction(1, 4)]),
                                  st.builds(Fraction, st.integers(-4, 3), st.just(4))),
                        min_size=channels, max_size=channels))
    return per, "prelu" + ",".join(str(a) for a in per)


def slope_label(slope) -> str:
    if isinstance(slope, list):
        return "prelu" + ",".join(str(a) for a in slope)
    return {0: "relu", -1: "abs"}.get(slope, f"leaky{slope}")


# ------------------------------------------------------------------------------------------ networks
def _linear(draw, n_out, n_in, bias, name="linear"):
    return Linear(draw(weights(n_out, n_in)), draw(_vector(n_out)) if bias else None, name=name)


def _batchnorm(draw, channels, bias):
    scale = draw(st.lists(rationals(nonzero=True), min_size=channels, max_size=channels))
    shift = draw(_vector(channels)) if bias else [0] * channels
    return BatchNorm(scale, shift)


@st.composite
def _mlp(draw, K, bias, slope):
    D = draw(st.integers(2, 8))
    widths = draw(st.lists(st.integers(2, 6), min_size=1, max_size=2))
    layers, n = [], D
    for w in widths:
        layers.append(_linear(draw, w, n, bias))
        if draw(st.booleans()):
            layers.append(_batchnorm(draw, w, bias))
        a, label = slope if slope is not None else draw(slopes(w))
        layers.append(Rectifier(a))
        n = w
    layers.append(_linear(draw, K, n, bias))
    return NetCase("mlp", tuple(layers), (D,), label)


@st.composite
def _conv(draw, K, bias, slope):
    C = draw(st.integers(1, 2))
    H = draw(st.integers(2, 4 if C == 1 else 3))
    W = draw(st.integers(2, min(4, 12 // (C * H))))
    Co = draw(st.integers(1, 3))
    p = draw(st.integers(0, 1))
    kh, kw = draw(st.integers(1, min(3, H + 2 * p))), draw(st.integers(1, min(3, W + 2 * p)))
    stride = draw(st.sampled_from([1, 2, (1, 2), (2, 1)]))
    kernel = [draw(st.lists(weights(kh, kw), min_size=C, max_size=C)) for _ in range(Co)]
    conv = Conv2d(kernel, draw(_vector(Co)) if bias else None, stride=stride, padding=p)
    layers = [conv]
    shape = conv.out_shape((C, H, W))
    if draw(st.booleans()):
        layers.append(_batchnorm(draw, Co, bias))
    a, label = slope if slope is not None else draw(slopes(Co))
    layers.append(Rectifier(a))
    pool = draw(st.sampled_from([None, AvgPool2d, MaxPool2d]))
    if pool is not None:
        _, h, w = shape
        k = draw(st.integers(1, min(2, h, w)))
        ps = draw(st.integers(1, 2))
        pp = draw(st.integers(0, k // 2))
        layers.append(pool(k, ps, pp))
        shape = layers[-1].out_shape(shape)
    layers.append(Flatten())
    layers.append(_linear(draw, K, prod(shape), bias))
    return NetCase("conv", tuple(layers), (C, H, W), label)


@st.composite
def _maxout(draw, K, bias, slope):
    D = draw(st.integers(2, 8))
    F = draw(st.integers(1, 4))
    pieces = draw(st.integers(2, 3))
    layers = [_linear(draw, F * pieces, D, bias), Maxout(pieces)]
    label = "maxout" + str(pieces)
    if slope is not None or draw(st.booleans()):
        a, lab = slope if slope is not None else draw(slopes(F))
        layers.append(Rectifier(a))
        label += "-" + lab
    layers.append(_linear(draw, K, F, bias))
    return NetCase("maxout", tuple(layers), (D,), label)


@st.composite
def _residual(draw, K, bias, slope):
    D = draw(st.integers(2, 8))
    h = draw(st.integers(2, 5))
    a, label = slope if slope is not None else draw(slopes(h))
    body = (_linear(draw, h, h, bias, "fc1"), Rectifier(a), _linear(draw, h, h, bias, "fc2"))
    affine = draw(st.booleans())
    shortcut = (_linear(draw, h, h, bias, "proj"),) if affine else ()
    layers = (_linear(draw, h, D, bias), Rectifier(a), Residual(body, shortcut), Rectifier(a),
              _linear(draw, K, h, bias))
    return NetCase("residual", layers, (D,), label + ("-affine" if affine else "-identity"))


_BUILDERS = {"mlp": _mlp, "conv": _conv, "maxout": _maxout, "residual": _residual}


@st.composite
def networks(draw, archs=ARCHS, K=None, bias: bool = True, slope=None):
    """A :class:`NetCase` of one of ``archs``, with K logits (drawn from 2..4 unless given).

    ``bias=False`` gives a bias-free network (no Linear or Conv2d bias, zero BatchNorm shifts);
    ``slope`` pins the rectifier slope (e.g. 0 or -1), otherwise it is drawn.
    """
    arch = draw(st.sampled_from(archs))
    k = K if K is not None else draw(st.integers(2, 4))
    pinned = None if slope is None else (slope, slope_label(slope))
    case = draw(_BUILDERS[arch](k, bias, pinned))
    event(f"arch={arch}")
    event("layers=" + ",".join(sorted({type(layer).__name__ for layer in _walk(case.layers)})))
    return case


def _walk(layers):
    for layer in layers:
        yield layer
        if isinstance(layer, Residual):
            yield from _walk(layer.body)
            yield from _walk(layer.shortcut)


# ------------------------------------------------------------------------------------------ points
def points(n: int):
    """A rational point of R^n, each coordinate m/q with a prime q in 7..29 and |m| <= 60."""
    return st.lists(st.builds(Fraction, st.integers(-60, 60), st.sampled_from(PRIME_DENOMINATORS)),
                    min_size=n, max_size=n)


def directions(n: int):
    """A non-zero rational direction of R^n with small entries."""
    return st.lists(rationals(3, 3), min_size=n, max_size=n).map(lambda v: v if any(v) else [Fraction(1)] + v[1:])


def interior_region(network: Network, x):
    """linearize(network, x); rejects the draw (``assume``) when x lies on a kink."""
    try:
        return linearize(network, x)
    except KinkError:
        assume(False)


@st.composite
def cases(draw, **kw):
    """(case, x, z): a network (see :func:`networks`, same keywords), a rational point and a direction."""
    case = draw(networks(**kw))
    return case, draw(points(case.D)), draw(directions(case.D))


def pinned(layers, in_shape, slope_name, x, z, arch="mlp"):
    """A hand-built (case, x, z) for ``@example``."""
    return NetCase(arch, tuple(layers), tuple(in_shape), slope_name), [Fraction(v) for v in x], \
        [Fraction(v) for v in z]
