"""The exact robustness radius (verify.robust): against independent oracles, its certificates, its limits,
its witnesses, its bad input, the ``python -m verify radius`` command and the lab's measure.

The oracles (tests/verify/oracle_radius.py) share nothing with the solvers: every activation pattern of a
small MLP, each pattern's polytope built from the torch weights, and each problem solved by brute force
over its candidate optima in NumPy linear algebra; and, on the plane, the exact decision segments of
theory.plane in rational arithmetic.

Tolerances. ``upper`` is the distance of a witness that the float model and the exact engine both checked,
so the true radius is at most ``upper`` (up to the oracle's own rounding, ~1e-15 relative). ``radius`` and
``lower`` come from the solvers: HiGHS stops at a relative gap of 1e-7 with feasibility tolerances of 1e-9
(:data:`verify.robust.milp.HIGHS_OPTIONS`), and NNLS solves each least-distance problem to rounding, so
they may differ from the truth by ~1e-7 relative: TOL = 1e-6 relative covers both, with a factor 10.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from verify.errors import ShapeError
from verify.modules import MaxoutUnit
from verify.robust import RadiusResult, SolverUnavailableError, exact_robust_accuracy, robust_at, robust_radius

from .oracle_radius import enumerate_radius, plane_radius
from .radius_nets import random_mlp

TOL = 1e-6


_mlp = random_mlp


def _agrees(r: RadiusResult, truth: float):
    assert r.status == "optimal", (r.status, r.notes)
    assert r.witness_check["float"] and r.witness_check["exact"], r.witness_check
    assert truth <= r.upper * (1 + 1e-12), (truth, r.upper)                    # the witness is checked
    assert r.lower <= truth * (1 + TOL) + 1e-12 and abs(r.radius - truth) <= TOL * truth + 1e-12, (r, truth)


CASES = [  # (D, hidden, K, activation, seed, domain): D <= 4, up to 8 hidden units for the enumeration
    pytest.param(4, (6,), 3, "relu", 1, None, id="mlp4-6-3-relu"),
    pytest.param(3, (4, 4), 3, "leaky", 2, None, id="mlp3-4x4-3-leaky0.1"),
    pytest.param(4, (3, 3), 2, "abs", 3, None, id="mlp4-3x3-2-abs"),
    pytest.param(2, (8,), 3, "relu", 4, (-1.0, 1.0), id="mlp2-8-3-relu-box"),
]


@pytest.mark.parametrize("D,hidden,K,act,seed,domain", CASES)
@pytest.mark.parametrize("norm", ["inf", "2"])
def test_radius_matches_the_enumeration_of_every_activation_pattern(D, hidden, K, act, seed, domain, norm):
    model = _mlp(D, hidden, K, act, seed)
    g = torch.Generator().manual_seed(100 + seed)
    x = torch.rand(2, D, generator=g, dtype=torch.float64) * 1.6 - 0.8
    for r, xi in zip(robust_radius(model, x, norm=norm, domain=domain), x):
        truth = enumerate_radius(model, xi.numpy(), r.label, norm, domain=domain)
        _agrees(r, truth)
        assert r.certified["lower"] <= truth * (1 + 1e-12)                      # the region's proved bound
        if r.certified["exact"]:                                                 # gamma <= r(x): gamma is the radius
            assert r.certified["lower"] == pytest.approx(truth, rel=1e-12)


@pytest.fixture(scope="module")
def teaching():
    from theory.plane import regions_2d, teaching_network

    net = teaching_network()
    return net, regions_2d(net, box=(-3, 3, -3, 3))


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_the_teaching_network_matches_its_exact_decision_boundary(teaching, norm):
    """The 2-6-6-3 leaky-ReLU network (12 hidden units), as an exact theory Network, against the exact
    segments of its decision boundary (rational arithmetic)."""
    net, regions = teaching
    pts = np.array([[-0.15, 0.25], [0.5, -0.5], [1.0, 1.0]])
    for r, p in zip(robust_radius(net, pts, norm=norm), pts):
        d = plane_radius(net, p, r.label, norm, (-3, 3, -3, 3), regions)
        _agrees(r, float(d) if norm == "inf" else math.sqrt(d))


def test_maxout_and_max_pooling_units():
    """Maxout on the plane against the exact boundary (both norms); max pooling over 2x2 windows gives the
    l-inf radius of the same network written with maxout (9 inputs: too many regions for a quick l2 search)."""
    from theory.plane import regions_2d
    from theory.torch_bridge import from_torch

    g = torch.Generator().manual_seed(5)
    first = torch.nn.Linear(2, 8, dtype=torch.float64)
    head = torch.nn.Linear(2, 3, dtype=torch.float64)
    with torch.no_grad():
        for p in (*first.parameters(), *head.parameters()):
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    maxout = torch.nn.Sequential(first, MaxoutUnit(4), head).eval()
    x = torch.tensor([[0.3, -0.2]], dtype=torch.float64)
    box = (-4, 4, -4, 4)
    net = from_torch(maxout, (2,))
    regions = regions_2d(net, box=box)
    r2, ri = robust_radius(maxout, x, norm=2)[0], robust_radius(maxout, x, norm="inf")[0]
    _agrees(r2, math.sqrt(plane_radius(net, x[0].numpy(), r2.label, "2", box, regions)))
    _agrees(ri, float(plane_radius(net, x[0].numpy(), ri.label, "inf", box, regions)))

    # max pooling: a 3x3 image, a 2x2 convolution to two channels, ReLU, 2x2 max pooling, a linear head;
    # the same network with the convolution written as a matrix and the pooling as maxout over each channel
    conv = torch.nn.Conv2d(1, 2, 2, dtype=torch.float64)
    with torch.no_grad():
        for p in conv.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    cnn = torch.nn.Sequential(conv, torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(), head).eval()
    mat = torch.nn.Linear(9, 8, dtype=torch.float64)
    with torch.no_grad():
        mat.weight.copy_(torch.func.jacrev(lambda z: conv(z.reshape(1, 1, 3, 3)).reshape(-1))(torch.zeros(9,
                                                                                                  dtype=torch.float64)))
        mat.bias.copy_(conv.bias.repeat_interleave(4))
    flat = torch.nn.Sequential(mat, torch.nn.ReLU(), MaxoutUnit(4), head).eval()
    xi = torch.rand(1, 1, 3, 3, generator=g, dtype=torch.float64)
    assert torch.allclose(cnn(xi), flat(xi.reshape(1, 9)))
    a, b = robust_radius(cnn, xi, norm="inf")[0], robust_radius(flat, xi.reshape(1, 9), norm="inf")[0]
    assert a.status == b.status == "optimal" and a.witness_check["exact"] and b.witness_check["exact"]
    assert a.radius == pytest.approx(b.radius, rel=TOL)


def test_a_float32_model_gets_float32_witnesses_checked_in_float32_and_rationals():
    model = _mlp(3, (5,), 3, "relu", 7, dtype=torch.float32)
    x = torch.tensor([[0.1, -0.3, 0.2]], dtype=torch.float32)
    r = robust_radius(model, x, norm="inf")[0]
    w = torch.tensor(r.witness, dtype=torch.float64)
    assert torch.equal(w.to(torch.float32).to(torch.float64), w)               # a float32 point
    assert r.witness_check["float"] and r.witness_check["exact"]
    assert int(model(w.to(torch.float32)[None]).argmax()) != r.label
    truth = enumerate_radius(model.double(), x[0].double().numpy(), r.label, "inf")
    _agrees(r, truth)


@pytest.mark.claim("effective-margin")
@pytest.mark.claim("margin-lower-bound")
def test_the_region_certificate_is_exact_when_gamma_is_within_r():
    """Near a flat decision boundary gamma <= r(x): the certificate equals the radius; the weaker bound of
    margin-lower-bound, min(gamma_O / max_j ||w_y - w_j||, r(x)), is below it."""
    lin = torch.nn.Linear(2, 3, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
        lin.bias.zero_()
    model = torch.nn.Sequential(torch.nn.Linear(2, 2, dtype=torch.float64), torch.nn.ReLU(), lin).eval()
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(2))
        model[0].bias.copy_(torch.tensor([5.0, 5.0]))            # both units active near the origin: r(x) = 5.x
    x = torch.tensor([[0.3, 0.1]], dtype=torch.float64)           # f = (5.3, 5.1, -10.4): y = 0, gamma to class 1
    for norm, gamma in (("2", 0.2 / math.sqrt(2)), ("inf", 0.1)):
        r = robust_radius(model, x, norm=norm)[0]
        assert r.certified["exact"] and r.certified["lower"] == pytest.approx(gamma, rel=1e-15)
        assert r.certified["margin_lower_bound"] <= r.certified["lower"]
        _agrees(r, gamma)


def test_limits_report_the_bounds_they_reached():
    model = _mlp(3, (4, 4), 3, "relu", 2)
    x = torch.tensor([[0.5, -0.4, 0.3]], dtype=torch.float64)
    full = robust_radius(model, x, norm=2, method="search")[0]          # the region search's node limit
    assert full.status == "optimal" and full.nodes > 1
    cut = robust_radius(model, x, norm=2, node_limit=1, method="search")[0]
    assert cut.status == "node_limit" and cut.lower <= full.radius * (1 + TOL) <= cut.upper * (1 + TOL)
    capped = robust_radius(model, x, norm="inf", max_radius=full.radius / 10)[0]
    assert capped.status == "beyond_cap" and capped.lower > full.radius / 10 and capped.radius == math.inf


def test_a_witness_that_fails_its_check_is_reported(monkeypatch):
    from verify.robust import checks as R

    real = R.Checker.check

    def exact_disagrees(self, w):
        out = real(self, w)
        return dict(out, exact=False)

    monkeypatch.setattr(R.Checker, "check", exact_disagrees)
    r = robust_radius(_mlp(2, (4,), 2, "relu", 1), torch.tensor([[0.2, 0.1]], dtype=torch.float64), norm="inf")[0]
    assert r.status == "unverified" and r.upper == math.inf and r.witness is not None
    assert r.witness_check["exact"] is False and any("did not pass the witness checks" in n for n in r.notes)


def test_robust_at_decides_every_eps_as_the_true_radius_does():
    model = _mlp(3, (5,), 3, "relu", 1)
    x = torch.rand(3, 3, generator=torch.Generator().manual_seed(101), dtype=torch.float64) * 1.6 - 0.8
    truth = [enumerate_radius(model, xi.numpy(), int(model(xi[None]).argmax()), "inf") for xi in x]
    grid = sorted({t * f for t in truth for f in (0.5, 1.5)})
    res = robust_at(model, x, eps_grid=grid)                      # y: the model's predictions
    acc = exact_robust_accuracy(res, grid)
    assert list(acc) == [float(e) for e in grid]                  # keyed by the budget itself, a number
    for e in grid:
        a = acc[e]
        assert a["undecided"] == 0 and a["robust"] == sum(t > e for t in truth), (e, a, truth)


@pytest.mark.parametrize("method", ["milp", "bab"])
def test_robust_at_reports_the_problem_it_solved_and_what_stopped_it(method):
    model = _mlp(3, (5,), 3, "relu", 1)
    x = torch.rand(3, 3, generator=torch.Generator().manual_seed(101), dtype=torch.float64) * 1.6 - 0.8
    truth = [enumerate_radius(model, xi.numpy(), int(model(xi[None]).argmax()), "inf") for xi in x]
    res = robust_at(model, x, eps_grid=[t * 0.9 for t in truth], method=method)
    for r, t in zip(res, truth):
        assert r.stopped == "decided" and r.status != "undecided"
    solved = [r for r in res if r.problem]
    assert solved and all(0 <= r.problem["unstable"] <= 5 for r in solved)
    if method == "milp":
        assert all(r.problem["binaries"] >= r.problem["unstable"] for r in solved if "binaries" in r.problem)
    stuck = robust_at(model, x[:1], eps_grid=[truth[0] * 0.5, truth[0] * 0.9], time_limit=1e-9, method=method)[0]
    assert stuck.status == "undecided" and "no time left" in stuck.stopped


def test_the_exact_network_is_converted_once_and_again_after_any_weight_change(monkeypatch):
    """The exact network of a torch model is cached per model and fingerprint: a second call does not convert
    again; a weight changed in place (through ``.data``, which torch's version counter does not see), a
    buffer, a slope or the train/eval flag does, and the answers are those of a fresh copy of the model."""
    import copy

    import theory.torch_bridge as bridge

    calls = []
    real = bridge.from_torch
    monkeypatch.setattr(bridge, "from_torch", lambda *a, **k: calls.append(1) or real(*a, **k))
    model = _mlp(2, (4,), 2, "leaky", 1)
    x = torch.tensor([[0.2, 0.1]], dtype=torch.float64)
    first = robust_radius(model, x, norm="inf")[0]
    assert robust_radius(model, x, norm="inf")[0].radius == first.radius and len(calls) == 1
    with torch.no_grad():
        model[0].weight.data[0, 0] += 0.5
    moved = robust_radius(model, x, norm="inf")[0]
    assert len(calls) == 2 and moved.radius == robust_radius(copy.deepcopy(model), x, norm="inf")[0].radius
    assert moved.radius != first.radius
    model[1].negative_slope = 0.3
    robust_radius(model, x, norm="inf")
    assert len(calls) == 4                                   # the copy above, then the new slope


def test_the_options_are_keyword_only():
    model = _mlp(2, (4,), 2, "relu", 1)
    x = torch.tensor([[0.2, 0.1]], dtype=torch.float64)
    with pytest.raises(TypeError):
        robust_radius(model, x, None, "inf")                      # norm is keyword-only
    with pytest.raises(TypeError):
        robust_at(model, x, None, [0.1])                          # so is eps_grid
    a, b = robust_at(model, x, eps_grid=[1e-3])[0], robust_at(model, x, model(x).argmax(1), eps_grid=[1e-3])[0]
    assert (a.label, a.status, a.lower) == (b.label, b.status, b.lower)


@pytest.mark.parametrize("call", ["robust_radius", "robust_at"])
def test_every_input_is_checked_before_any_example_is_solved(monkeypatch, call):
    """A bad example at index 2 is named at index 2, before examples 0 and 1 are solved."""
    from verify.errors import LabelError, NonFiniteError
    from verify.robust import decide, radius

    def solved(*args, **kwargs):
        raise AssertionError("an example was solved before every input was checked")

    monkeypatch.setattr(radius, "exact_logits", solved)
    monkeypatch.setattr(decide, "exact_logits", solved)
    cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(2 * 4 * 4, 3)).double()
    x = torch.rand(3, 1, 6, 6, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    run = (lambda *a, **k: robust_radius(*a, **k)) if call == "robust_radius" else \
        (lambda *a, **k: robust_at(*a, eps_grid=[0.1], **k))
    bad = x.clone()
    bad[2, 0, 5, 5] = math.nan
    with pytest.raises(NonFiniteError, match=r"got nan at index \(2, 0, 5, 5\)"):
        run(cnn, bad)
    bad = x.clone()
    bad[2, 0, 1, 1] = 3.0
    with pytest.raises(ValueError, match=r"x\[2\] lies outside the domain: coordinate 7 is 3.0"):
        run(cnn, bad, domain=(0, 1))
    with pytest.raises(LabelError, match=r"got the label 5 \(the model has K = 3 logits\) at index 2"):
        run(cnn, x, torch.tensor([0, 1, 5]))
    with pytest.raises(ShapeError, match=r"one example of the model's input shape.*for one example use x.unsqueeze\(0\)"):
        run(cnn, x[0])


def test_one_example_without_its_batch_dimension_is_explained():
    import verify

    cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(2 * 10 * 10, 3)).double()
    x = torch.rand(4, 1, 12, 12, dtype=torch.float64)
    with pytest.raises(ShapeError) as exc:
        verify.linearize(cnn, x[0])
    assert str(exc.value) == ("x: expected a batch of shape (B, *in_shape), got shape (1, 12, 12): one example of the "
                              "model's input shape, without the batch dimension; linearize takes a batch (B, *input "
                              "shape); for one example use x.unsqueeze(0)")
    with pytest.raises(ShapeError, match=r"got shape \(12,\); linearize takes a batch .* x.unsqueeze\(0\)"):
        verify.linearize(torch.nn.Linear(12, 3).double(), x[0, 0, 0])
    with pytest.raises(ShapeError, match=r"expected an input of shape \(200,\), got shape \(162,\)$"):
        verify.linearize(cnn, torch.rand(2, 1, 11, 11, dtype=torch.float64))   # a batch of the wrong size: as before
    assert verify.linearize(cnn, x[:1]).jacobian.shape == (1, 3, 144)


def test_misclassified_points_have_radius_zero_and_say_so():
    model = _mlp(2, (4,), 2, "relu", 1)
    x = torch.tensor([[0.2, 0.1]], dtype=torch.float64)
    wrong = 1 - int(model(x).argmax())
    r = robust_radius(model, x, torch.tensor([wrong]), norm="inf")[0]
    assert (r.status, r.radius, r.lower, r.upper) == ("misclassified", 0.0, 0.0, 0.0)
    assert any("already classified as" in n and f"not {wrong}" in n for n in r.notes)


def test_bad_input_is_refused_with_one_line_errors(monkeypatch):
    from verify.errors import LabelError, NonFiniteError, ShapeError, UnsupportedLayerError

    model = _mlp(2, (4,), 2, "relu", 1)
    x = torch.zeros(1, 2, dtype=torch.float64)
    with pytest.raises(UnsupportedLayerError, match="GELU .* is not piecewise linear"):
        robust_radius(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.GELU()).double(), x)
    with pytest.raises(NonFiniteError, match="expected finite numbers, got nan"):
        robust_radius(model, torch.tensor([[0.0, math.nan]], dtype=torch.float64))
    with pytest.raises(ShapeError, match=r"expected a batch of shape \(B, \*in_shape\)"):
        robust_radius(model, torch.zeros(2, dtype=torch.float64))
    with pytest.raises(LabelError, match=r"y: expected 1 integer class labels in \[0, \d+\) of shape \(1,\), got shape \(2,\)"):
        robust_radius(model, x, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="norm: expected 'inf' or 2, got 1"):
        robust_radius(model, x, norm=1)
    with pytest.raises(ValueError, match="time_limit: expected a number > 0"):
        robust_radius(model, x, time_limit=-1)
    with pytest.raises(ValueError, match=r"x\[0\] lies outside the domain"):
        robust_radius(model, x + 2, domain=(0, 1))
    import builtins

    real_import = builtins.__import__

    def no_milp(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "scipy.optimize" and fromlist and "milp" in fromlist:
            raise ImportError("cannot import name 'milp'")
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", no_milp)
    with pytest.raises(SolverUnavailableError, match=r"the l-inf radius \(scipy.optimize.milp, the HiGHS mixed-integer solver\) needs scipy >= 1.9, which is not installed: pip install -e \"\.\[robust\]\""):
        robust_radius(model, x, norm="inf")


def _radius_args(tmp_path, model, x, *extra):
    """The model and inputs saved in tmp_path; (the results file, the radius command's arguments + extra)."""
    torch.save(model, tmp_path / "net.pt")
    torch.save(x, tmp_path / "x.pt")
    out = tmp_path / "r.jsonl"
    return out, ["radius", "--model", str(tmp_path / "net.pt"), "--inputs", str(tmp_path / "x.pt"), "--out",
                 str(out), "--no-progress", *extra]


def test_the_radius_command(tmp_path, capsys):
    from verify.cli import main

    model = _mlp(3, (5,), 3, "relu", 7)
    x = torch.rand(3, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) - 0.5
    out, args = _radius_args(tmp_path, model, x)
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "3 points (l-inf)" in text and "3 optimal" in text
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["result"]["index"] for r in recs] == [0, 1, 2]
    for rec, xi in zip(recs, x):
        res = rec["result"]
        assert res["status"] == "optimal" and res["witness_check"] == {**res["witness_check"], "float": True,
                                                                      "exact": True}
        _agrees(RadiusResult(**{k: (float(v) if k in ("radius", "lower", "upper", "gap") else v)
                                for k, v in res.items()}), enumerate_radius(model, xi.numpy(), res["label"], "inf"))
    assert main(args + ["--resume"]) == 0                          # nothing left to do
    assert "3 of 3 points already in" in capsys.readouterr().out and len(out.read_text().splitlines()) == 3
    assert main(args + ["--resume", "--norm", "2", "--l2-method", "search"]) == 2     # other settings: refused
    err = capsys.readouterr().err
    assert "was written with other settings (" in err and "norm: 'inf' there, '2' now" in err
    assert "l2_method: None there, 'search' now" in err
    with pytest.raises(SystemExit) as ex:
        main(["radius", "--help"])
    assert ex.value.code == 0 and "--norm {inf,2}" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["--model", "missing.pt", "--inputs", "x.pt"], "error: no such file: missing.pt"),
    (["--model", "{net}", "--inputs", "{x}", "--time-limit", "0"], "error: --time-limit must be a number > 0, got 0.0"),
    (["--model", "{gelu}", "--inputs", "{x}"], "is not piecewise linear"),
    (["--model", "{net}", "--inputs", "{x}", "--domain", "1", "0"], "error: --domain LO HI needs LO < HI"),
])
def test_radius_usage_errors_are_one_line(tmp_path, capsys, argv, message):
    from verify.cli import main

    torch.save(_mlp(3, (5,), 3, "relu", 7), tmp_path / "net.pt")
    torch.save(torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.GELU()).double().eval(), tmp_path / "gelu.pt")
    torch.save(torch.zeros(2, 3, dtype=torch.float64), tmp_path / "x.pt")
    paths = {"net": tmp_path / "net.pt", "gelu": tmp_path / "gelu.pt", "x": tmp_path / "x.pt"}
    argv = [a.format(**paths) for a in argv]
    assert main(["radius", *argv, "--out", str(tmp_path / "o.jsonl"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_the_lab_measures_the_exact_radius_at_the_last_epoch_only(tmp_path):
    from verify.dynamics.lab import plan, run_unit
    from verify.dynamics.report import radius_lines
    from verify.dynamics.settings import settings_for

    s = settings_for("synthetic", epochs=1)
    cfg = {"data": "synthetic", "seeds": 1, "claims": ["confidence-concentration"], "dtype": "float64",
           "device": "cpu", "full": False, "settings": s.to_dict()}
    unit = next(u for u in plan(cfg) if u["role"] == "ce")
    recs = run_unit(unit, tmp_path)
    first, last = recs[0]["metrics"], recs[-1]["metrics"]
    assert "exact_radius" not in first and "exact_radius" in last
    er = last["exact_radius"]
    for e in s.eps_grid:
        a = er["exact_robust_accuracy"][repr(float(e))]
        assert a["robust"] + a["not_robust"] + a["undecided"] == a["n"] == s.radius_points
        assert a["contradictions"] == 0
        assert a["fraction"] <= a["pgd"] + 1e-12            # an attack can only over-estimate robust accuracy
        assert a["fraction_upper"] <= a["pgd"] + 1e-12      # and PGD's checked points decide their points
    l2 = er["exact_l2_radius"]
    for lo, up, st in zip(l2["lower"], l2["upper"], l2["status"]):
        assert lo <= up * (1 + TOL) and st in ("optimal", "node_limit", "time_limit", "misclassified")
    table = {"settings": s, "runs": {"ce": {0: [None] * s.epochs + [last]}}}
    lines = radius_lines(table)
    assert lines[0].startswith("exact robust accuracy at epoch 1") and "PGD" in lines[1]


@pytest.mark.parametrize("arch", ["mlp", "cnn", "resnet", "maxout"])
def test_the_output_jacobian_is_the_regions_logit_map(arch):
    """PLNet.output_jacobian (products from the output back, used by the opening attack) against the J of
    PLNet.region (maps pushed forward from the input), on random networks with every kind of node: affine,
    rectifiers, max pooling and maxout, residual sums. The two differ only in the order of the roundings:
    each entry within (n + 2) u of the sum of |products| along all paths (the same J on magnitudes)."""
    import random

    from theory.torch_bridge import from_torch
    from verify.jobs.networks import draw_inputs, draw_spec
    from verify.robust.plnet import plnet

    rng = random.Random(11)
    for _ in range(3):
        spec = draw_spec(rng, arch=arch)
        model = spec.build()
        net = plnet(from_torch(model, spec.in_shape))
        z = draw_inputs(model, spec, 2, generator=torch.Generator().manual_seed(3))[0].reshape(2, -1).numpy()
        _, pat = net.forward(z)
        for i in range(2):
            p = {k: v[i] for k, v in pat.items()}
            reg, mag = net.region(p), _magnitude_net(net).region(p)
            n = max(node.size for node in net.nodes) * len(net.nodes)
            bound = (n + 2) * np.finfo(np.float64).eps * mag.J
            assert np.all(np.abs(net.output_jacobian(p) - reg.J) <= bound)


def _magnitude_net(net):
    """The same PLNet with every weight and slope replaced by its absolute value."""
    import copy

    out = copy.deepcopy(net)
    for node in out.nodes:
        if node.W is not None:
            node.W = np.abs(node.W)
        if node.a is not None:
            node.a = np.abs(node.a)
    return out


def test_an_undecided_point_shows_its_bracket_its_size_and_what_stopped_it():
    from verify.cli.radius import _row
    from verify.robust.radius import stop_reason

    model = _mlp(3, (5,), 3, "relu", 7)
    x = torch.rand(2, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) - 0.5
    inf, l2 = robust_radius(model, x[:1], norm="inf")[0], robust_radius(model, x[:1], norm="2", method="search")[0]
    assert set(inf.problem) == {"binaries", "unstable"} and inf.problem["binaries"] <= inf.problem["unstable"] * 2 + 3
    assert l2.problem == {"regions": l2.nodes} and inf.stopped == l2.stopped == "solved"
    rec = {**inf.to_dict(), "index": 0, "status": "time_limit", "radius": 0.25, "lower": 0.125, "upper": 0.25,
           "nodes": 0, "problem": {"binaries": 1582, "unstable": 861},
           "stopped": stop_reason("time_limit", "inf", {"binaries": 1582, "unstable": 861}, 0, 300.0, None)}
    row = _row(rec)
    assert row.split()[3] == "-" and "[0.125, 0.25]" in row and "1582/861" in row
    assert row.endswith("time limit 300 s with 0 nodes (the root relaxation of 1582 binaries did not finish)")
    assert _row(inf.to_dict() | {"index": 0}).split()[3] == f"{inf.radius:.7g}"
    assert stop_reason("time_limit", "2", {"regions": 10}, 10, 2.0, None) == "time limit 2 s after 10 regions"
    assert stop_reason("time_limit", "2", {"binaries": 9, "unstable": 9}, 7, 2.0, None) == "time limit 2 s after 7 nodes"
    assert stop_reason("node_limit", "inf", {"binaries": 3, "unstable": 3}, 500, None, 500) == "node limit 500 reached"


def test_resuming_an_l2_file_keeps_its_method(tmp_path, capsys):
    """An l2 results file records the method that ran; one written before that (no key) was the region search's,
    so --resume goes on with the search and refuses another method, naming it."""
    from verify.cli import main

    model = _mlp(3, (4,), 3, "relu", 3)
    x = torch.rand(2, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64) - 0.5
    out, args = _radius_args(tmp_path, model, x, "--norm", "2", "--l2-method", "search")
    assert main(args) == 0
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(r["settings"]["l2_method"] == "search" for r in recs)
    for r in recs:                                       # as a file written before the method was recorded
        del r["settings"]["l2_method"]
    out.write_text("".join(json.dumps(r) + "\n" for r in recs[:1]))
    capsys.readouterr()
    assert main(args + ["--resume"]) == 0 and "1 of 2 points already in" in capsys.readouterr().out
    assert main([a if a != "search" else "miqp" for a in args] + ["--resume"]) == 2
    assert "l2_method: 'search' there, 'miqp' now" in capsys.readouterr().err


def test_the_programs_time_limit_counts_the_time_to_build_its_matrix(monkeypatch):
    """HiGHS gets what is left of the time limit once the program's matrix is built (on a large CNN building it
    takes about a second, which a limit fixed before would let the call overrun)."""
    import time

    from theory.network import mlp
    from verify.robust import encoding, solvers
    from verify.robust.milp import linf_milp
    from verify.robust.plnet import plnet

    build, real = encoding.Encoding.matrix, solvers.load_milp()
    seen = []

    def slow_matrix(self):
        time.sleep(0.3)
        return build(self)

    def recording_milp(*args, options, **kw):
        seen.append(options["time_limit"])
        return real[0](*args, options=options, **kw)

    monkeypatch.setattr(encoding.Encoding, "matrix", slow_matrix)
    monkeypatch.setattr(solvers, "load_milp", lambda: (recording_milp, *real[1:]))
    net = plnet(mlp([[[1, 0], [0, 1]], [[1, 0], [0, 1]]]))          # f = relu(x): the radius at (2, 1) is 0.5
    r = linf_milp(net, np.array([2.0, 1.0]), 0, cap=4.0, time_limit=1.0)
    assert r.status == "optimal" and abs(r.radius - 0.5) < 1e-9
    assert len(seen) == 1 and seen[0] <= 1.0 - 0.3
