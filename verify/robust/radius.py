"""``robust_radius(model, x, y)``: the exact distance from each x to the nearest point classified differently.

For a piecewise-linear network f and a point x of class y (the label, or the prediction), the radius in
the norm p is

    rho_p(x) = min { ||z - x||_p : max_{j != y} f_j(z) >= f_y(z) },

the distance to the nearest point where y is not the strict winner (a tie counts as a class change;
the set is closed, so the minimum is attained, on the decision boundary). It is computed by complete
search, not by an attack:

- l-inf: a mixed-integer linear program over the network's rectifier and max units with big-M
  constants from bounds propagation, solved by HiGHS (``scipy.optimize.milp``; Tjeng, Xiao & Tedrake,
  ICLR 2019, is the reference formulation): :func:`verify.robust.milp.linf_milp`;
- l2, ``method="miqp"`` (the default where ``pyscipopt`` is installed, the extra ``l2``): the same encoding
  with the convex quadratic objective ||z - x||_2^2, solved by SCIP: :func:`verify.robust.miqp.l2_miqp`.
  It is complete by construction (every activation pattern is a choice of its binaries);
- l2, ``method="search"`` (the default without pyscipopt): a search over activation regions in order of
  their exact distance (the idea of GeoCert, Jordan et al., NeurIPS 2019), each region's distance a
  least-distance problem solved by NNLS with a dual certificate: :func:`verify.robust.search.l2_search`.
  On the tests' small networks both agree with the enumeration of every pattern (the MIQP 0.03 to 0.3 s
  per point where the search takes 0.01 to 0.06 s; on a 4-16-16 MLP 1.7 s against 2.5 s); on the lab's
  digits MLP most points stop at a minute either way (``python -m verify.bench.l2``: 1 and 2 of 10
  decided);
- l2, ``method="bab"`` (rectifier MLPs; the region search on other networks): an l2 attack, then branch
  and bound over unstable units on linear bounds over the ball, deciding radii by bisection:
  :func:`verify.robust.l2bab.l2_bab`. On the digits MLP it decides as few points within a minute, with
  far tighter brackets where none finishes (the median lower / upper 0.81, against 0.13 and 0.16).

Both start from a witness found by a cheap attack (DeepFool's steps on the exact local affine map,
then a bisection along the segment), which gives the program a tight box. Each example's
:class:`RadiusResult` has:

- ``radius``: the solver's optimum; ``lower``: its proved lower bound (the MILP's dual bound, or the
  front of the region search), up to the solver's tolerances; ``status``: ``optimal``, or
  ``time_limit`` / ``node_limit`` with the bounds reached, ``beyond_cap`` (no class change within
  ``max_radius``: the radius exceeds it), ``no_class_change`` (none anywhere in the domain),
  ``misclassified`` (x itself is not of class y: radius 0), ``solver_failures``;
- ``witness``: a point just beyond the boundary, re-checked twice: the float model (in its own dtype)
  puts another class strictly above y there, and the exact engine (:mod:`theory.network`, the float
  weights read as the rationals they are) confirms it in rational arithmetic. ``upper``, the witness's
  exact distance rounded up, is then a proved upper bound. A witness that fails a check is reported
  (``witness_check``), never dropped, and ``upper`` is then inf;
- ``certified``: the lower bound that x's own region proves, in exact arithmetic: with
  gamma_j = (f_y - f_j) / ||w_y - w_j||_q (q the dual norm) and r_p(x) the distance to the region's
  boundary, rho_p >= min(min_j gamma_j, r_p(x)), with equality when min_j gamma_j <= r_p(x) (then the
  foot of the perpendicular lies in the region: claim ``effective-margin``); and the weaker bound of
  claim ``margin-lower-bound``, min(gamma_O / max_j ||w_y - w_j||_q, r_p(x)) with gamma_O = f_y - max_j f_j.

>>> import torch
>>> m = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 2)).double()
>>> with torch.no_grad():
...     _ = m[0].weight.copy_(torch.eye(2)); _ = m[0].bias.zero_()
...     _ = m[2].weight.copy_(torch.eye(2)); _ = m[2].bias.zero_()
>>> x = torch.tensor([[2.0, 1.0]], dtype=torch.float64)        # f = relu(x): class 0 where x0 > x1
>>> r = robust_radius(m, x, norm="inf")[0]
>>> r.status, round(r.radius, 6), r.witness_check["float"], r.witness_check["exact"], r.upper >= 0.5
('optimal', 0.5, True, True, True)
>>> r2 = robust_radius(m, x, norm=2)[0]
>>> round(r2.radius, 9), round(r2.certified["lower"], 9), r2.certified["exact"]   # sqrt(2)/2, gamma <= r(x)
(0.707106781, 0.707106781, True)
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from verify.robust.checks import (
    Checker,
    attack,
    bounds_lower,
    certificate,
    distance_up,
    exact_logits,
    find_witness,
    strict_rival,
)
from verify.robust.inputs import check_inputs, check_norm, check_positive

__all__ = ["robust_radius", "RadiusResult", "exact_robust_accuracy", "stop_reason", "check_method", "NORMS", "STATUSES",
           "L2_METHODS"]

#: The norms, by the names results use.
NORMS = ("inf", "2")
#: The l2 methods (``method=``): auto (the MIQP where pyscipopt is installed), miqp, search, bab (branch and bound
#: on rectifier MLPs: :func:`verify.robust.l2bab.l2_bab`; the region search on other networks).
L2_METHODS = ("auto", "miqp", "search", "bab")
#: Every status a result can have.
STATUSES = ("optimal", "time_limit", "node_limit", "beyond_cap", "no_class_change", "misclassified",
            "solver_failures", "unverified", "decided", "undecided", "error")
#: Without a domain and without a witness, the l-inf box grows up to this multiple of max(1, ||x||_inf).
GROW_LIMIT = 1e4


@dataclass
class RadiusResult:
    """One example's radius (see the module docstring). Distances are floats; ``witness`` is the point,
    flattened, in the model's dtype's values; ``nodes`` counts branch-and-bound nodes (l-inf, and
    l2 by the MIQP) or visited regions (l2 by the search); ``seconds`` the time spent on the example;
    ``time_limit`` the limit it ran under."""

    index: int
    norm: str
    label: int
    predicted: int | None
    status: str
    radius: float
    lower: float
    upper: float
    gap: float
    rival: int | None
    witness: list | None
    witness_check: dict
    certified: dict | None
    seconds: float
    time_limit: float | None
    nodes: int = 0
    notes: list = field(default_factory=list)
    #: the size of the problem solved: {"binaries", "unstable"} for a mixed-integer program (l-inf's MILP, l2's
    #: MIQP: its binaries and the unstable units over its box or ball), {"regions"} for the l2 region search
    #: (activation regions visited); empty when no solver ran
    problem: dict = field(default_factory=dict)
    #: what ended the work on this point, in words (:func:`stop_reason`)
    stopped: str = ""

    @property
    def decided(self) -> bool:
        """Whether the radius is known (to the solver's tolerance): optimal, or misclassified."""
        return self.status in ("optimal", "misclassified", "no_class_change")

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("radius", "lower", "upper", "gap"):
            v = d[k]
            d[k] = None if v is None else (float(v) if math.isfinite(v) else ("inf" if v > 0 else "-inf"))
        return d


# ---- input checks -------------------------------------------------------------------------------------

def check_method(method, need: bool = True) -> str:
    """The l2 method ``robust_radius`` runs: ``"miqp"`` or ``"search"``; ``"auto"`` is the MIQP where pyscipopt is
    installed and the region search otherwise. "miqp" without pyscipopt raises MissingExtraError when ``need``
    (the norm is l2); any other name raises RadiusOptionError."""
    from verify.robust.inputs import RadiusOptionError
    from verify.robust.miqp import have_scip, load_scip

    if method not in L2_METHODS:
        raise RadiusOptionError(f"method: expected one of {', '.join(L2_METHODS)}, got {method!r}")
    if method == "miqp" and need:
        load_scip()
    if method == "auto":
        return "miqp" if have_scip() else "search"
    return method


# ---- the public function -----------------------------------------------------------------------------------

def robust_radius(model, x, y=None, *, norm="inf", time_limit: float | None = 60.0, node_limit: int | None = None,
                  max_radius: float | None = None, domain=None, certify: bool = True, linear_bounds: bool = True,
                  tighten: bool = False, progress: bool = False, method: str = "auto") -> list[RadiusResult]:
    """The exact l-inf or l2 radius of every example of x (module docstring): a list of :class:`RadiusResult`.

    ``model``: a torch nn.Module in the theory (ReLU-family, max units, affine layers; eval mode), or a
    :class:`theory.network.Network`. ``x``: (B, *in_shape), in the model's dtype and on its device. ``y``:
    (B,) labels, or None for the predictions. The options are keyword-only: ``norm`` ("inf" or 2); ``time_limit`` (seconds) and ``node_limit`` bound each
    example's solve; ``max_radius`` caps the search (a radius above it is reported as ``beyond_cap``
    with lower bound ``max_radius``: enough to decide robustness at every eps <= max_radius);
    ``domain``: (lo, hi), the box the perturbed points must stay in (e.g. (0, 1) for pixels);
    ``certify``: compute x's region certificate in exact arithmetic (about 0.1 s per example for a
    64-64-64 MLP); ``linear_bounds`` and ``tighten`` choose the l-inf program's bounds (linear bounds on,
    LP tightening off by default: :func:`verify.robust.milp.linf_milp`); ``method``: the l2 solver, "miqp", "search" or
    "auto" (the MIQP where pyscipopt is installed: :data:`L2_METHODS`; ``node_limit`` counts SCIP's nodes for the
    MIQP, regions for the search). Raises the errors of :func:`verify.linearize` for a bad model or x,
    :class:`~verify.errors.LabelError` for bad labels, ValueError for bad options, and
    :class:`~verify.robust.solvers.SolverUnavailableError` (naming the package) without scipy. Every input is
    checked (:func:`verify.robust.inputs.check_inputs`: finite, of the model's shape, labels, domain) before
    the first example is solved, and an error names the example's index in the batch.
    """
    p = check_norm(norm)
    l2_method = check_method(method, need=p == "2")
    time_limit = check_positive("time_limit", time_limit)
    node_limit = check_positive("node_limit", node_limit, integer=True)
    max_radius = check_positive("max_radius", max_radius)
    if p == "inf":
        from verify.robust.solvers import load_milp

        load_milp()
    ins = check_inputs(model, x, y, domain=domain, who="robust_radius")
    exact, pl, float_logits, X, dtype, Y, dom = ins.exact, ins.pl, ins.float_logits, ins.X, ins.dtype, ins.Y, ins.dom
    B = X.shape[0]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=B, desc=f"radius (l-{p})", unit="point", disable=not sys.stderr.isatty(), leave=False)
    out = []
    try:
        for b in range(B):
            out.append(_one(b, exact, pl, float_logits, X[b], None if Y is None else int(Y[b]), p, dtype, dom,
                            time_limit, node_limit, max_radius, certify, linear_bounds, tighten, l2_method))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return out


