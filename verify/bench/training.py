"""``python -m verify.bench --training``: one training step of every objective, side by side, as ratios to ``ce``.

In one run, on the lab's MLP 784-256-256-10 (``mlp256x256``, the lab's settings for MNIST) and its small CNN
(``cnn16x32`` on 3x32x32 inputs, the settings for CIFAR-10), each with a batch of 128 seeded inputs in
[0, 1] and labels:

- the step of each objective of the lab (:func:`verify.dynamics.train.train_step`: the PGD points for
  ``at``, the loss, its backward pass, the Adam step): ``ce``, ``ce+ig``, ``ce+jac``, ``ce+cl``,
  ``ce+cure``, ``ce+emr``, ``at(eps)`` and ``at(eps)+emr``, with lambda, h, T and the PGD steps of the
  lab's settings and eps the middle of its grid;
- for the Jacobian penalty, four computations: its definition (double backprop over the K logits, as
  the lab trains), Hoffman et al.'s random-projection estimate with one projection (unbiased, not exact),
  ``torch.func`` (``vmap(jacrev)`` of the logits inside the loss) and the masked weight product of
  :mod:`verify.dynamics.penalties` (exact); for R-CL its definition and the masked product;
- beside each masked product: |closed form - definition| over its rounding bound, for the value and the
  weight gradient on the benchmark's batch (at most 1 when they agree; :func:`~verify.dynamics.penalties.agreement_bound`),
  and the time of the definition over its own.

Step times are medians over ``--repeats`` steps after one warm-up step, the objectives run in turn in
each round so that all see the same machine load; every objective trains its own copy of the same
initial network. Peak memory is that of one more step, in bytes above the level at entry: on CUDA
``torch.cuda.max_memory_allocated``; on CPU the peak of the running sum of the tensor allocations and
frees that ``torch.profiler`` records (torch's own tensors: the activations, the saved graph, the
gradients as they are made; not the process's resident memory). Ratios are to the ``ce`` step of the
same network in the same run.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from verify.bench.common import peak_memory, sync
from verify.errors import DeviceUnavailableError, resolve_device

__all__ = ["main", "networks", "variants", "run", "format_rows", "closed_form_agreement", "QUICK_BATCH"]

#: The batch of ``--quick`` (a test of the mechanics; its figures mean little).
QUICK_BATCH = 8


def networks(dtype, device, batch: int, which=("mlp", "cnn")) -> list:
    """[(key, name, model, x, y, settings)]: the benchmark's networks, each with its batch and the lab settings
    whose lambda, h, T, eps and PGD steps its objectives take."""
    from verify.dynamics.settings import settings_for
    from verify.dynamics.train import build_model

    specs = {"mlp": ("MLP 784-256-256-10 (mlp256x256)", "mlp256x256", (784,), "mnist"),
             "cnn": ("CNN 3x32x32 (cnn16x32)", "cnn16x32", (3, 32, 32), "cifar10")}
    out = []
    for key in which:
        name, arch, shape, data = specs[key]
        g = torch.Generator().manual_seed(0)
        x = torch.rand((batch,) + shape, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)
        y = torch.randint(0, 10, (batch,), generator=g).to(device)
        model = build_model(arch, shape, 10, 0, dtype=dtype, device=device)
        out.append((key, name, model, x, y, settings_for(data)))
    return out


def _hoffman(gen):
    from verify.regularizers.definitions import unchecked as R

    def penalty(model, obj, x, y):
        return R.jacobian(model, x, projections=1, generator=gen, create_graph=True).mean()
    return penalty


def _torch_func(model, obj, x, y):
    f = lambda xx: model(xx.unsqueeze(0))[0]
    J = torch.func.vmap(torch.func.jacrev(f))(x)
    return J.reshape(J.shape[0], -1).square().sum(1).mean()


def _masked(reg):
    from verify.dynamics import penalties

    fn = getattr(penalties, penalties.PENALTIES[reg])
    return lambda model, obj, x, y: fn(model, x).mean()


def variants(s, model) -> list:
    """[(label, objective, penalty or None)] in the order printed; ``penalty`` replaces the objective's own
    (the estimators, and the masked product where the training option is not offered:
    :func:`verify.dynamics.penalties.not_offered`)."""
    from verify.dynamics.penalties import not_offered
    from verify.dynamics.train import Objective

    eps = s.middle_eps
    emr = dict(reg="emr", lam=s.lam["emr"], T=s.T)
    closed = lambda reg: ((Objective(reg, lam=s.lam[reg], method="closed-form"), None) if not_offered(model, reg)
                          is None else (Objective(reg, lam=s.lam[reg]), _masked(reg)))
    return [("ce", Objective(), None),
            ("ce+ig", Objective("ig", lam=s.lam["ig"]), None),
            ("ce+jac: definition", Objective("jac", lam=s.lam["jac"]), None),
            ("ce+jac: Hoffman, 1 projection", Objective("jac", lam=s.lam["jac"]),
             _hoffman(torch.Generator().manual_seed(1))),
            ("ce+jac: torch.func vmap(jacrev)", Objective("jac", lam=s.lam["jac"]), _torch_func),
            ("ce+jac: closed form", *closed("jac")),
            ("ce+cl: definition", Objective("cl", lam=s.lam["cl"]), None),
            ("ce+cl: closed form", *closed("cl")),
            ("ce+cure", Objective("cure", lam=s.lam["cure"], h=s.cure_h), None),
            ("ce+emr", Objective(**emr), None),
            (f"at(eps={eps:.4g})", Objective(eps=eps), None),
            (f"at(eps={eps:.4g})+emr", Objective(**emr, eps=eps), None)]


def _steppers(model, x, y, s) -> list:
    """[(label, objective id, step(), optimiser)]: each with its own copy of the model, its optimiser and
    attack."""
    from verify.dynamics.attacks import PGD
    from verify.dynamics.train import make_optimizer, train_step

    out = []
    for i, (label, obj, penalty) in enumerate(variants(s, model)):
        m = copy.deepcopy(model)
        opt = make_optimizer(m, s.lr)
        attack = PGD(obj.eps, norm="inf", steps=s.train_steps, box=(0.0, 1.0)) if obj.eps > 0 else None
        gen = torch.Generator().manual_seed(100 + i)

        def step(m=m, opt=opt, obj=obj, attack=attack, gen=gen, penalty=penalty):
            return train_step(m, opt, obj, x, y, attack=attack, attack_gen=gen, penalty=penalty)[0]
        out.append((label, obj.id, step, opt))
    return out


def closed_form_agreement(model, x, reg: str) -> dict:
    """|masked product - definition| / rounding bound for the batch mean of ``reg`` and for its weight
    gradient (the largest over the entries), on ``model`` at x; values at most 1 mean agreement. On CUDA it
    runs in plain IEEE arithmetic (no TF32, no cuDNN: :func:`verify.numerics.precision.precision_guard`), which the
    bound assumes; the timed steps run with torch's defaults."""
    from verify.numerics.precision import precision_guard

    with precision_guard(x.device):
        return _agreement(model, x, reg)


