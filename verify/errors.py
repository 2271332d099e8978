"""The errors raised at verify's public boundary, one family. Each says what was expected and what was got.

Every error :mod:`verify` raises for a user's mistake derives from :class:`VerifyError` and keeps the
standard base a caller would expect (ValueError, TypeError, LookupError, ImportError). Shape,
unsupported-layer, kink, non-finite and unknown-name errors are the very classes of :mod:`theory.errors`
(they derive from both families). A missing optional package is always :class:`MissingExtraError`, whose
message names the package and the ``pip install -e ".[extra]"`` that brings it.

>>> issubclass(EmptyBatchError, VerifyError) and issubclass(EmptyBatchError, ValueError)
True
>>> raise MissingExtraError("scipy", "robust", "the exact robustness radius")
Traceback (most recent call last):
...
verify.errors.MissingExtraError: the exact robustness radius needs scipy, which is not installed: pip install -e ".[robust]"
"""

import torch

from theory.errors import (
    KinkError,
    NonFiniteError,
    ShapeError,
    TrainingModeError,
    UnknownNameError,
    UnsupportedLayerError,
    VerifyError,
)

__all__ = ["VerifyError", "ShapeError", "UnsupportedLayerError", "KinkError", "NonFiniteError", "EmptyBatchError",
           "TooFewClassesError", "DeviceMismatchError", "DTypeMismatchError", "TrainingModeError",
           "DeviceUnavailableError", "KinkWarning", "LabelError", "UnknownNameError", "MissingExtraError",
           "resolve_device", "require", "check_labels"]


class EmptyBatchError(VerifyError, ValueError):
    """A batch with no examples."""


class TooFewClassesError(VerifyError, ValueError):
    """A classifier with fewer than two logits (K = 1): softmax and the margins are not defined."""


class DeviceMismatchError(VerifyError, ValueError):
    """The model's parameters and the input are on different devices."""


class DTypeMismatchError(VerifyError, TypeError):
    """The model's parameters and the input have different dtypes."""


class LabelError(VerifyError, ValueError):
    """Labels that do not fit the batch or the classes: wrong shape, dtype or range."""


class MissingExtraError(VerifyError, ImportError):
    """An optional package that the call needs is not installed. ``package`` names it, ``extra`` the
    optional-dependency group of the toolkit that brings it (``pip install -e ".[extra]"``)."""

    def __init__(self, package: str, extra: str, what: str = "this", detail: str = ""):
        self.package, self.extra, self.what = package, extra, what
        super().__init__(f"{what} needs {package}, which is not installed: pip install -e \".[{extra}]\""
                         + (f" ({detail})" if detail else ""), name=package)


def require(module: str, extra: str, what: str = "this", *, package: str | None = None):
    """Import and return the optional ``module``, or raise :class:`MissingExtraError` naming ``package``
    (default: the module's top name) and the extra that brings it.

    >>> require("json", "test").__name__
    'json'
    """
    try:
        return __import__(module, fromlist=["__name__"])
    except ImportError as exc:
        raise MissingExtraError(package or module.split(".")[0], extra, what) from exc


class KinkWarning(UserWarning):
    """Some examples lie exactly on a kink (a pre-activation exactly 0, or a tied max): autograd
    differentiates there anyway, by picking one of several subgradients; the value depends on that pick."""


class DeviceUnavailableError(VerifyError, ValueError):
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


def check_labels(y, B: int, K: int, *, device=None, who: str = "", soft: bool = False, convert: bool = True):
    """The one label check of the toolkit: ``y`` must be B integer class labels in [0, K) of shape (B,) (or,
    where ``soft``, B probability rows of shape (B, K)), on ``device`` when one is given. Returns ``y`` as a
    tensor (int64 for hard labels); raises :class:`LabelError` saying what was expected and what was got: a
    float label is refused, never truncated. ``convert``: an array-like (a list, a NumPy array) is taken as a
    tensor; without it only a tensor is.

    >>> check_labels(torch.tensor([0, 2]), 2, 3).tolist()
    [0, 2]
    >>> check_labels(torch.tensor([0.5, 2.0]), 2, 3)
    Traceback (most recent call last):
    ...
    verify.errors.LabelError: y: expected 2 integer class labels in [0, 3) of shape (2,), got dtype torch.float32 (convert with y.long())
    """
    lead = f"{who}: " if who else ""
    want = f"{B} integer class labels in [0, {K}) of shape ({B},)" + (f", or soft labels of shape ({B}, {K})"
                                                                      if soft else "")
    if not isinstance(y, torch.Tensor):
        if not convert:
            raise LabelError(f"{lead}y: expected {want}, got a {type(y).__name__}")
        try:
            import numpy as np

            arr = np.asarray(y)
            if arr.dtype == object:
                raise TypeError
            y = torch.as_tensor(arr)
        except (TypeError, ValueError, RuntimeError):
            raise LabelError(f"{lead}y: expected {want}, got a {type(y).__name__}") from None
    if device is not None and y.device != torch.device(device):
        raise LabelError(f"{lead}y is on {y.device} but x is on {device}; move it (e.g. y.to('{device}'))")
    if soft and y.dim() == 2 and tuple(y.shape) == (B, K) and y.is_floating_point():
        return y
    if y.dim() != 1 or y.shape[0] != B:
        raise LabelError(f"{lead}y: expected {want}, got shape {tuple(y.shape)}")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise LabelError(f"{lead}y: expected {want}, got dtype {y.dtype} (convert with y.long())")
    if B and (int(y.min()) < 0 or int(y.max()) >= K):
        bad = (y < 0) | (y >= K)
        i = int(bad.nonzero()[0, 0])
        raise LabelError(f"{lead}y: expected {want}, got the label {int(y[i])} (the model has K = {K} logits) at "
                         f"index {i}")
    return y.long()
