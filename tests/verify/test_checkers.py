"""The checkers (verify.checkers): every checkable claim has one; run_checks builds one context and returns
Gaps whose claim ids are registered, with the record schemas the figures read; the identities and
inequalities hold within their derived bounds on random networks of every architecture in float64 and
float32; and a checker CAN fail (negative tests: a perturbed J, a wrong closed form, a wrong gradient).
"""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from theory.claims import CLAIMS
from verify.checkers import CHECKERS, make_context, run_checks
from verify.checkers.common import C_GRID, H_GRID
from verify.checkers.liu2022margin import EMR_CLOSED_SWEEP, EMR_COLD_SWEEP, EMR_HOT_SWEEP, T_GRID
from verify.errors import UnknownNameError
from verify.jobs.networks import ARCHS
from verify.numerics.bounds import Bounded
from verify.regularizers import closed_forms as cf

from .helpers import batch

CHECKABLE = [c for c, v in CLAIMS.items() if v.kind != "empirical"]

#: (claim, check) names the figures read; the curvature ones once per h.
REQUIRED = {
    ("local-affine", "f(x) = J x + b"), ("local-affine", "J = torch.func.jacrev"),
    ("local-affine", "float J vs exact J"), ("local-affine", "f(x') = J x' + b for x' in R(x)"),
    ("input-gradient", "grad L = J^T (p - e_y)"), ("input-gradient", "grad L = sum_{j != y} p_j (w_j - w_y)"),
    ("hessian-gauss-newton", "hess L = J^T S J"), ("hessian-gauss-newton", "hess L(x, y) = hess L(x, y')"),
    ("hessian-gauss-newton", "v^T hess L v >= 0 (PSD)"), ("hessian-gauss-newton", "rank hess L <= K - 1"),
    ("hessian-gauss-newton", "lambda_max(S) <= max_i 2 p_i (1 - p_i)"),
    ("hessian-gauss-newton", "max_i 2 p_i (1 - p_i) <= 1/2"), ("hessian-gauss-newton", "tr S = 1 - |p|^2"),
    ("cross-lipschitz-centered-jacobian", "sum |w_l - w_m|^2 = 2K |C J|_F^2"),
    ("cross-lipschitz-centered-jacobian", "sum |w_l - w_m|^2 = 2K |J|_F^2 - 2 |J^T 1|^2"),
    ("cross-lipschitz-centered-jacobian", "sum |w_l - w_m|^2 <= 2K |J|_F^2"),
    ("input-gradient-bounds", "(a1) IG <= |p-e|^2 |CJ|_2^2"),
    ("input-gradient-bounds", "(a2) |p-e|^2 |CJ|_2^2 <= |p-e|^2 CL/(2K)"),
    ("input-gradient-bounds", "(a3) |p-e|^2 CL/(2K) <= |p-e|^2 |J|_F^2"),
    ("input-gradient-bounds", "(b1) IG <= (1 - p_y) sum_{j != y} p_j |w_j - w_y|^2"),
    ("input-gradient-bounds", "(b2) (1 - p_y) sum_{j != y} p_j |w_j - w_y|^2 <= (1 - p_y) CL/2"),
    ("hessian-trace-weighted-cross-lipschitz", "tr hess L = <G, S>"),
    ("hessian-trace-weighted-cross-lipschitz", "1/2 sum p_l p_m |w_l - w_m|^2 = <G, S>"),
    ("hessian-trace-weighted-cross-lipschitz", "E_{yhat~p} |grad L(x, yhat)|^2 = <G, S>"),
    ("curvature-soft-label-gradient", "grad L(x+hz) - grad L(x) = J^T (p(x+hz) - p(x))"),
    ("curvature-soft-label-gradient", "grad L(x+hz) - grad L(x) = grad_x CE(x+hz; p(x))"),
    ("curvature-small-step", "R-CURE vs h^2 |Hz|^2"), ("curvature-small-step", "R-CURE/h^2 = |Hz|^2 + O(h)"),
    ("curvature-region-crossing", "decomposition"), ("curvature-region-crossing", "pattern-change share"),
    ("gram-unification", "matrices"), *(("gram-unification", f"<G, M> = {n}") for n in cf.GRAM_ROWS),
    ("confident-limit", "R-JAC(c f) = c^2 R-JAC(f)"), ("confident-limit", "R-CL(c f) = c^2 R-CL(f)"),
    ("confident-limit", "scale sweep"), ("confident-limit", "R-IG(c f) <= 2 (K-1)^2 c^2 |J|_F^2 exp(-2 c m)"),
    ("confident-limit", "tr H(c f) <= 2 (K-1) c^2 |J|_F^2 exp(-c m)"),
    ("confident-limit", "R-CURE(c f) <= 2 (K-1)^2 c^2 |J|_F^2 (exp(-c m) + exp(-c m'))^2"),
    ("euler-homogeneous", "f(x) = J x"),
    ("effective-margin", "gamma = signed distance to {(w_y - w_j)^T x' + b_y - b_j = 0}"),
    ("effective-margin", "gamma(c f) = gamma(f)"),
    ("effective-margin", "|gamma| <= r(x): gamma is the exact distance to the y-vs-j boundary"),
    ("cross-entropy-scale-variance", "gamma(c f) = gamma(f)"), ("cross-entropy-scale-variance", "scale sweep"),
    ("cross-entropy-scale-variance", "CE(c f) <= (K-1) exp(-c m)"),
    ("cross-entropy-scale-variance", "|grad_x CE(c f)| <= sqrt(2) (K-1) c |J|_F exp(-c m)"),
    ("emr-limits", "temperature sweep"), ("emr-limits", "R-EMR(T=1e6) = |J^T 1|^2/K^2 (hot limit)"),
    ("emr-limits", "R-EMR(T=1e-6) = |w_yhat|^2 (cold limit)"), ("emr-limits", EMR_HOT_SWEEP),
    ("emr-limits", EMR_COLD_SWEEP), ("emr-limits", EMR_CLOSED_SWEEP),
    ("margin-lower-bound", "min(gamma_O / max_j |w_y - w_j|, r(x)) <= min(d_local, r(x))"),
    ("margin-lower-bound", "max_j |w_y - w_j| <= sqrt(2) |J|_2"),
    ("margin-lower-bound", "sqrt(2) |J|_2 <= sqrt(2) prod_l |J_l|_2"),
}


