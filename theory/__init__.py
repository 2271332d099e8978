"""Exact theory of robustness regularizers on piecewise-linear networks.

The exact half of the toolkit: a network description in rational arithmetic, its activation
regions (pattern, local affine map f = J x + b, half-spaces), and symbolic proofs of each claim.
Nothing here imports torch at import time; :func:`from_torch` imports it when called.

>>> from theory import mlp, linearize
>>> linearize(mlp([[[2, 0], [0, -1]], [[1, 1]]]), [1, -3]).jacobian
Matrix([[2, -1]])
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from .claims import CLAIMS, Claim, claim, claim_ids, claims_about, regularizer_id
from .errors import TheoryError, UnknownNameError
from .exact import NonFiniteError, rational
from .layers import (
    SUPPORTED,
    AvgPool2d,
    BatchNorm,
    Conv2d,
    Flatten,
    KinkError,
    Linear,
    Maxout,
    MaxPool2d,
    Rectifier,
    Residual,
    ShapeError,
    TrainingModeError,
    UnsupportedLayerError,
)
from .network import Network, mlp
from .prove import Proof, prove, prove_all
from .region import Region, linearize

__all__ = [
    "__version__",
    "CLAIMS", "Claim", "claim", "claim_ids", "claims_about", "regularizer_id", "TheoryError", "UnknownNameError", "NonFiniteError", "rational",
    "AvgPool2d", "BatchNorm", "Conv2d", "Flatten", "KinkError", "Linear", "MaxPool2d", "Maxout", "Rectifier",
    "Residual", "ShapeError", "SUPPORTED", "TrainingModeError", "UnsupportedLayerError", "Network", "mlp", "Region", "linearize",
    "from_torch", "Proof", "prove", "prove_all",
]

try:
    #: The installed version of the toolkit (``0+unknown`` when run from a source tree that is not installed).
    __version__ = _version("relu-regularizer-verification")
except PackageNotFoundError:  # not installed, e.g. run from a source tree
    __version__ = "0+unknown"


def from_torch(module, in_shape, name=None):
    """Convert a torch ``nn.Module`` to an exact :class:`Network` (see :mod:`theory.torch_bridge`)."""
    from .torch_bridge import from_torch as _from_torch

    return _from_torch(module, in_shape, name=name)