def _one(b, exact, pl, float_logits, x, y, norm, dtype, dom, time_limit, node_limit, max_radius, certify,
         linear_bounds, tighten=False, l2_method="search") -> RadiusResult:
    from verify.robust.l2bab import l2_regions
    from verify.robust.milp import linf_milp

    t0 = time.perf_counter()
    fe = exact_logits(exact, x)
    top = max(range(len(fe)), key=lambda k: (fe[k], -k))
    tie = sum(1 for v in fe if v == fe[top]) > 1
    notes = []
    if y is None:
        y = top
        if tie:
            notes.append("the prediction at x is a tie in exact arithmetic; the first of the tied classes is y")
    chk = Checker(exact, float_logits, x, y, norm, dtype, dom)
    ff = float_logits(x[None])[0]
    pred_f = int(np.argmax(ff))

    problem = {}

    def result(status, radius, lower, upper, gap=0.0, rival=None, witness=None, wcheck=None, cert=None, nodes=0):
        return RadiusResult(b, norm, int(y), int(top), status, float(radius), float(lower), float(upper), float(gap),
                            None if rival is None else int(rival), None if witness is None else [float(v) for v in witness],
                            wcheck or {}, cert, round(time.perf_counter() - t0, 6), time_limit, int(nodes), notes,
                            dict(problem), stop_reason(status, norm, problem, int(nodes), time_limit, node_limit))

    strict = max(fe[k] for k in range(len(fe)) if k != y) < fe[y]
    if not strict:
        j = strict_rival(fe, y)
        notes.append(f"x is already classified as {top}, not {y}: the radius is 0" if j is not None else
                     f"x lies on the decision boundary (class {y} ties with another): the radius is 0")
        return result("misclassified", 0.0, 0.0, 0.0, rival=j, witness=x, wcheck=chk.check(x))
    if pred_f != y:
        notes.append(f"the float model predicts {pred_f} at x (a rounding of a near tie); the exact engine says {y}")
    cert = certificate(exact, x, y, norm) if certify else None
    # a first witness, from the attack
    upper0, w0, c0 = math.inf, None, None
    a = attack(pl, x, y, norm, dom)
    if a is not None:
        wa, ca = find_witness(chk, pl, a, None, None, float(np.max(np.abs(a - x))) if norm == "inf" else float(np.linalg.norm(a - x)))
        if wa is not None and ca["float"] and ca["exact"]:
            upper0, w0, c0 = distance_up(wa, x, norm), wa, ca
    hi = upper0 if math.isfinite(upper0) else (max_radius if max_radius is not None else
                                               max(1.0, float(np.max(np.abs(x)))))
    if max_radius is not None:
        hi = min(hi, max_radius)
    proved = bounds_lower(pl, x, y, hi, dom)
    if proved > 0:
        notes.append(f"bounds alone prove rho_inf > {proved:.6g}" + (" (so rho_2 > it too)" if norm == "2" else ""))
    left = None if time_limit is None else max(time_limit - (time.perf_counter() - t0), 1e-3)
    if norm == "inf":
        cap = upper0 if math.isfinite(upper0) else None
        if max_radius is not None:
            cap = max_radius if cap is None else min(cap, max_radius)
        grow = cap is None
        if grow:                               # no witness yet: grow the box until one is found
            ext = (np.max(np.maximum(x - dom[0], dom[1] - x)) if dom is not None else None)
            cap = float(ext) if ext is not None else max(1.0, float(np.max(np.abs(x))))
        limit = GROW_LIMIT * max(1.0, float(np.max(np.abs(x))))
        while True:
            r = linf_milp(pl, x, y, cap=cap * (1 + 1e-9) + 1e-12, domain=dom, time_limit=left, node_limit=node_limit,
                          linear_bounds=linear_bounds, tighten=tighten, t_lower=proved if proved < cap else 0.0)
            if r.status == "beyond_cap" and grow and dom is None and cap < limit:
                cap = min(cap * 16, limit)
                left = None if time_limit is None else max(time_limit - (time.perf_counter() - t0), 1e-3)
                continue
            break
        status, radius, lower, gap, z, rival, pat, nodes = (r.status, r.radius, r.lower, r.gap, r.point, r.rival,
                                                            r.pattern, r.nodes)
        if status in ("time_limit", "node_limit") and upper0 < radius:
            radius = upper0                     # the attack's witness is the best point known
        if status == "beyond_cap":                # nothing in the closed box changes class: rho > cap
            lower = math.nextafter(min(cap, max_radius) if max_radius is not None else cap, math.inf)
            if grow and dom is not None:
                status = "no_class_change"
                radius = lower = math.inf
            elif grow:
                notes.append(f"no class change within l-inf distance {cap:.6g} (without a witness the box grows to "
                             f"{GROW_LIMIT:g} max(1, ||x||_inf))")
        problem.update(binaries=int(r.binaries), unstable=int(r.unstable))
        notes.append(f"MILP: {r.binaries} binaries, {r.unstable} unstable units in the box of radius {cap:.6g}, "
                     f"{r.nodes} nodes" + (f"; {r.notes[0]}" if r.notes else ""))
    elif l2_method == "miqp":
        from verify.robust.miqp import miqp_radius

        status, radius, lower, gap, z, rival, pat, nodes = miqp_radius(pl, x, y, upper0, dom, left, node_limit,
                                                                    max_radius, proved, linear_bounds, notes,
                                                                    problem, grow_limit=GROW_LIMIT)
    else:
        cap_u = upper0 if max_radius is None else min(upper0, max_radius * (1 + 1e-12))
        s = l2_regions(pl, x, y, cap_u, dom, left, node_limit, l2_method, notes, problem)
        status, lower, z, rival, pat, nodes = s.status, s.lower, s.point, s.rival, s.pattern, s.regions
        radius = s.radius if z is not None else upper0      # nothing found nearer than the attack's witness
        if s.failures:
            notes.append(f"{s.failures} least-distance problem(s) were not solved by NNLS")
        notes.extend(s.notes)
        if z is None and status in ("optimal", "solver_failures") and not (max_radius is None or upper0 <= max_radius):
            status, radius = "beyond_cap", math.inf        # lower: the search's front, ~max_radius
        if status == "no_class_change":
            radius = lower = math.inf
        gap = (radius - lower) / radius if math.isfinite(radius) and radius > 0 else 0.0
    # the witness: the solver's point pushed over the boundary, or the attack's if it is as near
    witness, wcheck, upper = w0, c0, upper0
    if z is not None and (not math.isfinite(upper0) or radius < upper0):
        wz, cz = find_witness(chk, pl, z, rival, pat, radius)
        if wz is not None and cz["float"] and cz["exact"]:
            witness, wcheck, upper = wz, cz, distance_up(wz, x, norm)
        elif w0 is not None and upper0 <= radius * (1 + 1e-6):
            notes.append(f"the solver's point (distance {radius:.9g}) did not pass the witness checks; the attack's "
                         f"witness, within 1e-6 of it ({upper0:.9g}), did")
        else:
            if w0 is None:
                witness, wcheck = wz, cz
            notes.append(f"the solver's point (status {status}, distance {radius:.9g}) did not pass the witness "
                         f"checks, even pushed beyond the boundary: the radius is unverified"
                         + (f"; the attack's witness at {upper0:.9g} did" if w0 is not None else ""))
            status = "unverified"
    if witness is not None and wcheck:
        rival = int(np.argmax([v if k != y else -math.inf for k, v in enumerate(float_logits(witness[None])[0])]))
    if status == "beyond_cap" or status == "no_class_change":
        radius_out = radius if status == "no_class_change" else math.inf
    else:
        radius_out = radius
    if status not in ("misclassified", "no_class_change"):
        best = max(proved, cert["lower"] if cert is not None and math.isfinite(cert["lower"]) else 0.0)
        if best > lower:
            lower = best
    if math.isfinite(upper) and math.isfinite(radius_out) and status not in ("beyond_cap",):
        lower = min(lower, upper)
        radius_out = min(radius_out, upper)     # the checked witness may lie nearer than the solver's incumbent
    if cert is not None and math.isfinite(cert["lower"]):
        if cert["lower"] > upper:
            notes.append(f"the region certificate ({cert['lower']:.9g}) exceeds the witness distance ({upper:.9g}): "
                         f"a contradiction, please report")
    return result(status, radius_out, lower, upper, gap, rival, witness, wcheck, cert, nodes)