def test_every_checkable_claim_has_a_checker():
    assert sorted(CHECKERS) == sorted(CHECKABLE)
    assert all(CLAIMS[c].kind != "empirical" for c in CHECKERS)
    for cid in ("local-affine", "input-gradient", "hessian-gauss-newton", "cross-lipschitz-centered-jacobian",
                "input-gradient-bounds", "hessian-trace-weighted-cross-lipschitz", "curvature-soft-label-gradient",
                "curvature-small-step", "curvature-region-crossing", "gram-unification", "confident-limit",
                "euler-homogeneous", "effective-margin", "cross-entropy-scale-variance", "emr-limits",
                "margin-lower-bound"):
        assert cid in CHECKERS


def test_grids():
    assert len(H_GRID) >= 10 and H_GRID[0] == pytest.approx(1e-4) and H_GRID[-1] == pytest.approx(3.0)
    assert C_GRID[0] == pytest.approx(0.1) and C_GRID[-1] == pytest.approx(100.0)


@pytest.mark.slow
@pytest.mark.claim(*CHECKABLE)
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1), arch=st.sampled_from(ARCHS), dtype=st.sampled_from([torch.float64, torch.float32]))
@example(seed=0, arch="mlp", dtype=torch.float64)
@example(seed=1, arch="resnet", dtype=torch.float32)
def test_all_claims_hold_within_their_bounds(seed, arch, dtype):
    spec, model, x, y, gen = batch(seed, arch, dtype)
    gaps = run_checks(model, x, y, seed=spec.seed, arch=spec.id, generator=gen)
    names = {(g.claim, g.check) for g in gaps}
    assert REQUIRED <= names, REQUIRED - names
    assert {g.claim for g in gaps} == set(CHECKABLE)
    bad = [g.diagnosis() for g in gaps if g.ok is False]
    assert not bad, "\n".join(bad)
    for g in gaps:
        assert g.claim in CLAIMS and g.dtype == str(dtype).replace("torch.", "") and g.arch == spec.id
        json.dumps(g.to_dict())


