"""Check a user's own regularizer implementation against the definition, the derived closed form and
every known peer convention: :func:`check_implementation` -> :class:`ImplementationReport`.

The user's ``fn(model, x, y) -> scalar`` is evaluated on random networks (:mod:`verify.jobs.networks`, inputs
away from kinks; the batch size alternates between the sizes of ``batch``, 5 and 7 by default, and K varies
with the network) or on the user's own ``model`` and batch. For every convention of
:data:`verify.regularizers.CONVENTIONS` the toolkit computes the batch value as that code does
(:mod:`verify.regularizers`), and the same value from the derived closed form
(:mod:`verify.regularizers.closed_forms` on the linearization). The user's value matches a convention
when on every batch |user - convention| <= tol, with

    tol = 2 (s sum_i err_i + gamma_{n} s sum_i |R_i|),   n = B D + 8,

where R_i are the per-example values, err_i their a-priori rounding bounds (:mod:`verify.numerics.bounds`, the
same form for any evaluation order, so it bounds the user's computation as well as ours: hence the
factor 2), s the convention's scale, and the gamma_n term the summation over the batch and the few
roundings of the scale (1/B, 1/2, lambda) in whatever order the code applies them. The tolerance is
derived, not tuned; stochastic estimators (Hoffman's random projections) cannot match exactly. When
nothing matches, the report looks for a convention times a simple factor (1/2, 2, B, 1/B, K, 1/K, lambda,
and products of two: :mod:`verify.regularizers.diagnosis`), which must fit every batch, B and K varying.

**The weight rule (R-CURE).** ``lam`` is the weight your ``fn`` multiplies its penalty by (default 1: an
unweighted penalty). Every convention is compared as ``lam`` times its unweighted batch value: mean is
lam (1/B) sum_i R_i, sum is lam sum_i R_i, cure-pytorch is (lam/B^2) sum_i ||grad L(x_i + h z_i) - grad L(x_i)||.
The published CURE code multiplies by its own lambda = 4: for a copy of it pass ``lam=4`` (left at 1, the
report says its ratio is the constant 4 and to pass lam=4).

``x`` is passed to ``fn`` as a fresh leaf tensor with ``requires_grad=True`` (double backprop needs it).

>>> import torch, torch.nn.functional as F
>>> def jacobian_penalty(model, x, y):          # Hoffman et al.'s 1/2 mean_i ||J_i||_F^2, with its 1/2 forgotten
...     f = model(x)
...     rows = [torch.autograd.grad(f[:, k].sum(), x, create_graph=True)[0] for k in range(f.shape[1])]
...     return sum(r.pow(2).sum() for r in rows) / x.shape[0]
>>> rep = check_implementation(jacobian_penalty, "jacobian", convention="hoffman", networks=2)
>>> rep.ok, rep.matched
(False, 'mean')
>>> for line in str(rep).splitlines()[1:3]:
...     print(line)
  yours MATCHES convention 'mean' instead: (1/B) sum_i R_i
  that is 'hoffman' times 2: a factor 1/2 missing?
>>> twice = check_implementation(lambda m, x, y: jacobian_penalty(m, x, y) / x.shape[0], "R-JAC", networks=2)
>>> twice.matched, twice.factor["convention"], twice.factor["factor"]
(None, 'mean', '1/B')
"""

from __future__ import annotations

import random

import torch

from verify.errors import KinkError, ShapeError, UnknownNameError, VerifyError, check_labels
from verify.numerics.bounds import Bounded, gamma, softmax, sq_norm, vjp_err
from verify.regularizers import closed_forms as cf
from verify.regularizers.definitions import CONVENTIONS
from verify.regularizers.definitions import unchecked as reg  # the drawn batches are checked and linearized here
from verify.regularizers.diagnosis import ImplementationReport, conclude
from verify.regularizers.names import ALIASES, SUPPORTED, regularizer_id

__all__ = ["check_implementation", "ImplementationReport", "ImplementationArgumentError", "ImplementationTypeError",
           "SUPPORTED", "ALIASES", "regularizer_id"]

#: The default batch sizes of the random networks, alternating (two sizes, so that factors in B are identified).
BATCH = (5, 7)


class ImplementationArgumentError(VerifyError, ValueError):
    """An argument of :func:`check_implementation` with a wrong value (or a missing companion argument)."""


