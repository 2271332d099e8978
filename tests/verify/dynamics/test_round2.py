"""Round 2 of the training lab: the TRADES and MART losses against their definitions, the objectives' ids,
AutoAttack checked against the exact radius, the small CNN, and the dose-response rule."""

from __future__ import annotations

import math
import sys

import pytest
import torch

from verify.dynamics.train import Objective, build_model, objective_loss

D, K, B = 4, 5, 7


def _model(seed=0, K=K):
    return build_model("mlp8x6", (D,), K, seed)


def _batch(seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(B, D, dtype=torch.float64, generator=g)
    xa = (x + 0.1 * (2 * torch.rand(B, D, dtype=torch.float64, generator=g) - 1)).clamp(0, 1)
    y = torch.randint(0, K, (B,), generator=g)
    return x, xa, y


# ---- the losses, each against a direct computation from its definition --------------------------------------

def _softmax(f):
    e = torch.exp(f - f.max(1, keepdim=True).values)
    return e / e.sum(1, keepdim=True)


def _ce(f, y):
    p = _softmax(f)
    return -torch.log(p[torch.arange(len(y)), y])


def _kl(fp, fq):
    p, q = _softmax(fp), _softmax(fq)
    return (p * (torch.log(p) - torch.log(q))).sum(1)


def _emr_per_example(model, x, T):
    """||J_i^T p~_i||^2 with J_i the logit Jacobian of example i (torch.autograd.functional.jacobian, one
    example at a time) and p~ = softmax(f/T)."""
    out = []
    for xi in x:
        J = torch.autograd.functional.jacobian(lambda v: model(v[None])[0], xi)     # (K, D)
        pt = _softmax(model(xi[None]).detach() / T)[0]
        out.append((J.T @ pt).square().sum())
    return torch.stack(out)


def test_trades_loss_is_its_definition():
    m = _model()
    x, xa, y = _batch()
    obj = Objective(eps=0.1, defense="trades", beta=6.0)
    loss, logits = objective_loss(m, obj, x, y, xa)
    f, fa = m(x), m(xa)
    want = (_ce(f, y) + 6.0 * _kl(f, fa)).mean()
    assert torch.allclose(loss, want, rtol=1e-12, atol=0)
    assert torch.equal(logits, fa)


def test_mart_loss_is_its_definition():
    m = _model()
    x, xa, y = _batch()
    obj = Objective(eps=0.1, defense="mart", beta=6.0)
    loss, _ = objective_loss(m, obj, x, y, xa)
    f, fa = m(x), m(xa)
    pa, p = _softmax(fa), _softmax(f)
    idx = torch.arange(B)
    others = pa.clone()
    others[idx, y] = -1.0
    boosted = _ce(fa, y) - torch.log(1 - others.max(1).values)
    want = (boosted + 6.0 * _kl(f, fa) * (1 - p[idx, y])).mean()
    assert torch.allclose(loss, want, rtol=1e-12, atol=0)


def test_mart_gradient_is_the_definitions():
    """The weight gradient too: the definition's gradient through every factor, (1 - p_y(x)) included."""
    m = _model()
    x, xa, y = _batch()
    loss, _ = objective_loss(m, Objective(eps=0.1, defense="mart", beta=6.0), x, y, xa)
    g1 = torch.autograd.grad(loss, list(m.parameters()))
    f, fa = m(x), m(xa)
    pa, p = _softmax(fa), _softmax(f)
    idx = torch.arange(B)
    mask = torch.nn.functional.one_hot(y, K).bool()
    boosted = _ce(fa, y) - torch.log(1 - pa.masked_fill(mask, -1.0).max(1).values)
    want = (boosted + 6.0 * _kl(f, fa) * (1 - p[idx, y])).mean()
    g2 = torch.autograd.grad(want, list(m.parameters()))
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("defense", ["at", "trades", "mart"])
def test_emr_term_is_added_at_the_adversarial_points(defense):
    m = _model()
    x, xa, y = _batch()
    kw = {} if defense == "at" else dict(defense=defense, beta=6.0)
    base, _ = objective_loss(m, Objective(eps=0.1, **kw), x, y, xa)
    with_emr, _ = objective_loss(m, Objective("emr", lam=0.3, T=2.0, eps=0.1, **kw), x, y, xa)
    want = 0.3 * _emr_per_example(m, xa, 2.0).mean()
    assert torch.allclose(with_emr - base, want, rtol=1e-10, atol=1e-14)


def test_emr_official_arm_uses_the_official_batch_form():
    m = _model()
    x, xa, y = _batch()
    base, _ = objective_loss(m, Objective(eps=0.1), x, y, xa)
    off, _ = objective_loss(m, Objective("emr", lam=3.0, T=40.0, eps=0.1, convention="emr-official"), x, y, xa)
    want = 3.0 * _emr_per_example(m, xa, 40.0).sum() / B ** 2
    assert torch.allclose(off - base, want, rtol=1e-10, atol=1e-14)


def test_kl_attack_ascends_the_kl_term():
    """PGD with loss='kl' computes KL(p(x0) || p(x)) and stays in the ball and the box."""
    from verify.dynamics.attacks import PGD

    m = _model().eval()
    x, _, y = _batch()
    atk = PGD(0.1, steps=5, loss="kl")
    ref = torch.log(_softmax(m(x).detach()))
    z = x + 0.05
    got = atk._loss(m(z), y, ref, "none")
    assert torch.allclose(got, _kl(m(x), m(z)), rtol=1e-10, atol=1e-15)
    adv = atk.perturb(m, x, y, generator=torch.Generator().manual_seed(0))
    assert float((adv - x).abs().max()) <= 0.1 + 1e-15 and float(adv.min()) >= 0 and float(adv.max()) <= 1
    with torch.no_grad():
        assert bool((_kl(m(x), m(adv)) > 0).all())
    assert atk.to_dict()["loss"] == "kl" and "loss" not in PGD(0.1).to_dict()
    with pytest.raises(ValueError, match="loss"):
        PGD(0.1, loss="dlr")


# ---- the objectives' ids ------------------------------------------------------------------------------------

def test_round2_objectives_round_trip_and_round1_records_unchanged():
    objs = [Objective(eps=0.1, defense="trades", beta=6), Objective(eps=0.1, defense="MART", beta=6),
            Objective("emr", lam=1e-3, T=1, eps=0.1, defense="trades", beta=6),
            Objective("emr", lam=1e-3, T=1, eps=0.1, defense="mart", beta=6),
            Objective("R-EMR", lam=3, T=40, eps=0.1, convention="emr-official")]
    ids = [o.id for o in objs]
    assert ids == ["trades(eps=0.1,beta=6)", "mart(eps=0.1,beta=6)", "trades(eps=0.1,beta=6)+emr(lam=0.001,T=1)",
                   "mart(eps=0.1,beta=6)+emr(lam=0.001,T=1)", "at(eps=0.1)+emr(lam=3,T=40,emr-official)"]
    assert [o.family for o in objs] == ["trades", "mart", "trades+emr", "mart+emr", "at+emr"]
    for o in objs:
        assert Objective.from_dict(o.to_dict()) == o
    # a round-1 objective's record has exactly the keys it had before round 2
    assert set(Objective("emr", lam=0.1, eps=0.1).to_dict()) == {"id", "family", "reg", "lam", "eps", "T", "h"}
    for bad in (dict(eps=0.0, defense="trades", beta=6), dict(eps=0.1, defense="trades"),
                dict(eps=0.1, beta=6), dict(reg="ig", lam=1, convention="emr-official"),
                dict(reg="emr", lam=1, convention="official")):
        with pytest.raises(ValueError):
            Objective(**bad)
    from verify.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="unknown defense"):
        Objective(eps=0.1, defense="fgsm", beta=1)


