"""``python -m verify.bench.l2``: the exact l2 radius by the MIQP (SCIP) beside the region search, on the lab's
digits MLP.

The network is :func:`verify.bench.radius_comp.digits_mlp`'s (64-64-64, 20 epochs of plain cross-entropy); each of
``--points`` evaluation inputs gets its l2 radius on the pixel box by both methods of
:func:`verify.robust.robust_radius` (``method="miqp"`` and ``method="search"``) under ``--time-limit`` seconds.
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


def compare(model, x, y, box, *, time_limit: float, methods=("miqp", "search")) -> list[dict]:
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
    p.add_argument("--out", type=Path, help="write every number as JSON")
    args = p.parse_args(argv)
    from verify.bench.radius_comp import digits_mlp
    from verify.robust.miqp import load_scip

    load_scip()
    model, x, y, box = digits_mlp(args.points)
    rows = compare(model, x, y, box, time_limit=args.time_limit)
    f = lambda v: f"{v:.7g}" if math.isfinite(v) else str(v)
    print(f"{'point':>5} | {'miqp status':>12} {'radius':>10} {'lower':>10} {'upper':>10} {'s':>6} | "
          f"{'search status':>13} {'radius':>10} {'lower':>10} {'upper':>10} {'s':>6}")
    for r in rows:
        a, b = r["miqp"], r["search"]
        print(f"{r['index']:>5} | {a['status']:>12} {f(a['radius']):>10} {f(a['lower']):>10} {f(a['upper']):>10} "
              f"{a['seconds']:>6.1f} | {b['status']:>13} {f(b['radius']):>10} {f(b['lower']):>10} {f(b['upper']):>10} "
              f"{b['seconds']:>6.1f}")
    live = [r for r in rows if r["search"]["status"] != "misclassified"]
    n = len(live)
    print(f"{len(rows) - n} of {len(rows)} points misclassified (radius 0); of the other {n}:")
    for m in ("miqp", "search"):
        cnt = [sum(1 for r in live if r[m]["status"] == "optimal" and r[m]["seconds"] <= s) for s in args.within]
        print(f"{m}: " + ", ".join(f"{c}/{n} exact within {s:g} s" for c, s in zip(cnt, args.within)))
    hi = sum(1 for r in live if r["miqp"]["lower"] > r["search"]["lower"] * (1 + 1e-6))
    lo = sum(1 for r in live if r["search"]["lower"] > r["miqp"]["lower"] * (1 + 1e-6))
    print(f"the higher proved lower bound: miqp on {hi}, search on {lo}, equal on {n - hi - lo}")
    both = [r for r in rows if r["miqp"]["status"] == "optimal" and r["search"]["status"] == "optimal"]
    if both:
        d = max(abs(r["miqp"]["radius"] - r["search"]["radius"]) / r["search"]["radius"] for r in both)
        print(f"where both are optimal ({len(both)} points) the radii differ by at most {d:.2g} relative")
    if args.out:
        args.out.write_text(json.dumps({"time_limit": args.time_limit, "points": rows}, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
