"""The float linearization against the exact engine on the same network (claim ``local-affine``).

A float network is exact (its weights are dyadic rationals), so :func:`theory.linearize` gives the
exact J, b, pattern and region of the very network that :func:`verify.linearize` evaluated in
float. Every comparison is exact: the float values and the float bounds are read as the rationals
they are, and ``|float - exact| <= bound`` is decided in rational arithmetic.

- J and logits: within ``jacobian_bound`` / ``logits_bound`` at every point that is not ``on_kink``;
  the float bounds are >= theory's (:mod:`theory.rounding`), which they mirror.
- Kinks are never hidden: where the exact engine finds a kink, ``on_kink`` is True; a point within rounding
  of a kink that the re-decision recovers (:mod:`verify.numerics.kinks`) is checked like any interior point.
- Geometry: each float quantity lies in a bracket derived from the errors of its inputs (slack
  errors from the forward bound, normals and rates from gamma_m times the magnitude product).
- J agrees with torch.func.jacrev within twice the bound (both are float products of the same J).
"""

from __future__ import annotations

import copy
import math
import random

import flint
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from theory import KinkError, from_torch
from theory import linearize as exact_linearize
from theory.exact import matrix
from verify import (
    DeviceMismatchError,
    DTypeMismatchError,
    EmptyBatchError,
    NonFiniteError,
    ShapeError,
    TooFewClassesError,
    TrainingModeError,
    UnsupportedLayerError,
    linearize,
)
from verify.jobs.networks import ARCHS, NetSpec, draw_inputs, draw_spec
from verify.numerics.bounds import SAFETY
from verify.numerics.graph import gamma

from .helpers import _jacrev, check_against_exact, q, small_spec

DTYPES = (torch.float64, torch.float32)


@pytest.mark.slow
@pytest.mark.claim("local-affine")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d)[6:])
@pytest.mark.parametrize("arch", ARCHS)
@given(seed=st.integers(0, 2 ** 31 - 1), variant=st.sampled_from([None, None, "K2", "relu", "abs", "leaky", "prelu"]))
@settings(max_examples=4, deadline=None)
@example(seed=0, variant="K2")
@example(seed=1, variant="abs")
@example(seed=2, variant="leaky")
@example(seed=3, variant="prelu")
def test_float_vs_exact(arch, dtype, seed, variant):
    spec = small_spec(seed, arch, variant)
    model = spec.build(dtype=dtype)
    x, _ = draw_inputs(model, spec, 4, generator=torch.Generator().manual_seed(seed), near_kink_fraction=0.5)
    lin = linearize(model, x)
    assert lin.jacobian.shape == (4, spec.K, math.prod(spec.in_shape)) and lin.jacobian.dtype == dtype
    # the model's own forward pass (torch's BatchNorm from running statistics) is within the bound too
    assert ((lin.logits - model(x)).abs().double() <= 2 * lin.logits_bound).all()
    check_against_exact(model, spec, x, lin, seed)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d)[6:])
@pytest.mark.parametrize("arch", ARCHS)
def test_autograd_backprop_is_within_vjp_err_of_the_exact_product(arch, dtype):
    """verify.numerics.bounds.vjp_err bounds autograd's J^T v alone (every check adds the two sides' bounds, so an
    unsound vjp_err could hide behind the closed form's): against J_exact^T v in rational arithmetic, for
    exact seeds (the rows e_k, err 0) and a random float seed, at every point off kinks."""
    from verify.numerics.bounds import Bounded, vjp_err

    seen = worst = 0
    for seed in range(3):
        spec = small_spec(seed, arch)
        model = spec.build(dtype=dtype)
        x, _ = draw_inputs(model, spec, 4, generator=torch.Generator().manual_seed(seed), near_kink_fraction=0.0)
        lin = linearize(model, x)
        net = from_torch(model, spec.in_shape)
        B, K = lin.B, lin.K
        J = Bounded(lin.jacobian, lin.jacobian_bound)
        seeds = [torch.eye(K, dtype=dtype)[k].expand(B, K).contiguous() for k in range(K)]
        seeds.append(torch.randn(B, K, generator=torch.Generator().manual_seed(seed + 100), dtype=dtype))
        for v in seeds:
            xg = x.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(model(xg), xg, v)
            bound = vjp_err(J, Bounded(v))
            for i in range(B):
                if bool(lin.on_kink[i]):
                    continue
                try:
                    Je = exact_linearize(net, x[i].cpu()).jacobian_fmpq
                except KinkError:
                    continue
                ve = q(v[i])
                exact = [sum(Je[k, d] * ve[k] for k in range(K)) for d in range(lin.D)]
                for a, b, c in zip(q(g[i].reshape(-1)), exact, q(bound[i])):
                    assert abs(a - b) <= c, f"|J~^T v - J^T v| = {float(abs(a - b)):.3e} > vjp_err {float(c):.3e}"
                    worst = max(worst, float(abs(a - b)))
                seen += 1
    assert seen, "no point off kinks was checked"
    if dtype == torch.float32:
        assert worst > 0, "autograd was exact everywhere: the test could not see a bound without rounding terms"


