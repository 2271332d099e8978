"""Numeric verification in torch floats, batched, on CPU or GPU.

The float half of the toolkit: :func:`linearize` (pattern, J, b, rounding bounds, kink distance and
region geometry of a batch, in closed form), random networks as data (:class:`NetSpec`,
:func:`draw_spec`, :func:`draw_inputs`), and the checks of every claim against its bound.
``check_implementation``, ``Gap`` and ``robust_radius`` (:mod:`verify.robust`, the exact distance to
the decision boundary) are imported on first use.

>>> import torch
>>> spec = NetSpec("mlp", (3,), (4,), 2, "relu", None, True, 0)
>>> lin = linearize(spec.build(), torch.zeros(1, 3, dtype=torch.float64))
>>> tuple(lin.jacobian.shape)
(1, 2, 3)
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from verify.checkers.identity import check_identity
from verify.errors import (
    DeviceMismatchError,
    DeviceUnavailableError,
    DTypeMismatchError,
    EmptyBatchError,
    KinkError,
    KinkWarning,
    LabelError,
    MissingExtraError,
    NonFiniteError,
    ShapeError,
    TooFewClassesError,
    TrainingModeError,
    UnknownNameError,
    UnsupportedLayerError,
    VerifyError,
)
from verify.jobs.model_check import check_model
from verify.jobs.networks import NetSpec, draw_inputs, draw_spec
from verify.modules import Abs, MaxoutUnit
from verify.numerics.linearize import Linearization, linearize
from verify.results.report import CheckReport

__all__ = [
    "__version__",
    "linearize", "Linearization", "NetSpec", "draw_spec", "draw_inputs", "MaxoutUnit", "Abs",
    "check_model", "check_identity", "CheckReport", "check_implementation", "Gap", "robust_radius",
    "VerifyError", "ShapeError", "UnsupportedLayerError", "TrainingModeError", "KinkError", "NonFiniteError",
    "EmptyBatchError", "TooFewClassesError", "DeviceMismatchError", "DTypeMismatchError", "DeviceUnavailableError",
    "LabelError", "UnknownNameError", "MissingExtraError", "KinkWarning",
]

try:
    #: The installed version of the toolkit (``0+unknown`` when run from a source tree that is not installed).
    __version__ = _version("relu-regularizer-verification")
except PackageNotFoundError:  # not installed, e.g. run from a source tree
    __version__ = "0+unknown"


def __getattr__(name):
    if name == "check_implementation":
        from verify.regularizers.implementation import check_implementation

        return check_implementation
    if name == "Gap":
        from verify.results.gap import Gap

        return Gap
    if name == "robust_radius":
        from verify.robust import robust_radius

        return robust_radius
    raise AttributeError(f"module 'verify' has no attribute {name!r}")