def _agreement(model, x, reg: str) -> dict:
    from verify.dynamics import penalties
    from verify.regularizers.definitions import unchecked as R

    params = list(model.parameters())
    defn = {"jac": R.jacobian, "cl": R.cross_lipschitz}[reg](model, x, create_graph=True).mean()
    mine = getattr(penalties, penalties.PENALTIES[reg])(model, x).mean()
    g_def = torch.autograd.grad(defn, params, allow_unused=True)
    g_mine = torch.autograd.grad(mine, params, allow_unused=True)
    vb, gb = penalties.agreement_bound(model, x, reg)
    zero = lambda g, p: torch.zeros_like(p) if g is None else g
    worst = 0.0
    for p, a, b in zip(params, g_def, g_mine):
        d = (zero(a, p) - zero(b, p)).abs().double()
        bound = gb[p].double()
        r = torch.where(d == 0, torch.zeros_like(d), d / bound)
        worst = max(worst, float(r.max()))
    defn, mine = defn.detach(), mine.detach()
    d = abs(float(defn) - float(mine))
    return {"value": d / vb if vb > 0 else (0.0 if d == 0 else float("inf")), "gradient": worst, "definition": float(defn), "closed_form": float(mine)}


def run(device, dtype, repeats: int, batch: int, which=("mlp", "cnn"), progress: bool = False) -> list:
    """The results, one dict per network: name, and rows (label, objective id, seconds, bytes, note)."""
    from tqdm.auto import tqdm

    from verify.dynamics.penalties import not_offered

    results = []
    for key, name, model, x, y, s in networks(dtype, device, batch, which):
        steps = _steppers(model, x, y, s)
        bar = tqdm(total=len(steps) * (repeats + 2), desc=f"training steps, {key}", file=sys.stderr,
                   disable=not progress or not sys.stderr.isatty(), leave=False)
        times = {label: [] for label, *_ in steps}
        for label, _, step, _ in steps:                       # warm-up: Adam's state, caches, allocator
            step()
            bar.update(1)
        sync(device)
        for _ in range(repeats):
            for label, _, step, _ in steps:
                t0 = time.perf_counter()
                step()
                sync(device)
                times[label].append(time.perf_counter() - t0)
                bar.update(1)
        mem = {}
        for label, _, step, opt in steps:
            # the step frees the last step's gradients, made before the measure began (where the CPU profiler
            # cannot see their size): free them first, so the step starts without gradients and makes its own
            opt.zero_grad(set_to_none=True)
            mem[label] = peak_memory(step, device)
            bar.update(1)
        bar.close()
        agree = {reg: closed_form_agreement(copy.deepcopy(model), x, reg) for reg in ("jac", "cl")}
        med = {label: statistics.median(t) for label, t in times.items()}
        rows = []
        for label, oid, *_ in steps:
            note = ""
            if label.endswith("closed form"):
                reg = label.split(":")[0].split("+")[1]
                a, t_def = agree[reg], med[f"ce+{reg}: definition"]
                offered = "training option" if not_offered(model, reg) is None else "not offered"
                note = (f"definition / closed form {t_def / med[label]:.2f}x time ({offered}); |d|/bound: value "
                        f"{a['value']:.2g}, weight gradient {a['gradient']:.2g}")
            elif label.startswith("ce+jac: Hoffman"):
                note = "an unbiased estimate, not the exact penalty"
            rows.append({"objective": label, "id": oid, "seconds": med[label], "bytes": mem[label], "note": note})
        results.append({"network": name, "batch": x.shape[0], "settings": s.data, "rows": rows,
                        "agreement": agree})
    return results


