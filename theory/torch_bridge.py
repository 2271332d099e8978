"""From a torch ``nn.Module`` to layer descriptions, and to an exact :class:`~theory.network.Network`.

This is the one module of ``theory`` that imports torch. The model is traced with ``torch.fx`` into
a graph of supported operations; a residual addition becomes a :class:`~theory.layers.Residual`
with its two branches. Parameters are kept as torch tensors in the descriptions, so the float
engine (``verify``) runs exactly the network the exact engine reads; every float weight is read by
the exact engine as the dyadic rational it is.

BatchNorm in eval mode is folded to a per-channel scale and shift, computed in float64 from the
running statistics: scale = weight / sqrt(running_var + eps), shift = bias - running_mean * scale.
The square root is irrational in general, so the exact network uses these float64 values (each
within two float64 roundings of the real-valued ones).

Anything not piecewise linear is refused with an error that names it:

>>> import torch
>>> from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.GELU()), (2,))
Traceback (most recent call last):
...
theory.errors.UnsupportedLayerError: GELU (module '1') is not piecewise linear, so the theory of activation regions does not apply to it; replace it with ReLU, LeakyReLU, PReLU, an absolute value (Abs) or maxout (MaxoutUnit): the theory covers piecewise-linear activations only
"""

from __future__ import annotations

import operator

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F

from .layers import (
    SUPPORTED,
    AvgPool2d,
    BatchNorm,
    Conv2d,
    Flatten,
    Linear,
    Maxout,
    MaxPool2d,
    Rectifier,
    Residual,
    ShapeError,
    TrainingModeError,
    UnsupportedLayerError,
)
from .network import Network

__all__ = ["from_torch", "layers_from_torch", "trace", "MaxoutUnit", "Abs", "NOT_PIECEWISE_LINEAR"]


class MaxoutUnit(nn.Module):
    """Maxout over consecutive groups of ``pieces`` features: (B, F * pieces) -> (B, F)."""

    def __init__(self, pieces: int):
        super().__init__()
        self.pieces = int(pieces)

    def forward(self, x):
        return x.unflatten(-1, (-1, self.pieces)).amax(-1)


class Abs(nn.Module):
    """The absolute value, sigma_a with a = -1, as a module."""

    def forward(self, x):
        return torch.abs(x)


#: Activations and layers that are not piecewise linear (or not in eval mode), with the reason.
NOT_PIECEWISE_LINEAR = {
    "GELU", "SiLU", "Sigmoid", "Tanh", "Softplus", "ELU", "SELU", "CELU", "Mish", "Hardswish",
    "Hardsigmoid", "LogSigmoid", "Softsign", "Tanhshrink", "Softmax", "LogSoftmax", "gelu", "silu",
    "sigmoid", "tanh", "softplus", "elu", "selu", "celu", "mish", "softmax", "log_softmax", "exp", "log",
}

_LEAVES = (MaxoutUnit, Abs)


class _Tracer(torch.fx.Tracer):
    def is_leaf_module(self, m, qualname):
        return isinstance(m, _LEAVES) or super().is_leaf_module(m, qualname)


def _t(p):
    return None if p is None else p.detach().clone()


#: What to do with a layer that is not piecewise linear: an activation is replaced, a final normalisation dropped.
_REPLACE = ("; replace it with ReLU, LeakyReLU, PReLU, an absolute value (Abs) or maxout (MaxoutUnit): the theory "
            "covers piecewise-linear activations only")
_DROP = ("; return the logits instead (leave the softmax, log or exp to the loss): the theory covers "
         "piecewise-linear networks only")


def _refuse(what: str, where: str, why: str | None = None, error=UnsupportedLayerError):
    if why is None:         # a layer of NOT_PIECEWISE_LINEAR: why, and what to do
        drop = what.lower().replace("tensor.", "") in ("softmax", "logsoftmax", "log_softmax", "exp", "log")
        why = "is not piecewise linear, so the theory of activation regions does not apply to it" + (
            _DROP if drop else _REPLACE)
    raise error(f"{what} ({where}) {why}")


