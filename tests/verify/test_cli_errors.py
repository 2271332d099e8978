"""``python -m verify`` refuses what it cannot do, in one ``error: ...`` line and exit 2, and says what it
did: a train-mode model, options the chosen run ignores, files it cannot load, inputs that do not fit
the model; a run where nothing could be checked; what ``merge`` joined and what it lacks; what ``--resume``
continues; the precision flags of a run. The fixture ``user_files`` is in conftest.py, the helpers in
:mod:`tests.verify.helpers`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn

from verify.cli import main
from verify.jobs import runner as runner_module
from verify.results.provenance import precision_flags

from .helpers import HEADER, _mlp, _quiet_read, _row

SMALL = ["--networks", "2", "--points", "3", "--claims", "input-gradient", "--dtype", "float64", "--device", "cpu",
         "--no-progress"]


def _usage_error(capsys, rc) -> str:
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("error: ") and "Traceback" not in err and err.count("\n") == 1, err
    return err


def _train_mode(kind: str) -> nn.Module:
    torch.manual_seed(5)
    mid = nn.BatchNorm1d(6) if kind == "batchnorm" else nn.Dropout(0.5)
    return nn.Sequential(nn.Linear(4, 6), mid, nn.ReLU(), nn.Linear(6, 3)).to(torch.float64)   # train mode


# ---- 1. a model saved in training mode is refused, not switched to eval mode --------------------------------

@pytest.mark.parametrize("kind, layer", [("batchnorm", r"BatchNorm1d \(module '1'\)"),
                                         ("dropout", r"Dropout \(module '1'\)")])
def test_cli_refuses_a_model_saved_in_training_mode(tmp_path, capsys, user_files, kind, layer):
    net = tmp_path / "train.pt"
    torch.save(_train_mode(kind), net)
    out = tmp_path / "never.jsonl"
    rc = main(["--model", str(net), "--inputs", user_files["x"], "--out", str(out), "--no-progress"])
    err = _usage_error(capsys, rc)
    assert re.search(layer + r" is in training mode: call \.eval\(\)", err), err
    assert "call model.eval() before torch.save" in err
    assert not out.exists()


def test_cli_runs_a_model_saved_in_eval_mode(tmp_path, capsys, user_files):
    net = tmp_path / "eval.pt"
    model = _train_mode("batchnorm")
    with torch.no_grad():
        model(torch.randn(32, 4, dtype=torch.float64))          # running statistics that are not the defaults
    torch.save(model.eval(), net)
    out = tmp_path / "eval.jsonl"
    rc = main(["--model", str(net), "--inputs", user_files["x"], "--shard", "0/1", "--out", str(out), "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert _row("input-gradient", "HOLDS").search(text), text
    assert "note:" not in text                                   # float64 model, float64 inputs: nothing cast


# ---- 2. options a run ignores are usage errors; --dtype is honoured with --model ----------------------------

@pytest.mark.parametrize("extra, named", [
    (["--shard", "1/2"], "--shard"), (["--resume"], "--resume"), (["--full"], "--full"), (["--quick"], "--quick"),
    (["--networks", "3"], "--networks"), (["--points", "3"], "--points"),
    (["--networks", "3", "--points", "2"], "--networks and --points"),
])
def test_cli_model_refuses_the_sweep_options(tmp_path, capsys, user_files, extra, named):
    out = tmp_path / "never.jsonl"
    rc = main(["--model", user_files["model"], "--inputs", user_files["x"], *extra, "--out", str(out), "--no-progress"])
    err = _usage_error(capsys, rc)
    assert f"error: {named} " in err and "not apply to --model" in err, err
    assert not out.exists()


@pytest.mark.parametrize("flag, file", [("--inputs", "x"), ("--labels", "y")])
def test_cli_inputs_or_labels_without_model_are_refused(tmp_path, capsys, user_files, flag, file):
    out = tmp_path / "never.jsonl"
    rc = main([flag, user_files[file], *SMALL, "--out", str(out)])
    err = _usage_error(capsys, rc)
    assert f"error: {flag} goes with --model FILE" in err, err
    assert not out.exists(), "the random sweep ran"


@pytest.mark.parametrize("model_dtype, input_dtype, asked, notes", [
    (torch.float64, torch.float64, "float32",
     ["note: converted the model from float64 to float32 (--dtype float32; its weights are rounded",
      "note: cast the inputs from float64 to float32 (--dtype float32; float64 inputs cast to a float32 model "
      "lose precision)"]),
    (torch.float32, torch.float32, "float64",
     ["note: converted the model from float32 to float64 (--dtype float64; float weights convert exactly)",
      "note: cast the inputs from float32 to float64 (--dtype float64; exact)"]),
    (torch.float64, torch.float32, "both",
     ["note: cast the inputs from float32 to float64 (the model's dtype; exact)"]),
    (torch.float32, torch.float64, "both",
     ["note: checking the float32 model in float32 (its own dtype) and in float64 (the very same network",
      "note: cast the inputs from float64 to float32 (the model's dtype; float64 inputs cast to a float32 model "
      "lose precision)"]),
    (torch.float32, torch.float32, "float32", []),
], ids=["f64-model-as-f32", "f32-model-as-f64", "f32-inputs-f64-model", "f64-inputs-f32-model", "f32-model-as-f32"])
def test_cli_model_dtype_is_honoured_and_conversions_are_noted(tmp_path, capsys, model_dtype, input_dtype, asked,
                                                               notes):
    net, x, out = tmp_path / "net.pt", tmp_path / "x.pt", tmp_path / "user.jsonl"
    torch.save(_mlp().to(model_dtype), net)
    torch.save(torch.randn(5, 4, generator=torch.Generator().manual_seed(4), dtype=input_dtype), x)
    rc = main(["--model", str(net), "--inputs", str(x), "--dtype", asked, "--out", str(out), "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0, text
    printed = [line for line in text.splitlines() if line.startswith("note:")]
    assert len(printed) == len(notes) and all(p.startswith(n) for p, n in zip(printed, notes)), printed
    assert _row("input-gradient", "HOLDS").search(text), text
    recs = _quiet_read(out)
    want = [asked] if asked != "both" else [str(model_dtype).replace("torch.", "")]
    if want == ["float32"] and asked == "both":    # a float32 model, no --dtype: also the same network in float64
        want.append("float64")
    assert [r["run"]["dtype"] for r in recs] == want and [{g.dtype for g in r["gaps"]} for r in recs] == [{w} for w in want]


# ---- 3. files that cannot be loaded -------------------------------------------------------------------------

def test_cli_a_tensor_as_model_gets_no_state_dict_hint(tmp_path, capsys, user_files):
    rc = main(["--model", user_files["x"], "--inputs", user_files["x"], "--out", str(tmp_path / "n.jsonl")])
    err = _usage_error(capsys, rc)
    assert "holds a Tensor, not an nn.Module" in err and "state_dict" not in err, err
    assert "torch.save(model, FILE)" in err
    rc = main(["--model", user_files["state"], "--inputs", user_files["x"], "--out", str(tmp_path / "n.jsonl")])
    assert "not its state_dict" in _usage_error(capsys, rc)


@pytest.mark.parametrize("role", ["--inputs", "--labels", "--model"])
@pytest.mark.parametrize("kind", ["numpy", "text"])
def test_cli_a_file_not_written_by_torch_save_is_a_usage_error(tmp_path, capsys, user_files, role, kind):
    bad = tmp_path / ("bad.npy" if kind == "numpy" else "bad.txt")
    if kind == "numpy":
        np.save(bad, np.zeros((5, 4)))
    else:
        bad.write_text("0.1 0.2 0.3 0.4\n")
    files = {"--model": user_files["model"], "--inputs": user_files["x"], "--labels": user_files["y"]}
    files[role] = str(bad)
    argv = [a for flag, f in files.items() for a in (flag, f)] + ["--out", str(tmp_path / "n.jsonl"), "--no-progress"]
    err = _usage_error(capsys, main(argv))
    assert f"error: {bad} is not a file written by torch.save (" in err, err
    if kind == "numpy":
        assert "NumPy" in err and "torch.from_numpy" in err, err


def _pickled_with_lost_class(tmp_path, where: str):
    """A module pickled by torch.save whose class cannot be imported at load time: defined in ``__main__``
    (a script) or in a module that is gone."""
    name = "verify_test_vanished_module"
    mod = sys.modules["__main__"] if where == "__main__" else types.ModuleType(name)
    cls = type("Custom", (nn.Sequential,), {"__module__": mod.__name__})
    path = tmp_path / "custom.pt"
    setattr(mod, "Custom", cls)
    if where != "__main__":
        sys.modules[name] = mod
    try:
        torch.save(cls(nn.Linear(4, 3)).double().eval(), path)
    finally:
        delattr(mod, "Custom")
        if where != "__main__":
            del sys.modules[name]
    return path


@pytest.mark.parametrize("where", ["__main__", "vanished-module"])
def test_cli_a_module_whose_class_cannot_be_imported(tmp_path, capsys, user_files, where):
    net = _pickled_with_lost_class(tmp_path, where)
    rc = main(["--model", str(net), "--inputs", user_files["x"], "--out", str(tmp_path / "n.jsonl")])
    err = _usage_error(capsys, rc)
    assert "whose class cannot be imported here" in err, err
    assert "so the class must be importable" in err, err
    # what works: the Python call from the notebook, or a module file the command line can import; not
    # TorchScript, which the toolkit cannot read for a class with its own forward
    assert "verify.check_model(model, x) or verify.robust_radius(model, x)" in err, err
    assert "define the class in a module file (e.g. mynet.py, on PYTHONPATH)" in err, err
    assert "jit" not in err, err


class _OwnForward(nn.Module):
    """A module with its own forward: torch.jit.script keeps it as code, which torch.fx cannot trace."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 6), nn.Linear(6, 3)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))


