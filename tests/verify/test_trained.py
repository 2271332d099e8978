"""``python -m verify --trained``: every identity claim on the training lab's checkpoints (a tiny lab run on
the synthetic data set, trained once for the module)."""

from __future__ import annotations

import json
import math

import pytest

from verify.cli import main
from verify.cli.dynamics import main as dynamics_main
from verify.jobs.trained import INITIAL_ROLE, TrainedError, crossing_curves, find_runs, parse_epochs, plan, stage_of
from verify.results.records import read_results

CLAIMS = ["local-affine", "input-gradient", "curvature-region-crossing"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab") / "dyn.jsonl"
    assert dynamics_main(["--data", "synthetic", "--seeds", "1", "--epochs", "2", "--claims",
                          "confidence-concentration", "--jobs", "1", "--no-progress", "--out", str(out)]) == 0
    return out


def test_find_runs_reads_every_run_and_plan_checks_the_shared_initial_weights_once(lab):
    runs = find_runs(lab)
    assert sorted(r["role"] for r in runs) == ["at(eps3)", "ce"] and all(r["epochs"] == [0, 1, 2] for r in runs)
    units = plan(runs, dtypes=("float64",))
    assert [(u["role"], u["epoch"]) for u in units].count((INITIAL_ROLE, 0)) == 1
    assert sorted(u["epoch"] for u in units) == [0, 2, 2] and all(u["last"] == (u["epoch"] == 2) for u in units)
    assert len(plan(runs, epochs="all", dtypes=("float64", "float32"))) == 2 * (1 + 2 * 2)
    assert [u["epoch"] for u in plan(runs, epochs="1", dtypes=("float64",))] == [1, 1]


@pytest.mark.claim("local-affine", "input-gradient", "curvature-region-crossing")
def test_trained_check_holds_reports_what_training_changed_and_the_crossing_share(lab, tmp_path, capsys):
    out = tmp_path / "trained.jsonl"
    assert main(["--trained", str(lab), "--points", "6", "--claims", *CLAIMS, "--out", str(out),
                 "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "the lab's networks: 2 run(s) on synthetic" in text and "No claim fails" in text
    assert "what training changed" in text and "initial  trained" in text
    assert "synthetic (D = 16)" in text and "h/sqrt(D)" in text
    recs = read_results(out)
    assert len(recs) == 3 * 2                                         # (1 initial + 2 trained) x 2 dtypes
    assert {stage_of(r["network"]) for r in recs} == {"initial", "trained"}
    assert {r["run"]["trained"]["conversion"] for r in recs} == {"own", "rounded"}   # a float64 lab, checked in both
    assert all(r["network"]["accuracy"] > 0.5 for r in recs if stage_of(r["network"]) == "trained")
    curves = crossing_curves(recs)
    assert {(c["role"], c["stage"]) for c in curves} == {(INITIAL_ROLE, "initial"), ("ce", "trained"),
                                                          ("at(eps3)", "trained")}
    for c in curves:
        assert c["per_input"] == [h / math.sqrt(16) for h in c["h"]]
        assert all(v is None or 0.0 <= v <= 1.0 for v in c["changed"])
        assert all(v is None or -1e-9 <= v <= 1.0 + 1e-9 for v in c["share"])


def test_resume_keeps_finished_checks_and_runs_the_rest(lab, tmp_path, capsys):
    out = tmp_path / "t.jsonl"
    args = ["--trained", str(lab), "--points", "4", "--claims", "local-affine", "--dtype", "float64",
            "--out", str(out), "--no-progress"]
    assert main(args) == 0
    whole = out.read_text().splitlines()
    out.write_text("\n".join(whole[:1]) + "\n" + whole[1][:40])        # one finished line and a torn one
    assert main(args + ["--resume"]) == 0
    assert "resuming: 1 of 3 checkpoint checks already in" in capsys.readouterr().out
    again = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["network"]["id"] for r in again) == sorted(json.loads(line)["network"]["id"] for line in whole)


@pytest.mark.parametrize("argv, message", [
    (["--trained", "/nonexistent/dyn.jsonl"], "no lab checkpoints in /nonexistent/dyn.ckpt"),
    (["--trained", "/nonexistent/folder"], "no such lab results file or checkpoint folder: /nonexistent/folder"),
    (["--trained", "--epochs", "first,middle"], "--epochs must be first,last, last, all or epoch numbers"),
    (["--trained", "--model", "net.pt"], "--model does not apply to --trained"),
    (["--epochs", "all"], "--epochs goes with --trained"),
])
def test_usage_errors_are_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                  # the default lab results file is absent here
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_without_a_lab_run_it_says_which_command_makes_one(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["--trained"]) == 2
    assert "run `python -m verify dynamics` first" in capsys.readouterr().err
    (tmp_path / "empty.ckpt").mkdir()
    with pytest.raises(TrainedError, match="holds no lab run"):
        find_runs(tmp_path / "empty.ckpt")
    assert parse_epochs("0, 5,last") == "0,5,last"


def test_the_trained_crossing_figure_draws_trained_beside_random_and_needs_trained_records(lab, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from figures.plots.sweep_data import NoDataError
    from figures.plots.trained_crossing import cure_range_share, fig_trained_crossing

    out = tmp_path / "t.jsonl"
    assert main(["--trained", str(lab), "--points", "4", "--claims", "curvature-region-crossing", "--dtype",
                 "float64", "--out", str(out), "--no-progress"]) == 0
    recs = read_results(out)
    fig = fig_trained_crossing(recs, tex=False)
    gids = {line.get_gid() for ax in fig.axes for line in ax.lines}
    assert {"synthetic|initial|share", "synthetic|trained|share", "synthetic|trained|changed"} <= gids
    with pytest.raises(NoDataError, match="trained networks"):
        fig_trained_crossing([], tex=False)
    curve = {"h": [0.5, 1.0, 3.0, 10.0], "share": [0.9, 0.2, 0.4, 0.9]}
    assert cure_range_share(curve) == pytest.approx(0.3)
