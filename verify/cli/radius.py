"""``python -m verify radius``: the exact robustness radius of each input of a saved model.

Exit codes: 0 when every point was solved or stopped at a limit (its bounds are reported); 1 when some
result is unverified (a solver's point failed the witness checks) or errored; 2 for a usage error (bad
file, bad option, a model outside the theory, a missing solver). With ``--onnx`` and ``--vnnlib`` it decides
a VNNLIB property instead (:func:`verify.robust.property.verify_vnnlib`): sat, unsat, unknown or timeout,
each with exit code 0.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from verify.cli.common import (
    fail,
    first_line,
    layer_shape_error,
    load_model,
    load_tensor,
)
from verify.jobs.model_check import user_dtypes

__all__ = ["main", "build_parser", "RADIUS_SCHEMA", "RADIUS_RESULTS"]

#: The schema tag of every line of a radius results file.
RADIUS_SCHEMA = "relu-regularizer-verification/radius/1"
#: Where ``python -m verify radius`` writes by default.
RADIUS_RESULTS = "results/radius.jsonl"

_DESCRIPTION = """\
The exact distance from each input x to the nearest point the model classifies differently (its
label y, or the model's prediction), by complete search rather than an attack:

  --norm inf  a mixed-integer linear program over the network's rectifier and max units (big-M from
              interval and linear bounds), solved by HiGHS (scipy.optimize.milp);
  --norm 2    a mixed-integer program with a convex quadratic objective on the same encoding, solved
              by SCIP (pyscipopt, the extra l2), or, without it or with --l2-method search, a search
              over activation regions in order of their exact distance, each region's distance a
              least-distance problem (NNLS) with a dual certificate; or, with --l2-method bab, on
              rectifier MLPs, branch and bound over unstable units with linear bounds on the ball,
              a strong l2 attack first and each region's distance by NNLS (the tightest brackets
              where no method finishes: docs/guides/robust-radius.md).