# ---- AutoAttack, checked against the exact radius ----------------------------------------------------------

def test_autoattack_breaks_only_with_checked_witnesses_and_never_a_proved_robust_point():
    pytest.importorskip("pyautoattack")
    from verify.dynamics.autoattack import autoattack
    from verify.robust.decide import robust_at, witness_distances

    g = torch.Generator().manual_seed(5)
    m = build_model("mlp10x10", (D,), K, 3)
    X = torch.rand(400, D, dtype=torch.float64, generator=g)           # a few steps on linear classes, so that the
    Y = (X @ torch.randn(D, K, dtype=torch.float64, generator=g)).argmax(1)   # decision boundaries cross the box
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(m(X), Y).backward()
        opt.step()
    m.eval()
    x = X[:24]
    with torch.no_grad():
        y = m(x).argmax(1)
    eps = 0.1
    exact = robust_at(m, x, y, eps_grid=[eps], domain=(0.0, 1.0), time_limit=None)
    res = autoattack(m, x, y, eps=eps, version="standard", box=(0.0, 1.0), seed=0, n_iter=20, n_queries=100)
    broken = (~res["robust"]).nonzero().squeeze(1).tolist()
    proved = [i for i, r in enumerate(exact) if r.lower > eps]
    assert broken and proved, "the test needs points on both sides of eps"
    d = witness_distances(m, x[broken], y[broken], res["points"][broken], norm="inf")
    assert all(di is not None and di <= eps for di in d), d
    assert not set(broken) & set(proved)
    s = res["settings"]
    assert s["attacks"] == ["apgd-ce", "apgd-t", "fab-t", "square"] and s["apgd_iterations"] == 20
    assert s["square_queries"] == 100 and s["target_classes"] == K - 1


