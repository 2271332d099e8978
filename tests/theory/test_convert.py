"""The torch converter (:func:`theory.from_torch`): structure, and agreement with torch within exact bounds.

A float network is itself exact: its weights are dyadic rationals. So the exact description of a
converted model is the *same* function that torch evaluates in float, and the only difference between
torch's forward pass (or its ``torch.func.jacrev`` Jacobian) and the exact values is rounding. The tests
compare that difference, as an exact rational, with the exact bounds of :mod:`theory.rounding`:

- forward: |f_exact - f_torch| <= forward_error_bound, entrywise, at every drawn point;
- Jacobian: |J_exact - J_torch| <= jacobian_error_bound, at points whose every pre-activation (and every
  max gap) is farther from its kink than the forward bound of the pre-activations. Points closer than that
  are rejected and counted, never silently passed.

The largest ratio error/bound is asserted < 1 and reported in the summary at the end of the run
(``tests/conftest.py``); the bounds are never widened here.
"""

from __future__ import annotations

from fractions import Fraction

import flint
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from theory import BatchNorm, Rectifier, from_torch, linearize
from theory.exact import rational
from theory.layers import KinkError
from theory.network import MaxNode, RectNode
from theory.rounding import forward_error_bound, jacobian_error_bound, preactivation_error_bounds, unit_roundoff
from theory.torch_bridge import Abs, MaxoutUnit, layers_from_torch

from .strategies import REPORT

DTYPES = {"f64": torch.float64, "f32": torch.float32}


# ------------------------------------------------------------------------------------------- models
class Block(nn.Module):
    """x + f(x), or proj(x) + f(x): a residual block that torch.fx traces."""

    def __init__(self, width, affine_shortcut=False):
        super().__init__()
        self.f = nn.Sequential(nn.Linear(width, width), nn.LeakyReLU(0.2), nn.Linear(width, width))
        self.proj = nn.Linear(width, width) if affine_shortcut else None

    def forward(self, x):
        if self.proj is not None:
            return self.proj(x) + self.f(x)
        return x + self.f(x)


class ResNetMLP(nn.Module):
    def __init__(self, d, width, k, affine_shortcut):
        super().__init__()
        self.inp = nn.Linear(d, width)
        self.block = Block(width, affine_shortcut)
        self.out = nn.Linear(width, k)

    def forward(self, x):
        h = F.relu(self.inp(x))
        h = F.relu(self.block(h))
        return self.out(h)


class Functional(nn.Module):
    """Functional calls: F.relu, torch.abs, F.leaky_relu, torch.flatten and x.view(x.size(0), -1)."""

    def __init__(self, k, use_view):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 2, stride=1, padding=1)
        self.fc1 = nn.Linear(2 * 4 * 4, 6)
        self.fc2 = nn.Linear(6, 6)
        self.fc3 = nn.Linear(6, k)
        self.use_view = use_view

    def forward(self, x):
        h = F.relu(self.conv(x))
        h = h.view(h.size(0), -1) if self.use_view else torch.flatten(h, 1)
        h = torch.abs(self.fc1(h))
        h = F.leaky_relu(self.fc2(h), negative_slope=0.05)
        return self.fc3(h)