def _module_layer(mod: nn.Module, name: str):
    """The layer description of one leaf module, or None for an identity."""
    kind = type(mod).__name__
    where = f"module {name!r}"
    if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if mod.training:
            _refuse(kind, where, "is in training mode: call .eval() (batch statistics make the network "
                    "depend on the whole batch, and it is not piecewise linear per example)", TrainingModeError)
        if not mod.track_running_stats or mod.running_mean is None:
            _refuse(kind, where, "has no running statistics, so even in eval mode it normalises by batch "
                    "statistics")
        var, mean = mod.running_var.double(), mod.running_mean.double()
        w = mod.weight.detach().double() if mod.weight is not None else torch.ones_like(var)
        b = mod.bias.detach().double() if mod.bias is not None else torch.zeros_like(var)
        scale = w / torch.sqrt(var + mod.eps)
        return BatchNorm(scale, b - mean * scale, name=name, shift_terms=b.abs() + (mean * scale).abs())
    if isinstance(mod, nn.Dropout) or kind.startswith("Dropout"):
        if mod.training:
            _refuse(kind, where, "is in training mode: call .eval() (random masks are not a fixed function)",
                    error=TrainingModeError)
        return None
    if isinstance(mod, nn.Identity):
        return None
    if isinstance(mod, nn.Linear):
        return Linear(_t(mod.weight), _t(mod.bias), name=name)
    if isinstance(mod, nn.Conv2d):
        if mod.groups != 1 or mod.dilation != (1, 1) or mod.padding_mode != "zeros" or isinstance(mod.padding, str):
            _refuse(kind, where, f"uses groups={mod.groups}, dilation={mod.dilation}, padding={mod.padding!r}, "
                    f"padding_mode={mod.padding_mode!r}; supported: groups=1, dilation=1, integer zero padding")
        return Conv2d(_t(mod.weight), _t(mod.bias), mod.stride, mod.padding, name=name)
    if isinstance(mod, nn.MaxPool2d):
        if mod.ceil_mode or mod.dilation not in (1, (1, 1)) or mod.return_indices:
            _refuse(kind, where, "uses ceil_mode, dilation or return_indices, which are not supported")
        return MaxPool2d(mod.kernel_size, mod.stride, mod.padding, name=name)
    if isinstance(mod, nn.AvgPool2d):
        if mod.ceil_mode or not mod.count_include_pad or mod.divisor_override is not None:
            _refuse(kind, where, "uses ceil_mode, count_include_pad=False or divisor_override, which are not "
                    "supported")
        return AvgPool2d(mod.kernel_size, mod.stride, mod.padding, name=name)
    if isinstance(mod, nn.Flatten):
        if mod.start_dim != 1 or mod.end_dim != -1:
            _refuse(kind, where, "must flatten all but the batch dimension (start_dim=1, end_dim=-1)")
        return Flatten(name=name)
    if isinstance(mod, nn.ReLU):
        return Rectifier(0, name=name)
    if isinstance(mod, nn.LeakyReLU):
        return Rectifier(float(mod.negative_slope), name=name)
    if isinstance(mod, nn.PReLU):
        w = _t(mod.weight)
        return Rectifier(w if w.numel() > 1 else w.reshape(()).item(), name=name)
    if isinstance(mod, Abs):
        return Rectifier(-1, name=name)
    if isinstance(mod, MaxoutUnit):
        return Maxout(mod.pieces, name=name)
    if kind in NOT_PIECEWISE_LINEAR:
        _refuse(kind, where)
    _refuse(kind, where, f"is not a supported layer; supported: {', '.join(SUPPORTED)}")


def _function_layer(node: torch.fx.Node, name: str):
    fn = node.target
    fname = getattr(fn, "__name__", str(fn))
    where = f"function call {node.name!r}"
    kw = dict(node.kwargs)
    if fn in (F.relu, torch.relu):
        return Rectifier(0, name=name)
    if fn is F.leaky_relu:
        slope = kw.get("negative_slope", node.args[1] if len(node.args) > 1 else 0.01)
        return Rectifier(float(slope), name=name)
    if fn is torch.abs:
        return Rectifier(-1, name=name)
    if fn is torch.flatten:
        start = kw.get("start_dim", node.args[1] if len(node.args) > 1 else 0)
        if start != 1:
            _refuse("torch.flatten", where, "must flatten all but the batch dimension (start_dim=1)")
        return Flatten(name=name)
    if fname in NOT_PIECEWISE_LINEAR:
        _refuse(fname.upper() if fname in ("gelu", "silu", "elu", "selu", "celu") else fname, where)
    _refuse(f"the function {fname}", where, f"is not a supported operation; supported: {', '.join(SUPPORTED)}")


