"""``python -m verify notes [FILE]``: rewrite the generated blocks of paper_notes.md (proofs and tests always;
the measured tables from the results FILE, when one is given; the empirical claims' from --dynamics FILE).
The work is :func:`verify.jobs.notes.update_notes`'; this module parses and prints.

Exit codes: 0 when written (or, with --check, current), 1 with --check when a block is out of date, 2 for a
usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from verify.cli.common import fail, run_command

__all__ = ["DESCRIPTION", "add_arguments", "build_parser", "run", "main"]

#: The description of ``python -m verify notes`` in its ``--help``.
DESCRIPTION = ("Rewrite the generated blocks of paper_notes.md: the proof and test lines always, the measured "
               "tables from the results FILE when one is given.")


def add_arguments(p) -> None:
    """notes' arguments (on a parser, or on :class:`verify.cli.common.HiddenOptions`)."""
    p.add_argument("files", nargs="*", metavar="FILE", help="at most one results file (python -m verify --out FILE)")
    p.add_argument("--notes", default="paper_notes.md", metavar="FILE",
                   help="the notes file (default paper_notes.md, in the repository's top folder)")
    p.add_argument("--dynamics", nargs="+", default=[], metavar="FILE",
                   help="lab results files (python -m verify dynamics) whose verdicts fill the empirical claims' "
                        "measured blocks, one file per data set: each replaces its own data set's part of those "
                        "blocks and the other data sets' parts are kept")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a block would change")


def build_parser() -> argparse.ArgumentParser:
    """The usage of ``python -m verify notes`` (what ``notes --help`` prints)."""
    p = argparse.ArgumentParser(prog="python -m verify notes", description=DESCRIPTION)
    add_arguments(p)
    return p


def run(args) -> int:
    """Rewrite (or, with ``args.check``, check) the generated blocks of ``args.notes``; the exit code."""
    from verify.jobs.notes import update_notes

    if len(args.files) > 1:
        return fail("notes takes at most one results file, e.g. python -m verify notes results/verify.jsonl")
    results = args.files[0] if args.files else None
    if results is not None and not Path(results).is_file():
        return fail(f"no such results file: {results} (run python -m verify first)")
    print("proving every claim for the proof lines (about 15 s) ...", file=sys.stderr, flush=True)
    for f in args.dynamics:
        if not Path(f).is_file():
            return fail(f"no such lab results file: {f} (run python -m verify dynamics first)")
    changed = update_notes(args.notes, results=results, check=args.check, dynamics=args.dynamics)
    if args.check:
        if changed:
            print(f"{args.notes} is out of date in {len(changed)} generated block(s): {', '.join(changed)}; "
                  f"run python -m verify notes" + (f" {results}" if results else ""))
            return 1
        print(f"{args.notes}: every generated block is current")
        return 0
    what = "proof, test and measured" if results else "proof and test"
    print(f"{args.notes}: rewrote the {what} blocks; {len(changed)} changed"
          + (f" ({', '.join(changed)})" if changed else ""))
    return 0


def main(argv=None) -> int:
    """``python -m verify notes ARGS``; the exit code."""
    return run_command("notes", run, build_parser().parse_args(argv))
