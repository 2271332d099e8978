"""The compiled engine of a torch model, cached: :func:`compile_model` (one :class:`~verify.numerics.engine.Engine`
per model, input shape, dtype and device, rebuilt when a weight or a training flag changes)."""

from __future__ import annotations

import weakref

import torch

from verify.numerics.engine import Engine

__all__ = ["compile_model"]


def _signature(model: torch.nn.Module) -> tuple:
    ts = list(model.parameters()) + list(model.buffers())
    return tuple((id(t), t.data_ptr(), t._version) for t in ts) + tuple(m.training for m in model.modules())


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def compile_model(model: torch.nn.Module, in_shape, dtype: torch.dtype, device) -> Engine:
    """The compiled :class:`Engine` of a model, cached per model (weakly) and per input shape, dtype
    and device; recompiled when any parameter or buffer is replaced or modified in place, or a
    module's training flag changes."""
    from theory.torch_bridge import layers_from_torch

    sig = _signature(model)
    entry = _CACHE.get(model)
    if entry is None or entry[0] != sig:
        entry = (sig, {"layers": layers_from_torch(model)})
        _CACHE[model] = entry
    key = (tuple(int(s) for s in in_shape), dtype, str(torch.device(device)))
    eng = entry[1].get(key)
    if eng is None:
        eng = entry[1][key] = Engine(entry[1]["layers"], key[0], dtype, torch.device(device))
    return eng
