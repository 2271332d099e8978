"""``python -m verify``: check every claim numerically, on random networks or on your own model.

Run ``python -m verify --help`` for the options. The exit code is 1 when any claim fails, 2 for a
usage error (bad file, unknown claim, bad option), and 0 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["main", "build_parser"]

_EPILOG = """\
examples:
  python -m verify                         quick sweep (default), table + results/verify.jsonl
  python -m verify --networks 100 --out results/big.jsonl
  python -m verify --claims input-gradient hessian-gauss-newton --dtype float64
  python -m verify --shard 0/4 --out results/s0.jsonl   (and 1/4, 2/4, 3/4 elsewhere), then
  python -m verify merge results/s*.jsonl --out results/all.jsonl
  python -m verify --resume --out results/verify.jsonl  continue an interrupted sweep
  python -m verify --model net.pt --inputs x.pt [--labels y.pt]   check your own network
  python -m verify notes results/verify.jsonl   rewrite the generated parts of paper_notes.md from a sweep
  python -m verify notes --check            exit 1 if paper_notes.md's proof and test lines are out of date

The results file has one JSON line per network and dtype; `python -m figures --results FILE` plots it.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m verify",
        description="Compute each robustness regularizer by its definition (autograd, as the papers train) and by "
                    "its derived closed form (from the exact local linearization f = J x + b), on random "
                    "piecewise-linear networks or on your own, and report the gap of every claim against a "
                    "floating-point error bound. Kinks and region crossings are counted and shown, never hidden.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", nargs="?", choices=["sweep", "merge", "notes"], default="sweep",
                   help="sweep (default): run the checks; merge: join shard result files given as FILES; notes: "
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
    p.add_argument("--dtype", choices=["float64", "float32", "both"], default="both", help="float precision(s) (default both)")
    p.add_argument("--seed", type=int, default=0, help="seed of the network and input draws (default 0)")
    p.add_argument("--out", default="results/verify.jsonl", help="results file (JSON lines; default results/verify.jsonl)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted sweep in --out, keeping finished networks")
    p.add_argument("--shard", default="0/1", metavar="I/N", help="run only shard I of N of the sweep (default 0/1)")
    p.add_argument("--model", metavar="FILE", help="check your own network: a torch.save'd nn.Module or a TorchScript file")
    p.add_argument("--inputs", metavar="FILE", help="with --model: a saved input tensor (B, *input shape)")
    p.add_argument("--labels", metavar="FILE", help="with --model: a saved label tensor (B,); default: the predicted classes")
    p.add_argument("--notes", default="paper_notes.md", metavar="FILE",
                   help="with notes: the notes file (default paper_notes.md, in the repository's top folder)")
    p.add_argument("--check", action="store_true",
                   help="with notes: write nothing; exit 1 if a block would change")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _fail(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def _check_claims(claims):
    from .checkers import CHECKERS

    unknown = [c for c in claims or [] if c not in CHECKERS]
    if unknown:
        raise KeyError(f"unknown or not numerically checkable claim id(s) {', '.join(unknown)}; "
                       f"checkable: {', '.join(CHECKERS)}")


def _report(records, out: Path | None, seconds: float) -> int:
    from .sweep import crossing_summary, format_table, summarize, vacuous_summary

    rows = summarize(records)
    print(format_table(rows))
    crossing = crossing_summary(records)
    if crossing:
        print("\n" + crossing)
    vacuous = vacuous_summary(rows)
    if vacuous:
        print("\n" + vacuous)
    failing = [r for r in rows if r.status == "FAILS"]
    for r in failing:
        for g in r.failures[:3]:
            print("\n" + g.diagnosis())
    n_net = len({(r["network"].get("index"), r["run"]["dtype"]) for r in records})
    where = f"; results in {out}" if out else ""
    print(f"\n{n_net} network runs in {seconds:.1f} s{where}. "
          + (f"{len(failing)} claim(s) FAIL." if failing else
             "No claim fails." + (" Some checks were vacuous (above)." if vacuous else
                                  " Every checked claim holds within its bound at informative points.")))
    return 1 if failing else 0


def _is_torchscript(path) -> bool:
    """A TorchScript archive is a zip file holding the scripted code (``<name>/code/...``)."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any("/code/" in name for name in zf.namelist())


def _load_user(args):
    import torch

    for f in (args.model, args.inputs, args.labels):
        if f and not Path(f).is_file():
            raise FileNotFoundError(f"no such file: {f}")
    try:
        if _is_torchscript(args.model):
            model = torch.jit.load(args.model, map_location="cpu")
        else:
            model = torch.load(args.model, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ValueError(f"{args.model} is neither a torch.save'd nn.Module nor a TorchScript file: {exc}") from exc
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"{args.model} holds a {type(model).__name__}, not an nn.Module (save the module itself, "
                         f"not its state_dict)")
    x = torch.load(args.inputs, map_location="cpu")
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{args.inputs} holds a {type(x).__name__}, not a tensor")
    y = torch.load(args.labels, map_location="cpu") if args.labels else None
    return model, x, y


def _user_model(args) -> int:
    import torch

    from .checkers import run_checks
    from .errors import resolve_device
    from .gap import network_record, write_record
    from .sweep import keep_previous, run_facts

    if not args.inputs:
        return _fail("--model needs --inputs FILE (a saved tensor of inputs)")
    try:
        model, x, y = _load_user(args)
    except (FileNotFoundError, ValueError) as exc:
        return _fail(str(exc))
    model.eval()
    device = str(resolve_device(args.device))
    param = next(iter(model.parameters()), None)
    dtype = param.dtype if param is not None else x.dtype
    model, x = model.to(device), x.to(device=device, dtype=dtype)
    if y is None:
        try:
            with torch.no_grad():
                y = model(x).argmax(-1)
        except RuntimeError as exc:
            from .linearize import linearize

            linearize(model, x)             # raises the error that names what is wrong (e.g. the input shape)
            raise ValueError(f"{args.model} could not be run on the inputs of shape {tuple(x.shape)}: {exc}") from exc
        if y.dim() != 1:
            raise ValueError(f"the model's output on inputs of shape {tuple(x.shape)} is not (batch, classes); "
                             f"save the inputs with a batch dimension first (e.g. x.unsqueeze(0) for one example)")
    y = y.to(device).long()
    t0 = time.perf_counter()
    gaps = run_checks(model, x, y, claims=args.claims, seed=args.seed, arch=Path(args.model).name)
    rec = network_record({"id": Path(args.model).name, "index": 0, "device": device, "arch": "user"},
                         run_facts(str(dtype).replace("torch.", ""), device, args.seed), gaps)
    out = Path(args.out)
    keep_previous(out)
    write_record(out, rec)
    rec["gaps"] = gaps
    return _report([rec], out, time.perf_counter() - t0)


def _notes(args) -> int:
    from .notes import update_notes

    if len(args.files) > 1:
        return _fail("notes takes at most one results file, e.g. python -m verify notes results/verify.jsonl")
    results = args.files[0] if args.files else None
    if results is not None and not Path(results).is_file():
        return _fail(f"no such results file: {results} (run python -m verify first)")
    changed = update_notes(args.notes, results=results, check=args.check)
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
    from .errors import DTypeMismatchError, UnsupportedLayerError
    from .gap import ResultsError
    from .notes import NotesError

    args = build_parser().parse_args(argv)
    try:
        if args.command == "merge":
            from .sweep import merge

            if not args.files:
                return _fail("merge needs the shard files to join, e.g. python -m verify merge s0.jsonl s1.jsonl --out all.jsonl")
            n = merge(args.files, args.out)
            print(f"merged {n} records into {args.out}")
            return 0
        if args.command == "notes":
            return _notes(args)
        _check_claims(args.claims)
        if args.model:
            return _user_model(args)
        from .errors import resolve_device
        from .sweep import FULL, QUICK, SweepConfig, run_sweep

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
                          device=str(resolve_device(args.device)), seed=args.seed,
                          claims=tuple(args.claims) if args.claims else None)
        t0 = time.perf_counter()
        run_sweep(args.out, config=cfg, shard=(i, n), resume=args.resume, progress=not args.no_progress)
        from .gap import read_results

        return _report(read_results(args.out), Path(args.out), time.perf_counter() - t0)
    except (KeyError, ValueError, FileExistsError, ResultsError, UnsupportedLayerError, DTypeMismatchError,
            NotesError) as exc:
        return _fail(exc.args[0] if isinstance(exc, KeyError) else str(exc))
