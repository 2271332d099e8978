"""The regularizers by their DEFINITIONS, computed with autograd exactly as training code does.

Provenance: [definition] (SPEC.md, "Regularizer definitions"). Every function returns per-example
values, a tensor (B,), when ``convention=None``; a named convention returns the batch scalar exactly
as that public implementation computes it (SPEC.md, "Peer conventions"). ``create_graph=True``
keeps the graph, as training does when it backpropagates through the penalty.

Per-example gradients are taken as the gradient of a sum over the batch, which is exact because the
examples do not interact (eval mode: no batch statistics).

Every public function checks its arguments first, with the errors of :mod:`verify.errors` (each says what
was expected and what was got): a model outside the theory (an unsupported layer, a train-mode BatchNorm or
Dropout), x that is not a non-empty batch of finite floats of the model's input shape, dtype and device,
K < 2 logits, labels y of the wrong shape, dtype or range. Where an example lies exactly on a kink (a
pre-activation that is exactly 0, or a tied max, in the computation's precision:
:attr:`verify.numerics.linearize.Linearization.at_kink`), autograd still returns a number, by picking one of
several subgradients; ``on_kink`` says what to do then: ``"warn"`` (default: a :class:`KinkWarning` naming
the examples), ``"raise"`` (:class:`KinkError`) or ``"ignore"``. (Points merely within rounding of a kink
are differentiated without ambiguity in float; the claim checkers, which compare with exact values, leave
those out too.) The kink test linearizes the batch (:func:`verify.linearize`), which can cost more than
the regularizer itself on large networks; ``on_kink="ignore"`` skips it. :data:`unchecked` holds the same functions without any check, for callers
that have checked and linearized the batch themselves (the checkers).

Conventions (B = batch size, K = classes; "mean" and "sum" are available for every regularizer but the
effective margin, a signed distance per example):

==================== ============ ==============================================================
convention           regularizer  batch value
==================== ============ ==============================================================
mean                 all          (1/B) sum_i R_i  (what training adds, times lambda)
sum                  all          sum_i R_i
ross-doshi-velez     R-IG         (1/(2B^2)) sum_i ||grad L_i||^2: tf.nn.l2_loss (= 1/2 sum of squares)
                                  of grad_x of the batch-MEAN loss; the mean puts 1/B inside the
                                  gradient, and the square makes it 1/B^2
dtak-rrr             R-IG         sum_i ||grad_x sum_k log p_k||^2 = K^2 sum_i ||J_i^T (p_i - 1/K)||^2
hoffman              R-JAC        1/2 mean_i ||J_i||_F^2 (with ``projections=n``: n random unit projections)
hein-andriushchenko  R-CL         (1/(K^2 B)) sum_i sum_{l,m} ||w_l - w_m||^2
cure-pytorch         R-CURE       (lambda/B^2) sum_i ||grad L(x_i + h z_i) - grad L(x_i)||, NOT squared;
                                  h = 3, lambda = 4; z = h (sign g + 1e-7)/(||sign g|| + 1e-7) as coded
emr-official         R-EMR        (1/B^2) sum_i ||J_i^T pt_i||^2 (grad of the batch mean of pt . f)
==================== ============ ==============================================================

>>> import torch
>>> torch.manual_seed(0) and None
>>> m = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3)).double().eval()
>>> x, y = torch.randn(5, 3, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1])
>>> per = input_gradient(m, x, y)
>>> bool(torch.isclose(input_gradient(m, x, y, convention="ross-doshi-velez"), per.sum() / (2 * 25)))
True
"""

from __future__ import annotations

import functools
import inspect
import warnings
from types import SimpleNamespace

import torch
import torch.nn.functional as F

from verify.errors import KinkError, KinkWarning, UnknownNameError, check_labels

__all__ = ["CONVENTIONS", "conventions", "loss_gradient", "logit_jacobian", "input_gradient", "jacobian",
           "cross_lipschitz", "cure_direction", "curvature", "hessian", "hessian_diagonal", "hessian_trace",
           "effective_margin", "emr", "softmax_jacobian", "unchecked", "KinkWarning"]

