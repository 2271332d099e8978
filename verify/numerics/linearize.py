"""Batched float linearization: ``linearize(model, x) -> Linearization``.

On the activation region R(x) of a piecewise-linear network the logits are exactly affine,
f(x') = J x' + b ([derived]; claim ``local-affine``). This module computes, for a batch of inputs in
the model's own dtype and device, the pattern, J (closed form, :mod:`verify.numerics.engine`), b = f(x) - J x,
and beside them rigorous rounding bounds against the *exact* values of the same network
(:mod:`theory.rounding`, mirrored in float), and the distance to the nearest kink.

- ``jacobian_bound``: |J~ - J_exact| <= gamma_m |A_L| ... |A_1| entrywise, valid when the float pass
  selects the exact pattern, i.e. when ``on_kink`` is False (certified by this pass, or decided again);
- ``logits_bound``: |f~(x) - f(x)| per logit (valid at every x);
- ``rounding_doubt``: the points where some non-constant unit is within its forward rounding bound of a
  kink, so that this dtype's pass alone cannot tell the exact pattern;
- ``kinks``: those points decided again by :func:`verify.numerics.kinks.redecide_kinks`, from the same network in
  float64 (weights and inputs converted exactly) and, where still in doubt, in exact arithmetic: each
  is recovered (the float pattern is certified exact), a real kink, a float pattern certified wrong, or
  undecided; ``on_kink`` flags the last three, the points where the float pattern is not certified;
- ``kink_distance``: a certified lower bound on min_i |u_i| / ||a_i||_2 over the non-constant units
  (u_i a pre-activation, or a max's margin over a competitor; a_i its input gradient under the
  pattern): each |u_i| is reduced by its forward rounding bound (at a recovered point, by the float64
  bound of the unit decided again, or its exact value), so the value is exactly 0 at the points
  ``on_kink``. ||a_i|| is exact (float64) when the forward product is cheap, otherwise an upper bound
  (``flags["kink_distance"]`` says which); both give a lower bound on the distance, so a kink is never
  hidden.
- Ties of identical affine functions (a max over dead ReLUs, a dead unit at exactly 0) are not kinks
  (as in :mod:`theory.region`): a unit whose gradient is structurally zero is constant on the region.

The bounds and geometry are computed on first access, and cached.

>>> import torch
>>> m = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 2)).double()
>>> with torch.no_grad():
...     _ = m[0].weight.copy_(torch.tensor([[1.0, -1.0], [1.0, 1.0]])); _ = m[0].bias.zero_()
...     _ = m[2].weight.copy_(torch.tensor([[2.0, 3.0], [1.0, 0.0]])); _ = m[2].bias.zero_()
>>> lin = linearize(m, torch.tensor([[3.0, 1.0], [1.0, 1.0]], dtype=torch.float64))
>>> lin.jacobian[0].tolist()
[[5.0, 1.0], [1.0, -1.0]]
>>> lin.on_kink.tolist(), lin.kink_distance[1].item()   # x_1 - x_2 = 0 at the second point
([False, True], 0.0)
>>> lin.exit_time(torch.tensor([[-1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)).tolist()
[2.0, inf]
"""

from __future__ import annotations

import torch

from verify.errors import (
    DeviceMismatchError,
    DTypeMismatchError,
    EmptyBatchError,
    NonFiniteError,
    ShapeError,
    TooFewClassesError,
)
from verify.numerics.compiled import compile_model
from verify.numerics.linearization import Linearization
from verify.numerics.precision import precision_guard

__all__ = ["linearize", "Linearization", "validate_input", "require_classes", "model_logits"]