@pytest.mark.parametrize("command", ["model", "radius"])
def test_cli_a_scripted_module_with_its_own_forward_is_refused_at_load_time(tmp_path, capsys, user_files, command):
    script = tmp_path / "own_script.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(_OwnForward().double().eval()).save(str(script))
    out = tmp_path / "never.jsonl"
    argv = (["radius"] if command == "radius" else []) + ["--model", str(script), "--inputs", user_files["x"],
                                                           "--out", str(out), "--no-progress"]
    err = _usage_error(capsys, main(argv))
    assert f"error: {script} is a TorchScript file the toolkit cannot read: the TorchScript module '_OwnForward' " \
           f"has its own forward, which cannot be read" in err, err
    assert "verify.check_model(model, x)" in err and "mynet.py" in err, err
    assert not out.exists()


# ---- 4. shape errors name the module, not only its qualified name ------------------------------------------

@pytest.mark.parametrize("labels", [False, True])
def test_cli_shape_error_names_the_module(tmp_path, capsys, user_files, labels):
    argv = ["--model", user_files["model"], "--inputs", user_files["xbad"]] + (["--labels", user_files["y"]]
                                                                                 if labels else [])
    err = _usage_error(capsys, main(argv + ["--out", str(tmp_path / "n.jsonl"), "--no-progress"]))
    assert not err.startswith("error: 0:"), err
    assert (f"error: the inputs in {user_files['xbad']} do not fit the model: its module '0' (Linear) expected an "
            f"input of shape (4,), got shape (7,)") in err, err