_GENERIC = {"mean": "(1/B) sum_i R_i", "sum": "sum_i R_i"}

#: Known conventions per regularizer, with the batch value each computes.
CONVENTIONS: dict[str, dict[str, str]] = {
    "R-IG": {**_GENERIC, "ross-doshi-velez": "(1/(2B^2)) sum_i ||grad_x L_i||^2",
             "dtak-rrr": "sum_i ||grad_x sum_k log p_k||^2 = K^2 sum_i ||J_i^T (p_i - 1/K)||^2"},
    "R-JAC": {**_GENERIC, "hoffman": "1/2 mean_i ||J_i||_F^2"},
    "R-CL": {**_GENERIC, "hein-andriushchenko": "(1/(K^2 B)) sum_i sum_{l,m} ||w_l - w_m||^2"},
    "R-CURE": {**_GENERIC, "cure-pytorch": "(lambda/B^2) sum_i ||grad L(x_i + h z_i) - grad L(x_i)|| (not squared)"},
    "R-EMR": {**_GENERIC, "emr-official": "(1/B^2) sum_i ||J_i^T pt_i||^2"},
    "trH": dict(_GENERIC), "gamma": {}, "softmax-Jacobian": dict(_GENERIC),
}


def conventions(regularizer: str) -> dict[str, str]:
    """The known conventions of one regularizer (name -> batch value), named by its id or any alias
    (:func:`verify.regularizers.names.regularizer_id`), or one of the related quantities of
    :data:`CONVENTIONS` (``trH``, ``gamma``, ``softmax-Jacobian``).

    >>> sorted(conventions("input-gradient")) == sorted(conventions("R-IG"))
    True
    """
    from verify.regularizers.names import regularizer_id

    if regularizer in CONVENTIONS:
        return CONVENTIONS[regularizer]
    try:
        return CONVENTIONS[regularizer_id(regularizer)]
    except (UnknownNameError, TypeError):
        raise UnknownNameError(f"unknown regularizer {regularizer!r}; known: {', '.join(CONVENTIONS)}") from None


def _reduce(per: torch.Tensor, regularizer: str, convention: str | None) -> torch.Tensor:
    if convention is None:
        return per
    if convention == "mean":
        return per.mean()
    if convention == "sum":
        return per.sum()
    known = ", ".join(["None"] + list(CONVENTIONS[regularizer]))
    raise ValueError(f"unknown convention {convention!r} for {regularizer}; known conventions: {known}")


def _leaf(x: torch.Tensor) -> torch.Tensor:
    return x.detach().clone().requires_grad_(True)


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1)


def loss_gradient(model, x, y, *, create_graph=False) -> torch.Tensor:
    """grad_x L(x_i, y_i) per example, shape of x (L = cross-entropy; y may be soft labels (B, K))."""
    xl = _leaf(x)
    L = F.cross_entropy(model(xl), y, reduction="none")
    return torch.autograd.grad(L.sum(), xl, create_graph=create_graph)[0]


def logit_jacobian(model, x, *, create_graph=False) -> torch.Tensor:
    """J (B, K, D): row k is grad_x f_k, by K backward passes (as Hoffman et al.'s n=-1 mode does)."""
    xl = _leaf(x)
    f = model(xl)
    K = f.shape[1]
    rows = [torch.autograd.grad(f[:, k].sum(), xl, retain_graph=True, create_graph=create_graph)[0]
            for k in range(K)]
    return torch.stack([_flat(r) for r in rows], 1)


def input_gradient(model, x, y, *, convention=None, create_graph=False) -> torch.Tensor:
    """R-IG = ||grad_x L(x, y)||^2, double backprop (Drucker & LeCun 1991; Ross & Doshi-Velez 2018).

    [definition] Identity [derived, claim input-gradient]: grad_x L = J^T (p - e_y).
    """
    if convention == "ross-doshi-velez":
        xl = _leaf(x)
        loss = F.cross_entropy(model(xl), y)                # batch mean, as their code
        g = torch.autograd.grad(loss, xl, create_graph=create_graph)[0]
        return 0.5 * (g ** 2).sum()                          # tf.nn.l2_loss
    if convention == "dtak-rrr":
        xl = _leaf(x)
        logp = F.log_softmax(model(xl), dim=1)
        g = torch.autograd.grad(logp.sum(), xl, create_graph=create_graph)[0]
        return (g ** 2).sum()                                # mask A = 1
    g = unchecked.loss_gradient(model, x, y, create_graph=create_graph)
    return _reduce(_flat(g).square().sum(1), "R-IG", convention)


