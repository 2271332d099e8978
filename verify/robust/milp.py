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
import warnings
from dataclasses import dataclass, field

import numpy as np

from .solvers import load_milp

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
    radius exceeds it), or error; ``radius`` the best objective found (inf if none), ``lower`` the
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
              node_limit: int | None = None, linear_bounds: bool = True, mip_rel_gap: float = MIP_REL_GAP) -> MilpResult:
    """The least l-inf distance, at most ``cap``, from x to a point where class y is not the strict winner
    (module docstring). ``domain``: (lo, hi), the box the points must stay in."""
    milp, LinearConstraint, Bounds = load_milp()
    t0 = time.perf_counter()
    D, K = net.D, net.K
    x = np.asarray(x, dtype=np.float64)
    lo0, hi0 = x - cap, x + cap
    if domain is not None:
        dl, dh = (np.broadcast_to(np.asarray(v, dtype=np.float64), (D,)) for v in domain)
        lo0, hi0 = np.maximum(lo0, dl), np.minimum(hi0, dh)
    others = [j for j in range(K) if j != y]
    R = np.zeros((len(others), K))
    R[np.arange(len(others)), others] = 1.0
    R[:, y] -= 1.0
    L, H, (fl, fh) = net.bounds(lo0, hi0, linear=linear_bounds, diff_rows=R)
    cands = [i for i, j in enumerate(others) if fh[i] >= 0]
    unstable_total = 0
    # ---- variables ------------------------------------------------------------------------------
    nv = D + 1
    alloc = {}
    for k in net.nonlinear:
        n = net.nodes[k]
        l, h = L[n.src[0]], H[n.src[0]]
        if n.kind == "rect":
            unst = np.nonzero((l < 0) & (h > 0))[0]
            unstable_total += len(unst)
            alloc[k] = (unst, nv)
            nv += 2 * len(unst)
        else:
            gl = np.where(n.valid, l[n.G], -np.inf)
            gh = np.where(n.valid, h[n.G], -np.inf)
            ml = gl.max(1)
            groups = []
            for j in range(n.size):
                cq = [q for q in range(n.G.shape[1]) if n.valid[j, q] and gh[j, q] >= ml[j]]
                if len(cq) > 1:
                    groups.append((j, cq, nv))
                    nv += 1 + len(cq)
                else:
                    groups.append((j, cq, None))
            unstable_total += sum(1 for g in groups if g[2] is not None)
            alloc[k] = groups
    beta0 = nv
    if len(cands) > 1:
        nv += len(cands)
    if not cands:
        return MilpResult("beyond_cap", math.inf, cap, 0.0, None, None, None, 0, 0, unstable_total,
                          time.perf_counter() - t0, "no class can overtake y in the box (bounds)")
    lb, ub = np.zeros(nv), np.zeros(nv)
    integ = np.zeros(nv)
    lb[:D], ub[:D] = lo0, hi0
    lb[D], ub[D] = 0.0, cap
    rows, rl, ru = [], [], []

    def add(block, lo_, hi_):
        rows.append(np.atleast_2d(block))
        rl.append(np.broadcast_to(np.asarray(lo_, dtype=np.float64), (rows[-1].shape[0],)))
        ru.append(np.broadcast_to(np.asarray(hi_, dtype=np.float64), (rows[-1].shape[0],)))

    # |z - x| <= t
    Zt = np.zeros((D, nv))
    Zt[:, :D] = np.eye(D)
    Zt[:, D] = -1.0
    add(Zt, -np.inf, x)                   # z - t <= x
    Zt2 = Zt.copy()
    Zt2[:, D] = 1.0
    add(Zt2, x, np.inf)                   # z + t >= x
    # ---- node expressions -----------------------------------------------------------------------
    E = {0: (np.hstack([np.eye(D), np.zeros((D, nv - D))]), np.zeros(D))}
    for k, n in enumerate(net.nodes[1:], 1):
        M, m = E[n.src[0]]
        if n.kind == "affine":
            E[k] = (n.W @ M, n.W @ m + n.b)
        elif n.kind == "sum":
            M2, m2 = E[n.src[1]]
            E[k] = (M + M2, m + m2)
        elif n.kind == "rect":
            l, h = L[n.src[0]], H[n.src[0]]
            a = n.a
            d = np.where(l >= 0, 1.0, a)            # stable units: u or a u
            My, my = d[:, None] * M, d * m
            unst, base = alloc[k]
            for s, i in enumerate(unst):
                pi, di = base + 2 * s, base + 2 * s + 1
                lb[pi], ub[pi] = 0.0, h[i]
                lb[di], ub[di], integ[di] = 0.0, 1.0, 1
                r1 = np.zeros(nv)
                r1[pi], r1[di] = 1.0, -h[i]
                add(r1, -np.inf, 0.0)                             # p <= h delta
                r2 = -M[i]
                r2[pi] += 1.0
                add(r2, m[i], np.inf)                             # p - u >= 0   (q = u - p <= 0)
                r3 = M[i].copy()
                r3[pi] -= 1.0
                r3[di] += l[i]
                add(r3, l[i] - m[i], np.inf)                      # u - p >= l (1 - delta)
                My[i] = a[i] * M[i]
                My[i, pi] += 1.0 - a[i]
                my[i] = a[i] * m[i]
            E[k] = (My, my)
        else:
            l, h = L[n.src[0]], H[n.src[0]]
            My, my = np.zeros((n.size, nv)), np.zeros(n.size)
            for j, cq, base in alloc[k]:
                idx = [n.G[j, q] for q in cq]
                if base is None:
                    My[j], my[j] = M[idx[0]], m[idx[0]]
                    continue
                hmax = max(h[i] for i in idx)
                yv = base
                lb[yv], ub[yv] = max(l[i] for i in idx), hmax
                one = np.zeros(nv)
                for s, i in enumerate(idx):
                    dv = base + 1 + s
                    lb[dv], ub[dv], integ[dv] = 0.0, 1.0, 1
                    one[dv] = 1.0
                    r = -M[i].copy()
                    r[yv] += 1.0
                    add(r, m[i], np.inf)                          # y - u_i >= 0
                    r2 = r.copy()
                    r2[dv] += hmax - l[i]
                    add(r2, -np.inf, m[i] + hmax - l[i])          # y - u_i <= (hmax - l_i)(1 - delta_i)
                add(one, 1.0, 1.0)
                My[j, yv] = 1.0
            E[k] = (My, my)
    F, fm = E[net.output]
    # ---- the class change ---------------------------------------------------------------------------
    if len(cands) == 1:
        i = cands[0]
        j = others[i]
        add(F[j] - F[y], -(fm[j] - fm[y]), np.inf)
    else:
        one = np.zeros(nv)
        for s, i in enumerate(cands):
            j = others[i]
            bv = beta0 + s
            lb[bv], ub[bv], integ[bv] = 0.0, 1.0, 1
            one[bv] = 1.0
            Mj = max(-fl[i], 0.0)
            r = F[j] - F[y]
            r[bv] -= Mj
            add(r, -Mj - (fm[j] - fm[y]), np.inf)                 # f_j - f_y >= -M_j (1 - beta_j)
        add(one, 1.0, 1.0)
    from scipy.sparse import csr_matrix

    A = np.vstack(rows)
    A[np.abs(A) < 1e-300] = 0.0
    cons = LinearConstraint(csr_matrix(A), np.concatenate(rl), np.concatenate(ru))
    c = np.zeros(nv)
    c[D] = 1.0
    opts = {"presolve": True, "mip_rel_gap": mip_rel_gap, **HIGHS_OPTIONS}
    if time_limit is not None:
        opts["time_limit"] = max(float(time_limit) - (time.perf_counter() - t0), 1e-3)
    if node_limit is not None:
        opts["node_limit"] = int(node_limit)
    with warnings.catch_warnings():                 # the HiGHS options scipy passes on verbatim, with a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        res = milp(c, integrality=integ, bounds=Bounds(lb, ub), constraints=cons, options=opts)
    secs = time.perf_counter() - t0
    nodes = int(getattr(res, "mip_node_count", 0) or 0)
    nbin = int(integ.sum())
    if res.status == 2:
        return MilpResult("beyond_cap", math.inf, cap, 0.0, None, None, None, nodes, nbin, unstable_total, secs,
                          res.message)
    if res.status not in (0, 1) or (res.status == 1 and res.x is None):
        dual = getattr(res, "mip_dual_bound", None)
        st = "error" if res.status not in (0, 1) else _limit(res.message)
        return MilpResult(st, math.inf, float(dual) if dual is not None and math.isfinite(dual) else 0.0, math.inf,
                          None, None, None, nodes, nbin, unstable_total, secs, res.message)
    v = res.x
    z = v[:D].copy()
    radius = float(np.max(np.abs(z - x)))
    dual = getattr(res, "mip_dual_bound", None)
    lower = float(dual) if dual is not None and math.isfinite(dual) else 0.0
    lower = min(max(lower, 0.0), radius)
    status = "optimal" if res.status == 0 else _limit(res.message)
    gap = float(res.mip_gap) if getattr(res, "mip_gap", None) is not None else (radius - lower) / max(radius, 1e-300)
    # the pattern the binaries select; the class that ties
    pattern = {}
    for k in net.nonlinear:
        n = net.nodes[k]
        l = L[n.src[0]]
        if n.kind == "rect":
            p = np.where(l >= 0, 1, -1).astype(np.int8)
            unst, base = alloc[k]
            for s, i in enumerate(unst):
                p[i] = 1 if v[base + 2 * s + 1] > 0.5 else -1
            pattern[k] = p
        else:
            p = np.zeros(n.size, dtype=np.int64)
            for j, cq, base in alloc[k]:
                p[j] = cq[0] if base is None else cq[int(np.argmax(v[base + 1: base + 1 + len(cq)]))]
            pattern[k] = p
    rival = others[cands[0]] if len(cands) == 1 else others[cands[int(np.argmax(v[beta0: beta0 + len(cands)]))]]
    return MilpResult(status, radius, lower, gap, z, rival, pattern, nodes, nbin, unstable_total, secs, res.message)


def _limit(message: str) -> str:
    return "node_limit" if "node" in str(message).lower() else "time_limit"
