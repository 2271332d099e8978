"""Branch and bound for l-inf verification (verify.robust.bab, verify.robust.crown): against the enumeration
oracle of tests/verify/oracle_radius.py (every activation pattern, brute force over each polytope's
vertices, no solver shared), its witnesses, and its bounds against their definitions.

Tolerances. The oracle's radius is exact up to its linear algebra (~1e-12 relative on these sizes); BaB is
asked only at eps = truth x 0.7 and x 1.3, far from the radius, so no tolerance enters the decisions.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from verify.robust import robust_at
from verify.robust.bab import linf_bab
from verify.robust.checks import Checker
from verify.robust.crown import mlp_chain
from verify.robust.inputs import check_inputs

from .oracle_radius import enumerate_radius
from .radius_nets import random_mlp as _mlp

CASES = [  # (D, hidden, K, activation, seed, domain): small enough for the enumeration
    pytest.param(4, (6,), 3, "relu", 1, None, id="mlp4-6-3-relu"),
    pytest.param(3, (4, 4), 3, "relu", 5, None, id="mlp3-4x4-3-relu"),
    pytest.param(3, (4, 4), 3, "leaky", 2, None, id="mlp3-4x4-3-leaky0.1"),
    pytest.param(4, (3, 3), 2, "abs", 3, None, id="mlp4-3x3-2-abs"),
    pytest.param(2, (8,), 3, "relu", 4, (-1.0, 1.0), id="mlp2-8-3-relu-box"),
]


def _setup(model, x, y, domain):
    ins = check_inputs(model, torch.as_tensor(x)[None], domain=domain)
    chk = Checker(ins.exact, ins.float_logits, ins.X[0], y, "inf", ins.dtype, ins.dom)
    return ins, chk


@pytest.mark.parametrize("D,hidden,K,act,seed,domain", CASES)
def test_bab_decides_as_the_enumerated_radius_says(D, hidden, K, act, seed, domain):
    model = _mlp(D, hidden, K, act, seed)
    x = torch.rand(3, D, generator=torch.Generator().manual_seed(100 + seed), dtype=torch.float64) * 1.6 - 0.8
    seen = set()
    for xi in x:
        y = int(model(xi[None]).argmax())
        truth = enumerate_radius(model, xi.numpy(), y, "inf", domain=domain)
        ins, chk = _setup(model, xi, y, domain)
        for f in (0.7, 1.3):
            e = truth * f
            # node_limit: the decision is asked for, so a budget that stops it must not be the reason it passes
            r = linf_bab(ins.pl, ins.X[0], y, eps=e, checker=chk, domain=ins.dom, node_limit=5000)
            want = "robust" if e < truth else "not robust"
            assert r.status == want, (truth, e, r)
            seen.add(r.status)
            if r.status == "not robust":
                w = r.witness
                assert np.max(np.abs(w - xi.numpy())) <= e and r.check["exact"] and r.check["float"], r
                if domain is not None:
                    assert w.min() >= domain[0] and w.max() <= domain[1]
            else:
                assert r.lower > 0 and "gamma_N" in r.rests_on
    assert seen == {"robust", "not robust"}


def test_robust_at_by_bab_matches_the_milp_and_the_oracle():
    model = _mlp(3, (5, 5), 3, "relu", 7)
    x = torch.rand(3, 3, generator=torch.Generator().manual_seed(107), dtype=torch.float64) * 1.6 - 0.8
    truth = [enumerate_radius(model, xi.numpy(), int(model(xi[None]).argmax()), "inf") for xi in x]
    grid = sorted({t * f for t in truth for f in (0.6, 1.4)})
    for method in ("bab", "milp"):
        res = robust_at(model, x, eps_grid=grid, method=method)
        for r, t in zip(res, truth):
            assert r.status in ("decided", "optimal"), (method, r.notes)
            for e in grid:
                assert (r.lower > e) == (t > e) and (r.upper <= e) == (t <= e), (method, e, t, r)


def _random_box(seed, D=5, hidden=(8, 8, 6), K=3, act="relu", eps=0.6):
    model = _mlp(D, hidden, K, act, seed)
    x = torch.rand(D, generator=torch.Generator().manual_seed(200 + seed), dtype=torch.float64) - 0.5
    ins = check_inputs(model, x[None])
    chain = mlp_chain(ins.pl)
    lo, hi = torch.as_tensor(ins.X[0] - eps), torch.as_tensor(ins.X[0] + eps)
    return model, chain, lo, hi


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_bounds_hold_at_sampled_points_before_and_after_a_split(seed):
    model, chain, lo, hi = _random_box(seed)
    C = torch.tensor([[[1.0, -1.0, 0.0], [1.0, 0.0, -1.0]]], dtype=torch.float64)
    L, H = chain.all_bounds(lo, hi, 1)
    root = chain.lower(C, chain.depth - 1, L, H, lo, hi)[0][0]
    # the definition: the bound is below the margin at every point of the box (sampled, and the corners' mix)
    Z = lo + (hi - lo) * torch.rand(4000, lo.numel(), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    with torch.no_grad():
        f = model(Z)
    margins = torch.stack([f[:, 0] - f[:, 1], f[:, 0] - f[:, 2]], 1)
    assert (margins.min(0).values >= root).all(), (margins.min(0).values, root)
    # split the first unstable unit of the last hidden layer: each child's bound holds on its own part of the
    # box. CROWN's bound is not monotone under a split (the tighter layer bounds change the fixed rule's
    # slopes of other units: seed 0 shows it), so BaB's node bound is the larger of the child's and the parent's
    # (the parent's holds on the child), checked on linf_bab's nodes below
    i = chain.depth - 2
    u = int(((L[i][0] < 0) & (H[i][0] > 0)).nonzero()[0])
    z = Z
    for j in range(i + 1):
        z = z @ chain.W[j].T + chain.b[j]
        if j < i:
            z = torch.where(z > 0, z, chain.a[j] * z)
    for phase in (1, -1):
        Lk, Hk = [v.clone() for v in L], [v.clone() for v in H]
        if phase > 0:
            Lk[i][0, u] = 0.0
        else:
            Hk[i][0, u] = 0.0
        Lk, Hk = chain.all_bounds(lo, hi, 1, Lk, Hk, i + 1)
        kid = chain.lower(C, chain.depth - 1, Lk, Hk, lo, hi)[0][0]
        part = (z[:, u] >= 0) if phase > 0 else (z[:, u] <= 0)
        # with the split constraint's Lagrangian term (any beta >= 0) the bound still holds on the part
        S = [torch.zeros_like(v) for v in Lk]
        S[i][0, u] = phase
        beta = [torch.rand(1, 2, v.shape[1], generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
                for v in Lk]
        kid_beta = chain.lower(C, chain.depth - 1, Lk, Hk, lo, hi, beta=beta, S=S)[0][0]
        if part.any():               # (a unit may be unstable by the bounds yet one-signed on every sample)
            assert (margins[part].min(0).values >= kid).all()
            assert (margins[part].min(0).values >= kid_beta).all()


def test_the_search_bound_never_falls_below_the_root_bound():
    # the least open sub-domain's bound after more splits is >= the root's (a child keeps its parent's bound
    # where CROWN's own is lower), and the search reaches further than the root alone
    model = _mlp(5, (8, 8, 6), 3, "relu", 0)
    x = torch.rand(5, generator=torch.Generator().manual_seed(200), dtype=torch.float64) - 0.5
    y = int(model(x[None]).argmax())
    ins, chk = _setup(model, x, y, None)
    lows = []
    for n in (1, 20, 400):
        r = linf_bab(ins.pl, ins.X[0], y, eps=0.1, checker=chk, node_limit=n)
        assert r.status != "not robust"
        lows.append(r.lower)            # the least open bound (unknown) or the least pruned one (robust)
    assert lows[0] <= lows[1] <= lows[2] and lows[0] < lows[2], lows


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_optimised_slopes_never_fall_below_the_fixed_rule_and_stay_valid(seed):
    from verify.robust.bab import optimise

    model, chain, lo, hi = _random_box(seed, eps=0.4)
    C = torch.tensor([[[1.0, -1.0, 0.0], [1.0, 0.0, -1.0]]], dtype=torch.float64)
    L, H = chain.all_bounds(lo, hi, 1)
    fixed = chain.lower(C, chain.depth - 1, L, H, lo, hi)[0]
    best, _, _, alpha, _ = optimise(chain, C, L, H, lo, hi, None, 20)
    assert (best >= fixed).all()
    for a, s in zip(alpha, chain.a):
        assert (a >= s).all() and (a <= 1).all()
    again = chain.lower(C, chain.depth - 1, L, H, lo, hi, alpha)[0]     # the slopes reproduce the bound
    assert torch.equal(again, best)
    Z = lo + (hi - lo) * torch.rand(4000, lo.numel(), generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    with torch.no_grad():
        f = model(Z)
    assert (torch.stack([f[:, 0] - f[:, 1], f[:, 0] - f[:, 2]], 1).min(0).values >= best[0]).all()


def test_a_network_that_is_not_an_mlp_is_reported_unsupported():
    from verify.modules import MaxoutUnit

    model = torch.nn.Sequential(torch.nn.Linear(3, 4), MaxoutUnit(2), torch.nn.Linear(2, 2)).double().eval()
    x = torch.zeros(3, dtype=torch.float64)
    y = int(model(x[None]).argmax())
    ins, chk = _setup(model, x, y, None)
    r = linf_bab(ins.pl, ins.X[0], y, eps=0.1, checker=chk)
    assert r.status == "unknown" and r.stopped == "unsupported"


def test_choosing_among_several_candidates_decides_the_same(monkeypatch):
    import verify.robust.bab as bab

    monkeypatch.setattr(bab, "CANDIDATES", 4)
    test_bab_decides_as_the_enumerated_radius_says(3, (4, 4), 3, "relu", 5, None)


def test_the_competition_benchmark_compares_both_methods_on_the_same_instances(capsys):
    from verify.bench.radius_comp import _summary, compare

    model = _mlp(3, (5,), 3, "relu", 1)
    x = torch.rand(2, 3, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    y = model(x).argmax(1)
    truth = [enumerate_radius(model, xi.numpy(), int(yi), "inf", domain=(0.0, 1.0)) for xi, yi in zip(x, y)]
    eps = sorted({t * f for t in truth for f in (0.5, 2.0)})
    rows = compare(model, x, y, eps, 10.0)
    for m in ("milp", "bab"):
        s = _summary(rows[m])
        assert s["n"] == len(eps) * 2 and s["decided"] == s["n"]
        for r in rows[m]:
            assert r["decision"] == ("robust" if truth[r["image"]] > r["eps"] else "not robust"), (m, r)
    assert "bab" in capsys.readouterr().out
    from verify.bench.radius_comp import _problem

    assert all(r["stopped"] == "decided" for m in rows for r in rows[m])
    assert "bin/" in _problem(rows["milp"]) and _problem(rows["bab"]).startswith("- bin/")


def test_the_competition_benchmark_times_the_lab_s_digits_cnn_by_the_milp(monkeypatch, capsys):
    """--digits-cnn: the lab's CNN, trained by the lab's loop (here 1 epoch), by the MILP alone, in the table."""
    import dataclasses

    import verify.dynamics.settings as S
    from verify.bench import radius_comp

    real = S.settings_for
    monkeypatch.setattr(S, "settings_for", lambda *a, **k: dataclasses.replace(real(*a, **k), epochs=1))
    assert radius_comp.main(["--archs", "--digits-cnn", "1", "--time-limit", "5"]) == 0
    out = capsys.readouterr().out
    assert "the lab's digits CNN: 1 points" in out and " bab" not in out
    assert out.count(" milp") == 6                          # 3 instances (one point, 3 eps) and 3 table rows



@pytest.mark.parametrize("k", [1, 3])
def test_the_batched_branching_scores_pick_the_units_their_definition_picks(k):
    """Each node's candidates against a per-node computation from the score's definition: over the unstable
    units (l < 0 < h) of every layer, |coefficient| x |l (a - chord)| (+ 1e-30), each layer's best k, then
    the best k of those, a later layer first among equal scores; None when no unit is unstable. Some nodes
    have every unit stable, some layers none unstable, and two layers carry equal scores."""
    from verify.robust.bab import split_scores

    model, chain, lo, hi = _random_box(0, eps=0.4)
    g = torch.Generator().manual_seed(3)
    B, nh = 6, chain.depth - 1
    L = [-torch.rand(B, n, generator=g, dtype=torch.float64) for n in (w.shape[0] for w in chain.W[:nh])]
    H = [torch.rand(B, v.shape[1], generator=g, dtype=torch.float64) for v in L]
    for i in range(nh):
        stable = torch.rand(B, L[i].shape[1], generator=g) < 0.4
        L[i] = torch.where(stable, H[i], L[i])               # l = h > 0: active
    L[0][1], H[0][1] = 0.5, 0.5                              # node 1: layer 0 has no unstable unit
    for i in range(nh):
        L[i][2], H[i][2] = 0.0, 0.0                          # node 2: no unstable unit anywhere
    kept = {i: torch.randn(B, 2, L[i].shape[1], generator=g, dtype=torch.float64) for i in range(nh)}
    for i in range(nh):
        kept[i][3, 1] = 0.0                                  # node 3, row 1: every score is 1e-30 (ties)
    for row in (0, 1):
        got = split_scores(chain, kept, L, H, row, k)
        for n in range(B):
            cands = []
            for i in range(nh):
                l, h, a = L[i][n].numpy(), H[i][n].numpy(), chain.a[i].numpy()
                un = [u for u in range(len(l)) if l[u] < 0 < h[u]]
                sc = {u: abs(kept[i][n, row, u].item()) * abs(l[u] * (a[u] - (h[u] - a[u] * l[u]) / (h[u] - l[u])))
                      + 1e-30 for u in un}
                cands += [(v, i, u) for u, v in sorted(sc.items(), key=lambda t: -t[1])[:k]]
            want = [(i, u) for v, i, u in sorted(cands, key=lambda t: (-t[0], -t[1]))[:k]]
            if n == 2:
                assert got[n] is None
            elif not (n == 3 and row == 1):                  # equal scores within a layer: any of them
                assert got[n] == want, (row, n, got[n], want)
            else:
                assert [c[0] for c in got[n]] == [c[0] for c in want]
                assert all(L[i][n, u] < 0 < H[i][n, u] for i, u in got[n])
