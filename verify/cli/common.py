"""What the commands of ``python -m verify`` share (:mod:`verify.cli` has one module per command).

One usage-error line (:func:`fail`), the report of a results file's records with its verdict line
(:func:`report`), the claim ids a check run accepts (:func:`check_claims`), the user's model and tensor
files (:func:`load_model`, :func:`load_tensor`, :func:`user_dtypes`, :func:`layer_shape_error`), and the
compatibility of the flat command line of before the sub-commands: every command of the flat family
(sweep, model, trained, merge, notes) parses the others' options hidden from its ``--help``
(:class:`HiddenOptions`), so that an option given to the wrong command gets the same one-line usage
error as before (:func:`misplaced`, :func:`run_command`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from verify.errors import VerifyError

__all__ = ["next_step", "quote", "fail", "first_line", "and_list", "check_claims", "report", "load_model", "UserFileError",
           "load_tensor", "layer_shape_error", "add_check_options",
           "add_no_progress", "HiddenOptions", "misplaced", "run_command"]


class UserFileError(VerifyError, ValueError):
    """A model or tensor file that cannot be read (or not as what it should hold), saying what it holds and
    how to save one that can be read."""


#: How a model defined in a notebook or a script (``__main__``) reaches the toolkit.
NOTEBOOK_ADVICE = ("for a model defined in a notebook or a script, call the toolkit from there, "
                   "verify.check_model(model, x) or verify.robust_radius(model, x); for the command line, define "
                   "the class in a module file (e.g. mynet.py, on PYTHONPATH), import it from there and "
                   "torch.save(model, FILE) again")


def fail(msg: str) -> int:
    """Print ``error: msg`` on stderr and return 2, the exit code of a usage error."""
    print(f"error: {msg}", file=sys.stderr)
    return 2


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def and_list(items) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def check_claims(claims) -> None:
    """:class:`~verify.errors.UnknownNameError` naming the ids in ``claims`` that are not numerically
    checkable (and the checkable ones)."""
    from verify.checkers import CHECKERS
    from verify.errors import UnknownNameError

    unknown = [c for c in claims or [] if c not in CHECKERS]
    if unknown:
        raise UnknownNameError(f"unknown or not numerically checkable claim id(s) {', '.join(unknown)}; "
                               f"checkable: {', '.join(CHECKERS)}")


def next_step(command: str, what: str) -> str:
    """The line that ends a command by naming the next one: ``next: COMMAND   (WHAT)``.

    >>> next_step("python -m verify notes results/verify.jsonl", "the notes from these results")
    'next: python -m verify notes results/verify.jsonl   (the notes from these results)'
    """
    return f"next: {command}   ({what})"


def quote(path) -> str:
    """A path as a shell word (quoted only when it must be)."""
    import shlex

    return shlex.quote(str(path))


def report(records, out: Path | None, seconds: float | None, *, notes=(), diagnoses=()) -> int:
    """Print the report of ``records`` (:meth:`verify.results.report.CheckReport.text`: the table, the blocks
    under it, a diagnosis per failure and the verdict line; ``seconds`` the run's time, None when no run was
    timed, as after a merge); 1 if a claim fails."""
    from verify.results.report import CheckReport

    rep = CheckReport(records, notes=notes, seconds=seconds, diagnoses=diagnoses)
    print(rep.text(out))
    return 0 if rep.ok else 1


def _is_torchscript(path) -> bool:
    """A TorchScript archive is a zip file holding the scripted code (``<name>/code/...``)."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any("/code/" in name for name in zf.namelist())


def _torch_format(path) -> str | None:
    """'torch' for a file torch.save writes (a zip archive, or the legacy pickle format), 'numpy' for a
    NumPy .npy or .npz file, else None."""
    import zipfile

    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"\x93NUMPY"):
        return "numpy"
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
        return "numpy" if names and all(n.endswith(".npy") for n in names) else "torch"
    if head.startswith(b"\x80\x02\x8a\x0a"):           # the legacy format opens with torch's magic number
        return "torch"
    return None


def _not_torch(path, exc: BaseException, example: str) -> str:
    """The one-line error for a file that torch.load cannot read."""
    kind = _torch_format(path)
    if kind == "numpy":
        return (f"{path} is not a file written by torch.save (it is a NumPy file; convert it with "
                f"torch.save(torch.from_numpy(numpy.load('{path}')), '{example}'))")
    if kind is None:
        return f"{path} is not a file written by torch.save (torch.load: {first_line(exc)})"
    return None