class ImplementationTypeError(VerifyError, TypeError):
    """An argument of :func:`check_implementation` of the wrong type."""


def _per_example(regularizer, ctx, h, lam, T):
    """Per-example definition values (Bounded) and closed-form values for the conventions of one
    regularizer: {convention: (reference batch value, Bounded per-example, scale, closed-form per-example)}."""
    from verify.numerics.linearize import linearize

    B, K, m, x, y = ctx.B, ctx.K, ctx.model, ctx.x, ctx.y
    out, kinks = {}, ctx.lin.on_kink.clone()
    if regularizer == "R-IG":
        per = sq_norm(ctx.g_def, -1)
        closed = sq_norm(cf.input_gradient(ctx.J, ctx.p, y), -1)
        out.update(mean=(per, 1 / B, closed), sum=(per, 1.0, closed),
                   **{"ross-doshi-velez": (per, 1 / (2 * B * B), closed)})
        v = 1 - K * ctx.p                                           # grad sum_k log p_k = J^T (1 - K p)
        g = reg.input_gradient(m, x, y, convention="dtak-rrr")
        xl = x.detach().clone().requires_grad_(True)
        gd = torch.autograd.grad(torch.log_softmax(m(xl), 1).sum(), xl)[0].reshape(B, -1)
        dt = sq_norm(Bounded(gd, vjp_err(ctx.J, v)), -1)
        out["dtak-rrr"] = (dt, 1.0, sq_norm((ctx.J.mT @ v.unsqueeze(-1)).squeeze(-1), -1))
        refs = {c: reg.input_gradient(m, x, y, convention=c) for c in out if c != "dtak-rrr"}
        refs["dtak-rrr"] = g
    elif regularizer == "R-JAC":
        per, closed = cf.jacobian_norm(ctx.J_def), cf.jacobian_norm(ctx.J)
        out.update(mean=(per, 1 / B, closed), sum=(per, 1.0, closed), hoffman=(per, 0.5 / B, closed))
        refs = {c: reg.jacobian(m, x, convention=c) for c in out}
    elif regularizer == "R-CL":
        per, closed = cf.cross_lipschitz_pairwise(ctx.J_def), cf.cross_lipschitz_centered(ctx.J)
        out.update(mean=(per, 1 / B, closed), sum=(per, 1.0, closed),
                   **{"hein-andriushchenko": (per, 1 / (K * K * B), closed)})
        refs = {c: reg.cross_lipschitz(m, x, convention=c) for c in out}
    elif regularizer == "R-CURE":
        refs = {}
        for name, z in (("mean", ctx.z), ("cure-pytorch", reg.cure_direction(ctx.g_def.value.reshape(x.shape), eps=1e-7))):
            x2 = x + h * z
            lin2 = linearize(m, x2)
            kinks |= lin2.on_kink
            J2, p2 = Bounded(lin2.jacobian, lin2.jacobian_bound), softmax(Bounded(lin2.logits, lin2.logits_bound))
            g1 = ctx.grad_def(y, J2, p2, x=x2)
            d = sq_norm(g1 - ctx.g_def, -1)
            ins, chg = cf.cure_decomposition(ctx.J, ctx.p, J2, p2, y)
            closed = sq_norm(ins + chg, -1)
            if name == "mean":                          # every convention weighted by lam (the module docstring)
                out.update(mean=(d, lam / B, closed), sum=(d, lam, closed))
                refs.update({c: lam * reg.curvature(m, x, y, h=h, convention=c) for c in ("mean", "sum")})
            else:
                out[name] = (d.sqrt(), lam / (B * B), closed.sqrt())
                refs[name] = reg.curvature(m, x, y, h=h, convention=name, lam=lam)
    elif regularizer == "R-EMR":
        pt = softmax(ctx.f_def * (1.0 / T))
        per = sq_norm(Bounded(ctx.emr_grad(T), vjp_err(ctx.J, pt)), -1)
        closed = cf.emr(ctx.J, softmax(ctx.f * (1.0 / T)))
        out.update(mean=(per, 1 / B, closed), sum=(per, 1.0, closed), **{"emr-official": (per, 1 / (B * B), closed)})
        refs = {c: reg.emr(m, x, T=T, convention=c) for c in out}
    else:
        raise UnknownNameError(f"unknown regularizer {regularizer!r}; supported: {', '.join(SUPPORTED)}")
    return {c: (float(refs[c]),) + out[c] for c in out}, kinks.cpu()