def _model(arch: str, k: int) -> tuple[nn.Module, tuple]:
    if arch == "sequential":
        return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 6), nn.LeakyReLU(0.1), nn.Linear(6, k)), (5,)
    if arch == "nested":
        return nn.Sequential(nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.PReLU(6)),
                             nn.Sequential(nn.Dropout(0.5), nn.Sequential(nn.Linear(6, 5), Abs())),
                             nn.Linear(5, k)), (4,)
    if arch == "residual":
        return ResNetMLP(5, 6, k, affine_shortcut=False), (5,)
    if arch == "residual-affine":
        return ResNetMLP(5, 6, k, affine_shortcut=True), (5,)
    if arch in ("functional-flatten", "functional-view"):
        return Functional(k, use_view=arch.endswith("view")), (1, 3, 3)
    if arch == "conv":
        return nn.Sequential(nn.Conv2d(2, 3, 3, stride=1, padding=1), nn.BatchNorm2d(3), nn.PReLU(3),
                             nn.MaxPool2d(2, stride=1, padding=1), nn.Conv2d(3, 2, 2, stride=2),
                             nn.ReLU(), nn.AvgPool2d(2, stride=1), nn.Flatten(), nn.Linear(2, k)), (2, 4, 4)
    if arch == "maxout":
        return nn.Sequential(nn.Linear(6, 8), MaxoutUnit(2), nn.Linear(4, 6), MaxoutUnit(3), Abs(),
                             nn.Linear(2, k)), (6,)
    raise ValueError(arch)


ARCHS = ("sequential", "nested", "residual", "residual-affine", "functional-flatten", "functional-view",
         "conv", "maxout")


def build(arch: str, seed: int, dtype: torch.dtype, k: int = 3):
    """The model of ``arch`` with every parameter and BatchNorm statistic drawn from ``torch.Generator(seed)``,
    in eval mode, and an input drawn from the same generator."""
    model, in_shape = _model(arch, k)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if isinstance(dict(model.named_modules()).get(name.rsplit(".", 1)[0]), nn.PReLU):
                p.copy_(torch.rand(p.shape, generator=g, dtype=torch.float64) * 1.5 - 1)   # slopes in (-1, 1/2)
            else:
                fan_in = p.shape[1:].numel() if p.dim() > 1 else 1
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) / fan_in ** 0.5)
        for mod in model.modules():
            if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
                mod.running_mean.copy_(torch.randn(mod.num_features, generator=g, dtype=torch.float64))
                mod.running_var.copy_(torch.rand(mod.num_features, generator=g, dtype=torch.float64) + 0.25)
    model = model.to(dtype).eval()
    x = torch.randn(in_shape, generator=g, dtype=torch.float64).to(dtype)
    return model, in_shape, x


# ------------------------------------------------------------------------------------------ helpers
def ratio(err, bound) -> flint.fmpq:
    """err / bound, exactly (0 when both are 0; a bound of 0 with an error is infinite, so fails)."""
    if err == 0:
        return flint.fmpq(0)
    assert bound > 0, f"error {err} with a zero bound"
    return err / bound


def kink_margin_ok(net, region, x, u) -> bool:
    """Whether every pre-activation is farther from 0, and every max gap larger, than the float error bound
    of its inputs, so that the float pass selects the same pattern. Constant ties (identical functions) are
    allowed: any choice gives the same map."""
    vals = net.values(net.read_input(x))
    bounds = preactivation_error_bounds(net, x, u)
    ties = set(region.constant_ties)
    for node in net.nodes[1:]:
        if isinstance(node, RectNode):
            v, e = vals[node.src].entries(), bounds[node.name]
            if any(abs(vi) <= ei for vi, ei in zip(v, e)):
                return False
        elif isinstance(node, MaxNode):
            v, e = vals[node.src].entries(), bounds[node.name]
            for j, (grp, pos) in enumerate(zip(node.groups, region.pattern[node.name])):
                w = grp[pos]
                for i in grp:
                    if i != w and not ((node.name, j) in ties and v[i] == v[w]) and v[w] - v[i] <= e[w] + e[i]:
                        return False
    return True


def forward_ratio(model, net, x, dtype_name) -> flint.fmpq:
    with torch.no_grad():
        out = model(x.unsqueeze(0))[0]
    exact = net.values(net.read_input(x))[net.output].entries()
    bound = forward_error_bound(net, x, unit_roundoff(dtype_name))
    worst = flint.fmpq(0)
    for fe, ft, b in zip(exact, out.tolist(), bound):
        r = ratio(abs(fe - rational(ft)), b)
        worst = max(worst, r)
    return worst


