"""``python -m verify.bench``: the closed-form Jacobian and Hessian against torch.func, side by side.

In one run, on the same model, inputs, device and dtype:

- J: :func:`verify.linearize` (closed form, no half-spaces; its bounds and kink distance are lazy and
  not computed) against ``torch.func.vmap(torch.func.jacrev(f))``, on a 784-256-256-10 leaky-ReLU MLP
  (B = 256), a CNN (3x32x32, two conv + max-pool stages) and a residual net with eval BatchNorm;
- the input Hessian of the cross-entropy: J^T S J with S = diag(p) - p p^T from the linearization,
  against ``torch.func.vmap(torch.func.hessian(ce))``;
- peak memory of the closed-form J against vmap(jacrev). On CUDA: ``torch.cuda.max_memory_allocated``
  above the level at entry. On CPU: the peak of the running sum of the tensor allocations and frees
  that ``torch.profiler.profile(profile_memory=True)`` records during the call (bytes above entry;
  the profiler is used only for this, never while timing). For the MLP the row is the peak over the
  bytes of J itself (B x K x D entries, which any method that returns J must hold); for the CNN and
  the ResNet the peak over the reference's, with that floor in the note;
- the MLP's roofline: the closed-form J's FLOP/s against bare matrix products of the same shapes, and
  torch.func's on the same FLOP count, timed in turn in the same run.

Times are medians over ``--repeats`` runs after one warm-up, the closed form and the reference run
alternately so that both see the same machine load. Ratios are reference / closed form for
time (higher is better) and closed form / reference for memory (lower is better). Goals: J at least
1.0x as fast on CPU and 2x on GPU, Hessian 10x; memory: the MLP's peak at most 1.25x the bytes of J
(its attainable form: the old goal, 0.5x of torch.func's peak, is below J's own 0.55x), the others'
at most 0.5x of torch.func's. A missed goal is printed as MISS, never hidden.

``python -m verify.bench --training`` runs the training-step benchmark instead
(:mod:`verify.bench.training`). On CUDA, linearize runs without cuDNN by default (see
:data:`verify.numerics.precision.CUDNN_DURING_VERIFICATION`) while the reference uses it; ``--allow-cudnn``
compares like with like.
"""

from __future__ import annotations

import argparse
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from verify.bench.common import peak_memory, time_many, time_pair
from verify.errors import DeviceUnavailableError, resolve_device
from verify.jobs.networks import NetSpec
from verify.numerics.kinks import confirm_own_pass
from verify.numerics.linearize import linearize

__all__ = ["main", "models", "run", "format_table", "closed_form_hessian", "memory_floor_note", "memory_rows", "roofline_row", "mlp_jacobian_gemms",
           "agreement", "hessian_agreement", "MEMORY_GOAL", "J_BYTES_GOAL"]


def models(device, dtype, batch: int, conv_batch: int) -> list:
    """[(name, model, x)]: the three benchmark networks with seeded weights and inputs."""
    g = torch.Generator().manual_seed(0)
    mlp = NetSpec("mlp", (784,), (256, 256), 10, "leaky", 0.01, True, 1).build(dtype, device)
    torch.manual_seed(0)  # nn.Conv2d default init below; the global RNG only seeds the benchmark's CNN
    cnn = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(32 * 8 * 8, 10)).to(device=device, dtype=dtype).eval()
    res = NetSpec("resnet", (3, 32, 32), (16, 32), 10, "relu", None, False, 2).build(dtype, device)
    xs = [torch.randn((b,) + s, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)
          for b, s in ((batch, (784,)), (conv_batch, (3, 32, 32)), (conv_batch, (3, 32, 32)))]
    return [("MLP 784-256-256-10 leaky", mlp, xs[0]), ("CNN 3x32x32 2x(conv+maxpool)", cnn, xs[1]),
            ("ResNet 3x32x32 w16x32 BN", res, xs[2])]


def closed_form_hessian(lin) -> torch.Tensor:
    """The input Hessian of the cross-entropy, J^T (diag(p) - p p^T) J (B, D, D), from a linearization
    ([derived]; claim ``hessian-gauss-newton``; x in the interior of its region; independent of y).

    >>> m = NetSpec("mlp", (3,), (5,), 4, "leaky", 0.1, True, 0).build()
    >>> x = torch.randn(2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> H = closed_form_hessian(linearize(m, x))
    >>> ref = _hessian_ref(m, x, torch.tensor([0, 3]))
    >>> bool(torch.allclose(H, ref, atol=1e-12))
    True
    """
    J = lin.jacobian
    p = torch.softmax(lin.logits, dim=1)
    S = torch.diag_embed(p) - p.unsqueeze(2) * p.unsqueeze(1)
    return J.transpose(1, 2) @ (S @ J)


