r"""Exact R-JAC and R-CL for training, from the masked weight product, differentiable in the weights.

On the activation region of x, a piecewise-linear network's logit Jacobian is the product of its layer
maps under the pattern ([derived]; claim ``local-affine``). For an MLP
f = W_L s(... s(W_1 x + b_1) ...) + b_L with s a ReLU or leaky ReLU of slope a,

    J(x) = W_L D_{L-1} W_{L-1} ... D_1 W_1,    D_l = diag(s'(u_l(x))) in {1, a},

and the pattern D_l is piecewise constant in the weights as well as in x, so at a fixed batch J is this
polynomial in the weights, its masks held constant. Where some pre-activation u is exactly 0 the mask
takes s'(0) = a, the subgradient torch's ReLU backward (and so the definition's double backprop) picks.
The weight gradient of a penalty of J computed this way is therefore the gradient the definition's
double backprop computes, and both are float evaluations of the same polynomials: they agree within the
rounding bound of :func:`agreement_bound`.

The penalties, per example (B,):

- R-JAC = ||J||_F^2 = sum_k (M G M^T)_kk, with M = W_L D_{L-1} ... W_2 D_1 (K x n_1) and G = W_1 W_1^T
  (n_1 x n_1), computed once per batch (n_1^2 D multiply-adds): the B x K x D Jacobian is never formed,
  and per example M G costs K n_1^2 multiply-adds instead of the K n_1 D of J = M W_1;
- R-CL = sum_{l,m} ||w_l - w_m||^2 = 2K ||C J||_F^2 with C = I - 11^T/K (claim
  ``cross-lipschitz-centered-jacobian``), and C J = (C M) W_1, so the same Gram matrix serves.

For a network with convolutions and max pools (the lab's CNNs, ``cnnC1xC2``) J is formed explicitly:
the K rows are pushed back from the logits through each Linear (R W), each max pool (the rows scattered to
the argmax the forward pass chose), each rectifier (the mask) and each convolution (its transpose), for
all B K rows at once. This is exact too; on the CPU it is faster than R-CL's definition (which forms
the B x K x K x D pairwise differences) but slower than R-JAC's K backward passes (docs/performance.md,
"Training-step benchmark"), so :class:`verify.dynamics.train.Objective` offers ``method="closed-form"``
where it measured faster (:func:`not_offered`).

>>> import torch
>>> from verify.dynamics.train import build_model
>>> from verify.regularizers import unchecked as R
>>> m = build_model("mlp6x5", (4,), 3, 0)
>>> x = torch.randn(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
>>> bool(torch.allclose(jacobian_penalty(m, x), R.jacobian(m, x), rtol=1e-12, atol=0))
True
>>> bool(torch.allclose(cross_lipschitz_penalty(m, x), R.cross_lipschitz(m, x), rtol=1e-12, atol=0))
True
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from verify.errors import ShapeError, UnsupportedLayerError
from verify.numerics.bounds import gamma, unit_roundoff

__all__ = ["jacobian_penalty", "cross_lipschitz_penalty", "masked_jacobian", "definition_magnitude",
           "rounding_count", "agreement_bound", "is_mlp", "not_offered", "PENALTIES", "SUPPORTED_LAYERS"]

#: The layers the masked product reads, in an ``nn.Sequential``.
SUPPORTED_LAYERS = (nn.Flatten, nn.Linear, nn.Conv2d, nn.ReLU, nn.LeakyReLU, nn.MaxPool2d)

#: Objective key -> the penalty of this module (and of :mod:`verify.regularizers`, its definition).
PENALTIES = {"jac": "jacobian_penalty", "cl": "cross_lipschitz_penalty"}


def _layers(model) -> list:
    if not isinstance(model, nn.Sequential):
        raise UnsupportedLayerError(f"the masked-product penalty reads an nn.Sequential of "
                                    f"{', '.join(c.__name__ for c in SUPPORTED_LAYERS)}; got a {type(model).__name__}")
    mods = list(model)
    for mod in mods:
        if not isinstance(mod, SUPPORTED_LAYERS):
            raise UnsupportedLayerError(f"the masked-product penalty does not support {type(mod).__name__}; "
                                        f"supported: {', '.join(c.__name__ for c in SUPPORTED_LAYERS)}")
        if isinstance(mod, nn.MaxPool2d) and (mod.dilation not in (1, (1, 1)) or mod.ceil_mode):
            raise UnsupportedLayerError("the masked-product penalty supports MaxPool2d without dilation and "
                                        "with ceil_mode=False")
        if isinstance(mod, nn.Conv2d) and (isinstance(mod.padding, str) or mod.groups != 1
                                           or mod.dilation != (1, 1) or mod.padding_mode != "zeros"):
            raise UnsupportedLayerError("the masked-product penalty supports Conv2d with numeric zero padding, "
                                        "groups=1 and dilation 1")
    if not any(isinstance(m, (nn.Linear, nn.Conv2d)) for m in mods):
        raise UnsupportedLayerError("the masked-product penalty needs at least one Linear or Conv2d layer")
    return mods


def is_mlp(model) -> bool:
    """Whether ``model`` is an nn.Sequential of Flatten, Linear and (leaky) ReLU only: where the Gram form runs."""
    return isinstance(model, nn.Sequential) and all(
        isinstance(m, (nn.Flatten, nn.Linear, nn.ReLU, nn.LeakyReLU)) for m in model)


def not_offered(model, reg: str) -> str | None:
    """Why the training option ``method="closed-form"`` is not offered for ``reg`` on ``model``, or None where
    it is: on MLPs for R-JAC and R-CL, on the CNNs for R-CL (where each measured faster than its definition,
    ``python -m verify.bench --training``). Raises UnsupportedLayerError for a layer the product cannot read.

    >>> from verify.dynamics.train import build_model
    >>> not_offered(build_model("mlp8", (4,), 3, 0), "jac") is None
    True
    >>> not_offered(build_model("cnn2", (1, 4, 4), 3, 0), "jac")[:46]
    'on CNNs the masked product of R-JAC is slower '
    """
    if reg not in PENALTIES:
        return f"the masked product computes {' and '.join(PENALTIES)}, not {reg!r}"
    _layers(model)
    if is_mlp(model) or reg == "cl":
        return None
    return ("on CNNs the masked product of R-JAC is slower than its definition (python -m verify.bench --training): "
            "it runs the same transposed convolutions as the K backward passes, batched over B K planes, and J is "
            "dense (K x D) with no Gram shortcut")


def _slope(mod) -> float:
    return 0.0 if isinstance(mod, nn.ReLU) else float(mod.negative_slope)


def _forward(mods, x):
    """The logits and the tape: per layer what its adjoint needs (the mask, the argmax, the shape). Only the
    pattern is read from this pass, so it runs without autograd (the penalty's graph is the product's)."""
    with torch.no_grad():
        return _forward_tape(mods, x)


def _forward_tape(mods, x):
    h, tape = x, []
    for mod in mods:
        if isinstance(mod, nn.Flatten):
            tape.append(("flatten", mod, tuple(h.shape[1:])))
            h = mod(h)
        elif isinstance(mod, (nn.Linear, nn.Conv2d)):
            tape.append(("affine", mod, tuple(h.shape[1:])))
            h = mod(h)
        elif isinstance(mod, (nn.ReLU, nn.LeakyReLU)):
            tape.append(("rect", mod, (h > 0).detach()))
            h = mod(h)
        else:
            shape = tuple(h.shape[1:])
            h, idx = F.max_pool2d(h, mod.kernel_size, mod.stride, mod.padding, return_indices=True)
            tape.append(("max", mod, (shape, idx)))
    if h.dim() != 2:
        raise ShapeError(f"the network must end in a vector of logits, got output shape {tuple(h.shape[1:])}")
    return h, tape


def _weight(mod, weights):
    return mod.weight if weights is None else weights[mod]


def _rows(mods, tape, B, K, weights, mag, down_to):
    """R = the K unit rows pushed back from the logits through layers len-1, ..., ``down_to`` (their
    adjoints under the pattern): (B', K, n) with n the input size of layer ``down_to``, and B' = 1 while no
    mask or selection has been met (the rows are then the same for every example), else B."""
    R = None
    for i in range(len(mods) - 1, down_to - 1, -1):
        kind, mod, info = tape[i]
        if kind == "flatten":
            continue
        if kind == "affine":
            W = _weight(mod, weights)
            if isinstance(mod, nn.Linear):
                R = W.unsqueeze(0) if R is None else R @ W
                continue
            if R is None:
                raise UnsupportedLayerError("the masked-product penalty needs the network to end in a Linear layer")
            out = _out_shape(mod, info)
            Rc = F.conv_transpose2d(R.reshape(-1, *out), W, None, mod.stride, mod.padding, _output_padding(mod, info))
            R = Rc.reshape(R.shape[0], K, -1)
            continue
        if R is None:
            raise UnsupportedLayerError("the masked-product penalty needs the network to end in a Linear layer")
        if kind == "rect":  # times D = diag(1 where u > 0, else a), broadcast over the K rows
            a = abs(_slope(mod)) if mag else _slope(mod)
            keep = info.reshape(B, 1, -1)
            one = torch.ones((), dtype=R.dtype, device=R.device)
            D = keep.to(R.dtype) if a == 0 else torch.where(keep, one, one * a)   # a in R's dtype, as torch's
            R = R * D
        else:
            shape, idx = info
            Rp = R.expand(B, K, R.shape[2]).reshape(B * K, *idx.shape[1:])
            Rp = F.max_unpool2d(Rp, idx.repeat_interleave(K, 0), mod.kernel_size, mod.stride, mod.padding,
                                output_size=shape[1:])
            R = Rp.reshape(B, K, -1)
    return R


def _out_shape(mod, in_shape):
    """(C_out, H_out, W_out) of convolution ``mod`` on inputs of shape ``in_shape``."""
    _, h, w = in_shape
    (kh, kw), (sh, sw), (ph, pw) = mod.kernel_size, mod.stride, mod.padding
    return (mod.out_channels, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)


def _output_padding(mod, in_shape):
    """The output padding that makes the transposed convolution return ``in_shape`` exactly."""
    _, h, w = in_shape
    _, ho, wo = _out_shape(mod, in_shape)
    (kh, kw), (sh, sw), (ph, pw) = mod.kernel_size, mod.stride, mod.padding
    return (h - ((ho - 1) * sh - 2 * ph + kh), w - ((wo - 1) * sw - 2 * pw + kw))


def _check_input(x, who):
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[0] == 0:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ShapeError(f"{who}: x: expected a non-empty batch of shape (B, *in_shape), got {got}")


def _mag_weights(mods) -> dict:
    """|W| of every affine layer as a fresh leaf (the magnitude computation's inputs, for its gradient)."""
    return {m: m.weight.detach().abs().requires_grad_(True) for m in mods if isinstance(m, (nn.Linear, nn.Conv2d))}


def _penalty(model, x, reg: str, weights=None, mag: bool = False):
    mods = _layers(model)
    logits, tape = _forward(mods, x)
    B, K = logits.shape
    first = next(i for i, m in enumerate(mods) if isinstance(m, (nn.Linear, nn.Conv2d)))
    if is_mlp(model) and first < len(mods) - 1:
        W1 = _weight(mods[first], weights)
        M = _rows(mods, tape, B, K, weights, mag, first + 1).expand(B, K, -1)   # J = M W_1: (B, K, n_1)
        if reg == "cl":
            M = M + M.mean(1, keepdim=True) if mag else M - M.mean(1, keepdim=True)
        G = W1 @ W1.T
        per = ((M @ G) * M).sum((1, 2))
    else:
        J = _rows(mods, tape, B, K, weights, mag, 0).expand(B, K, -1)
        if reg == "cl":
            J = J + J.mean(1, keepdim=True) if mag else J - J.mean(1, keepdim=True)
        per = J.square().sum((1, 2))
    return (2 * K) * per if reg == "cl" else per


def jacobian_penalty(model, x):
    """R-JAC = ||J(x)||_F^2 per example (B,), exact, from the masked weight product; differentiable in the
    weights (module docstring). Equal to :func:`verify.regularizers.jacobian` within :func:`agreement_bound`."""
    _check_input(x, "jacobian_penalty")
    return _penalty(model, x, "jac")


def cross_lipschitz_penalty(model, x):
    """R-CL = sum_{l,m} ||w_l - w_m||^2 = 2K ||C J(x)||_F^2 per example (B,), exact, from the masked weight
    product; differentiable in the weights. Equal to :func:`verify.regularizers.cross_lipschitz` within
    :func:`agreement_bound`."""
    _check_input(x, "cross_lipschitz_penalty")
    return _penalty(model, x, "cl")


def masked_jacobian(model, x, *, magnitude: bool = False):
    """J(x) (B, K, D) as the masked product, differentiable in the weights; ``magnitude=True``: the same
    product on |W| and |a|, i.e. |W_L| |D_{L-1}| ... |W_1| (no gradient), the magnitude of the rounding bounds.

    >>> import torch
    >>> m = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 2)).double()
    >>> with torch.no_grad():
    ...     _ = m[0].weight.copy_(torch.tensor([[1.0, -1.0], [1.0, 1.0]])); _ = m[0].bias.zero_()
    ...     _ = m[2].weight.copy_(torch.tensor([[2.0, 3.0], [1.0, 0.0]])); _ = m[2].bias.zero_()
    >>> masked_jacobian(m, torch.tensor([[3.0, 1.0]], dtype=torch.float64))[0].tolist()
    [[5.0, 1.0], [1.0, -1.0]]
    """
    _check_input(x, "masked_jacobian")
    mods = _layers(model)
    logits, tape = _forward(mods, x)
    B, K = logits.shape
    weights = {m: m.weight.detach().abs() for m in mods if isinstance(m, (nn.Linear, nn.Conv2d))} if magnitude else None
    return _rows(mods, tape, B, K, weights, magnitude, 0).expand(B, K, -1)


def definition_magnitude(model, x, reg: str):
    """The definition's computation of ``reg`` (jac or cl) with every input replaced by its magnitude and
    every subtraction by an addition (its "absolute tree"), as the batch mean, and its gradient in |W|:
    (value, {module: gradient}). For R-JAC, ||Jmag||_F^2 with Jmag = |W_L| ... |W_1| under the pattern (the
    K backward passes compute the rows of J as sums of these products); for R-CL,
    sum_{l,m} ||Jmag_l + Jmag_m||^2."""
    mods = _layers(model)
    logits, tape = _forward(mods, x)
    B, K = logits.shape
    weights = _mag_weights(mods)
    J = _rows(mods, tape, B, K, weights, True, 0).expand(B, K, -1)
    per = J.square().sum((1, 2))
    if reg == "cl":
        per = 2 * K * per + 2 * J.sum(1).square().sum(1)
    val = per.mean()
    grads = torch.autograd.grad(val, list(weights.values()))
    return val.detach(), dict(zip(weights, grads))


def _closed_magnitude(model, x, reg: str):
    """As :func:`definition_magnitude`, for this module's own computation of the penalty."""
    weights = _mag_weights(_layers(model))
    val = _penalty(model, x, reg, weights=weights, mag=True).mean()
    grads = torch.autograd.grad(val, list(weights.values()))
    return val.detach(), dict(zip(weights, grads))


def rounding_count(model, x_shape: tuple, reg: str) -> int:
    """N: at least the number of roundings any term of the batch-mean penalty meets, in either computation.

    A term of J is a product of one weight per affine layer (and the slopes a); forming it, and summing it
    into J, costs at most fan_in + fan_out + 2 roundings per affine layer (an inner product of either
    direction's length, the multiply, the mask) and 4 per max pool (its scatter): N_J. A term of ||J||^2 is
    a product of two terms of J (2 N_J), squared and summed over K max(D, widths) entries (the Gram form's
    sums are no longer: n_1 <= its bound), then over the batch (B) and scaled (a few). R-CL centres each J
    factor (K + 2 more each) and sums over K^2 max(D, widths). Each count is an over-count; gamma_N grows
    with N, so an over-count keeps the bound valid.
    """
    B, shape = int(x_shape[0]), tuple(x_shape[1:])
    mods = _layers(model)
    n_j, widest = 0, math.prod(shape)
    for mod in mods:
        if isinstance(mod, nn.Linear):
            n_j += mod.in_features + mod.out_features + 2
            widest = max(widest, mod.out_features)
        elif isinstance(mod, nn.Conv2d):
            kk = math.prod(mod.kernel_size)
            n_j += (mod.in_channels + mod.out_channels) * kk + 2
        elif isinstance(mod, nn.MaxPool2d):
            n_j += 4
        elif isinstance(mod, (nn.ReLU, nn.LeakyReLU)):
            n_j += 1
    K = next(m.out_features for m in reversed(mods) if isinstance(m, nn.Linear))
    if reg == "cl":
        return 2 * (n_j + K + 2) + K * K * widest + B + 8
    return 2 * n_j + K * widest + B + 8


def agreement_bound(model, x, reg: str):
    """(value bound, {parameter: gradient bound}) on |closed form - definition| of the batch mean of ``reg``
    (``jac`` or ``cl``) at x, in the model's dtype.

    Each computation evaluates the same polynomial in the weights by sums and products in some order (the
    masks and the argmax selections are exact). So each is within gamma_N of its absolute tree (Higham's
    bound for sums of products: every term carries at most N roundings, N from :func:`rounding_count`,
    assuming no underflow), and the two within gamma_N (A_def + A_closed). A weight gradient by reverse mode
    evaluates each monomial's partial derivative from the forward values of its other factors (at most N
    roundings) and adjoint sums of the lengths of the forward sums (at most N more): gamma_{2N} times the
    gradient of the absolute tree in |W|, the absolute tree of the adjoint computation. Biases do not enter J:
    both gradients are exactly 0 (bound 0)."""
    if reg not in PENALTIES:
        raise ValueError(f"agreement_bound: reg must be one of {', '.join(PENALTIES)}, got {reg!r}")
    u = unit_roundoff(x.dtype)
    n = rounding_count(model, tuple(x.shape), reg)
    a_def, g_def = definition_magnitude(model, x, reg)
    a_cf, g_cf = _closed_magnitude(model, x, reg)
    value = gamma(n, u) * float(a_def + a_cf)
    grads = {}
    for mod in _layers(model):
        if isinstance(mod, (nn.Linear, nn.Conv2d)):
            grads[mod.weight] = gamma(2 * n, u) * (g_def[mod] + g_cf[mod])
            if mod.bias is not None:
                grads[mod.bias] = torch.zeros_like(mod.bias)
    return value, grads
