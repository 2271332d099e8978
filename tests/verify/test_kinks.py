"""Kinks decided for real (:mod:`verify.numerics.kinks`): a point within its dtype's rounding of a kink is decided again
from the same network in float64, then exactly; the decisions are checked against the exact engine.

- constructed cases, one per outcome: a pre-activation exactly 0 in rationals stays a (real) kink; one
  that float32 rounds to the wrong side is reported wrong; one a few ulps from 0 is recovered (by float64,
  or exactly for a float64 model); a max unit's exact tie is a kink, its near-tie recovered; an exact stage
  that is too large leaves the point undecided, and says why;
- a float32 MLP trained by plain SGD: the points in doubt are recovered, every recovered point's float32
  signs are the exact engine's, the checks judge them (informative, holding, no kink left), and
  ``python -m verify --model`` checks it in float32 and float64 and counts what it recovered.
"""

from __future__ import annotations

import json
import re

import pytest
import torch
import torch.nn as nn

from theory import KinkError, from_torch
from theory import linearize as exact_linearize
from verify.checkers import run_checks
from verify.cli import main
from verify.modules import Abs, MaxoutUnit
from verify.numerics.kinks import KinkDecision, combine_codes, confirm_own_pass, redecide_kinks
from verify.numerics.linearize import linearize
from verify.results.gap import Gap


def _chain(b1: float, b2: float, dtype) -> nn.Module:
    """x -> relu(x + b1) -> relu(h + b2) -> (g, -g): two one-input units in a row."""
    m = nn.Sequential(nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 2, bias=False)).to(dtype)
    with torch.no_grad():
        for k, b in ((0, b1), (2, b2)):
            m[k].weight.fill_(1.0)
            m[k].bias.fill_(b)
        m[4].weight.copy_(torch.tensor([[1.0], [-1.0]]))
    return m.eval()


def _maxout(w2: float) -> nn.Module:
    """x -> max(x_1, w2 x_2) -> (m, m)."""
    m = nn.Sequential(nn.Linear(2, 2, bias=False), MaxoutUnit(2), nn.Linear(1, 2, bias=False)).eval()
    with torch.no_grad():
        m[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, w2]]))
        m[2].weight.fill_(1.0)
    return m


# ---- constructed cases ------------------------------------------------------------------------------------
@pytest.mark.claim("local-affine")
def test_a_preactivation_exactly_zero_stays_a_kink():
    """u_2 = (1 + 0) - 1 = 0 in rationals: within rounding in float32 and in float64, exactly 0: a real kink."""
    m = _chain(0.0, -1.0, torch.float32)
    lin = linearize(m, torch.ones(1, 1))
    assert lin.rounding_doubt.tolist() == [True]
    assert lin.kinks.codes == ["kink"] and lin.on_kink.tolist() == [True] and lin.kink_distance.item() == 0.0
    with pytest.raises(KinkError):
        exact_linearize(from_torch(m, (1,)), [1.0])


@pytest.mark.claim("local-affine")
def test_a_sign_that_float32_rounds_wrong_is_reported():
    """u_1 = 1 + 2^-25 rounds to 1 in float32 (half an ulp is 2^-24), so u_2 = u_1 - 1 is 0 in float32 (the
    float pattern says 'off') but 2^-25 > 0 exactly: float64 certifies the float32 side is wrong."""
    m = _chain(2.0 ** -25, -1.0, torch.float32)
    x = torch.ones(1, 1)
    lin = linearize(m, x)
    assert lin.pattern["3:3"].tolist() == [[-1]]                          # float32: u_2 <= 0
    r = exact_linearize(from_torch(m, (1,)), [1.0])                        # exact: no kink, u_2 > 0
    assert r.pattern["3:3"] == (1,)
    assert lin.kinks.codes == ["wrong"] and lin.on_kink.tolist() == [True] and lin.kink_distance.item() == 0.0
    assert "1 float32 pattern wrong" in lin.kinks.summary()
    # the checks do not judge it, and say why
    gaps = run_checks(m, x, torch.tensor([0]), claims=["input-gradient"], seed=0, arch="chain")
    assert all(g.on_kink == [True] and g.kink_decision == ["wrong"] and g.n_interior == 0 for g in gaps)


