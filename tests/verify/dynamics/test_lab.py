"""The training lab end to end, on the synthetic data set: plan, training, resume, divergence, reports and
the command line. The verdict rule itself is tested on constructed inputs in test_verdicts.py."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from verify.cli.dynamics import main
from verify.dynamics import lab
from verify.dynamics.lab import checkpoint_dir, plan, read_dynamics, run_lab, run_unit
from verify.dynamics.report import judge_all
from verify.dynamics.settings import settings_for
from verify.dynamics.train import Objective, build_model

CLAIMS = ["standard-training-small-margin", "layer-smoothing", "confidence-concentration"]


def _config(epochs=3, seeds=1, claims=("confidence-concentration",)):
    s = settings_for("synthetic", epochs=epochs)
    return {"data": "synthetic", "seeds": seeds, "claims": list(claims), "dtype": "float64", "device": "cpu",
            "full": False, "settings": s.to_dict()}


def _metrics(records):
    return {(r["run"]["id"], r["epoch"]): r["metrics"] for r in records}


def test_plan_pairs_runs_by_seed_and_needs_every_role_of_the_claims():
    units = plan(_config(seeds=2, claims=CLAIMS))
    assert len(units) == 2 * len(lab.ROLES) and len({u["id"] for u in units}) == len(units)
    assert {u["role"] for u in units if u["seed"] == 1} == set(lab.ROLES)
    assert [u["role"] for u in plan(_config(claims=("confidence-concentration",)))] == ["ce", "at(eps3)"]
    shards = [plan(_config(seeds=2, claims=CLAIMS), (i, 3)) for i in range(3)]
    assert sorted(u["id"] for s in shards for u in s) == sorted(u["id"] for u in units)


def test_paired_runs_share_initial_weights_and_the_seed_alone_decides_them():
    a = build_model("mlp8x8", (4,), 3, 7)
    b = build_model("mlp8x8", (4,), 3, 7)
    c = build_model("mlp8x8", (4,), 3, 8)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))
    f32 = build_model("mlp8x8", (4,), 3, 7, dtype=torch.float32)
    assert all(torch.equal(p.float(), q) for p, q in zip(a.parameters(), f32.parameters()))


def test_a_run_trains_and_records_every_measure_at_every_epoch(tmp_path):
    unit = plan(_config(epochs=4))[0]
    recs = run_unit(unit, tmp_path)
    assert [r["epoch"] for r in recs] == [0, 1, 2, 3, 4]
    first, last = recs[0]["metrics"], recs[-1]["metrics"]
    assert last["clean_accuracy"] > 0.9 > first["clean_accuracy"]            # it learned (10 classes: chance 0.1)
    for key in ("cross_entropy", "input_gradient_norm", "param_gradient_norm", "effective_weight_norm",
                "effective_margin", "output_margin", "confidence"):
        assert set(last[key]) >= {"median", "mean", "n"}
    assert set(last["robust_accuracy"]) == {repr(float(e)) for e in settings_for("synthetic").eps_grid}
    assert all(a["steps"] == settings_for("synthetic").eval_steps for a in last["attack"].values())
    assert list(last["layer_spectra"]) == ["L1", "L2"]
    spec = last["layer_spectra"]["L1"]
    assert spec["smallest_nonzero"]["median"] <= spec["mean"]["median"] <= spec["largest"]["median"]
    assert 0 <= last["certified_fraction"] <= 1 and "points" in last and "points" not in first
    # every checkpoint is an eval-mode module that reproduces the run's logits
    model = torch.load(tmp_path / unit["id"] / "epoch-004.pt", weights_only=False)
    assert not model.training


def test_resume_after_a_kill_ends_with_the_same_metrics(tmp_path, monkeypatch):
    cfg = _config(epochs=4)
    full = tmp_path / "full.jsonl"
    run_lab(full, cfg, progress=False)
    cut = tmp_path / "cut.jsonl"
    real = lab.train_epoch
    calls = {"n": 0}

    def dies_at_epoch_3(*a, **k):
        if k["epoch"] == 3 and calls["n"] == 0:
            calls["n"] += 1
            raise KeyboardInterrupt                    # a kill in the middle of the first run
        return real(*a, **k)

    monkeypatch.setattr(lab, "train_epoch", dies_at_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        run_lab(cut, cfg, progress=False)
    assert not cut.exists()                             # the driver writes a run when it is done
    assert (checkpoint_dir(cut) / plan(cfg)[0]["id"] / "epoch-002.pt").exists()
    run_lab(cut, cfg, progress=False, resume=True)
    a, b = _metrics(read_dynamics(full)), _metrics(read_dynamics(cut))
    assert a.keys() == b.keys()
    for k in a:
        assert json.dumps(a[k], sort_keys=True) == json.dumps(b[k], sort_keys=True), k
    run_lab(cut, cfg, progress=False, resume=True)      # nothing left to do, nothing written twice
    assert len(read_dynamics(cut)) == len(read_dynamics(full))


def test_a_diverging_run_stops_with_its_epoch_named_and_the_others_go_on(tmp_path, monkeypatch, capsys):
    cfg = _config(epochs=3)
    real = lab.train_epoch

    def nan_in_ce_at_2(model, opt, obj, *a, **k):
        if obj.eps == 0 and k["epoch"] == 2:
            from verify.dynamics.train import Diverged
            raise Diverged(f"run {k['run_id']}: the training loss became nan at epoch 2, step 0")
        return real(model, opt, obj, *a, **k)

    monkeypatch.setattr(lab, "train_epoch", nan_in_ce_at_2)
    out = tmp_path / "d.jsonl"
    run_lab(out, cfg, progress=False)
    recs = read_dynamics(out)
    err = capsys.readouterr().err
    assert "epoch 2" in err and "kept the checkpoint of epoch 1" in err and "the other runs go on" in err
    ce = [r for r in recs if r["run"]["role"] == "ce"]
    assert [r["epoch"] for r in ce] == [0, 1, 2] and ce[-1]["status"] == "diverged"
    assert max(r["epoch"] for r in recs if r["run"]["role"] == "at(eps3)") == 3
    table, verdicts = judge_all(recs)
    assert table["diverged"] and verdicts[0].comparisons[0].n_missing == 1


def test_cli_runs_reports_and_merges(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    args = ["--data", "synthetic", "--seeds", "2", "--epochs", "2", "--claims", "confidence-concentration",
            "--jobs", "1", "--no-progress"]
    assert main(args + ["--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "confidence-concentration  [synthetic, 4 runs]" in text and "claim(s) judged" in text
    v = json.loads((tmp_path / "r.verdicts.json").read_text())
    assert v["verdicts"][0]["claim"] == "confidence-concentration"
    assert main(["report", str(out)]) == 0
    s0, s1 = tmp_path / "s0.jsonl", tmp_path / "s1.jsonl"
    assert main(args + ["--shard", "0/2", "--out", str(s0)]) == 0
    assert main(args + ["--shard", "1/2", "--out", str(s1)]) == 0
    assert main(["merge", str(s0), str(s1), "--out", str(tmp_path / "m.jsonl")]) == 0
    merged, whole = _metrics(read_dynamics(tmp_path / "m.jsonl")), _metrics(read_dynamics(out))
    assert merged.keys() == whole.keys()
    assert all(json.dumps(merged[k], sort_keys=True) == json.dumps(whole[k], sort_keys=True) for k in merged)


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "0"], "--seeds must be at least 1"),
    (["--epochs", "-1"], "--epochs must be at least 1"),
    (["--lam", "emr=-1"], "lambda must be a finite number >= 0"),
    (["--lam", "gelu=1"], "expected R=V with R a regularizer: R-IG, R-JAC"),
    (["--eps-grid=-0.1,0.1,0.2"], "three increasing budgets > 0"),
    (["--eps-grid", "0.2,0.1,0.3"], "three increasing budgets > 0"),
    (["--data", "imagenet"], "imagenet"),
    (["--claims", "local-affine"], "unknown empirical claim"),
    (["--shard", "2/2"], "--shard must look like I/N"),
    (["--arch", "resnet50"], "expected mlpW1xW2"),
    (["--jobs", "0"], "--jobs must be at least 1"),
    (["--data", "mnist:/nonexistent/dir"], "/nonexistent/dir"),
    (["report"], "report takes one results file"),
])
def test_cli_usage_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and err.startswith("error: ")


def test_report_refuses_a_sweep_file(tmp_path, capsys):
    f = tmp_path / "verify.jsonl"
    f.write_text(json.dumps({"schema": "relu-regularizer-verification/1", "gaps": []}) + "\n")
    assert main(["report", str(f)]) == 2
    assert "not a lab results record" in capsys.readouterr().err


def test_objective_ids_and_bad_objectives():
    assert Objective().id == "ce" and Objective(eps=0.1).id == "at(eps=0.1)"
    assert Objective("emr", lam=0.1, eps=0.1, T=1.0).id == "at(eps=0.1)+emr(lam=0.1,T=1)"
    with pytest.raises(ValueError, match="lam"):
        Objective("ig", lam=-1.0)
    with pytest.raises(ValueError, match="eps"):
        Objective(eps=float("nan"))
    with pytest.raises(ValueError, match="combines only with emr"):
        Objective("jac", lam=1.0, eps=0.1)


def test_settings_are_recorded_with_their_reasons():
    s = settings_for("digits")
    for key in ("eps_grid", "lam", "T", "cure_h", "train_steps", "eval_steps", "epochs", "arch"):
        assert s.reasons.get(key), key
    assert s.eps_grid[0] < s.eps_grid[1] < s.eps_grid[2] and s.cure_h == pytest.approx(s.middle_eps * 8)
    assert replace(s, epochs=3) != s


@pytest.mark.slow
@pytest.mark.claim("standard-training-small-margin")
@pytest.mark.claim("layer-smoothing")
@pytest.mark.claim("confidence-concentration")
def test_every_claim_is_judged_from_a_real_lab_run(tmp_path):
    """Two seeds can never reach p < 0.05 (1/4 at best): every comparison must be INCONCLUSIVE, yet each
    claim must be judged from the run's own measures, with its comparisons' seeds and effects."""
    out = tmp_path / "all.jsonl"
    run_lab(out, _config(epochs=2, seeds=2, claims=CLAIMS), progress=False)
    table, verdicts = judge_all(read_dynamics(out))
    assert [v.claim for v in verdicts] == CLAIMS
    for v in verdicts:
        assert v.verdict == "INCONCLUSIVE" and v.comparisons
        for c in v.comparisons:
            assert c.n_for + c.n_against + c.n_ties + c.n_missing == 2 and c.p_for >= 0.25
    margin = verdicts[0].comparisons[0]            # (1): omega at M < omega at E, from the ce run's records
    ce = table["runs"]["ce"]
    assert margin.a == tuple(ce[s][1]["effective_weight_norm"]["median"] for s in (0, 1))
    assert set(verdicts[1].groups["statistics"]) == {"largest", "mean", "smallest_nonzero"}
    assert set(verdicts[1].sub_verdicts) == {"ce+ig", "ce+jac", "ce+cl", "ce+cure", "ce+emr"}


def test_pilot_trains_and_each_lambda_is_the_power_of_ten_at_or_below_one_over_the_mean(capsys):
    from verify.dynamics.pilot import pilot
    from verify.dynamics.settings import lam_from_pilot

    r = pilot("synthetic", epochs=2)
    assert len(r["accuracy"]) == 2 and r["accuracy"][-1] > 0.5          # 10 classes: chance is 0.1
    assert set(r["mean"]) == {"ig", "jac", "cl", "cure", "emr"}
    for k, lam in lam_from_pilot(r["mean"]).items():
        assert 0.1 < lam * r["mean"][k] <= 1.0
    assert main(["--pilot", "--data", "synthetic", "--epochs", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "pilot on synthetic: plain ce, seed 100, 1 epochs" in out and "lambda = " in out


def test_a_role_near_chance_is_named_as_not_learning_and_a_trained_one_is_not():
    from types import SimpleNamespace

    from verify.dynamics.report import untrained_lines

    table = {"settings": SimpleNamespace(epochs=2),
             "runs": {"ce": {0: [None, None, {"clean_accuracy": 0.93}], 1: [None, None, {"clean_accuracy": 0.95}]},
                      "at(eps3)": {0: [None, None, {"clean_accuracy": 0.11}], 1: [None, None, {"clean_accuracy": 0.6}],
                                   2: None}}}
    lines = untrained_lines(table)
    assert len(lines) == 1 and lines[0].startswith("  warning: at(eps3) did not learn in 1 of 3 seed(s)")
    assert "0.110 (seed 0)" in lines[0] and "chance is 0.10" in lines[0]
    two = untrained_lines(table, classes=2)                     # below 0.75 with two classes: 0.11 and 0.6
    assert len(two) == 1 and "did not learn in 2 of 3 seed(s)" in two[0] and "chance is 0.50" in two[0]


def test_a_warm_up_ramps_the_training_budget_and_each_epoch_attacks_with_the_one_it_records(tmp_path, monkeypatch):
    s = replace(settings_for("synthetic", epochs=4), eps_warmup=0.5)     # W = 2: eps/2, eps, eps, eps
    cfg = dict(_config(epochs=4), settings=s.to_dict())
    unit = next(u for u in plan(cfg) if u["role"] == "at(eps3)")
    eps = unit["objective"]["eps"]
    seen = []
    real = lab.train_epoch

    def spy(*a, **k):
        seen.append(k["attack_eps"])
        return real(*a, **k)

    monkeypatch.setattr(lab, "train_epoch", spy)
    recs = run_unit(unit, tmp_path)
    assert seen == [eps / 2, eps, eps, eps]
    assert [r["metrics"]["train_eps"] for r in recs[1:]] == seen
    assert recs[-1]["run"]["lab"]["settings"]["eps_warmup"] == 0.5
    ce = next(u for u in plan(cfg) if u["role"] == "ce")
    assert "train_eps" not in run_unit(ce, tmp_path)[-1]["metrics"]
    # the data sets whose adversarial runs learned without a ramp keep none
    assert settings_for("digits").warmup_epochs() == settings_for("mnist1d").warmup_epochs() == 0
    assert settings_for("mnist-5k").warmup_epochs() == 5 and "ln 10" in settings_for("mnist-5k").reasons["eps_warmup"]


def test_an_epoch_budget_outside_the_objectives_is_refused():
    from verify.dynamics.train import train_epoch

    model = build_model("mlp4", (2,), 2, 0)
    x, y = torch.zeros(4, 2, dtype=torch.float64), torch.zeros(4, dtype=torch.long)
    for bad in (0.0, 0.3):
        with pytest.raises(ValueError, match=r"attack budget must lie in \(0, 0.2\]"):
            train_epoch(model, torch.optim.Adam(model.parameters()), Objective(eps=0.2), x, y, batch_size=2,
                        order=torch.Generator(), attack_gen=torch.Generator(), attack_steps=1, box=(0, 1),
                        run_id="r", epoch=1, attack_eps=bad)
