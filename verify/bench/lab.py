"""``python -m verify.bench.lab``: the training lab's wall time against another version of the code, side by
side in one run, with the numbers of both compared.

The same lab command (``python -m verify dynamics`` with ``--data``, ``--seeds``, ``--epochs``, ``--jobs``;
the quick default when none is given) runs once with the code of ``--baseline`` (a git revision of this
repository, extracted with ``git archive`` into a temporary folder, or ``--baseline-dir``, a checkout) and
once with this code, alternately ``--repeats`` times each, so that both see the same machine load. It prints
each version's wall time and CPU time (medians over the repeats; the CPU time of the lab and its workers
depends less on other work on the machine), their ratios, and what changed in what was measured:

- the verdict of each claim, from the two runs' verdict files;
- every number of every results record (matched by run id and epoch; the records' timings and provenance
  left out): how many differ at all, and the largest relative difference;

so that a speed-up is reported together with whether it kept the numbers (bitwise, to rounding, or not).

>>> compare_records([{"run": {"id": "a"}, "epoch": 1, "metrics": {"x": 1.0, "y": [2.0, 3.0]}}],
...                 [{"run": {"id": "a"}, "epoch": 1, "metrics": {"x": 1.0, "y": [2.0, 3.0 + 3e-15]}}])["differ"]
1
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

__all__ = ["main", "compare_records", "extract_revision", "run_lab_process"]

#: The record keys that are not measurements (a run's time, its provenance) and are not compared.
_NOT_MEASURED = {"seconds", "facts", "provenance", "time", "started", "host", "git", "commit", "python", "torch"}


def _leaves(obj, path=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k not in _NOT_MEASURED:
                yield from _leaves(v, path + (k,))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _leaves(v, path + (i,))
    else:
        yield path, obj


def compare_records(a: list, b: list) -> dict:
    """Every measured number of two lists of lab records, matched by run id and epoch: ``compared`` (numbers
    in both), ``differ`` (not equal bitwise; NaN equals NaN), ``max_rel`` (the largest |a - b| / max(|a|, |b|)
    among them), ``where`` (the key path of that largest difference), ``other`` (non-numbers that differ),
    ``unmatched`` (records or keys in one only) and ``by_key`` ({measure: (how many differ, largest relative
    difference)}, the measure's key path without list indices)."""
    key = lambda r: (r["run"]["id"], r["epoch"])
    ia, ib = {key(r): r for r in a}, {key(r): r for r in b}
    out = {"compared": 0, "differ": 0, "max_rel": 0.0, "where": None, "other": 0,
           "unmatched": len(set(ia) ^ set(ib)), "by_key": {}}
    for k in sorted(set(ia) & set(ib), key=repr):
        la = dict(_leaves({"metrics": ia[k].get("metrics"), "status": ia[k].get("status")}))
        lb = dict(_leaves({"metrics": ib[k].get("metrics"), "status": ib[k].get("status")}))
        out["unmatched"] += len(set(la) ^ set(lb))
        for p in set(la) & set(lb):
            u, v = la[p], lb[p]
            num = lambda t: isinstance(t, (int, float)) and not isinstance(t, bool)
            if not (num(u) and num(v)):
                out["other"] += u != v
                continue
            out["compared"] += 1
            if u == v or (isinstance(u, float) and isinstance(v, float) and math.isnan(u) and math.isnan(v)):
                continue
            out["differ"] += 1
            scale = max(abs(u), abs(v))
            rel = abs(u - v) / scale if math.isfinite(scale) and scale > 0 else math.inf
            name = ".".join(str(q) for q in p if not isinstance(q, int))        # the measure, without indices
            n, worst = out["by_key"].get(name, (0, 0.0))
            out["by_key"][name] = (n + 1, max(worst, rel))
            if rel > out["max_rel"]:
                out["max_rel"], out["where"] = rel, f"{k[0]} epoch {k[1]}: " + ".".join(map(str, p))
    return out


def extract_revision(rev: str, dest: Path) -> Path:
    """The tree of git revision ``rev`` of the repository holding this package, written under ``dest``."""
    root = Path(__file__).resolve().parents[2]
    try:
        data = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", rev], check=True,
                              capture_output=True).stdout
    except FileNotFoundError:
        raise SystemExit("error: --baseline needs git; give --baseline-dir DIR (a checkout of the other version)")
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"error: git archive {rev!r} failed: {exc.stderr.decode().strip()}") from None
    dest.mkdir(parents=True, exist_ok=True)
    import io

    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def run_lab_process(code: Path, work: Path, lab_args: list) -> tuple[float, float, list, dict]:
    """Run ``python -m verify dynamics LAB_ARGS --out results.jsonl`` with the package at ``code`` (first on
    PYTHONPATH), in the fresh folder ``work``; (wall seconds, CPU seconds of the process and its workers, its
    records, its verdicts file's body). The CPU seconds (user + system, from ``resource.getrusage`` of the
    children) depend less on other work on the machine than the wall time does."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(code)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    cmd = [sys.executable, "-m", "verify", "dynamics", *lab_args, "--out", "results.jsonl", "--no-progress"]
    r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"error: the lab with the code in {code} failed (exit {proc.returncode}):\n"
                         f"{proc.stderr.strip()[-2000:]}")
    records = [json.loads(line) for line in (work / "results.jsonl").read_text().splitlines() if line.strip()]
    vfile = work / "results.verdicts.json"
    verdicts = json.loads(vfile.read_text()) if vfile.is_file() else {}
    return wall, cpu, records, verdicts


def _verdicts(body: dict) -> dict:
    return {v["claim"]: v["verdict"] for v in body.get("verdicts", [])}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m verify.bench.lab",
        description=__doc__.split("\n\n>>>")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  python -m verify.bench.lab --baseline 3ab250e          the quick lab, that revision "
               "against this code\n  python -m verify.bench.lab --baseline HEAD~3 --data synthetic --seeds 1 "
               "--epochs 2")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--baseline", metavar="REV", help="a git revision of this repository (the code to compare with)")
    g.add_argument("--baseline-dir", metavar="DIR", help="a folder holding the other version's package (a checkout)")
    p.add_argument("--data", default=None, help="the lab's --data (default: its default, digits)")
    p.add_argument("--seeds", type=int, default=None, help="the lab's --seeds (default: its default)")
    p.add_argument("--epochs", type=int, default=None, help="the lab's --epochs (default: the data set's)")
    p.add_argument("--jobs", type=int, default=None, help="the lab's --jobs (default: its default)")
    p.add_argument("--round", type=int, choices=[1, 2], default=None, help="the lab's --round (default 1)")
    p.add_argument("--cnn", action="store_true", help="the lab's --cnn (the data set's small CNN)")
    p.add_argument("--repeats", type=int, default=1, help="runs of each version, alternating (default 1)")
    p.add_argument("--out", metavar="FILE", help="write the timings and the comparison as JSON")
    return p


def main(argv=None) -> int:
    """The command line (module docstring)."""
    args = _parser().parse_args(argv)
    if args.repeats < 1:
        raise SystemExit("error: --repeats must be at least 1")
    lab_args = []
    for flag, value in (("--data", args.data), ("--seeds", args.seeds), ("--epochs", args.epochs),
                        ("--jobs", args.jobs), ("--round", args.round)):
        if value is not None:
            lab_args += [flag, str(value)]
    lab_args += ["--cnn"] if args.cnn else []
    here = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory(prefix="bench-lab-") as tmp:
        tmp = Path(tmp)
        if args.baseline:
            base, base_name = extract_revision(args.baseline, tmp / "baseline-code"), f"revision {args.baseline}"
        else:
            base, base_name = Path(args.baseline_dir).resolve(), f"folder {args.baseline_dir}"
            if not (base / "verify" / "__init__.py").is_file():
                raise SystemExit(f"error: --baseline-dir {args.baseline_dir}: no verify package in it")
        times, cpus = {"baseline": [], "this": []}, {"baseline": [], "this": []}
        runs = {}
        print(f"python -m verify dynamics {' '.join(lab_args) or '(the quick default)'}: {base_name} against "
              f"this code ({here}), {args.repeats} run(s) each, alternating", flush=True)
        for i in range(args.repeats):
            for name, code in (("baseline", base), ("this", here)):
                wall, cpu, records, verdicts = run_lab_process(code, tmp / f"{name}-{i}", lab_args)
                times[name].append(wall)
                cpus[name].append(cpu)
                runs[name] = (records, verdicts)
                print(f"  run {i + 1}: {name:8s} {wall:8.1f} s wall, {cpu:8.1f} s CPU  ({len(records)} records)",
                      flush=True)
    tb, tt = statistics.median(times["baseline"]), statistics.median(times["this"])
    cmp_ = compare_records(runs["baseline"][0], runs["this"][0])
    vb, vt = _verdicts(runs["baseline"][1]), _verdicts(runs["this"][1])
    cb, ct = statistics.median(cpus["baseline"]), statistics.median(cpus["this"])
    print(f"\nwall time (median): baseline {tb:.1f} s, this code {tt:.1f} s: ratio baseline / this = {tb / tt:.2f}")
    print(f"CPU time (median, the lab and its workers): baseline {cb:.1f} s, this code {ct:.1f} s: ratio baseline "
          f"/ this = {cb / ct:.2f}")
    print("verdicts: " + ("the same: " if vb == vt else "DIFFERENT: ")
          + "; ".join(f"{c} {vb.get(c)} -> {vt.get(c)}" for c in sorted(set(vb) | set(vt))))
    print(f"numbers: {cmp_['compared']} compared, {cmp_['differ']} differ"
          + (f", largest relative difference {cmp_['max_rel']:.2g} ({cmp_['where']})" if cmp_["differ"] else
             " (bitwise identical)")
          + (f"; {cmp_['other']} other values differ" if cmp_["other"] else "")
          + (f"; {cmp_['unmatched']} records or keys in one run only" if cmp_["unmatched"] else ""))
    for name, (n, worst) in sorted(cmp_["by_key"].items(), key=lambda kv: -kv[1][0])[:8]:
        print(f"  {n:7d} differ in {name} (largest relative difference {worst:.2g})")
    if args.out:
        Path(args.out).write_text(json.dumps({"lab_args": lab_args, "baseline": base_name, "times": times,
                                              "cpu_seconds": cpus, "ratio": tb / tt, "cpu_ratio": cb / ct, "verdicts": {"baseline": vb, "this": vt},
                                              "numbers": cmp_}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
