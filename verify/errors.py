"""The errors raised at verify's public boundary. Each says what was expected and what was got.

Shape, unsupported-layer, kink and non-finite errors are shared with :mod:`theory`.

>>> issubclass(EmptyBatchError, ValueError)
True
"""

import torch

from theory.exact import NonFiniteError
from theory.layers import KinkError, ShapeError, TrainingModeError, UnsupportedLayerError

__all__ = ["ShapeError", "UnsupportedLayerError", "KinkError", "NonFiniteError", "EmptyBatchError",
           "TooFewClassesError", "DeviceMismatchError", "DTypeMismatchError", "TrainingModeError",
           "DeviceUnavailableError", "KinkWarning", "LabelError", "resolve_device"]


class EmptyBatchError(ValueError):
    """A batch with no examples."""


class TooFewClassesError(ValueError):
    """A classifier with fewer than two logits (K = 1): softmax and the margins are not defined."""


class DeviceMismatchError(ValueError):
    """The model's parameters and the input are on different devices."""


class DTypeMismatchError(TypeError):
    """The model's parameters and the input have different dtypes."""


class LabelError(ValueError):
    """Labels that do not fit the batch or the classes: wrong shape, dtype or range."""


class KinkWarning(UserWarning):
    """Some examples lie exactly on a kink (a pre-activation exactly 0, or a tied max): autograd
    differentiates there anyway, by picking one of several subgradients; the value depends on that pick."""


class DeviceUnavailableError(ValueError):
    """A device name that is malformed, or names a device this torch cannot use."""


def resolve_device(name: str | None, *, here: bool = True) -> torch.device:
    """The torch device a command-line ``--device`` names (None: CUDA when available, else CPU).

    Raises :class:`DeviceUnavailableError`, saying why, for a malformed name, for CUDA on a torch
    built without it or on a machine without a visible GPU, and for a GPU index out of range.
    With ``here=False`` (the units run on a cluster's workers, whose devices this machine cannot
    see) only the name is checked.

    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("gpu")
    Traceback (most recent call last):
    ...
    verify.errors.DeviceUnavailableError: --device 'gpu': expected cpu, cuda or cuda:N
    """
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise DeviceUnavailableError(f"--device {name!r}: expected cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda"):
        raise DeviceUnavailableError(f"--device {name!r}: expected cpu, cuda or cuda:N")
    if dev.type == "cuda" and here:
        if torch.version.cuda is None:
            raise DeviceUnavailableError(f"--device {name}: this torch ({torch.__version__}) was built without "
                                         f"CUDA; use --device cpu, or install a CUDA build of torch")
        n = torch.cuda.device_count()
        if n == 0:
            raise DeviceUnavailableError(f"--device {name}: no CUDA device is visible on this machine; "
                                         f"use --device cpu")
        if dev.index is not None and dev.index >= n:
            raise DeviceUnavailableError(f"--device {name}: only {n} CUDA device(s) here (cuda:0 to cuda:{n - 1})")
    return dev
