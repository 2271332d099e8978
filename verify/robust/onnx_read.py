"""Reading an ONNX network (with the ``onnx`` package, extra ``onnx``) as a torch model in the theory.

:func:`read_onnx` turns the graph into torch layers that :func:`theory.torch_bridge.from_torch` reads, so the
exact network, the float model and every check are the toolkit's own; every weight keeps its float value
(an ONNX float32 weight becomes a float32 torch weight, read exactly by the exact engine). Operators:

- ``Gemm`` (alpha = beta = 1, transA = 0, either transB) and ``MatMul`` by a constant matrix -> ``nn.Linear``;
  an ``Add`` / ``Sub`` of a constant right after one (or after a ``Conv``) becomes its bias;
- ``Conv`` (2-D, group 1, dilation 1, symmetric padding) -> ``nn.Conv2d``;
- ``Relu``, ``LeakyRelu``, ``PRelu`` (constant slopes), ``Abs`` -> the rectifiers;
- ``MaxPool`` / ``AveragePool`` (2-D, symmetric padding, no ceil mode) -> ``nn.MaxPool2d`` / ``nn.AvgPool2d``;
- ``Flatten`` (axis 1), and ``Reshape`` to (batch, -1) -> ``nn.Flatten``; ``Identity`` and ``Dropout`` are skipped;
- ``Add`` of two computed tensors -> a residual addition (one branch affine, as the theory needs);
- ``Add`` / ``Sub`` / ``Mul`` of a scalar or per-channel constant elsewhere (an input normalisation) -> a
  diagonal ``nn.Linear`` (vectors) or 1x1 ``nn.Conv2d`` (images); ``Div`` by a constant only when its
  reciprocal is exact in floats (a power of two), since x / c is not the rational x * (1 / c) otherwise;
- ``Constant`` nodes and initializers as constants.

Any other operator is refused in one line that names it (:class:`~verify.errors.UnsupportedLayerError`).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import torch
import torch.nn as nn

from theory.torch_bridge import Abs
from verify.errors import UnsupportedLayerError, VerifyError, require

__all__ = ["read_onnx", "OnnxNetwork", "OnnxError", "ONNX_OPERATORS"]

#: The ONNX operators :func:`read_onnx` reads.
ONNX_OPERATORS = ("Gemm", "MatMul", "Conv", "Relu", "LeakyRelu", "PRelu", "Abs", "MaxPool", "AveragePool",
                  "Flatten", "Reshape", "Add", "Sub", "Mul", "Div", "Identity", "Dropout", "Constant")


class OnnxError(VerifyError, ValueError):
    """An ONNX file that cannot be read as a network (malformed, several inputs, an unsupported use of a
    supported operator); an operator outside the theory is :class:`~verify.errors.UnsupportedLayerError`."""


class OnnxNetwork(nn.Module):
    """The torch model of an ONNX graph with additions of two branches: ``layers`` run in the graph's order,
    each ``step`` (kind, layer index, input names, output name) reading the values computed before."""

    def __init__(self, layers, steps, input_name: str, output_name: str):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.steps, self.input_name, self.output_name = list(steps), input_name, output_name

    def forward(self, x):
        vals = {self.input_name: x}
        for kind, idx, ins, out in self.steps:
            vals[out] = self.layers[idx](vals[ins[0]]) if kind == "layer" else vals[ins[0]] + vals[ins[1]]
        return vals[self.output_name]


def _attrs(node, onnx) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pads(node, a, what) -> tuple:
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise OnnxError(f"{what}: auto_pad {a['auto_pad']!r} is not supported; give explicit pads")
    p = list(a.get("pads", [0, 0, 0, 0]))
    if len(p) != 4 or p[:2] != p[2:]:
        raise OnnxError(f"{what}: pads {p} are not symmetric 2-D pads (top, left, bottom, right equal in pairs)")
    if any(d != 1 for d in a.get("dilations", [1, 1])):
        raise OnnxError(f"{what}: dilations {list(a['dilations'])} are not supported (only 1)")
    return (int(p[0]), int(p[1]))


def read_onnx(path, *, dtype=None) -> tuple[nn.Module, tuple]:
    """(the torch model, the input shape without the batch dimension) of the ONNX file at ``path``, in eval
    mode: an ``nn.Sequential`` for a chain of layers, an :class:`OnnxNetwork` when the graph adds two branches.
    ``dtype``: the torch dtype of the weights (default: the graph input's, float32 or float64). Raises
    :class:`~verify.errors.UnsupportedLayerError` naming an operator outside the theory, :class:`OnnxError`
    for a file that is not such a network, and :class:`~verify.errors.MissingExtraError` without ``onnx``."""
    onnx = require("onnx", "onnx", "reading ONNX networks")
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf raises its own kinds; keep the message
        raise OnnxError(f"{path}: not an ONNX model ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    g = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    inputs = [i for i in g.input if i.name not in consts]
    if len(inputs) != 1 or len(g.output) != 1:
        raise OnnxError(f"{path}: expected one input and one output, got {len(inputs)} inputs and {len(g.output)} outputs")
    inp = inputs[0]
    tt = inp.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tt.shape.dim]
    if not dims:
        raise OnnxError(f"{path}: the input {inp.name!r} has no shape")
    in_shape = tuple(dims[1:]) if len(dims) > 1 else tuple(dims)
    if any(d < 1 for d in in_shape):
        raise OnnxError(f"{path}: the input {inp.name!r} has shape {dims}; expected fixed sizes after the batch dimension")
    if dtype is None:
        dtype = torch.float64 if tt.elem_type == onnx.TensorProto.DOUBLE else torch.float32
    state = _Reader(consts, dtype, path)
    for node in g.node:
        for i in node.input:
            state.uses[i] = state.uses.get(i, 0) + 1
    state.shapes[inp.name] = in_shape
    for node in g.node:
        state.node(node, onnx)
    out = g.output[0].name
    if out not in state.shapes:
        raise OnnxError(f"{path}: the output {out!r} is a constant or is not computed by the graph")
    steps = state.steps
    chain = all(k == "layer" for k, *_ in steps) and all(
        (steps[i][2][0] == (inp.name if i == 0 else steps[i - 1][3])) for i in range(len(steps)))
    if chain and (not steps or steps[-1][3] == out):
        net = nn.Sequential(*state.layers)
    else:
        net = OnnxNetwork(state.layers, steps, inp.name, out)
    return net.eval(), in_shape


class _Reader:
    """The graph read so far: constants, value shapes (without batch), torch layers and steps."""

    def __init__(self, consts, dtype, path):
        self.consts, self.dtype, self.path = dict(consts), dtype, path
        self.shapes, self.layers, self.steps, self.made_by, self.uses = {}, [], [], {}, {}

    def t(self, a) -> torch.Tensor:
        return torch.as_tensor(np.array(a, dtype=np.float64 if self.dtype == torch.float64 else np.float32),
                               dtype=self.dtype)

    def add_layer(self, layer, src, out):
        layer = layer.to(self.dtype).eval()
        with torch.no_grad():
            shape = tuple(layer(torch.zeros((1,) + self.shapes[src], dtype=self.dtype)).shape[1:])
        self.layers.append(layer)
        self.steps.append(("layer", len(self.layers) - 1, (src,), out))
        self.shapes[out] = shape
        self.made_by[out] = len(self.layers) - 1

    def node(self, node, onnx):
        op, name = node.op_type, node.name or (node.output[0] if node.output else "?")
        what = f"{self.path}: {op} node {name!r}"
        a = _attrs(node, onnx)
        ins = [i for i in node.input if i]
        if op == "Constant":
            self.consts[node.output[0]] = onnx.numpy_helper.to_array(a["value"]) if "value" in a else \
                np.array(a.get("value_float", a.get("value_floats")))
            return
        if op not in ONNX_OPERATORS:
            raise UnsupportedLayerError(f"{what}: the ONNX operator {op} is outside the theory (piecewise-linear "
                                        f"networks); supported: {', '.join(ONNX_OPERATORS)}")
        for i in ins:
            if i not in self.consts and i not in self.shapes:
                raise OnnxError(f"{what}: its input {i!r} is not computed before it")
        tensors = [i for i in ins if i in self.shapes]
        if all(i in self.consts for i in ins):
            raise OnnxError(f"{what}: an operation on constants only is not supported (fold it into the weights)")
        out = node.output[0]
        src = tensors[0]
        shape = self.shapes[src]
        if op in ("Identity", "Dropout"):
            self._alias(src, out)
            self.shapes[out] = shape
            return
        if op == "Gemm":
            if a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0 or a.get("transA", 0):
                raise OnnxError(f"{what}: alpha, beta other than 1 or transA are not supported")
            W = np.asarray(self.consts.get(ins[1]))
            W = W if a.get("transB", 0) else W.T
            self._linear(W, self.consts.get(ins[2]) if len(ins) > 2 else None, src, out, what, shape)
        elif op == "MatMul":
            if ins[0] != src or ins[1] not in self.consts:
                raise OnnxError(f"{what}: only a computed vector times a constant matrix is supported")
            self._linear(np.asarray(self.consts[ins[1]]).T, None, src, out, what, shape)
        elif op == "Conv":
            if a.get("group", 1) != 1 or len(a.get("kernel_shape", [0, 0])) != 2:
                raise OnnxError(f"{what}: only 2-D convolutions with group 1 are supported")
            W = np.asarray(self.consts[ins[1]])
            conv = nn.Conv2d(W.shape[1], W.shape[0], tuple(W.shape[2:]), tuple(a.get("strides", [1, 1])),
                             _pads(node, a, what), bias=len(ins) > 2, dtype=self.dtype)
            with torch.no_grad():
                conv.weight.copy_(self.t(W))
                if len(ins) > 2:
                    conv.bias.copy_(self.t(self.consts[ins[2]]))
            self.add_layer(conv, src, out)
        elif op in ("Relu", "Abs"):
            self.add_layer(nn.ReLU() if op == "Relu" else Abs(), src, out)
        elif op == "LeakyRelu":
            self.add_layer(nn.LeakyReLU(float(a.get("alpha", 0.01))), src, out)
        elif op == "PRelu":
            s = np.asarray(self.consts[ins[1]]).reshape(-1)
            pr = nn.PReLU(s.size, dtype=self.dtype)
            with torch.no_grad():
                pr.weight.copy_(self.t(s))
            self.add_layer(pr, src, out)
        elif op in ("MaxPool", "AveragePool"):
            if a.get("ceil_mode", 0) or a.get("storage_order", 0) or len(node.output) > 1:
                raise OnnxError(f"{what}: ceil_mode, storage_order or an indices output are not supported")
            if op == "AveragePool" and not a.get("count_include_pad", 0) and any(a.get("pads", [0])):
                raise OnnxError(f"{what}: padding without count_include_pad is not supported")
            cls = nn.MaxPool2d if op == "MaxPool" else nn.AvgPool2d
            k = tuple(a["kernel_shape"])
            self.add_layer(cls(k, tuple(a.get("strides", k)), _pads(node, a, what)), src, out)
        elif op in ("Flatten", "Reshape"):
            if op == "Flatten" and a.get("axis", 1) != 1:
                raise OnnxError(f"{what}: only Flatten with axis 1 (all but the batch dimension) is supported")
            if op == "Reshape":
                tgt = [int(v) for v in np.asarray(self.consts.get(ins[1], [])).reshape(-1)]
                n = int(np.prod(shape))
                if tgt[1:] == list(shape) and tgt[:1] in ([1], [-1], [0]):
                    self._alias(src, out)
                    self.shapes[out] = shape
                    return
                if not (len(tgt) == 2 and tgt[0] in (1, -1, 0) and tgt[1] in (-1, n)) and tgt not in ([-1], [n]):
                    raise OnnxError(f"{what}: Reshape to {tgt} is supported only as a flatten to (batch, -1)")
            if len(shape) == 1:
                self._alias(src, out)
                self.shapes[out] = shape
                return
            self.add_layer(nn.Flatten(), src, out)
        elif len(tensors) == 2 and op == "Add":
            if self.shapes[tensors[0]] != self.shapes[tensors[1]]:
                raise OnnxError(f"{what}: adds shapes {self.shapes[tensors[0]]} and {self.shapes[tensors[1]]}")
            self.steps.append(("add", None, tuple(tensors), out))
            self.shapes[out] = shape
        elif len(tensors) == 1:
            self._elementwise(op, ins, src, out, what, shape)
        else:
            raise OnnxError(f"{what}: {op} of two computed tensors is not piecewise linear or not supported")

    def _alias(self, src, out):
        self.steps.append(("layer", self._identity(), (src,), out))

    def _identity(self) -> int:
        self.layers.append(nn.Identity())
        return len(self.layers) - 1

    def _linear(self, W, b, src, out, what, shape):
        if W is None or W.ndim != 2 or len(shape) != 1 or W.shape[1] != shape[0]:
            raise OnnxError(f"{what}: a weight of shape {None if W is None else W.shape} for an input of shape "
                            f"{shape} (expected a vector input and a constant matrix)")
        lin = nn.Linear(W.shape[1], W.shape[0], bias=b is not None, dtype=self.dtype)
        with torch.no_grad():
            lin.weight.copy_(self.t(W))
            if b is not None:
                lin.bias.copy_(self.t(np.asarray(b).reshape(-1)))
        self.add_layer(lin, src, out)

    def _elementwise(self, op, ins, src, out, what, shape):
        c = np.asarray(self.consts[ins[1] if ins[0] == src else ins[0]], dtype=np.float64)
        idx = self.made_by.get(src)
        prev = self.layers[idx] if idx is not None else None
        last = self.steps and self.steps[-1][3] == src
        if op in ("Add", "Sub") and ins[0] == src and last and isinstance(prev, (nn.Linear, nn.Conv2d)) \
                and prev.bias is None and self.uses.get(src, 0) == 1 and _per_channel(c, prev.weight.shape[0], 1 if isinstance(prev, nn.Linear) else 3):
            b = np.broadcast_to(c.reshape(-1), (prev.weight.shape[0],)) * (1 if op == "Add" else -1)
            prev.bias = nn.Parameter(self.t(b))       # Gemm's own form: W x + b
            self.steps[-1] = self.steps[-1][:3] + (out,)
            self.shapes[out] = shape
            self.made_by[out] = idx
            return
        n = shape[0]
        if not _per_channel(c, n, len(shape)):
            raise OnnxError(f"{what}: {op} by a constant of shape {c.shape} on shape {shape}: only a scalar or "
                            f"per-channel constant is supported")
        v = np.broadcast_to(c.reshape(-1), (n,)).astype(np.float64)
        w, b = np.ones(n), np.zeros(n)
        if op == "Add":
            b = v
        elif op == "Sub":
            b, w = (-v, w) if ins[0] == src else (v, -w)
        elif op == "Mul":
            w = v
        else:
            if ins[0] != src or any(Fraction(1) / Fraction(float(d)) != Fraction(1.0 / float(d)) for d in v):
                raise OnnxError(f"{what}: Div by a constant is supported only as x / c with 1 / c exact in "
                                f"floats (a power of two); fold the normalisation into the input box or the first "
                                f"layer")
            w = 1.0 / v
        if len(shape) == 1:
            layer = nn.Linear(n, n, dtype=self.dtype)
            with torch.no_grad():
                layer.weight.copy_(self.t(np.diag(w)))
                layer.bias.copy_(self.t(b))
        else:
            layer = nn.Conv2d(n, n, 1, dtype=self.dtype)
            with torch.no_grad():
                layer.weight.copy_(self.t(np.diag(w)[:, :, None, None]))
                layer.bias.copy_(self.t(b))
        self.add_layer(layer, src, out)


def _per_channel(c: np.ndarray, n: int, rank: int) -> bool:
    """Whether the constant c broadcasts over a value of rank ``rank`` (without batch) with n channels first
    as one number per channel (or one number)."""
    if c.size == 1:
        return True
    if c.size != n:
        return False
    if rank == 1:
        return c.ndim <= 2 and c.shape[-1] == n
    return c.ndim >= 3 and c.shape[-2:] == (1, 1) and c.shape[-3] == n
