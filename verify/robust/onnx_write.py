"""Writing a torch model in the theory as an ONNX graph, with ``onnx.helper`` (extra ``onnx``; no exporter).

:func:`write_onnx` reads the model as the toolkit's layer descriptions (:func:`theory.torch_bridge.layers_from_torch`:
the same reading as the exact network's) and writes one ONNX node per description, the weights as
initializers of the model's float type, unchanged: ``Linear`` -> ``Gemm`` (transB = 1), ``Conv2d`` -> ``Conv``,
a rectifier -> ``Relu``, ``PRelu`` (its slopes as a constant, so a float64 slope stays exact) or ``Abs``,
``MaxPool2d`` / ``AvgPool2d`` -> ``MaxPool`` / ``AveragePool``, ``Flatten`` -> ``Flatten``, eval BatchNorm ->
``Mul`` and ``Add`` by its per-channel scale and shift (folded in float64, as the exact network has them), and a
residual block -> its two branches and an ``Add``. Maxout has no node here and is refused. The output is
deterministic (names from the layers' order), and :func:`verify.robust.onnx_read.read_onnx` reads it back.
"""

from __future__ import annotations

import numpy as np
import torch

from theory.layers import AvgPool2d, BatchNorm, Conv2d, Flatten, Linear, MaxPool2d, Rectifier, Residual, as_pair
from verify.errors import UnsupportedLayerError, require

__all__ = ["write_onnx", "ONNX_OPSET"]

#: The ONNX operator set the writer targets.
ONNX_OPSET = 13


class _Writer:
    def __init__(self, helper, numpy_helper, np_dtype):
        self.helper, self.nh, self.np_dtype = helper, numpy_helper, np_dtype
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def const(self, arr, stem: str) -> str:
        n = self.name(stem)
        a = arr.detach().cpu().numpy() if isinstance(arr, torch.Tensor) else np.asarray(arr)
        self.inits.append(self.nh.from_array(np.ascontiguousarray(a.astype(self.np_dtype)), n))
        return n

    def op(self, op: str, ins: list, **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(self.helper.make_node(op, ins, [out], name=out, **attrs))
        return out

    def layers(self, layers, x: str, shape: tuple) -> tuple[str, tuple]:
        for layer in layers:
            x, shape = self.layer(layer, x, shape)
        return x, shape

    def layer(self, l, x: str, shape: tuple):
        out_shape = tuple(l.out_shape(shape)) if hasattr(l, "out_shape") else shape
        if isinstance(l, Linear):
            ins = [x, self.const(l.weight, "weight")] + ([self.const(l.bias, "bias")] if l.bias is not None else [])
            return self.op("Gemm", ins, transB=1), out_shape
        if isinstance(l, Conv2d):
            ph, pw = as_pair(l.padding)
            W = l.weight
            ins = [x, self.const(W, "weight")] + ([self.const(l.bias, "bias")] if l.bias is not None else [])
            return self.op("Conv", ins, kernel_shape=list(W.shape[2:]), strides=list(as_pair(l.stride)),
                           pads=[ph, pw, ph, pw]), out_shape
        if isinstance(l, (MaxPool2d, AvgPool2d)):
            (kh, kw), (sh, sw), (ph, pw) = l.geometry()
            extra = {} if isinstance(l, MaxPool2d) else {"count_include_pad": 1}
            return self.op("MaxPool" if isinstance(l, MaxPool2d) else "AveragePool", [x], kernel_shape=[kh, kw],
                           strides=[sh, sw], pads=[ph, pw, ph, pw], **extra), out_shape
        if isinstance(l, Flatten):
            return (self.op("Flatten", [x], axis=1) if len(shape) > 1 else x), out_shape
        if isinstance(l, Rectifier):
            s = l.slope
            if not l.per_channel() and float(s) == 0:
                return self.op("Relu", [x]), out_shape
            if not l.per_channel() and float(s) == -1:
                return self.op("Abs", [x]), out_shape
            a = torch.as_tensor(s, dtype=torch.float64).reshape(-1)
            a = a.reshape((-1,) + (1,) * (len(shape) - 1)) if a.numel() > 1 else a.reshape(())
            return self.op("PRelu", [x, self.const(a, "slope")]), out_shape
        if isinstance(l, BatchNorm):
            view = (-1,) + (1,) * (len(shape) - 1)
            sc = torch.as_tensor(l.scale, dtype=torch.float64).reshape(view)
            sh = torch.as_tensor(l.shift, dtype=torch.float64).reshape(view)
            if self.np_dtype != np.float64 and not (torch.equal(sc.float().double(), sc)
                                                    and torch.equal(sh.float().double(), sh)):
                raise UnsupportedLayerError(f"{l.name} (BatchNorm): its folded float64 scale and shift are not float32 "
                                            f"numbers; write the model in float64 (model.double()) to keep it exact")
            y = self.op("Mul", [x, self.const(sc, "bn_scale")])
            return self.op("Add", [y, self.const(sh, "bn_shift")]), out_shape
        if isinstance(l, Residual):
            b, _ = self.layers(l.body, x, shape)
            s, _ = self.layers(l.shortcut, x, shape)
            return self.op("Add", [b, s]), out_shape
        raise UnsupportedLayerError(f"{getattr(l, 'name', '?')} ({type(l).__name__}) has no ONNX form in this writer "
                                    f"(supported: Linear, Conv2d, rectifiers, max and average pooling, Flatten, "
                                    f"BatchNorm, residual blocks)")


def write_onnx(model, in_shape, path=None, *, name: str = "network"):
    """The ONNX model (an ``onnx.ModelProto``) of a torch model in the theory, for inputs of shape
    (batch, *in_shape), in the model's float type (float32 or float64); saved to ``path`` when given. The
    input is named ``input``, the output ``output``, the batch dimension ``batch``. Raises
    :class:`~verify.errors.UnsupportedLayerError` for a layer outside the theory or without an ONNX form here,
    and :class:`~verify.errors.MissingExtraError` without ``onnx``."""
    onnx = require("onnx", "onnx", "writing ONNX networks")
    from onnx import TensorProto, helper, numpy_helper

    from theory.torch_bridge import layers_from_torch

    params = [p for p in model.parameters()]
    dt = params[0].dtype if params else torch.float32
    if dt not in (torch.float32, torch.float64):
        raise UnsupportedLayerError(f"the model's dtype {dt} has no exact ONNX form here; use float32 or float64")
    np_dtype = np.float64 if dt == torch.float64 else np.float32
    elem = TensorProto.DOUBLE if dt == torch.float64 else TensorProto.FLOAT
    in_shape = (int(in_shape),) if isinstance(in_shape, int) else tuple(int(s) for s in in_shape)
    w = _Writer(helper, numpy_helper, np_dtype)
    out, out_shape = w.layers(layers_from_torch(model), "input", in_shape)
    if out == "input":
        out = w.op("Identity", ["input"])
    w.nodes[-1].output[0] = "output"
    graph = helper.make_graph(w.nodes, name, [helper.make_tensor_value_info("input", elem, ["batch", *in_shape])],
                              [helper.make_tensor_value_info("output", elem, ["batch", *out_shape])], w.inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)], producer_name="verify")
    m.ir_version = 8
    onnx.checker.check_model(m)
    if path is not None:
        onnx.save(m, str(path))
    return m
