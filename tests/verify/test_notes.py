"""``python -m verify notes`` (:mod:`verify.jobs.notes`): the generated blocks of ``paper_notes.md``.

- The blocks that depend only on the code (each claim's proof line, the tests marked with it, the claims
  table) must be current in the committed notes: a changed prover or a new ``claim`` marker fails here
  until ``python -m verify notes`` is run.
- The measured blocks count what a results file holds: checked against counts made here from the raw
  gaps, not against the summary code that writes them.
- Prose outside the markers is never touched; a missing or unknown block is an error that says what to do.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from theory.claims import CLAIMS
from verify.checkers import CHECKERS
from verify.cli import main
from verify.jobs import notes as vn
from verify.jobs.sweep import SweepConfig, run_sweep
from verify.results.records import read_results

ROOT = Path(__file__).resolve().parents[2]
NOTES = ROOT / "paper_notes.md"
SMALL = ("input-gradient", "curvature-region-crossing")


def test_the_committed_notes_are_current(proofs):
    stale = vn.update_notes(NOTES, root=ROOT, check=True, proofs=proofs.values())
    assert not stale, (f"paper_notes.md is out of date in {stale}: run `python -m verify notes` (and "
                       f"`python -m verify notes results/verify.jsonl` after a sweep), then commit it")


def test_every_claim_has_its_proof_and_test_blocks_in_the_notes():
    have = vn.blocks(NOTES.read_text(encoding="utf-8"))
    for cid in CLAIMS:
        assert f"proof:{cid}" in have and f"tests:{cid}" in have, cid
    assert {"run", "summary", "claims"} <= set(have)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("notes") / "res.jsonl"
    run_sweep(out, config=SweepConfig(networks=2, points=3, device="cpu", claims=SMALL), progress=False)
    return out


def _notes_file(tmp_path) -> Path:
    """A notes file with every block the generator writes, each around 'old', between hand-written prose."""
    parts = ["# Notes\n\nhand-written intro\n\n<!-- generated: run -->\nold\n<!-- end: run -->\n",
             "<!-- generated: claims -->\nold\n<!-- end: claims -->\n",
             "<!-- generated: summary -->\nold\n<!-- end: summary -->\n"]
    for cid in CLAIMS:
        parts.append(f"## {cid}\n\nprose about {cid}\n\n<!-- generated: proof:{cid} -->\nold\n<!-- end: proof:{cid} -->\n"
                     f"<!-- generated: tests:{cid} -->\nold\n<!-- end: tests:{cid} -->\n")
        if cid in CHECKERS:
            parts.append(f"<!-- generated: measured:{cid} -->\nold\n<!-- end: measured:{cid} -->\n\nafter {cid}\n")
    path = tmp_path / "notes.md"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _outside(text: str) -> str:
    return vn.BLOCK.sub("", text)


def test_measured_tables_count_what_the_results_hold(tmp_path, proofs, results):
    path = _notes_file(tmp_path)
    before = path.read_text()
    changed = vn.update_notes(path, results=results, root=ROOT, proofs=proofs.values())
    text = path.read_text()
    assert _outside(text) == _outside(before), "prose outside the markers changed"
    assert set(changed) == set(vn.blocks(before))
    recs = read_results(results)
    got = vn.blocks(text)
    for cid in SMALL:
        rows = {m[1]: [int(v) for v in m.groups()[2:]] for m in re.finditer(
            r"^\| (float\d+) \| (cpu) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| \S+ \| (\d+) \| (\d+) \| (\d+) \|",
            got[f"measured:{cid}"], re.M)}
        assert set(rows) == {"float64", "float32"}
        for dt, (nets, points, checked, informative, kinks, excluded, crossings) in rows.items():
            gaps = [(r["network"]["index"], g) for r in recs if r["run"]["dtype"] == dt for g in r["gaps"]
                    if g.claim == cid]
            assert nets == len({i for i, _ in gaps}) == 2
            assert points == sum(len(g.lhs) for _, g in gaps)
            verdict = [g for _, g in gaps if g.kind != "measurement"]
            assert checked == sum(1 for g in verdict for k in range(len(g.lhs))
                                  if not (g.on_kink or [0] * len(g.lhs))[k] and not (g.excluded or [0] * len(g.lhs))[k])
            assert informative == sum(len(g.informative_points()) for g in verdict) <= checked
            assert kinks == sum(sum(g.on_kink or []) for _, g in gaps)
            assert excluded == sum(sum(g.excluded or []) for _, g in gaps)
            assert crossings == sum(sum(g.pattern_changed or []) for _, g in gaps)
    assert "region changed" in got["measured:curvature-region-crossing"]
    summary = {line.split("|")[1].strip(): line for line in got["summary"].splitlines()[2:]}
    assert "not measured" in summary["[local-affine](#local-affine)"] and "not run" in summary["[local-affine](#local-affine)"]
    assert "quick sweep: 2 networks, 3 points each, seed 0" in got["run"] and "--claims" in got["run"]
    # a second run changes nothing
    assert vn.update_notes(path, results=results, root=ROOT, proofs=proofs.values()) == []
    assert path.read_text() == text


def test_a_claim_left_out_of_the_sweep_is_said_to_be_unmeasured(tmp_path, proofs, results):
    path = _notes_file(tmp_path)
    vn.update_notes(path, results=results, root=ROOT, proofs=proofs.values())
    got = vn.blocks(path.read_text())
    assert all(got[f"measured:{c}"].startswith("Not measured in this sweep") for c in CHECKERS if c not in SMALL)


def test_missing_and_unknown_blocks_are_errors(tmp_path, proofs):
    path = _notes_file(tmp_path)
    text = path.read_text()
    path.write_text(text.replace("<!-- generated: proof:input-gradient -->\nold\n<!-- end: proof:input-gradient -->\n", ""))
    with pytest.raises(vn.NotesError, match=r"no markers for the generated block\(s\) proof:input-gradient"):
        vn.update_notes(path, root=ROOT, proofs=proofs.values())
    path.write_text(text + "<!-- generated: proof:no-such-claim -->\nx\n<!-- end: proof:no-such-claim -->\n")
    with pytest.raises(vn.NotesError, match="nothing writes: proof:no-such-claim"):
        vn.update_notes(path, root=ROOT, proofs=proofs.values())
    assert path.read_text().endswith("x\n<!-- end: proof:no-such-claim -->\n"), "a failed update wrote the file"


def test_the_command_checks_and_rewrites(tmp_path, proofs, results, monkeypatch, capsys):
    import importlib

    monkeypatch.setattr(importlib.import_module("theory.prove"), "prove_all", lambda: list(proofs.values()))
    monkeypatch.chdir(ROOT)
    path = _notes_file(tmp_path)
    assert main(["notes", "--check", "--notes", str(path)]) == 1
    assert "out of date" in capsys.readouterr().out
    before = path.read_text()
    assert path.read_text() == before, "--check wrote the file"
    assert main(["notes", str(results), "--notes", str(path)]) == 0
    assert main(["notes", "--check", "--notes", str(path)]) == 0
    assert "every generated block is current" in capsys.readouterr().out
    assert main(["notes", str(results), str(results), "--notes", str(path)]) == 2
    assert main(["notes", str(tmp_path / "missing.jsonl"), "--notes", str(path)]) == 2
    assert main(["notes", "--notes", str(tmp_path / "missing.md")]) == 2
    err = capsys.readouterr().err
    assert "at most one results file" in err and "no such results file" in err and "no such notes file" in err


def test_a_check_of_one_model_is_refused_as_the_notes_measurements(tmp_path, proofs, monkeypatch, capsys):
    import torch
    import torch.nn as nn

    torch.manual_seed(0)
    net, x = tmp_path / "net.pt", tmp_path / "x.pt"
    torch.save(nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 3)).double().eval(), net)
    torch.save(torch.randn(4, 3, dtype=torch.float64), x)
    monkeypatch.chdir(tmp_path)
    assert main(["--model", str(net), "--inputs", str(x), "--claims", "input-gradient", "--no-progress"]) == 0
    checked = tmp_path / "results" / "model-check.jsonl"
    assert checked.exists() and not (tmp_path / "results" / "verify.jsonl").exists(), "--model wrote over the sweep's file"
    path = _notes_file(tmp_path)
    before = path.read_text()
    with pytest.raises(vn.NotesError, match=r"1 record\(s\) of a check of one model \(python -m verify --model\), "
                                            r"not a sweep of random networks"):
        vn.update_notes(path, results=checked, root=ROOT, proofs=proofs.values())
    assert path.read_text() == before, "a refused update wrote the file"


def test_cuda_records_get_columns_and_rows_of_their_own(tmp_path, proofs, results):
    """A CPU sweep merged with a CUDA sweep: the summary has a column per (dtype, device), and no 'not run'."""
    import json

    lines = results.read_text().splitlines()
    fake = []
    for line in lines:
        rec = json.loads(line)
        rec["run"]["device"] = rec["network"]["device"] = "cuda"
        rec["run"]["device_name"] = "a GPU"
        fake.append(json.dumps(rec))
    both = tmp_path / "both.jsonl"
    both.write_text("\n".join(lines + fake) + "\n")
    path = _notes_file(tmp_path)
    vn.update_notes(path, results=both, root=ROOT, proofs=proofs.values())
    got = vn.blocks(path.read_text())
    head = got["summary"].splitlines()[0]
    assert [c.strip() for c in head.strip("|").split("|")] == [
        "claim", "float64 (CPU): max gap/bound", "float32 (CPU): max gap/bound",
        "float64 (cuda): max gap/bound", "float32 (cuda): max gap/bound"]
    assert "not run" not in got["summary"]
    assert [m[0] for m in re.findall(r"^\| (float\d+ \| (cpu|cuda)) \|", got["measured:input-gradient"], re.M)] == [
        "float64 | cpu", "float32 | cpu", "float64 | cuda", "float32 | cuda"]
    assert "cuda (a GPU)" in got["run"]


def test_a_lab_file_replaces_its_own_data_sets_part_of_the_dynamics_blocks_and_keeps_the_others():
    part = lambda data, verdict: f"**{data}**, from `results/{data}.jsonl`: 5 seeds.\n\nVerdict: **{verdict}**.\n\n```\nrows\n```"
    old = {"dynamics:layer-smoothing": part("digits", "SUPPORTED") + "\n\n" + part("mnist-5k", "INCONCLUSIVE") + "\n",
           "dynamics:confidence-concentration": "Not measured: no lab results file was given.\n"}
    fresh = {"dynamics:layer-smoothing": part("mnist-5k", "CONTRADICTED") + "\n\n" + part("mnist1d", "SUPPORTED"),
             "dynamics:confidence-concentration": part("mnist-5k", "SUPPORTED"),
             "dynamics:standard-training-small-margin": "Not measured: no lab results file was given."}
    got = vn.merge_dynamics_blocks(old, fresh)
    ls = got["dynamics:layer-smoothing"]
    assert [d for d, _ in vn._data_parts(ls)] == ["digits", "mnist-5k", "mnist1d"]     # kept order, new one last
    assert "**SUPPORTED**" in ls.split("**mnist-5k**")[0] and "INCONCLUSIVE" not in ls
    assert "**CONTRADICTED**" in ls.split("**mnist-5k**")[1].split("**mnist1d**")[0]
    assert got["dynamics:confidence-concentration"] == part("mnist-5k", "SUPPORTED")    # the placeholder goes
    assert got["dynamics:standard-training-small-margin"].startswith("Not measured")
    # an old block with parts is kept whole where no file measured its claim
    assert vn.merge_dynamics_blocks(old, {"dynamics:layer-smoothing": "Not measured: no lab results file was given."}) \
        == {"dynamics:layer-smoothing": old["dynamics:layer-smoothing"].rstrip("\n")}


def test_a_round_2_part_stands_beside_its_data_sets_round_1_part():
    part = lambda label, verdict: f"**{label}**, from `results/x.jsonl`: 10 seeds.\n\nVerdict: **{verdict}**.\n\n```\nrows\n```"
    old = {"dynamics:layer-smoothing": part("digits", "SUPPORTED") + "\n\n" + part("mnist-5k", "INCONCLUSIVE") + "\n"}
    fresh = {"dynamics:layer-smoothing": part("digits, round 2, mlp64x64x64", "CONTRADICTED")}
    got = vn.merge_dynamics_blocks(old, fresh)["dynamics:layer-smoothing"]
    assert [d for d, _ in vn._data_parts(got)] == ["digits", "mnist-5k", "digits, round 2, mlp64x64x64"]
    again = vn.merge_dynamics_blocks({"dynamics:layer-smoothing": got},
                                     {"dynamics:layer-smoothing": part("digits, round 2, mlp64x64x64", "SUPPORTED")})
    assert again["dynamics:layer-smoothing"].count("round 2") == 1 and "CONTRADICTED" not in again["dynamics:layer-smoothing"]
