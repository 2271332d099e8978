"""Exact robustness radii: the true distance from x to the decision boundary, in l-inf and l2.

:func:`robust_radius` (see :mod:`verify.robust.radius`) computes it by complete search: a mixed-integer
linear program solved by HiGHS for l-inf (:mod:`verify.robust.milp`), a search over activation regions
ordered by their exact distance for l2 (:mod:`verify.robust.search`), on the float64 image of the exact
network (:mod:`verify.robust.plnet`). Every witness is re-checked in the float model and in rationals.
``python -m verify radius`` runs it on a saved model (:mod:`verify.cli.radius`).
"""

from verify.robust.decide import robust_at, witness_distances
from verify.robust.radius import NORMS, STATUSES, RadiusResult, exact_robust_accuracy, robust_radius
from verify.robust.solvers import SolverUnavailableError

__all__ = ["robust_radius", "robust_at", "witness_distances", "RadiusResult", "exact_robust_accuracy", "NORMS",
           "STATUSES", "SolverUnavailableError"]