def jacobian(model, x, *, projections=None, generator=None, convention=None, create_graph=False):
    """R-JAC = ||J||_F^2 of the logits (Jakubovitz & Giryes 2018; Hoffman et al. 2019). [definition]

    ``projections=n``: Hoffman et al.'s estimator, per example (K/n) sum_r ||J^T v_r||^2 with v_r
    uniform on the unit sphere of R^K; unbiased, since E[v v^T] = I/K.
    """
    if projections is not None and (generator is None or int(projections) < 1):
        raise ValueError(f"jacobian(projections={projections!r}) needs projections >= 1 and an explicit "
                         f"generator=torch.Generator().manual_seed(...) (no unseeded randomness)")
    xl = _leaf(x)
    f = model(xl)
    B, K = f.shape
    n = K if projections is None else int(projections)
    est = torch.zeros(B, dtype=f.dtype, device=f.device)
    for r in range(n):
        if projections is None:
            v = torch.zeros(B, K, dtype=f.dtype, device=f.device)
            v[:, r] = 1
        else:
            v = torch.randn(B, K, generator=generator, dtype=f.dtype, device="cpu").to(f.device)
            v = v / v.norm(dim=1, keepdim=True)
        Jv = torch.autograd.grad(f, xl, v, retain_graph=True, create_graph=create_graph)[0]
        scale = 1.0 if projections is None else K / n
        est = est + scale * _flat(Jv).square().sum(1)
    if convention == "hoffman":
        return 0.5 * est.sum() / B                       # J2 += C ||Jv||^2 / (n B); R = J2 / 2
    return _reduce(est, "R-JAC", convention)


def cross_lipschitz(model, x, *, convention=None, create_graph=False):
    """R-CL = sum_{l,m} ||w_l - w_m||^2 of the logits (Hein & Andriushchenko 2017). [definition]"""
    J = unchecked.logit_jacobian(model, x, create_graph=create_graph)
    K = J.shape[1]
    per = (J.unsqueeze(2) - J.unsqueeze(1)).square().sum((1, 2, 3))
    if convention == "hein-andriushchenko":
        return per.sum() / (K * K * J.shape[0])
    return _reduce(per, "R-CL", convention)


def cure_direction(g: torch.Tensor, *, eps: float = 0.0) -> torch.Tensor:
    """CURE's z = sign(g) / ||sign(g)|| per example (z = 0 where g = 0 entirely); ``eps`` reproduces
    the third-party code's (sign g + eps)/(||sign g|| + eps)."""
    s = torch.sign(g).detach() + eps
    n = _flat(torch.sign(g)).norm(dim=1) + eps
    n = torch.where(n > 0, n, torch.ones_like(n))
    return s / n.view(-1, *([1] * (g.dim() - 1)))


def curvature(model, x, y, *, h=3.0, z=None, convention=None, lam=4.0, create_graph=False):
    """R-CURE = ||grad L(x + h z, y) - grad L(x, y)||^2 (Moosavi-Dezfooli et al. 2019). [definition]

    z defaults to sign(grad L)/||sign(grad L)||, held constant (detached), as CURE does.
    ``cure-pytorch`` is computed exactly as the third-party PyTorch code (mean losses, norm not
    squared, lambda/B^2, z with its 1e-7 terms).
    """
    if convention == "cure-pytorch":
        xl = _leaf(x)
        g = torch.autograd.grad(F.cross_entropy(model(xl), y), xl)[0]
        zz = h * cure_direction(g, eps=1e-7) if z is None else h * z
        xl = _leaf(x)
        diff = F.cross_entropy(model(xl + zz), y) - F.cross_entropy(model(xl), y)
        gd = torch.autograd.grad(diff, xl, create_graph=create_graph)[0]
        return (lam * _flat(gd).norm(dim=1)).sum() / x.shape[0]
    g0 = unchecked.loss_gradient(model, x, y, create_graph=create_graph)
    if z is None:
        z = cure_direction(g0)
    g1 = unchecked.loss_gradient(model, x + h * z.detach(), y, create_graph=create_graph)
    return _reduce(_flat(g1 - g0).square().sum(1), "R-CURE", convention)


