"""The exact l2 radius by a search over activation regions, ordered by their distance (GeoCert's idea).

The set of inputs not classified y is a union over activation regions P of the polyhedra
P cap {f_j >= f_y} (f is affine on P), so the l2 radius is the least distance from x to one of them.
The search visits regions in order of a lower bound on their distance from x, starting at x's own:

- a region's exact distance, and the distance to its part where class j ties or wins, are *least
  distance problems* (min ||d|| subject to G d >= h: the projection of x onto a polyhedron), solved
  by Lawson and Hanson's reduction to non-negative least squares (``scipy.optimize.nnls``), whose
  multipliers also give a dual lower bound lambda^T h - ||G^T lambda||^2 / 2 <= ||d*||^2 / 2 (weak
  duality), so the ordering uses bounds that are proved up to float rounding;
- a region's neighbours are the patterns with one half-space reversed (one rectifier unit's sign,
  or one max unit's winner); a neighbour is queued with the cheap bound "distance from x to the
  reversed half-space" and its exact distance is computed when it first reaches the front;
- the search stops when the front's bound reaches the best distance found: every region nearer
  than that has been visited. (Why: the segment from x to a nearest misclassified point z* leaves each
  region it crosses at a point v nearer than the radius. The regions are closed, so every pattern that
  agrees with the network's signs at v off the units that are 0 at v contains v: the next region on
  the segment is reached from the current one by single flips of those units, through regions that
  all contain v, each queued with a key at most ||v - x||, even where several units change sign at
  once at v (a vertex, or a facet shared by two units). What it rests on: float rounding, where such
  an in-between region is lower-dimensional (a facet or a vertex) and NNLS may judge it empty. The
  MIQP of :mod:`verify.robust.miqp` has no such case: every pattern is a choice of its binaries.)
- a unit whose pre-activation is exactly 0 on the whole region (a zero row) is flipped too, at the
  region's own key (its reversed half-space is the region itself).

Why a search beside the mixed-integer program of :mod:`verify.robust.miqp`: it needs only scipy (the MIQP
needs pyscipopt, an optional extra); each region's problem is a small convex quadratic
program that NNLS solves exactly up to rounding, with a certificate. The price: the number of
regions within the radius grows quickly with the network, so the search finishes on small networks;
on larger ones it stops at its time limit with the bounds it reached.

>>> from theory.network import mlp
>>> from verify.robust.plnet import plnet
>>> net = plnet(mlp([[[1, 0], [0, 1]], [[1, 0], [0, 1]]]))     # f = relu(x): class 0 where x0 > x1
>>> res = l2_search(net, np.array([2.0, 1.0]), 0)
>>> res.status, round(res.radius ** 2, 12), res.point.round(9).tolist()
('optimal', 0.5, [1.5, 1.5])
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field

import numpy as np

__all__ = ["ldp", "l2_search", "SearchResult", "LDP", "region_system"]

#: Rows of a least-distance problem count as satisfied within this (unit-normal rows: a distance).
FEAS_TOL = 1e-9


@dataclass
class LDP:
    """A solved least-distance problem: d, its norm, the dual lower bound on the norm, and the largest
    violation of a (unit-normal) row by d."""

    d: np.ndarray
    dist: float
    lower: float
    violation: float


def _nnls():
    try:
        from scipy.optimize import nnls
    except ImportError as exc:  # pragma: no cover - scipy comes with scikit-learn
        from verify.errors import MissingExtraError

        raise MissingExtraError("scipy", "robust", "the l2 radius (scipy.optimize.nnls)", detail=str(exc)) from exc
    return nnls


def ldp(G: np.ndarray, h: np.ndarray) -> LDP | None:
    """min ||d||_2 subject to G d >= h, or None when the rows are inconsistent (empty polyhedron).

    Lawson and Hanson's reduction: with E = [G^T; h^T] and f = e_{n+1}, solve the NNLS problem
    min ||E u - f|| over u >= 0; its residual r is 0 exactly when G d >= h is infeasible, and
    otherwise d = -r_{1:n} / r_{n+1}. lambda = u / ||r||^2 is dual feasible, which gives the lower bound.
    Rows are scaled to unit norm first; a zero row is dropped when 0 >= h_i holds, and makes the
    problem infeasible otherwise. Raises RuntimeError when NNLS does not converge.

    >>> r = ldp(np.array([[1.0, 1.0]]), np.array([2.0]))        # x0 + x1 >= 2: nearest point (1, 1)
    >>> r.d.round(12).tolist(), round(r.dist ** 2, 12), round(r.lower ** 2, 12)
    ([1.0, 1.0], 2.0, 2.0)
    >>> ldp(np.array([[1.0], [-1.0]]), np.array([1.0, 0.0])) is None   # x >= 1 and x <= 0
    True
    """
    G, h = np.asarray(G, dtype=np.float64), np.asarray(h, dtype=np.float64)
    n = G.shape[1]
    nrm = np.linalg.norm(G, axis=1)
    zero = nrm == 0
    if np.any(h[zero] > 0):
        return None
    G, h = G[~zero] / nrm[~zero, None], h[~zero] / nrm[~zero]
    if G.shape[0] == 0 or np.all(h <= 0):
        return LDP(np.zeros(n), 0.0, 0.0, 0.0)
    E = np.vstack([G.T, h[None, :]])
    f = np.zeros(n + 1)
    f[n] = 1.0
    u, rnorm = _nnls()(E, f, maxiter=max(50, 20 * E.shape[1]))
    r = E @ u - f
    if rnorm ** 2 < 1e-24 or r[n] >= 0:
        return None
    d = -r[:n] / r[n]
    lam = u / (-r[n])
    dual = float(lam @ h - 0.5 * np.sum((G.T @ lam) ** 2))
    viol = float(np.max(h - G @ d)) if G.shape[0] else 0.0
    return LDP(d, float(np.linalg.norm(d)), math.sqrt(max(dual, 0.0) * 2), max(viol, 0.0))


def region_system(reg, x: np.ndarray, box_G=None, box_h=None, extra=None):
    """The rows G d >= h of a least-distance problem from x: the region A (x + d) <= c, the domain's rows
    (``box_G``, ``box_h``: d >= lo - x, -d >= x - hi) and one ``extra`` row (g, e): g d >= e."""
    G, h = -reg.A, reg.A @ x - reg.c
    if box_G is not None:
        G, h = np.vstack([G, box_G]), np.concatenate([h, box_h])
    if extra is not None:
        G, h = np.vstack([G, extra[0][None]]), np.append(h, extra[1])
    return G, h


@dataclass
class SearchResult:
    """What :func:`l2_search` reached: ``status`` optimal, time_limit, node_limit or no_class_change
    (every region of the domain visited, none misclassified); the best distance found (``radius``, inf
    if none) at ``point`` (a tie point, on the boundary of the misclassified set) against class ``rival``
    in ``region`` (its pattern); ``lower``, the proved lower bound; ``regions``, how many were visited;
    ``failures``, least-distance problems NNLS did not solve (each keeps the status from optimal)."""

    status: str
    radius: float
    lower: float
    point: np.ndarray | None
    rival: int | None
    pattern: dict | None
    regions: int
    failures: int = 0
    notes: list = field(default_factory=list)


def l2_search(net, x: np.ndarray, y: int, *, upper: float = math.inf, domain=None, time_limit: float | None = None,
              node_limit: int | None = None, rtol: float = 1e-9) -> SearchResult:
    """The least l2 distance from x to a point where class y is not the strict winner (see the module
    docstring). ``upper``: a distance already known to be reached (a checked witness), which prunes;
    ``domain``: (lo, hi) arrays, the box the points must stay in."""
    t0 = time.perf_counter()
    D = net.D
    x = np.asarray(x, dtype=np.float64)
    box_G = box_h = None
    if domain is not None:
        lo, hi = (np.broadcast_to(np.asarray(v, dtype=np.float64), (D,)) for v in domain)
        box_G = np.vstack([np.eye(D), -np.eye(D)])                  # d >= lo - x, -d >= x - hi
        box_h = np.concatenate([lo - x, x - hi])
    p0 = net.pattern_at(x)
    heap = [(0.0, 0, net.key(p0), p0, False)]
    queued = {net.key(p0): 0.0}
    expanded: set = set()
    best, best_point, best_j, best_pat = upper, None, None, None
    failures, count, tick = 0, 0, 1
    status, lower = "optimal", None

    while heap:
        key, _, pk, pat, exact = heapq.heappop(heap)
        if pk in expanded:
            continue
        if key >= best * (1 - rtol):
            lower = key
            break
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            status, lower = "time_limit", key
            heapq.heappush(heap, (key, 0, pk, pat, exact))
            break
        if node_limit is not None and count >= node_limit:
            status, lower = "node_limit", key
            break
        reg = net.region(pat)
        if not exact:
            try:
                r = ldp(*region_system(reg, x, box_G, box_h))
            except RuntimeError:
                failures += 1
                r = LDP(np.zeros(D), key, key, 0.0)
            if r is None:
                expanded.add(pk)
                continue
            if r.lower > key * (1 + 1e-12) + 1e-15:
                tick += 1
                queued[pk] = r.lower
                heapq.heappush(heap, (r.lower, tick, pk, pat, True))
                continue
        expanded.add(pk)
        count += 1
        # the part of the region where another class ties or wins
        for j in range(net.K):
            if j == y:
                continue
            g, e = reg.J[j] - reg.J[y], reg.b[j] - reg.b[y]          # f_j - f_y = g z + e >= 0
            gn = np.linalg.norm(g)
            at_x = g @ x + e
            if gn == 0:
                if at_x < 0:
                    continue
                cheap = key
            else:
                cheap = max(0.0, -at_x / gn)
            if cheap >= best * (1 - rtol):
                continue
            try:
                r = ldp(*region_system(reg, x, box_G, box_h, (g, -at_x)))
            except RuntimeError:
                failures += 1
                continue
            if r is not None and r.violation <= FEAS_TOL * (1 + r.dist) and r.dist < best:
                best, best_point, best_j, best_pat = r.dist, x + r.d, j, pat
        # the neighbours, each across one half-space
        for i, row in enumerate(reg.rows):
            a = reg.A[i]
            an = np.linalg.norm(a)
            if an == 0:                                 # a unit constant on the region: the reversed half-space
                if reg.c[i] > 0:                        # 0 >= c is empty unless its value is exactly 0
                    continue
                cheap = key
            else:
                cheap = max(0.0, (reg.c[i] - a @ x) / an)
            if cheap >= best * (1 - rtol):
                continue
            q = net.flip(pat, row)
            qk = net.key(q)
            if qk in expanded or queued.get(qk, math.inf) <= cheap:
                continue
            queued[qk] = cheap
            tick += 1
            heapq.heappush(heap, (cheap, tick, qk, q, False))
    if lower is None:                                  # the whole domain was searched
        lower = best
        if best_point is None and not math.isfinite(upper):
            status = "no_class_change"
    if failures and status == "optimal":
        status = "solver_failures"
    lower = min(lower, best)
    return SearchResult(status, best, lower, best_point, best_j, best_pat, count, failures)