def jacobian_ratio(model, net, x, dtype_name):
    """The largest |J_exact - J_torch| / bound, or None when x is too close to a kink for the float pass."""
    u = unit_roundoff(dtype_name)
    try:
        region = linearize(net, x)
    except KinkError:
        return None
    if not kink_margin_ok(net, region, x, u):
        return None
    Jt = torch.func.jacrev(lambda inp: model(inp.unsqueeze(0))[0])(x).reshape(net.n_out, net.n_in)
    Je = region.jacobian_fmpq.entries()
    bound = jacobian_error_bound(region, u).entries()
    worst = flint.fmpq(0)
    for je, jt, b in zip(Je, Jt.flatten().tolist(), bound):
        worst = max(worst, ratio(abs(je - rational(jt)), b))
    return worst


def _report(key, value):
    REPORT[key].append(value)


@pytest.mark.claim("local-affine")
# ------------------------------------------------------------------------------ agreement with torch
@pytest.mark.parametrize("dtype", list(DTYPES), ids=list(DTYPES))
@pytest.mark.parametrize("arch", ARCHS)
@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1))
def test_forward_and_jacobian_agree_with_torch_within_the_exact_bounds(arch, dtype, seed):
    """local-affine, in float: torch's forward pass and jacrev Jacobian are within the rounding bounds of
    the exact values of the same network."""
    model, in_shape, x = build(arch, seed, DTYPES[dtype])
    net = from_torch(model, in_shape)
    name = str(DTYPES[dtype]).replace("torch.", "")
    fr = forward_ratio(model, net, x, name)
    _report(f"forward error/bound {dtype}", (float(fr), arch, seed))
    assert fr < 1, f"{arch} seed={seed}: forward error exceeds the bound (ratio {float(fr):.3g})"
    jr = jacobian_ratio(model, net, x, name)
    _report(f"jacobian points within the kink margin {dtype}", jr is None)
    assume(jr is not None)
    _report(f"jacobian error/bound {dtype}", (float(jr), arch, seed))
    assert jr < 1, f"{arch} seed={seed}: Jacobian error exceeds the bound (ratio {float(jr):.3g})"


def test_a_float32_model_against_the_float64_bound_is_caught():
    """Not vacuous: a float32 forward pass judged with the float64 bound exceeds it."""
    model, in_shape, x = build("sequential", 1, torch.float32)
    net = from_torch(model, in_shape)
    assert forward_ratio(model, net, x, "float32") < 1
    assert forward_ratio(model, net, x, "float64") > 1


# -------------------------------------------------------------------------------------- structure
def kinds(layers):
    return [type(layer).__name__ for layer in layers]


def test_sequential_and_nested_modules_flatten_in_order():
    model, _, _ = build("nested", 0, torch.float64)
    layers = layers_from_torch(model)
    assert kinds(layers) == ["Linear", "BatchNorm", "Rectifier", "Linear", "Rectifier", "Linear"]  # Dropout (eval) dropped
    assert layers[0].name == "0.0" and layers[2].name == "0.2" and layers[4].name == "1.1.1"
    assert layers[4].slope == -1                                             # Abs
    seq, _, _ = build("sequential", 0, torch.float64)
    assert kinds(layers_from_torch(seq)) == ["Linear", "Rectifier", "Linear", "Rectifier", "Linear"]


def test_prelu_per_channel_slopes_are_read_exactly():
    model, in_shape, _ = build("nested", 3, torch.float64)
    prelu = model[0][2]
    rect = layers_from_torch(model)[2]
    assert rect.per_channel()
    net = from_torch(model, in_shape)
    node = next(n for n in net.nodes if isinstance(n, RectNode))
    assert list(node.slopes) == [rational(v) for v in prelu.weight.tolist()]
    assert len(set(node.slopes)) == 6


