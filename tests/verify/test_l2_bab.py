"""The exact l2 radius by branch and bound (verify.robust.l2bab) against the held-out oracle that enumerates every
activation pattern (tests/verify/oracle_radius.py), on the network whose nearest misclassified point is reached
through a vertex where two units flip at once, and its ball bounds against sampled points.

Tolerances. The search ends when no point within R (1 - RTOL) is misclassified, R the distance of a point NNLS
put on the boundary (RTOL = 5e-7), so its lower bound is within 5e-7 relative below R; R is above the optimum by
NNLS's rounding only (~1e-12 here). TOL = 2e-6 relative covers that with a factor 4, as for the MIQP.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from verify.robust import robust_radius
from verify.robust.l2bab import RTOL

from .oracle_radius import enumerate_radius
from .radius_nets import CASES, TOL, agrees, corner_network, far_class_network, integer_mlp, random_mlp

ABS = [pytest.param(3, (4, 3), 3, "abs", 16, (-1.0, 1.0), id="mlp3-4x3-3-abs-box"),
       pytest.param(4, (6,), 3, "relu", 17, (0.0, 1.0), id="mlp4-6-3-relu-unit-box")]


def ran_bab(r):
    return any(n.startswith("l2 branch and bound") for n in r.notes) and "regions" not in r.problem


@pytest.mark.parametrize("D,hidden,K,act,seed,domain", CASES + ABS)
def test_branch_and_bound_matches_the_enumeration_of_every_activation_pattern(D, hidden, K, act, seed, domain):
    model = random_mlp(D, hidden, K, act, seed)
    g = torch.Generator().manual_seed(300 + seed)
    x = torch.rand(3, D, generator=g, dtype=torch.float64) * 1.6 - 0.8
    if domain is not None:
        x = x.clamp(*domain)
    for r, xi in zip(robust_radius(model, x, norm=2, domain=domain, method="bab", certify=False), x):
        if r.status == "misclassified":
            continue
        agrees(r, enumerate_radius(model, xi.numpy(), r.label, "2", domain=domain))
        assert ran_bab(r), r.notes
        assert r.lower >= r.radius * (1 - RTOL) * (1 - 1e-12), (r.lower, r.radius)     # the gap it ends at


def test_branch_and_bound_finds_the_corner_where_two_units_flip_at_once():
    model, x = corner_network(), torch.zeros(1, 2, dtype=torch.float64)
    truth = enumerate_radius(model, x[0].numpy(), 0, "2")
    r = robust_radius(model, x, norm=2, method="bab")[0]
    agrees(r, truth)
    assert ran_bab(r) and np.allclose(r.witness, [2.0, 2.0], atol=1e-6), (r.notes, r.witness)


def test_branch_and_bound_on_degenerate_integer_networks():
    """Integer weights and lattice points: nearest points where several units change sign at once. Against the
    oracle as the other methods are (test_l2_miqp), "unverified" where y only ties on the nearest boundary."""
    checked = 0
    for seed in range(12):
        model = integer_mlp(seed)
        for xi in ([0.0, 0.0], [1.0, 0.0], [0.0, -1.0], [1.0, 1.0]):
            x = torch.tensor([xi], dtype=torch.float64)
            r = robust_radius(model, x, norm=2, method="bab", certify=False)[0]
            truth = enumerate_radius(model, x[0].numpy(), r.label, "2")
            if r.status in ("misclassified", "no_class_change", "beyond_cap"):
                assert {"misclassified": truth == 0.0, "no_class_change": truth == math.inf,
                        "beyond_cap": truth >= r.lower}[r.status], (seed, xi, r.status, truth)
                continue
            if r.status == "unverified":
                assert r.upper == math.inf and abs(r.radius - truth) <= TOL * truth, (seed, xi, r.radius, truth)
                continue
            agrees(r, truth)
            checked += 1
    assert checked >= 10


def test_no_class_change_in_a_bounded_domain_and_the_cap():
    """Class 1 wins only beyond the domain [-1, 1]^2: without a witness the ball holds the whole domain, and branch
    and bound proves that no point of it changes class; with the domain lifted and max_radius 1 it proves the
    radius exceeds 1 (the truth, 3, by the oracle)."""
    model, x = far_class_network(), torch.zeros(1, 2, dtype=torch.float64)
    r = robust_radius(model, x, norm=2, domain=(-1.0, 1.0), method="bab")[0]
    assert r.status == "no_class_change" and r.lower == math.inf and ran_bab(r), (r.status, r.notes)
    truth = enumerate_radius(model, x[0].numpy(), 0, "2")
    r = robust_radius(model, x, norm=2, max_radius=1.0, method="bab")[0]
    assert truth > 1.0 and r.status == "beyond_cap" and 1.0 <= r.lower <= truth and ran_bab(r), (r.status, r.lower)


def test_a_node_limit_gives_a_bracket_that_holds_and_the_same_result_twice():
    """A wider network than the oracle's, stopped by a node budget: the bracket holds the truth (a careful
    reference: the unbounded branch and bound, which the oracle checks above), and the budget is deterministic."""
    model = random_mlp(6, (16, 16), 4, "relu", 31)
    x = torch.rand(1, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    full = robust_radius(model, x, norm=2, method="bab", time_limit=None, certify=False)[0]
    assert full.status == "optimal" and ran_bab(full), (full.status, full.notes)
    a, b = (robust_radius(model, x, norm=2, method="bab", time_limit=None, node_limit=20, certify=False)[0]
            for _ in range(2))
    assert a.status == "node_limit" and a.lower < full.lower, (a.status, a.lower, full.lower)
    assert a.lower <= full.radius * (1 + TOL) and full.radius <= a.upper * (1 + 1e-12), (a.lower, full.radius, a.upper)
    assert (a.status, a.lower, a.upper, a.nodes) == (b.status, b.lower, b.upper, b.nodes)


def test_a_network_outside_the_chain_falls_back_to_the_region_search():
    """A network with max pooling is not a rectifier chain: the region search runs, and the notes say so."""
    g = torch.Generator().manual_seed(4)
    conv, head = torch.nn.Conv2d(1, 2, 2, dtype=torch.float64), torch.nn.Linear(2, 3, dtype=torch.float64)
    with torch.no_grad():
        for p in [*conv.parameters(), *head.parameters()]:
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    model = torch.nn.Sequential(conv, torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(), head).eval()
    x = torch.rand(1, 1, 3, 3, generator=g, dtype=torch.float64)
    r = robust_radius(model, x, norm=2, method="bab", certify=False)[0]
    assert "regions" in r.problem and any("so the region search ran" in n for n in r.notes), r.notes
    assert r.status == "optimal", (r.status, r.notes)


def test_the_ball_bounds_hold_at_sampled_points_of_the_ball_and_box():
    """Chain.set_ball: each hidden layer's bounds and a margin row's lower bound (CROWN's slopes) hold at points
    drawn in the ball intersected with the box, and are no looser than the box's alone."""
    from theory import from_torch
    from verify.robust.crown import mlp_chain
    from verify.robust.plnet import plnet

    model = random_mlp(6, (7, 7), 3, "leaky", 22)
    chain = mlp_chain(plnet(from_torch(model, (6,))))
    rng = np.random.default_rng(1)
    x, R = rng.uniform(0.2, 0.8, 6), 0.6
    lo, hi = torch.as_tensor(np.maximum(x - R, 0.0)), torch.as_tensor(np.minimum(x + R, 1.0))
    with torch.no_grad():
        Lb, Hb = chain.all_bounds(lo, hi, 1)
        C = torch.tensor([[[1.0, -1.0, 0.0]]], dtype=torch.float64)
        box = chain.lower(C, chain.depth - 1, Lb, Hb, lo, hi)[0] - C[0].abs() @ chain.box_pads[-1]
        chain.set_ball(x, R)
        L, H = chain.all_bounds(lo, hi, 1)
        ball = chain.lower(C, chain.depth - 1, L, H, lo, hi)[0] - C[0].abs() @ chain.box_pads[-1]
    d = rng.normal(size=(6000, 6))
    d *= (R * rng.uniform(0, 1, (6000, 1)) ** (1 / 6)) / np.linalg.norm(d, axis=1, keepdims=True)
    z = torch.as_tensor(np.clip(x + d, 0.0, 1.0))
    v = z
    for i in range(chain.depth - 1):
        u = v @ chain.W[i].T + chain.b[i]
        assert bool((u >= L[i][0] - 1e-12).all() and (u <= H[i][0] + 1e-12).all()), i
        assert bool((L[i] >= Lb[i] - 1e-12).all() and (H[i] <= Hb[i] + 1e-12).all()), i
        v = torch.where(u > 0, u, chain.a[i] * u)
    f = v @ chain.W[-1].T + chain.b[-1]
    assert float((f[:, 0] - f[:, 1]).min()) >= float(ball[0, 0]) >= float(box[0, 0]) - 1e-12
    assert sum(float((Hb[i] - Lb[i]).sum() - (H[i] - L[i]).sum()) for i in range(chain.depth - 1)) > 0