def _jacrev(model, x):
    f = lambda xx: model(xx.unsqueeze(0))[0]
    return torch.func.vmap(torch.func.jacrev(f))(x)


def _hessian_ref(model, x, y):
    def ce(xx, yy):
        return F.cross_entropy(model(xx.unsqueeze(0)), yy.unsqueeze(0))
    return torch.func.vmap(torch.func.hessian(ce))(x, y)


def run(device, dtype, repeats: int, batch: int, conv_batch: int, hess_batch: int) -> list:
    """The rows of the table: (measure, closed, reference, ratio, goal, unit, better)."""
    gpu = torch.device(device).type == "cuda"
    rows = []
    tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) if gpu else None
    if gpu:  # the reference runs without TF32 too, as linearize does
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        nets = models(device, dtype, batch, conv_batch)
        for name, model, x in nets:
            cf = lambda: linearize(model, x).jacobian
            ref = lambda: _jacrev(model, x)
            agree = agreement(linearize(model, x), ref(), model)
            t_cf, t_ref = time_pair(cf, ref, repeats, device)
            rows.append((f"J time, {name}, B={x.shape[0]}", t_cf, t_ref, t_ref / t_cf, 2.0 if gpu else 1.0,
                         "ms", "speedup", agree))
            full = lambda: _all_bounds(linearize(model, x))
            t_full, t_ref = time_pair(full, ref, repeats, device)
            rows.append((f"  (J + bounds + kink distance), {name}", t_full, t_ref, t_ref / t_full, None, "ms",
                         "speedup", "informational"))
        rows += memory_rows(nets, device)
        rows.append(roofline_row(*nets[0], repeats, device))
        name, model, x = nets[0]
        xh = x[:hess_batch]
        y = torch.arange(xh.shape[0], device=device) % 10
        cf = lambda: closed_form_hessian(linearize(model, xh))
        ref = lambda: _hessian_ref(model, xh, y)
        agree = hessian_agreement(linearize(model, xh), ref(), model)
        t_cf, t_ref = time_pair(cf, ref, repeats, device)
        rows.append((f"Hessian time, {name}, B={xh.shape[0]}", t_cf, t_ref, t_ref / t_cf, 10.0, "ms", "speedup",
                     agree))
    finally:
        if gpu:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    return rows


#: The memory goal of the CNN and ResNet rows: peak memory of the closed-form J at most this fraction of
#: ``torch.func``'s.
MEMORY_GOAL = 0.5

#: The MLP's memory goal in its attainable form: peak memory of the closed-form J at most this many times
#: the bytes of J itself (no method that returns J can go below 1x; the old goal, 0.5x of
#: torch.func's peak, lies below J's own 0.55x).
J_BYTES_GOAL = 1.25


def memory_rows(nets, device) -> list:
    """The memory rows: for the MLP (the first network), the closed form's peak over the bytes of J (goal
    :data:`J_BYTES_GOAL`), with torch.func's peak in the note; for the others, the peak over torch.func's
    (goal :data:`MEMORY_GOAL`), with the floor and the peak over J's bytes in the note."""
    rows = []
    for i, (name, model, x) in enumerate(nets):
        m_cf = peak_memory(lambda: linearize(model, x).jacobian, device)
        m_ref = peak_memory(lambda: _jacrev(model, x), device)
        j_bytes = x.shape[0] * 10 * x[0].numel() * x.element_size()
        if i == 0:
            rows.append((f"J peak memory, {name} (reference column: the bytes of J)", m_cf, j_bytes,
                         m_cf / j_bytes, J_BYTES_GOAL, "MiB", "fraction",
                         f"torch.func's peak {m_ref / 2 ** 20:.1f} MiB = {m_ref / j_bytes:.2f}x the bytes of J; "
                         f"closed form / torch.func {m_cf / m_ref:.2f}x"))
        else:
            rows.append((f"J peak memory, {name}", m_cf, m_ref, m_cf / m_ref, MEMORY_GOAL, "MiB", "fraction",
                         memory_floor_note(j_bytes, m_ref) + f"; peak = {m_cf / j_bytes:.2f}x the bytes of J"))
    return rows


def mlp_jacobian_gemms(model, x) -> list:
    """The matrix products (M, k, N) that :func:`verify.linearize` runs for J of an MLP at x (B examples,
    K logits), pushed back from the output: the forward pass x W_l^T per Linear layer (B, n_in, n_out), then
    the K unit rows through the last layer (K, K, n), then (B K, n_out, n_in) per earlier layer."""
    from verify.numerics.compiled import compile_model

    eng = compile_model(model, tuple(x.shape[1:]), x.dtype, x.device)
    Ws = [n.p["W"] for n in eng.nodes if n.kind == "linear"]
    if len(Ws) + sum(n.kind == "rect" for n in eng.nodes) != len(eng.nodes) - 1:
        raise ValueError("mlp_jacobian_gemms: the model must be an MLP (Linear layers and rectifiers only)")
    B, K = x.shape[0], eng.K
    return ([(B, W.shape[1], W.shape[0]) for W in Ws] + [(K, K, Ws[-1].shape[1])]
            + [(B * K, W.shape[0], W.shape[1]) for W in reversed(Ws[:-1])])