@pytest.mark.claim("local-affine")
def test_a_few_ulps_from_a_kink_is_recovered():
    """u_2 = 2^-22 exactly, within float32's bound of u_2 (about 3 u |terms|): float64 certifies the side."""
    m = _chain(2.0 ** -22, -1.0, torch.float32)
    lin = linearize(m, torch.ones(1, 1))
    assert lin.rounding_doubt.tolist() == [True] and lin.kinks.codes == ["float64"] and lin.on_kink.tolist() == [False]
    # the kink distance is now a certified positive lower bound of the exact one, 2^-22 / |a| with |a| = 1
    assert 0 < lin.kink_distance.item() <= 2.0 ** -22
    # a float64 model cannot be decided again in float64: the exact stage decides it
    m64 = _chain(2.0 ** -52, -1.0, torch.float64)
    lin64 = linearize(m64, torch.ones(1, 1, dtype=torch.float64))
    assert lin64.rounding_doubt.tolist() == [True] and lin64.kinks.codes == ["exact"]
    assert 0 < lin64.kink_distance.item() <= 2.0 ** -52


@pytest.mark.claim("local-affine")
def test_max_unit_ties():
    """Maxout over (x_1, x_2): an exact tie of two different affine functions is a kink; a near tie, recovered."""
    m = nn.Sequential(nn.Linear(2, 2, bias=False), MaxoutUnit(2), nn.Linear(1, 2, bias=False)).eval()
    with torch.no_grad():
        m[0].weight.copy_(torch.eye(2))
        m[2].weight.copy_(torch.tensor([[1.0], [-1.0]]))
    x = torch.tensor([[1.0, 1.0], [1.0, 1.0 - 2.0 ** -24], [2.0, 1.0]])
    d = linearize(m, x).kinks
    assert d.codes == ["kink", "float64", ""] and d.counts()["kink"] == 1


@pytest.mark.claim("local-affine")
def test_a_float_tie_is_not_judged():
    """u_1 = 1 - 2^-26 rounds to 1 in float32, so u_2 = u_1 - 1 is exactly 0 in float32 and -2^-26 exactly: the
    float side (off) is right, but autograd differentiates at a float kink, where its side is a convention
    (torch.abs: 0; a PReLU's double backprop: the on side): a float tie, not judged, whatever the activation.
    Likewise a maxout whose float tie is no exact tie. 2^-22 from the kink in float, the same unit is judged."""
    x = torch.ones(1, 1)
    for act in (nn.ReLU(), Abs(), nn.PReLU(1, init=0.25)):
        m = _chain(-(2.0 ** -26), -1.0, torch.float32)
        m[3] = act
        lin = linearize(m, x)
        assert lin.at_kink.tolist() == [True] and lin.kinks.codes == ["float-tie"] and lin.on_kink.tolist() == [True]
        assert "1 exactly on a kink in float32 though not exactly" in lin.kinks.summary()
    mx = nn.Sequential(nn.Linear(1, 2), MaxoutUnit(2), nn.Linear(1, 2, bias=False)).eval()
    with torch.no_grad():
        mx[0].weight.fill_(1.0)
        mx[0].bias.copy_(torch.tensor([2.0 ** -26, 0.0]))         # float32: (1, 1); exactly 1 + 2^-26 > 1
        mx[2].weight.copy_(torch.tensor([[1.0], [-1.0]]))
    assert linearize(mx, x).kinks.codes == ["float-tie"]
    assert linearize(_chain(-(2.0 ** -22), -1.0, torch.float32), x).kinks.codes == ["float64"]


@pytest.mark.claim("local-affine")
def test_the_model_s_own_pass_is_read_at_the_recovered_points():
    """A recovered point is judged only if the float pass that autograd differentiates falls on the certified
    side too. A twin model whose doubtful unit falls on the other side stands for a pass that rounds
    differently: the point becomes wrong. On a ResNet with eval BatchNorm and points placed on kinks (the
    case that first showed it: vmap(jacrev) rounds otherwise than the engine), jacrev's J agrees with the
    closed form within the bound at every point the vmap pass confirms."""
    m = _chain(2.0 ** -22, -1.0, torch.float32)
    lin = linearize(m, torch.ones(1, 1))
    assert lin.kinks.codes == ["float64"]
    twin = _chain(-(2.0 ** -22), -1.0, torch.float32)                    # u_2 = -2^-22 in its own pass
    assert confirm_own_pass(lin, lin.kinks, twin).codes == ["wrong"]
    assert confirm_own_pass(lin, lin.kinks, m, mode="vmap").codes == ["float64"]
    # a max unit: the engine's winner x_1 = 1 beats x_2 = 1 - 2^-24 (certified); the twin's pass lets x_2 win
    xm = torch.tensor([[1.0, 1.0 - 2.0 ** -24]])
    lin = linearize(_maxout(1.0), xm)
    assert lin.kinks.codes == ["float64"]
    assert confirm_own_pass(lin, lin.kinks, _maxout(1.0 + 2.0 ** -22)).codes == ["wrong"]
    assert confirm_own_pass(lin, lin.kinks, _maxout(1.0), mode="each").codes == ["float64"]
    with pytest.raises(ValueError, match="mode must be 'batch', 'vmap' or 'each', got 'loop'"):
        confirm_own_pass(lin, lin.kinks, m, mode="loop")
    from tests.verify.helpers import batch
    from verify.bench.linearize import _jacrev

    spec, model, x, _, _ = batch(1, "resnet", torch.float64)
    lin = linearize(model, x)
    assert lin.kinks.counts()["recovered"] > 0
    keep = ~confirm_own_pass(lin, lin.kinks, model, mode="vmap").on_kink
    diff = (lin.jacobian - _jacrev(model, x).reshape(lin.jacobian.shape)).abs()
    assert bool((diff[keep] <= 2 * lin.jacobian_bound[keep]).all())


