"""The derived closed forms (verify.regularizers.closed_forms) against the definitions (verify.regularizers, autograd),
within the rounding bounds of verify.numerics.bounds; and the bound algebra itself against exact arithmetic.

Hypothesis draws an integer seed (it manages only ``random``), from which the network description and a
``torch.Generator`` for the inputs are made. Inputs are drawn away from kinks; points that still are within
rounding of a kink (``lin.on_kink``) are left out of the comparison, as the claims assume interior points.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal, getcontext
from fractions import Fraction

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from verify.checkers import CHECKERS, make_context
from verify.jobs.networks import ARCHS, draw_inputs, draw_spec
from verify.numerics.bounds import (
    Bounded,
    const,
    cross_entropy,
    eig_extreme,
    gamma,
    onehot,
    softmax,
    sq_norm,
    unit_roundoff,
    vjp_err,
)
from verify.numerics.linearize import linearize
from verify.regularizers import closed_forms as cf
from verify.regularizers import definitions as R

from .within import assert_within, sides

DTYPES = (torch.float64, torch.float32)

# The definitions warn when an example is within rounding of a kink (verify.regularizers, on_kink="warn");
# these tests find those examples themselves (lin.on_kink) and leave them out of every comparison.
pytestmark = pytest.mark.filterwarnings("ignore::verify.errors.KinkWarning")


def make_case(seed: int, arch: str, dtype, n: int = 6):
    spec = draw_spec(random.Random(seed), size="quick", arch=arch)
    model = spec.build(dtype=dtype)
    x, y = draw_inputs(model, spec, n, generator=torch.Generator().manual_seed(seed), near_kink_fraction=0.0)
    return model, x, y, linearize(model, x)


case_args = dict(seed=st.integers(0, 2 ** 31 - 1), arch=st.sampled_from(ARCHS), dtype=st.sampled_from(DTYPES))


@pytest.mark.claim("input-gradient", "hessian-gauss-newton", "hessian-trace-weighted-cross-lipschitz")
@settings(max_examples=10, deadline=None)
@given(**case_args)
@example(seed=0, arch="mlp", dtype=torch.float64)
@example(seed=3, arch="cnn", dtype=torch.float32)
def test_gradient_hessian_and_trace_forms_match_autograd(seed, arch, dtype):
    """input-gradient, hessian-gauss-newton and hessian-trace-weighted-cross-lipschitz closed forms."""
    model, x, y, lin = make_case(seed, arch, dtype)
    J, f, p, keep = sides(lin)
    B, K, D = lin.B, lin.K, lin.D
    g = Bounded(R.loss_gradient(model, x, y).reshape(B, -1), vjp_err(J, p - onehot(y, K, p)))
    assert_within(g, cf.input_gradient(J, p, y), keep, "grad L = J^T (p - e_y)")
    assert_within(g, cf.input_gradient_pairwise(J, p, y), keep, "grad L = sum_j p_j (w_j - w_y)")
    S = cf.softmax_covariance(p)
    if D <= 64:
        H = Bounded(R.hessian(model, x, y).reshape(B, D, D), vjp_err(J, S @ J))
        assert_within(H, cf.hessian(J, p), keep, "hess L = J^T S J")
    V = torch.randn(B, 3, D, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(dtype)
    HV = Bounded(R.hessian(model, x, y, directions=V), vjp_err(J, S @ (J @ V.mT)).mT)
    assert_within(HV, cf.hvp(J, p, V), keep, "H v")
    U = S @ J
    diag_err = (J.err * (U.abs64 + 2 * U.err) + (J.abs64 + J.err) * U.err).sum(-2)
    tr = Bounded(R.hessian_diagonal(model, x, y), diag_err).sum(-1)
    for form in (cf.hessian_trace(J, p), cf.weighted_cross_lipschitz(J, p), cf.expected_gradient_norm(J, p)):
        assert_within(tr, form, keep, "tr H")


@pytest.mark.claim("cross-lipschitz-centered-jacobian")
@settings(max_examples=10, deadline=None)
@given(**case_args)
@example(seed=1, arch="maxout", dtype=torch.float32)
def test_jacobian_forms_match_autograd(seed, arch, dtype):
    """R-JAC, R-CL (three forms), softmax Jacobian and R-EMR closed forms against their definitions."""
    model, x, y, lin = make_case(seed, arch, dtype)
    J, f, p, keep = sides(lin)
    Jd = Bounded(R.logit_jacobian(model, x), lin.jacobian_bound)
    assert_within(Jd, J, keep, "J")
    jac = cf.jacobian_norm(Jd)
    # the public regularizers compute these sums of the autograd rows (in their own order): each is
    # within the same rounding bound of the exact value
    assert_within(jac, Bounded(R.jacobian(model, x), jac.err), keep, "R.jacobian")
    cl = cf.cross_lipschitz_pairwise(Jd)
    assert_within(cl, Bounded(R.cross_lipschitz(model, x), cl.err), keep, "R.cross_lipschitz")
    for form in (cf.cross_lipschitz_centered(J), cf.cross_lipschitz_expanded(J)):
        assert_within(cl, form, keep, "cross-Lipschitz")
    S = cf.softmax_covariance(p)
    smj = R.softmax_jacobian(model, x)
    rows = torch.stack([R.unchecked.logit_jacobian(_Soft(model), x)])[0]   # softmax: outside the theory, on purpose
    smj_rows = sq_norm(Bounded(rows, vjp_err(J, S).mT), (-2, -1))
    assert_within(smj_rows, Bounded(smj, smj_rows.err), keep, "R.softmax_jacobian")
    assert_within(smj_rows, cf.softmax_jacobian_norm(J, p), keep, "|S J|_F^2")
    xl = x.detach().clone().requires_grad_(True)
    out = model(xl)
    g = torch.autograd.grad((torch.softmax(out.detach(), 1) * out).sum(), xl)[0].reshape(lin.B, -1)
    emr = sq_norm(Bounded(g, vjp_err(J, p)), -1)
    assert_within(emr, Bounded(R.emr(model, x), emr.err), keep, "R.emr")
    assert_within(emr, cf.emr(J, p), keep, "R-EMR")


@pytest.mark.claim("curvature-soft-label-gradient", "curvature-region-crossing")
@settings(max_examples=8, deadline=None)
@given(**case_args, h=st.sampled_from([1e-3, 0.1, 1.0, 3.0]))
@example(seed=0, arch="mlp", dtype=torch.float64, h=1e-3)
@example(seed=2, arch="cnn", dtype=torch.float32, h=1e-3)
def test_curvature_forms(seed, arch, dtype, h):
    """curvature-soft-label-gradient (same region) and curvature-region-crossing (any region). At a large h
    no point may stay in its region: the same-region check then has nothing to compare, and the pinned
    small-h examples must compare it."""
    model, x, y, lin = make_case(seed, arch, dtype)
    J, f, p, keep = sides(lin)
    B, K = lin.B, lin.K
    g0 = Bounded(R.loss_gradient(model, x, y).reshape(B, -1), vjp_err(J, p - onehot(y, K, p)))
    z = R.cure_direction(g0.value.reshape(x.shape))
    x2 = x + h * z
    lin2 = linearize(model, x2)
    J2, p2 = Bounded(lin2.jacobian, lin2.jacobian_bound), softmax(Bounded(lin2.logits, lin2.logits_bound))
    g1 = Bounded(R.loss_gradient(model, x2, y).reshape(B, -1), vjp_err(J2, p2 - onehot(y, K, p2)))
    keep = keep & ~lin2.on_kink
    cure = sq_norm(g1 - g0, -1)
    assert_within(cure, Bounded(R.curvature(model, x, y, h=h), cure.err), keep, "R.curvature")
    inside, change = cf.cure_decomposition(J, p, J2, p2, y)
    assert_within(cure, sq_norm(inside + change, -1), keep, "decomposition")
    same = lin.same_pattern(lin2)
    if h <= 1e-3 or bool((keep & same).any()):      # required to compare at the pinned small h
        assert_within(g1 - g0, cf.cure_soft_label(J, p2, p), keep & same, "soft label")
    assert bool((change.value.abs().amax(-1)[same] == 0).all())   # J' = J in the same region


@pytest.mark.claim("effective-margin", "emr-limits")
@settings(max_examples=8, deadline=None)
@given(**case_args)
def test_margin_and_emr_forms(seed, arch, dtype):
    """effective-margin: gamma = distance to the local hyperplane; the emr-limits closed forms."""
    model, x, y, lin = make_case(seed, arch, dtype)
    J, f, p, keep = sides(lin)
    j = cf.strongest_other(lin.logits, y)
    gam = R.effective_margin(model, x, y, j=j)
    xf = x.reshape(lin.B, -1)
    b = f - (J @ xf.unsqueeze(-1)).squeeze(-1)
    b = Bounded(lin.bias, b.err)
    dist = cf.hyperplane_distance(J, b, xf, y, j)
    gb = cf.effective_margin(J, f, y, j)
    assert_within(Bounded(gam, gb.err), dist, keep & (gb.value.abs() < math.inf), "gamma")
    # the EMR limits differ from the definition by a truncation term as well as rounding: the emr-limits
    # checker derives both; here it must pass, and at points where its bound could see a factor-2 error
    for g in CHECKERS["emr-limits"](make_context(model, x, y, seed=seed, arch=arch)):
        if g.kind == "identity":
            assert g.ok is True and g.n_informative > 0, g.diagnosis()


@pytest.mark.claim("gram-unification")
def test_gram_unification_matrices_reproduce_the_forms():
    """<G, M> for every row equals the regularizer's own closed form (float64, algebraic): both sides are
    evaluated with their rounding bounds (verify.numerics.bounds; J, p and z taken as exact inputs) and must agree
    within the sum of the two, at every example, and the bounds must be able to see a factor-2 error."""
    g = torch.Generator().manual_seed(0)
    B, K, D = 4, 5, 7
    J = Bounded(torch.randn(B, K, D, generator=g, dtype=torch.float64))
    p = Bounded(torch.softmax(torch.randn(B, K, generator=g, dtype=torch.float64), 1))
    y = torch.tensor([0, 1, 2, 4])
    z = torch.randn(B, D, generator=g, dtype=torch.float64)
    G = cf.gram(J)
    M = cf.weighting_matrices(p, y, p)
    want = {"R-JAC": cf.jacobian_norm(J), "R-CL": cf.cross_lipschitz_pairwise(J),
            "R-IG": sq_norm(cf.input_gradient(J, p, y), -1), "trH": cf.hessian_trace(J, p),
            "R-EMR": cf.emr(J, p), "softmax-Jacobian": cf.softmax_jacobian_norm(J, p)}
    h = 0.01
    pairs = [(name, cf.gram_inner(G, M[name]), val) for name, val in want.items()]
    pairs.append(("R-CURE", cf.gram_inner(G, cf.cure_weighting(J, p, z)) * (h * h), cf.cure_small_step(J, p, z, h=h)))
    everyone = torch.ones(B, dtype=torch.bool)
    for name, inner, val in pairs:
        assert_within(inner, val, everyone, f"<G, M> = {name}")
        size = torch.maximum(inner.abs64, val.abs64)
        assert bool(((inner.bound() + val.bound()) < 0.5 * size).all()), f"{name}: bound too coarse"
    assert set(cf.GRAM_ROWS) == set(want) | {"R-CURE/h^2 (h->0)"}


@pytest.mark.claim("input-gradient")
def test_a_wrong_closed_form_is_caught():
    """NEGATIVE: J^T (p + e_y) instead of J^T (p - e_y) is outside the bound."""
    model, x, y, lin = make_case(0, "mlp", torch.float64)
    J, f, p, keep = sides(lin)
    g = Bounded(R.loss_gradient(model, x, y).reshape(lin.B, -1), vjp_err(J, p - onehot(y, lin.K, p)))
    wrong = (J.mT @ (p + onehot(y, lin.K, p)).unsqueeze(-1)).squeeze(-1)
    with pytest.raises(AssertionError, match="outside the bound"):
        assert_within(g, wrong, keep, "wrong form")


# ---- the bound algebra against exact arithmetic ----------------------------------------------------------
def _exact(t: torch.Tensor):
    return [Fraction(v) for v in t.double().reshape(-1).tolist()]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1), dtype=st.sampled_from(DTYPES))
def test_bounded_rules_hold_exactly(seed, dtype):
    """sum (with cancellation), sq_norm, matmul, division and sqrt: |fl - exact| <= err, in Fractions."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(9, generator=g, dtype=torch.float64).to(dtype)
    a = torch.cat([a, -a[:4] * (1 + 1e-3)])                      # cancellation
    b = torch.randn(13, generator=g, dtype=torch.float64).to(dtype)
    A, Bb = Bounded(a), Bounded(b)
    ea, eb = _exact(a), _exact(b)
    checks = [(A.sum(0), sum(ea)), (A.sq_norm(0), sum(v * v for v in ea)),
              (A.unsqueeze(0) @ Bb.unsqueeze(1), sum(p * q for p, q in zip(ea, eb))),
              ((A * Bb).sum(0) - A.sq_norm(0), sum(p * q for p, q in zip(ea, eb)) - sum(v * v for v in ea))]
    num, den = A.sum(0), Bb.sq_norm(0)
    checks.append((num / den, sum(ea) / sum(v * v for v in eb)))
    for got, exact in checks:
        err = abs(Fraction(float(got.value.reshape(()))) - exact)
        assert err <= Fraction(float(got.bound().reshape(()))), (float(err), float(got.bound()))
    s = Bounded(torch.tensor(2.0, dtype=dtype)).sqrt()
    getcontext().prec = 60
    assert abs(Decimal(float(s.value)) - Decimal(2).sqrt()) <= Decimal(float(s.bound()))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1), scale=st.sampled_from([1.0, 10.0, 100.0]))
