"""verify.check_model, the Python call behind ``python -m verify --model``, and its CheckReport."""

import pytest
import torch

import verify
from verify.errors import LabelError, UnknownNameError
from verify.results.records import read_results

CLAIMS = ["input-gradient", "gram-unification"]


def _mlp(dtype=torch.float64):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4)).to(dtype)


def _x(n=6, dtype=torch.float64):
    return torch.randn(n, 3, dtype=dtype, generator=torch.Generator().manual_seed(1))


def test_the_report_answers_ok_table_records_and_saves(tmp_path):
    rep = verify.check_model(_mlp(), _x(), claims=CLAIMS)
    assert isinstance(rep, verify.CheckReport) and rep.ok and rep.failing == []
    assert [r.claim for r in rep.summary()] == CLAIMS
    assert rep.table().splitlines()[0].split()[:2] == ["claim", "tag"]
    assert rep.text().splitlines()[-1].startswith("1 network runs in ")
    assert {g.claim for g in rep.gaps} == set(CLAIMS) and len(rep.records) == 1
    path = rep.save(tmp_path / "r.jsonl")
    back = read_results(path)
    assert [g.to_dict() for g in back[0]["gaps"]] == [g.to_dict() for g in rep.gaps]


def test_a_float32_model_is_checked_in_float32_and_float64():
    rep = verify.check_model(_mlp(torch.float32), _x(dtype=torch.float32), claims=CLAIMS)
    assert [r["run"]["dtype"] for r in rep.records] == ["float32", "float64"]
    assert rep.notes and "in float64 (the very same network" in rep.notes[0] and "dtypes=float32" in rep.notes[0]
    one = verify.check_model(_mlp(torch.float32), _x(dtype=torch.float32), claims=CLAIMS, dtypes="float32")
    assert [r["run"]["dtype"] for r in one.records] == ["float32"]


def test_labels_default_to_the_prediction_and_float_labels_are_refused():
    model, x = _mlp(), _x()
    pred = model(x).argmax(-1)
    assert verify.check_model(model, x, pred, claims=CLAIMS).ok
    with pytest.raises(LabelError, match=r"got dtype torch.float32 \(convert with y.long\(\)\)"):
        verify.check_model(model, x, pred.float() + 0.5, claims=CLAIMS)     # y + 0.5: never truncated
    with pytest.raises(LabelError, match=r"got the label 7"):
        verify.check_model(model, x, torch.full((6,), 7), claims=CLAIMS)


def test_bad_arguments_are_named():
    with pytest.raises(UnknownNameError, match="checkable: local-affine"):
        verify.check_model(_mlp(), _x(), claims=["no-such-claim"])
    with pytest.raises(UnknownNameError, match="dtypes"):
        verify.check_model(_mlp(), _x(), dtypes="float16")
    with pytest.raises(TypeError, match="torch.nn.Module"):
        verify.check_model(lambda x: x, _x())


def test_run_checks_refuses_float_labels_too():
    from verify.checkers import run_checks

    model, x = _mlp(), _x()
    with pytest.raises(LabelError, match="dtype torch.float64"):
        run_checks(model, x, model(x).argmax(-1).double() + 0.5, claims=CLAIMS, seed=0, arch="mlp")


def test_the_cli_refuses_float_labels(tmp_path, capsys):
    from verify.cli import main

    model, x = _mlp(), _x()
    torch.save(model, tmp_path / "m.pt")
    torch.save(x, tmp_path / "x.pt")
    torch.save(model(x).argmax(-1).float() + 0.5, tmp_path / "y.pt")
    code = main(["--model", str(tmp_path / "m.pt"), "--inputs", str(tmp_path / "x.pt"), "--labels",
                 str(tmp_path / "y.pt"), "--out", str(tmp_path / "o.jsonl"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "LabelError" not in err and "got dtype torch.float32" in err
    assert not (tmp_path / "o.jsonl").exists()
