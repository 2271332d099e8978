"""Where the units run (:mod:`verify.jobs.executors`, :func:`verify.jobs.runner.drive`): in this process, in local worker
processes, on a real two-worker Dask ``LocalCluster``. Wherever they run, the driver alone writes the results
file, and the records equal those of a serial run but for the run facts that say when and where (time,
seconds, host). A unit that raises is named with its message and the others go on; a worker that dies loses
no finished unit.

The work functions below are module-level, so worker processes import them from this module."""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import pytest

from verify.cli import main
from verify.errors import MissingExtraError
from verify.jobs.executors import ClusterError, make_executor, parse_dask
from verify.jobs.runner import drive
from verify.jobs.sweep import SweepConfig, plan, run_sweep

CFG = SweepConfig(networks=2, points=3, dtypes=("float64", "float32"), device="cpu", seed=0,
                  claims=("input-gradient", "cross-lipschitz-centered-jacobian"))

#: The run facts that say when and where a unit ran; everything else must be equal.
WHEN_AND_WHERE = ("time", "seconds", "host")


def _by_unit(path, key) -> dict:
    """unit key -> the record as JSON text, without the run facts of WHEN_AND_WHERE."""
    out = {}
    for line in open(path, encoding="utf-8"):
        rec = json.loads(line)
        for k in WHEN_AND_WHERE:
            rec["run"].pop(k, None)
        rec.pop("seconds", None)                             # the lab's records time each epoch
        assert key(rec) not in out, f"unit {key(rec)} written twice"
        out[key(rec)] = json.dumps(rec, sort_keys=True)
    return out


def _sweep_key(rec):
    return rec["network"]["index"], rec["run"]["dtype"], rec["network"]["device"]


def _lab_key(rec):
    return rec["run"]["id"], rec["epoch"]


def _square(unit):
    return {"id": unit["id"], "sq": unit["n"] ** 2, "pid": os.getpid()}


def _flaky(unit):
    if unit["id"] == "b":
        raise ValueError(f"unit {unit['id']} is broken (n = {unit['n']})")
    return _square(unit)


def _dies(unit):
    if unit["id"] == "b":
        time.sleep(1.0)               # let the driver take a's result first
        os._exit(3)                   # the worker process dies, as on a node failure
    return _square(unit)


UNITS = [{"id": "a", "n": 1}, {"id": "b", "n": 2}, {"id": "c", "n": 3}]


@pytest.fixture(scope="module")
def dask_local():
    """One real two-worker Dask LocalCluster (two processes, one thread each) for the tests of this module."""
    pytest.importorskip("distributed")
    with make_executor(dask="local:2") as ex:
        yield ex


# ---- the same records wherever the units run ----------------------------------------------------------------

@pytest.mark.slow
def test_a_sweep_on_a_two_worker_dask_cluster_equals_the_serial_sweep(tmp_path, dask_local):
    serial, cluster = tmp_path / "serial.jsonl", tmp_path / "dask.jsonl"
    run_sweep(serial, config=CFG, progress=False)
    res = run_sweep(cluster, config=CFG, progress=False, executor=dask_local)
    assert res.failures == [] and len(res) == len(plan(CFG))
    a, b = _by_unit(serial, _sweep_key), _by_unit(cluster, _sweep_key)
    assert a.keys() == b.keys() and len(a) == len(plan(CFG))
    for k in a:
        assert a[k] == b[k], k
    assert {json.loads(line)["run"]["threads"] for line in open(cluster)} == {1}
    # and the cluster's records are a sweep's file: resume finds every unit done
    again = run_sweep(cluster, config=CFG, progress=False, resume=True, executor=dask_local)
    assert len(again) == 0 and len(_by_unit(cluster, _sweep_key)) == len(a)


