"""The exact l2 radius as a mixed-integer program with a convex quadratic objective, solved by SCIP (``pyscipopt``,
the optional extra ``l2``).

Within the box B = {z : |z_i - x_i| <= U} (intersected with the data's domain), with bounds l <= u <= h on every
pre-activation over B and the l2 ball of radius U (:meth:`verify.robust.plnet.PLNet.bounds` with ``ball``: a
linear bound g z + c is at least g x + c - U ||g||_2 there, up to sqrt(D) times tighter than over B), in the
variables d = z - x:

    minimise t  subject to  t >= sum_i d_i^2,  t <= U^2,  the network's exact encoding on B,
                            f_j(x + d) >= f_y(x + d) for one j != y chosen by binaries beta_j.

The encoding is :func:`verify.robust.encoding.encode_network`'s, the very rows of the l-inf program
(:mod:`verify.robust.milp`), read with z = x + d; the class change is
:func:`~verify.robust.encoding.encode_class_change`'s.
Every point of the l2 ball of radius U lies in B, and t <= U^2 keeps exactly that ball: so the optimum is the
radius when it is at most U, and an infeasible program proves that no point within l2 distance U changes class.

Why it misses nothing: every activation pattern is a choice of the binaries, so a nearest misclassified point is
feasible whatever number of units change sign on the way to it (a crossing through a vertex where two units flip
at once included, which the region search of :mod:`verify.robust.search` may step over). The constraint
t >= ||d||^2 is convex, so SCIP's dual bound is a valid lower bound on the optimum up to its tolerances:
its feasibility tolerance (:data:`SCIP_PARAMS`, 1e-9: a big-M row may move by M times it) and the relative
gap at which it stops (:data:`MIQP_REL_GAP` on t, about half of it on the radius). That is what ``lower`` =
sqrt(dual bound) rests on; the point found is re-checked in exact rationals by the caller
(:func:`verify.robust.checks.find_witness`), which gives the proved upper bound.

>>> from theory.network import mlp
>>> from verify.robust.plnet import plnet
>>> net = plnet(mlp([[[1, 0], [0, 1]], [[1, 0], [0, 1]]]))     # f = relu(x): class 0 where x0 > x1
>>> r = l2_miqp(net, np.array([2.0, 1.0]), 0, cap=4.0)           # doctest: +SKIP
>>> r.status, round(r.radius ** 2, 7), r.point.round(6).tolist()  # doctest: +SKIP
('optimal', 0.5, [1.5, 1.5])
"""

from __future__ import annotations

import contextlib
import math
import time

import numpy as np

from verify.errors import require
from verify.robust.encoding import (
    Encoding,
    encode_class_change,
    encode_network,
    network_width,
    pattern_of,
    quiet_c_stdout,
)
from verify.robust.milp import MilpResult

__all__ = ["l2_miqp", "miqp_radius", "MiqpResult", "load_scip", "have_scip", "MIQP_REL_GAP", "SCIP_PARAMS"]

#: The relative gap on t = ||d||^2 at which SCIP stops (its default is 1e-4); on the radius it is about half. Not
#: 1e-7: SCIP's outer approximation of t >= ||d||^2 closes the last digits slowly (on the lab's digits MLP one
#: point stalled at 6e-7 for 90 000 nodes).
MIQP_REL_GAP = 1e-6
#: SCIP parameters beyond the gap: a feasibility tolerance 1000x tighter than SCIP's default 1e-6 (so that the
#: optimal point lies close enough to the boundary for the witness checks, as HiGHS' is made to for l-inf).
SCIP_PARAMS = {"numerics/feastol": 1e-9}


def load_scip():
    """The ``pyscipopt`` module, or :class:`~verify.errors.MissingExtraError` naming the extra ``l2``."""
    return require("pyscipopt", "l2", "the l2 radius by a mixed-integer quadratic program (SCIP)")


def have_scip() -> bool:
    """Whether ``pyscipopt`` can be imported (the default l2 method depends on it)."""
    try:
        load_scip()
    except ImportError:
        return False
    return True


class MiqpResult(MilpResult):
    """The fields of :class:`verify.robust.milp.MilpResult`, for the l2 program: ``status`` optimal (SCIP proved
    the gap below :data:`MIQP_REL_GAP`), time_limit, node_limit, beyond_cap (no class change within l2
    distance ``cap``), or error; ``radius`` the distance of the best point found (inf if none), ``lower`` sqrt
    of SCIP's dual bound, ``gap`` (radius - lower) / radius, ``point`` the best z, ``rival`` the class j that
    ties there, ``pattern`` the pattern the binaries select, ``nodes`` SCIP's branch-and-bound nodes,
    ``binaries`` their number, ``unstable`` the unstable units over the ball."""