def _method_layer(node: torch.fx.Node, name: str):
    m = node.target
    where = f"method call {node.name!r}"
    if m == "relu":
        return Rectifier(0, name=name)
    if m == "abs":
        return Rectifier(-1, name=name)
    if m in ("view", "reshape", "flatten"):
        args = node.args[1:]
        if m == "flatten" and (args[:1] == (1,) or node.kwargs.get("start_dim") == 1):
            return Flatten(name=name)
        if m != "flatten" and len(args) == 2 and args[1] == -1:
            return Flatten(name=name)
        _refuse(f"Tensor.{m}{tuple(args)}", where, "is only supported as a flatten to (batch, -1)")
    if m in NOT_PIECEWISE_LINEAR:
        _refuse(m, where)
    _refuse(f"Tensor.{m}", where, f"is not a supported operation; supported: {', '.join(SUPPORTED)}")


def _is_add(node) -> bool:
    return (node.op == "call_function" and node.target in (operator.add, torch.add, operator.iadd)) or \
           (node.op == "call_method" and node.target in ("add", "add_", "__add__"))


def _tensor_inputs(node):
    return [a for a in node.args if isinstance(a, torch.fx.Node) and a.op != "get_attr"
            and not (a.op == "call_method" and a.target == "size")]


#: What works instead of a TorchScript module that cannot be rebuilt.
_NOT_SCRIPTED = ("instead, call the toolkit on the nn.Module from Python (verify.check_model(model, x) or "
                 "verify.robust_radius(model, x)), or torch.save(model, path) the nn.Module with its class defined "
                 "in a module file (e.g. mynet.py, on PYTHONPATH) that torch.load can import")


def _unscript(module):
    """An eager copy of a TorchScript module built from standard layers (and nn.Sequential of them).

    TorchScript keeps each submodule's class name, constants, parameters and buffers, but torch.fx
    cannot trace it; standard layers are rebuilt from those. A scripted module with its own forward
    cannot be rebuilt, and is refused.
    """
    name = getattr(module, "original_name", type(module).__name__)
    local = {"MaxoutUnit": MaxoutUnit, "Abs": Abs}
    cls = local.get(name) or getattr(nn, name, None)
    if cls is None or not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise UnsupportedLayerError(
            f"the TorchScript module {name!r} has its own forward, which cannot be read (torch.fx cannot trace "
            f"TorchScript, and only nn.Sequential of standard layers is rebuilt from it); {_NOT_SCRIPTED}")
    lost = [a for a in getattr(cls, "__constants__", []) if not hasattr(module, a)]
    if lost:
        raise UnsupportedLayerError(
            f"the TorchScript module {name!r} does not keep its settings ({', '.join(lost)}), as happens with "
            f"torch.jit.trace; save it with torch.jit.script, or save the nn.Module with torch.save")
    eager = cls.__new__(cls)
    nn.Module.__init__(eager)
    for attr in set(getattr(cls, "__constants__", [])) | {"pieces", "negative_slope", "eps", "momentum",
                                                          "track_running_stats", "affine", "num_features"}:
        if hasattr(module, attr):
            setattr(eager, attr, getattr(module, attr))
    for pname, p in module.named_parameters(recurse=False):
        eager.register_parameter(pname, nn.Parameter(p.detach().clone(), requires_grad=p.requires_grad))
    for bname, b in module.named_buffers(recurse=False):
        eager.register_buffer(bname, None if b is None else b.detach().clone())
    if cls is nn.Sequential:
        for cname, child in module.named_children():
            eager.add_module(cname, _unscript(child))
    elif any(True for _ in module.children()):
        raise UnsupportedLayerError(f"the TorchScript module {name!r} has submodules; only nn.Sequential "
                                    f"containers can be rebuilt from TorchScript; {_NOT_SCRIPTED}")
    eager.train(module.training)
    return eager


def trace(module: nn.Module) -> torch.fx.GraphModule:
    """The model as the torch.fx graph that :func:`layers_from_torch` reads (MaxoutUnit and Abs kept as
    leaves; a TorchScript model of standard layers is rebuilt first), runnable: it calls the model's own
    submodules and functions. Layer descriptions are named after its nodes: a module call by the module's
    qualified name (the node's target), any other call by the node's name."""
    if isinstance(module, torch.jit.ScriptModule):
        module = _unscript(module)
    return torch.fx.GraphModule(module, _Tracer().trace(module))


