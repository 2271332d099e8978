"""Check an identity of one's own: :func:`check_identity` compares a definition (autograd on the model) with a
closed form (the linearization at x) point by point, as the claim checkers do, and returns a
:class:`~verify.results.report.CheckReport`.

- ``lhs(model, x, y)``: the definition, computed by autograd on the model: a per-example tensor of shape
  ``(B,)`` or ``(B, ...)``, or a :class:`~verify.numerics.bounds.Bounded` (the value and a rigorous bound of
  its rounding). To bound autograd's rounding ``lhs`` needs the linearization: give it a parameter named
  ``lin`` and it is passed the same :class:`IdentityContext` as ``rhs`` (``lin.grad_bound(y)`` bounds
  autograd's cross-entropy gradient, ``lin.vjp_err(seed)`` any backprop of a seed).
- ``rhs(lin, y)``: the closed form, from ``lin``, an :class:`IdentityContext`: the linearization of the model
  at x with its pieces as Bounded values: ``lin.J`` (B, K, D), ``lin.b`` and ``lin.f`` (logits) (B, K),
  ``lin.p = softmax(f)``, ``lin.onehot(y)`` (e_y, exact), ``lin.xf`` (x flattened, (B, D)), ``lin.pattern``,
  and the raw :class:`~verify.numerics.linearization.Linearization` as ``lin.lin``. Arithmetic on Bounded
  values (``+ - * / @``, ``.sum``, ``.mT``, :func:`~verify.numerics.bounds.sq_norm`, ...) carries the bound.

How the two sides are judged:

- **bound-backed** (``rhs`` returns a Bounded): ``|lhs - rhs| <= bound(rhs) + bound(lhs)`` at every entry (the
  lhs bound is 0 when ``lhs`` returns a plain tensor: then its own rounding is not covered, and the report
  says so), in the model's dtype and, for a float32 (or narrower) model, in float64 too (the same network:
  its weights convert exactly);
- **agreement, not bound-backed** (``rhs`` returns a plain tensor): ``lhs`` is evaluated in float64 (the
  model converted with ``copy.deepcopy(model).double()``, the same points) and ``rhs`` on the **exact rational
  network** at the same points (:func:`theory.linearize`: J, b and the logits as rationals, each rounded once to
  the nearest float64), and both sides again in the model's dtype. (Where the model cannot be converted
  exactly, ``rhs`` is evaluated on the float64 linearization instead, and the Gap's ``extra["rhs_from"]`` says
  which.) The float64 difference is judged against a tolerance ``max(2^10 (u_64 / u) d, 2^20 u_64 s)`` per entry, ``d``
  the model-dtype difference |lhs - rhs| of that entry (u its unit roundoff; for a float64 model this term
  is left out) and ``s`` the point's scale max(|lhs|, |rhs|) over its entries: rounding shrinks with the
  precision, a wrong closed form does not. The claim is named ``"<name> [agreement, not bound-backed]"`` and
  its Gaps carry ``extra["bound_backed"] = False``; the model-dtype values are a measurement beside it.

Points on a kink (``lin.on_kink``: the float pattern is not certified) are not judged: they are counted as
kinks in every Gap (in the agreement path, a point on a kink in either dtype). A failing Gap's diagnosis
shows the two sides as ``lhs=... != rhs=...``.

>>> import torch
>>> from verify.numerics.bounds import Bounded, sq_norm
>>> def grad_sq(model, x, y, lin):                     # ||grad_x CE||^2 by autograd, with backprop's bound
...     xl = x.clone().requires_grad_(True)
...     loss = torch.nn.functional.cross_entropy(model(xl), y, reduction="sum")
...     g = torch.autograd.grad(loss, xl)[0].reshape(len(x), -1)
...     return sq_norm(Bounded(g, lin.grad_bound(y)))
>>> def gram_form(lin, y):                             # (e_y - p)^T J J^T (e_y - p)
...     r = (lin.onehot(y) - lin.p).unsqueeze(-1)
...     return (r.mT @ lin.J @ lin.J.mT @ r).reshape(-1)
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).double()
>>> report = check_identity(grad_sq, gram_form, model, torch.randn(6, 4, dtype=torch.float64),
...                         name="grad-CE-squared")
>>> report.ok, [r.status for r in report.summary()], report.gaps[0].extra["bound_backed"]
(True, ['HOLDS'], True)
"""

from __future__ import annotations

import copy
import inspect
import time

import torch