def _basis_hvp(model, x, y, V, create_graph=False):
    """Hessian-vector products H_i v for directions V (r, B, D...) (each row of V one direction per
    example), by double backprop; vmapped over r."""
    xl = _leaf(x)
    L = F.cross_entropy(model(xl), y, reduction="none")
    g = torch.autograd.grad(L.sum(), xl, create_graph=True)[0]
    return torch.autograd.grad(g, xl, V, is_grads_batched=True, create_graph=create_graph)[0]


def hessian(model, x, y, *, directions=None, chunk=256):
    """hess_x L per example by double backprop: (B, D, D) over the D basis vectors, or, with
    ``directions`` V (B, r, D), the products H V (B, r, D)."""
    B, D = x.shape[0], x[0].numel()
    if directions is not None:
        V = directions.permute(1, 0, 2).reshape(-1, *x.shape)
        return _flat_rows(_basis_hvp(model, x, y, V), B).permute(1, 0, 2)
    out = []
    for s in range(0, D, chunk):
        idx = torch.arange(s, min(s + chunk, D), device=x.device)
        E = torch.zeros(len(idx), B, D, dtype=x.dtype, device=x.device)
        E[torch.arange(len(idx)), :, idx] = 1
        out.append(_flat_rows(_basis_hvp(model, x, y, E.reshape(len(idx), *x.shape)), B))
    return torch.cat(out, 0).permute(1, 0, 2)


def _flat_rows(t, B):
    return t.reshape(t.shape[0], B, -1)


def hessian_diagonal(model, x, y, *, chunk=256):
    """The diagonal of hess_x L per example (B, D), by D Hessian-vector products in chunks."""
    B, D = x.shape[0], x[0].numel()
    out = []
    for s in range(0, D, chunk):
        idx = torch.arange(s, min(s + chunk, D), device=x.device)
        E = torch.zeros(len(idx), B, D, dtype=x.dtype, device=x.device)
        E[torch.arange(len(idx)), :, idx] = 1
        Hv = _flat_rows(_basis_hvp(model, x, y, E.reshape(len(idx), *x.shape)), B)
        out.append(Hv[torch.arange(len(idx)), :, idx])
    return torch.cat(out, 0).mT


def hessian_trace(model, x, y=None, *, convention=None):
    """tr hess_x L per example, exactly: the sum of e_d^T H e_d over the D basis vectors (HVPs).
    [definition of the trace; claim hessian-trace-weighted-cross-lipschitz]

    The labels do not matter on a piecewise-linear network (the label's term -f_y is piecewise linear, so
    its Hessian is 0 at interior points: hess_x L = J^T S J); ``y=None`` uses the predicted classes."""
    if y is None:
        with torch.no_grad():
            y = model(x).argmax(1)
    return _reduce(unchecked.hessian_diagonal(model, x, y).sum(1), "trH", convention)


def effective_margin(model, x, y, *, j=None, convention=None):
    """gamma = (f_y - f_j) / ||w_y - w_j|| with j the strongest other class (Liu & Chan 2022), signed.

    ``j`` may be given (so two computations compare the same pair)."""
    if convention is not None:
        raise ValueError(f"unknown convention {convention!r} for the effective margin; known conventions: None")
    xl = _leaf(x)
    f = model(xl)
    if j is None:
        other = f.detach().clone()
        other.scatter_(1, y.view(-1, 1), -torch.inf)
        j = other.argmax(1)
    num = f.gather(1, y.view(-1, 1)).squeeze(1) - f.gather(1, j.view(-1, 1)).squeeze(1)
    w = torch.autograd.grad(num.sum(), xl)[0]
    return num.detach() / _flat(w).norm(dim=1)