# ---- for the lab -------------------------------------------------------------------------------------------

def stop_reason(status: str, norm: str, problem: dict, nodes: int, time_limit, node_limit) -> str:
    """What ended the work on a point, in words, for a table: the answer, or the limit reached and, where
    the solver explored nothing (a time limit with 0 branch-and-bound nodes: the root relaxation did not
    finish), that a longer limit is unlikely to help.

    >>> stop_reason("time_limit", "inf", {"binaries": 1582, "unstable": 861}, 0, 300.0, None)
    'time limit 300 s with 0 nodes (the root relaxation of 1582 binaries did not finish)'
    """
    if status in ("optimal", "misclassified", "no_class_change", "beyond_cap"):
        return {"optimal": "solved", "misclassified": "radius 0 (x is not classified y)",
                "no_class_change": "no class change in the domain", "beyond_cap": "nothing within max_radius"}[status]
    if status == "time_limit":
        tl = "?" if time_limit is None else f"{time_limit:g}"
        if nodes == 0 and problem.get("binaries"):
            return (f"time limit {tl} s with 0 nodes (the root relaxation of {problem['binaries']} binaries did not "
                    f"finish)")
        what = 'regions' if 'regions' in problem else 'sub-domains' if 'subdomains' in problem else 'nodes'
        return f"time limit {tl} s after {nodes} {what}"
    if status == "node_limit":
        return f"node limit {node_limit} reached" if node_limit is not None else "node limit reached"
    return status


