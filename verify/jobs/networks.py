"""Random piecewise-linear networks as data: :class:`NetSpec`, :func:`draw_spec`, :func:`draw_inputs`.

A :class:`NetSpec` is a small frozen description (architecture, input shape, widths, K, activation
and slope, bias, seed) with a readable id; :meth:`NetSpec.build` makes the torch model in eval mode,
every weight drawn from ``torch.Generator().manual_seed(seed)`` (never the global RNG), in float64
and then cast, so the float32 model is the float64 one rounded.

Architectures (``widths`` are hidden widths or channels; K the number of logits):

- ``mlp``: Linear -> act, per hidden width, then Linear(K). Id ``mlp-20x30x7-leaky0.1`` (D x widths x K).
- ``cnn``: per stage a 3x3 conv (padding 1) -> act -> pool, then Flatten -> Linear(K). The pooling of
  stage i cycles with (seed + i) % 3 through ``m2`` (max 2x2), ``a2`` (avg 2x2), ``m3`` (max 3x3,
  stride 2, padding 1: overlapping and padded windows); none once the image is 1 pixel. Id
  ``cnn-3x8x8-c4m2x8a2-relu-nobias``.
- ``resnet``: stem conv -> BatchNorm -> act; per stage a residual block (conv -> BN -> act -> conv ->
  BN, plus the identity or a strided 1x1 conv -> BN shortcut) -> act; global average pool ->
  Linear(K). BatchNorm in eval mode with random running statistics and affine parameters. Id
  ``resnet-3x8x8-w4x8-relu``.
- ``maxout``: hidden layers Linear -> MaxoutUnit(pieces) with pieces = 2 + seed % 3, except the
  last of two or more, which uses the activation. Id ``maxout-10x8x6x3-p2-abs``.

Activations: ``relu``, ``leaky`` (slope a drawn from [0.01, 0.99]), ``prelu`` (random per-channel slopes in
(0.05, 0.95)), ``abs`` (a = -1).

>>> spec = NetSpec("mlp", (20,), (30,), 7, "leaky", 0.1, True, 0)
>>> spec.id
'mlp-20x30x7-leaky0.1'
>>> NetSpec.from_dict(spec.to_dict()) == spec
True
>>> import torch
>>> m1, m2 = spec.build(), spec.build()
>>> all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))
True
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from verify.modules import Abs, MaxoutUnit

__all__ = ["NetSpec", "draw_spec", "draw_inputs", "ResidualBlock", "ARCHS", "ACTIVATIONS"]

#: The architectures of the random networks.
ARCHS = ("mlp", "cnn", "resnet", "maxout")
#: The activations of the random networks: ReLU, leaky ReLU, PReLU and absolute value.
ACTIVATIONS = ("relu", "leaky", "prelu", "abs")
_POOLS = ("m2", "a2", "m3")


@dataclass(frozen=True)
class NetSpec:
    """A random network, described by data (see the module docstring)."""

    arch: str
    in_shape: tuple
    widths: tuple
    K: int
    activation: str
    slope: float | None
    bias: bool
    seed: int

    def __post_init__(self):
        object.__setattr__(self, "in_shape", tuple(int(s) for s in self.in_shape))
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if self.arch not in ARCHS:
            raise ValueError(f"NetSpec.arch must be one of {ARCHS}, got {self.arch!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"NetSpec.activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.activation == "leaky" and not (self.slope is not None and 0 < self.slope < 1):
            raise ValueError(f"a leaky ReLU needs a slope in (0, 1), got {self.slope!r}")
        want = 1 if self.arch in ("mlp", "maxout") else 3
        if len(self.in_shape) != want:
            raise ValueError(f"{self.arch}: expected in_shape of {want} dims, got {self.in_shape}")
        if self.arch != "mlp" and not self.widths:
            raise ValueError(f"{self.arch}: expected at least one width, got {self.widths}")
        if self.K < 1 or any(w < 1 for w in self.widths):
            raise ValueError(f"widths and K must be positive, got widths={self.widths}, K={self.K}")

    # ---- description --------------------------------------------------------------------------
    @property
    def pieces(self) -> int:
        """Maxout pieces (maxout nets only)."""
        return 2 + self.seed % 3

    def pools(self) -> list:
        """CNN: the pooling of each stage (``m2``, ``a2``, ``m3``, or ``''``)."""
        out, h, w = [], self.in_shape[1], self.in_shape[2]
        for i in range(len(self.widths)):
            kind = _POOLS[(self.seed + i) % 3] if min(h, w) >= 2 else ""
            out.append(kind)
            if kind:
                h, w = (h // 2, w // 2) if kind != "m3" else ((h - 1) // 2 + 1, (w - 1) // 2 + 1)
        return out

    @property
    def act_id(self) -> str:
        return f"leaky{self.slope:g}" if self.activation == "leaky" else self.activation

    @property
    def id(self) -> str:
        """A readable id, e.g. ``mlp-20x30x7-leaky0.1`` or ``cnn-3x8x8-c4m2x8a2-relu-nobias``."""
        shape = "x".join(map(str, self.in_shape))
        if self.arch == "mlp":
            body = "x".join(map(str, (*self.in_shape, *self.widths, self.K)))
        elif self.arch == "maxout":
            body = "x".join(map(str, (*self.in_shape, *self.widths, self.K))) + f"-p{self.pieces}"
        elif self.arch == "cnn":
            body = f"{shape}-c" + "x".join(f"{w}{p}" for w, p in zip(self.widths, self.pools())) + f"-k{self.K}"
        else:
            body = f"{shape}-w" + "x".join(map(str, self.widths)) + f"-k{self.K}"
        return f"{self.arch}-{body}-{self.act_id}" + ("" if self.bias else "-nobias")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["in_shape"], d["widths"] = list(self.in_shape), list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "NetSpec":
        keys = ("arch", "in_shape", "widths", "K", "activation", "slope", "bias", "seed")
        return cls(**{k: d[k] for k in keys})

    # ---- the model ----------------------------------------------------------------------------
    def build(self, dtype: torch.dtype = torch.float64, device="cpu") -> nn.Module:
        """The torch model in eval mode; weights deterministic from ``seed`` (float64, then cast)."""
        gen = torch.Generator().manual_seed(int(self.seed))
        model = _BUILDERS[self.arch](self)
        with torch.no_grad():
            for mod in model.modules():
                _init(mod, gen, self.bias)
        return model.to(device=device, dtype=dtype).eval()


def _act(spec: NetSpec, channels: int) -> nn.Module:
    if spec.activation == "relu":
        return nn.ReLU()
    if spec.activation == "leaky":
        return nn.LeakyReLU(spec.slope)
    if spec.activation == "abs":
        return Abs()
    return nn.PReLU(channels, dtype=torch.float64)


def _lin(i, o, bias):
    return nn.utils.skip_init(nn.Linear, i, o, bias=bias, dtype=torch.float64)


def _conv(i, o, k, stride=1, padding=0, bias=True):
    return nn.utils.skip_init(nn.Conv2d, i, o, k, stride=stride, padding=padding, bias=bias, dtype=torch.float64)


def _init(mod: nn.Module, gen: torch.Generator, bias: bool) -> None:
    """Seeded initialisation: He-normal weights, N(0, 0.1^2) biases, random eval BatchNorm, PReLU
    slopes uniform in (0.05, 0.95)."""
    rnd = lambda *s: torch.randn(*s, generator=gen, dtype=torch.float64)
    uni = lambda lo, hi, *s: lo + (hi - lo) * torch.rand(*s, generator=gen, dtype=torch.float64)
    if isinstance(mod, (nn.Linear, nn.Conv2d)):
        fan_in = mod.weight[0].numel()
        mod.weight.copy_(rnd(*mod.weight.shape) * math.sqrt(2.0 / fan_in))
        if mod.bias is not None:
            mod.bias.copy_(0.1 * rnd(*mod.bias.shape))
    elif isinstance(mod, nn.BatchNorm2d):
        c = mod.num_features
        mod.running_mean.copy_(0.3 * rnd(c))
        mod.running_var.copy_(uni(0.5, 2.0, c))
        mod.weight.copy_(uni(0.5, 1.5, c))
        mod.bias.copy_(0.1 * rnd(c))
    elif isinstance(mod, nn.PReLU):
        mod.weight.copy_(uni(0.05, 0.95, mod.weight.numel()))


def _build_mlp(spec: NetSpec) -> nn.Module:
    dims, layers = (spec.in_shape[0], *spec.widths), []
    for i, o in zip(dims[:-1], dims[1:]):
        layers += [_lin(i, o, spec.bias), _act(spec, o)]
    return nn.Sequential(*layers, _lin(dims[-1], spec.K, spec.bias))


def _build_maxout(spec: NetSpec) -> nn.Module:
    dims, layers, p = (spec.in_shape[0], *spec.widths), [], spec.pieces
    for j, (i, o) in enumerate(zip(dims[:-1], dims[1:])):
        if j == len(spec.widths) - 1 and j > 0:
            layers += [_lin(i, o, spec.bias), _act(spec, o)]
        else:
            layers += [_lin(i, o * p, spec.bias), MaxoutUnit(p)]
    return nn.Sequential(*layers, _lin(dims[-1], spec.K, spec.bias))


def _build_cnn(spec: NetSpec) -> nn.Module:
    c, h, w = spec.in_shape
    layers = []
    for ch, pool in zip(spec.widths, spec.pools()):
        layers += [_conv(c, ch, 3, padding=1, bias=spec.bias), _act(spec, ch)]
        if pool == "m2":
            layers.append(nn.MaxPool2d(2))
        elif pool == "a2":
            layers.append(nn.AvgPool2d(2))
        elif pool == "m3":
            layers.append(nn.MaxPool2d(3, stride=2, padding=1))
        if pool:
            h, w = (h // 2, w // 2) if pool != "m3" else ((h - 1) // 2 + 1, (w - 1) // 2 + 1)
        c = ch
    return nn.Sequential(*layers, nn.Flatten(), _lin(c * h * w, spec.K, spec.bias))


class ResidualBlock(nn.Module):
    """y = body(x) + shortcut(x) (shortcut: identity, or a strided 1x1 conv with BatchNorm)."""

    def __init__(self, body: nn.Module, shortcut: nn.Module | None):
        super().__init__()
        self.body, self.shortcut = body, shortcut

    def forward(self, x):
        return self.body(x) + (x if self.shortcut is None else self.shortcut(x))


def _bn(c):
    return nn.BatchNorm2d(c, dtype=torch.float64)


def _build_resnet(spec: NetSpec) -> nn.Module:
    c, h, w = spec.in_shape
    w0 = spec.widths[0]
    layers = [_conv(c, w0, 3, padding=1, bias=spec.bias), _bn(w0), _act(spec, w0)]
    c = w0
    for i, ch in enumerate(spec.widths):
        stride = 2 if i > 0 and min(h, w) >= 4 else 1
        body = nn.Sequential(_conv(c, ch, 3, stride, 1, spec.bias), _bn(ch), _act(spec, ch),
                             _conv(ch, ch, 3, 1, 1, spec.bias), _bn(ch))
        short = None if stride == 1 and c == ch else nn.Sequential(_conv(c, ch, 1, stride, 0, spec.bias), _bn(ch))
        layers += [ResidualBlock(body, short), _act(spec, ch)]
        if stride == 2:
            h, w = (h - 1) // 2 + 1, (w - 1) // 2 + 1
        c = ch
    return nn.Sequential(*layers, nn.AvgPool2d((h, w)), nn.Flatten(), _lin(c, spec.K, spec.bias))


_BUILDERS = {"mlp": _build_mlp, "cnn": _build_cnn, "resnet": _build_resnet, "maxout": _build_maxout}

#: Sizes per draw: (input dims, depth range, width range, K range, image sides, channels).
_SIZES = {
    "quick": dict(D=(2, 12), depth=(1, 3), width=(2, 16), K=(2, 10), side=(4, 8), chans=(1, 3), conv=(2, 6),
                  stages=(1, 2), mdepth=(1, 2)),
    "full": dict(D=(2, 3072), depth=(1, 6), width=(2, 1024), K=(2, 100), side=(4, 32), chans=(1, 3), conv=(2, 32),
                 stages=(1, 3), mdepth=(1, 4)),
}


def _logint(rng: random.Random, lo: int, hi: int, top: float = 0.0) -> int:
    """An integer in [lo, hi], log-uniform (small and large sizes both drawn); ``hi`` itself with
    probability ``top`` (so the largest sizes are seen)."""
    if rng.random() < top:
        return hi
    return min(hi, int(round(math.exp(rng.uniform(math.log(lo), math.log(hi))))))


def draw_spec(rng: random.Random, *, size: str = "quick", arch: str | None = None) -> NetSpec:
    """A random :class:`NetSpec`. ``size='quick'``: small networks (a sweep of a few dozen runs in
    minutes on a laptop CPU); ``'full'``: MLPs of depth 1-6 and widths 2-1024, CNNs and residual nets
    on inputs up to 3x32x32, K from 2 to 100. Every activation, bias on and off."""
    if size not in _SIZES:
        raise ValueError(f"size must be one of {tuple(_SIZES)}, got {size!r}")
    s = _SIZES[size]
    top = 0.1 if size == "full" else 0.0
    arch = arch or rng.choice(ARCHS)
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS} or None, got {arch!r}")
    act = rng.choice(ACTIVATIONS)
    slope = round(rng.uniform(0.01, 0.99), 3) if act == "leaky" else None   # a in (0, 1)
    K = 2 if rng.random() < 0.25 else _logint(rng, *s["K"], top=top)
    bias = rng.random() < 0.75
    seed = rng.randrange(2 ** 31)
    if arch in ("mlp", "maxout"):
        in_shape = (_logint(rng, *s["D"], top=top),)
        depth = rng.randint(*(s["depth"] if arch == "mlp" else s["mdepth"]))
        widths = tuple(_logint(rng, *s["width"], top=top if arch == "mlp" else 0.0) for _ in range(depth))
        if arch == "maxout" and size == "full":
            widths = tuple(min(w, 256) for w in widths)
    else:
        side = _logint(rng, *s["side"], top=2 * top)
        in_shape = (rng.randint(*s["chans"]), side, side if rng.random() < 0.7 else max(2, side - 1))
        widths = tuple(_logint(rng, *s["conv"], top=top) for _ in range(rng.randint(*s["stages"])))
    return NetSpec(arch, in_shape, widths, K, act, slope, bias, seed)


def draw_inputs(model: nn.Module, spec: NetSpec, n: int, *, generator: torch.Generator,
                near_kink_fraction: float = 0.25):
    """``n`` inputs (n, *in_shape) in the model's dtype and device, and labels (n,) in [0, K).

    Most inputs are standard normal. A fraction ``near_kink_fraction`` is placed on kinks, so a sweep
    sees them: half of those on a first-layer kink up to rounding (one coordinate solved, in float64,
    so that a pre-activation of the first nonlinear layer is 0 up to rounding: ``rounding_doubt`` is
    True; decided again in exact arithmetic, such a point is seldom exactly on the kink, and is then
    recovered or found rounded to the wrong side, see :mod:`verify.numerics.kinks`), the other half near a deeper
    one (moved along the unit's input gradient to make its pre-activation about 0). Labels are uniform, except a third equal to the argmax of the logits.
    """
    if n < 0 or not 0 <= near_kink_fraction <= 1:
        raise ValueError(f"draw_inputs: expected n >= 0 and near_kink_fraction in [0, 1], got n={n}, "
                         f"near_kink_fraction={near_kink_fraction}")
    p = next(iter(model.parameters()), torch.empty(0, dtype=torch.float64))
    dtype, device = p.dtype, p.device
    x = torch.randn((n,) + spec.in_shape, generator=generator, dtype=torch.float64)
    n_kink = int(round(near_kink_fraction * n))
    x = x.to(dtype=dtype, device=device)
    if n_kink:
        x[:n_kink] = _place_on_kinks(model, spec, x[:n_kink], generator)
    y = torch.randint(0, spec.K, (n,), generator=generator)
    with torch.no_grad():
        pred = model(x).argmax(dim=1).cpu()
    take = torch.rand(n, generator=generator) < 1 / 3
    y = torch.where(take, pred, y)
    return x, y.to(device)


def _unit(eng, rec, k, generator):
    """A random unit of nonlinear node k: (R (1, 1, n_src) selecting it, its value); for a max unit
    the gap between its two largest inputs. None when the max has a single input."""
    node, s = eng.nodes[k], eng.nodes[k].src[0]
    u = rec.vals[s][0]
    R = torch.zeros(1, 1, u.numel(), dtype=torch.float64, device=u.device)
    if node.kind == "rect":
        j = int(torch.randint(0, u.numel(), (1,), generator=generator))
        R[0, 0, j] = 1
        return R, u[j]
    grp = int(torch.randint(0, node.size, (1,), generator=generator))
    G, valid = node.p["G"][grp], node.p["valid"][grp]
    if int(valid.sum()) < 2:
        return None
    cand = u[G].masked_fill(~valid, -math.inf)
    top = cand.topk(2).indices
    R[0, 0, G[top[0]]] += 1
    R[0, 0, G[top[1]]] -= 1
    return R, cand[top[0]] - cand[top[1]]


def _place_on_kinks(model, spec, x, generator) -> torch.Tensor:
    """Move each row of x onto (even rows: a unit of the first nonlinear layer, solved for one
    coordinate in float64, then the nearest float of the model dtype) or near (odd rows: a deeper
    unit, one Newton step along its input gradient) a kink."""
    from verify.numerics.compiled import compile_model

    dtype = x.dtype
    e64 = compile_model(model, spec.in_shape, torch.float64, x.device)
    em = compile_model(model, spec.in_shape, dtype, x.device)
    if not e64.nonlinear:
        return x
    out = x.clone()
    for i in range(x.shape[0]):
        xi = out[i:i + 1].to(torch.float64)
        rec = e64.forward(xi)
        deep = i % 2 == 1 and len(e64.nonlinear) > 1
        k = e64.nonlinear[int(torch.randint(1, len(e64.nonlinear), (1,), generator=generator))] if deep \
            else e64.nonlinear[0]
        got = _unit(e64, rec, k, generator)
        if got is None:
            continue
        R, val = got
        s = e64.nodes[k].src[0]
        a = e64.backward(rec, R, start=s)[0, 0]            # the unit's (or gap's) input gradient
        if not bool((a != 0).any()):
            continue
        flat = xi.reshape(-1).clone()
        if deep:
            flat -= a * (val / (a @ a))                     # Newton step onto the kink's hyperplane
            out[i] = flat.reshape(x.shape[1:]).to(dtype)
            continue
        j = int(a.abs().argmax())                           # solve one coordinate: u(x) = 0
        flat[j] -= val / a[j]
        base = flat.to(dtype)
        c, up, dn = [base[j]], base[j], base[j]
        for _ in range(2):                                  # and the neighbouring floats of x_j
            up = torch.nextafter(up, up.new_tensor(math.inf))
            dn = torch.nextafter(dn, dn.new_tensor(-math.inf))
            c += [up, dn]
        cand = base.repeat(5, 1)
        cand[:, j] = torch.stack(c)
        rm = em.forward(cand.reshape((5,) + tuple(x.shape[1:])))
        score = (rm.vals[s].to(torch.float64) * R[0]).sum(1).abs()   # |u| in the model dtype
        out[i] = cand[int(score.argmin())].reshape(x.shape[1:])
    return out
