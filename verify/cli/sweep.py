"""``python -m verify [sweep]``: every checkable claim on random piecewise-linear networks (the default
command). The work is :func:`verify.jobs.sweep.run_sweep`'s; this module parses and prints.

Exit codes: 0 when no claim fails, 1 when one does, 2 for a usage error, 3 when a unit of the sweep raised
(each is named on stderr with its message; ``--resume`` runs it again) and no claim fails.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from verify.cli.common import (
    add_check_options,
    add_no_progress,
    check_claims,
    fail,
    next_step,
    quote,
    report,
    run_command,
)
from verify.jobs.notes import SWEEP_RESULTS

__all__ = ["DESCRIPTION", "add_arguments", "build_parser", "run", "main"]

#: The description of the sweep (``python -m verify``) in its ``--help``.
DESCRIPTION = ("Compute each robustness regularizer by its definition (autograd, as the papers train) and by its "
               "derived closed form (from the exact local linearization f = J x + b), on random piecewise-linear "
               "networks or on your own, and report the gap of every claim against a floating-point error bound. "
               "Kinks and region crossings are counted and shown, never hidden.")


def add_arguments(p) -> None:
    """The sweep's options (on a parser, or on :class:`verify.cli.common.HiddenOptions`)."""
    from verify.jobs.executors import add_executor_arguments

    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="the default sweep size: under 2 minutes on a 2-core CPU")
    size.add_argument("--full", action="store_true", help="the full-size sweep (larger networks, up to 3x32x32 inputs)")
    p.add_argument("--networks", type=int, metavar="N", help="number of random networks (each run in every dtype)")
    p.add_argument("--points", type=int, metavar="N", help="inputs per network")
    add_check_options(p, dtype_help="float precision(s) (default both)",
                      seed_help="seed of the network and input draws (default 0)",
                      out_help=f"results file (JSON lines; default {SWEEP_RESULTS})")
    p.add_argument("--resume", action="store_true", help="continue an interrupted sweep in --out, keeping finished networks")
    p.add_argument("--shard", default="0/1", metavar="I/N", help="run only shard I of N of the sweep (default 0/1)")
    add_executor_arguments(p, what="units", jobs_help="run the units in N local worker processes (default: one "
                                                      "after the other in this process)")
    add_no_progress(p)


def build_parser() -> argparse.ArgumentParser:
    """The usage of ``python -m verify sweep`` (what ``sweep --help`` prints)."""
    p = argparse.ArgumentParser(prog="python -m verify sweep", description=DESCRIPTION)
    add_arguments(p)
    return p


def run(args) -> int:
    """Run the sweep of ``args`` into ``args.out`` and print its report; the exit code."""
    from verify.errors import resolve_device
    from verify.jobs.executors import make_executor
    from verify.jobs.sweep import FULL, QUICK, SweepConfig, run_sweep

    check_claims(args.claims)
    args.out = args.out or SWEEP_RESULTS
    try:
        i, n = (int(v) for v in args.shard.split("/"))
    except ValueError:
        return fail(f"--shard must look like I/N (e.g. 0/4), got {args.shard!r}")
    base = FULL if args.full else QUICK
    for name in ("networks", "points"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            return fail(f"--{name} must be at least 1, got {getattr(args, name)}")
    cfg = SweepConfig(networks=args.networks or base["networks"], points=args.points or base["points"],
                      size="full" if args.full else "quick",
                      dtypes=("float64", "float32") if args.dtype == "both" else (args.dtype,),
                      device=str(resolve_device(args.device, here=args.dask is None)), seed=args.seed,
                      claims=tuple(args.claims) if args.claims else None)
    t0 = time.perf_counter()
    with make_executor(jobs=args.jobs, dask=args.dask) as executor:
        res = run_sweep(args.out, config=cfg, shard=(i, n), resume=args.resume, progress=not args.no_progress,
                        executor=executor)
    return _sweep_report(res, Path(args.out), time.perf_counter() - t0)


def _sweep_report(res, out: Path, seconds: float) -> int:
    """The report of a sweep's file after a run; with the units that raised named (each was printed when it
    raised) and exit code 3 for them, unless a claim fails (1)."""
    from verify.results.records import read_results

    written = out.exists() and out.stat().st_size
    code = report(read_results(out), out, seconds) if written else 0
    if res.failures:
        print(f"\n{len(res.failures)} unit(s) raised and are not in {out}: " + "; ".join(map(str, res.failures))
              + f". Rerun with --resume --out {out} to run them again.", file=sys.stderr)
    if written:
        print(next_step(f"python -m verify notes {quote(out)}", "the measured blocks of paper_notes.md from these "
                                                                 "results"))
        print(next_step(f"python -m figures --results {quote(out)}", "the figures of these results; the lab's "
                                                                      "figures also want --dynamics, --trained"))
    return code or (3 if res.failures else 0)


def main(argv=None) -> int:
    """``python -m verify sweep ARGS``; the exit code."""
    return run_command("sweep", run, build_parser().parse_args(argv))
