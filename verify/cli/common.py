"""``python -m verify``: check every claim numerically, on random networks or on your own model.

Run ``python -m verify --help`` for the options. The exit code is 1 when any claim fails, 2 for a
usage error (bad file, unknown claim, bad option), 3 when a unit of the sweep raised (each is named on
stderr with its message; ``--resume`` runs it again) and no claim fails, and 0 otherwise.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from verify.jobs.notes import SWEEP_RESULTS as _DEFAULT_OUT

__all__ = ["main", "build_parser", "build_merge_parser"]

#: Where a check of the user's own model goes by default: never over the sweep's results.
_MODEL_OUT = "results/model-check.jsonl"
#: Where a check of the lab's checkpoints goes by default (verify.jobs.trained.TRAINED_RESULTS).
_TRAINED_OUT = "results/trained.jsonl"

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
                                           pip install -e ".[cluster]"; see the README's cluster section)
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


_MERGE_DESCRIPTION = """\
Join the results files of the shards of one sweep (python -m verify --shard I/N --out FILE, run as
separate jobs, possibly on different devices) into one new file, then print the merged sweep's table,
as a sweep does. Records of the same network, dtype and device found twice (a file given twice, an
overlap) are written once, and a note says how many were dropped. Files of sweeps with other settings
are refused, and nothing is written then. A note says how many of the units the sweep's settings call
for (networks x dtypes, on each device) are in the files, and which shards are missing.
"""

_MERGE_EPILOG = """\
example:
  python -m verify --shard 0/2 --out results/s0.jsonl
  python -m verify --shard 1/2 --out results/s1.jsonl
  python -m verify merge results/s0.jsonl results/s1.jsonl --out results/all.jsonl
