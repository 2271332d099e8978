"""The exact l2 radius by a mixed-integer quadratic program (verify.robust.miqp, SCIP through pyscipopt) against
the held-out oracle that enumerates every activation pattern (tests/verify/oracle_radius.py), and on a network
whose nearest misclassified point is reached through a vertex where two units flip at once.

Tolerances. SCIP stops at a relative gap of 1e-6 on t = ||d||^2 (:data:`verify.robust.miqp.MIQP_REL_GAP`), so the
distance of its point is within sqrt(1 + 1e-6) - 1 ~ 5e-7 relative above sqrt of its dual bound, which is
below the optimum up to its feasibility tolerance 1e-9 (times the big-M constants of the encoding, here below
~30: ~3e-8). TOL = 2e-6 relative covers the ~5.3e-7 with a factor ~4. ``upper`` is the distance of a witness
checked in rationals, so the truth is at most ``upper`` up to the oracle's rounding (~1e-12 relative here).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from verify.robust import robust_radius

from .oracle_radius import enumerate_radius
from .radius_nets import CASES, TOL, agrees, corner_network, far_class_network, integer_mlp, random_mlp


@pytest.fixture(scope="module")
def scip():
    """Skip the module's tests without pyscipopt (the optional extra ``l2``)."""
    return pytest.importorskip("pyscipopt")


@pytest.mark.parametrize("D,hidden,K,act,seed,domain", CASES)
def test_the_miqp_matches_the_enumeration_of_every_activation_pattern(scip, D, hidden, K, act, seed, domain):
    model = random_mlp(D, hidden, K, act, seed)
    g = torch.Generator().manual_seed(200 + seed)
    x = torch.rand(2, D, generator=g, dtype=torch.float64) * 1.6 - 0.8
    for r, xi in zip(robust_radius(model, x, norm=2, domain=domain, method="miqp", certify=False), x):
        agrees(r, enumerate_radius(model, xi.numpy(), r.label, "2", domain=domain))
        assert any(n.startswith("SCIP:") for n in r.notes), r.notes          # the MIQP ran, not the search


def test_two_units_flip_at_once_on_the_nearest_boundary(scip):
    model, x = corner_network(), torch.zeros(1, 2, dtype=torch.float64)
    truth = enumerate_radius(model, x[0].numpy(), 0, "2")
    assert truth == pytest.approx(2 * math.sqrt(2), rel=1e-12)                 # the oracle sees the corner point
    r = robust_radius(model, x, norm=2, method="miqp")[0]
    agrees(r, truth)
    assert np.allclose(r.witness, [2.0, 2.0], atol=1e-6)                       # both units on, past the vertex
    # the segment from x to the witness passes through (1, 1), on both units' boundaries
    s = 0.5
    assert np.allclose(s * np.array(r.witness), [1.0, 1.0], atol=1e-6)


def test_the_region_search_also_finds_the_corner():
    """The one-flip region search works on closed regions, so it steps through a vertex by a chain of
    single flips (every pattern that agrees off the units zero at the vertex contains it): it finds the
    corner too (recorded beside the MIQP, against the same oracle)."""
    model, x = corner_network(), torch.zeros(1, 2, dtype=torch.float64)
    truth = enumerate_radius(model, x[0].numpy(), 0, "2")
    agrees(robust_radius(model, x, norm=2, method="search")[0], truth)


def test_a_unit_constant_zero_on_the_region_is_flipped_by_the_search():
    """A second-layer unit g = relu(relu(x0 - 1) + relu(x1 - 1)) has pre-activation exactly 0 on x's whole region
    (zero gradient there). The search now flips it there too (before, only the chain of single flips through
    the thin regions {x0 = 1} and {x1 = 1}, where g's pre-activation is 0 too, reached class 1: f_1 = g >= 2)."""
    l1, l2, head = (torch.nn.Linear(2, 2, dtype=torch.float64), torch.nn.Linear(2, 1, dtype=torch.float64),
                    torch.nn.Linear(1, 2, dtype=torch.float64))
    with torch.no_grad():
        l1.weight.copy_(torch.eye(2, dtype=torch.float64))
        l1.bias.copy_(torch.tensor([-1.0, -1.0], dtype=torch.float64))
        l2.weight.copy_(torch.tensor([[1.0, 1.0]], dtype=torch.float64))
        l2.bias.zero_()
        head.weight.copy_(torch.tensor([[0.0], [1.0]], dtype=torch.float64))
        head.bias.copy_(torch.tensor([2.0, 0.0], dtype=torch.float64))
    model = torch.nn.Sequential(l1, torch.nn.ReLU(), l2, torch.nn.ReLU(), head).eval()
    x = torch.zeros(1, 2, dtype=torch.float64)
    agrees(robust_radius(model, x, norm=2, method="search")[0], enumerate_radius(model, x[0].numpy(), 0, "2"))


def test_no_class_change_in_the_domain_and_the_cap(scip):
    """Class 1 wins only beyond the domain [-1, 1]^2 (f_1 - f_0 = x0 - 3): the MIQP proves no class change; with
    the domain lifted and max_radius 1 it proves the radius exceeds 1 (the truth, 3, by the oracle)."""
    model = far_class_network()
    x = torch.zeros(1, 2, dtype=torch.float64)
    r = robust_radius(model, x, norm=2, domain=(-1.0, 1.0), method="miqp")[0]
    assert r.status == "no_class_change" and r.lower == math.inf, (r.status, r.notes)
    truth = enumerate_radius(model, x[0].numpy(), 0, "2")
    r = robust_radius(model, x, norm=2, max_radius=1.0, method="miqp")[0]
    assert truth > 1.0 and r.status == "beyond_cap" and 1.0 <= r.lower <= truth, (r.status, r.lower, truth)


