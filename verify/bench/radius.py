"""``python -m verify.bench.radius``: seconds per point of the exact radius against the network's size.

For MLPs of growing width and depth (random weights, torch's default initialisation drawn from a seed;
inputs of 8 features drawn from a seed) and for the lab's digits MLP (64-64-64, trained 20 epochs with
plain cross-entropy by the lab's own loop), each of ``--points`` inputs gets its l-inf radius
(:func:`verify.robust.robust_radius`, MILP) and its l2 radius (region search) under ``--time-limit``
seconds. Per network and norm it prints the median and largest seconds per point, how many points were
solved to optimality, and the median size of the search (binaries of the MILP, regions of the search).
The digits row also runs the l-inf program with LP bound tightening, side by side, and reports the
ratio of the times. ``--lab`` adds the programs the lab solves (:func:`verify.robust.robust_at`: one per
point and eps of the digits grid, on the box of radius eps) with their seconds against their number of
binaries, which is how the lab's ``radius_max_binaries`` was chosen. Every number is measured in this
run; ``--out`` keeps them as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import time
from pathlib import Path

__all__ = ["main", "bench_network", "digits_model"]

_SIZES = ("mlp8", "mlp16", "mlp32", "mlp8x8", "mlp16x16", "mlp32x32")


def _binaries(r) -> int | None:
    for n in r.notes:
        m = re.match(r"MILP: (\d+) binaries", n)
        if m:
            return int(m.group(1))
    return None


def bench_network(model, x, y, *, norm: str, time_limit: float, domain=None, tighten: bool = False) -> dict:
    """One network and norm: per point seconds, statuses and search sizes, and their summary."""
    from verify.robust import robust_radius

    rows = []
    for i in range(x.shape[0]):
        t = time.perf_counter()
        r = robust_radius(model, x[i:i + 1], None if y is None else y[i:i + 1], norm=norm, time_limit=time_limit,
                          domain=domain, certify=False, tighten=tighten)[0]
        rows.append({"seconds": time.perf_counter() - t, "status": r.status, "radius": r.radius, "lower": r.lower,
                     "upper": r.upper, "size": _binaries(r) if norm == "inf" else r.nodes})
    secs = [r["seconds"] for r in rows if r["status"] != "misclassified"]
    sizes = [r["size"] for r in rows if r["size"] is not None and r["status"] != "misclassified"]
    return {"norm": norm, "points": rows, "median_s": statistics.median(secs) if secs else math.nan,
            "max_s": max(secs) if secs else math.nan, "optimal": sum(r["status"] == "optimal" for r in rows),
            "solved": sum(r["status"] in ("optimal", "misclassified") for r in rows), "n": len(rows),
            "median_size": statistics.median(sizes) if sizes else math.nan}


def digits_model(points: int):
    """The lab's digits MLP (64-64-64), trained 20 epochs with plain cross-entropy by the lab's loop (seed 0), in
    eval mode, with its first ``points`` evaluation inputs, their labels and the pixel box: (model, x, y, box)."""
    import torch

    from verify.dynamics.lab import eval_set, load_data
    from verify.dynamics.settings import settings_for
    from verify.dynamics.train import Objective, build_model, generator, make_optimizer, train_epoch

    s = settings_for("digits")
    ds = load_data("digits")
    model = build_model(s.arch, ds.in_shape, ds.classes, 0)
    opt = make_optimizer(model, s.lr)
    for e in range(1, s.epochs + 1):
        train_epoch(model, opt, Objective(), ds.x_train.double(), ds.y_train, batch_size=s.batch_size,
                    order=generator("order", 0, e), attack_gen=generator("attack", 0, e), attack_steps=1, box=ds.box,
                    run_id="bench-radius", epoch=e)
    model.eval()
    x, y = eval_set(ds, s, torch.float64, "cpu")
    return model, x[:points], y[:points], ds.box


def _lab_programs(points: int, time_limit: float) -> list:
    """The lab's l-inf programs on the digits MLP: per point and eps, binaries, status and seconds; printed
    binned by the number of binaries."""
    import numpy as np

    from theory.torch_bridge import from_torch
    from verify.dynamics.settings import settings_for
    from verify.robust.milp import linf_milp
    from verify.robust.plnet import plnet

    model, x, y, box = digits_model(points)
    pl = plnet(from_torch(model, tuple(x.shape[1:])))
    rows = []
    for i in range(x.shape[0]):
        xi, yi = x[i].reshape(-1).numpy(), int(y[i])
        if int(np.argmax(pl.logits(xi[None])[0])) != yi:
            continue
        for e in settings_for("digits").eps_grid:
            r = linf_milp(pl, xi, yi, cap=e, domain=box, time_limit=time_limit)
            rows.append({"point": i, "eps": e, "binaries": r.binaries, "status": r.status, "seconds": r.seconds})
    print(f"\nthe lab's programs (digits MLP, ce; {points} points x {len(settings_for('digits').eps_grid)} eps, time "
          f"limit {time_limit:g} s): seconds against binaries")
    print(f"{'binaries':>10} {'programs':>9} {'finished':>9} {'median s':>9} {'max s':>8}")
    for lo, hi in ((0, 0), (1, 20), (21, 40), (41, 60), (61, 80), (81, 10 ** 9)):
        sel = [r for r in rows if lo <= r["binaries"] <= hi]
        if not sel:
            continue
        fin = sum(r["status"] in ("optimal", "beyond_cap") for r in sel)
        secs = sorted(r["seconds"] for r in sel)
        label = f"{lo}" if lo == hi else (f"{lo}-{hi}" if hi < 10 ** 9 else f">{lo - 1}")
        print(f"{label:>10} {len(sel):>9} {fin:>9} {secs[len(secs) // 2]:9.3f} {secs[-1]:8.3f}")
    return rows


def main(argv=None) -> int:
    """``python -m verify.bench.radius``: time the exact robustness radius against the network's size."""
    import torch

    from verify.dynamics.train import build_model

    p = argparse.ArgumentParser(prog="python -m verify.bench.radius", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--points", type=int, default=5, help="inputs per network (default 5)")
    p.add_argument("--time-limit", type=float, default=10.0, metavar="S", help="seconds per point (default 10)")
    p.add_argument("--sizes", nargs="+", default=list(_SIZES), metavar="ARCH",
                   help=f"MLPs on 8 inputs, 3 classes (default {' '.join(_SIZES)})")
    p.add_argument("--no-digits", action="store_true", help="leave out the lab's digits MLP")
    p.add_argument("--lab", type=int, default=0, metavar="N",
                   help="also time the lab's per-eps programs on the first N digits evaluation points")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="FILE", help="also write the numbers as JSON")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(args.seed)
    results = []
    print(f"seconds per point of the exact radius ({args.points} points, time limit {args.time_limit:g} s, "
          f"one thread); size: MILP binaries (inf) or regions visited (2)")
    print(f"{'network':<26} {'units':>5} {'norm':>4} {'median s':>9} {'max s':>8} {'optimal':>8} {'size':>7}")

    def show(name, units, res):
        print(f"{name:<26} {units:>5} {res['norm']:>4} {res['median_s']:9.3f} {res['max_s']:8.3f} "
              f"{res['optimal']:>3}/{res['n']:<4} {res['median_size']:7.0f}", flush=True)

    for arch in args.sizes:
        model = build_model(arch, (8,), 3, args.seed).eval()
        x = torch.randn(args.points, 8, generator=gen, dtype=torch.float64)
        units = sum(m.out_features for m in model if isinstance(m, torch.nn.Linear)) - 3
        for norm in ("inf", "2"):
            res = bench_network(model, x, None, norm=norm, time_limit=args.time_limit)
            results.append({"network": arch, "units": units, **res})
            show(f"{arch} (8 in, 3 out)", units, res)
    if not args.no_digits:
        model, x, y, box = digits_model(args.points)
        for norm in ("inf", "2"):
            res = bench_network(model, x, y, norm=norm, time_limit=args.time_limit, domain=box)
            results.append({"network": "digits mlp64x64x64", "units": 192, **res})
            show("digits mlp64x64x64 (ce)", 192, res)
        tight = bench_network(model, x, y, norm="inf", time_limit=args.time_limit, domain=box, tighten=True)
        results.append({"network": "digits mlp64x64x64", "units": 192, "tighten": True, **tight})
        show("  ... with LP tightening", 192, tight)
        plain = next(r for r in results if r["network"].startswith("digits") and r["norm"] == "inf")
        print(f"LP tightening / plain bounds, median seconds per point: {tight['median_s'] / plain['median_s']:.2f} "
              f"(optimal {tight['optimal']} vs {plain['optimal']} of {plain['n']})")
    if args.lab:
        results.append({"lab": _lab_programs(args.lab, args.time_limit)})
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1, allow_nan=True), encoding="utf-8")
        print(f"numbers in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