def test_an_exact_stage_too_large_leaves_the_point_undecided():
    m = _chain(0.0, -1.0, torch.float64)
    d = redecide_kinks(linearize(m, torch.ones(1, 1, dtype=torch.float64)), exact_max_entries=0)
    assert d.codes == ["undecided"] and d.on_kink.tolist() == [True]
    assert d.summary().endswith("1 undecided (exact stage skipped: the exact network would hold 4 matrix entries, "
                                "above 0)"), d.summary()


def test_codes_combine_and_gaps_check_them():
    assert combine_codes(["", "exact", "wrong"], ["float64", "kink", "undecided"]) == ["float64", "kink", "wrong"]
    with pytest.raises(ValueError, match="different lengths"):
        combine_codes([""], ["", ""])
    kw = dict(dtype="float32", device="cpu", seed=0, arch="a")
    g = Gap("c", "k", "identity", [1.0, 1.0], [1.0, 1.0], [0.1, 0.1], kink_decision=["float64", "wrong"], **kw)
    assert g.on_kink == [False, True] and g.n_decided("float64", "exact") == 1 and g.n_interior == 1
    assert Gap.from_dict(g.to_dict()) == g
    with pytest.raises(ValueError, match="kink_decision codes must be among"):
        Gap("c", "k", "identity", [1.0], [1.0], [0.1], kink_decision=["near"], **kw)
    with pytest.raises(ValueError, match="on_kink must be True exactly where kink_decision is one of"):
        Gap("c", "k", "identity", [1.0], [1.0], [0.1], kink_decision=["float64"], on_kink=[True], **kw)
    assert KinkDecision([""], "float32").summary() == "none of 1 points within float32 rounding of a kink"