def roofline_row(name, model, x, repeats: int, device) -> tuple:
    """The MLP's roofline: the closed-form J's FLOP/s against bare matrix products of the same shapes
    (:func:`mlp_jacobian_gemms`, on seeded random operands, no masks, biases or checks), timed in turn with
    torch.func's J in the same run. On a leaky MLP both J computations are matmul-bound, so bare / closed form
    (the ratio column, at most about 1) says how close to the machine's matmul speed the closed form runs."""
    gemms = mlp_jacobian_gemms(model, x)
    flops = sum(2 * M * k * N for M, k, N in gemms)
    g = torch.Generator().manual_seed(0)
    ops = [(torch.randn(M, k, generator=g, dtype=torch.float64).to(device=x.device, dtype=x.dtype),
            torch.randn(k, N, generator=g, dtype=torch.float64).to(device=x.device, dtype=x.dtype)) for M, k, N in gemms]
    bare = lambda: [a @ b for a, b in ops]
    t_cf, t_bare, t_ref = time_many([lambda: linearize(model, x).jacobian, bare, lambda: _jacrev(model, x)],
                                    repeats, device)
    rate = lambda t: f"{flops / t / 1e9:.1f} GFLOP/s"
    return (f"J roofline, {name} (reference column: bare matmuls of J's shapes)", t_cf, t_bare, t_bare / t_cf, None,
            "ms", "speedup", f"{flops / 1e9:.2f} GFLOP: closed form {rate(t_cf)}, bare matmuls {rate(t_bare)}, "
                             f"torch.func {rate(t_ref)}")


def memory_floor_note(j_bytes: int, ref_peak: int, goal: float = MEMORY_GOAL) -> str:
    """The floor of the memory ratio: the bytes of J itself (B x K x D entries, which any method that
    returns J must hold) over the reference's peak; says so when that floor is above the goal.

    >>> memory_floor_note(8 * 2**20, 14 * 2**20)
    'J alone 8.0 MiB = 0.57x of reference: the goal is below this floor'
    >>> memory_floor_note(8 * 2**20, 200 * 2**20)
    'J alone 8.0 MiB = 0.04x of reference'
    """
    floor = j_bytes / ref_peak
    note = f"J alone {j_bytes / 2 ** 20:.1f} MiB = {floor:.2f}x of reference"
    return note + (": the goal is below this floor" if floor > goal else "")


def _max_ratio(d: torch.Tensor, b: torch.Tensor) -> float:
    """max d / b over the entries (0 / 0 counts as 0), 0 for none."""
    return (d / b).nan_to_num(nan=0.0, posinf=float("inf")).max().item() if d.numel() else 0.0


def agreement(lin, J_ref: torch.Tensor, model=None) -> str:
    """How closely the reference J agrees with the closed form, against the rounding bound: both are float
    evaluations of the same product of layer matrices at the same pattern, so each is within
    ``lin.jacobian_bound`` of the exact J, and |dJ| <= 2 bound entrywise wherever the float pattern is
    certified exact. That includes the points within rounding of a kink that the re-decision recovers
    (:mod:`verify.numerics.kinks`: the same network in float64, then exactly); the rest (real kinks, where jacrev may
    pick another subgradient, float patterns certified wrong, undecided, points exactly on a kink in float only)
    are counted, not compared. ``model``: the reference's model, whose own float pass under vmap (the one
    jacrev differentiates) is read at the recovered points (:func:`verify.numerics.kinks.confirm_own_pass`)."""
    dec = lin.kinks if model is None else confirm_own_pass(lin, lin.kinks, model, mode="vmap")
    keep = ~dec.on_kink.to(lin.device)
    full = (lin.jacobian.double() - J_ref.reshape(lin.jacobian.shape).double()).abs()
    ratio = _max_ratio(full[keep], 2 * lin.jacobian_bound[keep])
    c = dec.counts()
    dtype = dec.dtype
    doubt = ""
    if c["in_doubt"]:
        doubt = (f"; {c['in_doubt']} within {dtype} rounding of a kink, {c['recovered']} of them recovered "
                 f"({c['float64']} by float64, {c['exact']} exactly) and judged")
        rest = [f"{c[k]} {what}" for k, what in (("kink", "real kink"), ("wrong", f"{dtype} pattern wrong"),
                                                 ("undecided", "undecided"), ("float-tie", "float tie")) if c[k]]
        if rest:
            doubt += f", not judged: {', '.join(rest)} (max |dJ| there {full[~keep].max().item():.1e})"
    if not bool(keep.any()):
        return f"max |dJ|/bound: no point judged of {lin.B}{doubt}"
    return f"max |dJ|/bound = {ratio:.2g} at {int(keep.sum())} of {lin.B} points{doubt}"