def _row(fn, regularizer, ctx, label, seed, convs, who):
    """One batch: the user's value against every convention (the tolerance of the module docstring)."""
    out = fn(ctx.model, ctx.x.detach().clone().requires_grad_(True), ctx.y)
    if torch.is_tensor(out) and out.numel() != 1:
        raise ImplementationArgumentError(
            f"{who}: fn must return one number, the batch penalty, as training adds it to the loss; it returned a "
            f"tensor of shape {tuple(out.shape)} for a batch of {ctx.B} (reduce it as your training code does, e.g. "
            f".mean() or .sum())")
    user = float(out.detach()) if torch.is_tensor(out) else float(out)
    n = ctx.B * ctx.D + 8
    row = {"network": label, "seed": seed, "B": ctx.B, "K": ctx.K, "u": ctx.u, "x_shape": list(ctx.x.shape),
           "user": user, "conventions": {}}
    for c, (ref, per, s, closed) in convs.items():
        tol = 2 * (s * float(per.err.sum()) + gamma(n, per.u) * s * float(per.abs64.sum()))
        # the same bound for a user's code that computes in float32 (rounding scales with u): a hint only
        tol32 = tol * max(1.0, 2.0 ** -24 / per.u)
        closed_v = s * float(closed.value.double().sum())
        row["conventions"][c] = {"value": ref, "tol": tol, "closed_form": closed_v, "diff": abs(user - ref),
                                 "match": abs(user - ref) <= tol, "match_float32": abs(user - ref) <= tol32,
                                 "definition_vs_closed_ok": abs(ref - closed_v) <= tol + 2 * s * float(closed.err.sum())}
    return row


def _user_batches(model, x, y, seed, who):
    """The user's batch, checked, as [(label, x, y)]: all of it and its first half (so that B varies)."""
    from verify.numerics.compiled import compile_model
    from verify.numerics.linearize import require_classes, validate_input
    from verify.numerics.precision import precision_guard

    if not isinstance(model, torch.nn.Module):
        raise ImplementationTypeError(f"{who}: model must be a torch nn.Module, got {type(model).__name__}")
    if x is None:
        raise ImplementationArgumentError(f"{who}: model= needs x=, a batch of its inputs (B, *in_shape), B >= 2")
    if not isinstance(x, torch.Tensor):
        raise ImplementationTypeError(f"{who}: x must be a torch Tensor of shape (B, *in_shape), got "
                                      f"{type(x).__name__}")
    validate_input(model, x, who=who)
    if x.shape[0] < 2:
        raise ShapeError(f"{who}: x must hold at least 2 examples (with one, 1/B and 1/B^2 cannot be told apart), "
                         f"got shape {tuple(x.shape)}")
    with precision_guard(x.device):
        K = compile_model(model, tuple(x.shape[1:]), x.dtype, x.device).K
    require_classes(K, who)
    if y is None:
        y = torch.randint(0, K, (x.shape[0],), generator=torch.Generator().manual_seed(seed)).to(x.device)
    else:
        y = check_labels(y, x.shape[0], K, device=x.device, who=who)
    x = x.detach()
    half = (x.shape[0] + 1) // 2
    out = [("your model", x, y)]
    if 2 <= half < x.shape[0]:
        out.append((f"your model, first {half} examples", x[:half], y[:half]))
    return out


