"""``python -m verify.bench.radius --competition`` (or ``python -m verify.bench.radius_comp``): complete l-inf
verification on MNIST MLPs, the MILP against branch and bound, side by side on the same instances.

The networks (issue 23's goals): MLPs 784-256-256-10 (``mlp256x256``) and 784-256x4-10 (``mlp256x256x256x256``)
trained on the lab's ``mnist-5k`` (4,000 training digits) with plain cross-entropy: Adam at 1e-3, batches
of 64, ``--epochs`` epochs, torch's default initialisation from seed 0, in float32 (then verified as the
float64 network with the same weights: every float32 weight is a float64). The trained weights are cached
in ``--cache`` so that a rerun does not train again. The instances: the first ``--images`` test digits,
each at every eps of ``--eps`` (default 0.03 and 0.05), the box clipped to [0, 1], the label the data set's.
Each instance is decided by :func:`verify.robust.robust_at` with ``method="milp"`` and ``method="bab"`` under
the same ``--time-limit`` seconds; a misclassified digit counts as decided (not robust) for both. Per network
and method it prints how many instances were decided (robust / not robust) and the median and largest
seconds per instance. ``--onnx DIR`` also writes each network as ONNX and each instance as VNNLIB
(:func:`verify.robust.write_onnx`, :func:`verify.robust.linf_ball_property`, :func:`verify.robust.write_vnnlib`).
``--digits N`` adds the lab's digits MLP, ``--digits-cnn N`` the lab's digits CNN (round 2's ``cnn16x32``, two
convolutions with max pooling; by the MILP alone, since branch and bound takes rectifier MLPs), each on its
first N evaluation points at every eps of its grid, with the median problem size (binaries and unstable units
of the MILP, nodes) beside the counts; each instance's JSON row also says what stopped it.
Every number is measured in this run; ``--out`` keeps them as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

__all__ = ["main", "trained_mlp", "compare", "digits_mlp"]

ARCHS = ("mlp256x256", "mlp256x256x256x256")
METHODS = ("milp", "bab")


def trained_mlp(arch: str, epochs: int, cache: Path, seed: int = 0):
    """The MLP ``arch`` trained on mnist-5k (module docstring), as float64, in eval mode; with its test set
    and test accuracy. Cached as ``{arch}-e{epochs}-s{seed}.pt`` in ``cache``."""
    import torch

    from verify.dynamics.data import load_dataset
    from verify.dynamics.train import build_model

    ds = load_dataset("mnist-5k")
    model = build_model(arch, tuple(ds.in_shape), 10, seed, dtype=torch.float32)
    f = Path(cache) / f"{arch}-e{epochs}-s{seed}.pt"
    if f.exists():
        model.load_state_dict(torch.load(f))
    else:
        g = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        xt, yt = ds.x_train.float(), ds.y_train
        model.train()
        for _ in range(epochs):
            perm = torch.randperm(xt.shape[0], generator=g)
            for i in range(0, xt.shape[0], 64):
                idx = perm[i:i + 64]
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
                opt.step()
        f.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), f)
    model = model.eval().double()
    with torch.no_grad():
        acc = float((model(ds.x_test.double()).argmax(1) == ds.y_test).double().mean())
    return model, ds, acc


def digits_mlp(points: int, cnn: bool = False):
    """The lab's digits MLP (its settings' architecture, 20 epochs of plain cross-entropy by the lab's own loop,
    seed 0), or with ``cnn`` the lab's digits CNN (round 2's ``cnn16x32``, trained the same way), and the
    first ``points`` of its evaluation set: (model, x, y, box)."""
    import torch

    from verify.dynamics.lab import eval_set, load_data
    from verify.dynamics.settings import settings_for
    from verify.dynamics.train import Objective, build_model, generator, make_optimizer, train_epoch

    s = settings_for("digits", cnn=cnn)
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


def compare(model, x, y, eps_list, time_limit: float, methods=METHODS, domain=(0.0, 1.0)) -> dict:
    """Per method, per instance (image, eps): the decision and its seconds, by :func:`robust_at`."""
    from verify.robust import robust_at

    rows = {m: [] for m in methods}
    for i in range(x.shape[0]):
        for e in eps_list:
            for m in methods:
                t = time.perf_counter()
                r = robust_at(model, x[i:i + 1], y[i:i + 1], eps_grid=[e], time_limit=time_limit, domain=domain,
                              method=m)[0]
                s = time.perf_counter() - t
                dec = "not robust" if r.status == "misclassified" or r.upper <= e else \
                    "robust" if r.lower > e else "undecided"
                rows[m].append({"image": i, "eps": e, "decision": dec, "seconds": s, "nodes": r.nodes,
                                "problem": dict(r.problem or {}), "stopped": r.stopped, "notes": r.notes})
                print(f"  image {i:2d} eps {e:g} {m:>4}: {dec:<10} {s:7.2f} s", flush=True)
    return rows


def _problem(rows) -> str:
    """The median problem size over the rows' results: binaries / unstable units of the MILP, nodes."""
    keys = {"binaries": [], "unstable": [], "nodes": []}
    for r in rows:
        prob = r.get("problem") or {}
        for k in ("binaries", "unstable"):
            if isinstance(prob.get(k), int):
                keys[k].append(prob[k])
        if isinstance(r.get("nodes"), int):
            keys["nodes"].append(r["nodes"])
    med = {k: int(statistics.median(v)) for k, v in keys.items() if v}
    if not med:
        return "-"
    return f"{med.get('binaries', '-')} bin/{med.get('unstable', '-')} unst, {med.get('nodes', '-')} nodes"