def test_softmax_and_cross_entropy_bounds(seed, scale):
    """float32 softmax of logits known within e_f, against float64 softmax of the exact logits."""
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(5, 7, generator=g, dtype=torch.float64) * scale
    noise = (torch.rand(5, 7, generator=g, dtype=torch.float64) - 0.5) * 2e-6 * scale
    f32 = (f + noise).float()
    ef = (f32.double() - f).abs() * (1 + 2.0 ** -52)   # the float64 subtraction rounds once (relative 2^-53)
    p = softmax(Bounded(f32, ef))
    assert bool(((p.value.double() - torch.softmax(f, 1)).abs() <= p.bound()).all())
    y = torch.randint(0, 7, (5,), generator=g)
    L = cross_entropy(Bounded(f32, ef), y)
    assert bool(((L.value.double() - torch.nn.functional.cross_entropy(f, y, reduction="none")).abs() <= L.bound()).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_softmax_and_cross_entropy_rounding_alone(dtype, scale):
    """Exact logits (err 0), so the bound is its rounding part alone, against the softmax and the
    cross-entropy computed with 60 significant digits (mpmath) from the same float logits."""
    import mpmath

    mpmath.mp.dps = 60
    g = torch.Generator().manual_seed(int(scale))
    f = (torch.randn(64, 10, generator=g, dtype=torch.float64) * scale).to(dtype)
    y = torch.randint(0, 10, (64,), generator=g)
    p, L = softmax(Bounded(f)), cross_entropy(Bounded(f), y)
    worst = 0.0
    for i in range(f.shape[0]):
        row = [mpmath.mpf(float(v)) for v in f[i]]
        z = mpmath.fsum(mpmath.exp(v) for v in row)
        for k, v in enumerate(row):
            err = abs(mpmath.mpf(float(p.value[i, k])) - mpmath.exp(v) / z)
            assert err <= mpmath.mpf(float(p.bound()[i, k])), (i, k, float(err), float(p.bound()[i, k]))
            worst = max(worst, float(err))
        ce = mpmath.log(z) - row[int(y[i])]
        assert abs(mpmath.mpf(float(L.value[i])) - ce) <= mpmath.mpf(float(L.bound()[i])), i
    assert worst > 0, "the float softmax was exact everywhere: the bound's rounding part went untested"


def test_bound_helpers():
    assert unit_roundoff("float32") == 2 ** -24 and gamma(2, 0.25) == 1.0 and gamma(4, 0.25) == math.inf
    with pytest.raises(ValueError, match="unsupported dtype"):
        unit_roundoff(torch.int32)
    assert float(const(0.5, torch.zeros(1)).err) == 0 and float(const(0.1, torch.zeros(1)).err) > 0
    S = Bounded(torch.tensor([[[2.0, 1.0], [1.0, 2.0]]], dtype=torch.float64))
    lam = eig_extreme(S)
    assert abs(float(lam.value) - 3) <= float(lam.bound())


class _Soft(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return torch.softmax(self.m(x), 1)