def check_implementation(fn, regularizer: str = "R-IG", *, networks: int = 5, seed: int = 0,
                         dtype: torch.dtype = torch.float64, h: float = 3.0, lam: float = 1.0, T: float = 1.0,
                         device: str = "cpu", batch=BATCH, convention: str | None = None, model=None, x=None,
                         y=None) -> ImplementationReport:
    """Which convention does ``fn(model, x, y) -> scalar`` implement for ``regularizer``?

    ``regularizer`` is an id of :data:`SUPPORTED` or a plain name (``input-gradient``, ``jacobian``,
    ``cross-lipschitz``, ``curvature``, ``emr``, ...: :data:`ALIASES`; case, ``-``, ``_`` and spaces do not
    matter); the report names it by its id. ``convention``: the convention you meant (one of
    ``CONVENTIONS[id]``); the report then says whether yours is that one, and if it is another (or one times a
    simple factor) says so. ``h`` (R-CURE) and ``T`` (R-EMR) must be those ``fn`` uses; ``lam`` is the weight
    ``fn`` multiplies its penalty by (R-CURE; default 1, an unweighted penalty: the weight rule of the module
    docstring). ``batch``: the batch size of the random networks, or several, used in turn (default 5 and 7:
    with one size, a factor 1/B cannot be told from a constant).

    ``model`` (with ``x``, and ``y`` or random labels drawn from ``seed``): check on your own model and batch
    *instead of* random networks (your ``fn`` may be written for that model only), on the whole batch and on
    its first half, so that B varies; ``networks``, ``dtype``, ``device`` and ``batch`` are then not used, and
    examples that lie on a kink are left out. Bad arguments raise errors of :class:`verify.errors.VerifyError`.
    Returns an :class:`ImplementationReport`; ``str(report)`` explains it.
    """
    from verify.checkers import make_context
    from verify.jobs.networks import ARCHS, draw_inputs, draw_spec

    regularizer = regularizer_id(regularizer)
    who = f"check_implementation({regularizer})"
    if convention is not None and convention not in CONVENTIONS[regularizer]:
        raise UnknownNameError(f"{who}: unknown convention {convention!r}; known conventions of {regularizer}: "
                               f"{', '.join(CONVENTIONS[regularizer])}")
    if not (isinstance(lam, (int, float)) and lam > 0 and lam == lam and lam != float("inf")):
        raise ImplementationArgumentError(f"{who}: lam must be a positive finite number, got {lam!r}")
    if (x is not None or y is not None) and model is None:
        raise ImplementationArgumentError(f"{who}: x= and y= are a batch of your model: pass model= too")
    if y is not None and x is None:
        raise ImplementationArgumentError(f"{who}: y= needs x=, the batch it labels")
    details = []
    if model is not None:
        for label, xb, yb in _user_batches(model, x, y, seed, who):
            ctx = make_context(model, xb, yb, seed=seed, arch="user")
            convs, kinks = _per_example(regularizer, ctx, h, lam, T)
            if bool(kinks.any()):                       # the bounds need interior points: leave those out
                keep = (~kinks).nonzero().flatten().to(xb.device)
                if len(keep) < 2:
                    raise KinkError(f"{who}: {int(kinks.sum())} of {xb.shape[0]} examples of {label} lie on a kink "
                                    f"(or their CURE step does); fewer than 2 are left to check")
                label += f", {int(kinks.sum())} examples on a kink left out"
                ctx = make_context(model, xb[keep], yb[keep], seed=seed, arch="user")
                convs, kinks = _per_example(regularizer, ctx, h, lam, T)
                if bool(kinks.any()):
                    raise KinkError(f"{who}: the batch of {label} still touches a kink")
            details.append(_row(fn, regularizer, ctx, label, seed, convs, who))
        return conclude(regularizer, details, convention=convention, lam=lam, h=h, source="your model")
    sizes = (batch,) if isinstance(batch, int) else tuple(batch)
    if networks < 1:
        raise ImplementationArgumentError(f"networks must be >= 1, got {networks}")
    if not sizes or any(not isinstance(b, int) or b < 2 for b in sizes):
        raise ImplementationArgumentError(f"batch must be >= 2 (with one example 1/B and 1/B^2 cannot be told "
                                          f"apart), or several such sizes, got {batch}")
    rng = random.Random(seed)
    tries, k = 0, 0
    while len(details) < networks and tries < 4 * networks:
        tries += 1
        spec = draw_spec(rng, size="quick", arch=ARCHS[k % len(ARCHS)])
        k += 1
        net = spec.build(dtype=dtype, device=device)
        gen = torch.Generator().manual_seed(spec.seed)
        xb, yb = draw_inputs(net, spec, sizes[len(details) % len(sizes)], generator=gen, near_kink_fraction=0.0)
        ctx = make_context(net, xb, yb, seed=spec.seed, arch=spec.id, generator=gen)
        convs, kinks = _per_example(regularizer, ctx, h, lam, T)
        if bool(kinks.any()):
            continue                                    # the bounds need interior points: draw another
        details.append(_row(fn, regularizer, ctx, spec.id, spec.seed, convs, who))
    if not details:
        raise KinkError(f"{who}: every drawn batch touched a kink; try another seed")
    return conclude(regularizer, details, convention=convention, lam=lam, h=h)
