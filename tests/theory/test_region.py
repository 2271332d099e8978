"""Exact activation regions (claims ``local-affine`` and ``euler-homogeneous``), compared with ``==``.

Every quantity is checked against a second computation: f by an independent Fraction evaluator of the
layer descriptions (not the compiled matrices of :mod:`theory.network`), the exit time and the boundary
distance by sympy from the half-spaces, the pattern by linearizing again at the moved point.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import sympy
from hypothesis import assume, example, given, settings
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
    mlp,
)
from theory.layers import as_pair as _pair

from .strategies import cases, interior_region, networks, pinned, points, rationals, slopes, weights

SETTINGS = settings(max_examples=40, deadline=None)

# Pinned edge cases: K = 2, a = 0 (ReLU) and a = -1 (absolute value).
RELU_K2 = pinned([Linear([[1, -1], [1, 1], [0, 1]], [0, -1, "1/2"]), Rectifier(0), Linear([[2, 3, -1], [1, 0, 1]])],
                 (2,), "relu", ["3/7", "-2/11"], [1, 0])
ABS_K2 = pinned([Linear([[1, -1], [1, 1]], [0, -1]), Rectifier(-1), Linear([[2, 3], [-1, 1]])],
                (2,), "abs", ["3/7", "5/11"], [-1, 2])


# --------------------------------------------------------------------------------- reference evaluator
def _obj(values):
    return np.array(values, dtype=object)


def _frac(a):
    return np.vectorize(lambda v: Fraction(v), otypes=[object])(_obj(a))


def _pad(v, ph, pw, fill):
    c, h, w = v.shape
    out = np.full((c, h + 2 * ph, w + 2 * pw), fill, dtype=object)
    out[:, ph:ph + h, pw:pw + w] = v
    return out


def reference(layers, v):
    """f by the layer definitions, in Fractions on object arrays, independent of theory.network."""
    for layer in layers:
        if isinstance(layer, Linear):
            v = _frac(layer.weight).dot(v)
            if layer.bias is not None:
                v = v + _frac(layer.bias)
        elif isinstance(layer, Conv2d):
            wt = _frac(layer.weight)
            (sh, sw), (ph, pw) = _pair(layer.stride), _pair(layer.padding)
            co, _, kh, kw = wt.shape
            vp = _pad(v, ph, pw, Fraction(0))
            oh, ow = (vp.shape[1] - kh) // sh + 1, (vp.shape[2] - kw) // sw + 1
            out = np.empty((co, oh, ow), dtype=object)
            for o in range(co):
                for i in range(oh):
                    for j in range(ow):
                        out[o, i, j] = (wt[o] * vp[:, i * sh:i * sh + kh, j * sw:j * sw + kw]).sum()
                        if layer.bias is not None:
                            out[o, i, j] += Fraction(layer.bias[o])
            v = out
        elif isinstance(layer, AvgPool2d):  # MaxPool2d is a subclass
            (kh, kw), (sh, sw), (ph, pw) = layer.geometry()
            is_max = isinstance(layer, MaxPool2d)
            vp = _pad(v, ph, pw, None if is_max else Fraction(0))
            oh, ow = (vp.shape[1] - kh) // sh + 1, (vp.shape[2] - kw) // sw + 1
            out = np.empty((v.shape[0], oh, ow), dtype=object)
            for c in range(v.shape[0]):
                for i in range(oh):
                    for j in range(ow):
                        win = vp[c, i * sh:i * sh + kh, j * sw:j * sw + kw].ravel()
                        out[c, i, j] = max(e for e in win if e is not None) if is_max else \
                            sum(win, Fraction(0)) / (kh * kw)
            v = out
        elif isinstance(layer, Flatten):
            v = v.reshape(-1)
        elif isinstance(layer, BatchNorm):
            shape = (-1,) + (1,) * (v.ndim - 1)
            v = v * _frac(layer.scale).reshape(shape) + _frac(layer.shift).reshape(shape)
        elif isinstance(layer, Rectifier):
            a = _frac(layer.slope if layer.per_channel() else [layer.slope])
            a = a.reshape((-1,) + (1,) * (v.ndim - 1)) if a.size > 1 else a.reshape(())
            a = np.broadcast_to(a, v.shape)
            v = np.vectorize(lambda u, s: u if u >= 0 else s * u, otypes=[object])(v, a)
        elif isinstance(layer, Maxout):
            v = _obj([max(g) for g in v.reshape(-1, layer.pieces)])
        elif isinstance(layer, Residual):
            v = reference(layer.body, v) + reference(layer.shortcut, v)
        else:  # pragma: no cover - the strategies draw only the kinds above
            raise TypeError(type(layer).__name__)
    return v


def ref_f(case, x):
    return sympy.Matrix([sympy.Rational(e.numerator, e.denominator)
                         for e in reference(case.layers, _frac(x).reshape(case.in_shape)).ravel()])


def col(v):
    return sympy.Matrix([sympy.Rational(Fraction(e).numerator, Fraction(e).denominator) for e in v])


def moved(x, t, z):
    return [Fraction(a) + Fraction(t) * Fraction(b) for a, b in zip(x, z)]


def frac(q) -> Fraction:
    q = sympy.Rational(q)
    return Fraction(int(q.p), int(q.q))


def crossing_times(region, x, z):
    """Independently, with sympy: t_i = slack_i / rate_i for every half-space that z approaches."""
    A, c = region.halfspaces
    slack = c - A * col(x)
    rate = A * col(z)
    return sorted({slack[i] / rate[i] for i in range(A.rows) if rate[i] > 0})


@pytest.mark.claim("local-affine")
# ------------------------------------------------------------------------------------------- tests
@SETTINGS
@given(cases())
@example(RELU_K2)
@example(ABS_K2)
def test_local_affine_inside_the_region(cpz):
    """local-affine: f(x') = J x' + b for x' = x + t z, 0 < t < t*, and x' is strictly inside."""
    case, x, z = cpz
    net = case.network()
    r = interior_region(net, x)
    assert r.logits == ref_f(case, x) == net(x)
    assert r.jacobian.shape == (case.K, case.D)
    assert r.jacobian * col(x) + r.bias == r.logits
    t_star = r.exit_time(z)
    times = crossing_times(r, x, z)
    assert t_star == (times[0] if times else sympy.oo)
    for s in (Fraction(1, 3), Fraction(99, 100)):
        t = s * (frac(t_star) if t_star != sympy.oo else 7)
        xp = moved(x, t, z)
        assert r.contains(xp, strict=True)
        fx = ref_f(case, xp)
        assert fx == r.jacobian * col(xp) + r.bias == r.affine(xp)
        assert fx - r.logits == sympy.Rational(t.numerator, t.denominator) * r.jacobian * col(z)
        again = linearize(net, xp)
        assert again.pattern == r.pattern and again.jacobian == r.jacobian and again.bias == r.bias


@pytest.mark.claim("local-affine")
@SETTINGS
@given(cases())
@example(RELU_K2)
@example(ABS_K2)
def test_just_past_the_exit_time_is_outside(cpz):
    """x + t* z is on the boundary; just past t* the point is outside and its pattern differs."""
    case, x, z = cpz
    net = case.network()
    r = interior_region(net, x)
    t_star = r.exit_time(z)
    assume(t_star != sympy.oo)
    times = crossing_times(r, x, z)
    t_star = frac(t_star)
    on = moved(x, t_star, z)
    assert r.contains(on) and not r.contains(on, strict=True)
    nxt = frac(times[1]) if len(times) > 1 else t_star + 2
    past = moved(x, (t_star + nxt) / 2, z)   # past the first hyperplane, before the next of R(x)
    assert not r.contains(past) and not r.contains(past, strict=True)
    assert min(r.slacks(past)) < 0
    assert all(other.pattern != r.pattern for other in linearize(net, past, on_kink="all"))


@pytest.mark.claim("local-affine")
@SETTINGS
@given(cases())
@example(RELU_K2)
def test_halfspaces_hold_with_positive_slack(cpz):
    """A x <= c at interior x with slack > 0 (= 0 only on rows with a zero normal: constant ties)."""
    case, x, _ = cpz
    net = case.network()
    r = interior_region(net, x)
    A, c = r.halfspaces
    assert A.shape == (len(r.halfspace_labels), case.D) and c.shape == (A.rows, 1)
    units = sum(n.size for n in net.nodes if type(n).__name__ == "RectNode") + \
        sum(len(g) - 1 for n in net.nodes if type(n).__name__ == "MaxNode" for g in n.groups)
    assert A.rows == units
    slack = c - A * col(x)
    assert list(slack) == [sympy.Rational(int(s.p), int(s.q)) for s in r.slacks()]
    for i in range(A.rows):
        if any(A.row(i)):
            assert slack[i] > 0
        else:
            assert slack[i] >= 0
    assert r.contains(x, strict=True)


@pytest.mark.claim("local-affine")
@SETTINGS
@given(cases())
@example(RELU_K2)
@example(ABS_K2)
def test_boundary_distance(cpz):
    """r(x)^2 = min_i slack_i^2 / |a_i|^2, recomputed with sympy; every exit is at least r(x) away."""
    case, x, z = cpz
    net = case.network()
    r = interior_region(net, x)
    A, c = r.halfspaces
    slack = c - A * col(x)
    cands = [slack[i] ** 2 / sum(a ** 2 for a in A.row(i)) for i in range(A.rows) if any(A.row(i))]
    expected = min(cands) if cands else sympy.oo
    assert r.boundary_distance_squared() == expected
    assert r.boundary_distance() == sympy.sqrt(expected)
    t_star = r.exit_time(z)
    if t_star != sympy.oo:
        assert t_star ** 2 * sum(v ** 2 for v in col(z)) >= expected


@SETTINGS
@given(networks(archs=("mlp", "conv", "maxout")), st.data())
def test_layer_jacobians_multiply_to_the_jacobian(case, data):
    """For a sequential network, J = J_L ... J_1 (the layer Jacobians J_l = Lambda_l V_l)."""
    net = case.network()
    r = interior_region(net, data.draw(points(case.D)))
    layers = r.layer_jacobians()
    prod = sympy.eye(case.D)
    for _, Jl in layers:
        prod = Jl * prod
    assert prod == r.jacobian


def test_layer_jacobians_refuse_residual_networks():
    net = Network([Linear([[1, 0], [0, 1]]), Residual((Rectifier(0),)), Linear([[1, 1]])], (2,))
    with pytest.raises(ValueError, match="without residual additions"):
        linearize(net, [1, 2]).layer_jacobians()


@pytest.mark.claim("euler-homogeneous")
@SETTINGS
@given(cases(bias=False))
@example(pinned([Linear([[1, -1], [2, 1]]), Rectifier(0), Linear([[1, 1], [3, -1]])], (2,), "relu",
                ["1/7", "-3/11"], [1, 1]))
@example(pinned([Linear([[1, -1], [2, 1]]), Rectifier(-1), Linear([[1, 1], [3, -1]])], (2,), "abs",
                ["1/7", "-3/11"], [1, 1]))
def test_euler_homogeneous(cpz):
    """euler-homogeneous: a bias-free network has f(x) = J x exactly (b = 0)."""
    case, x, _ = cpz
    net = case.network()
    assert not net.has_bias
    r = interior_region(net, x)
    assert r.bias == sympy.zeros(case.K, 1)
    assert ref_f(case, x) == r.jacobian * col(x)


# ------------------------------------------------------------------------------------------- kinks
@st.composite
def one_hidden_layer(draw):
    """A 1-hidden-layer MLP, a rational point and a hidden unit i with a non-zero weight row."""
    D, h, K = draw(st.integers(2, 6)), draw(st.integers(1, 5)), draw(st.integers(2, 4))
    W1, W2 = draw(weights(h, D)), draw(weights(K, h))
    b1 = draw(st.lists(rationals(), min_size=h, max_size=h))
    a, _ = draw(slopes(h))
    i = draw(st.integers(0, h - 1))
    assume(any(W1[i]))
    return W1, b1, W2, a, i, draw(points(D))


@SETTINGS
@given(one_hidden_layer())
@example(([[1, 2], [1, -1]], [0, 1], [[1, 1], [2, -1]], 0, 0, [Fraction(3, 7), Fraction(1, 11)]))
@example(([[1, 2], [1, -1]], [0, 1], [[1, 1], [2, -1]], -1, 1, [Fraction(3, 7), Fraction(1, 11)]))
def test_a_point_on_a_hyperplane_is_a_kink(setup):
    """On w_i x + b_i = 0: on_kink="raise" names unit i; on_kink="all" gives both sides, whose closures
    contain x and whose Jacobians differ by (1 - a_i) W2[:, i] w_i^T."""
    W1, b1, W2, a, i, x0 = setup
    net = Network([Linear(W1, b1), Rectifier(a), Linear(W2)], (len(W1[0]),))
    w = [Fraction(v) for v in W1[i]]
    u0 = sum(wj * xj for wj, xj in zip(w, x0)) + Fraction(b1[i])
    x = [xj - u0 / sum(wj * wj for wj in w) * wj for xj, wj in zip(x0, w)]
    with pytest.raises(KinkError, match=rf"1:relu\[{i}\]") as err:
        linearize(net, x)
    assert ("1:relu", i) in err.value.units
    assume(err.value.units == [("1:relu", i)])
    regions = linearize(net, x, on_kink="all")
    assert len(regions) == 2
    plus, minus = sorted(regions, key=lambda r: -r.pattern["1:relu"][i])
    assert plus.pattern["1:relu"][i] == 1 and minus.pattern["1:relu"][i] == -1
    fx = net(x)
    for r in regions:
        assert r.kinks == [("1:relu", i)]
        assert r.contains(x) and not r.contains(x, strict=True)
        assert r.logits == fx and r.jacobian * col(x) + r.bias == fx
    ai = Fraction(a[i] if isinstance(a, list) else a)
    jump = (1 - sympy.Rational(ai.numerator, ai.denominator)) * col([row[i] for row in W2]) * col(w).T
    assert plus.jacobian - minus.jacobian == jump
    assert (plus.jacobian != minus.jacobian) == (ai != 1 and any(row[i] for row in W2))


def test_kink_error_names_every_unit_and_on_kink_is_validated():
    net = mlp([[[1, 0], [0, 1]], [[1, 1]]])
    with pytest.raises(KinkError, match=r"1:relu\[0\], 1:relu\[1\]"):
        linearize(net, [0, 0])
    assert len(linearize(net, [0, 0], on_kink="all")) == 4
    with pytest.raises(ValueError, match="on_kink must be 'raise' or 'all', got 'ignore'"):
        linearize(net, [1, 1], on_kink="ignore")


def test_tied_maxout_is_a_kink():
    net = Network([Linear([[1, 0], [0, 1]]), Maxout(2), Linear([[1]])], (2,))
    with pytest.raises(KinkError, match=r"1:maxout\[0\]"):
        linearize(net, ["1/3", "1/3"])
    regions = linearize(net, ["1/3", "1/3"], on_kink="all")
    assert sorted(tuple(r.jacobian) for r in regions) == [(0, 1), (1, 0)]
    assert all(r.contains(["1/3", "1/3"]) and r.logits == sympy.Matrix([sympy.Rational(1, 3)]) for r in regions)


def test_maxpool_over_dead_relus_is_not_a_kink():
    """A max-pool window whose ReLUs are all dead is a tie of identical (zero) functions: no kink."""
    conv = Conv2d([[[[1]]], [[[1]]]], [-100, 0])           # channel 0 dead everywhere near x
    net = Network([conv, Rectifier(0), MaxPool2d(2), Flatten(), Linear([[1, 2], [3, -1]])], (1, 2, 2))
    x = ["1/7", "2/7", "3/7", "4/7"]
    r = linearize(net, x)                                   # no KinkError
    assert r.constant_ties == [("2:maxpool2d", 0)]
    assert r.jacobian == sympy.Matrix([[0, 0, 0, 2], [0, 0, 0, -1]])
    assert r.contains(x, strict=True)
    # with a leaky slope the window is no longer constant: the dead units differ, and nothing is tied
    leaky = Network([conv, Rectifier("1/10"), MaxPool2d(2), Flatten(), Linear([[1, 2], [3, -1]])], (1, 2, 2))
    assert linearize(leaky, x).constant_ties == []


def test_a_unit_that_is_identically_zero_is_not_a_kink():
    net = Network([Linear([[0, 0], [1, 1]], [0, 0]), Rectifier(0), Linear([[5, 1]])], (2,))
    r = linearize(net, ["1/3", "1/5"])
    assert r.constant_ties == [("1:relu", 0)]
    assert r.jacobian == sympy.Matrix([[1, 1]]) and r.contains(["1/3", "1/5"], strict=True)


def test_readable_exact_values():
    """A worked example, as in the module docstring of theory.region."""
    net = mlp([[[1, -1], [1, 1]], [[2, 3]]], [[0, -1], [0]])
    r = linearize(net, [3, 1])
    assert r.pattern == {"1:relu": (1, 1)}
    assert r.jacobian == sympy.Matrix([[5, 1]]) and r.bias == sympy.Matrix([[-3]])
    assert r.exit_time([-1, 0]) == 2 and r.exit_time([1, 1]) == sympy.oo
    assert r.boundary_distance_squared() == 2 and r.boundary_distance() == sympy.sqrt(2)
    A, c = r.halfspaces
    assert A == sympy.Matrix([[-1, 1], [-1, -1]]) and c == sympy.Matrix([0, -1])
    assert r.halfspace_labels == [("1:relu", 0), ("1:relu", 1)]


# ------------------------------------------------------------------------------ `python -m theory region`
def test_region_command_prints_the_exact_region(capsys):
    from theory.cli import main

    assert main(["region", "--network", "demo-2-4-3"]) == 0
    out = capsys.readouterr().out
    assert "Point x = (1/2, -1)" in out
    assert "logits f(x) = (31/20, 3/10, -113/40)" in out
    assert "activation pattern of 1:relu: + − − −" in out
    assert "b = (1/10, 1/5, -1)" in out
    assert "x1 + x2/2 ≤ 1       unit 1:relu[3], slack 1" in out
    assert "t* = 1 ≈ 1.0000000" in out and "through the hyperplane of 1:relu[3]" in out
    assert "= 3*sqrt(5)/10 ≈ 0.6708203933   (r² = 9/20)" in out


def test_region_command_options_and_kinks(capsys):
    from theory.cli import demo_network, main

    assert main(["region", "--network", "demo-2-4-3", "--point=-1/3,0.25", "--direction", "0,1", "--slope", "-1"]) == 0
    out = capsys.readouterr().out
    net, _ = demo_network(Fraction(-1))
    r = linearize(net, ["-1/3", "1/4"])
    assert f"t* = {r.exit_time([0, 1])} " in out and f"logits f(x) = ({', '.join(map(str, r.logits))})" in out
    assert main(["region", "--network", "demo-2-4-3", "--point", "0,0"]) == 1   # on the hyperplane of unit 0
    out = capsys.readouterr().out
    assert "x lies on a kink" in out and "2 adjacent regions meet at x" in out
    assert main(["region", "--direction", "0,0"]) == 2
    with pytest.raises(SystemExit):
        main(["region", "--point", "1/2,x"])