# ---- geometry -----------------------------------------------------------------------------------------
def _magnitude_rows(lin) -> torch.Tensor:
    """Per half-space, |a_i| bounded entrywise by the magnitude product (B, m, D), float64."""
    eng, rec = lin.engine, lin._rec
    srcs = [eng.nodes[k].src[0] for k in eng.nonlinear]
    eye = torch.eye(eng.D, dtype=torch.float64).unsqueeze(0)
    got = dict(eng.forward_maps(rec, eye, want=set(srcs), mag=True))
    rows = []
    for k, s in zip(eng.nonlinear, srcs):
        T = got[s].expand(lin.B, -1, -1)
        if eng.nodes[k].kind == "rect":
            rows.append(T.transpose(1, 2))
            continue
        comp, valid = eng.competitors(k, rec.pos(k))
        b, n, g = comp.shape
        Tc = T.gather(2, comp.reshape(b, 1, -1).expand(-1, eng.D, -1)).reshape(b, eng.D, n, g)
        Tw = T.gather(2, rec.win[k].unsqueeze(1).expand(-1, eng.D, -1)).unsqueeze(3)
        rows.append((Tc + Tw).permute(0, 2, 3, 1)[valid.unsqueeze(0).expand(b, -1, -1)].reshape(b, -1, eng.D))
    return torch.cat(rows, 1)


def _f64(m: flint.fmpq_mat) -> torch.Tensor:
    """An exact matrix rounded to float64 (each entry within a relative 2^-53)."""
    return torch.tensor([float(v) for v in m.entries()], dtype=torch.float64).reshape(m.nrows(), m.ncols())


def _bracket_min(num_lo, num_hi, den_lo, den_hi):
    """[L, U] for min_i num_i / den_i over i with den_i > 0, when num_i in [num_lo, num_hi] >= 0 and
    den_i in [den_lo, den_hi] (float64 intervals that contain the exact values, up to the one rounding of
    the addition or subtraction that formed each end). Widened by that rounding and the division's."""
    L = min([max(a, 0.0) / d for a, d in zip(num_lo, den_hi) if d > 0] + [math.inf])
    U = min([b / d for b, d in zip(num_hi, den_lo) if d > 0] + [math.inf])
    g = gamma(2, 2.0 ** -53)
    return L * (1 - g), U * (1 + g)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d)[6:])