def test_autoattack_without_the_package_names_the_extra(monkeypatch):
    from verify.dynamics.autoattack import autoattack
    from verify.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "pyautoattack", None)
    m = _model().eval()
    x, _, y = _batch()
    with pytest.raises(MissingExtraError, match=r'pip install -e "\.\[autoattack\]"'):
        autoattack(m, x, y, eps=0.1, version="fast", box=(0, 1), seed=0)


def test_cli_round2_without_autoattack_is_one_line(monkeypatch, capsys):
    from verify.cli.dynamics import main

    monkeypatch.setitem(sys.modules, "pyautoattack", None)
    assert main(["--round", "2", "--seeds", "1", "--epochs", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and ".[autoattack]" in err


# ---- the small CNN ------------------------------------------------------------------------------------------

def test_cnn_trains_on_digits_and_every_measure_is_finite():
    from verify.dynamics.lab import eval_set, load_data
    from verify.dynamics.measures import measure
    from verify.dynamics.settings import settings_for
    from verify.dynamics.train import generator, make_optimizer, train_epoch

    s = settings_for("digits", cnn=True)
    assert s.arch == "cnn16x32" and "set by" not in s.reasons["arch"]
    ds = load_data("digits")
    m = build_model(s.arch, ds.in_shape, ds.classes, 0)
    assert sum(isinstance(k, torch.nn.Conv2d) for k in m) == 2 and sum(isinstance(k, torch.nn.MaxPool2d) for k in m) == 2
    opt = make_optimizer(m, s.lr)
    x_tr, y_tr = ds.x_train.double(), ds.y_train
    for e in (1, 2):
        train_epoch(m, opt, Objective(), x_tr, y_tr, batch_size=s.batch_size, order=generator("order", 0, e),
                    attack_gen=generator("attack", 0, e), attack_steps=s.train_steps, box=ds.box, run_id="cnn", epoch=e)
    x, y = eval_set(ds, s, torch.float64, "cpu")
    x, y = x[:48], y[:48]
    r = measure(m, x, y, eps_grid=s.eps_grid, attack_steps=4, attack_restarts=1, box=ds.box,
                generator=torch.Generator().manual_seed(0), n_spectra=16,
                radius=dict(points=2, time_limit=5.0, node_limit=200, max_binaries=40, l2_points=1, l2_time_limit=5.0,
                            l2_regions=5))
    assert r["clean_accuracy"] > 0.5, r["clean_accuracy"]          # 10 classes: chance is 0.1
    assert r["effective_margin"]["n"] > 0 and r["effective_margin"]["n"] == 48 - r["kinks"]
    for key in ("effective_margin", "effective_weight_norm", "cross_entropy", "param_gradient_norm", "output_margin"):
        assert all(math.isfinite(v) for v in r[key].values()), key
    assert list(r["layer_spectra"]) == ["L1", "L2"]                   # both rectified layers are convolutional
    for layer in r["layer_spectra"].values():
        for stat in ("largest", "mean", "smallest_nonzero"):
            assert layer[stat]["n"] > 0 and math.isfinite(layer[stat]["median"]) and layer[stat]["median"] > 0
    assert all(math.isfinite(v) for v in r["robust_accuracy"].values())
    er = r["exact_radius"]["exact_robust_accuracy"]
    assert all(v["n"] == 2 and v["contradictions"] == 0 for v in er.values())


def test_cnn_layer_spectrum_is_that_of_the_conv_layers_autograd_jacobian():
    """The first rectified layer's J_1 of the CNN is ReLU'(conv(x)) times the convolution: its singular
    values, from autograd on relu(conv1(x)), match the measure's (one point, no kink)."""
    from verify.dynamics.measures import _chunked

    m = build_model("cnn3x4", (1, 6, 6), 4, 2).eval()
    x = torch.rand(3, 1, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) + 0.1
    J, fl, r, kink, names, per = _chunked(m, x, 3)
    assert not bool(kink.any()), "the test needs points off every kink"
    top, mean, nz = per[names[0]]
    for i in range(3):
        A = torch.autograd.functional.jacobian(lambda v: torch.relu(m[0](v[None]))[0].flatten(), x[i]).reshape(-1, 36)
        sv = torch.linalg.svdvals(A)
        assert math.isclose(float(top[i]), float(sv[0]), rel_tol=1e-10)
        assert math.isclose(float(mean[i]), float(sv[:36].mean()), rel_tol=1e-10)


def test_cnn_chunks_agree_with_one_linearization():
    from verify.dynamics import measures
    from verify.numerics.linearize import linearize

    m = build_model("cnn3x4", (1, 6, 6), 4, 1).eval()
    x = torch.rand(5, 1, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) + 0.1
    lin = linearize(m, x)
    old = measures.CHUNK_ENTRIES
    try:
        measures.CHUNK_ENTRIES = 1                                    # one point per chunk
        J, fl, r, kink, names, per = measures._chunked(m, x, 5)
    finally:
        measures.CHUNK_ENTRIES = old
    assert torch.allclose(J, lin.jacobian, rtol=1e-12, atol=1e-15)
    assert torch.allclose(r, lin.boundary_distance(), rtol=1e-12)
    whole = measures._spectrum_points(lin, ~lin.on_kink)
    for name in names:
        for a, b in zip(per[name], whole[name]):
            assert torch.allclose(a, b, rtol=1e-10)


# ---- the dose-response rule --------------------------------------------------------------------------------

def test_dose_response_by_hand():
    """Three doses over 10 seeds: 10 of 10 better (p = 1/1024), 9 of 10 (p = 11/1024), 0 of 10 (all worse).
    Holm over the three: 3/1024 and 2 * 11/1024 = 22/1024 < 0.05, so x1 and x10 help; x100's opposite p is
    1/1024, the smallest of the three opposite p's, times 3 = 3/1024 < 0.05: it hurts."""
    from verify.dynamics.dose import dose_response

    a = [[1.0] * 10] * 3
    b = [[2.0] * 10, [2.0] * 9 + [0.5], [0.5] * 10]
    r = dose_response("gamma", [1, 10, 100], a, b, seeds=range(10))
    assert [e["result"] for e in r] == ["helps", "helps", "hurts"]
    assert r[0]["p_for_holm"] == 3 / 1024 and r[1]["p_for_holm"] == 22 / 1024 and r[2]["p_for_holm"] == 1.0
    assert r[2]["p_against_holm"] == 3 / 1024 and r[0]["p_against_holm"] == 1.0


def test_dose_response_holm_removes_an_uncorrected_success():
    """8 of 9 seeds better and one tie at every dose: p = 10/512 ~ 0.0195 < 0.05 uncorrected, but Holm's
    smallest corrected p is 3 * 10/512 ~ 0.059: no dose helps (and none hurts)."""
    from verify.dynamics.dose import dose_response

    a = [[1.0] * 10] * 3
    b = [[2.0] * 8 + [0.5, 1.0]] * 3
    r = dose_response("rob", [1, 10, 100], a, b)
    assert all(e["comparison"]["p_for"] == 10 / 512 for e in r)
    assert [e["result"] for e in r] == ["neither"] * 3
    assert all(math.isclose(e["p_for_holm"], 30 / 512) for e in r)


# ---- round 2's plan and judge, on a synthetic run table -----------------------------------------------------

def test_round2_plan_and_round1_config_unchanged():
    from verify.dynamics.lab import CLAIM_ROLES2, ROLES, ROLES2, lab_config, plan

    c1 = lab_config("digits", seeds=1)
    assert "round" not in c1 and "round2" not in c1
    assert [u["role"] for u in plan(c1)] == list(ROLES)
    c2 = lab_config("digits", seeds=1, round=2)
    units = plan(c2)
    assert [u["role"] for u in units] == list(ROLES2) and set(ROLES2) == set().union(*CLAIM_ROLES2.values())
    objs = {u["role"]: Objective.from_dict(u["objective"]) for u in units}
    off = objs["at(eps2)+emr-official"]
    assert (off.convention, off.lam, off.T, off.eps) == ("emr-official", 3.0, 40.0, 0.0625)
    assert objs["trades(eps2)"].beta == 6.0 and objs["mart(eps2)+emr"].defense == "mart"
    lam0 = objs["ce+emr"].lam
    assert objs["ce+emr(x10)"].lam == 10 * lam0 and objs["at(eps2)+emr(x100)"].lam == 100 * lam0
    assert len({u["id"] for u in units}) == len(units)


def _table(values: dict, seeds=10):
    """A run table of a round-2 lab: ``values[role](seed) -> dict`` of the last epoch's medians."""
    from verify.dynamics.lab import lab_config
    from verify.dynamics.settings import LabSettings

    cfg = lab_config("digits", seeds=seeds, epochs=2, round=2)
    s = LabSettings.from_dict(cfg["settings"])
    e2 = repr(float(s.middle_eps))

    def rec(gamma, omega, grad, pgd, aa):
        return {"effective_margin": {"median": gamma}, "effective_weight_norm": {"median": omega},
                "param_gradient_norm": {"median": grad}, "robust_accuracy": {e2: pgd},
                "autoattack": {e2: {"robust_accuracy": aa}}}

    runs = {}
    for role, f in values.items():
        runs[role] = {}
        for seed in range(seeds):
            v = f(seed)
            runs[role][seed] = [None, rec(1.0, 1.0, 2.0, 0.5, 0.5), rec(**v)]
    return {"config": cfg, "settings": s, "runs": runs, "diverged": {}}


def test_round2_judge_uses_autoattack_and_keeps_round1_beside_it():
    from verify.dynamics.liu2022margin import judge_round2

    base = dict(gamma=1.0, omega=4.0, grad=1.0, pgd=0.5, aa=0.4)
    up = dict(gamma=2.0, omega=4.0, grad=1.0, pgd=0.3, aa=0.6)      # larger gamma and AA; PGD says the opposite
    roles = {r: (lambda s, v=base: v) for r in ("ce", "at(eps2)", "trades(eps2)", "mart(eps2)", "at(eps2)+emr-official",
                                                  "ce+emr(x10)", "ce+emr(x100)", "at(eps2)+emr(x10)", "at(eps2)+emr(x100)")}
    roles.update({r: (lambda s, v=up: v) for r in ("ce+emr", "at(eps2)+emr", "trades(eps2)+emr", "mart(eps2)+emr")})
    v = judge_round2(_table(roles))
    names = [c.name.split(")")[0] + ")" for c in v.comparisons]
    assert names == [f"({i})" for i in range(1, 13)]
    got = {n: c.verdict for n, c in zip(names, v.comparisons)}
    # (5), (7), (9), (11): AutoAttack's numbers (0.4 < 0.6 in every seed), not PGD's (0.5 > 0.3)
    # (1) omega 1 < 4; (2) gamma_E/gamma_M = 1 < (4/1)^(1/2) = 2; (3) 1 < 2; (12) trades 0.4 < at+emr 0.6
    assert all(got[k] == "SUPPORTED" for k in names), got
    assert v.verdict == "SUPPORTED"
    r1 = v.sub_verdicts["round 1"]
    r1v = {c["name"].split(")")[0] + ")": c["verdict"] for c in r1["comparisons"]}
    assert r1v["(5)"] == "CONTRADICTED" and r1v["(7)"] == "CONTRADICTED" and r1["verdict"] == "CONTRADICTED"
    dr = v.sub_verdicts["dose-response"]
    res = {k: [e["result"] for e in entries] for k, entries in dr["comparisons"].items()}
    assert all(r == ["helps", "neither", "neither"] for r in res.values()), res
    assert [c["verdict"] for c in dr["official"]] == ["INCONCLUSIVE", "INCONCLUSIVE"]     # all ties


def test_every_round2_setting_has_its_reason():
    from dataclasses import fields

    from verify.dynamics.settings import ROUND2

    for r in ROUND2.values():
        for f in fields(r):
            if f.name in ("data", "reasons"):
                continue
            key = "official" if f.name.startswith("official_") else f.name
            assert r.reasons.get(key), (r.data, f.name)