Every point reports: the status (optimal, or time_limit / node_limit with the bounds reached, or
misclassified: x is not of class y, radius 0), the radius (only where it is decided: an undecided
point has its bracket [lower, upper] and no single number), the size of the problem (l-inf: the
MILP's binaries / the unstable units over its box; l2: the regions visited, or the sub-domains of bab), the nodes explored and
what stopped the work (a time limit reached with 0 nodes means the root relaxation did not finish, so
a longer limit is unlikely to help), the solver's gap, and a witness just beyond the boundary, re-checked by the float model and, in rational
arithmetic, by the exact engine: upper is the witness's exact distance, so it is proved. A witness that
fails a check is reported as such (status unverified), never dropped. Unless --no-certify, the lower
bound that x's own region proves is shown too: min(min_j gamma_j, r(x)) in exact arithmetic, exact
(marked =) when the effective margin gamma is at most the distance r(x) to the region's boundary.
lower also uses the largest box that interval and linear bounds alone prove free of any class change.

The model must be piecewise linear (Linear, Conv2d, pooling, BatchNorm in eval mode, ReLU-family
activations, maxout, residual additions). The search is exponential in the worst case: it finishes
on small networks; --time-limit bounds each point, and its bounds are kept when it stops.
"""

_EPILOG = """\
examples:
  python -m verify radius --model net.pt --inputs x.pt
  python -m verify radius --model net.pt --inputs x.pt --labels y.pt --norm 2 --time-limit 30
  python -m verify radius --model net.pt --inputs x.pt --domain 0 1 --max-radius 0.1
                          (points stay in [0, 1]; radii above 0.1 are reported as beyond_cap)
  python -m verify radius --model net.pt --inputs x.pt --resume     continue an interrupted run
  python -m verify radius --onnx net.onnx --vnnlib prop.vnnlib --timeout 60 --result-file out.txt
                          (a VNNLIB property: sat with a checked counterexample, unsat, unknown or timeout,
                           in VNN-COMP's result format; exit code 0 for each; --out F also appends the
                           answer, its bounds, witness checks and notes, as a JSON line to F)

results: one JSON line per input in --out (default results/radius.jsonl): the model and settings, and
  the result (status, radius, lower, upper, gap, witness, witness_check, certified, seconds, nodes,
  problem, stopped, notes).
"""


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m verify radius``."""
    p = argparse.ArgumentParser(prog="python -m verify radius", description=_DESCRIPTION, epilog=_EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", metavar="FILE",
                   help="a torch.save'd nn.Module (saved in eval mode), or a TorchScript file of standard "
                        "layers (nn.Sequential of them); with --inputs (or use --onnx and --vnnlib)")
    p.add_argument("--inputs", metavar="FILE", help="a saved input tensor (B, *input shape)")
    p.add_argument("--onnx", metavar="FILE", help="an ONNX network (Gemm, MatMul, Conv, Relu, Flatten, Reshape, "
                                                  "MaxPool, Add, ...); with --vnnlib, instead of --model/--inputs "
                                                  "(needs the onnx extra)")
    p.add_argument("--vnnlib", metavar="FILE", help="a VNNLIB property: input boxes (one or several) and a disjunction of linear "
                                                    "output constraints")
    p.add_argument("--timeout", type=float, default=60.0, metavar="S",
                   help="with --vnnlib: seconds for the property (default 60)")
    p.add_argument("--result-file", metavar="FILE",
                   help="with --vnnlib: also write the VNN-COMP result file (status line, counterexample for sat)")
    p.add_argument("--labels", metavar="FILE", help="a saved label tensor (B,); default: the predicted classes")
    p.add_argument("--norm", default="inf", choices=["inf", "2"], help="the norm of the radius (default inf)")
    p.add_argument("--l2-method", default="auto", choices=["auto", "miqp", "search", "bab"],
                   help="--norm 2 by the MIQP (SCIP), the region search, or branch and bound (rectifier MLPs; "
                        "default auto: the MIQP where pyscipopt is installed)")
    p.add_argument("--time-limit", type=float, default=60.0, metavar="S",
                   help="seconds per point (default 60); the bounds reached are reported when it stops")
    p.add_argument("--node-limit", type=int, metavar="N",
                   help="branch-and-bound nodes (inf; 2 by the MIQP), regions (2, search) or sub-domains (2, bab) per point (default: none)")
    p.add_argument("--max-radius", type=float, metavar="R",
                   help="search only up to R: a larger radius is reported as beyond_cap, with lower bound R")
    p.add_argument("--domain", type=float, nargs=2, metavar=("LO", "HI"),
                   help="keep the perturbed points in [LO, HI] in every coordinate (e.g. 0 1 for pixels)")
    p.add_argument("--dtype", choices=["float64", "float32"],
                   help="convert the model and inputs to this dtype (default: the model's own)")
    p.add_argument("--no-certify", action="store_true",
                   help="skip the exact region certificate of each x (about 0.1 s per point for a 64-64-64 MLP)")
    p.add_argument("--out", metavar="FILE", help=f"results file (default {RADIUS_RESULTS}); with --vnnlib: append "
                                                 f"the answer as one JSON line (only when given)")
    p.add_argument("--resume", action="store_true", help="keep the points already in --out (same settings) and "
                                                          "compute the others")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")
    return p


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not math.isfinite(v):
        return "inf" if v > 0 else ("nan" if math.isnan(v) else "-inf")
    return f"{v:.7g}"


def _settings(args, dtype: str) -> dict:
    out = {"model": str(args.model), "inputs": str(args.inputs), "labels": args.labels, "norm": args.norm,
           "time_limit": args.time_limit, "node_limit": args.node_limit, "max_radius": args.max_radius,
           "domain": args.domain, "dtype": dtype, "certify": not args.no_certify}
    if args.norm == "2":                          # refuse --l2-method miqp without pyscipopt before any work
        from verify.robust.radius import check_method

        out["l2_method"] = check_method(args.l2_method)       # the method that runs, so --resume never mixes two
    return out


def _recorded(settings: dict) -> dict:
    """A results line's settings, with the l2 method of the files written before it was recorded (the region
    search, the only l2 method then)."""
    if settings.get("norm") == "2" and "l2_method" not in settings:
        return {**settings, "l2_method": "search"}
    return settings


def _done(out: Path, settings: dict) -> dict:
    from verify.results.records import json_lines

    if not out.exists():
        return {}
    got = {}
    for n, rec in json_lines(out, "radius results"):
        if not isinstance(rec, dict) or rec.get("schema") != RADIUS_SCHEMA:
            raise ValueError(f"{out}:{n} is not a radius results line; use another --out file")
        if _recorded(rec["settings"]) != settings:
            raise ValueError(f"{out} was written with other settings ({_diff(_recorded(rec['settings']), settings)}); use the "
                             f"same options to resume, or another --out file")
        got[rec["result"]["index"]] = rec
    return got


def _diff(a: dict, b: dict) -> str:
    return ", ".join(f"{k}: {a.get(k)!r} there, {b.get(k)!r} now" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))