_STATUS = {"optimal": "optimal", "gaplimit": "optimal", "timelimit": "time_limit", "nodelimit": "node_limit",
           "totalnodelimit": "node_limit", "stallnodelimit": "node_limit", "infeasible": "beyond_cap"}


def l2_miqp(net, x: np.ndarray, y: int, *, cap: float, domain=None, time_limit: float | None = None,
            node_limit: int | None = None, linear_bounds: bool = True, t_lower: float = 0.0,
            rel_gap: float = MIQP_REL_GAP, scip_params: dict | None = None,
            verbose: bool = False) -> MiqpResult:
    """The least l2 distance, at most ``cap``, from x to a point where class y is not the strict winner
    (module docstring). ``domain``: (lo, hi), the box the points must stay in; ``t_lower``: a radius already
    proved (e.g. by bounds alone), given to SCIP as the bound t >= t_lower^2; ``linear_bounds``: the
    pre-activation bounds by linear bounds (else intervals only); ``scip_params``: more SCIP parameters (name:
    value), over :data:`SCIP_PARAMS`; ``verbose``: SCIP's log on stdout. Raises
    MissingExtraError without pyscipopt."""
    scip = load_scip()
    t0 = time.perf_counter()
    D, K = net.D, net.K
    x = np.asarray(x, dtype=np.float64)
    lo0, hi0 = net.linf_box(x, cap, domain)
    others = [j for j in range(K) if j != y]
    Rd = net.rival_rows(y)
    L, H, (fl, fh) = net.bounds(lo0, hi0, linear=linear_bounds, diff_rows=Rd, ball=(x, cap))

    def done(status, msg, nodes=0, nbin=0, unst=0, notes=()):
        return MiqpResult(status, math.inf, cap if status == "beyond_cap" else 0.0, 0.0 if status == "beyond_cap"
                          else math.inf, None, None, None, nodes, nbin, unst, time.perf_counter() - t0, msg,
                          list(notes))

    if not any(fh >= 0):
        return done("beyond_cap", "no class can overtake y in the box (bounds)")
    enc = Encoding(network_width(net) + K)
    for i in range(D):
        enc.var(lo0[i], hi0[i])
    E, binaries, L, H, st = encode_network(net, enc, L, H)
    F, fm = E[net.output]
    cands = [i for i, j in enumerate(others) if fh[i] >= 0]
    betas = encode_class_change(enc, F, fm, y, others, cands, fl)
    nbin = int(enc.integ[:enc.nv].sum())
    A, rl, ru = enc.matrix()
    shift = A[:, :D] @ x                                  # the rows on z = x + d, read on d
    m = scip.Model("l2-radius")
    m.hideOutput(not verbose)
    vs = []
    for i in range(enc.nv):
        lb, ub = (enc.lb[i] - x[i], enc.ub[i] - x[i]) if i < D else (enc.lb[i], enc.ub[i])
        vs.append(m.addVar(name=f"v{i}", lb=lb, ub=ub, vtype="B" if enc.integ[i] and i >= D else "C"))
    for r in range(A.shape[0]):
        lo_r, hi_r = rl[r] - shift[r], ru[r] - shift[r]
        a, b = A.indptr[r], A.indptr[r + 1]
        expr = scip.quicksum(float(c) * vs[k] for k, c in zip(A.indices[a:b], A.data[a:b]))
        if np.isfinite(rl[r]) and np.isfinite(ru[r]) and rl[r] == ru[r]:
            m.addCons(expr == lo_r)
            continue
        if np.isfinite(rl[r]):
            m.addCons(expr >= lo_r)
        if np.isfinite(ru[r]):
            m.addCons(expr <= hi_r)
    t = m.addVar(name="t", lb=min(max(t_lower, 0.0), cap) ** 2, ub=cap ** 2)
    m.addCons(scip.quicksum(vs[i] * vs[i] for i in range(D)) <= t)
    m.setObjective(t, "minimize")
    m.setParam("limits/gap", float(rel_gap))
    for k, v in {**SCIP_PARAMS, **(scip_params or {})}.items():
        m.setParam(k, v)
    if time_limit is not None:
        m.setParam("limits/time", max(float(time_limit) - (time.perf_counter() - t0), 1e-2))
    if node_limit is not None:
        m.setParam("limits/nodes", int(node_limit))
    with quiet_c_stdout() if not verbose else contextlib.nullcontext():   # SoPlex prints some warnings with printf
        m.optimize()
    raw = m.getStatus()
    status = _STATUS.get(raw, "error")
    nodes = int(m.getNNodes())
    unst = st["unstable"]
    notes = [f"SCIP: {nbin} binaries, {unst} unstable units in the ball of radius {cap:.6g}, {nodes} nodes, "
             f"status {raw}"]
    if status == "beyond_cap":
        return done("beyond_cap", f"SCIP: {raw}", nodes, nbin, unst, notes)
    dual = float(m.getDualbound())
    lower = math.sqrt(max(dual, 0.0)) if math.isfinite(dual) else 0.0
    if m.getNSols() == 0:
        res = done(status if status != "optimal" else "error", f"SCIP: {raw}, no solution", nodes, nbin, unst, notes)
        res.lower = min(lower, cap)
        return res
    sol = m.getBestSol()
    v = np.array([m.getSolVal(sol, var) for var in vs])
    d = v[:D].copy()
    z = x + d
    v[:D] = z
    radius = float(np.linalg.norm(d))
    lower = min(lower, radius)
    pattern = pattern_of(net, L, binaries, v)
    rival = others[cands[0]] if not betas else betas[int(np.argmax([v[bv] for _, bv in betas]))][0]
    gap = (radius - lower) / radius if radius > 0 else 0.0
    return MiqpResult(status, radius, lower, gap, z, rival, pattern, nodes, nbin, unst, time.perf_counter() - t0,
                      f"SCIP: {raw}", notes)


