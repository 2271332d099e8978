"""The exact l-inf radius as a mixed-integer linear program (Tjeng, Xiao & Tedrake, ICLR 2019), solved by
HiGHS through ``scipy.optimize.milp``.

Within the box B = {z : ||z - x||_inf <= U} (intersected with the data's domain), with bounds
l <= u <= h on every pre-activation over B (:meth:`verify.robust.plnet.PLNet.bounds`):

    minimise t  subject to  -t <= z_i - x_i <= t,  the network's exact encoding on B,
                            f_j(z) >= f_y(z) for one j != y chosen by binaries beta_j.

- a rectifier y = sigma_a(u) with l < 0 < h: u = p + q with 0 <= p <= h delta and
  l (1 - delta) <= q <= 0, delta in {0, 1}; then y = p + a q = a u + (1 - a) p. Exact for every slope
  a (ReLU, leaky, PReLU, the absolute value); for a = 0 it is Tjeng et al.'s formulation. A unit
  with l >= 0 (h <= 0) is the affine u (a u) and needs no binary;
- a max y = max_k u_k over the candidates k with h_k >= max_k' l_k' (the others never win):
  y >= u_k, y <= u_k + (h_max - l_k)(1 - delta_k), sum_k delta_k = 1;
- the class change: f_j - f_y >= -M_j (1 - beta_j), sum_j beta_j = 1, with M_j = -min over B of
  f_j - f_y, for the classes j whose maximum of f_j - f_y over B is >= 0 (none: no point of B
  changes class, which proves the radius exceeds U).

Affine nodes are substituted (each node's value is a linear expression in the variables), so the
variables are z, t and two per unstable unit. The solver's optimum is exact up to its tolerances
(:data:`HIGHS_OPTIONS`; with big-M constants M an integrality slack eps lets a constraint move by M eps),
which is why every witness is re-checked exactly.

>>> from theory.network import mlp
>>> from verify.robust.plnet import plnet
>>> net = plnet(mlp([[[1, 0], [0, 1]], [[1, 0], [0, 1]]]))     # f = relu(x): class 0 where x0 > x1
>>> r = linf_milp(net, np.array([2.0, 1.0]), 0, cap=4.0)
>>> r.status, round(r.radius, 9), r.point.round(9).tolist()
('optimal', 0.5, [1.5, 1.5])
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from verify.robust.encoding import Encoding, encode_class_change, encode_network, network_width, pattern_of, solve
from verify.robust.solvers import load_milp

__all__ = ["linf_milp", "MilpResult", "MIP_REL_GAP", "HIGHS_OPTIONS"]

#: The relative gap at which HiGHS stops (its default is 1e-4; a radius is wanted to ~7 digits).
MIP_REL_GAP = 1e-7
#: HiGHS options beyond scipy's: an absolute gap far below any radius (HiGHS' default 1e-6 would stop
#: a radius of 1e-3 at 0.1 %), and feasibility tolerances 100x tighter than its defaults (1e-6 integrality,
#: 1e-7 primal), so that the optimal point is close enough to the boundary for the witness checks.
HIGHS_OPTIONS = {"mip_abs_gap": 1e-12, "mip_feasibility_tolerance": 1e-8, "primal_feasibility_tolerance": 1e-9}


@dataclass
class MilpResult:
    """``status``: optimal, time_limit, node_limit, beyond_cap (no class change within ``cap``: the
    radius exceeds it), skipped (more binaries than ``max_binaries``), or error; ``radius`` the best objective found (inf if none), ``lower`` the
    solver's dual bound, ``gap`` its relative gap, ``point`` the optimal z, ``rival`` the class j that
    ties there, ``pattern`` the pattern the binaries select, ``nodes`` the branch-and-bound nodes,
    ``binaries`` their number, ``unstable`` the unstable units over the box."""

    status: str
    radius: float
    lower: float
    gap: float
    point: np.ndarray | None
    rival: int | None
    pattern: dict | None
    nodes: int
    binaries: int
    unstable: int
    seconds: float
    message: str = ""
    notes: list = field(default_factory=list)


def linf_milp(net, x: np.ndarray, y: int, *, cap: float, domain=None, time_limit: float | None = None,
              node_limit: int | None = None, linear_bounds: bool = True, tighten: bool = False,
              max_binaries: int | None = None, t_lower: float = 0.0, mip_rel_gap: float = MIP_REL_GAP) -> MilpResult:
    """The least l-inf distance, at most ``cap``, from x to a point where class y is not the strict winner
    (module docstring). ``domain``: (lo, hi), the box the points must stay in. ``tighten``: before
    encoding each nonlinear layer past the first, tighten the bounds of its unstable units by the linear
    programs min / max u_i over the relaxation of the layers below (Tjeng et al.'s progressive bounds),
    within a fifth of the time limit. ``max_binaries``: do not solve a program with more binaries than this
    (status ``skipped``: a deterministic budget, where a time limit depends on the machine). ``t_lower``: a
    radius already proved (e.g. by bounds alone), given to the program as the bound t >= t_lower. Tightening is off by default: on the lab's digits MLP it stabilised 2 to 8 of
    ~90 unstable units for ~100 LPs of ~40 ms each (measured by ``python -m verify.bench.radius``)."""
    load_milp()
    t0 = time.perf_counter()
    D, K = net.D, net.K
    x = np.asarray(x, dtype=np.float64)
    lo0, hi0 = net.linf_box(x, cap, domain)
    others = [j for j in range(K) if j != y]
    R = net.rival_rows(y)
    L, H, (fl, fh) = net.bounds(lo0, hi0, linear=linear_bounds, diff_rows=R)
    if not any(fh >= 0):
        return MilpResult("beyond_cap", math.inf, cap, 0.0, None, None, None, 0, 0, 0,
                          time.perf_counter() - t0, "no class can overtake y in the box (bounds)")
    width = network_width(net) + 1 + K
    enc = Encoding(width)
    for i in range(D):
        enc.var(lo0[i], hi0[i])
    tv = enc.var(min(max(t_lower, 0.0), cap), cap)
    Zt = np.zeros((D, width))
    Zt[:, :D] = np.eye(D)
    Zt[:, tv] = -1.0
    enc.add(Zt, -np.inf, x)                   # z - t <= x
    Zt2 = Zt.copy()
    Zt2[:, tv] = 1.0
    enc.add(Zt2, x, np.inf)                   # z + t >= x

    def rebound(L, H, k):
        L, H, extra = net.bounds(lo0, hi0, linear=True, diff_rows=R, fixed=(L, H, k))
        return L, H, extra

    E, binaries, L, H, st = encode_network(net, enc, L, H, tighten=tighten, t0=t0,
                                           budget=None if time_limit is None else 0.2 * time_limit,
                                           rebound=rebound if linear_bounds else None)
    if st["extra"] is not None:
        fl, fh = st["extra"]
    lps, tightened, unstable_total = st["lps"], st["tightened"], st["unstable"]
    F, fm = E[net.output]
    cands = [i for i, j in enumerate(others) if fh[i] >= 0]
    if not cands:
        return MilpResult("beyond_cap", math.inf, cap, 0.0, None, None, None, 0, 0, unstable_total,
                          time.perf_counter() - t0, "no class can overtake y in the box (tightened bounds)")
    # ---- the class change ---------------------------------------------------------------------------
    betas = encode_class_change(enc, F, fm, y, others, cands, fl)
    c = np.zeros(width)
    c[tv] = 1.0
    nbin = int(enc.integ[:enc.nv].sum())
    if max_binaries is not None and nbin > max_binaries:
        return MilpResult("skipped", math.inf, 0.0, math.inf, None, None, None, 0, nbin, unstable_total,
                          time.perf_counter() - t0, f"{nbin} binaries > max_binaries = {max_binaries}: not solved")
    opts = {"presolve": True, "mip_rel_gap": mip_rel_gap, **HIGHS_OPTIONS}
    if node_limit is not None:
        opts["node_limit"] = int(node_limit)
    res = solve(enc, c, relax=False, opts=opts, deadline=None if time_limit is None else t0 + float(time_limit))
    secs = time.perf_counter() - t0
    nodes = int(getattr(res, "mip_node_count", 0) or 0)
    notes = [f"{lps} bound-tightening LPs, {tightened} units made stable"] if lps else []
    if res.status == 2:
        return MilpResult("beyond_cap", math.inf, cap, 0.0, None, None, None, nodes, nbin, unstable_total, secs,
                          res.message, notes)
    dual = getattr(res, "mip_dual_bound", None)
    dual = float(dual) if dual is not None and math.isfinite(dual) else 0.0
    limited = res.status == 1 or "limit" in str(res.message).lower()
    if res.status != 0 and (not limited or res.x is None):
        st = _limit(res.message) if limited else "error"
        return MilpResult(st, math.inf, max(dual, 0.0), math.inf, None, None, None, nodes, nbin, unstable_total,
                          secs, res.message, notes)
    v = res.x
    z = v[:D].copy()
    radius = float(np.max(np.abs(z - x)))
    lower = min(max(dual, 0.0), radius)
    status = "optimal" if res.status == 0 else _limit(res.message)
    gap = float(res.mip_gap) if getattr(res, "mip_gap", None) is not None else (radius - lower) / max(radius, 1e-300)
    pattern = pattern_of(net, L, binaries, v)
    rival = others[cands[0]] if not betas else betas[int(np.argmax([v[bv] for _, bv in betas]))][0]
    return MilpResult(status, radius, lower, gap, z, rival, pattern, nodes, nbin, unstable_total, secs, res.message,
                      notes)


def _limit(message: str) -> str:
    """HiGHS reports its node limit as "Solution limit reached" (status 16) and its time limit by name."""
    m = str(message).lower()
    return "time_limit" if "time" in m else "node_limit"