"""


def build_merge_parser() -> argparse.ArgumentParser:
    """The usage of ``python -m verify merge`` (what ``merge --help`` prints)."""
    p = argparse.ArgumentParser(prog="python -m verify merge", usage="python -m verify merge FILE [FILE ...] --out FILE",
                                description=_MERGE_DESCRIPTION, epilog=_MERGE_EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE", help="the shard results files to join")
    p.add_argument("--out", required=True, metavar="FILE", help="the merged results file to write (must not exist)")
    return p


def build_parser(add_help: bool = True) -> argparse.ArgumentParser:
    from verify.jobs.executors import add_executor_arguments
    p = argparse.ArgumentParser(
        prog="python -m verify", add_help=add_help,
        description="Compute each robustness regularizer by its definition (autograd, as the papers train) and by "
                    "its derived closed form (from the exact local linearization f = J x + b), on random "
                    "piecewise-linear networks or on your own, and report the gap of every claim against a "
                    "floating-point error bound. Kinks and region crossings are counted and shown, never hidden.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", nargs="?", choices=["sweep", "merge", "notes", "dynamics"], default="sweep",
                   help="sweep (default): run the checks; merge: join shard result files given as FILES into --out FILE "
                        "(see merge --help); dynamics: the training lab, which trains networks and judges the "
                        "empirical claims (see dynamics --help); radius: exact robustness radii of a saved model "
                        "(see radius --help); notes: "
                        "rewrite the generated blocks of paper_notes.md (proofs and tests always; the measured "
                        "tables from the results FILE, when one is given)")
    p.add_argument("files", nargs="*", help="with merge: the shard result files to join; with notes: at most one "
                                            "results file")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="the default sweep size: under 2 minutes on a 2-core CPU")
    size.add_argument("--full", action="store_true", help="the full-size sweep (larger networks, up to 3x32x32 inputs)")
    p.add_argument("--networks", type=int, metavar="N", help="number of random networks (each run in every dtype)")
    p.add_argument("--points", type=int, metavar="N", help="inputs per network")
    p.add_argument("--claims", nargs="+", metavar="ID", help="only these claim ids (default: every checkable claim)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available, else cpu)")
    p.add_argument("--dtype", choices=["float64", "float32", "both"], default="both",
                   help="float precision(s) (default both); with --model: convert the model and inputs to this dtype "
                        "(default: the model's own)")
    p.add_argument("--seed", type=int, default=0, help="seed of the network and input draws (default 0)")
    p.add_argument("--out", help=f"results file (JSON lines; default {_DEFAULT_OUT}, and {_MODEL_OUT} with --model); "
                                 f"with merge: the file to write (required)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted sweep in --out, keeping finished networks")
    p.add_argument("--shard", default="0/1", metavar="I/N", help="run only shard I of N of the sweep (default 0/1)")
    add_executor_arguments(p, what="units", jobs_help="run the units in N local worker processes (default: one "
                                                      "after the other in this process)")
    p.add_argument("--model", metavar="FILE", help="check your own network: a torch.save'd nn.Module (saved in eval "
                                                   "mode) or a TorchScript file")
    p.add_argument("--inputs", metavar="FILE", help="with --model: a saved input tensor (B, *input shape)")
    p.add_argument("--labels", metavar="FILE", help="with --model: a saved label tensor (B,); default: the predicted classes")
    p.add_argument("--trained", nargs="?", const="", metavar="DIR",
                   help="check every claim on the training lab's checkpoints instead of random networks: DIR is a lab "
                        "results file (its .ckpt folder), a .ckpt folder or one run's folder (default: the quick lab's, "
                        "results/dynamics.jsonl); inputs are the first --points (default 32) points of each data set's "
                        "evaluation set, with their true labels; results in results/trained.jsonl")
    p.add_argument("--epochs", default="first,last", metavar="LIST",
                   help="with --trained: which checkpoints of each run: first,last (default: epoch 0, the same "
                        "network before training, and the trained one), last, all, or numbers like 0,10,last")
    p.add_argument("--notes", default="paper_notes.md", metavar="FILE",
                   help="with notes: the notes file (default paper_notes.md, in the repository's top folder)")
    p.add_argument("--dynamics", nargs="+", default=[], metavar="FILE",
                   help="with notes: lab results files (python -m verify dynamics) whose verdicts fill the empirical "
                        "claims' measured blocks, one file per data set: each replaces its own data set's part of "
                        "those blocks and the other data sets' parts are kept")
    p.add_argument("--check", action="store_true",
                   help="with notes: write nothing; exit 1 if a block would change")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")
    return p


def _fail(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def _check_claims(claims):
    from verify.checkers import CHECKERS

    unknown = [c for c in claims or [] if c not in CHECKERS]
    if unknown:
        raise KeyError(f"unknown or not numerically checkable claim id(s) {', '.join(unknown)}; "
                       f"checkable: {', '.join(CHECKERS)}")


def _verdict(records, rows, failing, vacuous) -> str:
    """The last words of a report: what failed, or that nothing failed, or that nothing could be checked."""
    if failing:
        return f"{len(failing)} claim(s) FAIL."
    if not any(r.checked for r in rows):
        gaps = [g for rec in records for g in rec["gaps"]]
        if any(g.kind != "measurement" for g in gaps):
            return "No claim was checked: every point was on a kink or outside the claims' assumptions."
        if gaps:
            return "No claim was checked: the claims run are measurements only (reported above), with no verdict."
        return "No claim was checked: the results hold no checks."
    unchecked = [r.claim for r in rows if not r.checked and r.kind != "measurement"]
    return ("No claim fails." + (" Some checks were vacuous (above)." if vacuous else
                                 " Every checked claim holds within its bound at informative points.")
            + (f" Not checked (every point on a kink or outside the claim's assumptions): {', '.join(unchecked)}."
               if unchecked else ""))


def _report(records, out: Path | None, seconds: float | None) -> int:
    """Print the table, the crossing summary, the vacuous checks, a diagnosis per failure and the verdict
    line (``seconds``: the run's time, None when no run was timed, as after a merge); 1 if a claim fails."""
    from verify.results.summary import crossing_summary, format_table, kink_summary, summarize, vacuous_summary

    rows = summarize(records)
    print(format_table(rows))
    crossing = crossing_summary(records)
    if crossing:
        print("\n" + crossing)
    kinks = kink_summary(records)
    if kinks:
        print("\n" + kinks)
    vacuous = vacuous_summary(rows)
    if vacuous:
        print("\n" + vacuous)
    by_dtype = _status_by_dtype(records)
    if by_dtype:
        print("\n" + by_dtype)
    failing = [r for r in rows if r.status == "FAILS"]
    for r in failing:
        for g in r.failures[:3]:
            print("\n" + g.diagnosis())
    n_net = len({(r["network"].get("index"), r["run"]["dtype"], r["network"].get("device")) for r in records})
    timing = f" in {seconds:.1f} s" if seconds is not None else ""
    where = f"; results in {out}" if out else ""
    print(f"\n{n_net} network runs{timing}{where}. " + _verdict(records, rows, failing, vacuous))
    return 1 if failing else 0


def _sweep_report(res, out: Path, seconds: float) -> int:
    """The report of a sweep's file after a run; with the units that raised named (each was printed when it
    raised) and exit code 3 for them, unless a claim fails (1)."""
    from verify.results.records import read_results

    code = _report(read_results(out), out, seconds) if out.exists() and out.stat().st_size else 0
    if res.failures:
        print(f"\n{len(res.failures)} unit(s) raised and are not in {out}: " + "; ".join(map(str, res.failures))
              + f". Rerun with --resume --out {out} to run them again.", file=sys.stderr)
    return code or (3 if res.failures else 0)


def _status_by_dtype(records) -> str:
    """The claims whose status differs between the dtypes of the records (the table's status is over all of
    them), one line each; empty when there is one dtype or none differs."""
    from verify.results.summary import summarize

    dtypes = sorted({rec["run"].get("dtype") for rec in records}, key=lambda d: (d != "float64", str(d)))
    if len(dtypes) < 2:
        return ""
    status = {d: {r.claim: r.status for r in summarize([rec for rec in records if rec["run"].get("dtype") == d])}
              for d in dtypes}
    claims = [r.claim for r in summarize(records)]
    lines = [f"  {c}: " + ", ".join(f"{d} {status[d].get(c, 'n/a')}" for d in dtypes) for c in claims
             if len({status[d].get(c) for d in dtypes}) > 1]
    if not lines:
        return ""
    return "claims whose status differs between the dtypes (the table's status is over all of them):\n" + "\n".join(lines)


def _is_torchscript(path) -> bool:
    """A TorchScript archive is a zip file holding the scripted code (``<name>/code/...``)."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any("/code/" in name for name in zf.namelist())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


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
        return f"{path} is not a file written by torch.save (torch.load: {_first_line(exc)})"
    return None


def _load_model(path):
    import torch

    try:
        if _is_torchscript(path):
            return torch.jit.load(path, map_location="cpu")
        model = torch.load(path, map_location="cpu", weights_only=False)
    except (AttributeError, ModuleNotFoundError) as exc:
        if "Can't get attribute" in str(exc) or isinstance(exc, ModuleNotFoundError):
            raise ValueError(f"{path} holds a pickled module whose class cannot be imported here ({_first_line(exc)}): "
                             f"torch.load rebuilds a module by importing its class, so the class must be importable "
                             f"(define it in a module on PYTHONPATH, not in a script's __main__ or a notebook), or "
                             f"save the model with torch.jit.script(model).save(FILE) instead") from exc
        raise ValueError(f"{path} could not be loaded as a model: {_first_line(exc)}") from exc
    except Exception as exc:
        msg = _not_torch(path, exc, "net.pt")
        raise ValueError(msg or f"{path} is neither a torch.save'd nn.Module nor a TorchScript file: "
                                f"{_first_line(exc)}") from exc
    if not isinstance(model, torch.nn.Module):
        hint = ("save the module itself, torch.save(model, FILE), not its state_dict" if isinstance(model, dict) else
                "save the model with torch.save(model, FILE) or torch.jit.script(model).save(FILE)")
        raise ValueError(f"{path} holds a {type(model).__name__}, not an nn.Module ({hint})")
    return model


def _load_tensor(path, what: str, example: str):
    import torch

    try:
        t = torch.load(path, map_location="cpu")
    except Exception as exc:
        msg = _not_torch(path, exc, example)
        raise ValueError(msg or f"{path} was written by torch.save but holds more than tensors, which torch.load "
                                f"does not load by default ({_first_line(exc)}); save {what} as a plain tensor, "
                                f"torch.save(torch.as_tensor(...), '{example}')") from exc
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{path} holds a {type(t).__name__}, not a tensor")
    return t


def _load_user(args):
    for f in (args.model, args.inputs, args.labels):
        if f and not Path(f).is_file():
            raise FileNotFoundError(f"no such file: {f}")
    model = _load_model(args.model)
    x = _load_tensor(args.inputs, "the inputs", "x.pt")
    y = _load_tensor(args.labels, "the labels", "y.pt") if args.labels else None
    return model, x, y


def _layer_shape_error(model, exc, inputs: str) -> str:
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


def _dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


def _exact(src, dst) -> bool:
    """Whether every value of dtype ``src`` converts exactly to ``dst``."""
    import torch

    wider = {torch.float64: {torch.float32, torch.float16, torch.bfloat16}, torch.float32: {torch.float16, torch.bfloat16}}
    return src == dst or src in wider.get(dst, set())


def _user_dtypes(model, x, asked: str):
    """Convert the model and the inputs to the dtype of the run (``--dtype``, or the model's own with
    ``both``); return them with the dtype and the notes to print about what was converted."""
    import torch

    own = sorted({t.dtype for t in list(model.parameters()) + list(model.buffers()) if t.is_floating_point()},
                 key=str)
    notes = []
    if asked != "both":
        dtype = getattr(torch, asked)
        if own and own != [dtype]:
            how = ("float weights convert exactly" if all(_exact(d, dtype) for d in own) else
                   "its weights are rounded, so this checks a nearby network, not the saved one")
            notes.append(f"note: converted the model from {' and '.join(map(_dtype_name, own))} to {asked} "
                         f"(--dtype {asked}; {how})")
            model = model.to(dtype)
    elif len(own) == 1:
        dtype = own[0]
    else:                                   # several dtypes: linearize says so; no parameters: the inputs'
        dtype = own[0] if own else (x.dtype if x.is_floating_point() else torch.get_default_dtype())
    if x.dtype != dtype:
        src = _dtype_name(x.dtype)
        if not x.is_floating_point():
            how = f"{src} inputs converted to {_dtype_name(dtype)}"
        elif _exact(x.dtype, dtype):
            how = "exact"
        else:
            how = f"{src} inputs cast to a {_dtype_name(dtype)} model lose precision"
        why = f"--dtype {asked}" if asked != "both" else "the model's dtype"
        notes.append(f"note: cast the inputs from {src} to {_dtype_name(dtype)} ({why}; {how})")
        x = x.to(dtype)
    return model, x, dtype, notes


def _also_float64(model, dtype, asked: str) -> bool:
    """Whether a ``--model`` run without a --dtype choice also checks the same network in float64: when the
    model's own dtype is narrower (float32, float16, bfloat16 weights convert exactly to float64)."""
    import torch

    own = {t.dtype for t in list(model.parameters()) + list(model.buffers()) if t.is_floating_point()}
    return asked == "both" and dtype != torch.float64 and bool(own) and all(_exact(d, torch.float64) for d in own)


def _user_model(args) -> int:
    import copy

    import torch

    from verify.checkers import run_checks
    from verify.errors import ShapeError, TrainingModeError, resolve_device
    from verify.results.records import network_record, write_record
    from verify.results.provenance import precision_flags, run_facts
    from verify.results.records import keep_previous

    if not args.inputs:
        return _fail("--model needs --inputs FILE (a saved tensor of inputs)")
    try:
        model, x, y = _load_user(args)
    except (FileNotFoundError, ValueError) as exc:
        return _fail(str(exc))
    device = str(resolve_device(args.device))
    model, x, dtype, notes = _user_dtypes(model, x, args.dtype)
    runs = [(model, x, dtype)]
    if _also_float64(model, dtype, args.dtype):
        from verify.numerics.bounds import unit_roundoff

        name, ratio = _dtype_name(dtype), round(math.log2(unit_roundoff(dtype) / unit_roundoff(torch.float64)))
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
                                 f"{_first_line(exc)}") from exc
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
        return _fail(f"{exc}; {args.model} was saved with it in training mode: call model.eval() before "
                     f"torch.save(model, ...)")
    except ShapeError as exc:
        return _fail(_layer_shape_error(model, exc, args.inputs))
    out = Path(args.out)
    keep_previous(out)
    records = []
    for d, gaps, line in results:
        facts = run_facts(_dtype_name(d), device, args.seed, precision_flags(device))
        facts["kinks"] = line
        rec = network_record({"id": Path(args.model).name, "index": 0, "device": device, "arch": "user"}, facts, gaps)
        write_record(out, rec)
        rec["gaps"] = gaps
        records.append(rec)
    return _report(records, out, time.perf_counter() - t0)