def load_model(path):
    """The nn.Module of a torch.save'd module or a TorchScript file, loaded on the CPU; :class:`UserFileError`
    (a ValueError) saying what the file holds otherwise (and how to save a model that can be read). A
    TorchScript file is read only when it is built from standard layers (nn.Sequential of them): a scripted
    module with its own forward cannot be read (torch.fx cannot trace TorchScript), which is said here."""
    import torch

    try:
        if _is_torchscript(path):
            model = torch.jit.load(path, map_location="cpu")
        else:
            model = torch.load(path, map_location="cpu", weights_only=False)
    except (AttributeError, ModuleNotFoundError) as exc:
        if "Can't get attribute" in str(exc) or isinstance(exc, ModuleNotFoundError):
            raise UserFileError(f"{path} holds a pickled module whose class cannot be imported here "
                                f"({first_line(exc)}): torch.load rebuilds a module by importing its class, so the "
                                f"class must be importable (not defined in a script's __main__ or a notebook); "
                                f"{NOTEBOOK_ADVICE}") from exc
        raise UserFileError(f"{path} could not be loaded as a model: {first_line(exc)}") from exc
    except Exception as exc:
        msg = _not_torch(path, exc, "net.pt")
        raise UserFileError(msg or f"{path} is neither a torch.save'd nn.Module nor a TorchScript file: "
                                   f"{first_line(exc)}") from exc
    if isinstance(model, torch.jit.ScriptModule):
        from theory.errors import UnsupportedLayerError
        from theory.torch_bridge import trace

        try:
            trace(model)
        except UnsupportedLayerError as exc:
            raise UserFileError(f"{path} is a TorchScript file the toolkit cannot read: {first_line(exc)}") from exc
        return model
    if not isinstance(model, torch.nn.Module):
        hint = ("save the module itself, torch.save(model, FILE), not its state_dict" if isinstance(model, dict) else
                "save the model with torch.save(model, FILE)")
        raise UserFileError(f"{path} holds a {type(model).__name__}, not an nn.Module ({hint})")
    return model


def load_tensor(path, what: str, example: str):
    """The tensor a torch.save'd file holds, on the CPU; :class:`UserFileError` (a ValueError) saying what it
    holds otherwise (``what``:
    "the inputs" or "the labels", ``example``: the file name the hint suggests)."""
    import torch

    try:
        t = torch.load(path, map_location="cpu")
    except Exception as exc:
        msg = _not_torch(path, exc, example)
        raise UserFileError(msg or f"{path} was written by torch.save but holds more than tensors, which torch.load "
                                   f"does not load by default ({first_line(exc)}); save {what} as a plain tensor, "
                                   f"torch.save(torch.as_tensor(...), '{example}')") from exc
    if not isinstance(t, torch.Tensor):
        raise UserFileError(f"{path} holds a {type(t).__name__}, not a tensor")
    return t


def layer_shape_error(model, exc, inputs: str) -> str:
    """A shape error of the layer descriptions names the layer ("layer '0' (Linear): ..."; for a
    submodule its qualified name); say that it is a module of the model, and which."""
    import re

    msg = str(exc)
    m = re.match(r"layer '([^']*)' \((\w+)\):? (.*)$", msg, re.S)
    if not m:
        return msg
    name, kind, rest = m.groups()
    mods = dict(model.named_modules())
    if name in mods:
        what = f"module {name!r} ({getattr(mods[name], 'original_name', type(mods[name]).__name__)})"
    else:
        what = f"the operation {name!r} ({kind})"
    return f"the inputs in {inputs} do not fit the model: its {what} {rest}"


def add_check_options(p, *, dtype_help: str, out_help: str, seed_help: str | None = None) -> None:
    """The options of every check run (sweep, model, trained): --claims, --device, --dtype (float64, float32 or
    both, default both), --out, and --seed when the run draws anything (``seed_help``)."""
    p.add_argument("--claims", nargs="+", metavar="ID", help="only these claim ids (default: every checkable claim)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available, else cpu)")
    p.add_argument("--dtype", choices=["float64", "float32", "both"], default="both", help=dtype_help)
    if seed_help:
        p.add_argument("--seed", type=int, default=0, help=seed_help)
    p.add_argument("--out", help=out_help)