def _summary(rows) -> dict:
    secs = [r["seconds"] for r in rows]
    return {"n": len(rows), "decided": sum(r["decision"] != "undecided" for r in rows),
            "robust": sum(r["decision"] == "robust" for r in rows),
            "not_robust": sum(r["decision"] == "not robust" for r in rows),
            "median_s": statistics.median(secs) if secs else float("nan"), "max_s": max(secs) if secs else float("nan")}


def _write_instances(model, ds, arch, images, eps_list, folder: Path):
    from verify.robust import linf_ball_property, write_onnx, write_vnnlib

    folder.mkdir(parents=True, exist_ok=True)
    write_onnx(model.float(), tuple(ds.in_shape), folder / f"{arch}.onnx", name=arch)
    model.double()
    for i in range(images):
        x = ds.x_test[i].reshape(-1).double().numpy()
        for e in eps_list:
            p = linf_ball_property(x, e, int(ds.y_test[i]), 10, domain=(0.0, 1.0))
            write_vnnlib(p, folder / f"{arch}-img{i}-eps{e:g}.vnnlib",
                         comment=f"mnist-5k test digit {i}, label {int(ds.y_test[i])}, eps {e:g}, clipped to [0, 1]")


def main(argv=None) -> int:
    """``python -m verify.bench.radius_comp``: the MILP against branch and bound on MNIST MLPs."""
    import torch

    p = argparse.ArgumentParser(prog="python -m verify.bench.radius --competition", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", nargs="*", default=list(ARCHS), metavar="ARCH", help=f"default {' '.join(ARCHS)}")
    p.add_argument("--images", type=int, default=15, help="test digits (default 15)")
    p.add_argument("--eps", nargs="+", type=float, default=[0.03, 0.05], help="budgets (default 0.03 0.05)")
    p.add_argument("--time-limit", type=float, default=120.0, metavar="S", help="seconds per instance (default 120)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    p.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "verify-bench-radius-comp"),
                   help="folder of the trained weights (default: in the temporary folder)")
    p.add_argument("--onnx", metavar="DIR", help="also write the networks as ONNX and the instances as VNNLIB")
    p.add_argument("--digits", type=int, default=0, metavar="N",
                   help="also the lab's digits MLP on its first N evaluation points at every eps of its grid")
    p.add_argument("--digits-cnn", type=int, default=0, metavar="N",
                   help="also the lab's digits CNN (cnn16x32, plain cross-entropy) on its first N evaluation points "
                        "at every eps of its grid, by the MILP (branch and bound is for rectifier MLPs)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--out", metavar="FILE", help="also write the numbers as JSON")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = []
    for arch in args.archs:
        model, ds, acc = trained_mlp(arch, args.epochs, Path(args.cache))
        print(f"{arch} on mnist-5k ({args.epochs} epochs, plain CE): test accuracy {acc:.4f}; {args.images} images x "
              f"eps {' '.join(f'{e:g}' for e in args.eps)}, time limit {args.time_limit:g} s, {args.threads} thread(s)",
              flush=True)
        if args.onnx:
            _write_instances(model, ds, arch, args.images, args.eps, Path(args.onnx))
        x, y = ds.x_test[:args.images].double(), ds.y_test[:args.images]
        rows = compare(model, x, y, args.eps, args.time_limit, args.methods)
        print(f"{'network':<20} {'method':>6} {'decided':>8} {'robust':>7} {'not rob.':>8} {'median s':>9} {'max s':>8}")
        for m in args.methods:
            s = _summary(rows[m])
            print(f"{arch:<20} {m:>6} {s['decided']:>3}/{s['n']:<4} {s['robust']:>7} {s['not_robust']:>8} "
                  f"{s['median_s']:9.2f} {s['max_s']:8.2f}", flush=True)
            results.append({"network": arch, "accuracy": acc, "method": m, **s, "rows": rows[m]})
    for n, cnn in ((args.digits, False), (args.digits_cnn, True)):
        if not n:
            continue
        from verify.dynamics.settings import settings_for

        grid = list(settings_for("digits").eps_grid)
        model, x, y, box = digits_mlp(n, cnn=cnn)
        name = "digits-cnn" if cnn else "digits"
        methods = ["milp"] if cnn else args.methods
        print(f"the lab's digits {'CNN' if cnn else 'MLP'}: {n} points x eps {' '.join(f'{e:g}' for e in grid)}, "
              f"time limit {args.time_limit:g} s", flush=True)
        rows = compare(model, x, y, grid, args.time_limit, methods, domain=box)
        print(f"{'eps':<20} {'method':>6} {'decided':>8} {'robust':>7} {'not rob.':>8} {'median s':>9} {'max s':>8}"
              f" {'problem (median)':>24}")
        for e in grid:
            for m in methods:
                sel = [r for r in rows[m] if r["eps"] == e]
                s = _summary(sel)
                print(f"{e:<20g} {m:>6} {s['decided']:>3}/{s['n']:<4} {s['robust']:>7} {s['not_robust']:>8} "
                      f"{s['median_s']:9.2f} {s['max_s']:8.2f} {_problem(sel):>24}", flush=True)
                results.append({"network": name, "eps": e, "method": m, **s, "rows": sel})
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1, allow_nan=True), encoding="utf-8")
        print(f"numbers in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