def validate_input(model, x, who: str = "linearize") -> None:
    """The checks every public entry point makes on (model, x) before touching them (``who`` names it in
    the messages): types, a batch of finite floats of the model's input shape, one device and one dtype
    shared with the model. One example without its batch dimension is refused saying so (as
    ``theory.linearize`` explains its own convention): x must be a batch (B, *input shape)."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{who} expects a torch nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{who} expects x as a torch Tensor of shape (B, *in_shape), got {type(x).__name__}")
    batch = f"{who} takes a batch (B, *input shape); for one example use x.unsqueeze(0)"
    if x.dim() < 2:
        raise ShapeError(f"x: expected a batch of shape (B, *in_shape), got shape {tuple(x.shape)}; {batch}")
    if x.shape[0] == 0:
        raise EmptyBatchError(f"x: expected at least one example, got an empty batch of shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise DTypeMismatchError(f"x: expected a float tensor, got dtype {x.dtype}")
    ts = [t for t in list(model.parameters()) + list(model.buffers()) if t.is_floating_point()]
    devices = {t.device for t in ts}
    if len(devices) > 1:
        raise DeviceMismatchError(f"the model's parameters are on several devices: {sorted(map(str, devices))}")
    if devices and x.device not in devices:
        raise DeviceMismatchError(f"x is on {x.device} but the model's parameters are on {next(iter(devices))}; "
                                  f"move one of them (e.g. x.to('{next(iter(devices))}'))")
    dtypes = {t.dtype for t in model.parameters() if t.is_floating_point()}
    if len(dtypes) > 1:
        raise DTypeMismatchError(f"the model's parameters have several dtypes: {sorted(map(str, dtypes))}")
    if dtypes and x.dtype not in dtypes:
        raise DTypeMismatchError(f"x has dtype {x.dtype} but the model's parameters are {next(iter(dtypes))}; "
                                 f"convert one of them (e.g. x.to({next(iter(dtypes))}))")
    if not torch.isfinite(x.sum()):  # NaN and inf reach the sum; no (B, D) temporary in the common case
        bad = ~torch.isfinite(x)
        if bad.any():
            idx = tuple(int(i) for i in bad.nonzero()[0])
            raise NonFiniteError(f"x: expected finite numbers, got {x[idx].item()} at index {idx}")
    try:                        # the model's input shape (the compiled engine is cached: linearize reuses it)
        compile_model(model, tuple(x.shape[1:]), x.dtype, x.device)
    except ShapeError as exc:
        try:
            compile_model(model, tuple(x.shape), x.dtype, x.device)
        except ShapeError:
            raise exc from None
        raise ShapeError(f"x: expected a batch of shape (B, *in_shape), got shape {tuple(x.shape)}: one example of "
                         f"the model's input shape, without the batch dimension; {batch}") from None


def model_logits(model, x, *, who: str = "") -> torch.Tensor:
    """The model's logits (B, K) on x, without gradients; when the model cannot be run on x, or its output is
    not (batch, classes), a :class:`~verify.errors.ShapeError` that names what is wrong (``who`` prefixes
    the message)."""
    prefix = f"{who}: " if who else ""
    try:
        with torch.no_grad(), precision_guard(x.device):
            f = model(x)
    except RuntimeError as exc:
        linearize(model, x)                 # raises the error that names what is wrong (e.g. the input shape)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ShapeError(f"{prefix}the model could not be run on the inputs of shape {tuple(x.shape)}: "
                         f"{first}") from exc
    if f.dim() != 2:
        raise ShapeError(f"{prefix}the model's output on inputs of shape {tuple(x.shape)} is {tuple(f.shape)}, not "
                         f"(batch, classes); give the inputs with a batch dimension first (e.g. x.unsqueeze(0) for "
                         f"one example)")
    return f


def require_classes(K: int, who: str = "") -> None:
    """Raise ``TooFewClassesError`` unless the model has at least 2 logits."""
    if K < 2:
        raise TooFewClassesError(f"{who + ': ' if who else ''}the model has K = {K} output; expected at least 2 "
                                 f"logits (softmax, margins and the Gram matrix need K >= 2)")


def linearize(model: torch.nn.Module, x: torch.Tensor, *, halfspaces: bool = False,
              on_kink: str = "flag") -> "Linearization":
    """The float linearization of a piecewise-linear model at each example of x (B, *in_shape).

    Runs in the model's dtype and on its device (TF32 off on CUDA). Raises the errors of
    :mod:`verify.errors` for bad input, and :class:`~theory.errors.UnsupportedLayerError` (or
    ``TrainingModeError``) for a model outside the theory. ``halfspaces=True`` also computes the
    region's half-spaces now (otherwise on first use).

    ``on_kink`` (keyword only) says what to do with points on a kink, the option of the same name of
    :func:`theory.linearize` for a batch in float: ``"flag"`` (default) reports them in the Linearization
    (``on_kink``, ``kinks``: decided again in float64 and exactly, :mod:`verify.numerics.kinks`);
    ``"raise"`` raises :class:`~theory.errors.KinkError` naming the points and the ``(layer, unit)`` pairs, as
    :func:`theory.linearize` does for one point. (Its ``"all"``, every adjacent region, is exact and for one
    point: use :func:`theory.linearize`.)
    """
    if on_kink not in ("flag", "raise"):
        from verify.errors import UnknownNameError

        extra = (" (every adjacent region of one point: theory.linearize(model, x[i:i+1], on_kink='all'))"
                 if on_kink == "all" else "")
        raise UnknownNameError(f"on_kink must be 'flag' or 'raise', got {on_kink!r}{extra}")
    validate_input(model, x)
    x = x.detach()
    with precision_guard(x.device) as flags:
        eng = compile_model(model, tuple(x.shape[1:]), x.dtype, x.device)
        require_classes(eng.K)
        rec = eng.forward(x)
        logits = rec.vals[eng.output]
        if not torch.isfinite(logits.sum()) and not torch.isfinite(logits).all():
            raise NonFiniteError("the forward pass overflowed: some logits are not finite")
        order = "output" if eng.K < eng.D else "input"
        J = eng.jacobian(rec, order=order)
    flags["jacobian_order"] = order
    lin = Linearization(eng, rec, logits, J, flags)
    lin._model = model                  # the model's own forward pass is read where a kink is decided again
    if on_kink == "raise" and bool(lin.on_kink.any()):
        _raise_kinks(lin)
    if halfspaces:
        lin.halfspaces()
    return lin


def _raise_kinks(lin) -> None:
    """The KinkError of ``on_kink="raise"``: the points not judged, the units that put them there."""
    from theory.errors import KinkError

    dec = lin.kinks
    points = [i for i, k in enumerate(lin.on_kink.tolist()) if k]
    units = list(dict.fromkeys((u.layer, u.unit) for u in dec.kinked_units()))
    shown = ", ".join(f"{name}[{i}]" for name, i in units[:10]) + (f" and {len(units) - 10} more"
                                                                    if len(units) > 10 else "")
    where = f" at {shown}" if units else ""
    raise KinkError(f"{len(points)} of {lin.B} points lie on a kink (points {points[:10]}"
                    f"{' ...' if len(points) > 10 else ''}): zero pre-activation or tied max{where}; the pattern and "
                    f"the Jacobian are not unique there. Use on_kink='flag' to keep the other points (decided per "
                    f"point), or move the inputs off the tie (e.g. a small noise).", units)


