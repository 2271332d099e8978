"""``python -m verify --trained [DIR]`` (or ``python -m verify trained [--trained DIR]``): every checkable
claim on the training lab's checkpoints, the usual table, then what training changed and the
region-crossing share against h and h / sqrt(D). The work is :func:`verify.jobs.trained.run_trained`'s;
this module parses and prints.

Exit codes: 0 when no claim fails and every checkpoint was checked, 1 otherwise, 2 for a usage error.
"""

from __future__ import annotations

import argparse
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

__all__ = ["TRAINED_OUT", "add_arguments", "build_parser", "run", "main"]

#: Where a check of the lab's checkpoints goes by default (verify.jobs.trained.TRAINED_RESULTS).
TRAINED_OUT = "results/trained.jsonl"


def add_arguments(p) -> None:
    """The options of a check of the lab's checkpoints (on a parser, or on
    :class:`verify.cli.common.HiddenOptions`)."""
    from verify.jobs.executors import add_executor_arguments

    p.add_argument("--trained", nargs="?", const="", metavar="DIR",
                   help="check every claim on the training lab's checkpoints instead of random networks: DIR is a lab "
                        "results file (its .ckpt folder), a .ckpt folder or one run's folder (default: the quick lab's, "
                        "results/dynamics.jsonl); inputs are the first --points (default 32) points of each data set's "
                        "evaluation set, with their true labels; results in results/trained.jsonl")
    p.add_argument("--epochs", default="first,last", metavar="LIST",
                   help="which checkpoints of each run: first,last (default: epoch 0, the same network before "
                        "training, and the trained one), last, all, or numbers like 0,10,last")
    p.add_argument("--points", type=int, metavar="N", help="evaluation points per checkpoint (default 32)")
    add_check_options(p, dtype_help="float precision(s) (default both)",
                      out_help=f"results file (JSON lines; default {TRAINED_OUT})")
    p.add_argument("--resume", action="store_true", help="keep the checks already in --out and run the others")
    add_executor_arguments(p, what="checks", jobs_help="run the checks in N local worker processes (default: one "
                                                       "after the other in this process)")
    add_no_progress(p)


def build_parser() -> argparse.ArgumentParser:
    """The usage of ``python -m verify --trained`` (what ``--trained --help`` prints)."""
    p = argparse.ArgumentParser(prog="python -m verify trained", usage="python -m verify --trained [DIR] [options]\n       python -m verify trained [--trained DIR] [options]",
                                description="Check every claim on the training lab's checkpoints (after python -m "
                                            "verify dynamics), then print what training changed.")
    add_arguments(p)
    return p


def run(args) -> int:
    """Check the lab's checkpoints of ``args.trained`` into ``args.out`` and print the report; the exit code."""
    from verify.errors import resolve_device
    from verify.jobs.executors import make_executor
    from verify.jobs.trained import (
        TrainedError,
        crossing_curves,
        format_comparison,
        format_crossings,
        parse_epochs,
        run_trained,
    )
    from verify.results.records import read_results

    check_claims(args.claims)
    args.out = args.out or TRAINED_OUT
    try:
        epochs = parse_epochs(args.epochs)
        device = str(resolve_device(args.device, here=args.dask is None))
        t0 = time.perf_counter()
        with make_executor(jobs=args.jobs, dask=args.dask) as executor:
            records, failures = run_trained(args.trained or None, args.out, epochs=epochs, points=args.points or 32,
                                            dtypes=("float64", "float32") if args.dtype == "both" else (args.dtype,),
                                            device=device, claims=args.claims, resume=args.resume,
                                            executor=executor, progress=not args.no_progress)
    except TrainedError as exc:
        return fail(str(exc))
    seconds = time.perf_counter() - t0
    if not records:
        return fail(f"no checkpoint could be checked ({len(failures)} failed: {failures[0] if failures else ''})")
    data = sorted({r["network"]["data"] for r in records})
    runs = {r["network"]["id"].rsplit("@", 1)[0] for r in records}
    print(f"the lab's networks: {len(runs)} run(s) on {', '.join(data)}, {len(records)} checkpoint checks "
          f"({args.points or 32} evaluation points each, true labels)\n")
    status = report(records, Path(args.out), seconds)
    reference = None
    if Path(SWEEP_RESULTS).is_file():
        try:
            reference = read_results(SWEEP_RESULTS)
        except Exception:                       # a foreign or torn sweep file: the comparison goes without it
            reference = None
    comparison = format_comparison(records, reference)
    if comparison:
        print("\n" + comparison + (f"\n  (sweep: the random networks of {SWEEP_RESULTS})" if reference else ""))
    crossings = format_crossings(crossing_curves(records))
    if crossings:
        print("\n" + crossings)
    for f in failures:
        print(f"error: checkpoint {f}")
    sweep = f" --results {quote(SWEEP_RESULTS)}" if Path(SWEEP_RESULTS).is_file() else ""
    print(next_step(f"python -m figures{sweep} --trained {quote(args.out)} --only trained-crossing",
                    "these checks beside the sweep's random networks" if sweep else
                    "these checks in the trained-crossing figure; without --results a quick sweep runs first"))
    return 1 if failures and status == 0 else status


def main(argv=None) -> int:
    """``python -m verify trained ARGS``; the exit code."""
    return run_command("trained", run, build_parser().parse_args(argv))
