"""Exact rounding-error bounds (:mod:`theory.rounding`), tested against float evaluations we control.

numpy evaluates the same float network in several summation orders (BLAS, a reversed Python loop, in
float64 and float32); each result, read exactly, must lie within the exact forward bound, and the float
product of the local layer matrices within the Jacobian bound. The comparisons are exact: the error is
a rational, and so is the bound.
"""

from __future__ import annotations

import flint
import numpy as np
import pytest
import torch
import torch.nn as nn
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from theory import Linear, Network, Rectifier, from_torch, linearize
from theory.exact import rational
from theory.layers import KinkError
from theory.rounding import (
    forward_error_bound,
    gamma,
    jacobian_error_bound,
    jacobian_error_count,
    preactivation_error_bounds,
    unit_roundoff,
)

from .strategies import REPORT

SLOPES = {"relu": 0.0, "leaky": 0.1, "abs": -1.0}


def test_unit_roundoff():
    assert unit_roundoff("float64") == flint.fmpq(1, 2 ** 53)
    assert unit_roundoff(torch.float32) == flint.fmpq(1, 2 ** 24)
    assert unit_roundoff(np.dtype("float32")) == flint.fmpq(1, 2 ** 24)
    assert unit_roundoff("bfloat16") == flint.fmpq(1, 2 ** 8) and unit_roundoff("float16") == flint.fmpq(1, 2 ** 11)
    with pytest.raises(ValueError, match="unknown float dtype 'int8'"):
        unit_roundoff("int8")


def test_gamma_is_exact():
    u = unit_roundoff("float32")
    assert gamma(3, u) == 3 * u / (1 - 3 * u)
    assert gamma(0, u) == 0
    with pytest.raises(ValueError, match=r"gamma_256 is undefined for u = 1/256: n u >= 1"):
        gamma(256, unit_roundoff("bfloat16"))


def _float_mlp(seed, sizes, slope, dtype):
    rng = np.random.default_rng(seed)
    Ws = [(rng.standard_normal((m, n)) / np.sqrt(n)).astype(dtype) for n, m in zip(sizes, sizes[1:])]
    bs = [rng.standard_normal(m).astype(dtype) for m in sizes[1:]]
    x = rng.standard_normal(sizes[0]).astype(dtype)
    layers = []
    for i, (W, b) in enumerate(zip(Ws, bs)):
        layers.append(Linear(W, b))
        if i < len(Ws) - 1:
            layers.append(Rectifier(slope))
    return Network(layers, (sizes[0],)), Ws, bs, x


def _act(v, a, dtype):
    return np.where(v > 0, v, dtype(a) * v).astype(dtype)


def _forward_blas(Ws, bs, x, a, dtype):
    v = x
    for i, (W, b) in enumerate(zip(Ws, bs)):
        v = (W @ v + b).astype(dtype)
        if i < len(Ws) - 1:
            v = _act(v, a, dtype)
    return v


def _forward_loop(Ws, bs, x, a, dtype):
    """Inner products summed one term at a time, last index first, bias added last."""
    v = x
    for i, (W, b) in enumerate(zip(Ws, bs)):
        out = np.empty(W.shape[0], dtype=dtype)
        for r in range(W.shape[0]):
            acc = dtype(0)
            for c in reversed(range(W.shape[1])):
                acc = dtype(acc + W[r, c] * v[c])
            out[r] = dtype(acc + b[r])
        v = _act(out, a, dtype) if i < len(Ws) - 1 else out
    return v


def _max_ratio(exact, float_values, bound):
    worst = flint.fmpq(0)
    for e, f, b in zip(exact, float_values, bound):
        err = abs(e - rational(float(f)))
        assert err <= b, f"error {float(err):.3g} exceeds the bound {float(b):.3g}"
        if err:
            worst = max(worst, err / b)
    return worst


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("slope", list(SLOPES), ids=list(SLOPES))
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), sizes=st.lists(st.integers(2, 24), min_size=3, max_size=4))
def test_forward_bound_holds_for_every_summation_order(dtype, slope, seed, sizes):
    net, Ws, bs, x = _float_mlp(seed, sizes, SLOPES[slope], dtype)
    bound = forward_error_bound(net, x, unit_roundoff(np.dtype(dtype)))
    exact = net.values(net.read_input(x))[net.output].entries()
    for name, run in (("blas", _forward_blas), ("loop", _forward_loop)):
        worst = _max_ratio(exact, run(Ws, bs, x, SLOPES[slope], dtype), bound)
        assert worst < 1
        REPORT[f"numpy forward ({name}) error/bound {np.dtype(dtype).name}"].append((float(worst), slope, seed))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), sizes=st.lists(st.integers(2, 24), min_size=3, max_size=4),
       slope=st.sampled_from(list(SLOPES)))