import theory
from verify.checkers.common import CheckContext, f64
from verify.errors import ShapeError, VerifyError, check_labels
from verify.numerics.bounds import Bounded, onehot, unit_roundoff, vjp_err, worst_entry
from verify.numerics.kinks import combine_codes
from verify.numerics.linearize import linearize, model_logits, validate_input
from verify.numerics.precision import precision_guard
from verify.results.gap import Gap
from verify.results.provenance import precision_flags, run_facts
from verify.results.records import network_record
from verify.results.report import CheckReport

__all__ = ["check_identity", "IdentityContext", "IdentityGap", "IdentityArgumentError", "AGREEMENT"]

#: The label of a claim judged by agreement across precisions (no bound derived).
AGREEMENT = "[agreement, not bound-backed]"
_U64 = 2.0 ** -53


class IdentityArgumentError(VerifyError, TypeError):
    """An argument of :func:`check_identity` that is not what it takes: a side that is not callable, or one
    that returns something other than a tensor or a Bounded."""


class IdentityGap(Gap):
    """A :class:`~verify.results.gap.Gap` whose diagnosis writes a failing identity as ``lhs=a != rhs=b``
    (the base class writes ``==`` whatever the verdict)."""

    def diagnosis(self) -> str:
        text = super().diagnosis()
        if self.kind != "identity" or not self.failures:
            return text
        head, sep, tail = text.partition("; worst point ")
        return head + sep + tail.replace(" == rhs=", " != rhs=", 1)

    __str__ = diagnosis


class IdentityContext(CheckContext):
    """What ``rhs`` (and an ``lhs`` with a ``lin`` parameter) receives: a
    :class:`~verify.checkers.common.CheckContext` (``J``, ``b``, ``f``, ``p`` as Bounded, ``xf``, ``y``, ``lin``,
    ``B``, ``K``, ``D``) with the helpers an identity needs."""

    @property
    def pattern(self) -> dict:
        """The activation pattern at x (layer name -> (B, n)), as :attr:`Linearization.pattern`."""
        return self.lin.pattern

    def onehot(self, y: torch.Tensor | None = None) -> Bounded:
        """e_y (B, K) in the model's dtype, exact (default y: the labels of the check)."""
        return Bounded(onehot(self.y if y is None else y, self.K, self.lin.logits))

    def vjp_err(self, seed: Bounded) -> torch.Tensor:
        """The bound of autograd's J^T seed (backprop of ``seed`` (B, K) through the model), float64 (B, D)."""
        return vjp_err(self.J, seed)

    def grad_bound(self, y: torch.Tensor | None = None) -> torch.Tensor:
        """The bound of autograd's grad_x CE(f(x), y) = J^T (p - e_y), float64 (B, D)."""
        return vjp_err(self.J, self.p - self.onehot(y))


def _callable(side, what: str):
    if not callable(side):
        raise IdentityArgumentError(f"check_identity: {what} must be callable ({'lhs(model, x, y)' if what == 'lhs' else 'rhs(lin, y)'}),"
                                    f" got {type(side).__name__}")


def _name(fn) -> str:
    n = getattr(fn, "__name__", "")
    return n if n and n != "<lambda>" else ""


def _evaluate(side, what: str, args: tuple, kwargs: dict, B: int):
    with torch.enable_grad():
        out = side(*args, **kwargs)
    if isinstance(out, Bounded):
        out = Bounded(out.value.detach(), out.err, out.u)
    elif isinstance(out, torch.Tensor):
        out = out.detach()
    else:
        raise IdentityArgumentError(f"check_identity: {what} must return a tensor of shape (B,) or (B, ...) with "
                                    f"B = {B}, or a Bounded; got {type(out).__name__}")
    shape = tuple(out.shape)
    if not shape or shape[0] != B:
        raise ShapeError(f"check_identity: {what} returned shape {shape}; expected one value (or array) per "
                         f"example, shape ({B},) or ({B}, ...)")
    return out


def _sides(lhs, rhs, model, x, y, *, seed: int, arch: str):
    """The context and both sides at (model, x) in the model's dtype."""
    with precision_guard(x.device):
        lin = linearize(model, x)
        ctx = IdentityContext(model, x.detach(), y.to(x.device), lin, seed, arch, x.dtype, x.device)
        kw = {"lin": ctx} if "lin" in _params(lhs) else {}
        L = _evaluate(lhs, "lhs", (model, ctx.x, ctx.y), kw, ctx.B)
        R = _evaluate(rhs, "rhs", (ctx, ctx.y), {}, ctx.B)
    if tuple(L.shape) != tuple(R.shape):
        raise ShapeError(f"check_identity: lhs returned shape {tuple(L.shape)} but rhs returned shape "
                         f"{tuple(R.shape)}; the two sides must have the same shape")
    return ctx, L, R


