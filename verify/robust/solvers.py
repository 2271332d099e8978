"""The solvers the exact radius uses, loaded on first use, with a one-line error naming the package.

>>> issubclass(SolverUnavailableError, ImportError)
True
"""

from __future__ import annotations

__all__ = ["SolverUnavailableError", "load_milp"]


class SolverUnavailableError(ImportError):
    """A solver the computation needs is not installed (the message names the package)."""


def load_milp():
    """``(milp, LinearConstraint, Bounds)`` from scipy (HiGHS' MILP solver, scipy >= 1.9)."""
    try:
        from scipy.optimize import Bounds, LinearConstraint, milp
    except ImportError as exc:
        raise SolverUnavailableError(
            "the l-inf radius needs scipy >= 1.9 (scipy.optimize.milp, the HiGHS mixed-integer solver), "
            f"which is not installed here ({exc}); install it with pip install 'scipy>=1.9' "
            "(or pip install -e '.[robust]')") from exc
    return milp, LinearConstraint, Bounds
