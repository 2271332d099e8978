"""``python -m verify merge FILE [FILE ...] --out FILE``: join the results files of a sweep's shards and print
the merged sweep's report. The work is :func:`verify.results.merge.merge_files`'; this module parses and prints.

Exit codes: 0 when no claim fails, 1 when one does, 2 for a usage error (a missing, foreign or
mismatched file, an existing --out).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from verify.cli.common import and_list, fail, report, run_command

__all__ = ["add_arguments", "build_parser", "run", "main"]

_DESCRIPTION = """\
Join the results files of the shards of one sweep (python -m verify --shard I/N --out FILE, run as
separate jobs, possibly on different devices) into one new file, then print the merged sweep's table,
as a sweep does. Records of the same network, dtype and device found twice (a file given twice, an
overlap) are written once, and a note says how many were dropped. Files of sweeps with other settings
are refused, and nothing is written then. A note says how many of the units the sweep's settings call
for (networks x dtypes, on each device) are in the files, and which shards are missing.
"""

_EPILOG = """\
example:
  python -m verify --shard 0/2 --out results/s0.jsonl
  python -m verify --shard 1/2 --out results/s1.jsonl
  python -m verify merge results/s0.jsonl results/s1.jsonl --out results/all.jsonl
"""


def add_arguments(p) -> None:
    """merge's arguments (on a parser, or on :class:`verify.cli.common.HiddenOptions`)."""
    p.add_argument("files", nargs="*", metavar="FILE", help="the shard results files to join")
    p.add_argument("--out", metavar="FILE", help="the merged results file to write (must not exist)")


def build_parser() -> argparse.ArgumentParser:
    """The usage of ``python -m verify merge`` (what ``merge --help`` prints)."""
    p = argparse.ArgumentParser(prog="python -m verify merge", usage="python -m verify merge FILE [FILE ...] --out FILE",
                                description=_DESCRIPTION, epilog=_EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return p


def run(args) -> int:
    """Merge ``args.files`` into ``args.out`` and print the merged sweep's report; the exit code."""
    from verify.results.merge import merge_files

    if not args.files:
        return fail("merge needs the shard files to join, e.g. python -m verify merge s0.jsonl s1.jsonl --out all.jsonl")
    if not args.out:
        return fail("merge needs --out FILE, the new file to write, e.g. python -m verify merge "
                    + " ".join(args.files[:2]) + (" ..." if len(args.files) > 2 else "") + " --out all.jsonl")
    res = merge_files(args.files, args.out)
    print(f"merged {res.written} records into {args.out}")
    for message in res.skipped:
        print(f"note: {message}")
    if res.repeated:
        print(f"note: {and_list(res.repeated)} {'was' if len(res.repeated) == 1 else 'were'} given more than once")
    if res.duplicates:
        print(f"note: dropped {res.duplicates} duplicate record(s) (the same network, dtype and device more than "
              f"once); each is written once")
    coverage = res.coverage_note()
    if coverage:
        print(coverage)
    print()
    return report(res.records, Path(args.out), None)          # 1 when a claim fails, as after a sweep


def main(argv=None) -> int:
    """``python -m verify merge ARGS``; the exit code."""
    return run_command("merge", run, build_parser().parse_args(argv))