def test_a_bad_method_is_refused():
    from verify.robust.inputs import RadiusOptionError

    with pytest.raises(RadiusOptionError, match="method"):
        robust_radius(corner_network(), torch.zeros(1, 2, dtype=torch.float64), norm=2, method="qp")


def test_without_pyscipopt_miqp_names_the_extra_and_auto_falls_back(monkeypatch):
    import sys

    from verify.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "pyscipopt", None)                         # import pyscipopt now fails
    model, x = corner_network(), torch.zeros(1, 2, dtype=torch.float64)
    with pytest.raises(MissingExtraError, match=r"pyscipopt.*\.\[l2\]"):
        robust_radius(model, x, norm=2, method="miqp")
    r = robust_radius(model, x, norm=2)[0]                                       # auto: the region search
    assert r.status == "optimal" and not any(n.startswith("SCIP:") for n in r.notes)


def test_ball_bounds_hold_on_the_ball_and_are_tighter_than_the_box():
    """PLNet.bounds with ``ball``: every node's value at points drawn in the ball (and the box) lies within the
    bounds, up to float rounding of the forward pass (1e-12 here), and no bound is looser than the box's alone."""
    from theory import from_torch
    from verify.robust.plnet import plnet

    model = random_mlp(6, (5, 5), 3, "leaky", 21)
    net = plnet(from_torch(model, (6,)))
    rng = np.random.default_rng(0)
    x, R = rng.uniform(-0.5, 0.5, 6), 0.7
    lo, hi = x - R, x + R
    Lb, Hb = net.bounds(lo, hi)
    L, H = net.bounds(lo, hi, ball=(x, R))
    d = rng.normal(size=(4000, 6))
    d *= (R * rng.uniform(0, 1, (4000, 1)) ** (1 / 6)) / np.linalg.norm(d, axis=1, keepdims=True)
    d[:6] = R * np.eye(6)                                       # points on the sphere, along the axes
    vals, _ = net.forward(x + d)
    for k in range(1, len(net.nodes)):
        assert np.all(vals[k] >= L[k] - 1e-12) and np.all(vals[k] <= H[k] + 1e-12), k
        assert np.all(L[k] >= Lb[k] - 1e-12) and np.all(H[k] <= Hb[k] + 1e-12), k
    assert sum(float(np.sum(Hb[k] - Lb[k]) - np.sum(H[k] - L[k])) for k in range(1, len(net.nodes))) > 0


@pytest.mark.parametrize("method", ["miqp", "search"])
def test_degenerate_integer_networks_match_the_enumeration(method):
    """Both l2 methods against the oracle where the arrangement is as degenerate as it gets (integer weights,
    x on the lattice). Where y only ties with a class on the nearest boundary and none overtakes it (seeds 5),
    both report the oracle's radius as "unverified": no strict witness exists there."""
    if method == "miqp":
        pytest.importorskip("pyscipopt")
    checked = 0
    for seed in range(12):
        model = integer_mlp(seed)
        for xi in ([0.0, 0.0], [1.0, 0.0], [0.0, -1.0], [1.0, 1.0]):
            x = torch.tensor([xi], dtype=torch.float64)
            r = robust_radius(model, x, norm=2, method=method, certify=False)[0]
            if r.status in ("misclassified", "no_class_change", "beyond_cap"):   # beyond_cap: none within 1e4
                truth = enumerate_radius(model, x[0].numpy(), r.label, "2")
                assert {"misclassified": truth == 0.0, "no_class_change": truth == math.inf,
                        "beyond_cap": truth >= r.lower}[r.status], (seed, xi, r.status, truth)
                continue
            truth = enumerate_radius(model, x[0].numpy(), r.label, "2")
            if r.status == "unverified":      # y only ties there, no class overtakes it nearby: nothing to witness
                assert r.upper == math.inf and abs(r.radius - truth) <= TOL * truth, (seed, xi, r.radius, truth)
                continue
            agrees(r, truth)
            checked += 1
    assert checked >= 10


def test_the_radius_command_takes_the_l2_method(tmp_path, capsys, monkeypatch):
    import json
    import sys

    from verify.cli import main

    torch.save(corner_network(), tmp_path / "net.pt")
    torch.save(torch.zeros(1, 2, dtype=torch.float64), tmp_path / "x.pt")
    base = ["radius", "--model", str(tmp_path / "net.pt"), "--inputs", str(tmp_path / "x.pt"), "--norm", "2",
            "--no-progress", "--no-certify"]
    truth = 2 * math.sqrt(2)
    for method in ("search", "miqp", "bab"):
        if method == "miqp" and not _have("pyscipopt"):
            continue
        out = tmp_path / f"{method}.jsonl"
        assert main(base + ["--l2-method", method, "--out", str(out)]) == 0
        res = json.loads(out.read_text())["result"]
        assert res["status"] == "optimal" and abs(res["radius"] - truth) <= TOL * truth, res
        assert any(n.startswith("SCIP:") for n in res["notes"]) == (method == "miqp")
        assert any(n.startswith("l2 branch and bound") for n in res["notes"]) == (method == "bab")
    capsys.readouterr()
    monkeypatch.setitem(sys.modules, "pyscipopt", None)
    assert main(base + ["--l2-method", "miqp", "--out", str(tmp_path / "none.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert "pyscipopt" in err and '".[l2]"' in err and len(err.splitlines()) == 1, err


def _have(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None
