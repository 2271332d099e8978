"""The lab benchmark (python -m verify.bench.lab): its comparison of two runs' numbers, its usage errors,
and one small run of this code against itself (the lab is deterministic: the numbers must be bitwise the
same and the verdicts equal)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from verify.bench import lab as bench_lab

ROOT = Path(__file__).resolve().parents[2]


def _rec(run, epoch, **metrics):
    return {"run": {"id": run}, "epoch": epoch, "metrics": metrics, "seconds": 1.0}


def test_compare_records_counts_differences_and_finds_the_largest():
    a = [_rec("r", 1, x=1.0, y=[2.0, 4.0], z=math.nan, s="ok"), _rec("r", 2, x=5.0)]
    b = [_rec("r", 1, x=1.0, y=[2.0, 4.0 * (1 + 1e-9)], z=math.nan, s="ok"), _rec("r", 2, x=5.5)]
    b[0]["seconds"] = 99.0                                     # timings are not measurements
    out = bench_lab.compare_records(a, b)
    assert out["compared"] == 5 and out["differ"] == 2 and out["unmatched"] == 0 and out["other"] == 0
    assert out["max_rel"] == pytest.approx(0.5 / 5.5) and "epoch 2" in out["where"]
    assert out["by_key"] == {"metrics.y": (1, pytest.approx(4e-9 / (4 * (1 + 1e-9)))), "metrics.x": (1, out["max_rel"])}
    assert bench_lab.compare_records(a, b[:1])["unmatched"] == 1
    c = [_rec("r", 1, x=1.0, y=[2.0, 4.0], z=math.nan, s="changed"), _rec("r", 2, x=5.0)]
    assert bench_lab.compare_records(a, c)["other"] == 1 and bench_lab.compare_records(a, a)["differ"] == 0


@pytest.mark.parametrize("argv, message", [
    ([], "one of the arguments --baseline --baseline-dir is required"),
    (["--baseline-dir", "/nonexistent", "--repeats", "0"], "--repeats must be at least 1"),
    (["--baseline-dir", "/"], "no verify package in it"),
    (["--baseline", "no-such-revision-xyz"], "git archive 'no-such-revision-xyz' failed"),
])
def test_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        bench_lab.main(argv)
    assert message in str(exc.value) + capsys.readouterr().err


@pytest.mark.slow
def test_this_code_against_itself_is_bitwise_the_same(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench_lab.main(["--baseline-dir", str(ROOT), "--data", "synthetic", "--seeds", "1", "--epochs", "1",
                           "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "ratio baseline / this" in text and "verdicts: the same" in text and "(bitwise identical)" in text
    body = json.loads(out.read_text())
    assert body["numbers"]["differ"] == 0 and body["numbers"]["compared"] > 100
    assert body["verdicts"]["baseline"] == body["verdicts"]["this"] and body["ratio"] > 0 and body["cpu_ratio"] > 0
