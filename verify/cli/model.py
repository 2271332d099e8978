"""``python -m verify --model FILE --inputs FILE [--labels FILE]`` (or ``python -m verify model ...``): every
checkable claim on the user's own network and inputs, once. The checks are
:func:`verify.checkers.run_checks`'; this module loads the files, parses and prints.

Exit codes: 0 when no claim fails, 1 when one does, 2 for a usage error (bad file, a model outside the
theory, an option of the sweep).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from verify.cli.common import (
    add_check_options,
    check_claims,
    converts_exactly,
    dtype_name,
    fail,
    first_line,
    layer_shape_error,
    load_model,
    load_tensor,
    report,
    run_command,
    user_dtypes,
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


def _also_float64(model, dtype, asked: str) -> bool:
    """Whether a ``--model`` run without a --dtype choice also checks the same network in float64: when the
    model's own dtype is narrower (float32, float16, bfloat16 weights convert exactly to float64)."""
    import torch

    own = {t.dtype for t in list(model.parameters()) + list(model.buffers()) if t.is_floating_point()}
    return (asked == "both" and dtype != torch.float64 and bool(own)
            and all(converts_exactly(d, torch.float64) for d in own))


def _kink_line(model, x) -> str:
    """What the re-decision made of the batch's points within rounding of a kink (one line)."""
    from verify.numerics.linearize import linearize

    return linearize(model, x).kinks.summary()


def run(args) -> int:
    """Check every claim of ``args.claims`` on the model and inputs of ``args``, write ``args.out`` and print the
    report; the exit code."""
    import copy

    import torch

    from verify.checkers import run_checks
    from verify.errors import ShapeError, TrainingModeError, resolve_device
    from verify.results.provenance import precision_flags, run_facts
    from verify.results.records import keep_previous, network_record, write_record

    check_claims(args.claims)
    args.out = args.out or MODEL_OUT
    if not args.inputs:
        return fail("--model needs --inputs FILE (a saved tensor of inputs)")
    try:
        model, x, y = _load_user(args)
    except (FileNotFoundError, ValueError) as exc:
        return fail(str(exc))
    device = str(resolve_device(args.device))
    model, x, dtype, notes = user_dtypes(model, x, args.dtype)
    runs = [(model, x, dtype)]
    if _also_float64(model, dtype, args.dtype):
        from verify.numerics.bounds import unit_roundoff

        name, ratio = dtype_name(dtype), round(math.log2(unit_roundoff(dtype) / unit_roundoff(torch.float64)))
        notes.insert(0, f"note: checking the {name} model in {name} (its own dtype) and in float64 (the very same "
                        f"network: {name} weights and inputs convert exactly to float64, so the float64 check is "
                        f"of the saved network, with rounding errors about 2^{ratio} times smaller); --dtype {name} or "
                        f"--dtype float64 checks one")
        runs.append((copy.deepcopy(model).to(torch.float64), x.to(torch.float64), torch.float64))  # the same points
    runs = [(m.to(device), xx.to(device), d) for m, xx, d in runs]
    model, x = runs[0][0], runs[0][1]
    try:
        if y is None:
            try:
                with torch.no_grad():
                    y = model(x).argmax(-1)
            except RuntimeError as exc:
                from verify.numerics.linearize import linearize

                linearize(model, x)         # raises the error that names what is wrong (e.g. the input shape)
                raise ValueError(f"{args.model} could not be run on the inputs of shape {tuple(x.shape)}: "
                                 f"{first_line(exc)}") from exc
            if y.dim() != 1:
                raise ValueError(f"the model's output on inputs of shape {tuple(x.shape)} is not (batch, classes); "
                                 f"save the inputs with a batch dimension first (e.g. x.unsqueeze(0) for one example)")
        y = y.to(device).long()
        for note in notes:
            print(note)
        t0 = time.perf_counter()
        results = []
        for m, xx, d in runs:
            gaps = run_checks(m, xx, y, claims=args.claims, seed=args.seed, arch=Path(args.model).name)
            results.append((d, gaps, _kink_line(m, xx)))
            print(f"inputs: {results[-1][2]}", flush=True)          # as each dtype finishes
    except TrainingModeError as exc:
        return fail(f"{exc}; {args.model} was saved with it in training mode: call model.eval() before "
                    f"torch.save(model, ...)")
    except ShapeError as exc:
        return fail(layer_shape_error(model, exc, args.inputs))
    out = Path(args.out)
    keep_previous(out)
    records = []
    for d, gaps, line in results:
        facts = run_facts(dtype_name(d), device, args.seed, precision_flags(device))
        facts["kinks"] = line
        rec = network_record({"id": Path(args.model).name, "index": 0, "device": device, "arch": "user"}, facts, gaps)
        write_record(out, rec)
        rec["gaps"] = gaps
        records.append(rec)
    return report(records, out, time.perf_counter() - t0)


def main(argv=None) -> int:
    """``python -m verify model ARGS``; the exit code."""
    return run_command("model", run, build_parser().parse_args(argv))