def emr(model, x, *, T=1.0, convention=None, create_graph=False):
    """R-EMR = ||J^T pt||^2 with pt = softmax(f/T) detached (Liu & Chan 2022, as coded). [definition]"""
    xl = _leaf(x)
    f = model(xl)
    pt = torch.softmax(f.detach() / T, dim=1)
    if convention == "emr-official":
        g = torch.autograd.grad((pt * f).sum(1).mean(), xl, create_graph=create_graph)[0]
        return (g ** 2).sum()
    g = torch.autograd.grad((pt * f).sum(), xl, create_graph=create_graph)[0]
    return _reduce(_flat(g).square().sum(1), "R-EMR", convention)


def softmax_jacobian(model, x, *, convention=None):
    """||dp/dx||_F^2 per example: the Jacobian of the softmax output, by K backward passes."""
    xl = _leaf(x)
    p = torch.softmax(model(xl), dim=1)
    rows = [_flat(torch.autograd.grad(p[:, k].sum(), xl, retain_graph=True)[0]) for k in range(p.shape[1])]
    return _reduce(torch.stack(rows, 1).square().sum((1, 2)), "softmax-Jacobian", convention)


# ---- the checks at the public boundary ------------------------------------------------------------------

_ON_KINK = ("warn", "raise", "ignore")


def _check(model, x, y, who: str, on_kink: str, soft: bool) -> None:
    """The checks of the module docstring; the kink test linearizes the batch unless ``on_kink='ignore'``."""
    from verify.numerics.compiled import compile_model
    from verify.numerics.linearize import linearize, require_classes, validate_input
    from verify.numerics.precision import precision_guard

    if on_kink not in _ON_KINK:
        raise ValueError(f"{who}: on_kink must be one of {', '.join(map(repr, _ON_KINK))}, got {on_kink!r}")
    validate_input(model, x, who=who)
    with precision_guard(x.device):
        eng = compile_model(model, tuple(x.shape[1:]), x.dtype, x.device)      # cached: linearize reuses it
    require_classes(eng.K, who)
    if y is not None:
        check_labels(y, x.shape[0], eng.K, device=x.device, who=who, soft=soft, convert=False)
    if on_kink == "ignore":
        return
    kinks = linearize(model, x).at_kink
    if bool(kinks.any()):
        idx = [int(i) for i in kinks.nonzero().flatten()]
        msg = (f"{who}: {len(idx)} of {x.shape[0]} examples lie exactly on a kink (a pre-activation exactly 0 or "
               f"a tied max, in {x.dtype}; examples {', '.join(map(str, idx[:8]))}{', ...' if len(idx) > 8 else ''}): "
               f"autograd picks one of several subgradients there, so their values depend on that pick "
               f"(on_kink='ignore' silences this)")
        if on_kink == "raise":
            raise KinkError(msg)
        warnings.warn(msg, KinkWarning, stacklevel=3)


def _public(fn):
    """``fn`` with the boundary checks before it and a keyword ``on_kink``; labels are its ``y``."""
    sig = inspect.signature(fn)
    soft = fn.__name__ == "loss_gradient"

    @functools.wraps(fn)
    def checked(*args, on_kink: str = "warn", **kwargs):
        a = sig.bind(*args, **kwargs).arguments
        _check(a["model"], a["x"], a.get("y"), fn.__name__, on_kink, soft)
        return fn(*args, **kwargs)

    params = list(sig.parameters.values())
    kw = inspect.Parameter("on_kink", inspect.Parameter.KEYWORD_ONLY, default="warn", annotation=str)
    checked.__signature__ = sig.replace(parameters=params + [kw])
    return checked


#: The functions of this module without any check (see the module docstring).
unchecked = SimpleNamespace(**{name: globals()[name] for name in __all__ if name not in ("unchecked", "KinkWarning")})

for _name in ("loss_gradient", "logit_jacobian", "input_gradient", "jacobian", "cross_lipschitz", "curvature",
              "hessian", "hessian_diagonal", "hessian_trace", "effective_margin", "emr", "softmax_jacobian"):
    globals()[_name] = _public(globals()[_name])
del _name
