"""Check a user's own regularizer implementation against the definition, the derived closed form and
every known peer convention: :func:`check_implementation` -> :class:`ImplementationReport`.

The user's ``fn(model, x, y) -> scalar`` is evaluated on random networks (:mod:`verify.jobs.networks`, inputs
away from kinks). For every convention of :data:`verify.regularizers.CONVENTIONS` the toolkit computes
the batch value as that code does (:mod:`verify.regularizers`), and the same value from the derived
closed form (:mod:`verify.regularizers.closed_forms` on the linearization). The user's value matches a convention
when on every network |user - convention| <= tol, with

    tol = 2 (s sum_i err_i + gamma_{n} s sum_i |R_i|),   n = B D + 8,

where R_i are the per-example values, err_i their a-priori rounding bounds (:mod:`verify.numerics.bounds`, the
same form for any evaluation order, so it bounds the user's computation as well as ours: hence the
factor 2), s the convention's scale, and the gamma_n term the summation over the batch and the few
roundings of the scale (1/B, 1/2, lambda) in whatever order the code applies them. The tolerance is
derived, not tuned; stochastic estimators (Hoffman's random projections) cannot match exactly.

``x`` is passed to ``fn`` as a fresh leaf tensor with ``requires_grad=True`` (double backprop needs it).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import torch

from verify.numerics.bounds import Bounded, gamma, softmax, sq_norm, vjp_err
from verify.regularizers import closed_forms as cf
from verify.regularizers.definitions import unchecked as reg  # the drawn batches are checked and linearized here
from verify.regularizers.names import ALIASES, SUPPORTED, regularizer_id

__all__ = ["check_implementation", "ImplementationReport", "SUPPORTED", "ALIASES", "regularizer_id"]

_B = 5


@dataclass
class ImplementationReport:
    """The outcome: ``matched`` (a convention name, or None), per-convention verdicts, per-network
    details, and a counterexample when nothing matched."""

    regularizer: str
    matched: str | None
    candidates: dict
    details: list = field(default_factory=list)
    counterexample: dict | None = None

    @property
    def self_check(self) -> bool:
        """Whether the toolkit's own two computations of every convention (the definition, and the derived
        closed form on the linearization) agreed within their bounds on every network: if not, the report
        rests on a toolkit error, and says so."""
        return all(c["definition_vs_closed_ok"] for d in self.details for c in d["conventions"].values())

    def __str__(self) -> str:
        head = f"check_implementation({self.regularizer}) on {len(self.details)} networks: "
        if self.matched:
            desc = reg.CONVENTIONS[self.regularizer][self.matched]
            lines = [head + f"MATCHES convention {self.matched!r}: {desc}"]
        else:
            lines = [head + "matches NO known convention"]
            if self.counterexample:
                c = self.counterexample
                lines.append(f"  closest: {c['convention']!r}; departs on network {c['network']} (batch of {c['B']}, "
                             f"x shape {c['x_shape']}, seed {c['seed']}): yours = {c['user']!r}, "
                             f"{c['convention']} = {c['value']!r} (ratio {_ratio(c['ratio'])}, |diff| "
                             f"{c['diff']:.3e} > tol {c['tol']:.3e})")
                if c.get("float32_match"):
                    lines.append(f"  yours agrees with {c['convention']!r} within float32 rounding on every network: "
                                 f"if your code computes in float32, run check_implementation(..., dtype=torch.float32)")
        for name, ok in self.candidates.items():
            lines.append(f"  {'yes' if ok else ' no'}  {name}: {reg.CONVENTIONS[self.regularizer][name]}")
        lines.append("  toolkit self-check (definition vs derived closed form, every convention and network): "
                     + ("agree within their bounds" if self.self_check else
                        "DISAGREE somewhere: this report rests on a toolkit error (see details)"))
        return "\n".join(lines)


def _ratio(r: float) -> str:
    """A ratio near 1 with the digits that tell it from 1 (1 + 1e-6 is not printed as '1')."""
    if math.isfinite(r) and r != 1 and abs(r - 1) < 1e-4:
        return f"1 {'+' if r > 1 else '-'} {abs(r - 1):.3g}"
    return f"{r:.6g}"


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
            if name == "mean":
                out.update(mean=(d, 1 / B, closed), sum=(d, 1.0, closed))
                refs.update({c: reg.curvature(m, x, y, h=h, convention=c) for c in ("mean", "sum")})
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
        raise ValueError(f"unknown regularizer {regularizer!r}; supported: {', '.join(SUPPORTED)}")
    return {c: (float(refs[c]),) + out[c] for c in out}, bool(kinks.any())


def check_implementation(fn, regularizer: str = "R-IG", *, networks: int = 5, seed: int = 0,
                         dtype: torch.dtype = torch.float64, h: float = 3.0, lam: float = 4.0, T: float = 1.0,
                         device: str = "cpu", batch: int = _B) -> ImplementationReport:
    """Which convention does ``fn(model, x, y) -> scalar`` implement for ``regularizer``?

    ``regularizer`` is an id of :data:`SUPPORTED` or a plain name (``input-gradient``, ``jacobian``,
    ``cross-lipschitz``, ``curvature``, ``emr``, ...: :data:`ALIASES`; case, ``-``, ``_`` and spaces do not
    matter). ``h`` and ``lam`` (R-CURE) and ``T`` (R-EMR) must be those ``fn`` uses; ``batch`` is the batch size
    of every drawn batch (at least 2, so that 1/B and 1/B^2 scalings differ). Returns an
    :class:`ImplementationReport`; ``str(report)`` explains it.
    """
    from verify.checkers import make_context
    from verify.jobs.networks import ARCHS, draw_inputs, draw_spec

    regularizer = regularizer_id(regularizer)
    if networks < 1:
        raise ValueError(f"networks must be >= 1, got {networks}")
    if batch < 2:
        raise ValueError(f"batch must be >= 2 (with one example 1/B and 1/B^2 cannot be told apart), got {batch}")
    rng = random.Random(seed)
    details, tries, k = [], 0, 0
    while len(details) < networks and tries < 4 * networks:
        tries += 1
        spec = draw_spec(rng, size="quick", arch=ARCHS[k % len(ARCHS)])
        k += 1
        model = spec.build(dtype=dtype, device=device)
        gen = torch.Generator().manual_seed(spec.seed)
        x, y = draw_inputs(model, spec, batch, generator=gen, near_kink_fraction=0.0)
        ctx = make_context(model, x, y, seed=spec.seed, arch=spec.id, generator=gen)
        convs, on_kink = _per_example(regularizer, ctx, h, lam, T)
        if on_kink:
            continue                                    # the bounds need interior points: draw another
        out = fn(model, x.detach().clone().requires_grad_(True), y)
        if torch.is_tensor(out) and out.numel() != 1:
            raise ValueError(f"check_implementation: fn must return one number, the batch penalty, as training adds "
                             f"it to the loss; it returned a tensor of shape {tuple(out.shape)} for a batch of "
                             f"{ctx.B} (reduce it as your training code does, e.g. .mean() or .sum())")
        user = float(out.detach()) if torch.is_tensor(out) else float(out)
        n = ctx.B * ctx.D + 8
        row = {"network": spec.id, "seed": spec.seed, "B": ctx.B, "x_shape": list(x.shape), "user": user, "conventions": {}}
        for c, (ref, per, s, closed) in convs.items():
            tol = 2 * (s * float(per.err.sum()) + gamma(n, per.u) * s * float(per.abs64.sum()))
            # the same bound for a user's code that computes in float32 (rounding scales with u): a hint only
            tol32 = tol * max(1.0, 2.0 ** -24 / per.u)
            closed_v = s * float(closed.value.double().sum())
            row["conventions"][c] = {"value": ref, "tol": tol, "closed_form": closed_v,
                                     "diff": abs(user - ref), "match": abs(user - ref) <= tol,
                                     "match_float32": abs(user - ref) <= tol32,
                                     "definition_vs_closed_ok": abs(ref - closed_v) <= tol
                                     + 2 * s * float(closed.err.sum())}
        details.append(row)
    if not details:
        raise RuntimeError("check_implementation: every drawn batch touched a kink; try another seed")
    names = list(details[0]["conventions"])
    cand = {c: all(d["conventions"][c]["match"] for d in details) for c in names}
    prefer = [c for c in names if c not in ("mean", "sum")] + ["mean", "sum"]
    matched = next((c for c in prefer if cand[c]), None)
    counter = None
    if matched is None:
        def score(c):
            return sum(d["conventions"][c]["match"] for d in details), -max(
                abs(math.log(abs(d["user"] / d["conventions"][c]["value"]))) if d["user"] and d["conventions"][c]["value"]
                else math.inf for d in details)
        best = max(names, key=score)
        d = next(r for r in details if not r["conventions"][best]["match"])
        cv = d["conventions"][best]
        counter = {"convention": best, "network": d["network"], "seed": d["seed"], "B": d["B"], "x_shape": d["x_shape"],
                   "user": d["user"], "value": cv["value"], "diff": cv["diff"], "tol": cv["tol"],
                   "ratio": d["user"] / cv["value"] if cv["value"] else math.inf,
                   "float32_match": all(r["conventions"][best]["match_float32"] for r in details)}
    return ImplementationReport(regularizer, matched, cand, details, counter)
