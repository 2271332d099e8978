"""The solvers the exact radius uses, loaded on first use, with a one-line error naming the package.

A missing solver is :class:`verify.errors.MissingExtraError` (``SolverUnavailableError`` is the same class,
under the name this module has always exported).

>>> SolverUnavailableError is MissingExtraError and issubclass(SolverUnavailableError, ImportError)
True
"""

from __future__ import annotations

from verify.errors import MissingExtraError

__all__ = ["SolverUnavailableError", "load_milp"]

#: The error of a missing solver: :class:`verify.errors.MissingExtraError` itself.
SolverUnavailableError = MissingExtraError


def load_milp():
    """``(milp, LinearConstraint, Bounds)`` from scipy (HiGHS' MILP solver, scipy >= 1.9)."""
    try:
        from scipy.optimize import Bounds, LinearConstraint, milp
    except ImportError as exc:
        raise MissingExtraError("scipy >= 1.9", "robust", "the l-inf radius (scipy.optimize.milp, the HiGHS "
                                "mixed-integer solver)", detail=str(exc)) from exc
    return milp, LinearConstraint, Bounds