def _row(r: dict) -> str:
    cert = r.get("certified") or {}
    c = _fmt(cert.get("lower")) + ("=" if cert.get("exact") else "") if cert else "-"
    wc = r.get("witness_check") or {}
    w = "ok" if wc.get("float") and wc.get("exact") else ("-" if not wc else
                                                          f"FAILED (float {wc.get('float')}, exact {wc.get('exact')})")
    span = f"[{_fmt(r['lower'])}, {_fmt(r['upper'])}]"
    decided = r["status"] in ("optimal", "misclassified", "no_class_change")
    radius = _fmt(r["radius"]) if decided else "-"           # an undecided point has a bracket, not a number
    pb = r.get("problem") or {}
    size = (f"{pb['binaries']}/{pb['unstable']}" if "binaries" in pb else
            f"{pb['regions']} reg" if "regions" in pb else f"{pb['subdomains']} sub" if "subdomains" in pb else "-")
    return (f"{r['index']:>5}  {r['label']:>5}  {r['status']:<15} {radius:>12}  {span:<28}  {c:>13}  "
            f"{size:>11}  {r.get('nodes', 0):>6}  {r['seconds']:8.2f}  {w:<4}  {r.get('stopped', '')}")


def _refusal(exc: BaseException, model, args, x) -> str:
    """The one-line usage error of an error raised while checking or solving."""
    from verify.errors import NonFiniteError, ShapeError, TrainingModeError, UnsupportedLayerError, VerifyError

    if isinstance(exc, TrainingModeError):
        return (f"{exc}; {args.model} was saved with it in training mode: call model.eval() before "
                f"torch.save(model, ...)")
    if isinstance(exc, ShapeError):
        return layer_shape_error(model, exc, args.inputs)
    if isinstance(exc, NonFiniteError):
        return f"{args.inputs}: {first_line(exc)}"
    if isinstance(exc, UnsupportedLayerError):
        return f"{args.model}: {first_line(exc)}"
    if isinstance(exc, (VerifyError, ValueError)):     # labels, options, a missing solver, dtype, device
        return first_line(exc)
    return f"{args.model} could not be run on the inputs of shape {tuple(x.shape)}: {first_line(exc)}"


