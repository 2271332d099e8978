"""The checks of :func:`~verify.robust.radius.robust_radius`'s and :func:`~verify.robust.decide.robust_at`'s
inputs, made before any solve: the norm, the budgets, the labels and the input domain, and the exact network
(with its float checker) that both solve on. :func:`check_inputs` makes every check of (model, x, y, domain) on
the whole batch at once, so that a bad input is reported, at its index in the batch, before any work (the
``radius`` command calls it before it solves its first point or touches its results file).

>>> check_norm(2), check_norm("linf")
('2', 'inf')
"""

from __future__ import annotations

import hashlib
import math
import weakref

import numpy as np

from verify.errors import NonFiniteError, ShapeError, TooFewClassesError, VerifyError

__all__ = ["check_norm", "check_positive", "exact_networks", "exact_of", "check_labels", "check_domain", "check_inputs",
           "Inputs", "RadiusOptionError"]


class RadiusOptionError(VerifyError, ValueError):
    """A bad option of the radius (norm, budgets, eps grid, domain), or an input outside the domain."""


def check_norm(norm) -> str:
    """``"inf"`` or ``"2"`` for the accepted spellings of the two norms; ValueError otherwise."""
    if isinstance(norm, str) and norm.strip().lower() in ("inf", "linf", "l-inf", "infinity"):
        return "inf"
    if isinstance(norm, (int, float)) and not isinstance(norm, bool):
        if norm == math.inf:
            return "inf"
        if norm == 2:
            return "2"
    if isinstance(norm, str) and norm.strip().lower() in ("2", "l2"):
        return "2"
    raise RadiusOptionError(f"norm: expected 'inf' or 2, got {norm!r}")


def check_positive(name: str, v, integer: bool = False):
    """``v`` as a float (an int when ``integer``), or None for None; ValueError unless it is finite and > 0."""
    if v is None:
        return None
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
    if integer:
        ok = ok and float(v) == int(v)
    if not ok:
        raise RadiusOptionError(f"{name}: expected a {'positive integer' if integer else 'number > 0'} (or None), got {v!r}")
    return int(v) if integer else float(v)


def exact_networks(model, x, who: str = "robust_radius"):
    """(exact network, float checker, x as float64 (B, D), in_shape, the model's torch dtype or None)."""
    import torch

    from theory.network import Network
    from verify.robust.plnet import plnet

    if isinstance(model, Network):
        arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        if arr.ndim < 2:
            raise ShapeError(f"x: expected a batch of shape (B, *in_shape), got shape {tuple(arr.shape)}; for one "
                             f"example add the batch dimension, x[None]")
        if arr.shape[0] == 0:
            raise ShapeError(f"x: expected at least one example, got an empty batch of shape {tuple(arr.shape)}")
        if tuple(arr.shape[1:]) not in (model.in_shape, (model.n_in,)):
            raise ShapeError(f"x: expected shape (B, {model.n_in}) or (B, *{model.in_shape}), got shape {tuple(arr.shape)}")
        if not np.issubdtype(arr.dtype, np.number):
            raise ShapeError(f"x: expected numbers, got dtype {arr.dtype}")
        X = arr.reshape(arr.shape[0], -1).astype(np.float64)
        if not np.isfinite(X).all():
            i = tuple(int(v) for v in np.argwhere(~np.isfinite(X))[0])
            raise NonFiniteError(f"x: expected finite numbers, got {X[i]} at index {i}")
        pl = plnet(model)

        def float_logits(Z):
            return pl.logits(Z)

        return model, pl, float_logits, X, model.in_shape, None
    from verify.numerics.linearize import validate_input

    validate_input(model, x, who=who)
    in_shape = tuple(x.shape[1:])
    exact, pl = exact_of(model, in_shape)
    dtype, device = x.dtype, x.device
    X = x.detach().to(torch.float64).reshape(x.shape[0], -1).cpu().numpy()

    def float_logits(Z):
        t = torch.as_tensor(np.asarray(Z), dtype=torch.float64).to(dtype).reshape((-1,) + in_shape).to(device)
        was = model.training
        model.eval()
        try:
            with torch.no_grad():
                return model(t).to(torch.float64).cpu().numpy()
        finally:
            model.train(was)

    return exact, pl, float_logits, X, in_shape, dtype