def _kink_line(model, x) -> str:
    """What the re-decision made of the batch's points within rounding of a kink (one line)."""
    from verify.numerics.linearize import linearize

    return linearize(model, x).kinks.summary()


def _trained(args) -> int:
    """``--trained [DIR]``: every claim on the lab's checkpoints, the usual table, then what training changed
    and the region-crossing share against h and h / sqrt(D)."""
    from verify.errors import resolve_device
    from verify.results.records import read_results
    from verify.jobs.trained import TrainedError, crossing_curves, format_comparison, format_crossings, parse_epochs, run_trained

    try:
        epochs = parse_epochs(args.epochs)
        device = str(resolve_device(args.device, here=args.dask is None))
        from verify.jobs.executors import make_executor

        t0 = time.perf_counter()
        with make_executor(jobs=args.jobs, dask=args.dask) as executor:
            records, failures = run_trained(args.trained or None, args.out, epochs=epochs, points=args.points or 32,
                                            dtypes=("float64", "float32") if args.dtype == "both" else (args.dtype,),
                                            device=device, claims=args.claims, resume=args.resume,
                                            executor=executor, progress=not args.no_progress)
    except TrainedError as exc:
        return _fail(str(exc))
    seconds = time.perf_counter() - t0
    if not records:
        return _fail(f"no checkpoint could be checked ({len(failures)} failed: {failures[0] if failures else ''})")
    data = sorted({r["network"]["data"] for r in records})
    runs = {r["network"]["id"].rsplit("@", 1)[0] for r in records}
    print(f"the lab's networks: {len(runs)} run(s) on {', '.join(data)}, {len(records)} checkpoint checks "
          f"({args.points or 32} evaluation points each, true labels)\n")
    status = _report(records, Path(args.out), seconds)
    reference = None
    if Path(_DEFAULT_OUT).is_file():
        try:
            reference = read_results(_DEFAULT_OUT)
        except Exception:                       # a foreign or torn sweep file: the comparison goes without it
            reference = None
    comparison = format_comparison(records, reference)
    if comparison:
        print("\n" + comparison + (f"\n  (sweep: the random networks of {_DEFAULT_OUT})" if reference else ""))
    crossings = format_crossings(crossing_curves(records))
    if crossings:
        print("\n" + crossings)
    for f in failures:
        print(f"error: checkpoint {f}")
    return 1 if failures and status == 0 else status