def test_prelu_with_one_slope():
    model = nn.Sequential(nn.Linear(2, 3), nn.PReLU(), nn.Linear(3, 2)).double()
    with torch.no_grad():
        model[1].weight.fill_(0.125)
    (rect,) = [l for l in layers_from_torch(model) if isinstance(l, Rectifier)]
    assert not rect.per_channel() and rect.slope == 0.125


def test_traced_residual_with_identity_and_affine_shortcuts():
    ident = layers_from_torch(build("residual", 0, torch.float64)[0])
    assert kinds(ident) == ["Linear", "Rectifier", "Residual", "Rectifier", "Linear"]
    res = ident[2]
    assert res.shortcut == () and kinds(res.body) == ["Linear", "Rectifier", "Linear"]
    assert res.body[1].slope == 0.2
    affine = layers_from_torch(build("residual-affine", 0, torch.float64)[0])[2]
    assert kinds(affine.shortcut) == ["Linear"] and kinds(affine.body) == ["Linear", "Rectifier", "Linear"]


@pytest.mark.parametrize("use_view", [False, True], ids=["torch.flatten", "view"])
def test_functional_calls(use_view):
    model = Functional(2, use_view).double().eval()
    layers = layers_from_torch(model)
    assert kinds(layers) == ["Conv2d", "Rectifier", "Flatten", "Linear", "Rectifier", "Linear", "Rectifier", "Linear"]
    assert [l.slope for l in layers if isinstance(l, Rectifier)] == [0, -1, 0.05]


def test_maxout_abs_conv_pool_batchnorm():
    model, in_shape, _ = build("conv", 0, torch.float64)
    layers = layers_from_torch(model)
    assert kinds(layers) == ["Conv2d", "BatchNorm", "Rectifier", "MaxPool2d", "Conv2d", "Rectifier", "AvgPool2d",
                             "Flatten", "Linear"]
    assert layers[0].padding == (1, 1) and layers[4].stride == (2, 2)
    mo = layers_from_torch(build("maxout", 0, torch.float64)[0])
    assert kinds(mo) == ["Linear", "Maxout", "Linear", "Maxout", "Rectifier", "Linear"]
    assert mo[1].pieces == 2 and mo[3].pieces == 3 and mo[4].slope == -1


def test_batchnorm_eval_is_folded_from_running_statistics():
    model, in_shape, x = build("conv", 5, torch.float64)
    bn = model[1]
    (fold,) = [l for l in layers_from_torch(model) if isinstance(l, BatchNorm)]
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    assert torch.equal(fold.scale, scale)
    assert torch.equal(fold.shift, bn.bias.detach() - bn.running_mean * scale)


def test_exact_weights_are_the_float_weights():
    model = nn.Sequential(nn.Linear(3, 2)).double()
    net = from_torch(model, (3,))
    W = net.nodes[1].weight
    assert [W[i, j] for i in range(2) for j in range(3)] == \
        [rational(v) for v in model[0].weight.flatten().tolist()]
    assert all(Fraction(int(q.p), int(q.q)) == Fraction(v) for q, v in
               zip(W.entries(), model[0].weight.flatten().tolist()))


# ---- theory.linearize takes a torch module, as verify.linearize does ------------------------------------------

def _same_region(a, b) -> bool:
    return a.pattern == b.pattern and a.jacobian == b.jacobian and a.bias == b.bias


def test_linearize_of_a_module_is_linearize_of_its_conversion():
    g = torch.Generator().manual_seed(3)
    mlp = nn.Sequential(nn.Linear(3, 5), nn.LeakyReLU(0.25), nn.Linear(5, 4)).double()
    cnn = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)).double()
    for model, shape in ((mlp, (3,)), (cnn, (1, 6, 6))):
        x = torch.randn(shape, generator=g, dtype=torch.float64)
        want = linearize(from_torch(model, shape), x)
        assert _same_region(linearize(model, x), want)              # one input: its shape is the input shape
        assert _same_region(linearize(model, x.unsqueeze(0)), want)  # a batch of one, as verify.linearize takes
        assert _same_region(linearize(model, x.tolist()), want)     # any array-like
        # the float Jacobian of torch equals the exact one within float64 rounding (a loose 1e-12 check here;
        # the exact bounds are tested above)
        J = torch.func.jacrev(lambda v: model(v.unsqueeze(0))[0])(x).reshape(want.jacobian.shape[0], -1)
        assert torch.allclose(J, torch.tensor([[float(v) for v in row] for row in want.jacobian.tolist()],
                                              dtype=torch.float64), rtol=0, atol=1e-12)