@pytest.mark.slow
def test_the_lab_on_a_two_worker_dask_cluster_equals_the_serial_lab(tmp_path, dask_local):
    from verify.dynamics.lab import run_lab
    from verify.dynamics.settings import settings_for

    cfg = {"data": "synthetic", "seeds": 1, "claims": ["confidence-concentration"], "dtype": "float64",
           "device": "cpu", "full": False, "settings": settings_for("synthetic", epochs=1).to_dict()}
    serial, cluster = tmp_path / "serial.jsonl", tmp_path / "dask.jsonl"
    assert run_lab(serial, cfg, progress=False).failures == []
    assert run_lab(cluster, cfg, progress=False, executor=dask_local).failures == []
    a, b = _by_unit(serial, _lab_key), _by_unit(cluster, _lab_key)
    assert len(a) == 4 and a.keys() == b.keys()              # two runs (ce, at(eps3)), epochs 0 and 1
    for k in a:
        assert a[k] == b[k], k
    assert sorted(p.parent.name for p in (tmp_path / "dask.ckpt").glob("*/epoch-001.pt")) == \
        sorted(p.parent.name for p in (tmp_path / "serial.ckpt").glob("*/epoch-001.pt")) != []   # by the workers


@pytest.mark.slow
def test_local_processes_give_the_serial_records_and_a_dying_worker_loses_no_finished_unit(tmp_path):
    serial, pool = tmp_path / "serial.jsonl", tmp_path / "pool.jsonl"
    run_sweep(serial, config=CFG, progress=False)
    with make_executor(jobs=2) as ex:
        assert isinstance(ex, ProcessPoolExecutor)
        res = run_sweep(pool, config=CFG, progress=False, executor=ex)
        assert res.failures == []
        assert _by_unit(serial, _sweep_key) == _by_unit(pool, _sweep_key)
        out = tmp_path / "r.jsonl"                          # now one of the two workers dies in unit b
        res = drive(UNITS, _dies, out, executor=ex, progress=False)
    written = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    failed = [f.unit for f in res.failures]
    assert "a" in written and "b" in failed and sorted(written + failed) == ["a", "b", "c"]
    assert all(f.error == "BrokenProcessPool" for f in res.failures)


# ---- a unit that raises, a worker that dies -------------------------------------------------------------------

@pytest.mark.slow
def test_a_unit_that_raises_on_a_worker_is_named_and_the_others_go_on(tmp_path, dask_local, capsys):
    out = tmp_path / "r.jsonl"
    res = drive(UNITS, _flaky, out, executor=dask_local, progress=False)
    assert [f.unit for f in res.failures] == ["b"]
    f = res.failures[0]
    assert (f.error, f.message) == ("ValueError", "unit b is broken (n = 2)")
    assert "error: b: ValueError: unit b is broken (n = 2); the other units go on" in capsys.readouterr().err
    written = sorted(json.loads(line)["id"] for line in out.read_text().splitlines())
    assert written == ["a", "c"]
    pids = {json.loads(line)["pid"] for line in out.read_text().splitlines()}
    assert os.getpid() not in pids                         # they ran on the workers, the driver wrote


def test_a_sweep_unit_that_raises_is_reported_the_others_go_on_and_resume_runs_it(tmp_path, monkeypatch, capsys):
    from verify import checkers

    real = checkers.run_checks
    broken = plan(CFG)[1]                                       # network 0 in float32

    def fails_once_on_one_unit(model, x, *a, **k):
        if x.dtype == getattr(__import__("torch"), broken["dtype"]) and k["arch"] == broken["spec"].id:
            raise RuntimeError("a unit broke here")
        return real(model, x, *a, **k)

    out = tmp_path / "r.jsonl"
    argv = ["--networks", "2", "--points", "3", "--claims", *CFG.claims, "--device", "cpu", "--out", str(out),
            "--no-progress"]
    monkeypatch.setattr(checkers, "run_checks", fails_once_on_one_unit)
    assert main(argv) == 3
    err = capsys.readouterr().err
    name = f"net 0 ({broken['spec'].id}, float32)"
    assert f"error: {name}: RuntimeError: a unit broke here; the other nets go on" in err
    assert f"1 unit(s) raised and are not in {out}: {name}: RuntimeError: a unit broke here. Rerun with --resume" in err
    assert len(out.read_text().splitlines()) == len(plan(CFG)) - 1
    monkeypatch.setattr(checkers, "run_checks", real)
    assert main(argv + ["--resume"]) == 0
    assert "resuming: 3 of 4 units already in" in capsys.readouterr().out
    assert len(_by_unit(out, _sweep_key)) == len(plan(CFG))