def format_rows(result: dict) -> str:
    """One network's table: step time and peak memory, each with its ratio to the ``ce`` step."""
    rows = result["rows"]
    ce = next(r for r in rows if r["objective"] == "ce")
    head = ["objective", "step", "x ce", "peak memory", "x ce", "note"]
    body = [[r["objective"], f"{r['seconds'] * 1e3:.1f} ms", f"{r['seconds'] / ce['seconds']:.2f}x",
             f"{r['bytes'] / 2 ** 20:.1f} MiB", f"{r['bytes'] / ce['bytes']:.2f}x" if ce["bytes"] else "-", r["note"]]
            for r in rows]
    w = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    line = lambda cells: " | ".join(c.ljust(wi) for c, wi in zip(cells, w)).rstrip()
    title = f"{result['network']}, batch {result['batch']} (the lab's {result['settings']} settings)"
    return "\n".join([title, line(head), "-+-".join("-" * wi for wi in w)] + [line(b) for b in body])


def main(argv=None) -> int:
    """``python -m verify.bench --training``: time one training step of every objective of the lab."""
    p = argparse.ArgumentParser(prog="python -m verify.bench --training", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="model and input dtype")
    p.add_argument("--repeats", type=int, default=3, help="timed steps per objective (median reported; default 3)")
    p.add_argument("--batch", type=int, default=128, help="batch size (default 128)")
    p.add_argument("--nets", default="mlp,cnn", help="which networks, comma-separated: mlp, cnn (default both)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads (default: torch's; 1 is steadier on a shared machine)")
    p.add_argument("--quick", action="store_true", help=f"a test of the mechanics: batch {QUICK_BATCH}, 1 repeat")
    p.add_argument("--out", metavar="FILE", help="also write the results as JSON to FILE")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    if args.batch < 1:
        p.error("--batch must be at least 1")
    which = tuple(n.strip() for n in args.nets.split(",") if n.strip())
    if not which or any(n not in ("mlp", "cnn") for n in which):
        p.error(f"--nets {args.nets!r}: expected a comma-separated list of mlp, cnn")
    try:
        device = resolve_device(args.device)
    except DeviceUnavailableError as exc:
        p.error(str(exc))
    if args.threads is not None:
        if args.threads < 1:
            p.error("--threads must be at least 1")
        torch.set_num_threads(args.threads)
    batch, repeats = (QUICK_BATCH, 1) if args.quick else (args.batch, args.repeats)
    dtype = getattr(torch, args.dtype)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"verify.bench --training: torch {torch.__version__}, {where}, {args.dtype}, batch {batch}, "
          f"{repeats} repeats{' (--quick)' if args.quick else ''}")
    print("step = forward + backward + Adam step (PGD points first for at); median after one warm-up; peak memory: "
          + ("torch.cuda.max_memory_allocated above entry" if device.type == "cuda" else
             "peak running sum of torch's allocations in the step (torch.profiler), above entry"))
    results = run(device, dtype, repeats, batch, which, progress=True)
    for res in results:
        print()
        print(format_rows(res))
    if args.out:
        path = Path(args.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"torch": torch.__version__, "device": where, "dtype": args.dtype, "batch": batch, "repeats": repeats}
        path.write_text(json.dumps({"run": meta, "results": results}, indent=1))
        print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