def _params(fn) -> set:
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()


def _value(t) -> torch.Tensor:
    return f64(t.value if isinstance(t, Bounded) else t)


def _as_identity(g: Gap) -> IdentityGap:
    return IdentityGap.from_dict(g.to_dict())


class _ExactContext(IdentityContext):
    """An :class:`IdentityContext` whose J, b, f are the exact rational linearization's, rounded once to float64
    (their bound: half an ulp of each entry); p is the softmax of those logits, with its bound."""

    def __init__(self, base: IdentityContext, J: torch.Tensor, b: torch.Tensor, f: torch.Tensor):
        super().__init__(base.model, base.x, base.y, base.lin, base.seed, base.arch, base.dtype, base.device)
        half_ulp = lambda t: t.abs() * _U64                                  # noqa: E731  (round to nearest)
        self.__dict__.update(J=Bounded(J, half_ulp(J)), f=Bounded(f, half_ulp(f)))
        self.__dict__["b"] = Bounded(b, half_ulp(b))


def _exact_context(ctx64: IdentityContext):
    """The exact rational linearization of ctx64's float64 model at its points (None when the model cannot be
    converted exactly). A point on a kink keeps its float64 pieces: it is not judged."""
    try:
        net = theory.from_torch(ctx64.model, tuple(ctx64.x.shape[1:]))      # converted once, exactly
    except theory.TheoryError:
        return None                                  # a model outside the exact converter
    J = ctx64.lin.jacobian.detach().clone()
    f = ctx64.lin.logits.detach().clone()
    b = ctx64.lin.bias.detach().clone()
    on_kink = ctx64.on_kink
    for i in range(ctx64.B):
        if bool(on_kink[i]):
            continue
        try:
            r = theory.linearize(net, ctx64.x[i].cpu().numpy())
        except theory.KinkError:
            continue                                 # a tie the float decision missed: keep float64, counted
        J[i] = torch.tensor([[float(v) for v in row] for row in r.jacobian.tolist()], dtype=torch.float64)
        b[i] = torch.tensor([float(v) for v in r.bias], dtype=torch.float64)
        f[i] = torch.tensor([float(v) for v in r.logits], dtype=torch.float64)
    return _ExactContext(ctx64, J.to(ctx64.device), b.to(ctx64.device), f.to(ctx64.device))


def _agreement(ctx64, L64, R64, lo, claim: str, check: str, rhs_from: str) -> list:
    """The float64 lhs and the exact-network rhs (``R64``) judged against the precision-scaled tolerance
    (module docstring); ``lo`` is the model-dtype (ctx, lhs, rhs), or None for a float64 model."""
    l64, r64 = _value(L64).reshape(ctx64.B, -1), _value(R64).reshape(ctx64.B, -1)
    s = torch.maximum(l64.abs(), r64.abs()).amax(-1)
    tol = (2.0 ** 20 * _U64 * s).unsqueeze(-1).expand(l64.shape)
    codes, gaps, how = list(ctx64.kink_codes), [], "2^20 u_64 s"
    if lo is not None:
        ctx, L, R = lo
        u = unit_roundoff(ctx.dtype)
        d = (_value(L) - _value(R)).abs().reshape(ctx.B, -1).to(l64.device)
        tol = torch.maximum(tol, 2.0 ** 10 * (_U64 / u) * d)
        codes = combine_codes(codes, ctx.kink_codes)
        how = f"max(2^10 (u_64 / u_{ctx.dtype}) |lhs - rhs|_{ctx.dtype}, 2^20 u_64 s)"
    l, r, bd = worst_entry(Bounded(l64, tol), Bounded(r64))
    extra = {"bound_backed": False, "method": "agreement", "tolerance": how, "scale": "s = max(|lhs|, |rhs|)",
             "rhs_from": rhs_from}
    g = ctx64.gap(claim, f"{check} (float64, judged against the rounding seen)", "identity", l, r, bd,
                  kinks=codes, scale=s, extra=extra)
    gaps.append(("float64", ctx64, _as_identity(g)))
    if lo is not None:
        ctx, L, R = lo
        lv, rv, _ = worst_entry(Bounded(_value(L).reshape(ctx.B, -1)), Bounded(_value(R).reshape(ctx.B, -1)))
        m = ctx.gap(claim, f"{check} ({str(ctx.dtype).replace('torch.', '')} values)", "measurement", lv, rv,
                    torch.zeros(ctx.B), kinks=codes, extra=dict(extra, role="the model dtype's rounding scale"))
        gaps.insert(0, (str(ctx.dtype).replace("torch.", ""), ctx, _as_identity(m)))
    return gaps