def hessian_agreement(lin, H_ref: torch.Tensor, model=None) -> str:
    """As :func:`agreement` for the input Hessian: the closed form J^T S J with its Bounded rounding bound
    (:mod:`verify.numerics.bounds`), and torch.func's Hessian within vjp_err(J, S J) of the exact one (its tangent
    S J e_d is pushed back through the same layer matrices); judged where the pattern is certified."""
    from verify.numerics.bounds import Bounded, softmax, vjp_err
    from verify.regularizers import closed_forms as cf

    J = Bounded(lin.jacobian, lin.jacobian_bound)
    p = softmax(Bounded(lin.logits, lin.logits_bound))
    S = cf.softmax_covariance(p)
    H = cf.hessian(J, p)
    dec = lin.kinks if model is None else confirm_own_pass(lin, lin.kinks, model, mode="vmap")
    keep = ~dec.on_kink.to(lin.device)
    bound = (H.err + vjp_err(J, S @ J))[keep]
    ratio = _max_ratio((H.value.double() - H_ref.reshape(H.value.shape).double()).abs()[keep], bound)
    return f"max |dH|/bound = {ratio:.2g} at {int(keep.sum())} of {lin.B} points"


def _all_bounds(lin):
    return lin.jacobian, lin.jacobian_bound, lin.logits_bound, lin.on_kink, lin.kink_distance


def format_table(rows) -> str:
    """The benchmark's rows as the table it prints."""
    head = ["measure", "closed form", "reference", "ratio", "goal", "PASS/MISS", "note"]
    body = []
    for measure, a, b, ratio, goal, unit, better, note in rows:
        sc = 1e3 if unit == "ms" else 1 / 2 ** 20
        ok = "-" if goal is None else ("PASS" if (ratio >= goal if better == "speedup" else ratio <= goal) else "MISS")
        g = "-" if goal is None else (f">= {goal:g}x" if better == "speedup" else f"<= {goal:g}x")
        body.append([measure, f"{a * sc:.1f} {unit}", f"{b * sc:.1f} {unit}", f"{ratio:.2f}x", g, ok, note])
    w = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(head)]
    line = lambda cells: " | ".join(c.ljust(wi) for c, wi in zip(cells, w))
    return "\n".join([line(head), "-+-".join("-" * wi for wi in w)] + [line(r) for r in body])


def main(argv=None) -> int:
    """``python -m verify.bench``: run the benchmarks (``--training``: the training-step one) and print the
    table; 1 on a missed goal."""
    argv = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(prog="python -m verify.bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Ratios: reference/closed for time, closed/reference for memory.")
    p.add_argument("--device", default=None,
                   help="cpu or cuda (default: cuda when available)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="model and input dtype")
    p.add_argument("--repeats", type=int, default=7, help="timed runs per measure (median reported)")
    p.add_argument("--batch", type=int, default=256, help="MLP batch size (default 256)")
    p.add_argument("--conv-batch", type=int, default=64, help="CNN and ResNet batch size (default 64)")
    p.add_argument("--hessian-batch", type=int, default=32, help="Hessian batch size (default 32)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for both sides (default: torch's; 1 is steadier on a shared machine)")
    p.add_argument("--allow-cudnn", action="store_true",
                   help="CUDA: let linearize use cuDNN convolutions (faster; Winograd/FFT are outside its bounds)")
    p.add_argument("--training", action="store_true",
                   help="run the training-step benchmark instead (python -m verify.bench --training; its options: "
                        "python -m verify.bench --training --help)")
    args = p.parse_args(argv)
    if args.training:
        p.error("--training is read by python -m verify.bench (verify.bench.linearize.main); verify.bench.linearize.main "
                "runs the linearization benchmark only")
    if args.allow_cudnn:
        from verify.numerics import precision as _precision

        _precision.CUDNN_DURING_VERIFICATION = True
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    try:
        device = resolve_device(args.device)
    except DeviceUnavailableError as exc:
        p.error(str(exc))
    dtype = getattr(torch, args.dtype)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"verify.bench: torch {torch.__version__}, {name}, {args.dtype}, {args.repeats} repeats")
    rows = run(device, dtype, args.repeats, args.batch, args.conv_batch, args.hessian_batch)
    print(format_table(rows))
    missed = [r[0] for r in rows if r[4] is not None and
              not (r[3] >= r[4] if r[6] == "speedup" else r[3] <= r[4])]
    print("all goals met" if not missed else f"goals missed: {len(missed)} ({'; '.join(m.strip() for m in missed)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
