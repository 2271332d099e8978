"""The main job end to end: :func:`verify.jobs.sweep.run_sweep` (results lines, resume, shards, merge) and the
``python -m verify`` command line (:func:`verify.cli.main`), on tiny sweeps so the file runs in seconds."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from theory.claims import CLAIMS
from verify import checkers
from verify.cli import main
from verify.jobs.networks import NetSpec
from verify.jobs.sweep import SweepConfig, plan, run_sweep
from verify.results.gap import RESULTS_SCHEMA, Gap
from verify.results.merge import merge
from verify.results.records import ResultsError

from .helpers import HEADER, _mlp, _quiet_read, _row

CLAIMS_SMALL = ("input-gradient", "cross-lipschitz-centered-jacobian")
CFG = SweepConfig(networks=3, points=3, dtypes=("float64", "float32"), device="cpu", seed=0, claims=CLAIMS_SMALL)


def _key(rec: dict) -> tuple:
    return (rec["network"]["index"], rec["run"]["dtype"], rec["network"]["device"])


def _unit_keys(units) -> list:
    return [(u["index"], u["dtype"], u["device"]) for u in units]


def _values(records) -> dict:
    """(unit key, claim, check) -> (lhs, rhs, bound): every number a results file holds for a check."""
    out = {}
    for rec in records:
        for g in rec["gaps"]:
            k = (_key(rec), g.claim, g.check)
            assert k not in out, f"check {k} appears twice"
            out[k] = (list(g.lhs), list(g.rhs), list(g.bound))
    return out


# ---- 1. one JSON line per unit, with the run facts ------------------------------------------------------------

def test_run_sweep_writes_one_line_per_unit_with_run_facts(tmp_path):
    out = tmp_path / "res.jsonl"
    recs = run_sweep(out, config=CFG, progress=False)
    units = plan(CFG)
    assert len(units) == CFG.networks * len(CFG.dtypes)

    lines = out.read_text().splitlines()
    assert len(lines) == len(units) == len(recs)
    raw = [json.loads(line) for line in lines]
    assert sorted(_key(r) for r in raw) == sorted(_unit_keys(units))

    by_key = {(u["index"], u["dtype"], u["device"]): u for u in units}
    for r in raw:
        assert r["schema"] == RESULTS_SCHEMA
        run, net = r["run"], r["network"]
        spec = by_key[_key(r)]["spec"]
        assert run["torch"] == torch.__version__
        assert run["device"] == "cpu" and net["device"] == "cpu"
        assert run["dtype"] in CFG.dtypes
        assert isinstance(run["flags"], dict) and "deterministic" in run["flags"]
        assert run["seed"] == spec.seed
        assert run["sweep"] == CFG.to_dict()
        assert NetSpec.from_dict(net) == spec and net["id"] == spec.id
        assert {g["claim"] for g in r["gaps"]} == set(CLAIMS_SMALL)
        assert all(g["dtype"] == run["dtype"] for g in r["gaps"])
        assert all(len(g["lhs"]) > 0 for g in r["gaps"])

    back = _quiet_read(out)
    assert len(back) == len(recs)
    for got, ret in zip(back, recs):
        assert all(isinstance(g, Gap) for g in got["gaps"])
        assert got["run"] == ret["run"] and got["network"] == ret["network"]
        assert [g.to_dict() for g in got["gaps"]] == [g.to_dict() for g in ret["gaps"]]
    # the round trip of a line is exact: re-serialising what was read gives the line back
    for line, got in zip(lines, back):
        assert json.dumps(dict(got, gaps=[g.to_dict() for g in got["gaps"]])) == line


# ---- 2. resume ------------------------------------------------------------------------------------------------

def test_resume_after_a_cut_write_completes_the_sweep(tmp_path, capsys):
    full = tmp_path / "full.jsonl"
    run_sweep(full, config=CFG, progress=False)
    full_recs = _quiet_read(full)

    out = tmp_path / "res.jsonl"
    run_sweep(out, config=CFG, progress=False)
    lines = out.read_text().splitlines(keepends=True)
    assert len(lines) > 2
    out.write_text(lines[0] + lines[1][: len(lines[1]) // 2])        # the second write was interrupted
    capsys.readouterr()

    with warnings.catch_warnings():
        warnings.simplefilter("error")                                 # a note on stdout, not a warning
        new = run_sweep(out, config=CFG, progress=False, resume=True)
    printed = capsys.readouterr().out
    assert f"resuming: 1 of {len(full_recs)} units already in {out}; running the other {len(full_recs) - 1}" \
        in printed, printed
    assert f"note: dropped the cut-off last line of {out} (an interrupted write); its unit runs again" in printed
    first = json.loads(lines[0])
    assert _key(first) not in {_key(r) for r in new}, "a finished unit was run again"
    assert sorted(_key(r) for r in new) == sorted(_key(r) for r in full_recs if _key(r) != _key(first))

    text = out.read_text()
    assert text.splitlines(keepends=True)[0] == lines[0], "the finished record changed"
    got = _quiet_read(out)                                              # the cut line is gone from the file
    assert len(text.splitlines()) == len(got) == len(full_recs)
    assert {_key(r) for r in got} == {_key(r) for r in full_recs}
    # same seed: the resumed units hold exactly the numbers of an uninterrupted sweep
    assert _values(got) == _values(full_recs)

    # resuming a finished sweep runs nothing and leaves the file as it is
    assert run_sweep(out, config=CFG, progress=False, resume=True) == []
    assert out.read_text() == text
    assert f"resuming: {len(full_recs)} of {len(full_recs)} units already in {out}; running the other 0" \
        in capsys.readouterr().out


def test_resume_of_a_file_with_only_a_cut_line_runs_everything(tmp_path, capsys):
    cfg = SweepConfig(networks=2, points=3, dtypes=("float64",), device="cpu", claims=("input-gradient",))
    out = tmp_path / "res.jsonl"
    out.write_text('{"schema": "relu-regularizer-verif')
    new = run_sweep(out, config=cfg, progress=False, resume=True)
    assert sorted(_key(r) for r in new) == sorted(_unit_keys(plan(cfg)))
    printed = capsys.readouterr().out
    assert f"resuming: 0 of 2 units already in {out}; running the other 2" in printed
    assert "dropped the cut-off last line" in printed
    assert len(_quiet_read(out)) == len(new)


def test_resume_with_other_settings_or_other_files_is_refused(tmp_path):
    cfg = SweepConfig(networks=2, points=3, dtypes=("float64",), device="cpu", claims=("input-gradient",))
    out = tmp_path / "res.jsonl"
    run_sweep(out, config=cfg, progress=False)
    before = out.read_text()
    for other in (SweepConfig(networks=2, points=4, dtypes=("float64",), device="cpu", claims=("input-gradient",)),
                  SweepConfig(networks=2, points=3, dtypes=("float64",), device="cpu", seed=1,
                              claims=("input-gradient",))):
        with pytest.raises(ResultsError, match=r"other settings.*another --out file"):
            run_sweep(out, config=other, progress=False, resume=True)
        assert out.read_text() == before

    # a file of another schema is refused, not appended to
    foreign = tmp_path / "old.jsonl"
    foreign.write_text(json.dumps({"schema": "relu-regularizer-verification/results/0", "run": {}, "network": {},
                                   "gaps": []}) + "\n")
    old = foreign.read_text()
    with pytest.raises(ResultsError, match="schema"):
        run_sweep(foreign, config=cfg, progress=False, resume=True)
    assert foreign.read_text() == old


def test_a_new_run_keeps_the_previous_file(tmp_path, capsys):
    out = tmp_path / "res.jsonl"
    contents = []
    for seed in (0, 1, 2):                              # three runs, most likely within one second
        cfg = SweepConfig(networks=1, points=3, dtypes=("float64",), device="cpu", seed=seed,
                          claims=("input-gradient",))
        run_sweep(out, config=cfg, progress=False)
        contents.append(out.read_text())
        assert json.loads(contents[-1])["run"]["sweep"]["seed"] == seed
    assert len(set(contents)) == 3
    kept = sorted(p for p in tmp_path.iterdir() if p != out)
    assert len(kept) == 2, kept
    assert all(re.fullmatch(r"res\.\d{8}-\d{6}(-\d+)?\.jsonl", p.name) for p in kept), kept
    assert {p.read_text() for p in kept} == set(contents[:2]), "a previous results file was lost"
    assert out.read_text() == contents[2]
    assert capsys.readouterr().out.count("kept the previous results as") == 2


# ---- 3. shards and merge --------------------------------------------------------------------------------------

def test_shards_cover_the_sweep_once_and_merge_reproduces_it(tmp_path):
    with pytest.raises(ValueError, match="shard"):
        plan(CFG, (2, 2))
    keys = _unit_keys(plan(CFG))
    parts = [_unit_keys(plan(CFG, (i, 2))) for i in range(2)]
    assert not set(parts[0]) & set(parts[1])
    assert sorted(parts[0] + parts[1]) == sorted(keys)
    assert all(parts)

    full = tmp_path / "full.jsonl"
    run_sweep(full, config=CFG, progress=False)
    full_recs = _quiet_read(full)
    shard_files = [tmp_path / f"s{i}.jsonl" for i in range(2)]
    for i, f in enumerate(shard_files):
        run_sweep(f, config=CFG, shard=(i, 2), progress=False)
        assert sorted(_key(r) for r in _quiet_read(f)) == sorted(parts[i])

    merged = tmp_path / "all.jsonl"
    assert merge(shard_files, merged) == len(keys)
    got = _quiet_read(merged)
    assert sorted(_key(r) for r in got) == sorted(keys)
    assert _values(got) == _values(full_recs)          # same seed: identical lhs, rhs and bounds

    # duplicates are dropped
    again = tmp_path / "again.jsonl"
    assert merge([shard_files[0], *shard_files, shard_files[1]], again) == len(keys)
    assert sorted(_key(r) for r in _quiet_read(again)) == sorted(keys)

    # an existing output is refused and left alone
    text = merged.read_text()
    with pytest.raises(FileExistsError, match="exists"):
        merge(shard_files, merged)
    assert merged.read_text() == text


def test_merge_refuses_files_of_different_sweeps(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    base = dict(networks=2, dtypes=("float64",), device="cpu", claims=("input-gradient",))
    run_sweep(a, config=SweepConfig(points=3, **base), shard=(0, 2), progress=False)
    run_sweep(b, config=SweepConfig(points=4, **base), shard=(1, 2), progress=False)
    out = tmp_path / "m.jsonl"
    with pytest.raises(ResultsError, match="other settings"):
        merge([a, b], out)
    assert not out.exists(), "a refused merge left a partial output"


# ---- 4. the command line --------------------------------------------------------------------------------------

def test_cli_sweep_prints_the_table(tmp_path, capsys):
    out = tmp_path / "cli.jsonl"
    rc = main(["--networks", "2", "--points", "3", "--claims", "input-gradient", "--dtype", "float64",
               "--out", str(out), "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert HEADER.search(text), text
    m = _row("input-gradient", "HOLDS").search(text)
    assert m, text
    assert int(m.group(1)) == 2 and int(m.group(2)) >= 2 * 3
    assert "FAILS" not in text
    assert len(out.read_text().splitlines()) == 2
    assert {g.claim for r in _quiet_read(out) for g in r["gaps"]} == {"input-gradient"}


def test_cli_shards_merge_and_resume(tmp_path, capsys):
    common = ["--networks", "2", "--points", "3", "--claims", "input-gradient", "--dtype", "float64",
              "--device", "cpu", "--no-progress"]
    s0, s1, m = tmp_path / "s0.jsonl", tmp_path / "s1.jsonl", tmp_path / "m.jsonl"
    assert main(common + ["--shard", "0/2", "--out", str(s0)]) == 0
    assert main(common + ["--shard", "1/2", "--out", str(s1)]) == 0
    capsys.readouterr()
    assert main(["merge", str(s0), str(s1), "--out", str(m)]) == 0
    assert "merged 2 records" in capsys.readouterr().out
    assert main(["merge", str(s0), str(s1), "--out", str(m)]) == 2
    assert "exists" in capsys.readouterr().err
    # resume of a finished file with the same settings: nothing to run, exit 0
    assert main(common + ["--out", str(m), "--resume"]) == 0
    assert len(m.read_text().splitlines()) == 2
    capsys.readouterr()
    # resume with other settings: a usage error that says why
    assert main(["--networks", "2", "--points", "4"] + common[4:] + ["--out", str(m), "--resume"]) == 2
    assert "other settings" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--claims", "no-such-claim"], r"no-such-claim.*checkable: .*input-gradient"),
    (["--claims", "layer-smoothing"], r"layer-smoothing.*checkable"),
    (["--shard", "x"], r"--shard must look like I/N"),
    (["--shard", "3/2"], r"shard"),
    (["merge"], r"merge needs the shard files"),
    (["--device", "gpu"], r"--device 'gpu': expected cpu, cuda or cuda:N"),
    (["--device", "cuda:99"], r"--device cuda:99: (this torch .* was built without CUDA|no CUDA device is visible"
                              r"|only \d+ CUDA device)"),
], ids=["unknown-claim", "empirical-claim", "bad-shard", "shard-out-of-range", "merge-without-files",
        "bad-device", "absent-gpu"])
def test_cli_usage_errors_exit_2(tmp_path, capsys, argv, message):
    assert CLAIMS["layer-smoothing"].kind == "empirical"
    out = tmp_path / "never.jsonl"
    rc = main(argv + ["--networks", "1", "--points", "3", "--dtype", "float64", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    assert re.search(message, err), err
    assert err.startswith("error: ") and "Traceback" not in err
    assert not out.exists()


# ---- 5. a failing claim: exit 1 and a diagnosis ---------------------------------------------------------------

def test_cli_exits_1_with_a_diagnosis_when_a_claim_fails(tmp_path, capsys, monkeypatch):
    def broken(ctx):
        n = ctx.B
        return [Gap("input-gradient", "planted failure", "identity", lhs=[1.25] * n, rhs=[3.5] * n,
                    bound=[1e-12] * n, dtype=str(ctx.dtype).replace("torch.", ""), device=str(ctx.device),
                    seed=ctx.seed, arch=ctx.arch)]

    monkeypatch.setitem(checkers.CHECKERS, "input-gradient", broken)
    out = tmp_path / "fail.jsonl"
    rc = main(["--networks", "2", "--points", "3", "--claims", "input-gradient", "--dtype", "float64",
               "--out", str(out), "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 1, text
    assert _row("input-gradient", "FAILS").search(text), text
    assert re.search(r"\[input-gradient\] planted failure on \S+ \(float64, cpu, seed \d+\): FAILS at 3 of 3 "
                     r"interior points", text), text
    assert "lhs=1.25 == rhs=3.5" in text and "claim(s) FAIL" in text


# ---- 6. --model: the user's own network -----------------------------------------------------------------------

def _check_user_run(rc, text, out: Path, name: str):
    assert rc == 0, text
    assert HEADER.search(text), text
    assert "FAILS" not in text
    statuses = re.findall(r"\s(HOLDS|REPORTED|FAILS|n/a)\s*$", text, re.M)
    assert statuses.count("HOLDS") >= 5, text
    assert _row("input-gradient", "HOLDS").search(text), text
    (rec,) = _quiet_read(out)
    assert rec["network"]["id"] == name and rec["network"]["arch"] == "user"
    assert rec["run"]["dtype"] == "float64" and rec["run"]["torch"] == torch.__version__
    assert rec["gaps"] and all(g.ok is not False for g in rec["gaps"])


def test_cli_model_with_inputs_and_labels(tmp_path, capsys, user_files):
    out = tmp_path / "user.jsonl"
    rc = main(["--model", user_files["model"], "--inputs", user_files["x"], "--labels", user_files["y"],
               "--out", str(out), "--no-progress"])
    _check_user_run(rc, capsys.readouterr().out, out, "net.pt")


def test_cli_torchscript_model_with_predicted_labels(tmp_path, capsys, user_files):
    script = tmp_path / "net_script.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)     # torch.jit.script is deprecated in torch 2.x
        torch.jit.script(_mlp()).save(str(script))
    out = tmp_path / "user.jsonl"
    rc = main(["--model", str(script), "--inputs", user_files["x"], "--out", str(out), "--no-progress"])
    _check_user_run(rc, capsys.readouterr().out, out, "net_script.pt")


@pytest.mark.parametrize("args, message", [
    (["--model", "{tmp}/missing.pt", "--inputs", "{x}"], r"no such file: .*missing\.pt"),
    (["--model", "{model}", "--inputs", "{tmp}/missing_x.pt"], r"no such file: .*missing_x\.pt"),
    (["--model", "{state}", "--inputs", "{x}"], r"OrderedDict, not an nn\.Module"),
    (["--model", "{model}"], r"--model needs --inputs"),
    (["--model", "{gelu}", "--inputs", "{x}"], r"GELU .*not piecewise linear"),
    (["--model", "{model}", "--inputs", "{xbad}"], r"expected an input of shape \(4,\), got shape \(7,\)"),
    (["--model", "{model}", "--inputs", "{xbad}", "--labels", "{y}"], r"expected an input of shape \(4,\)"),
    (["--model", "{model}", "--inputs", "{xnan}", "--labels", "{y}"], r"finite"),
    (["--model", "{model}", "--inputs", "{x}", "--labels", "{ybad}"], r"labels in \[0, 3\)"),
    (["--model", "{model}", "--inputs", "{x}", "--claims", "layer-smoothing"], r"layer-smoothing"),
    (["--model", "{model}", "--inputs", "{x1}"], r"with a batch dimension"),
    (["--model", "{model}", "--inputs", "{x}", "--device", "tpu"], r"expected cpu, cuda or cuda:N"),
], ids=["missing-model", "missing-inputs", "state-dict", "no-inputs", "gelu", "wrong-shape",
        "wrong-shape-labels", "nan-inputs", "bad-labels", "empirical-claim", "unbatched", "bad-device"])
def test_cli_model_errors_exit_2(tmp_path, capsys, user_files, args, message):
    out = tmp_path / "never.jsonl"
    argv = [a.format(tmp=tmp_path, **user_files) for a in args] + ["--out", str(out), "--no-progress"]
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert re.search(message, err), err
    assert err.startswith("error: ") and "Traceback" not in err
    assert not out.exists()


# ---- 7. python -m verify --help -------------------------------------------------------------------------------

def test_module_help(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "verify", "--help"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for word in ("--resume", "--shard", "--model", "--inputs", "--labels", "merge"):
        assert word in proc.stdout, word
    from verify.cli import COMMANDS

    listed = [line.split()[0] for line in proc.stdout.split("commands", 1)[1].split("options:")[0].splitlines()[1:]
              if line.strip()]
    assert listed == list(COMMANDS)                       # every sub-command, radius included, is named


def test_cli_model_run_keeps_an_earlier_results_file(tmp_path, capsys, user_files):
    out = tmp_path / "user.jsonl"
    argv = ["--model", user_files["model"], "--inputs", user_files["x"], "--labels", user_files["y"],
            "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    first = out.read_text()
    assert main(argv) == 0
    kept = [p for p in tmp_path.glob("user.*.jsonl")]
    assert len(kept) == 1 and kept[0].read_text() == first
    assert len(out.read_text().splitlines()) == 1          # the new file holds only the new run
    assert "kept the previous results" in capsys.readouterr().out


@pytest.mark.parametrize("flag", ["--networks", "--points"])
def test_cli_refuses_a_zero_size(tmp_path, capsys, flag):
    assert main([flag, "0", "--out", str(tmp_path / "r.jsonl"), "--no-progress"]) == 2
    assert f"{flag} must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "r.jsonl").exists()


def test_crossing_summary_reports_fractions_off_kinks():
    from verify.results.gap import Gap
    from verify.results.summary import crossing_summary

    def share_gap(h, changed, share, on_kink, exit_time):
        n = len(changed)
        return Gap("curvature-region-crossing", "pattern-change share", "measurement", [0.0] * n, [0.0] * n,
                   [0.0] * n, "float64", "cpu", 0, "mlp", on_kink=on_kink, pattern_changed=changed,
                   extra={"h": h, "share": share, "exit_time": exit_time})

    # one network's gaps at two steps h; its exit times are those of its points, the same at every h
    t = [0.5, 2.0, 0.0]
    recs = [{"gaps": [share_gap(1e-4, [False, False, True], [0.0, 0.0, 0.9], [False, False, True], t),
                      share_gap(3.0, [True, False, True], [0.5, 0.0, 1.0], [False, False, True], t)]}]
    text = crossing_summary(recs)
    lines = text.splitlines()
    assert lines[1].split()[1:] == ["1e-04", "3e+00"]
    assert lines[2].split()[2:] == ["0.00", "0.50"]      # the kinked point is left out: 1/2 at h = 3
    assert lines[3].split()[3:] == ["0.00", "0.25"]      # mean of 0.5 and 0.0
    # t* of the two points off the kink, once each (not once per h): median 2.0, 10% 0.5, 90% 2.0
    assert "exit time t*(x, z) over 2 points: median 2.0e+00, 10% 5.0e-01, 90% 2.0e+00" in lines[4]
    assert crossing_summary([{"gaps": []}]) == ""