def main(argv=None) -> int:
    """``python -m verify radius``: the exact robustness radius of each input of a saved model."""
    from verify.errors import VerifyError
    from verify.results.records import ResultsError, keep_previous, write_record
    from verify.robust.inputs import check_inputs
    from verify.robust.radius import robust_radius

    args = build_parser().parse_args(argv)
    if args.onnx or args.vnnlib:
        return _vnnlib(args, argv)
    if not args.model or not args.inputs:
        return fail("give --model FILE and --inputs FILE (or --onnx FILE and --vnnlib FILE for a VNNLIB property)")
    for name, v in (("--time-limit", args.time_limit), ("--max-radius", args.max_radius)):
        if v is not None and not (math.isfinite(v) and v > 0):
            return fail(f"{name} must be a number > 0, got {v}")
    if args.node_limit is not None and args.node_limit < 1:
        return fail(f"--node-limit must be at least 1, got {args.node_limit}")
    if args.domain is not None and not args.domain[0] < args.domain[1]:
        return fail(f"--domain LO HI needs LO < HI, got {args.domain[0]} {args.domain[1]}")
    for f in (args.model, args.inputs, args.labels):
        if f and not Path(f).is_file():
            return fail(f"no such file: {f}")
    try:
        model = load_model(args.model)
        x = load_tensor(args.inputs, "the inputs", "x.pt")
        y = load_tensor(args.labels, "the labels", "y.pt") if args.labels else None
    except ValueError as exc:
        return fail(str(exc))
    model, x, dtype, notes = user_dtypes(model, x, args.dtype or "both")
    if x.dim() < 2:
        return fail(f"{args.inputs} holds a tensor of shape {tuple(x.shape)}; expected a batch (B, *input shape) "
                     f"(save x.unsqueeze(0) for one example)")
    if y is not None and tuple(y.shape) != (x.shape[0],):
        return fail(f"{args.labels} holds labels of shape {tuple(y.shape)}; expected ({x.shape[0]},), one per input")
    if y is not None and (y.is_floating_point() or y.is_complex()):
        return fail(f"{args.labels} holds {str(y.dtype).replace('torch.', '')} labels; expected integer classes")
    domain = None if args.domain is None else tuple(args.domain)
    try:        # every input (finite, shape, labels, domain) before any solve, at its index in the batch
        check_inputs(model, x, y, domain=domain, who="radius")
    except (VerifyError, ValueError, RuntimeError) as exc:
        return fail(_refusal(exc, model, args, x))
    out = Path(args.out or RADIUS_RESULTS)
    try:
        settings = _settings(args, str(dtype).replace("torch.", ""))     # a missing pyscipopt for --l2-method miqp
    except VerifyError as exc:
        return fail(first_line(exc))
    try:
        done = _done(out, settings) if args.resume else {}
    except (ValueError, ResultsError) as exc:
        return fail(str(exc))
    for note in notes:
        print(note)
    todo = [i for i in range(x.shape[0]) if i not in done]
    if args.resume:
        print(f"resuming: {len(done)} of {x.shape[0]} points already in {out}; computing the other {len(todo)}")
    bar = None
    if not args.no_progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc=f"radius (l-{args.norm})", unit="point", disable=not sys.stderr.isatty())
    t0 = time.perf_counter()
    print(f"{'point':>5}  {'label':>5}  {'status':<15} {'radius':>12}  {'[lower, upper]':<28}  "
          f"{'certified':>13}  {'bin/unstab':>11}  {'nodes':>6}  {'seconds':>8}  {'wit.':<4}  stopped by")
    for r in [done[i]["result"] for i in sorted(done)]:
        print(_row(r))
    results = {i: done[i]["result"] for i in done}
    kept = args.resume          # the previous results are moved aside when the first new line is written
    try:
        for i in todo:
            yi = None if y is None else y[i:i + 1]
            res = robust_radius(model, x[i:i + 1], yi, norm=args.norm, time_limit=args.time_limit,
                                node_limit=args.node_limit, max_radius=args.max_radius, domain=domain,
                                certify=not args.no_certify, method=args.l2_method)[0]
            rec = res.to_dict()
            rec["index"] = i
            if not kept:
                keep_previous(out)
                kept = True
            write_record(out, {"schema": RADIUS_SCHEMA, "settings": settings, "result": rec})
            results[i] = rec
            if bar is not None:
                bar.update(1)
                bar.clear()
            print(_row(rec), flush=True)
    except (VerifyError, ValueError, RuntimeError) as exc:
        return fail(_refusal(exc, model, args, x))
    finally:
        if bar is not None:
            bar.close()
    counts = {}
    for r in results.values():
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    for i in sorted(results):
        for note in results[i].get("notes", []):
            if not note.startswith("MILP:"):
                print(f"note: point {i}: {note}")
    print(f"\n{len(results)} points (l-{args.norm}) in {time.perf_counter() - t0:.1f} s: "
          + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + f". Results: {out}")
    bad = counts.get("unverified", 0) + counts.get("error", 0)
    if bad:
        print(f"{bad} point(s) unverified or failed: their solver's point did not pass the witness checks")
    return 1 if bad else 0


def _vnnlib(args, argv) -> int:
    """``--onnx net.onnx --vnnlib prop.vnnlib``: the property decided, printed in VNN-COMP's format."""
    from verify.errors import VerifyError
    from verify.robust.property import verify_vnnlib

    argv = list(sys.argv[1:] if argv is None else argv)
    mixed = [o for o in ("--model", "--inputs", "--labels", "--norm", "--domain", "--max-radius", "--resume",
                         "--time-limit", "--node-limit") if any(a == o or a.startswith(o + "=") for a in argv)]
    if mixed:
        return fail(f"--onnx/--vnnlib decide a property; {', '.join(mixed)} belong(s) to the radius of --model/--inputs")
    if not (args.onnx and args.vnnlib):
        return fail("--onnx and --vnnlib go together: give both files")
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        return fail(f"--timeout must be a number > 0, got {args.timeout}")
    for f in (args.onnx, args.vnnlib):
        if not Path(f).is_file():
            return fail(f"no such file: {f}")
    try:
        res = verify_vnnlib(args.onnx, args.vnnlib, timeout=args.timeout)
    except (VerifyError, ValueError, ImportError) as exc:
        return fail(first_line(exc))
    print(res.report(), end="")
    if args.result_file:
        res.save(args.result_file)
        print(f"; result file: {args.result_file}")
    if args.out:
        from verify.results.records import write_record

        write_record(args.out, {"schema": "vnnlib-result", "onnx": str(args.onnx), "vnnlib": str(args.vnnlib),
                                "timeout": args.timeout, "result": res.to_dict()})
        print(f"; JSON line appended to {args.out}")
    return 0