@pytest.mark.parametrize("arch,seed", [(a, s) for a in ARCHS for s in (3, 11)])
def test_geometry_vs_exact(arch, seed, dtype):
    spec = small_spec(seed, arch, side=4)
    model = spec.build(dtype=dtype)
    gen = torch.Generator().manual_seed(seed)
    x, _ = draw_inputs(model, spec, 2, generator=gen, near_kink_fraction=0)
    z = torch.randn(x.shape, generator=gen, dtype=torch.float64).to(dtype)
    lin = linearize(model, x, halfspaces=True)
    A, c = lin.halfspaces()
    t, rdist, kd = lin.exit_time(z), lin.boundary_distance(), lin.kink_distance
    eng = lin.engine
    g = gamma(eng.jac_count, eng.u)
    mag = _magnitude_rows(lin)
    err = torch.cat([e for _, e, _, _ in lin._unit_table(False)], 1)
    slack = torch.cat([s for s, _, _, _ in lin._unit_table(False)], 1)
    net = from_torch(model, spec.in_shape)
    for i in range(x.shape[0]):
        try:
            r = exact_linearize(net, x[i])
        except KinkError:
            assert bool(lin.on_kink[i])
            continue
        if bool(lin.on_kink[i]):
            continue
        Ae, ce, _ = r._halfspaces
        assert A.shape[1] == Ae.nrows()
        # half-spaces: |A~ - A| <= gamma_m |A|_mag (rows are prefix products of the Jacobian's factors);
        # compared with A rounded to float64, which adds at most 2^-53 |A| <= 2^-53 |A|_mag
        Aef = _f64(Ae)
        slackA = (g + 2.0 ** -52) * mag[i] * SAFETY
        assert ((A[i].double() - Aef).abs() <= slackA).all(), "half-space normal outside its bound"
        # offsets c = slack + A x: slack error + |A~ - A| |x| + rounding of the sum (+ rounding of c to float64)
        xa = x[i].reshape(-1).abs().double()
        bc = err[i] + (g * mag[i]) @ xa + gamma(eng.D + 2, eng.u) * (A[i].double().abs() @ xa + slack[i]) * 2
        cef = _f64(ce).reshape(-1)
        assert ((c[i].double() - cef).abs() <= bc * SAFETY + 2.0 ** -52 * cef.abs()).all(), \
            "half-space offset outside its bound"
        # exit time: slacks within err, rates (float64 products) within gamma_m |A|_mag |z|
        s_ex = [float(v) for v in r.slacks()]
        rate = [float(v) for v in (Ae * matrix(z[i].reshape(-1, 1).double())).entries()]
        # (float(v) of an exact value: relative error 2^-53, added to each interval's half-width)
        dr = [d * SAFETY + 2.0 ** -53 * abs(a)
              for d, a in zip(((g * mag[i]) @ z[i].reshape(-1).abs().double()).tolist(), rate)]
        e_i = [e * SAFETY + 2.0 ** -53 * abs(v) for e, v in zip(err[i].tolist(), s_ex)]
        L, U = _bracket_min([s - e for s, e in zip(s_ex, e_i)], [s + e for s, e in zip(s_ex, e_i)],
                            [a - d for a, d in zip(rate, dr)], [a + d for a, d in zip(rate, dr)])
        assert L <= t[i].item() <= U, f"exit time {t[i].item()} outside [{L}, {U}]"
        assert L <= float(r.exit_time(z[i].reshape(-1))) <= U
        # boundary distance: normals' norms within ||gamma_m |A|_mag||_2, plus the rounding of A to float64
        # and of the float64 norm (gamma_{D+2} relative)
        An = Aef.norm(dim=1).tolist()
        dn = [d * SAFETY + gamma(eng.D + 2, 2.0 ** -53) * a for d, a in zip((g * mag[i]).norm(dim=1).tolist(), An)]
        keep = [j for j in range(len(An)) if An[j] > 0]
        L, U = _bracket_min([s_ex[j] - e_i[j] for j in keep], [s_ex[j] + e_i[j] for j in keep],
                            [An[j] - dn[j] for j in keep], [An[j] + dn[j] for j in keep])
        assert L <= rdist[i].item() <= U, f"boundary distance {rdist[i].item()} outside [{L}, {U}]"
        assert kd[i].item() <= U
    # layer Jacobians: theory's J_l within their bounds E_l (+ the rounding of theory's exact J_l to
    # float64); and their float product is J: each of the two float products (lin.jacobian and J_L ... J_1,
    # two groupings of the same factors) is within jacobian_bound of the exact J, so they are within twice it
    if arch != "resnet":
        ours = lin.layer_jacobians(bound=True)
        for i in range(x.shape[0]):
            if bool(lin.on_kink[i]):
                continue
            theirs = exact_linearize(net, x[i]).layer_jacobians()
            assert [n for n, _, _ in ours] == [n for n, _ in theirs]
            for (name, Jl, El), (_, Tl) in zip(ours, theirs):
                Te = torch.tensor([float(v) for v in Tl], dtype=torch.float64).reshape(Tl.shape)
                assert ((Jl[i].double() - Te).abs() <= El[i] + 2.0 ** -53 * Te.abs()).all(), name
            prod = ours[0][1][i]
            for _, Jl, _ in ours[1:]:
                prod = Jl[i] @ prod
            assert ((prod.double() - lin.jacobian[i].double()).abs() <= 2 * lin.jacobian_bound[i]).all()
    else:
        with pytest.raises(ValueError, match="residual"):
            lin.layer_jacobians()