# ---- 5. nothing checked: say so -----------------------------------------------------------------------------

def test_cli_names_the_claims_it_could_not_check(tmp_path, capsys):
    net, x, out = tmp_path / "biased.pt", tmp_path / "x.pt", tmp_path / "biased.jsonl"
    torch.manual_seed(3)
    torch.save(nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).double().eval(), net)
    torch.save(torch.randn(5, 4, dtype=torch.float64), x)
    rc = main(["--model", str(net), "--inputs", str(x), "--claims", "input-gradient", "euler-homogeneous",
               "--out", str(out), "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert re.search(r"^euler-homogeneous\s.*\sREPORTED\s*$", text, re.M), text   # biases: outside its assumption
    assert re.search(r"^input-gradient\s.*\sHOLDS\s*$", text, re.M), text
    assert text.rstrip().endswith("Not checked (every point on a kink or outside the claim's assumptions): "
                                  "euler-homogeneous."), text


def test_cli_says_plainly_when_no_point_could_be_checked(tmp_path, capsys):
    net, x, out = tmp_path / "nobias.pt", tmp_path / "zeros.pt", tmp_path / "kinks.jsonl"
    torch.save(nn.Sequential(nn.Linear(4, 6, bias=False), nn.ReLU(), nn.Linear(6, 3)).double().eval(), net)
    torch.save(torch.zeros(3, 4, dtype=torch.float64), x)      # every pre-activation is exactly 0: all kinks
    rc = main(["--model", str(net), "--inputs", str(x), "--claims", "input-gradient", "hessian-gauss-newton",
               "--out", str(out), "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0, text
    for claim in ("input-gradient", "hessian-gauss-newton"):
        assert re.search(rf"^{claim}\s.*\sREPORTED\s*$", text, re.M), text
    assert ("No claim was checked: every point was on a kink or outside the claims' assumptions.\n"
            "kinks (float64): layer 1:1 (module '1', ReLU): 6 units on their kink at 3 of 3 points") in text, text
    assert text.rstrip().splitlines()[-1].startswith("every point of the batch is on a kink"), text
    assert "Every checked claim holds" not in text


# ---- 6. merge: the table, the coverage, the duplicates, its own help, an explicit --out ---------------------

def test_cli_merge_prints_the_table_and_what_is_missing(tmp_path, capsys):
    s0, s1 = tmp_path / "s0.jsonl", tmp_path / "s1.jsonl"
    both = [a if a != "float64" else "both" for a in SMALL]          # 2 networks x 2 dtypes = 4 units
    assert main(both + ["--shard", "0/2", "--out", str(s0)]) == 0
    assert main(both + ["--shard", "1/2", "--out", str(s1)]) == 0
    capsys.readouterr()

    half = tmp_path / "half.jsonl"
    assert main(["merge", str(s0), "--out", str(half)]) == 0
    text = capsys.readouterr().out
    assert "merged 2 records" in text
    assert ("note: 2 of 4 units of the sweep are in these files; the rest are missing: shard 1/2 is not among them"
            in text), text
    assert HEADER.search(text) and _row("input-gradient", "HOLDS").search(text), text
    assert f"2 network runs; results in {half}. No claim fails." in text, text

    whole = tmp_path / "whole.jsonl"
    assert main(["merge", str(s0), str(s1), str(s0), "--out", str(whole)]) == 0
    text = capsys.readouterr().out
    assert "merged 4 records" in text and "units of the sweep" not in text, text
    assert f"note: {s0} was given more than once" in text, text
    assert "note: dropped 2 duplicate record(s)" in text, text
    assert _row("input-gradient", "HOLDS").search(text) and "4 network runs;" in text, text


def test_cli_merge_of_an_interrupted_shard_names_it(tmp_path, capsys):
    s0, s1, m = tmp_path / "s0.jsonl", tmp_path / "s1.jsonl", tmp_path / "m.jsonl"
    assert main(SMALL + ["--shard", "0/2", "--out", str(s0)]) == 0
    assert main(SMALL + ["--shard", "1/2", "--out", str(s1)]) == 0
    s1.write_text(s1.read_text()[:50])                               # shard 1/2 was cut off in its only write
    capsys.readouterr()
    assert main(["merge", str(s0), str(s1), "--out", str(m)]) == 2    # a file with no complete record: refused
    assert "holds no complete record" in capsys.readouterr().err
    assert main(["merge", str(s0), "--out", str(m)]) == 0
    assert "1 of 2 units of the sweep are in these files" in capsys.readouterr().out


def test_cli_merge_needs_an_explicit_out(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s0 = tmp_path / "s0.jsonl"
    assert main(SMALL + ["--out", str(s0)]) == 0
    capsys.readouterr()
    err = _usage_error(capsys, main(["merge", str(s0)]))
    assert "merge needs --out FILE" in err, err
    assert not (tmp_path / "results").exists()


def test_merge_help_describes_merge(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "verify", "merge", "--help"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120, env=dict(os.environ, COLUMNS="120"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: python -m verify merge FILE [FILE ...] --out FILE"), proc.stdout
    assert "Join the results files of the shards of one sweep" in proc.stdout
    for word in ("--out", "dropped", "missing", "table"):
        assert word in proc.stdout, word
    assert "--networks" not in proc.stdout and "--model" not in proc.stdout, proc.stdout
    assert not (tmp_path / "results").exists()


# ---- 7. --resume says what it continues and drops a cut-off line for good -----------------------------------

def test_cli_resume_reports_and_drops_the_cut_line_atomically(tmp_path, capsys, monkeypatch):
    out = tmp_path / "r.jsonl"
    assert main(SMALL + ["--out", str(out)]) == 0
    lines = out.read_text().splitlines(keepends=True)
    assert len(lines) == 2
    out.write_text(lines[0] + lines[1][:40])                         # the second write was interrupted
    capsys.readouterr()
    replaced = []
    real_replace = os.replace
    monkeypatch.setattr(runner_module.os, "replace",               # the atomic rewrite lives in verify.jobs.runner
                        lambda src, dst: (replaced.append((os.path.dirname(src), str(dst))), real_replace(src, dst)))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(SMALL + ["--out", str(out), "--resume"]) == 0
    text = capsys.readouterr().out
    assert f"resuming: 1 of 2 units already in {out}; running the other 1" in text, text
    assert f"note: dropped the cut-off last line of {out} (an interrupted write); its unit runs again" in text, text
    assert replaced == [(str(tmp_path), str(out))], "the file was not rewritten beside itself and moved over it"
    assert out.read_text().splitlines(keepends=True)[0] == lines[0]
    assert len(_quiet_read(out)) == 2                                 # no cut line left to warn about
    assert [p.name for p in tmp_path.iterdir()] == ["r.jsonl"], "a temporary file was left behind"


# ---- 8. the flags a run records -----------------------------------------------------------------------------

def test_flags_are_what_the_precision_guard_sets(monkeypatch):
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        flags = precision_flags("cuda")                      # only switches flags: no GPU needed
        assert flags["tf32_matmul_during_checks"] is False and flags["tf32_cudnn_during_checks"] is False
        assert flags["tf32_matmul_outside"] is True and flags["tf32_cudnn_outside"] is True
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (True, True)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
    json.dumps(flags)

    import contextlib
    import importlib

    lin = importlib.import_module("verify.numerics.precision")     # where precision_flags reads the guard from

    @contextlib.contextmanager
    def tf32_guard(device):                         # a guard that leaves TF32 on: the record must say so
        before = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            yield {"tf32_matmul": True}
        finally:
            torch.backends.cuda.matmul.allow_tf32 = before

    monkeypatch.setattr(lin, "precision_guard", tf32_guard)
    flags = precision_flags("cuda")
    assert flags["tf32_matmul"] is True and flags["tf32_matmul_during_checks"] is True


def test_model_runs_record_the_flags_of_a_sweep(tmp_path, capsys, user_files):
    sweep_out, user_out = tmp_path / "s.jsonl", tmp_path / "u.jsonl"
    assert main(SMALL + ["--out", str(sweep_out)]) == 0
    assert main(["--model", user_files["model"], "--inputs", user_files["x"], "--device", "cpu", "--out",
                 str(user_out), "--no-progress"]) == 0
    sweep_flags = _quiet_read(sweep_out)[0]["run"]["flags"]
    (rec,) = _quiet_read(user_out)
    assert rec["run"]["flags"] == sweep_flags and "deterministic" in sweep_flags
    assert "mkldnn_matmul_fp32_precision" in sweep_flags          # what the guard reports on the CPU


# ---- 5. python -m verify radius checks every input before it solves or moves a results file --------------

def _bad_radius_inputs(tmp_path, user_files, kind):
    x = torch.load(user_files["x"])
    extra = []
    if kind == "nan":
        x[2, 3] = float("nan")
    elif kind == "domain":
        x = x.clamp(-5, 5)
        x[2, 1] = 50.0
        extra = ["--domain", "-10", "10"]
    else:
        extra = ["--labels", user_files["ybad"]]                # label 7 at index 4, of 3 classes
    torch.save(x, tmp_path / "x_radius.pt")
    return str(tmp_path / "x_radius.pt"), extra


@pytest.mark.parametrize("kind, named", [("nan", "got nan at index (2, 3)"),
                                         ("domain", "x[2] lies outside the domain: coordinate 1 is 50.0"),
                                         ("label", "got the label 7 (the model has K = 3 logits) at index 4")])
def test_radius_checks_every_input_before_solving_and_keeps_the_old_results(tmp_path, capsys, user_files,
                                                                             monkeypatch, kind, named):
    from verify.robust import radius as radius_module

    real, solved = radius_module.robust_radius, []

    def counting(*args, **kwargs):
        solved.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(radius_module, "robust_radius", counting)
    x, extra = _bad_radius_inputs(tmp_path, user_files, kind)
    out = tmp_path / "radius.jsonl"
    out.write_text('{"old": "results"}\n')
    err = _usage_error(capsys, main(["radius", "--model", user_files["model"], "--inputs", x, *extra,
                                     "--out", str(out), "--no-progress"]))
    assert named in err, err                                     # the index in the whole batch
    assert not solved, "points were solved before the bad input was found"
    assert out.read_text() == '{"old": "results"}\n'            # the previous results stay where they were
    assert sorted(p.name for p in tmp_path.glob("radius*")) == ["radius.jsonl"]


def test_radius_moves_the_old_results_aside_when_it_writes(tmp_path, capsys, user_files):
    out = tmp_path / "radius.jsonl"
    out.write_text('{"old": "results"}\n')
    assert main(["radius", "--model", user_files["model"], "--inputs", user_files["x"], "--out", str(out),
                 "--no-progress", "--node-limit", "50"]) == 0
    kept = [p for p in tmp_path.glob("radius.*.jsonl")]
    assert len(kept) == 1 and kept[0].read_text() == '{"old": "results"}\n', kept
    assert len(out.read_text().splitlines()) == 5
