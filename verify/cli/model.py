"""``python -m verify --model FILE --inputs FILE [--labels FILE]`` (or ``python -m verify model ...``): every
checkable claim on the user's own network and inputs, once. The checks are
:func:`verify.check_model`; this module loads the files, parses and prints.

Exit codes: 0 when no claim fails, 1 when one does, 2 for a usage error (bad file, a model outside the
theory, an option of the sweep).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from verify.cli.common import (
    add_check_options,
    check_claims,
    fail,
    layer_shape_error,
    load_model,
    load_tensor,
    report,
    run_command,
)

__all__ = ["MODEL_OUT", "add_arguments", "build_parser", "run", "main"]

#: Where a check of the user's own model goes by default: never over the sweep's results.
MODEL_OUT = "results/model-check.jsonl"


def add_arguments(p, required: bool = False) -> None:
    """The options of a check of the user's model (on a parser, or on :class:`verify.cli.common.HiddenOptions`)."""
    p.add_argument("--model", metavar="FILE", required=required,
                   help="check your own network: a torch.save'd nn.Module (saved in eval mode) or a TorchScript file")
    p.add_argument("--inputs", metavar="FILE", help="a saved input tensor (B, *input shape)")
    p.add_argument("--labels", metavar="FILE", help="a saved label tensor (B,); default: the predicted classes")
    add_check_options(p, dtype_help="convert the model and inputs to this dtype (default both: the model's own, "
                                    "and float64 too when its dtype converts exactly to float64)",
                      seed_help="seed of the checks' random draws (default 0)",
                      out_help=f"results file (JSON lines; default {MODEL_OUT})")


def build_parser() -> argparse.ArgumentParser:
    """The usage of ``python -m verify --model FILE`` (what ``--model FILE --help`` prints)."""
    p = argparse.ArgumentParser(prog="python -m verify model",
                                usage="python -m verify [model] --model FILE --inputs FILE [--labels FILE] [options]",
                                description="Check every claim on your own network and inputs, once (the sweep's "
                                            "size and split options do not apply).")
    add_arguments(p, required=True)
    return p


def _load_user(args):
    for f in (args.model, args.inputs, args.labels):
        if f and not Path(f).is_file():
            raise FileNotFoundError(f"no such file: {f}")
    model = load_model(args.model)
    x = load_tensor(args.inputs, "the inputs", "x.pt")
    y = load_tensor(args.labels, "the labels", "y.pt") if args.labels else None
    return model, x, y


def run(args) -> int:
    """Check every claim of ``args.claims`` on the model and inputs of ``args`` (:func:`verify.check_model`),
    write ``args.out`` and print the report; the exit code."""
    from verify.errors import ShapeError, TrainingModeError, resolve_device
    from verify.jobs.model_check import check_model

    check_claims(args.claims)
    args.out = args.out or MODEL_OUT
    if not args.inputs:
        return fail("--model needs --inputs FILE (a saved tensor of inputs)")
    try:
        model, x, y = _load_user(args)
    except (FileNotFoundError, ValueError) as exc:
        return fail(str(exc))
    device = str(resolve_device(args.device))
    try:
        rep = check_model(model.to(device), x.to(device), y, claims=args.claims, seed=args.seed,
                          dtypes=None if args.dtype == "both" else args.dtype, device=device,
                          name=Path(args.model).name, log=lambda line: print(line, flush=True), option="--dtype ")
    except TrainingModeError as exc:
        return fail(f"{exc}; {args.model} was saved with it in training mode: call model.eval() before "
                    f"torch.save(model, ...)")
    except ShapeError as exc:
        return fail(layer_shape_error(model, exc, args.inputs).replace("the model could not be run",
                                                                       f"{args.model} could not be run"))
    rep.save(args.out)
    return report(rep.records, Path(args.out), rep.seconds, diagnoses=rep.diagnoses)


def main(argv=None) -> int:
    """``python -m verify model ARGS``; the exit code."""
    return run_command("model", run, build_parser().parse_args(argv))