def miqp_radius(pl, x, y, upper0, dom, left, node_limit, max_radius, proved, linear_bounds, notes, problem, *,
                grow_limit: float) -> tuple:
    """The l2 branch of :func:`verify.robust.radius.robust_radius` by :func:`l2_miqp`: the ball of the attack's
    witness ``upper0`` (or of ``max_radius``), else the domain's, else one grown as the l-inf box is; fills
    ``problem`` with the program's size and ``notes`` with its notes. (status, radius, lower, gap, point,
    rival, pattern, nodes)."""
    t0 = time.perf_counter()
    cap = upper0 if math.isfinite(upper0) else None
    if max_radius is not None:
        cap = max_radius if cap is None else min(cap, max_radius)
    grow = cap is None
    if grow:                                   # the whole domain lies within this l2 distance of x
        cap = (float(np.linalg.norm(np.maximum(x - dom[0], dom[1] - x))) if dom is not None
               else max(1.0, float(np.max(np.abs(x)))))
    limit = grow_limit * max(1.0, float(np.max(np.abs(x))))
    while True:
        r = l2_miqp(pl, x, y, cap=cap * (1 + 1e-9) + 1e-12, domain=dom, time_limit=left, node_limit=node_limit,
                    linear_bounds=linear_bounds, t_lower=proved if proved < cap else 0.0)
        if r.status == "beyond_cap" and grow and dom is None and cap < limit:
            cap = min(cap * 16, limit)
            left = None if left is None else max(left - (time.perf_counter() - t0), 1e-3)
            t0 = time.perf_counter()
            continue
        break
    status, radius, lower, gap = r.status, r.radius, r.lower, r.gap
    problem.update(binaries=int(r.binaries), unstable=int(r.unstable))
    notes.extend(r.notes)
    if status in ("time_limit", "node_limit", "error") and upper0 < radius:
        radius = upper0                         # the attack's witness is the best point known
    if status == "beyond_cap":                  # nothing in the closed ball changes class: rho > cap
        lower = math.nextafter(min(cap, max_radius) if max_radius is not None else cap, math.inf)
        radius, gap = math.inf, 0.0
        if grow and dom is not None:
            status, lower = "no_class_change", math.inf
        elif grow:
            notes.append(f"no class change within l2 distance {cap:.6g} (without a witness the ball grows to "
                         f"{grow_limit:g} max(1, ||x||_inf))")
    elif math.isfinite(radius) and radius > 0:
        gap = (radius - lower) / radius
    return status, radius, lower, gap, r.point, r.rival, r.pattern, r.nodes