def test_same_pattern_and_exit_consistency():
    spec = NetSpec("mlp", (4,), (8, 8), 3, "relu", None, True, 7)
    model = spec.build()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    z = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    lin = linearize(model, x)
    t = lin.exit_time(z)
    inside = linearize(model, x + 0.5 * t.clamp(max=1e6).unsqueeze(1) * z)
    assert inside.same_pattern(lin).all()
    beyond = linearize(model, x + 1.01 * t.clamp(max=1e6).unsqueeze(1) * z)
    assert not beyond.same_pattern(lin)[torch.isfinite(t)].any()
    assert lin.same_pattern(lin).all()


# ---- against autograd ------------------------------------------------------------------------------------
@pytest.mark.claim("local-affine")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d)[6:])
@pytest.mark.parametrize("arch", ARCHS)
@given(seed=st.integers(0, 2 ** 31 - 1))
@settings(max_examples=5, deadline=None)
def test_jacobian_matches_jacrev(arch, dtype, seed):
    spec = draw_spec(random.Random(seed), size="quick", arch=arch)
    model = spec.build(dtype=dtype)
    x, _ = draw_inputs(model, spec, 8, generator=torch.Generator().manual_seed(seed), near_kink_fraction=0)
    lin = linearize(model, x)
    ref = _jacrev(model, x).reshape(lin.jacobian.shape)
    ok = ~lin.on_kink
    diff = (lin.jacobian - ref).abs().double()
    assert (diff[ok] <= 2 * lin.jacobian_bound[ok]).all()


# ---- kinks ------------------------------------------------------------------------------------------------
def _two_unit_mlp(dtype=torch.float64):
    m = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 2)).to(dtype)
    with torch.no_grad():
        m[0].weight.copy_(torch.tensor([[1.0, -1.0], [1.0, 1.0]]))
        m[0].bias.zero_()
        m[2].weight.copy_(torch.tensor([[2.0, 3.0], [1.0, -1.0]]))
        m[2].bias.copy_(torch.tensor([0.5, 0.0]))
    return m


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d)[6:])
def test_exact_kink_is_flagged(dtype):
    m = _two_unit_mlp(dtype)
    x = torch.tensor([[0.5, 0.5], [0.75, 0.25], [-0.25, 0.5]], dtype=dtype)  # u_1 = x_1 - x_2 = 0 at the first
    lin = linearize(m, x)
    assert lin.on_kink.tolist() == [True, False, False] and lin.at_kink.tolist() == [True, False, False]
    assert lin.kink_distance[0].item() == 0.0 and lin.kink_distance[1:].gt(0).all()
    with pytest.raises(KinkError):
        exact_linearize(from_torch(m, (2,)), x[0])
    # the second point's nearest kink is at 0.5 / sqrt 2 (u_1 = 0.5 exactly, |a_1| = sqrt 2). The certified
    # distance (|u_1| - e) / (|a_1| SAFETY) lies below it: e is the rounding bound of an inner product of
    # two terms plus a bias, gamma_3 (|w|.|x| + |b|) = gamma_3, and the float64 norm carries a factor 1 +- 2^-52
    from verify.numerics.graph import SAFETY, gamma, unit_roundoff

    e, q = gamma(3, unit_roundoff(dtype)) * SAFETY, 1 + 2.0 ** -52       # SAFETY: the engine rounds bounds up
    exact = 0.5 / math.sqrt(2)
    assert (0.5 - e) / (math.sqrt(2) * SAFETY * q) <= lin.kink_distance[1].item() <= exact * q


def test_constant_ties_are_not_kinks():
    # a max-pool window over dead ReLUs ties at 0 with identical (zero) affine maps: not a kink
    conv = torch.nn.Conv2d(1, 1, 1, bias=True).double()
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.fill_(-100.0)
    m = torch.nn.Sequential(conv, torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                            torch.nn.Linear(4, 3)).double().eval()
    x = torch.rand(2, 1, 4, 4, dtype=torch.float64)
    lin = linearize(m, x)
    assert not lin.on_kink.any() and (lin.kink_distance > 90).all()  # the ReLUs' own kinks are far
    assert not lin.at_kink.any()                                     # the tie is exact, but constant
    exact_linearize(from_torch(m, (1, 4, 4)), x[0])  # theory agrees: no KinkError


