"""The torch modules the toolkit adds: :class:`MaxoutUnit` and :class:`Abs` (defined in
:mod:`theory.torch_bridge`, which knows how to read them, and re-exported here for models).

>>> import torch
>>> MaxoutUnit(2)(torch.tensor([[1.0, 3.0, -2.0, -5.0]]))
tensor([[ 3., -2.]])
>>> Abs()(torch.tensor([-1.5, 2.0]))
tensor([1.5000, 2.0000])
"""

from theory.torch_bridge import Abs, MaxoutUnit

__all__ = ["MaxoutUnit", "Abs"]