def test_linearize_of_a_module_keeps_the_specific_errors():
    from theory import NonFiniteError, ShapeError, TrainingModeError, UnsupportedLayerError

    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2)).double()
    with pytest.raises(ShapeError, match=r"^layer '0' \(Linear\): expected an input of shape \(2,\), got shape "
                                         r"\(5, 2\); theory.linearize\(module, x\) takes one input x, .*for a batch "
                                         r"use verify.linearize$"):
        linearize(model, torch.zeros(5, 2, dtype=torch.float64))
    with pytest.raises(NonFiniteError, match=r"^input x: expected a finite number, got nan$"):
        linearize(model, [1.0, float("nan")])
    with pytest.raises(NonFiniteError, match=r"^input x: expected finite numbers, got nan at index \(1,\)$"):
        linearize(model, torch.tensor([1.0, float("nan")], dtype=torch.float64))
    with pytest.raises(UnsupportedLayerError, match=r"^GELU \(module '1'\) is not piecewise linear"):
        linearize(nn.Sequential(nn.Linear(2, 2), nn.GELU()), [1.0, 2.0])
    with pytest.raises(TrainingModeError, match=r"BatchNorm1d \(module '1'\) is in training mode: call .eval\(\)"):
        linearize(nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)).train(), [1.0, 2.0])
    with pytest.raises(KinkError, match="x lies on a kink"):
        linearize(nn.Sequential(nn.ReLU()), [0.0, 1.0])


@pytest.mark.parametrize("model, todo", [
    (nn.Sequential(nn.Linear(2, 2), nn.GELU()), "; replace it with ReLU, LeakyReLU, PReLU, an absolute value (Abs)"),
    (nn.Sequential(nn.Linear(2, 2), nn.Tanh()), "; replace it with ReLU, LeakyReLU, PReLU, an absolute value (Abs)"),
    (nn.Sequential(nn.Linear(2, 2), nn.Softmax(dim=1)), "; return the logits instead"),
])
def test_a_layer_that_is_not_piecewise_linear_is_refused_saying_what_to_do(model, todo):
    from theory.errors import UnsupportedLayerError

    with pytest.raises(UnsupportedLayerError) as exc:
        from_torch(model, (2,))
    msg = str(exc.value)
    assert "is not piecewise linear, so the theory of activation regions does not apply to it" in msg, msg
    assert todo in msg and "\n" not in msg, msg


class _OwnForward(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)

    def forward(self, x):
        return torch.relu(self.lin(x))


def test_a_scripted_module_with_its_own_forward_says_what_works_instead():
    import warnings

    from theory.errors import UnsupportedLayerError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(_OwnForward().double())
        seq = torch.jit.script(nn.Sequential(nn.Linear(2, 2), nn.ReLU()).double())
    assert kinds(layers_from_torch(seq)) == ["Linear", "Rectifier"]       # standard layers are rebuilt
    with pytest.raises(UnsupportedLayerError) as exc:
        layers_from_torch(scripted)
    msg = str(exc.value)
    assert "the TorchScript module '_OwnForward' has its own forward, which cannot be read" in msg, msg
    assert "verify.check_model(model, x) or verify.robust_radius(model, x)" in msg and "mynet.py" in msg, msg
    assert "torch.jit" not in msg, msg                      # no advice to script it again
