"""Exact robustness radii: the true distance from x to the decision boundary, in l-inf and l2.

:func:`robust_radius` (see :mod:`verify.robust.radius`) computes it by complete search: a mixed-integer
linear program solved by HiGHS for l-inf (:mod:`verify.robust.milp`), for l2 the same encoding with a convex
quadratic objective solved by SCIP (:mod:`verify.robust.miqp`, the extra ``l2``) or a search over activation
regions ordered by their exact distance (:mod:`verify.robust.search`), on the float64 image of the exact
network (:mod:`verify.robust.plnet`). Every witness is re-checked in the float model and in rationals.
``python -m verify radius`` runs it on a saved model (:mod:`verify.cli.radius`).

:func:`robust_at` decides robustness at fixed budgets: on rectifier MLPs by branch and bound over unstable
units on CROWN bounds with optimised slopes (:func:`linf_bab`, :mod:`verify.robust.bab`), otherwise by the
MILP. :func:`l2_miqp` is the l2 program itself.

:func:`verify_vnnlib` decides a VNNLIB property (:mod:`verify.robust.vnnlib`) on an ONNX network
(:mod:`verify.robust.onnx_read`; :func:`write_onnx` writes the toolkit's models) in VNN-COMP's result format
(:mod:`verify.robust.property`); ``python -m verify radius --onnx net.onnx --vnnlib prop.vnnlib`` runs it.
"""

from verify.robust.bab import BabResult, linf_bab
from verify.robust.decide import robust_at, witness_distances
from verify.robust.miqp import MiqpResult, l2_miqp
from verify.robust.onnx_read import OnnxError, read_onnx
from verify.robust.onnx_write import write_onnx
from verify.robust.property import VnnResult, decide_cases, decide_property, verify_vnnlib
from verify.robust.radius import NORMS, STATUSES, RadiusResult, exact_robust_accuracy, robust_radius
from verify.robust.solvers import SolverUnavailableError
from verify.robust.vnnlib import (
    Property,
    VnnlibError,
    parse_vnnlib_cases,
    read_vnnlib,
    read_vnnlib_cases,
)
from verify.robust.vnnlib_write import linf_ball_property, write_vnnlib

__all__ = ["robust_radius", "robust_at", "witness_distances", "RadiusResult", "exact_robust_accuracy", "NORMS",
           "STATUSES", "SolverUnavailableError", "verify_vnnlib", "decide_property", "decide_cases", "parse_vnnlib_cases", "read_vnnlib_cases", "VnnResult", "read_onnx",
           "write_onnx", "OnnxError", "read_vnnlib", "write_vnnlib", "linf_ball_property", "Property", "VnnlibError",
           "linf_bab", "BabResult", "l2_miqp", "MiqpResult"]