#: The exact networks of torch models already converted, per model object: (fingerprint, exact, PLNet); one
#: entry per model, replaced when its fingerprint changes. Converting a 784-256-256-10 MLP takes most of a
#: second, which a caller deciding one point per call (a benchmark, a loop over points) would pay each time.
_EXACT_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _fingerprint(model, in_shape) -> tuple:
    """What the exact network of ``model`` depends on: the input shape, each module's class, public attributes
    (a slope, a stride, a size) and training flag, and a digest of the bytes of every parameter and buffer
    (the values themselves, so that any change to a weight, in place or not, is a new fingerprint)."""
    h = hashlib.blake2b(digest_size=20)
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    mods = tuple((name, type(m).__qualname__, m.training,
                  repr(sorted((k, repr(v)) for k, v in vars(m).items() if not k.startswith("_"))))
                 for name, m in model.named_modules())
    return in_shape, mods, h.hexdigest()


def exact_of(model, in_shape):
    """(exact network, PLNet) of a torch model, converted once per fingerprint (kept in the module's cache, one entry per model)."""
    from theory.torch_bridge import from_torch
    from verify.robust.plnet import plnet

    key = _fingerprint(model, in_shape)
    try:
        hit = _EXACT_CACHE.get(model)
    except TypeError:                      # a model that cannot be weakly referenced: no cache
        hit = None
    if hit is not None and hit[0] == key:
        return hit[1], hit[2]
    exact = from_torch(model, in_shape)
    pl = plnet(exact)
    try:
        _EXACT_CACHE[model] = (key, exact, pl)
    except TypeError:
        pass
    return exact, pl


def check_labels(y, B: int, K: int):
    """``y`` as B integer class indices in [0, K), a numpy int64 array (None for None), by the toolkit's one
    label check (:func:`verify.errors.check_labels`: LabelError otherwise, naming what was wrong)."""
    from verify import errors

    if y is None:
        return None
    if hasattr(y, "detach"):
        y = y.detach().cpu()
    return errors.check_labels(y, B, K).numpy().astype(np.int64)


def check_domain(domain, D: int, X: np.ndarray):
    """The input box ``(lo, hi)`` as float bounds checked against the inputs ``X`` (None: no box)."""
    if domain is None:
        return None
    try:
        lo, hi = domain
        lo = np.broadcast_to(np.asarray(lo, dtype=np.float64).reshape(-1) if np.ndim(lo) else float(lo), (D,)).copy()
        hi = np.broadcast_to(np.asarray(hi, dtype=np.float64).reshape(-1) if np.ndim(hi) else float(hi), (D,)).copy()
    except (TypeError, ValueError):
        raise RadiusOptionError(f"domain: expected (lo, hi), two numbers or two arrays of {D} numbers, got {domain!r}") from None
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(lo < hi)):
        raise RadiusOptionError("domain: expected finite lo < hi")
    out = (X < lo - 0) | (X > hi)
    if out.any():
        b, i = (int(v) for v in np.argwhere(out)[0])
        raise RadiusOptionError(f"x[{b}] lies outside the domain: coordinate {i} is {X[b, i]}, not in [{lo[i]}, {hi[i]}]")
    return lo, hi


class Inputs:
    """What :func:`check_inputs` checked: the exact network ``exact``, its float64 image ``pl``, the float model's
    logits ``float_logits``, x as float64 (B, D) ``X``, ``in_shape``, the model's dtype (None for a Network),
    the labels ``Y`` (None: the predictions) and the domain ``dom`` (None: no box)."""

    def __init__(self, exact, pl, float_logits, X, in_shape, dtype, Y, dom):
        self.exact, self.pl, self.float_logits, self.X, self.in_shape = exact, pl, float_logits, X, in_shape
        self.dtype, self.Y, self.dom = dtype, Y, dom


def check_inputs(model, x, y=None, *, domain=None, who: str = "robust_radius") -> Inputs:
    """Every check of the inputs of a radius, on the whole batch, before any solve: the model and x (a batch of
    finite floats of the model's input shape, its dtype and device: :func:`verify.linearize`'s checks), at least
    two classes, the labels (B integer classes in [0, K), or None) and every example inside the domain. An
    error names the example's index in the batch. Returns the :class:`Inputs` the solvers use."""
    exact, pl, float_logits, X, in_shape, dtype = exact_networks(model, x, who=who)
    if pl.K < 2:
        raise TooFewClassesError(f"{who}: the model has K = {pl.K} output; expected at least 2 logits")
    Y = check_labels(y, X.shape[0], pl.K)
    dom = check_domain(domain, pl.D, X)
    return Inputs(exact, pl, float_logits, X, in_shape, dtype, Y, dom)
