"""The ``verify`` command (``python -m verify``, the ``regverify`` script): one module per sub-command.

``sweep`` (:mod:`verify.cli.sweep`, the default when no command is given), ``model``
(:mod:`verify.cli.model`), ``trained`` (:mod:`verify.cli.trained`), ``merge`` (:mod:`verify.cli.merge`),
``notes`` (:mod:`verify.cli.notes`), ``dynamics`` (:mod:`verify.cli.dynamics`) and ``radius``
(:mod:`verify.cli.radius`); what several of them share is in :mod:`verify.cli.common`.

The command lines of before the sub-commands work unchanged: ``python -m verify [OPTIONS]`` runs the sweep,
and ``--model FILE`` or ``--trained [DIR]`` among the options (after ``sweep`` or no command) runs that check
instead. The commands of that flat family (sweep, model, trained, merge, notes) parse each other's options
hidden from their --help, so that an option given to the wrong one is the usage error it was
(:func:`verify.cli.common.misplaced`). Exit codes: those of each command; 2 for a usage error everywhere.
"""

from __future__ import annotations

import argparse
import sys
import textwrap

from verify.cli import dynamics, merge, model, notes, radius, sweep, trained
from verify.cli.common import HiddenOptions, fail, run_command

__all__ = ["COMMANDS", "main", "build_parser", "command_parser", "route"]

#: Each command, its module and its line in ``python -m verify --help``.
COMMANDS = {
    "sweep": (sweep, "(the default) check every claim on random networks (its options below)"),
    "model": (model, "check your own network: --model FILE --inputs FILE [--labels FILE] (see model --help)"),
    "trained": (trained, "check the training lab's checkpoints: --trained [DIR] (see trained --help)"),
    "merge": (merge, "join the results files of a sweep's shards: merge FILE [FILE ...] --out FILE"),
    "notes": (notes, "rewrite the generated blocks of paper_notes.md (from a results FILE, when given)"),
    "dynamics": (dynamics, "train on real data and judge the empirical claims (see dynamics --help)"),
    "radius": (radius, "exact robustness radii of a saved model (see radius --help)"),
}
#: The commands of the flat command line of before the sub-commands, which parse each other's options.
FLAT = ("sweep", "model", "trained", "merge", "notes")

_EPILOG = """\
examples:
  python -m verify                         quick sweep (default), table + results/verify.jsonl
  python -m verify --networks 100 --out results/big.jsonl
  python -m verify --claims input-gradient hessian-gauss-newton --dtype float64
  python -m verify --shard 0/4 --out results/s0.jsonl   (and 1/4, 2/4, 3/4 elsewhere), then
  python -m verify merge results/s*.jsonl --out results/all.jsonl   join them (see merge --help)
  python -m verify --resume --out results/verify.jsonl  continue an interrupted sweep
  python -m verify --jobs 4                 the units in 4 local worker processes
  python -m verify --dask local:4           ... on a local Dask cluster of 4 workers
  python -m verify --dask tcp://HOST:8786   ... on the workers of a running Dask scheduler (needs
                                           pip install -e ".[cluster]"; see docs/guides/cluster-and-gpu.md)
  python -m verify --model net.pt --inputs x.pt [--labels y.pt]   check your own network
                                           (with --claims, --dtype, --device, --seed, --out; the
                                           sweep's size and split options do not apply)
  python -m verify notes results/verify.jsonl   rewrite the generated parts of paper_notes.md from a sweep
  python -m verify notes --check            exit 1 if paper_notes.md's proof and test lines are out of date
  python -m verify dynamics                 train on real data and judge the empirical claims (see dynamics --help)
  python -m verify --trained                every claim on the lab's checkpoints (after python -m verify dynamics)
  python -m verify --trained results/dynamics-mnist-5k.jsonl --epochs all --dtype float64
  python -m verify radius --model net.pt --inputs x.pt [--norm inf|2]   exact robustness radii (see radius --help)

The results file has one JSON line per network and dtype; `python -m figures --results FILE` plots it.
Wherever the units run, this process alone writes it. Exit codes: 0 no claim fails, 1 a claim fails,
2 a usage error, 3 a unit raised (named on stderr; --resume runs it again).
"""


def _hide_the_others(p: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    hidden = HiddenOptions(p)
    for other in FLAT:
        if other != name:
            COMMANDS[other][0].add_arguments(hidden)
    return p


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m verify [OPTIONS]`` without a command (the sweep's options), whose --help lists
    every command, one line each."""
    lines = "\n".join(f"  {name:<9} {line}" for name, (_, line) in COMMANDS.items())
    p = argparse.ArgumentParser(prog="python -m verify", usage="python -m verify [COMMAND] [OPTIONS]",
                                description=f"{textwrap.fill(sweep.DESCRIPTION, 110)}\n\ncommands (python -m verify "
                                            f"COMMAND --help lists a command's own options):\n{lines}",
                                epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", nargs="?", choices=list(COMMANDS), metavar="COMMAND", help=argparse.SUPPRESS)
    p.add_argument("files", nargs="*", help=argparse.SUPPRESS)        # a command's, when it comes after options
    sweep.add_arguments(p)
    return _hide_the_others(p, "sweep")


def command_parser(name: str) -> argparse.ArgumentParser:
    """The parser of ``python -m verify NAME``: NAME's own options, and for a command of the flat family
    (sweep, model, trained, merge, notes) the others' options, hidden from its --help."""
    p = COMMANDS[name][0].build_parser()
    return _hide_the_others(p, name) if name in FLAT else p


def _is_flag(token: str, flag: str) -> bool:
    """Whether ``token`` is ``flag`` or, as argparse reads it, an abbreviation of it (``--mod``, ``--model=F``)."""
    given = token.split("=", 1)[0]
    return len(given) > 2 and given.startswith("--") and flag.startswith(given)


def route(argv: list[str]) -> tuple[str | None, list[str]]:
    """The command a command line runs and the arguments it parses: the command named first, else (after
    ``sweep`` or none) ``trained`` with a --trained option, ``model`` with a --model option, or the sweep
    (``None``: no command was named, as in ``python -m verify [OPTIONS]``)."""
    if argv and argv[0] in COMMANDS and argv[0] != "sweep":
        return argv[0], argv[1:]
    named, rest = argv[:1] == ["sweep"], argv[1:] if argv[:1] == ["sweep"] else argv
    options = rest[:rest.index("--")] if "--" in rest else rest
    for name in ("trained", "model"):             # --trained first: --model is a usage error there
        if any(_is_flag(t, f"--{name}") for t in options):
            return name, rest
    return ("sweep" if named else None), rest


def main(argv=None) -> int:
    """``python -m verify ARGS``; the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    name, rest = route(argv)
    if name in ("dynamics", "radius"):            # their own options and usage errors
        return COMMANDS[name][0].main(rest)
    if name is None:
        args = build_parser().parse_args(rest)
        if args.command is not None:              # a command after options (sweep: given twice)
            return fail(f"the command goes first: python -m verify {args.command} [OPTIONS]")
        name = "sweep"
    else:
        args = command_parser(name).parse_args(rest)
    return run_command(name, COMMANDS[name][0].run, args)