def add_no_progress(p) -> None:
    """--no-progress, of the commands that show a progress bar on a terminal."""
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")


class HiddenOptions:
    """Stands for a parser to a function that adds options (a command's ``add_arguments``): it adds them to
    ``parser`` hidden from its --help and optional, skipping positionals and the options ``parser`` has.

    The flat command line of before the sub-commands parsed every option with every command; each command of
    that family parses the others' options this way, so that a command line that parsed then parses now and
    :func:`misplaced` names an option given to the wrong command as it did."""

    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser

    def add_argument(self, *flags, **kwargs) -> None:
        """``parser.add_argument`` of an option, hidden and optional; nothing for a positional or an option the
        parser has (the command's own, with its own help)."""
        if not flags[0].startswith("-"):
            return
        kwargs.update(help=argparse.SUPPRESS, required=False)
        try:
            self.parser.add_argument(*flags, **kwargs)
        except argparse.ArgumentError:          # the command's own option of that name
            pass

    def add_mutually_exclusive_group(self, **kwargs) -> HiddenOptions:
        """This stand-in: hidden options exclude nothing (the command they belong to checks that)."""
        return self


def misplaced(args, command: str) -> str | None:
    """The usage error for options that ``command`` (sweep, model, trained, merge or notes) would ignore, or
    None. ``args`` may lack the options ``command``'s own parser does not have (the defaults are assumed)."""
    def opt(name, default=None):
        return getattr(args, name, default)

    where = [f for f in ("--jobs", "--dask") if opt(f[2:]) is not None]
    if where and (command in ("merge", "notes") or opt("model")):
        return (f"{where[0]} runs the units of a sweep elsewhere; "
                + (f"{command} runs in this process" if command in ("merge", "notes") else
                   "--model checks one model, in this process"))
    if command in ("merge", "notes"):
        given = [f for f in ("--model", "--inputs", "--labels") if opt(f[2:])]
        if given:
            return f"{and_list(given)} {'goes' if len(given) == 1 else 'go'} with a check run, not with {command}"
        return None
    if command == "trained":
        ignored = [flag for flag, on in (("--model", opt("model")), ("--inputs", opt("inputs")),
                                         ("--labels", opt("labels")), ("--shard", opt("shard", "0/1") != "0/1"),
                                         ("--full", opt("full")), ("--quick", opt("quick")),
                                         ("--networks", opt("networks") is not None)) if on]
        if ignored:
            return (f"{and_list(ignored)} {'does' if len(ignored) == 1 else 'do'} not apply to --trained (it checks "
                    f"the lab's checkpoints at their own data); leave {'it' if len(ignored) == 1 else 'them'} out")
        return None
    if opt("epochs", "first,last") != "first,last":
        return "--epochs goes with --trained (which checkpoints of each lab run to check)"
    if command == "model":
        ignored = [flag for flag, on in (("--shard", opt("shard", "0/1") != "0/1"), ("--resume", opt("resume")),
                                         ("--full", opt("full")), ("--quick", opt("quick")),
                                         ("--networks", opt("networks") is not None),
                                         ("--points", opt("points") is not None)) if on]
        if ignored:
            one = len(ignored) == 1
            return (f"{and_list(ignored)} {'sizes or splits' if one else 'size or split'} the random sweep and "
                    f"{'does' if one else 'do'} not apply to --model; leave {'it' if one else 'them'} out "
                    f"(--model runs every claim on your model and inputs once)")
        return None
    given = [f for f in ("--inputs", "--labels") if opt(f[2:])]
    if given:
        return (f"{and_list(given)} {'goes' if len(given) == 1 else 'go'} with --model FILE (the network to check); "
                f"without --model the sweep runs on random networks and inputs")
    return None


def run_command(command: str, run, args) -> int:
    """``run(args)``, the body of ``command`` (sweep, model, trained, merge or notes), as ``python -m verify``
    runs it: an option it would ignore (:func:`misplaced`) or a usage error it raises (an unknown claim, a bad
    or foreign file, a model outside the theory) is one ``error:`` line and exit code 2."""
    from verify.errors import VerifyError

    msg = misplaced(args, command)
    if msg:
        return fail(msg)
    try:
        return run(args)
    except (VerifyError, ValueError, FileExistsError) as exc:     # every error of the family, said in one line
        return fail(str(exc))
