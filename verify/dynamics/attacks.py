r"""Projected gradient descent (PGD) on the cross-entropy, in l-inf and l2, written from the math.

Threat model. An adversary who knows the model (white box, gradients available) may move each input x0 to any
point of the ball B_p(x0, eps) = {x : ||x - x0||_p <= eps}, p in {inf, 2}, intersected with the box
[lo, hi]^D of valid inputs (``box``; ``None`` for unbounded features). The attack succeeds on (x0, y) when
the model does not classify the moved point correctly. PGD (Madry et al., 2018, "Towards deep learning models
resistant to adversarial attacks") searches the ball by ascending the cross-entropy L(x) = CE(f(x), y):

- start: x^0 = x0 + delta^0 with delta^0 uniform in the ball (``random_start``; otherwise delta^0 = 0):
  l-inf, delta^0 uniform in [-eps, eps]^D; l2, delta^0 = eps U^(1/D) g / ||g||_2 with g ~ N(0, I_D) and
  U ~ U[0, 1) (uniform in the l2 ball);
- step, l-inf: x^{t+1} = Proj(x^t + alpha sign(grad_x L(x^t))), where the projection onto the ball clamps
  every coordinate to [x0 - eps, x0 + eps];
- step, l2: x^{t+1} = Proj(x^t + alpha grad_x L(x^t) / ||grad_x L(x^t)||_2) (no move where the gradient
  is 0), where the projection onto the ball rescales delta = x - x0 to eps delta / ||delta||_2 when
  ||delta||_2 > eps;
- after every projection onto the ball (the start included), x is clamped into the box. For x0 in the box
  this keeps x in the ball: clamping moves each coordinate towards x0. (For l-inf it is the exact projection
  onto ball ∩ box; for l2 it is the usual approximation.)

Step size. The default is alpha = 2.5 eps / steps (Madry et al.'s rule): the ``steps`` steps can travel
2.5 eps in total, more than the 2 eps across the ball, so a point can reach any face of the ball from any
random start, with room left to move along the boundary.

Restarts. Each of the ``restarts`` runs begins at its own random start; the starts are drawn one restart
after another from the caller's ``generator`` (and nothing else is drawn), so restart 0 of an attack with
``restarts = n`` is exactly the single-restart attack with the same generator state, and restart r is the
single-restart attack run on the generator as the previous r runs left it. Per example, :meth:`PGD.perturb`
keeps the final point of the restart that misclassifies it if any restart does (the one of highest loss if
several do), else the one of highest loss; :meth:`PGD.robust` is True where the example is classified
correctly at x0 and at every restart's final point. A robust accuracy is thus an upper bound on the true
robust accuracy in the threat model, and never increases with more restarts drawn this way.

"Classified correctly" means strictly: f_y(x) > max_{k != y} f_k(x); a tie counts as an error.

Assumptions and caveats:

- gradients are taken with ``torch.autograd.grad`` of the summed cross-entropy with respect to the input
  only, so the model's parameters receive no ``.grad``; gradients are computed even under an outer
  ``torch.no_grad()``;
- PGD does not change the model's train/eval mode: the caller decides. In train mode, Dropout draws from
  torch's global generator and BatchNorm uses (and updates) batch statistics during the attack, so attack
  an ``eval()`` model unless that is what is wanted;
- where the softmax saturates (float32 logit margins above about 100) the gradient of the cross-entropy is
  exactly 0 and the attack does not move; the l-inf step uses sign(0) = 0;
- in l2 from a random start, the rescaling projection turns delta towards the steepest direction only
  geometrically (on a linear model tan(angle) shrinks by alpha / (eps + alpha) per step on the sphere, about
  e^-2.5 in all under the default step size, whatever ``steps``): the final point can stay ~17 degrees off
  it, using only ~95% of the budget (cos 0.953 measured in D = 6, 0.976 in D = 784). For a tighter l2
  attack give more travel (e.g. ``step_size = eps / 4`` with 20 steps) or ``random_start=False``;
- the random draws are made on the generator's device, in x's dtype, then moved to x's device, so a CPU
  generator serves a CUDA x; the same generator state gives bitwise the same points on the same device.

Every robust accuracy is reported with :meth:`PGD.to_dict` beside it (norm, eps, steps, resolved step size,
restarts, random start, box): a number without its attack's settings cannot tell a weak attack from a
robust model.

Example: a linear classifier in 2-D, f_0(x) = 0, f_1(x) = x_1 + x_2 - 1. At x0 = (0.3, 0.3) the margin of
class 0 is 0.4 and ||w_1 - w_0||_1 = 2, so the l-inf distance to the boundary is 0.2: an attack with
eps = 0.25 must succeed and one with eps = 0.15 must fail.

>>> import torch
>>> lin = torch.nn.Linear(2, 2).double()
>>> with torch.no_grad():
...     _ = lin.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
...     _ = lin.bias.copy_(torch.tensor([0.0, -1.0]))
>>> x, y = torch.tensor([[0.3, 0.3]], dtype=torch.float64), torch.tensor([0])
>>> g = torch.Generator().manual_seed(0)
>>> PGD(eps=0.25).robust(lin, x, y, generator=g).tolist()   # 0.25 > 0.2: the attack succeeds
[False]
>>> PGD(eps=0.15).robust(lin, x, y, generator=g).tolist()   # 0.15 < 0.2: no point of the ball is misclassified
[True]
>>> PGD(eps=0.25).perturb(lin, x, y, generator=g)   # the corner x0 + eps sign(w_1 - w_0)
tensor([[0.5500, 0.5500]], dtype=torch.float64)
>>> PGD(eps=0.1, norm="2", steps=20).to_dict()
{'attack': 'pgd', 'norm': '2', 'eps': 0.1, 'steps': 20, 'step_size': 0.0125, 'restarts': 1, 'random_start': True, 'box': [0.0, 1.0]}
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from verify.errors import (
    DeviceMismatchError,
    DTypeMismatchError,
    EmptyBatchError,
    LabelError,
    NonFiniteError,
    ShapeError,
    TooFewClassesError,
)

__all__ = ["PGD", "robust_accuracy", "NORMS", "LOSSES"]

#: The norms PGD supports, as spelled in ``PGD.norm``.
NORMS = ("inf", "2")

#: The losses PGD can ascend: ``ce``, the cross-entropy CE(f(x), y) (the default, Madry et al.'s), and
#: ``kl``, KL(p(x0) || p(x)) = sum_k p_k(x0) (log p_k(x0) - log p_k(x)) with p = softmax(f), p(x0) held
#: fixed (TRADES's inner maximisation, Zhang et al. 2019). At x = x0 the KL and its gradient are 0, so the
#: ``kl`` attack needs its random start.
LOSSES = ("ce", "kl")


def _real(name: str, value, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: expected a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name}: expected a number, got NaN")
    if math.isinf(value):
        raise ValueError(f"{name}: expected a finite number, got {value}")
    return value


def _count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name}: expected an integer >= 1, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {value}")
    return int(value)


def _per_example(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A (B,) tensor viewed as (B, 1, ..., 1), to broadcast against ``like``."""
    return v.view((-1,) + (1,) * (like.dim() - 1))