# ---- validation at the boundary ------------------------------------------------------------------------------
def _mlp(dtype=torch.float64, K=3):
    return NetSpec("mlp", (4,), (5,), K, "relu", None, True, 0).build(dtype=dtype)


def test_errors():
    m = _mlp()
    x = torch.zeros(2, 4, dtype=torch.float64)
    with pytest.raises(NonFiniteError, match=r"expected finite numbers, got nan at index \(1, 2\)"):
        linearize(m, x.clone().index_put_((torch.tensor([1]), torch.tensor([2])), torch.tensor(math.nan, dtype=torch.float64)))
    with pytest.raises(NonFiniteError, match="got inf"):
        linearize(m, torch.full((1, 4), math.inf, dtype=torch.float64))
    with pytest.raises(ShapeError, match=r"expected an input of shape \(4,\), got shape \(5,\)"):
        linearize(m, torch.zeros(2, 5, dtype=torch.float64))
    with pytest.raises(ShapeError, match=r"expected a batch of shape \(B, \*in_shape\), got shape \(4,\)"):
        linearize(m, torch.zeros(4, dtype=torch.float64))
    with pytest.raises(TooFewClassesError, match="K = 1"):
        linearize(_mlp(K=1), x)
    with pytest.raises(EmptyBatchError, match="empty batch of shape"):
        linearize(m, torch.zeros(0, 4, dtype=torch.float64))
    with pytest.raises(UnsupportedLayerError, match="GELU .* is not piecewise linear"):
        linearize(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.GELU(), torch.nn.Linear(3, 2)).double(), x)
    bn = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2)).double()
    with pytest.raises(TrainingModeError, match="training mode"):
        linearize(bn.train(), x)
    linearize(bn.eval(), x)
    drop = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Dropout(0.5), torch.nn.Linear(3, 2)).double()
    with pytest.raises(TrainingModeError, match="Dropout .* training mode"):
        linearize(drop.train(), x)
    with pytest.raises(DeviceMismatchError, match="x is on cpu but the model's parameters are on meta"):
        linearize(_mlp().to("meta"), x)
    with pytest.raises(DTypeMismatchError, match="x has dtype torch.float64 but the model's parameters are torch.float32"):
        linearize(_mlp(torch.float32), x)
    with pytest.raises(DTypeMismatchError, match="expected a float tensor"):
        linearize(m, torch.zeros(2, 4, dtype=torch.long))
    lin = linearize(m, x)
    with pytest.raises(ShapeError, match=r"z: expected shape \(2, 4\)"):
        lin.exit_time(torch.zeros(2, 3, dtype=torch.float64))


def test_cache_follows_weight_updates():
    m = _mlp()
    x = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    J1 = linearize(m, x).jacobian.clone()
    with torch.no_grad():
        m[0].weight.mul_(2)
    lin2 = linearize(m, x)
    J2 = lin2.jacobian
    assert torch.equal(J2, linearize(copy.deepcopy(m), x).jacobian), "a stale compiled model was used"
    assert bool(((J2 - _jacrev(m, x)).abs() <= 2 * lin2.jacobian_bound).all()) and not torch.equal(J1, J2)


def test_within_rounding_of_a_kink_is_not_exactly_on_it():
    """A pre-activation of a few ulps is within its rounding bound of the kink (rounding_doubt: this pass alone
    does not certify the pattern) but not exactly on it (at_kink: autograd's derivative of the float network is
    unambiguous); decided again exactly (a float64 model), its pattern is certified, so it is not on_kink."""
    m = _two_unit_mlp(torch.float64)
    x = torch.tensor([[0.5 + 2.0 ** -52, 0.5]], dtype=torch.float64)      # u_1 = 2^-52, |error bound| > that
    lin = linearize(m, x)
    assert lin.rounding_doubt.tolist() == [True] and lin.at_kink.tolist() == [False]
    assert lin.kinks.codes == ["exact"] and lin.on_kink.tolist() == [False]
    # its kink distance: u_1 = 2^-52 exactly over |a_1| = sqrt 2, certified from below
    assert 0 < lin.kink_distance.item() <= 2.0 ** -52 / math.sqrt(2) * (1 + 2.0 ** -50)