# ---- choosing the executor ------------------------------------------------------------------------------------

def test_parse_dask():
    assert parse_dask("local:3") == ("local", 3)
    assert parse_dask(" tcp://10.1.2.3:8786 ") == ("address", "tcp://10.1.2.3:8786")
    assert parse_dask("run/scheduler.json") == ("file", "run/scheduler.json")


@pytest.mark.parametrize("kwargs, message", [
    ({"jobs": 0}, r"^--jobs must be at least 1, got 0$"),
    ({"jobs": 2, "dask": "local:2"}, r"^--jobs and --dask exclude each other"),
    ({"dask": "local:0"}, r"^--dask local:0: expected local:N with N >= 1 worker processes, e.g. local:4$"),
    ({"dask": "local"}, r"^--dask local: expected local:N with N >= 1"),
    ({"dask": "local:two"}, r"^--dask local:two: expected local:N"),
    ({"dask": ""}, r"^--dask: expected local:N, a scheduler address \(tcp://HOST:PORT\) or a scheduler file"),
    ({"dask": "nowhere.json"}, r"^--dask nowhere.json: no such scheduler file \(dask scheduler --scheduler-file"),
])
def test_bad_choices_are_one_line_errors(kwargs, message):
    if "dask" in kwargs and kwargs["dask"].endswith(".json"):
        pytest.importorskip("distributed")
    with pytest.raises(ClusterError, match=message):
        with make_executor(**kwargs):
            pass


def test_a_scheduler_that_does_not_answer(tmp_path):
    pytest.importorskip("distributed")
    with pytest.raises(ClusterError, match=r"^--dask tcp://127.0.0.1:9: no Dask scheduler answered \(.*\)$"):
        with make_executor(dask="tcp://127.0.0.1:9", connect_timeout=0.5):
            pass


def test_without_dask_the_message_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)          # import distributed raises ImportError
    with pytest.raises(MissingExtraError, match=r'^--dask \(Dask\'s distributed scheduler\) needs dask\[distributed\], '
                                                r'which is not installed: pip install -e "\.\[cluster\]"'):
        with make_executor(dask="local:2"):
            pass


@pytest.mark.parametrize("argv, message", [
    (["--networks", "1", "--dask", "local:0"], "--dask local:0: expected local:N with N >= 1 worker processes, e.g. local:4"),
    (["--networks", "1", "--jobs", "0"], "--jobs must be at least 1, got 0"),
    (["merge", "a.jsonl", "--jobs", "2"], "--jobs runs the units of a sweep elsewhere; merge runs in this process"),
    (["--model", "m.pt", "--inputs", "x.pt", "--dask", "local:2"],
     "--dask runs the units of a sweep elsewhere; --model checks one model, in this process"),
])
def test_cli_usage_errors(tmp_path, capsys, argv, message):
    assert main(argv + ["--out", str(tmp_path / "r.jsonl")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {message}"
    assert not (tmp_path / "r.jsonl").exists()


def test_cli_jobs_and_dask_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--jobs", "2", "--dask", "local:2"])
    assert exc.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_dynamics_cli_takes_dask_and_refuses_bad_values(capsys):
    from verify.cli.dynamics import main as dynamics_main

    assert dynamics_main(["--data", "synthetic", "--dask", "local:0", "--no-progress"]) == 2
    assert "--dask local:0: expected local:N" in capsys.readouterr().err