def layers_from_torch(module: nn.Module) -> list:
    """The layer descriptions of a torch model, traced with torch.fx (see the module docstring).

    A TorchScript model made of standard layers (or nn.Sequential of them) is rebuilt first.
    """
    if isinstance(module, torch.jit.ScriptModule):
        module = _unscript(module)
    if not isinstance(module, nn.Module):
        raise TypeError(f"expected a torch nn.Module, got {type(module).__name__}")
    try:
        graph = _Tracer().trace(module)
    except Exception as exc:  # fx raises many kinds; keep its message
        raise UnsupportedLayerError(f"torch.fx cannot trace {type(module).__name__}: {exc}") from exc
    mods = dict(module.named_modules())
    nodes = [n for n in graph.nodes if not (n.op == "call_method" and n.target == "size")]
    outputs = [n for n in nodes if n.op == "output"]
    (out,) = outputs
    (res,) = [a for a in out.args if isinstance(a, torch.fx.Node)] or [None]
    if res is None:
        raise UnsupportedLayerError("the model's forward returns no tensor")
    placeholders = [n for n in nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise UnsupportedLayerError(f"the model must take one input tensor, its forward takes {len(placeholders)}")

    def single_layer(node):
        name = node.name
        if node.op == "call_module":
            return _module_layer(mods[node.target], node.target)
        if node.op == "call_function":
            return _function_layer(node, name)
        if node.op == "call_method":
            return _method_layer(node, name)
        raise UnsupportedLayerError(f"unsupported graph node {node.op} {node.target}")

    def ancestors_chain(node, stop):
        """Nodes from node back to (excluding) stop, following the first tensor input."""
        chain = []
        while node is not stop:
            chain.append(node)
            ins = _tensor_inputs(node)
            if not ins:
                break
            node = ins[0]
        return chain

    def fork_of(a, b):
        seen = set()
        n = a
        while True:
            seen.add(n)
            ins = _tensor_inputs(n)
            if not ins:
                break
            n = ins[0] if not _is_add(n) else fork_of(*ins[:2])
        n = b
        while n not in seen:
            ins = _tensor_inputs(n)
            if not ins:
                raise UnsupportedLayerError("cannot find the common input of a residual addition")
            n = ins[0] if not _is_add(n) else fork_of(*ins[:2])
        return n

    def build(node, stop) -> list:
        """Layers mapping the value of ``stop`` to the value of ``node``."""
        seq = []
        while node is not stop:
            if node.op == "placeholder":
                raise UnsupportedLayerError("a residual branch does not start at its fork")
            if _is_add(node):
                ins = _tensor_inputs(node)
                if len(ins) != 2 or any(isinstance(a, (int, float)) for a in node.args):
                    _refuse("an addition of a constant", f"node {node.name!r}", "is not supported; only residual "
                            "additions of two branches are")
                fork = fork_of(*ins)
                b1, b2 = build(ins[0], fork), build(ins[1], fork)
                affine = (Linear, Conv2d, AvgPool2d, Flatten, BatchNorm)
                body, short = (b1, b2) if all(isinstance(l, affine) for l in b2) else (b2, b1)
                if not all(isinstance(l, affine) for l in short):
                    _refuse("a residual addition of two non-affine branches", f"node {node.name!r}",
                            "is not supported; one branch must be the identity or affine")
                seq.append(Residual(tuple(body), tuple(short), name=node.name))
                node = fork
                continue
            layer = single_layer(node)
            if layer is not None:
                seq.append(layer)
            ins = _tensor_inputs(node)
            if len(ins) != 1:
                raise UnsupportedLayerError(f"node {node.name!r} ({node.target}) takes {len(ins)} tensor inputs")
            node = ins[0]
        return seq[::-1]

    return build(res, placeholders[0])


def from_torch(module: nn.Module, in_shape, name: str | None = None) -> Network:
    """An exact :class:`Network` of a torch model, every float weight read as the exact rational it is.

    ``in_shape`` is the input shape without the batch dimension, e.g. ``(784,)`` or ``(3, 32, 32)``.

    >>> lin = torch.nn.Linear(2, 1, dtype=torch.float64)
    >>> _ = lin.weight.data.copy_(torch.tensor([[0.5, -0.25]], dtype=torch.float64)); _ = lin.bias.data.zero_()
    >>> from_torch(torch.nn.Sequential(lin, torch.nn.ReLU()), (2,))([4, 1])
    Matrix([[7/4]])
    """
    if isinstance(in_shape, int):
        in_shape = (in_shape,)
    try:
        in_shape = tuple(int(s) for s in in_shape)
    except (TypeError, ValueError):
        raise ShapeError(f"in_shape must be a tuple of ints without the batch dimension, got {in_shape!r}") from None
    return Network(layers_from_torch(module), in_shape, name=name or type(module).__name__)
