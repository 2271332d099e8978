"""The errors raised at verify's public boundary. Each says what was expected and what was got.

Shape, unsupported-layer, kink and non-finite errors are shared with :mod:`theory`.

>>> issubclass(EmptyBatchError, ValueError)
True
"""

from theory.exact import NonFiniteError
from theory.layers import KinkError, ShapeError, TrainingModeError, UnsupportedLayerError

__all__ = ["ShapeError", "UnsupportedLayerError", "KinkError", "NonFiniteError", "EmptyBatchError",
           "TooFewClassesError", "DeviceMismatchError", "DTypeMismatchError", "TrainingModeError"]


class EmptyBatchError(ValueError):
    """A batch with no examples."""


class TooFewClassesError(ValueError):
    """A classifier with fewer than two logits (K = 1): softmax and the margins are not defined."""


class DeviceMismatchError(ValueError):
    """The model's parameters and the input are on different devices."""


class DTypeMismatchError(TypeError):
    """The model's parameters and the input have different dtypes."""