@pytest.mark.slow
@pytest.mark.claim(*CHECKABLE)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_every_check_is_informative_somewhere(dtype):
    """A pass counts only where the bound could have seen an error (resolution < 1, see verify.results.gap).
    Over a few networks of every architecture, every sub-check with a verdict (summed over its h or c
    grid) has informative interior points, in float32 as in float64. On one small network a float32
    check can be vacuous (the rounding of a gradient difference swamps it); over several it must not be."""
    tested = {}
    for arch in ARCHS:
        for seed in range(3):
            spec, model, x, y, gen = batch(seed, arch, dtype)
            for g in run_checks(model, x, y, seed=spec.seed, arch=spec.id, generator=gen):
                if g.kind != "measurement":
                    n = tested.setdefault((g.claim, g.check), [0, 0])
                    n[0], n[1] = n[0] + g.n_informative, n[1] + g.n_interior
    vacuous = [key for key, (inf, n) in tested.items() if not inf]
    assert not vacuous, vacuous
    assert {c for c, _ in tested} == set(CHECKABLE)


def test_record_schemas_and_kinks_reported():
    spec, model, x, y, gen = batch(3, "mlp", torch.float64, n=16, kinks=0.5)
    gaps = run_checks(model, x, y, seed=spec.seed, arch=spec.id, generator=gen)
    by = {}
    for g in gaps:
        by.setdefault((g.claim, g.check), []).append(g)
    assert sum(g.n_kinks for g in by[("input-gradient", "grad L = J^T (p - e_y)")]) > 0   # kinks are seen, not hidden
    small = by[("curvature-small-step", "R-CURE vs h^2 |Hz|^2")]
    assert [g.extra["h"] for g in small] == list(H_GRID) and all(g.kind == "measurement" for g in small)
    assert all(g.pattern_changed is not None and len(g.lhs) == 16 for g in small)
    share = by[("curvature-region-crossing", "pattern-change share")]
    for g in share:
        assert set(g.extra) >= {"h", "share", "exit_time"} and len(g.extra["share"]) == len(g.extra["exit_time"]) == 16
        assert all(0 <= s <= 1 for s in g.extra["share"])
    assert [g.extra["h"] for g in by[("curvature-region-crossing", "decomposition")]] == list(H_GRID)
    m = by[("gram-unification", "matrices")][0]
    assert m.lhs == m.rhs == m.bound == [] and set(m.extra) >= {"G", "M", "inner", "definition"}
    K = len(m.extra["G"])
    assert set(m.extra["M"]) == set(cf.GRAM_ROWS) and all(len(v) == K for v in m.extra["M"].values())
    sweep = by[("confident-limit", "scale sweep")][0]
    assert sweep.lhs == [] and set(sweep.extra["series"]) == {"R-IG", "trH", "R-CURE", "R-JAC", "R-CL"}
    assert sweep.extra["c"][0] == pytest.approx(0.1) and sweep.extra["c"][-1] == pytest.approx(100)
    assert all(len(v) == len(sweep.extra["c"]) for v in sweep.extra["series"].values())
    s = sweep.extra["series"]
    # the values themselves are judged by the identity and inequality checks (with their bounds); here,
    # only what the figures draw: R-JAC = c^2 R-JAC(1) rises strictly along the grid (consecutive c differ
    # by a factor far beyond rounding), and R-IG falls at large c
    assert all(a < b for a, b in zip(s["R-JAC"], s["R-JAC"][1:]))
    assert s["R-IG"][-1] < s["R-IG"][len(s["R-IG"]) // 2]                         # falls at large c
    emr = by[("emr-limits", "temperature sweep")][0]
    assert set(emr.extra) >= {"T", "emr", "hot_limit", "cold_limit", "point"}
    assert emr.extra["T"][0] == pytest.approx(1e-3) and emr.extra["T"][-1] == pytest.approx(1e3)
    assert len(emr.extra["emr"]) == len(emr.extra["hot_bound"]) == len(emr.extra["T"]) == len(T_GRID)
    assert emr.extra["cold_bound"] is None or len(emr.extra["cold_bound"]) == len(T_GRID)
    ce = by[("cross-entropy-scale-variance", "scale sweep")][0]
    assert len(ce.extra["series"]["gamma"]) == len(ce.extra["c"])       # its invariance: "gamma(c f) = gamma(f)"
    assert ce.extra["series"]["CE"][-1] < ce.extra["series"]["CE"][0]


@pytest.mark.claim("euler-homogeneous")
def test_euler_homogeneous_only_on_bias_free_networks():
    for bias in (True, False):
        torch.manual_seed(0)
        m = torch.nn.Sequential(torch.nn.Linear(4, 8, bias=bias), torch.nn.ReLU(), torch.nn.Linear(8, 3, bias=bias))
        m = m.double().eval()
        x = torch.randn(6, 4, dtype=torch.float64)
        g, = run_checks(m, x, torch.zeros(6, dtype=torch.long), claims=["euler-homogeneous"], seed=0, arch="t")
        assert g.extra["bias_free"] is (not bias) and (g.n_excluded == 6) is bias and g.ok is True


def test_unknown_and_empirical_claims_raise_keyerror_listing_ids():
    spec, model, x, y, gen = batch(0, "mlp", torch.float64, n=4)
    with pytest.raises(UnknownNameError, match="checkable claim ids: local-affine"):
        run_checks(model, x, y, claims=["no-such-claim"], seed=0, arch="a")
    with pytest.raises(UnknownNameError, match="empirical claim"):
        run_checks(model, x, y, claims=["layer-smoothing"], seed=0, arch="a")


# ---- negative tests: a checker CAN fail ---------------------------------------------------------------------
def _ctx(seed=0, arch="mlp", dtype=torch.float64):
    spec, model, x, y, gen = batch(seed, arch, dtype, n=8, kinks=0.0)
    return make_context(model, x, y, seed=spec.seed, arch=spec.id, generator=gen)


@pytest.mark.claim("input-gradient", "cross-lipschitz-centered-jacobian")
def test_a_perturbed_jacobian_fails_with_a_diagnosis():
    ctx = _ctx()
    J = ctx.J
    ctx.J = Bounded(J.value * (1 + 1e-6), J.err)                                # one part in a million
    gaps = CHECKERS["input-gradient"](ctx) + CHECKERS["cross-lipschitz-centered-jacobian"](ctx)
    failing = [g for g in gaps if g.kind == "identity"]
    assert failing and all(g.ok is False for g in failing)
    assert "[input-gradient]" in failing[0].diagnosis() and "FAILS" in failing[0].diagnosis()


def test_a_wrong_closed_form_fails(monkeypatch):
    ctx = _ctx(arch="maxout")
    from verify.checkers import guo2021connections as guo
    real = cf.hessian_trace
    monkeypatch.setattr(guo.cf, "hessian_trace", lambda J, p: 2 * real(J, p))
    gaps = CHECKERS["hessian-trace-weighted-cross-lipschitz"](ctx)
    assert all(g.ok is False for g in gaps) and "hessian-trace-weighted-cross-lipschitz" in gaps[0].diagnosis()


def test_a_wrong_definition_fails(monkeypatch):
    """A gradient off by one part in a thousand is caught by the input-gradient checker in float32."""
    ctx = _ctx(seed=2, dtype=torch.float32)
    from verify.regularizers import definitions as R
    real = R.unchecked.loss_gradient                          # what the checkers call (the context is checked)
    monkeypatch.setattr(R.unchecked, "loss_gradient", lambda m, x, y, **kw: real(m, x, y, **kw) * 1.001)
    ctx.cache.clear()
    ctx.__dict__.pop("g_def", None)
    gaps = CHECKERS["input-gradient"](ctx)
    assert all(g.ok is False for g in gaps)


@pytest.mark.claim("curvature-small-step", "curvature-region-crossing")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_wrong_curvature_forms_fail_in_both_dtypes(monkeypatch, dtype):
    """A Hessian-vector product twice too large, and a CURE decomposition 1.5 times too large, fail the
    curvature checks at their informative points, in float32 too (where small h is uninformative)."""
    from verify.checkers import guo2021connections as guo
    ctx = _ctx(seed=0, arch="mlp", dtype=dtype)
    hvp, dec = cf.hvp, cf.cure_decomposition
    monkeypatch.setattr(guo.cf, "hvp", lambda J, p, V: hvp(J, p, V) * 2.0)
    monkeypatch.setattr(guo.cf, "cure_decomposition", lambda *a: tuple(t * 1.5 for t in dec(*a)))
    small = [g for g in CHECKERS["curvature-small-step"](ctx) if g.kind == "identity"]
    crossing = [g for g in CHECKERS["curvature-region-crossing"](ctx) if g.kind == "identity"]
    for gaps in (small, crossing):
        assert sum(g.n_informative for g in gaps) > 0
        assert any(g.ok is False for g in gaps)
        # every informative point of every h sees the error
        for g in gaps:
            assert set(g.informative_points()) <= set(g.failures)


def _emr_sweeps(ctx):
    """The emr-limits gaps of one context: (hot sweep, cold sweep, temperature-sweep measurement, closed-form
    sweep)."""
    by = {g.check: g for g in CHECKERS["emr-limits"](ctx)}
    return by[EMR_HOT_SWEEP], by[EMR_COLD_SWEEP], by["temperature sweep"], by[EMR_CLOSED_SWEEP]


@pytest.mark.claim("emr-limits")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_emr_sweep_holds_and_is_informative_on_both_sides(dtype):
    """At every T of T_GRID and every point, R-EMR(T) lies within the derived truncation bound (plus rounding)
    of both limits, and each side is informative somewhere: the hot side towards T = 1e3, the cold side
    towards T = 1e-3, on every architecture. The measurement for the figure carries the judged values and
    bounds of its point."""
    B, n_T = 8, len(T_GRID)
    for arch in ARCHS:
        informative = {"hot": [0] * n_T, "cold": [0] * n_T}
        for seed in range(2):
            hot, cold, sweep, closed = _emr_sweeps(_ctx(seed=seed, arch=arch, dtype=dtype))
            assert closed.ok is True and closed.n_points == n_T * B and closed.lhs == hot.lhs, closed.diagnosis()
            assert closed.n_informative == closed.n_interior > 0, closed.diagnosis()
            for g, side in ((hot, "hot"), (cold, "cold")):
                assert g.ok is True and g.kind == "identity", g.diagnosis()
                assert g.n_points == n_T * B and g.extra["side"] == side
                assert g.extra["T"] == [T for T in sweep.extra["T"] for _ in range(B)]
                for k in g.informative_points():
                    informative[side][k // B] += 1
            i = sweep.extra["point"]
            at = [t * B + i for t in range(n_T)]
            assert sweep.extra["emr"] == [hot.lhs[k] for k in at] == [cold.lhs[k] for k in at]
            assert sweep.extra["hot_bound"] == [hot.bound[k] for k in at]
            assert sweep.extra["hot_limit"] == hot.rhs[i] and sweep.extra["cold_limit"] == cold.rhs[i]
            assert sweep.extra["cold_bound"] == (None if cold.excluded[i] else [cold.bound[k] for k in at])
        hot_T, cold_T = informative["hot"], informative["cold"]
        assert hot_T[-1] > 0 and cold_T[0] > 0, (arch, informative)
        # the bounds shrink towards their own limit: each side is informative mostly at its own end
        assert sum(hot_T[n_T // 2 + 1:]) > sum(hot_T[:n_T // 2]) and sum(cold_T[:n_T // 2]) > sum(cold_T[n_T // 2 + 1:])


@pytest.mark.claim("emr-limits")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_wrong_emr_definitions_fail_the_sweep_in_both_dtypes(monkeypatch, dtype):
    """A factor 2 in R-EMR, and the temperature used as an inverse temperature (softmax(f T)), fail the
    sweep at informative points of both sides; softmax(f/T^2) fails the closed-form sweep.

    The factor 2 is caught wherever it must be: unplanted, the float R-EMR L is within the bound b of the
    limit R; planted, the value is 2L exactly and its bound b' >= b (the bound of 2 X is at least twice
    that of X), so |2L - R| >= L - b >= L - b' > b' wherever L > 2 b' (the planted value 2L > 4 b'). A bug that only speeds up the
    approach to both limits, such as softmax(f/T^2), stays inside the bands (the limits cannot see it), so
    it is checked against the closed form at the same T."""
    from verify.checkers import liu2022margin as liu
    from verify.checkers.common import CheckContext

    ctxs = [_ctx(seed=s, arch=a, dtype=dtype) for a in ("mlp", "cnn") for s in range(2)]
    real_def = liu._emr_def
    monkeypatch.setattr(liu, "_emr_def", lambda ctx, T, m_lo: 2 * real_def(ctx, T, m_lo))
    must_fail = {"hot": 0, "cold": 0}
    for ctx in ctxs:
        for g in _emr_sweeps(ctx)[:2]:
            must = [i for i in g._interior() if g.lhs[i] > 4 * g.bound[i]]
            assert set(must) <= set(g.failures), g.diagnosis()
            assert set(must) <= set(g.informative_points())
            must_fail[g.extra["side"]] += len(must)
    assert must_fail["hot"] > 0 and must_fail["cold"] > 0, must_fail
    monkeypatch.setattr(liu, "_emr_def", real_def)
    real_grad = CheckContext.emr_grad
    monkeypatch.setattr(CheckContext, "emr_grad", lambda self, T, model=None, x=None: real_grad(self, 1.0 / T, model, x))
    caught = {"hot": 0, "cold": 0}
    for ctx in ctxs:
        for g in _emr_sweeps(ctx)[:2]:
            assert g.ok is False
            caught[g.extra["side"]] += len(set(g.failures) & set(g.informative_points()))
    assert caught["hot"] > 0 and caught["cold"] > 0, caught
    # softmax(f/T^2): inside both limit bands, but the closed-form identity sees it at every T != 1
    monkeypatch.setattr(CheckContext, "emr_grad", lambda self, T, model=None, x=None: real_grad(self, T * T, model, x))
    for ctx in ctxs:
        closed = _emr_sweeps(ctx)[3]
        T = closed.extra["T"]
        wrong = [i for i in closed.informative_points() if abs(T[i] - 1) > 0.5 and abs(closed.lhs[i] - closed.rhs[i]) > 0]
        assert wrong and set(wrong) & set(closed.failures), closed.diagnosis()


def test_gap_resolution_flags_checks_that_cannot_see_an_error():
    """A bound of half the values' size or more (a factor-2 error could pass), an infinite bound, or
    values that are both 0 make a point uninformative; a check with interior points but no informative one is vacuous; a given scale
    replaces max(|lhs|, |rhs|)."""
    from verify.results.gap import Gap
    kw = dict(dtype="float32", device="cpu", seed=0, arch="t")
    g = Gap("input-gradient", "c", "identity", lhs=[1.0, 1.0, 0.0, 2.0, 1.0], rhs=[1.5, 1.0, 0.0, 2.0, 2.0],
            bound=[0.375, float("inf"), 0.0, 1e-6, 1.0], on_kink=[False, False, False, True, False], **kw)
    assert g.resolution[:3] == [0.25, float("inf"), float("inf")] and g.resolution[3:] == [5e-7, 0.5]
    assert g.informative_points() == [0] and g.n_interior == 4 and g.n_informative == 1 and not g.vacuous
    assert "1 of 4 interior points informative" in g.diagnosis()
    v = Gap("input-gradient", "c", "identity", lhs=[1.0], rhs=[1.0], bound=[3.0], **kw)
    assert v.ok and v.vacuous
    psd = Gap("hessian-gauss-newton", "c", "inequality", lhs=[0.0], rhs=[-1e-9], bound=[1e-8], scale=[2.0], **kw)
    assert psd.ok and psd.resolution == [5e-9] and not psd.vacuous
    assert Gap.from_dict(psd.to_dict()) == psd
    m = Gap("input-gradient", "c", "measurement", lhs=[1.0], rhs=[2.0], bound=[0.0], **kw)
    assert m.n_informative == 0 and not m.vacuous


def test_sweep_summary_calls_a_claim_with_only_vacuous_checks_vacuous():
    from verify.results.gap import Gap
    from verify.results.summary import format_table, summarize, vacuous_summary
    kw = dict(dtype="float32", device="cpu", seed=0, arch="t")
    rec = lambda gaps: {"network": {"index": 0, "device": "cpu"}, "run": {"dtype": "float32"}, "gaps": gaps}
    wide = Gap("input-gradient", "wide", "identity", lhs=[1.0], rhs=[1.0], bound=[5.0], extra={"h": 0.5}, **kw)
    tight = Gap("euler-homogeneous", "tight", "identity", lhs=[1.0], rhs=[1.0], bound=[1e-6], **kw)
    rows = {r.claim: r for r in summarize([rec([wide, tight])])}
    assert rows["input-gradient"].status == "VACUOUS" and rows["euler-homogeneous"].status == "HOLDS"
    assert rows["input-gradient"].vacuous == [("wide", "float32", 0.5, None)]
    assert vacuous_summary(list(rows.values())).splitlines()[1] == "  input-gradient: wide (float32, h = 0.5)"
    table = format_table(list(rows.values()))
    assert "informative" in table.splitlines()[0] and " 0/1 " in table and " 1/1 " in table


def test_a_false_inequality_is_reported_failing():
    """An inequality that does not hold reports its counterexample: lhs > rhs beyond the bound."""
    ctx = _ctx()
    lhs = Bounded(torch.ones(ctx.B, dtype=torch.float64))
    g = ctx.gap("margin-lower-bound", "made-up", "inequality", lhs, lhs * 0.5)
    assert g.ok is False and g.slack[0] == -0.5 and "lhs=1.0 <= rhs=0.5" in g.diagnosis()


def test_local_affine_jacrev_check_is_right_for_per_channel_prelu_when_batch_equals_classes():
    """torch 2.13's vmap(jacrev) returns wrong Jacobians through a per-channel PReLU when B == K;
    the local-affine checker must not use it there, so the comparison with jacrev holds."""
    import torch

    from verify.checkers import run_checks

    g = torch.Generator().manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.PReLU(4), torch.nn.Linear(4, 3)).double().eval()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.rand(p.shape, generator=g, dtype=torch.float64) - 0.5)
        m[1].weight.copy_(torch.tensor([0.1, 0.3, 0.6, 0.9], dtype=torch.float64))
    x = torch.randn(3, 3, generator=g, dtype=torch.float64)   # B == K == 3
    y = torch.tensor([0, 1, 2])
    gaps = run_checks(m, x, y, claims=["local-affine"], seed=0, arch="prelu-3x4x3")
    (jac,) = [gp for gp in gaps if gp.check == "J = torch.func.jacrev"]
    assert jac.ok, jac.diagnosis()
    assert jac.extra["jacrev"].startswith("jacrev per example")