def exact_robust_accuracy(results: list[RadiusResult], eps_grid) -> dict:
    """Per eps (the key: the budget as a float; a JSON record keys it by ``repr(eps)``, as
    :mod:`verify.dynamics.exact_radius` writes it): how many points are proved robust (lower > eps: no point within eps changes class), proved
    not robust (a checked witness within eps, or x misclassified), or undecided (the solver stopped between);
    ``fraction`` = robust / n is the exact robust accuracy when nothing is undecided, and a lower bound on
    it otherwise (``fraction_upper`` = (robust + undecided) / n the upper one).

    >>> r = RadiusResult(0, "inf", 0, 0, "optimal", 0.1, 0.1, 0.1, 0.0, 1, None, {}, None, 0.0, None)
    >>> exact_robust_accuracy([r], [0.05, 0.1])[0.05]["fraction"], exact_robust_accuracy([r], [0.1])[0.1]["robust"]
    (1.0, 0)
    """
    out = {}
    n = len(results)
    for eps in eps_grid:
        e = float(eps)
        rob = sum(1 for r in results if r.lower > e)
        non = sum(1 for r in results if r.lower <= e and (r.upper <= e or r.status == "misclassified"))
        und = n - rob - non
        out[e] = {"n": n, "robust": rob, "not_robust": non, "undecided": und,
                        "fraction": rob / n if n else math.nan, "fraction_upper": (rob + und) / n if n else math.nan}
    return out
