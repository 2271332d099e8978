"""The errors of the toolkit's exact half, one family: every error :mod:`theory` raises for a user's mistake
derives from :class:`TheoryError` and keeps the standard base a caller would expect (ValueError for a bad
value or shape, TypeError for an unsupported layer, LookupError and ValueError for an unknown name).

The errors that :mod:`verify` raises through the same code (a shape, an unsupported layer, a kink, a
non-finite number, an unknown name) are these very classes, and derive from :class:`VerifyError` too, so
``except verify.VerifyError`` catches them wherever they come from. :class:`VerifyError` is defined here, at
the bottom of the imports, so that the shared classes can derive from it; :mod:`verify.errors` exports it.

>>> issubclass(ShapeError, TheoryError) and issubclass(ShapeError, VerifyError) and issubclass(ShapeError, ValueError)
True
>>> str(UnknownNameError("unknown claim id 'x'"))
"unknown claim id 'x'"
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["TheoryError", "ShapeError", "UnsupportedLayerError", "TrainingModeError", "KinkError",
           "NonFiniteError", "UnknownNameError"]


class TheoryError(Exception):
    """The base of every error :mod:`theory` raises for a user's mistake."""


class VerifyError(Exception):
    """The base of every error :mod:`verify` raises for a user's mistake (exported as ``verify.VerifyError``)."""


VerifyError.__module__ = "verify.errors"


class ShapeError(TheoryError, VerifyError, ValueError):
    """A shape does not match what a layer or function expects."""


class UnsupportedLayerError(TheoryError, VerifyError, TypeError):
    """A layer or function is not piecewise linear (or not supported), so the theory does not apply."""


class TrainingModeError(UnsupportedLayerError):
    """A BatchNorm or Dropout in training mode: the network is not a fixed piecewise-linear function."""


class KinkError(TheoryError, VerifyError, ValueError):
    """The point lies on a kink: a pre-activation is exactly 0, or a max is tied."""

    def __init__(self, message: str, units: Sequence[tuple[str, int]] = ()):
        super().__init__(message)
        self.units = list(units)


class NonFiniteError(TheoryError, VerifyError, ValueError):
    """A NaN or an infinity where a finite number is needed."""


class UnknownNameError(TheoryError, VerifyError, LookupError, ValueError):
    """A name (a claim id, a regularizer, a data set, a convention) that is not one of the known ones; the
    message lists the known ones. A LookupError (where a KeyError was raised before, without its quoted
    message) and a ValueError (a bad value of an argument)."""