def test_jacobian_bound_holds_for_a_float_product_of_the_layer_matrices(dtype, seed, sizes, slope):
    a = SLOPES[slope]
    net, Ws, _, x = _float_mlp(seed, sizes, a, dtype)
    try:
        region = linearize(net, x)
    except KinkError:  # a float point exactly on a kink: rejected (and counted by Hypothesis), not passed
        assume(False)
    # the same pattern, applied in float: J = W_L D_{L-1} W_{L-1} ... D_1 W_1
    J = Ws[0]
    for (name, _), W in zip(region.layer_jacobians()[:-1], Ws[1:]):
        d = np.array([1.0 if s > 0 else a for s in region.pattern[name]], dtype=dtype)
        J = (W @ (d[:, None] * J).astype(dtype)).astype(dtype)
    bound = jacobian_error_bound(region, unit_roundoff(np.dtype(dtype))).entries()
    worst = _max_ratio(region.jacobian_fmpq.entries(), J.ravel().tolist(), bound)
    REPORT[f"numpy Jacobian error/bound {np.dtype(dtype).name}"].append((float(worst), slope, seed))


def test_preactivation_bounds_and_error_count():
    net, Ws, bs, x = _float_mlp(0, [3, 4, 5, 2], 0.1, np.float64)
    pre = preactivation_error_bounds(net, x, unit_roundoff("float64"))
    assert list(pre) == ["1:relu", "3:relu"]
    assert [len(v) for v in pre.values()] == [4, 5]
    assert all(e > 0 for v in pre.values() for e in v)
    assert jacobian_error_count(net) == (3 + 6) + 6 + (4 + 6) + 6 + (5 + 6)


def test_exact_evaluations_have_zero_error_and_a_positive_bound():
    net = Network([Linear([[1, 2], [3, 4]], [1, 0]), Rectifier(0), Linear([[1, -1]])], (2,))
    (b,) = forward_error_bound(net, [1, 1], unit_roundoff("float64"))
    assert net([1, 1])[0] == -3 and b > 0


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_batchnorm_whose_shift_cancels_is_within_the_bound(dtype):
    """BatchNorm with beta ~ mu * scale: the float shift beta - mu * scale carries an error relative to
    |beta| + |mu * scale|, which the bound must include (it once used only |shift| and failed by 10^3)."""
    g = torch.Generator().manual_seed(0)
    worst = flint.fmpq(0)
    for _ in range(40):
        n = 4
        model = nn.Sequential(nn.Linear(n, n), nn.BatchNorm1d(n), nn.ReLU(), nn.Linear(n, 2)).double()
        bn = model[1]
        with torch.no_grad():
            model[0].weight.copy_(torch.eye(n, dtype=torch.float64))
            model[0].bias.zero_()
            bn.running_mean.copy_(torch.randn(n, generator=g, dtype=torch.float64) * 100)
            bn.running_var.copy_(torch.rand(n, generator=g, dtype=torch.float64) * 3 + 0.1)
            bn.weight.copy_(torch.randn(n, generator=g, dtype=torch.float64))
            bn.bias.copy_(bn.running_mean * bn.weight / torch.sqrt(bn.running_var + bn.eps))
        model = model.to(dtype).eval()
        x = (torch.randn(n, generator=g, dtype=torch.float64) * 1e-3).to(dtype)
        net = from_torch(model, (n,))
        with torch.no_grad():
            out = model(x.unsqueeze(0))[0].tolist()
        exact = net.values(net.read_input(x))[net.output].entries()
        bound = forward_error_bound(net, x, unit_roundoff(dtype))
        worst = max(worst, _max_ratio(exact, out, bound))
    REPORT[f"BatchNorm with a cancelling shift, error/bound {str(dtype)[6:]}"].append((float(worst), "bn", 0))
    assert worst < 1