def check_identity(lhs, rhs, model, x, y=None, *, name: str | None = None, seed: int = 0) -> CheckReport:
    """Check ``lhs(model, x, y) = rhs(lin, y)`` at every example of ``x`` (B, *input shape) with labels ``y``
    (default: the model's predictions); return a :class:`~verify.results.report.CheckReport` (``.ok``,
    ``.table()``, ``.text()``, ``.records``, ``.gaps``, ``.save(path)``).

    ``lhs`` and ``rhs`` as in the module docstring: ``lhs(model, x, y)`` (or ``lhs(model, x, y, lin)``, given
    ``lin`` by keyword) the definition by autograd, ``rhs(lin, y)`` the closed form from the
    :class:`IdentityContext` ``lin``; both return (B,) or (B, ...) of the same shape, a tensor or a Bounded.
    A Bounded ``rhs`` makes the check bound-backed; a plain one is judged by agreement across float64 and the
    model's dtype, and labelled so. ``name`` names the identity (the claim id of its Gaps; default from the
    functions' names), ``seed`` is recorded.

    Raises :class:`IdentityArgumentError` (a VerifyError and TypeError) for a side that is not callable or
    returns neither a tensor nor a Bounded, :class:`~verify.errors.ShapeError` when the sides' shapes differ or
    are not per example, :class:`~verify.errors.LabelError` for bad labels, and the errors of
    :func:`verify.linearize` for a model outside the theory or inputs that do not fit it.
    """
    _callable(lhs, "lhs")
    _callable(rhs, "rhs")
    validate_input(model, x, who="check_identity")
    t0 = time.perf_counter()
    claim = name or (f"{_name(lhs)} = {_name(rhs)}" if _name(lhs) and _name(rhs) else "user-identity")
    arch = type(model).__name__
    f = model_logits(model, x, who="check_identity")
    y = f.argmax(-1) if y is None else check_labels(y, x.shape[0], f.shape[1], who="check_identity")
    ctx, L, R = _sides(lhs, rhs, model, x, y, seed=seed, arch=arch)
    wide = None
    if x.dtype != torch.float64:
        wide = _sides(lhs, rhs, copy.deepcopy(model).double(), x.double(), y, seed=seed, arch=arch)
    notes, said = [], []
    if isinstance(R, Bounded):
        runs = [(ctx, L, R)] + ([wide] if wide is not None else [])
        gaps = []
        for c, lv, rv in runs:
            backed = isinstance(lv, Bounded)
            g = c.gap(claim, "lhs = rhs" if backed else "lhs = rhs (lhs rounding not bounded)", "identity", lv, rv,
                      extra={"bound_backed": True, "lhs_bound": backed})
            gaps.append((str(c.dtype).replace("torch.", ""), c, _as_identity(g)))
        if not isinstance(L, Bounded):
            said.append(f"note: [{claim}] lhs returned a plain tensor: the bound covers only rhs's rounding; return "
                        f"a Bounded (lhs(model, x, y, lin) with lin.grad_bound or lin.vjp_err) to bound it too")
    else:
        claim = f"{claim} {AGREEMENT}"
        ctx64, L64, R64 = (ctx, L, R) if wide is None else wide
        exact = _exact_context(ctx64)
        rhs_from = "float64 linearization (the model has no exact conversion)"
        if exact is not None:
            with precision_guard(x.device):
                R64 = _evaluate(rhs, "rhs", (exact, exact.y), {}, exact.B)
            rhs_from = "exact rational network (theory.linearize), rounded to float64"
        gaps = _agreement(ctx64, L64, R64, None if wide is None else (ctx, L, R), claim, "lhs = rhs", rhs_from)
        said.append(f"note: [{claim}] rhs returned no bound: judged by agreement of lhs in float64 with rhs on the "
                    f"{rhs_from.split(' (')[0]}, against the rounding seen in {str(x.dtype).replace('torch.', '')}, "
                    f"not by a rigorous bound")
    records = []
    for dtype, c, g in gaps:
        facts = run_facts(dtype, str(c.device), seed, precision_flags(str(c.device)))
        facts["kinks"] = c.lin.kinks.summary()
        rec = network_record({"id": arch, "index": 0, "device": str(c.device), "arch": "user"}, facts, [g])
        rec["gaps"] = [g]
        records.append(rec)
    return CheckReport(records, notes=notes + said, seconds=time.perf_counter() - t0, diagnoses=said)