# ---- a trained float32 network ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained():
    """A float32 MLP 16-512-512-10 trained by one epoch of plain SGD (batch 50, lr 0.05) on the synthetic
    blobs (verify.dynamics.data), and its 64 first test points with their labels. Its second layer sums 512
    terms, so a float32 bound of about 500 u of the sizes leaves a few of the 1024 units of most batches in
    doubt (10 of 64 points, all recovered by float64, when this was written)."""
    from verify.dynamics.data import load_dataset

    ds = load_dataset("synthetic")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(16, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    x, y = ds.x_train.float(), ds.y_train
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    for i in range(0, len(x), 50):
        b = perm[i:i + 50]
        opt.zero_grad()
        nn.functional.cross_entropy(net(x[b]), y[b]).backward()
        opt.step()
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net, ds.x_test[:64].float(), ds.y_test[:64]


@pytest.mark.claim("local-affine")
def test_trained_float32_points_in_doubt_are_recovered_with_the_exact_signs(trained):
    model, x, _ = trained
    lin = linearize(model, x)
    d = lin.kinks
    doubt = d.doubt.nonzero().squeeze(1).tolist()
    assert doubt and d.counts()["recovered"] > 0, d.summary()
    assert lin.on_kink.tolist() == [c in ("kink", "wrong", "undecided") for c in d.codes]
    net = from_torch(model, (16,))
    for i in doubt:
        vals = net.values(net.read_input(x[i].double().numpy()))
        exact = {name: [1 if u > 0 else (-1 if u < 0 else 0) for u in vals[k - 1].entries()]
                 for k, name in ((2, "1:1"), (4, "3:3"))}     # the ReLUs' sources: nodes 1 and 3
        agree = all(e == f for name, s in exact.items() for e, f in zip(s, lin.pattern[name][i].tolist()))
        zero = any(e == 0 for s in exact.values() for e in s)
        want = "kink" if zero else ("wrong" if not agree else None)
        if want is None:
            assert d.codes[i] in ("float64", "exact"), (i, d.codes[i])
            assert lin.kink_distance[i].item() > 0
        else:
            assert d.codes[i] == want, (i, d.codes[i])


@pytest.mark.claim("local-affine", "input-gradient", "hessian-gauss-newton", "effective-margin")
def test_trained_float32_checks_judge_the_recovered_points(trained):
    model, x, y = trained
    d = linearize(model, x).kinks
    sel = torch.tensor(sorted(set(d.doubt.nonzero().squeeze(1).tolist()[:6]) | {0, 1}))
    claims = ["local-affine", "input-gradient", "hessian-gauss-newton", "effective-margin"]
    gaps = run_checks(model, x[sel], y[sel], claims=claims, seed=0, arch="trained-mlp")
    assert sum(g.n_kinks for g in gaps) == 0
    for c in claims:
        mine = [g for g in gaps if g.claim == c and g.kind != "measurement"]
        assert mine and all(g.ok for g in mine), [g.diagnosis() for g in mine if not g.ok]
        # informative verdicts at recovered points: the recovery made them count
        seen = sum(1 for g in mine for i in g.informative_points() if g.kink_decision[i] in ("float64", "exact"))
        assert seen > 0, c


@pytest.mark.claim("input-gradient", "hessian-trace-weighted-cross-lipschitz")
def test_cli_checks_a_float32_model_in_both_dtypes_and_counts_the_recovered(trained, tmp_path, capsys):
    model, x, y = trained
    d = linearize(model, x).kinks
    sel = torch.tensor(sorted(set(d.doubt.nonzero().squeeze(1).tolist()[:4]) | {0}))
    net, xf, yf, out = tmp_path / "net.pt", tmp_path / "x.pt", tmp_path / "y.pt", tmp_path / "out.jsonl"
    torch.save(model, net)
    torch.save(x[sel].clone(), xf)
    torch.save(y[sel].clone(), yf)
    claims = ["input-gradient", "hessian-trace-weighted-cross-lipschitz"]
    rc = main(["--model", str(net), "--inputs", str(xf), "--labels", str(yf), "--claims", *claims, "--out", str(out),
               "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert text.startswith("note: checking the float32 model in float32 (its own dtype) and in float64"), text
    n = int(d.doubt[sel].sum())
    got = re.search(rf"^inputs: {n} of {len(sel)} points within float32 rounding of a kink: (\d+) recovered", text, re.M)
    assert got and int(got.group(1)) == n, text
    assert f"inputs: none of {len(sel)} points within float64 rounding of a kink" in text
    for c in claims:
        assert re.search(rf"^{c}\s.*\s0\s+0\s+0\s+HOLDS\s*$", text, re.M), text      # no kink left, holds
        assert re.search(rf"^  {c}\s+float32\s+\d+\s+\d+", text, re.M), text           # the recovered, per claim
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["run"]["dtype"] for r in recs] == ["float32", "float64"]
    g32 = next(g for g in recs[0]["gaps"] if g["check"] == "grad L = J^T (p - e_y)")
    assert sum(c in ("float64", "exact") for c in g32["kink_decision"]) == n


def test_the_report_counts_decisions_per_claim_and_dtype_and_names_status_differences():
    from verify.results.report import status_by_dtype
    from verify.results.summary import kink_summary

    kw = dict(device="cpu", seed=0, arch="a")
    # float32: 4 points, two recovered (one of them excluded), one real kink, one wrong; the bound is too
    # wide to see anything (vacuous). float64: the same network, every point informative.
    g32 = Gap("input-gradient", "grad", "identity", [1.0] * 4, [1.0] * 4, [1.0] * 4, dtype="float32",
              kink_decision=["float64", "exact", "kink", "wrong"], excluded=[False, True, False, False], **kw)
    g64 = Gap("input-gradient", "grad", "identity", [1.0] * 4, [1.0] * 4, [1e-9] * 4, dtype="float64",
              kink_decision=[""] * 4, **kw)
    recs = [{"run": {"dtype": "float32"}, "network": {"index": 0}, "gaps": [g32]},
            {"run": {"dtype": "float64"}, "network": {"index": 0}, "gaps": [g64]}]
    text = kink_summary(recs)
    row = next(line for line in text.splitlines() if line.strip().startswith("input-gradient"))
    #              in doubt, recovered, by float64, exactly, judged, real kinks, wrong, undecided, float tie
    assert row.split()[1:] == ["float32", "4", "2", "1", "1", "1", "1", "1", "0", "0"], row
    assert "float64" not in [line.split()[1] for line in text.splitlines()[4:]]   # no point in doubt there
    assert status_by_dtype(recs).splitlines()[1] == "  input-gradient: float64 HOLDS, float32 VACUOUS"
    assert status_by_dtype(recs[:1]) == ""