def _merge(args) -> int:
    from verify.results.merge import merge_files

    if not args.files:
        return _fail("merge needs the shard files to join, e.g. python -m verify merge s0.jsonl s1.jsonl --out all.jsonl")
    if not args.out:
        return _fail("merge needs --out FILE, the new file to write, e.g. python -m verify merge "
                     + " ".join(args.files[:2]) + (" ..." if len(args.files) > 2 else "") + " --out all.jsonl")
    res = merge_files(args.files, args.out)
    print(f"merged {res.written} records into {args.out}")
    for message in res.skipped:
        print(f"note: {message}")
    if res.repeated:
        print(f"note: {_and_list(res.repeated)} {'was' if len(res.repeated) == 1 else 'were'} given more than once")
    if res.duplicates:
        print(f"note: dropped {res.duplicates} duplicate record(s) (the same network, dtype and device more than "
              f"once); each is written once")
    coverage = res.coverage_note()
    if coverage:
        print(coverage)
    print()
    return _report(res.records, Path(args.out), None)          # 1 when a claim fails, as after a sweep


def _and_list(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _misplaced(args) -> str | None:
    """The usage error for options that the chosen command would ignore, or None."""
    where = [f for f in ("--jobs", "--dask") if getattr(args, f[2:]) is not None]
    if where and (args.command != "sweep" or args.model):
        return (f"{where[0]} runs the units of a sweep elsewhere; "
                + (f"{args.command} runs in this process" if args.command != "sweep" else
                   "--model checks one model, in this process"))
    if args.command != "sweep":
        given = [f for f in ("--model", "--inputs", "--labels") if getattr(args, f[2:])]
        if given:
            return f"{_and_list(given)} {'goes' if len(given) == 1 else 'go'} with a check run, not with {args.command}"
        return None
    if args.trained is not None:
        ignored = [flag for flag, on in (("--model", args.model), ("--inputs", args.inputs), ("--labels", args.labels),
                                         ("--shard", args.shard != "0/1"), ("--full", args.full),
                                         ("--quick", args.quick), ("--networks", args.networks is not None)) if on]
        if ignored:
            return (f"{_and_list(ignored)} {'does' if len(ignored) == 1 else 'do'} not apply to --trained (it checks "
                    f"the lab's checkpoints at their own data); leave {'it' if len(ignored) == 1 else 'them'} out")
        return None
    if args.epochs != "first,last":
        return "--epochs goes with --trained (which checkpoints of each lab run to check)"
    if args.model:
        ignored = [flag for flag, on in (("--shard", args.shard != "0/1"), ("--resume", args.resume),
                                         ("--full", args.full), ("--quick", args.quick),
                                         ("--networks", args.networks is not None),
                                         ("--points", args.points is not None)) if on]
        if ignored:
            one = len(ignored) == 1
            return (f"{_and_list(ignored)} {'sizes or splits' if one else 'size or split'} the random sweep and "
                    f"{'does' if one else 'do'} not apply to --model; leave {'it' if one else 'them'} out "
                    f"(--model runs every claim on your model and inputs once)")
        return None
    given = [f for f in ("--inputs", "--labels") if getattr(args, f[2:])]
    if given:
        return (f"{_and_list(given)} {'goes' if len(given) == 1 else 'go'} with --model FILE (the network to check); "
                f"without --model the sweep runs on random networks and inputs")
    return None


def _notes(args) -> int:
    from verify.jobs.notes import update_notes

    if len(args.files) > 1:
        return _fail("notes takes at most one results file, e.g. python -m verify notes results/verify.jsonl")
    results = args.files[0] if args.files else None
    if results is not None and not Path(results).is_file():
        return _fail(f"no such results file: {results} (run python -m verify first)")
    print("proving every claim for the proof lines (about 15 s) ...", file=sys.stderr, flush=True)
    for f in args.dynamics:
        if not Path(f).is_file():
            return _fail(f"no such lab results file: {f} (run python -m verify dynamics first)")
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
    from verify.errors import DTypeMismatchError, UnsupportedLayerError
    from verify.results.records import ResultsError
    from verify.jobs.notes import NotesError

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["dynamics"]:                # the training lab has its own options and --help
        from verify.cli.dynamics import main as dynamics_main

        return dynamics_main(argv[1:])
    if argv[:1] == ["radius"]:                  # the exact radius has its own options and --help
        from verify.cli.radius import main as radius_main

        return radius_main(argv[1:])
    parser = build_parser(add_help=False)
    parser.add_argument("-h", "--help", action="store_true", help="show this help message and exit")
    args = parser.parse_args(argv)
    if args.help:                           # merge --help describes merge; any other --help, every command
        (build_merge_parser() if args.command == "merge" else build_parser()).print_help()
        return 0
    misplaced = _misplaced(args)
    if misplaced:
        return _fail(misplaced)
    try:
        if args.command == "merge":
            return _merge(args)
        if args.command == "notes":
            return _notes(args)
        _check_claims(args.claims)
        if args.trained is not None:
            args.out = args.out or _TRAINED_OUT
            return _trained(args)
        if args.model:
            args.out = args.out or _MODEL_OUT
            return _user_model(args)
        args.out = args.out or _DEFAULT_OUT
        from verify.errors import resolve_device
        from verify.jobs.sweep import FULL, QUICK, SweepConfig, run_sweep

        try:
            i, n = (int(v) for v in args.shard.split("/"))
        except ValueError:
            return _fail(f"--shard must look like I/N (e.g. 0/4), got {args.shard!r}")
        base = FULL if args.full else QUICK
        for name in ("networks", "points"):
            if getattr(args, name) is not None and getattr(args, name) < 1:
                return _fail(f"--{name} must be at least 1, got {getattr(args, name)}")
        cfg = SweepConfig(networks=args.networks or base["networks"], points=args.points or base["points"],
                          size="full" if args.full else "quick",
                          dtypes=("float64", "float32") if args.dtype == "both" else (args.dtype,),
                          device=str(resolve_device(args.device, here=args.dask is None)), seed=args.seed,
                          claims=tuple(args.claims) if args.claims else None)
        from verify.jobs.executors import make_executor

        t0 = time.perf_counter()
        with make_executor(jobs=args.jobs, dask=args.dask) as executor:
            res = run_sweep(args.out, config=cfg, shard=(i, n), resume=args.resume, progress=not args.no_progress,
                            executor=executor)
        return _sweep_report(res, Path(args.out), time.perf_counter() - t0)
    except (KeyError, ValueError, FileExistsError, ResultsError, UnsupportedLayerError, DTypeMismatchError,
            NotesError) as exc:
        return _fail(exc.args[0] if isinstance(exc, KeyError) else str(exc))
