"""``python -m verify.bench.l2``: the exact l2 radius by branch and bound, the MIQP (SCIP) and the region search,
side by side, on the lab's digits MLP.

The network is :func:`verify.bench.radius_comp.digits_mlp`'s (64-64-64, 20 epochs of plain cross-entropy); each of
``--points`` evaluation inputs gets its l2 radius on the pixel box by the methods of
:func:`verify.robust.robust_radius` (``method="bab"``, ``"miqp"`` and ``"search"``; ``--methods`` picks) under
``--time-limit`` seconds each.
Per point it prints, side by side, each method's status, radius, proved lower bound, checked upper bound and
seconds; then, per method, how many points were solved to optimality within each of ``--within`` seconds
(a run is deterministic up to its time limit, so "optimal within s seconds" is read off one run at the largest
limit). Needs pyscipopt (the extra ``l2``). ``--out`` keeps every number as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

__all__ = ["main", "compare"]


METHODS = ("bab", "miqp", "search")


def compare(model, x, y, box, *, time_limit: float, methods=METHODS) -> list[dict]:
    """Per point and method: status, radius, lower, upper and seconds of :func:`verify.robust.robust_radius`."""
    from verify.robust import robust_radius

    rows = []
    for i in range(x.shape[0]):
        row = {"index": i}
        for m in methods:
            t = time.perf_counter()
            r = robust_radius(model, x[i:i + 1], y[i:i + 1], norm=2, time_limit=time_limit, domain=box,
                              certify=False, method=m)[0]
            row[m] = {"status": r.status, "radius": r.radius, "lower": r.lower, "upper": r.upper,
                      "seconds": time.perf_counter() - t, "nodes": r.nodes}
        rows.append(row)
    return rows


def main(argv=None) -> int:
    """``python -m verify.bench.l2`` (module docstring): the side-by-side table and the counts; 0 on success."""
    p = argparse.ArgumentParser(prog="python -m verify.bench.l2", description=__doc__.split("\n\n")[0])
    p.add_argument("--points", type=int, default=8, help="evaluation inputs of the digits MLP (default 8)")
    p.add_argument("--time-limit", type=float, default=60.0, help="seconds per point and method (default 60)")
    p.add_argument("--within", type=float, nargs="+", default=[10.0, 60.0], help="the times to count (default 10 60)")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                   help="the l2 methods, side by side (default: all three)")
    p.add_argument("--out", type=Path, help="write every number as JSON")
    args = p.parse_args(argv)
    from verify.bench.radius_comp import digits_mlp
    from verify.robust.miqp import load_scip

    ms = list(dict.fromkeys(args.methods))
    if "miqp" in ms:
        load_scip()
    model, x, y, box = digits_mlp(args.points)
    rows = compare(model, x, y, box, time_limit=args.time_limit, methods=ms)
    f = lambda v: f"{v:.7g}" if math.isfinite(v) else str(v)
    print(f"{'point':>5} | " + " | ".join(f"{m + ' status':>13} {'radius':>10} {'lower':>10} {'upper':>10} {'s':>6}"
                                         for m in ms))
    for r in rows:
        print(f"{r['index']:>5} | " + " | ".join(
            f"{r[m]['status']:>13} {f(r[m]['radius']):>10} {f(r[m]['lower']):>10} {f(r[m]['upper']):>10} "
            f"{r[m]['seconds']:>6.1f}" for m in ms))
    live = [r for r in rows if r[ms[0]]["status"] != "misclassified"]
    n = len(live)
    print(f"{len(rows) - n} of {len(rows)} points misclassified (radius 0); of the other {n}:")
    for m in ms:
        cnt = [sum(1 for r in live if r[m]["status"] == "optimal" and r[m]["seconds"] <= s) for s in args.within]
        ratio = sorted(r[m]["lower"] / r[m]["upper"] for r in live if math.isfinite(r[m]["upper"]) and r[m]["upper"] > 0)
        med = f"; median lower / upper {ratio[len(ratio) // 2]:.3f}" if ratio else ""
        print(f"{m}: " + ", ".join(f"{c}/{n} exact within {s:g} s" for c, s in zip(cnt, args.within)) + med)
    for a in ms:
        hi = sum(1 for r in live if all(r[a]["lower"] > r[b]["lower"] * (1 + 1e-6) for b in ms if b != a))
        print(f"the highest proved lower bound by {a}: {hi} of {n}")
    opt = [(r, [m for m in ms if r[m]["status"] == "optimal"]) for r in rows]
    both = [(r, o) for r, o in opt if len(o) > 1]
    if both:
        d = max(abs(r[a]["radius"] - r[o[0]]["radius"]) / r[o[0]]["radius"] for r, o in both for a in o)
        print(f"where two or more are optimal ({len(both)} points) the radii differ by at most {d:.2g} relative")
    if args.out:
        args.out.write_text(json.dumps({"time_limit": args.time_limit, "points": rows}, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