def _unit(g: torch.Tensor) -> torch.Tensor:
    """g / ||g||_2 per example (over all but the batch dimension), and 0 where g = 0.

    g is first divided by its largest entry in absolute value, so that the norm of a tiny but nonzero g does
    not underflow to 0 (nor a huge one overflow)."""
    scale = g.flatten(1).abs().amax(dim=1)
    nonzero = scale > 0
    g = g / _per_example(torch.where(nonzero, scale, torch.ones_like(scale)), g)
    n = torch.linalg.vector_norm(g.flatten(1), dim=1)
    return g / _per_example(torch.where(nonzero, n, torch.ones_like(n)), g)


def _correct(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(B,) bool: f_y > max_{k != y} f_k, strictly (a tie, or a NaN, is not correct)."""
    fy = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.scatter(1, y[:, None], float("-inf")).amax(dim=1)
    return fy > others


@dataclass(frozen=True)
class PGD:
    """PGD on the cross-entropy in the l-inf or l2 ball of radius ``eps`` (see the module docstring for the
    threat model, the update rules, the default step size and the restart rule).

    Arguments are checked on construction (ValueError naming the argument): ``eps`` a finite number >= 0
    (eps = 0: the attack returns a copy of x, equal to x, and draws nothing); ``norm`` ``"inf"`` or ``"2"``;
    ``steps`` and ``restarts`` integers >= 1; ``step_size`` None (2.5 eps / steps) or a finite number > 0;
    ``box`` None or (lo, hi) with lo < hi; ``loss`` one of :data:`LOSSES` (``"ce"``, the default, or ``"kl"``,
    TRADES's KL(p(x0) || p(x)); the restarts are ranked by that loss). With ``random_start=False`` every
    restart starts at x and repeats the same run.
    """

    eps: float
    norm: str = "inf"
    steps: int = 10
    step_size: float | None = None
    restarts: int = 1
    random_start: bool = True
    box: tuple | None = (0.0, 1.0)
    loss: str = "ce"

    def __post_init__(self):
        eps = _real("eps", self.eps)
        if eps < 0:
            raise ValueError(f"eps: expected a budget >= 0, got {eps}")
        if not isinstance(self.norm, str) or self.norm not in NORMS:
            raise ValueError(f"norm: expected one of {NORMS}, got {self.norm!r}")
        steps = _count("steps", self.steps)
        restarts = _count("restarts", self.restarts)
        step_size = _real("step_size", self.step_size, allow_none=True)
        if step_size is not None and step_size <= 0:
            raise ValueError(f"step_size: expected a number > 0 (or None for 2.5 * eps / steps), got {step_size}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss: expected one of {LOSSES}, got {self.loss!r}")
        if not isinstance(self.random_start, bool):
            raise ValueError(f"random_start: expected a bool, got {self.random_start!r}")
        box = self.box
        if box is not None:
            if isinstance(box, (str, bytes)) or not hasattr(box, "__len__") or len(box) != 2:
                raise ValueError(f"box: expected None or a pair (lo, hi), got {box!r}")
            lo, hi = _real("box[0]", box[0]), _real("box[1]", box[1])
            if not lo < hi:
                raise ValueError(f"box: expected lo < hi, got ({lo}, {hi})")
            box = (lo, hi)
        for name, value in (("eps", eps), ("steps", steps), ("restarts", restarts), ("step_size", step_size),
                            ("box", box)):
            object.__setattr__(self, name, value)

    @property
    def alpha(self) -> float:
        """The step size in use: ``step_size``, or 2.5 eps / steps when it is None."""
        return 2.5 * self.eps / self.steps if self.step_size is None else self.step_size

    def to_dict(self) -> dict:
        """The attack's settings, to record beside every robust accuracy (JSON-ready: ``box`` is a list)."""
        d = {"attack": "pgd", "norm": self.norm, "eps": self.eps, "steps": self.steps,
             "step_size": self.alpha, "restarts": self.restarts, "random_start": self.random_start,
             "box": None if self.box is None else list(self.box)}
        return d if self.loss == "ce" else {**d, "loss": self.loss}

    # -- the public calls --------------------------------------------------------------------------------

    def perturb(self, model, x: torch.Tensor, y: torch.Tensor, *, generator: torch.Generator) -> torch.Tensor:
        """The adversarial points x_adv, of x's shape, dtype and device, detached: per example the final point
        of the restart that misclassifies it if any does (of highest loss if several), else of highest loss.

        The points lie in the ball of radius eps around x (up to the rounding of x + delta) and in the box.
        """
        return self._run(model, x, y, generator)[0]

    def robust(self, model, x: torch.Tensor, y: torch.Tensor, *, generator: torch.Generator) -> torch.Tensor:
        """(B,) bool: the example is classified correctly (strictly) at x and at every restart's final point,
        i.e. the attack failed on it. An example misclassified at x is not robust."""
        return self._run(model, x, y, generator)[1]

    # -- the computation ---------------------------------------------------------------------------------

    def _check(self, model, x, y, generator):
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator: expected a torch.Generator, got {type(generator).__name__}")
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"x: expected a floating-point tensor, got "
                            f"{x.dtype if isinstance(x, torch.Tensor) else type(x).__name__}")
        if x.dim() < 2:
            raise ShapeError(f"x: expected a batch of shape (B, ...) with at least 2 dimensions, got {tuple(x.shape)}")
        if x.shape[0] == 0:
            raise EmptyBatchError(f"x: expected at least one example, got shape {tuple(x.shape)}")
        if not isinstance(y, torch.Tensor):
            raise LabelError(f"y: expected an integer tensor of shape ({x.shape[0]},), got {type(y).__name__}")
        if y.shape != (x.shape[0],):
            raise LabelError(f"y: expected shape ({x.shape[0]},) to match x of shape {tuple(x.shape)}, "
                             f"got {tuple(y.shape)}")
        if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
            raise LabelError(f"y: expected an integer dtype, got {y.dtype}")
        if y.device != x.device:
            raise DeviceMismatchError(f"y: expected the device of x ({x.device}), got {y.device}")
        if not bool(torch.isfinite(x).all()):
            raise NonFiniteError("x: expected finite values, got NaN or infinity")
        if self.box is not None:
            lo, hi = self.box
            xmin, xmax = x.min().item(), x.max().item()
            if xmin < lo or xmax > hi:
                raise ValueError(f"x: expected values in the box [{lo}, {hi}], got values in [{xmin}, {xmax}]; "
                                 f"pass box=None for unbounded features")
        params = getattr(model, "parameters", None)
        if callable(params):
            p = next(iter(params()), None)
            if p is not None and p.is_floating_point():
                if p.dtype != x.dtype:
                    raise DTypeMismatchError(f"x: expected the model's dtype {p.dtype}, got {x.dtype}")
                if p.device != x.device:
                    raise DeviceMismatchError(f"x: expected the model's device {p.device}, got {x.device}")

    def _logits(self, model, x, y):
        with torch.no_grad():
            logits = model(x)
        if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[0] != x.shape[0]:
            got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise ShapeError(f"model(x): expected logits of shape (B, K) = ({x.shape[0]}, K), got {got}")
        if logits.shape[1] < 2:
            raise TooFewClassesError(f"model(x): expected K >= 2 logits, got K = {logits.shape[1]}")
        return logits

    def _draw(self, shape, x, generator, *, gaussian: bool = False) -> torch.Tensor:
        draw = torch.randn if gaussian else torch.rand
        return draw(shape, generator=generator, device=generator.device, dtype=x.dtype).to(x.device)

    def _project(self, x0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Onto the ball around x0, then into the box."""
        if self.norm == "inf":
            x = torch.clamp(x, x0 - self.eps, x0 + self.eps)
        else:
            delta = x - x0
            n = torch.linalg.vector_norm(delta.flatten(1), dim=1)
            factor = torch.where(n > self.eps, self.eps / torch.where(n > 0, n, torch.ones_like(n)),
                                 torch.ones_like(n))
            x = x0 + delta * _per_example(factor, delta)
        if self.box is not None:
            x = x.clamp(self.box[0], self.box[1])
        return x

    def _start(self, x0: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if not self.random_start:
            return x0.clone()
        if self.norm == "inf":
            delta = (2 * self._draw(x0.shape, x0, generator) - 1) * self.eps
        else:
            direction = _unit(self._draw(x0.shape, x0, generator, gaussian=True))
            u = self._draw((x0.shape[0],), x0, generator)
            radius = self.eps * u ** (1.0 / x0[0].numel())
            delta = direction * _per_example(radius, direction)
        return self._project(x0, x0 + delta)

    def _loss(self, logits: torch.Tensor, y: torch.Tensor, ref, reduction: str) -> torch.Tensor:
        """The attack's loss per example (``reduction="none"``) or summed: CE, or KL(p(x0) || p(x)) with
        ``ref`` = log p(x0)."""
        if self.loss == "ce":
            return F.cross_entropy(logits, y, reduction=reduction)
        kl = F.kl_div(torch.log_softmax(logits, 1), ref, reduction="none", log_target=True).sum(1)
        return kl.sum() if reduction == "sum" else kl

    def _step(self, model, x0: torch.Tensor, x: torch.Tensor, y: torch.Tensor, ref=None) -> torch.Tensor:
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            loss = self._loss(model(x), y, ref, "sum")
            (g,) = torch.autograd.grad(loss, x, allow_unused=True)
        with torch.no_grad():
            if g is None:  # the logits do not depend on x: there is nowhere to go
                return x.detach()
            move = g.sign() if self.norm == "inf" else _unit(g)
            return self._project(x0, x.detach() + self.alpha * move)

    def _run(self, model, x, y, generator):
        """(x_adv, robust) for one batch."""
        self._check(model, x, y, generator)
        x0, y = x.detach(), y.long()
        clean = self._logits(model, x0, y)
        K = clean.shape[1]
        if bool(((y < 0) | (y >= K)).any()):
            raise LabelError(f"y: expected labels in [0, {K}) for K = {K} logits, got values in "
                             f"[{y.min().item()}, {y.max().item()}]")
        clean_ok = _correct(clean, y)
        if self.eps == 0:
            return x0.clone(), clean_ok
        ref = torch.log_softmax(clean, 1) if self.loss == "kl" else None
        best_x = best_wrong = best_loss = None
        for _ in range(self.restarts):
            xr = self._start(x0, generator)
            for _ in range(self.steps):
                xr = self._step(model, x0, xr, y, ref)
            with torch.no_grad():
                logits = model(xr)
                loss = self._loss(logits, y, ref, "none")
                wrong = ~_correct(logits, y)
            if best_x is None:
                best_x, best_wrong, best_loss = xr, wrong, loss
                continue
            better = (wrong & ~best_wrong) | ((wrong == best_wrong) & (loss > best_loss))
            best_x = torch.where(_per_example(better, xr), xr, best_x)
            best_wrong, best_loss = best_wrong | wrong, torch.where(better, loss, best_loss)
        return best_x, clean_ok & ~best_wrong


def robust_accuracy(model, x: torch.Tensor, y: torch.Tensor, attack: PGD, *, generator: torch.Generator,
                    batch_size: int | None = None) -> float:
    """The fraction of examples on which ``attack`` fails: mean of :meth:`PGD.robust` over the data.

    With ``batch_size`` the data are attacked in consecutive batches of that size, in order, drawing from the
    one ``generator``; the draws, hence the result, depend on ``batch_size`` (the same seed and batch size
    reproduce it bitwise). Record ``attack.to_dict()`` beside the number.

    >>> import torch
    >>> lin = torch.nn.Linear(2, 2).double()
    >>> with torch.no_grad():
    ...     _ = lin.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
    ...     _ = lin.bias.copy_(torch.tensor([0.0, -1.0]))
    >>> x = torch.tensor([[0.3, 0.3], [0.1, 0.1], [0.45, 0.45]], dtype=torch.float64)  # l-inf distances 0.2, 0.4, 0.05
    >>> robust_accuracy(lin, x, torch.tensor([0, 0, 0]), PGD(eps=0.3), generator=torch.Generator().manual_seed(0))
    0.3333333333333333
    """
    if not isinstance(attack, PGD):
        raise TypeError(f"attack: expected a PGD, got {type(attack).__name__}")
    if batch_size is not None:
        batch_size = _count("batch_size", batch_size)
    if not isinstance(x, torch.Tensor) or x.dim() < 1 or x.shape[0] == 0:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise EmptyBatchError(f"x: expected a non-empty batch, got {got}")
    n = x.shape[0]
    if not isinstance(y, torch.Tensor) or y.shape != (n,):
        got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise LabelError(f"y: expected shape ({n},) to match x of shape {tuple(x.shape)}, got {got}")
    size = n if batch_size is None else batch_size
    robust = 0
    for i in range(0, n, size):
        robust += int(attack.robust(model, x[i:i + size], y[i:i + size], generator=generator).sum().item())
    return robust / n
