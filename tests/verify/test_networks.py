"""Random networks as data: reproducible from spec and seed, readable ids, every architecture and
activation accepted by :func:`verify.linearize`, and inputs that reach kinks."""

from __future__ import annotations

import json
import random
import re
from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from verify import linearize
from verify.jobs.networks import ACTIVATIONS, ARCHS, NetSpec, draw_inputs, draw_spec
from verify.modules import MaxoutUnit


@given(seed=st.integers(0, 2 ** 31 - 1), arch=st.sampled_from(ARCHS))
@settings(max_examples=12, deadline=None)
def test_reproducible_from_spec_and_seed(seed, arch):
    rng_state = torch.random.get_rng_state()
    spec = draw_spec(random.Random(seed), arch=arch)
    assert draw_spec(random.Random(seed), arch=arch) == spec
    a, b = spec.build(), spec.build()
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    f32 = spec.build(dtype=torch.float32).state_dict()
    assert all(torch.equal(f32[k], sa[k].to(f32[k].dtype)) for k in sa)  # the float64 model, rounded
    assert torch.equal(torch.random.get_rng_state(), rng_state), "building must not touch the global RNG"
    assert not any(m.training for m in a.modules())
    x1, y1 = draw_inputs(a, spec, 6, generator=torch.Generator().manual_seed(seed))
    x2, y2 = draw_inputs(b, spec, 6, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert x1.shape == (6,) + spec.in_shape and x1.dtype == torch.float64
    assert y1.dtype == torch.long and ((0 <= y1) & (y1 < spec.K)).all()
    d = spec.to_dict()
    assert NetSpec.from_dict(json.loads(json.dumps(d))) == spec


def test_ids_are_readable():
    assert NetSpec("mlp", (20,), (30,), 7, "leaky", 0.1, True, 0).id == "mlp-20x30x7-leaky0.1"
    assert NetSpec("mlp", (4,), (8, 8), 2, "abs", None, False, 0).id == "mlp-4x8x8x2-abs-nobias"
    assert NetSpec("cnn", (3, 8, 8), (4, 8), 10, "relu", None, False, 0).id == "cnn-3x8x8-c4m2x8a2-k10-relu-nobias"
    assert NetSpec("resnet", (3, 8, 8), (4, 8), 5, "prelu", None, True, 1).id == "resnet-3x8x8-w4x8-k5-prelu"
    assert NetSpec("maxout", (10,), (8, 6), 3, "relu", None, True, 0).id == "maxout-10x8x6x3-p2-relu"
    pattern = re.compile(r"^(mlp|cnn|resnet|maxout)-[0-9a-z.x-]+-(relu|prelu|abs|leaky[0-9.]+)(-nobias)?$")
    rng = random.Random(0)
    for _ in range(50):
        assert pattern.match(draw_spec(rng, size="full").id)


def test_spec_validation():
    with pytest.raises(ValueError, match="arch must be one of"):
        NetSpec("transformer", (4,), (4,), 2, "relu", None, True, 0)
    with pytest.raises(ValueError, match="activation must be one of"):
        NetSpec("mlp", (4,), (4,), 2, "gelu", None, True, 0)
    with pytest.raises(ValueError, match="slope in"):
        NetSpec("mlp", (4,), (4,), 2, "leaky", None, True, 0)
    with pytest.raises(ValueError, match="in_shape of 3 dims"):
        NetSpec("cnn", (4,), (4,), 2, "relu", None, True, 0)
    with pytest.raises(ValueError, match="size must be one of"):
        draw_spec(random.Random(0), size="huge")


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("arch", ARCHS)
def test_every_arch_and_activation_builds_and_linearizes(arch, activation, bias):
    shape = (6,) if arch in ("mlp", "maxout") else (2, 6, 5)
    spec = NetSpec(arch, shape, (4, 3), 3, activation, 0.2 if activation == "leaky" else None, bias, 5)
    model = spec.build()
    kinds = {type(m).__name__ for m in model.modules()}
    want = {"relu": "ReLU", "leaky": "LeakyReLU", "prelu": "PReLU", "abs": "Abs"}[activation]
    assert want in kinds
    if arch == "resnet":
        assert "BatchNorm2d" in kinds and "ResidualBlock" in kinds
        bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
        assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))
    if arch == "cnn":
        assert {"MaxPool2d", "AvgPool2d"} & kinds
    if arch == "maxout":
        assert any(isinstance(m, MaxoutUnit) for m in model.modules())
    if activation == "prelu":
        w = next(m for m in model.modules() if isinstance(m, torch.nn.PReLU)).weight
        assert ((0 < w) & (w < 1)).all() and w.numel() > 1 and w.unique().numel() > 1
    assert bias == any(getattr(m, "bias", None) is not None for m in model.modules()
                       if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)))
    x, _ = draw_inputs(model, spec, 5, generator=torch.Generator().manual_seed(0))
    lin = linearize(model, x)
    assert lin.jacobian.shape == (5, 3, torch.Size(shape).numel())
    assert bool(((lin.logits - model(x)).abs().double() <= 2 * lin.logits_bound).all())   # each within the bound


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("arch", ARCHS)
def test_draw_inputs_reaches_kinks(arch, dtype):
    hits = 0
    for seed in range(3):
        spec = draw_spec(random.Random(seed), arch=arch)
        model = spec.build(dtype=dtype)
        x, y = draw_inputs(model, spec, 16, generator=torch.Generator().manual_seed(seed))
        assert x.dtype == dtype
        lin = linearize(model, x)
        hits += int(lin.rounding_doubt.sum())  # within rounding of a kink (then decided again: verify.numerics.kinks)
        assert not lin.rounding_doubt[8:].all()  # the plain random points are mostly interior
        assert (y == lin.logits.argmax(1)).any()
    assert hits >= 3


def test_full_size_covers_the_design():
    rng = random.Random(0)
    specs = [draw_spec(rng, size="full") for _ in range(400)]
    assert set(s.arch for s in specs) == set(ARCHS) and set(s.activation for s in specs) == set(ACTIVATIONS)
    assert {s.bias for s in specs} == {True, False}
    assert min(s.K for s in specs) == 2 and max(s.K for s in specs) == 100
    mlps = [s for s in specs if s.arch == "mlp"]
    assert {len(s.widths) for s in mlps} == set(range(1, 7))
    assert min(min(s.widths) for s in mlps) <= 3 and max(max(s.widths) for s in mlps) == 1024
    assert max(s.in_shape for s in specs if len(s.in_shape) == 3) == (3, 32, 32)
    pools = Counter(p for s in specs if s.arch == "cnn" for p in s.pools())
    assert pools["m2"] and pools["a2"] and pools["m3"]
    quick = [draw_spec(rng) for _ in range(100)]
    assert max(max(s.widths) for s in quick) <= 16 and max(s.K for s in quick) <= 10
