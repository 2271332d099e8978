"""One training loop for every objective of the lab, checkpointed at every epoch.

Objectives (SPEC.md, "Empirical claims", Runs):

- ``ce``: plain cross-entropy;
- ``ce+R`` for R in ig, jac, cl, cure, emr: L = CE + lambda mean_i R(x_i), with R computed by its
  *definition* (:data:`verify.regularizers.unchecked`, the very functions the identity checks check;
  ``create_graph=True`` so the penalty is differentiated in the weights);
- ``at(eps)``: PGD adversarial training (Madry et al.): the cross-entropy at the l-inf PGD points
  (``settings.train_steps`` steps of 2.5 eps / steps, random start), the attack being an argument of the
  same loop, as in MadryLab's robustness library. Where a data set's settings fix a warm-up
  (``eps_warmup``, MNIST's), the first epochs attack with a budget that grows linearly to eps, and the
  step is 2.5 times that epoch's budget over the steps;
- ``at(eps)+emr``: as the EMR official code does: R-EMR is evaluated at the PGD points with p~ =
  softmax(f/T) detached. This toolkit adds lambda mean_i R(x_i) (not the official (lambda/B^2) sum_i),
  so its lambda is the official one divided by the batch size B.
- ``at(eps)+emr(..., emr-official)`` (``convention="emr-official"``): the same term in the official code's
  batch form, lambda (1/B^2) sum_i ||J_i^T p~_i||^2 (:func:`verify.regularizers.emr` with that convention),
  so lambda is the official one (round 2's official arm: lambda = 3, T = 40);
- ``trades(eps)`` (``defense="trades"``, TRADES, Zhang et al. 2019): with x' the PGD point of the KL term
  (:class:`~verify.dynamics.attacks.PGD` with ``loss="kl"``: ascending KL(p(x) || p(x')) in x', p(x) fixed),
  L = mean_i [CE(f(x_i), y_i) + beta KL(p(x_i) || p(x'_i))], KL(p || q) = sum_k p_k (log p_k - log q_k),
  p = softmax(f); the gradient flows through both p(x) and p(x');
- ``mart(eps)`` (``defense="mart"``, MART, Wang et al. 2020): with x' the PGD point of the cross-entropy,
  L = mean_i [BCE(x'_i, y_i) + beta KL(p(x_i) || p(x'_i)) (1 - p_{y_i}(x_i))], where the boosted CE is
  BCE(x', y) = CE(f(x'), y) - log(1 - max_{k != y} p_k(x')), its log computed stably as
  logsumexp_{k != j} f_k(x') - logsumexp_k f_k(x') (j the strongest other class); the gradient flows
  through every factor, the weight (1 - p_y(x)) included;
- ``trades(eps)+emr``, ``mart(eps)+emr``: the EMR term at the adversarial points x', as in ``at(eps)+emr``.

For the three defenses the loop is the same: the attack (an argument of :func:`train_step`, built by
:func:`train_epoch` from the objective, or given) moves the batch in eval mode, then the objective's loss
(:func:`objective_loss`) is taken at the clean and the moved points. The training accuracy an epoch reports
is that at the moved points, for all three.

A training option, off by default: ``Objective("jac" or "cl", method="closed-form")`` computes R-JAC or
R-CL from the masked weight product instead (:mod:`verify.dynamics.penalties`): the same value and weight
gradient within their rounding bound, and faster where it is offered: R-JAC and R-CL on MLPs, R-CL on the
CNNs (``python -m verify.bench --training`` measures it; on CNNs R-JAC's masked product is slower than
its definition, so it is not offered there). The lab's runs use the definition, as SPEC.md specifies.

The networks are MLPs and small CNNs of the layers the theory supports (Linear, Conv2d, ReLU, MaxPool2d,
Flatten), so every trained network is linearized exactly; they have no BatchNorm and no Dropout, so
train and eval mode compute the same function (the EMR term "in eval mode" is then the same term).

Determinism: the initial weights come from the seed alone (a ``torch.Generator``, built in float64 and
cast), and so does each epoch's batch order (a generator seeded by (seed, epoch)): runs that differ
only in the objective share both. Each epoch's attack draws come from a generator seeded by (seed,
epoch, objective). Nothing uses torch's global seed. A run resumed from its checkpoint of epoch e
restores the weights and the optimiser's state, and the generators of the later epochs are those of an
uninterrupted run, so it ends with the same numbers.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from verify.dynamics.defenses import boosted_cross_entropy, kl_divergence
from verify.errors import VerifyError

__all__ = ["Objective", "build_model", "parse_arch", "generator", "Diverged", "train_epoch", "train_step",
           "make_optimizer", "save_atomic", "REGULARIZERS", "METHODS", "DEFENSES", "objective_loss",
           "kl_divergence", "boosted_cross_entropy", "ATTACK_LOSS"]

#: Objective name -> the regularizer of :mod:`verify.regularizers` it adds.
REGULARIZERS = {"ig": "input_gradient", "jac": "jacobian", "cl": "cross_lipschitz", "cure": "curvature",
                "emr": "emr"}

#: How a penalty is computed: ``definition`` (autograd, as the papers train; the default) or ``closed-form``
#: (the masked weight product of :mod:`verify.dynamics.penalties`, for R-JAC and R-CL on MLPs).
METHODS = ("definition", "closed-form")

#: The adversarial defenses (:mod:`verify.regularizers.names`): the loss each trains and the loss its inner
#: PGD ascends (``at``: CE at x'; ``trades``: CE at x + beta KL, PGD on the KL; ``mart``: boosted CE at x' +
#: beta KL (1 - p_y(x)), PGD on CE).
DEFENSES = ("at", "trades", "mart")
#: The loss the inner PGD ascends for each defense: CE for ``at`` and ``mart``, the KL term for ``trades``.
ATTACK_LOSS = {"at": "ce", "trades": "kl", "mart": "ce"}

#: The EMR conventions an objective may name (None: the lab's lambda mean_i R(x_i)).
EMR_CONVENTIONS = (None, "emr-official")


class Diverged(VerifyError, RuntimeError):
    """The training loss became NaN or inf: the run stops, its last good checkpoint is kept."""


@dataclass(frozen=True)
class Objective:
    """``reg`` None or a regularizer, named by its id or any alias (``R-IG``, ``input-gradient``, ``ig``, ...:
    :mod:`verify.regularizers.names`), kept as the lab's key of :data:`REGULARIZERS`; ``eps`` > 0 for
    adversarial training; ``method`` one of :data:`METHODS` (``closed-form`` for jac and cl only).

    >>> Objective("R-EMR", lam=0.1).reg, Objective("input_gradient", lam=0.1).id
    ('emr', 'ce+ig(lam=0.1)')
    """

    reg: str | None = None
    lam: float = 0.0
    eps: float = 0.0
    T: float = 1.0
    h: float = 0.0
    method: str = "definition"
    defense: str = "at"
    beta: float = 0.0
    convention: str | None = None

    def __post_init__(self):
        from verify.regularizers.names import defense_key

        if self.reg is not None:
            from verify.regularizers.names import lab_key

            object.__setattr__(self, "reg", lab_key(self.reg))     # an UnknownNameError lists the names
        object.__setattr__(self, "defense", defense_key(self.defense))
        if self.defense != "at" and not self.eps > 0:
            raise ValueError(f"objective: the defense {self.defense} needs a budget eps > 0, got eps={self.eps!r}")
        if self.defense != "at" and not (isinstance(self.beta, (int, float)) and self.beta > 0):
            raise ValueError(f"objective: the defense {self.defense} needs its weight beta > 0, got {self.beta!r}")
        if self.defense == "at" and self.beta != 0:
            raise ValueError("objective: beta weighs the KL term of trades and mart; at(eps) has none")
        if self.convention not in EMR_CONVENTIONS:
            raise ValueError(f"objective: convention must be one of {EMR_CONVENTIONS}, got {self.convention!r}")
        if self.convention is not None and (self.reg != "emr" or self.method != "definition"):
            raise ValueError("objective: convention='emr-official' is a form of the emr term (reg='emr', "
                             "method='definition')")
        if self.method not in METHODS:
            raise ValueError(f"objective: method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.method == "closed-form" and self.reg not in ("jac", "cl"):
            raise ValueError(f"objective: method='closed-form' computes the jac and cl penalties only, "
                             f"got reg={self.reg!r}")
        for name in ("lam", "eps", "T", "h", "beta"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"objective: {name} must be a finite number >= 0, got {v!r}")
        if self.reg == "emr" and self.T <= 0:
            raise ValueError(f"objective: the EMR temperature T must be > 0, got {self.T}")
        if self.reg is not None and self.eps > 0 and self.reg != "emr":
            raise ValueError("adversarial training combines only with emr (at(eps)+emr)")

    @property
    def id(self) -> str:
        """``ce``, ``at(eps=E)``, ``trades(eps=E,beta=B)`` or ``mart(eps=E,beta=B)``, then ``+R(lam=...)``.

        >>> Objective(defense="trades", eps=0.1, beta=6).id
        'trades(eps=0.1,beta=6)'
        >>> Objective("emr", lam=3, T=40, eps=0.1, convention="emr-official").id
        'at(eps=0.1)+emr(lam=3,T=40,emr-official)'
        """
        if self.eps > 0:
            base = f"{self.defense}(eps={_g(self.eps)}" + (f",beta={_g(self.beta)})" if self.defense != "at" else ")")
        else:
            base = "ce"
        if self.reg is None:
            return base
        extra = {"emr": f",T={_g(self.T)}", "cure": f",h={_g(self.h)}"}.get(self.reg, "")
        extra += ",closed-form" if self.method != "definition" else ""
        extra += f",{self.convention}" if self.convention else ""
        return f"{base}+{self.reg}(lam={_g(self.lam)}{extra})"

    @property
    def family(self) -> str:
        """``ce``, ``ce+R``, ``at``, ``at+emr``, ``trades``, ``trades+emr``, ``mart`` or ``mart+emr``: the
        objective without its numbers."""
        return (self.defense if self.eps > 0 else "ce") + (f"+{self.reg}" if self.reg else "")

    def to_dict(self) -> dict:
        """The objective as a JSON-able dict; ``method``, ``defense`` with ``beta``, and ``convention`` appear
        only when they are not the defaults, so the records of round-1 runs are those written before they
        existed."""
        d = {"id": self.id, "family": self.family, "reg": self.reg, "lam": self.lam, "eps": self.eps,
             "T": self.T, "h": self.h}
        if self.method != "definition":
            d["method"] = self.method
        if self.defense != "at":
            d.update(defense=self.defense, beta=self.beta)
        if self.convention is not None:
            d["convention"] = self.convention
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Objective":
        return cls(reg=d["reg"], lam=d["lam"], eps=d["eps"], T=d["T"], h=d["h"], method=d.get("method", "definition"),
                   defense=d.get("defense", "at"), beta=d.get("beta", 0.0), convention=d.get("convention"))


def _g(v: float) -> str:
    return f"{v:.4g}"


# ---- networks ---------------------------------------------------------------------------------------

_ARCH = re.compile(r"^(mlp|cnn)(\d+(?:x\d+)*)$")


def parse_arch(arch: str) -> tuple[str, tuple[int, ...]]:
    """``mlp64x64x64`` -> ("mlp", (64, 64, 64)); ``cnn16x32`` -> ("cnn", (16, 32)) (conv widths)."""
    m = _ARCH.match(arch or "")
    if not m:
        raise ValueError(f"--arch {arch!r}: expected mlpW1xW2... (hidden widths, e.g. mlp64x64) or cnnC1xC2... "
                         f"(conv channels, each conv 3x3 + ReLU + 2x2 max pool, e.g. cnn16x32)")
    widths = tuple(int(w) for w in m.group(2).split("x"))
    if min(widths) < 1:
        raise ValueError(f"--arch {arch!r}: widths must be at least 1")
    return m.group(1), widths


def build_model(arch: str, in_shape: tuple, classes: int, seed: int, *, dtype=torch.float64,
                device="cpu") -> nn.Sequential:
    """The network of ``arch`` for inputs of ``in_shape``, initialised from ``seed`` alone (torch's default
    scheme, Kaiming-uniform weights and uniform biases of scale 1/sqrt(fan_in), drawn in float64 from a
    ``torch.Generator`` and then cast), in train mode."""
    kind, widths = parse_arch(arch)
    layers: list[nn.Module] = []
    if kind == "mlp":
        dims = (math.prod(in_shape), *widths)
        layers.append(nn.Flatten())
        for i, o in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(i, o, dtype=torch.float64), nn.ReLU()]
        layers.append(nn.Linear(dims[-1], classes, dtype=torch.float64))
    else:
        if len(in_shape) != 3:
            raise ValueError(f"--arch {arch}: a CNN needs image inputs (C, H, W), this data set has shape {in_shape}")
        c, h, w = in_shape
        for ch in widths:
            if h < 2 or w < 2:
                raise ValueError(f"--arch {arch}: too many 2x2 poolings for {in_shape[1]}x{in_shape[2]} images")
            layers += [nn.Conv2d(c, ch, 3, padding=1, dtype=torch.float64), nn.ReLU(), nn.MaxPool2d(2)]
            c, h, w = ch, h // 2, w // 2
        layers += [nn.Flatten(), nn.Linear(c * h * w, classes, dtype=torch.float64)]
    model = nn.Sequential(*layers)
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (nn.Linear, nn.Conv2d)):
                fan_in = mod.weight[0].numel()
                nn.init.kaiming_uniform_(mod.weight, a=math.sqrt(5), generator=gen)
                bound = 1 / math.sqrt(fan_in)
                mod.bias.copy_((torch.rand(mod.bias.shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound)
    return model.to(dtype=dtype, device=device).train()


# ---- randomness -------------------------------------------------------------------------------------

def generator(*parts) -> torch.Generator:
    """A CPU generator seeded by a stable hash of ``parts`` (ints and strings), never the global seed."""
    digest = hashlib.sha256(repr(tuple(parts)).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2 ** 63 - 1))


# ---- one epoch ------------------------------------------------------------------------------------------

def make_optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    """Adam at learning rate ``lr`` with no weight decay (the lab's one optimiser, SPEC.md)."""
    return torch.optim.Adam(model.parameters(), lr=lr)


def _penalty(model, obj: Objective, x, y) -> torch.Tensor:
    from verify.regularizers.definitions import unchecked as R

    if obj.method == "closed-form":
        from verify.dynamics import penalties

        why = penalties.not_offered(model, obj.reg)
        if why is not None:
            raise ValueError(f"objective {obj.id}: method='closed-form' is not offered here: {why}; "
                             f"use method='definition'")
        return getattr(penalties, penalties.PENALTIES[obj.reg])(model, x).mean()
    fn = getattr(R, REGULARIZERS[obj.reg])
    if obj.reg == "ig":
        per = fn(model, x, y, create_graph=True)
    elif obj.reg in ("jac", "cl"):
        per = fn(model, x, create_graph=True)
    elif obj.reg == "cure":
        per = fn(model, x, y, h=obj.h, create_graph=True)
    elif obj.convention is not None:
        return fn(model, x, T=obj.T, convention=obj.convention, create_graph=True)   # the batch value itself
    else:
        per = fn(model, x, T=obj.T, create_graph=True)
    return per.mean()


def objective_loss(model, obj: Objective, x, y, x_adv=None, *, penalty=None):
    """(loss, logits at the points trained on) of ``obj`` on the batch (x, y), ``x_adv`` its attack's points
    (None for ``ce`` objectives): the module docstring's formulas, the EMR term at ``x_adv`` where there is
    one."""
    at = x if x_adv is None else x_adv
    if obj.eps > 0 and x_adv is None:
        raise ValueError(f"objective {obj.id}: adversarial training needs the attack's points x_adv")
    if obj.defense == "at" or obj.eps == 0:
        logits = model(at)
        loss = F.cross_entropy(logits, y)
    elif obj.defense == "trades":
        nat = model(x)
        logits = model(x_adv)
        loss = F.cross_entropy(nat, y) + obj.beta * kl_divergence(nat, logits).mean()
    else:                                                          # mart
        nat = model(x)
        logits = model(x_adv)
        p_y = torch.softmax(nat, 1).gather(1, y[:, None]).squeeze(1)
        loss = boosted_cross_entropy(logits, y).mean() + obj.beta * (kl_divergence(nat, logits) * (1 - p_y)).mean()
    if obj.reg is not None:
        loss = loss + obj.lam * (penalty or _penalty)(model, obj, at, y)
    return loss, logits


def train_epoch(model, optimizer, obj: Objective, x_train, y_train, *, batch_size: int, order: torch.Generator,
                attack_gen: torch.Generator, attack_steps: int, box, run_id: str, epoch: int,
                attack_eps: float | None = None, attack_step_size: float | None = None) -> dict:
    """One pass over the training set in the order drawn from ``order``; returns the epoch's mean loss and
    training accuracy (of the points trained on: clean, or PGD points for adversarial training). Raises
    :class:`Diverged` (naming the run, epoch and step) when the loss is not finite.

    ``attack_eps``, for adversarial training, is this epoch's budget where it differs from ``obj.eps`` (the
    warm-up of :meth:`verify.dynamics.settings.LabSettings.train_eps`); it must lie in (0, obj.eps].
    The attack is PGD on the defense's loss (:data:`ATTACK_LOSS`) with ``attack_steps`` steps of
    ``attack_step_size`` (None: 2.5 eps / steps)."""
    from verify.dynamics.attacks import PGD

    eps = obj.eps if attack_eps is None else attack_eps
    if obj.eps > 0 and not (0 < eps <= obj.eps):
        raise ValueError(f"run {run_id}: the epoch's attack budget must lie in (0, {obj.eps}], got {attack_eps!r}")
    if obj.eps > 0 and obj.defense == "at" and attack_step_size is None:
        attack = PGD(eps, norm="inf", steps=attack_steps, box=box)
    elif obj.eps > 0:
        attack = PGD(eps, norm="inf", steps=attack_steps, step_size=attack_step_size, box=box,
                     loss=ATTACK_LOSS[obj.defense])
    else:
        attack = None
    perm = torch.randperm(x_train.shape[0], generator=order).to(x_train.device)
    total, correct, n = 0.0, 0, 0
    model.train()
    for step, start in enumerate(range(0, len(perm), batch_size)):
        idx = perm[start:start + batch_size]
        x, y = x_train[idx], y_train[idx]
        try:
            loss, logits = train_step(model, optimizer, obj, x, y, attack=attack, attack_gen=attack_gen)
        except Diverged as exc:
            raise Diverged(f"run {run_id}: {exc} at epoch {epoch}, step {step}") from None
        total += loss.item() * len(idx)
        correct += int((logits.argmax(1) == y).sum())
        n += len(idx)
    return {"train_loss": total / n, "train_accuracy": correct / n}


def train_step(model, optimizer, obj: Objective, x, y, *, attack=None, attack_gen=None, penalty=None):
    """One step of the loop on the batch (x, y): the attack's points if ``attack`` (in eval mode), the objective's
    loss (:func:`objective_loss`), its backward pass and the optimiser's step. Returns the loss (detached) and the logits of the points
    trained on. Raises :class:`Diverged` when the loss is not finite (before any update).

    ``penalty(model, obj, x, y)``, if given, replaces the batch mean of the objective's regularizer (the
    benchmark's estimators use it; the lab never does)."""
    x_adv = None
    if attack is not None:
        model.eval()
        x_adv = attack.perturb(model, x, y, generator=attack_gen).detach()
        model.train()
    loss, logits = objective_loss(model, obj, x, y, x_adv, penalty=penalty)
    if not torch.isfinite(loss):
        raise Diverged(f"the training loss became {loss.item()}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), logits.detach()


def save_atomic(obj, path: str | os.PathLike) -> None:
    """``torch.save`` to a file beside ``path``, then move it over ``path``: a kill never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
