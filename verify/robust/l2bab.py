"""The exact l2 radius of a rectifier MLP by branch and bound over unstable units: :func:`l2_bab`.

rho_2(x) is the least ||z - x||_2 over the points z of the domain where class y is not the strict winner.
Given a distance R already reached (a witness's: the attack of :mod:`verify.robust.radius`), the search
proves that no such point lies within r = R (1 - rtol) of x, or finds a nearer one and proves it for that:

- the network's bounds hold on the box hull of the ball ||z - x||_2 <= r intersected with the ball
  (:meth:`verify.robust.crown.Chain.set_ball`), so each rival class j's margin f_y - f_j has, on each
  sub-domain (a set of units fixed to one phase), a linear lower bound Lam z + c with optimised lower
  slopes and split multipliers (alpha, beta: :mod:`verify.robust.bab`'s bounding step, the ball's
  concretisation in place of the box's). A sub-domain is pruned when that bound is > 0 on the ball; and
  no point of it nearer than d = (Lam x + c) / ||Lam||_2 (where Lam x + c > 0) has a margin <= 0, so
  min(d, r) is its proved lower bound on the radius, the key of the best-first order;
- a sub-domain is split on the unstable unit of the largest BaBSR-like score, its children bounded
  together (the ball of the current r: r only shrinks, so a parent's bounds, taken on a larger ball,
  hold on its children too, and a child keeps the better of its own bound and its parent's);
- a sub-domain with no unstable unit is one activation region on the ball: its least distance to the
  points where j ties or wins is a least-distance problem (:func:`verify.robust.search.ldp`, NNLS with a
  dual lower bound), exact up to rounding. If it is below R it is the new R (the point is then pushed over
  the boundary and checked in rationals by the caller, as the region search's);
- each sub-domain's minimiser of its linear bound on the ball, x - r Lam / ||Lam|| clipped to the domain,
  is tried: where another class ties or wins there in float, its region's least-distance problem gives
  a nearer distance at once.

It ends "optimal" when every sub-domain of every rival is pruned: then no point nearer than r = R (1 -
rtol) is misclassified and R is reached, so rho_2 lies in [R (1 - rtol), R] (``rtol`` 5e-7: the MIQP's
relative gap of 1e-6 on the squared radius). What it rests on: the float64 bounds of
:mod:`verify.robust.crown` widened by their rounding pads (outward-rounded box, raised norms), and NNLS's
dual bounds at the regions it solved. At a time or node limit the lower bound is the least key still open.

>>> from theory.network import mlp
>>> from verify.robust.plnet import plnet
>>> net = plnet(mlp([[[1, 0], [0, 1]], [[1, 0], [0, 1]]]))     # f = relu(x): class 0 where x0 > x1
>>> r = l2_bab(net, np.array([2.0, 1.0]), 0, upper=1.0)
>>> r.status, round(r.radius ** 2, 9), r.point.round(6).tolist()
('optimal', 0.5, [1.5, 1.5])
"""

from __future__ import annotations

import heapq
import math
import time

import numpy as np
import torch

from verify.robust.bab import ALPHA_STEPS, BATCH, LAYER_STEPS, bound_children, node_betas, optimise, split_scores
from verify.robust.crown import mlp_chain
from verify.robust.search import FEAS_TOL, SearchResult, l2_search, ldp, region_system

__all__ = ["l2_bab", "l2_regions", "RTOL"]

#: The relative gap at which the radius counts as found: 1 - (1 - RTOL)^2 ~ 1e-6 on the squared radius.
RTOL = 5e-7
#: Within this relative gap the next decision is the last one, at R (1 - RTOL).
NEAR = 0.01
#: Each decision's share of the time left, and its least time (s); the first decision's (at R itself); a decision's
#: after one that failed (0.5 rather than 0.25 raised the lower end at 3 of 5 digits points at 20 s, at none lower).
SHARE, MIN_SHARE, FIRST_SHARE, FAIL_SHARE = 0.25, 0.5, 0.1, 0.5
#: With a node limit, each decision's share of the sub-domains left (the same shares), and its least number.
MIN_NODES = 64
#: The l2 attack before the search: bisection steps on the radius, PGD restarts and steps per radius.
ATTACK = (8, 8, 40)


def l2_bab(net, x: np.ndarray, y: int, *, upper: float, domain=None, time_limit: float | None = None,
           node_limit: int | None = None, rtol: float = RTOL, batch: int = BATCH, alpha_steps=ALPHA_STEPS,
           layer_steps: int = LAYER_STEPS) -> SearchResult:
    """The least l2 distance from x to a point (in ``domain``, (lo, hi) arrays or None) where class y is not
    the strict winner, by branch and bound (module docstring), as a :class:`verify.robust.search.SearchResult`
    (``regions``: the sub-domains bounded). ``net``: a :class:`verify.robust.plnet.PLNet`; ``upper``: a
    distance a checked witness reaches, or inf: then the attack looks for one at growing radii, and without one
    the ball holds the whole domain, and status ``no_class_change`` says that no point of it is misclassified.
    Status ``unsupported`` (nothing searched) when the network is not a rectifier MLP, or no witness is found
    and the domain is not bounded."""
    t0 = time.perf_counter()
    chain = mlp_chain(net)
    x = np.asarray(x, dtype=np.float64)
    D = x.shape[0]
    dlo = np.full(D, -np.inf) if domain is None else np.broadcast_to(np.asarray(domain[0], dtype=np.float64), (D,))
    dhi = np.full(D, np.inf) if domain is None else np.broadcast_to(np.asarray(domain[1], dtype=np.float64), (D,))
    box_G = None if domain is None else np.vstack([np.eye(D), -np.eye(D)])
    box_h = None if domain is None else np.concatenate([dlo - x, x - dhi])
    st = {"best": float(upper), "point": None, "rival": None, "pattern": None, "ldp": 0, "failures": 0,
          "open": math.inf, "nodes": 0, "unstable": 0, "target": None}
    if chain is None:
        return SearchResult("unsupported", upper, 0.0, None, None, None, 0,
                            notes=["l2 branch and bound: not a rectifier MLP with slopes in [-1, 1]"])

    def radius():
        r = st["best"] * (1 - rtol)
        return r if st["target"] is None else min(r, st["target"])

    def hull():
        r = radius()
        lo = np.maximum(np.nextafter(x - r, -np.inf), dlo)
        hi = np.minimum(np.nextafter(x + r, np.inf), dhi)
        chain.set_ball(x, r)
        return torch.as_tensor(lo), torch.as_tensor(hi)

    def least(pattern, j):
        """The region's least distance to the points where j ties or wins (updating the best): its dual lower
        bound (inf: the part is empty), or None where NNLS failed."""
        reg = net.region(pattern)
        g, e = reg.J[j] - reg.J[y], reg.b[j] - reg.b[y]          # f_j - f_y = g z + e >= 0
        st["ldp"] += 1
        try:
            r = ldp(*region_system(reg, x, box_G, box_h, (g, -(g @ x + e))))
        except RuntimeError:
            return None
        if r is None:
            return math.inf
        if r.violation <= FEAS_TOL * (1 + r.dist) and r.dist < st["best"]:
            st.update(best=r.dist, point=x + r.d, rival=j, pattern=pattern)
        return r.lower

    def decide(target, deadline, cap):
        """Whether no point within min(target, R (1 - rtol)) of x is misclassified: ("proved", that radius), or
        ("open", the least key left) at the deadline or when ``cap`` sub-domains have been bounded in all."""
        st["target"] = target
        lo_t, hi_t = hull()
        with torch.no_grad():
            L, H = chain.all_bounds(lo_t, hi_t, 1)
        if layer_steps:
            L, H = chain.optimised_bounds(L, H, lo_t, hi_t, layer_steps)
        st["unstable"] = max(st["unstable"], int(sum(((v < 0) & (w > 0)).sum() for v, w in zip(L, H))))
        pad_out = C[0].abs() @ chain.box_pads[-1]
        bound, Lam, kept, alpha, _ = optimise(chain, C, L, H, lo_t, hi_t, None, alpha_steps[0])
        key0 = _keys(chain, bound[0] - pad_out, kept["center"][0, :, 0] - pad_out, Lam[0], radius())
        st["nodes"] += 1
        todo = [i for i in sorted(range(len(others)), key=lambda i: float(key0[1][i])) if not key0[0][i]]
        for n_i, i in enumerate(todo):
            j = others[i]
            if key0[1][i] >= radius():
                continue
            Ci = C[:, i:i + 1]
            zero = [torch.zeros(v.shape[1], dtype=torch.int8) for v in L]
            heap = [(float(key0[1][i]), 0, [v[0] for v in L], [v[0] for v in H], [a[0, i:i + 1] for a in alpha],
                     split_scores(chain, kept, L, H, i)[0], Lam[0, i], zero,
                     [torch.zeros_like(a[0, i:i + 1]) for a in alpha])]
            tie = 1
            while heap:
                if time.perf_counter() > deadline or st["nodes"] >= cap:
                    return "open", min([heap[0][0], radius()] + [float(key0[1][k]) for k in todo[n_i + 1:]])
                take = [heapq.heappop(heap) for _ in range(min(batch // 2, len(heap)))]
                take = [d for d in take if d[0] < radius()]
                if not take:
                    continue
                _try_minimisers(net, chain, x, y, j, take, dlo, dhi, least, deadline)
                for d in [d for d in take if d[5] is None]:                  # one region on the ball: its LDP
                    if time.perf_counter() > deadline:       # the leaves not yet solved stay open
                        heapq.heappush(heap, d)
                        continue
                    pattern = {k: np.where(d[2][li].numpy() >= 0, 1, -1).astype(np.int8)
                               for li, k in enumerate(chain.rect_ids)}
                    lb = least(pattern, j)
                    if lb is None or lb < radius():          # not solved, or not to the radius: left open, counted
                        st["failures"] += 1
                        st["open"] = min(st["open"], d[0] if lb is None else max(lb, d[0]))
                take = [d for d in take if d[5] is not None and d[0] < radius()]
                if not take:
                    continue
                lo_t, hi_t = hull()
                KL, KH, empty, S, b0, parent, (kb, kLam, kkept, kalpha, kbeta) = bound_children(
                    chain, Ci, take, [d[5][0] for d in take], lo_t, hi_t, alpha_steps[1], True, chain.depth - 1)
                B = len(parent)
                pad_b = pad_out[i] + sum((v[:, 0] * chain.box_pads[t]).sum(-1) for t, v in enumerate(kbeta))
                pruned, kd = _keys(chain, kb[:, 0] - pad_out[i], kkept["center"][:, 0, 0] - pad_b, kLam[:, 0],
                                   radius())
                kd = torch.maximum(kd, parent)
                st["nodes"] += B
                cands = split_scores(chain, kkept, KL, KH, 0)
                for b in range(B):
                    if empty[b] or pruned[b] or kd[b] >= radius():
                        continue
                    heapq.heappush(heap, (float(kd[b]), tie, [v[b] for v in KL], [v[b] for v in KH],
                                          [a[b] for a in kalpha], cands[b], kLam[b, 0],
                                          [v[b] for v in S], [v[b] for v in kbeta] if kbeta else node_betas(b0, b)))
                    tie += 1
        return "proved", radius()

    others = [j for j in range(chain.K) if j != y]
    C = torch.zeros(1, len(others), chain.K, dtype=torch.float64)
    C[0, torch.arange(len(others)), others] = -1.0
    C[0, :, y] = 1.0
    end = math.inf if time_limit is None else t0 + time_limit
    _attack(net, chain, x, y, dlo, dhi, st, least, _descend_fn(net, x, st, least))
    whole = not math.isfinite(st["best"])      # no witness: a ball that holds the whole domain, where bounded
    if whole:
        st["best"] = float(np.linalg.norm(np.maximum(x - dlo, dhi - x))) * (1 + 1e-9) / (1 - rtol)
        if not math.isfinite(st["best"]):
            return SearchResult("unsupported", math.inf, 0.0, None, None, None, 0,
                                notes=["l2 branch and bound: no witness, and no bounded domain"])
    lower, frac, tries = 0.0, 0.5, []
    status = "optimal"
    while lower < st["best"] * (1 - rtol) and st["open"] > lower:
        now = time.perf_counter()
        if now >= end:
            status = "time_limit"
            break
        if node_limit is not None and st["nodes"] >= node_limit:
            status = "node_limit"
            break
        gap = st["best"] - lower
        first = not tries                          # the first decision: at R itself, on a short budget
        target = st["best"] * (1 - rtol) if first or gap <= NEAR * st["best"] else lower + frac * gap
        share = FIRST_SHARE if first else (FAIL_SHARE if tries[-1].startswith("open") else SHARE)
        cap = math.inf if node_limit is None else st["nodes"] + max(MIN_NODES, share * (node_limit - st["nodes"]))
        got, r = decide(target, min(end, now + max(MIN_SHARE, share * (end - now))), cap)
        tries.append(f"{got} at {target:.6g}")
        lower = max(lower, r)
        frac = 0.5 if got == "proved" else frac / 2
    lower = min(lower, st["open"])
    notes = [f"l2 branch and bound: {st['unstable']} unstable units on the largest ball tried, {st['nodes']} "
             f"sub-domains bounded, {st['ldp']} least-distance problems; decisions: " + ", ".join(tries)]
    if st["failures"] and status == "optimal":
        status = "solver_failures"
    if whole and st["point"] is None and status == "optimal":   # the ball held the whole domain: none misclassified
        return SearchResult("no_class_change", math.inf, math.inf, None, None, None, st["nodes"], 0, notes)
    return SearchResult(status, st["best"], float(min(lower, st["best"])), st["point"], st["rival"], st["pattern"],
                        st["nodes"], st["failures"], notes)


def l2_regions(net, x, y, upper, domain, time_limit, node_limit, method: str, notes: list, problem: dict):
    """The l2 radius by ``method`` "bab" (:func:`l2_bab`; the region search where it is unsupported, said in
    ``notes``) or "search" (:func:`verify.robust.search.l2_search`); ``problem`` gets its size."""
    if method == "bab":
        s = l2_bab(net, x, y, upper=upper, domain=domain, time_limit=time_limit, node_limit=node_limit)
        if s.status != "unsupported":
            problem.update(subdomains=int(s.regions))
            return s
        notes.extend(s.notes + ["so the region search ran"])
    s = l2_search(net, x, y, upper=upper, domain=domain, time_limit=time_limit, node_limit=node_limit)
    problem.update(regions=int(s.regions))
    return s


def _keys(chain, bound, center, Lam, r):
    """Per row: (pruned: the bound on the ball is > 0, the proved lower bound min(d, r) on the distance to a
    margin <= 0, d = center / ||Lam|| where center = Lam x + c > 0, else 0)."""
    nrm = Lam.norm(dim=-1) * chain.norm_up
    d = torch.where((center > 0) & (nrm > 0), center / torch.where(nrm > 0, nrm, torch.ones_like(nrm)),
                    torch.where(center > 0, torch.full_like(center, math.inf), torch.zeros_like(center)))
    return bound > 0, torch.clamp(d * (1 - 4 * 2.0 ** -53), max=r)


def _try_minimisers(net, chain, x, y, j, take, dlo, dhi, least, deadline):
    """Each sub-domain's minimiser of its linear bound on the ball; where j ties or wins there (float), the
    least distance in its region (which updates the best), until the deadline."""
    r = chain.ball[1]
    Z = []
    for d in take:
        g = d[6].numpy()
        n = np.linalg.norm(g)
        Z.append(np.clip(x - r * g / n if n > 0 else x, dlo, dhi))
    with torch.no_grad():
        f = chain.forward(torch.as_tensor(np.stack(Z))).numpy()
    seen = set()
    for z, fz in zip(Z, f):
        if fz[j] >= fz[y] and time.perf_counter() <= deadline:
            p = net.pattern_at(z)
            k = net.key(p)
            if k not in seen:
                seen.add(k)
                least(p, j)


def _attack(net, chain, x, y, dlo, dhi, st, least, descend):
    """A smaller upper bound before the search: PGD in the l2 ball (``ATTACK``: restarts from x and from random
    points of the ball, normalised gradient steps, the radius bisected between 0 and the best distance; with no
    distance yet, radii growing from max(1, ||x||) by 4x up to 4^8 times it); each misclassified point found is
    taken to its region's least distance (``least``), then downhill through the neighbouring regions."""
    rounds, restarts, steps = ATTACK
    g = torch.Generator().manual_seed(0)
    X0 = torch.as_tensor(x).expand(restarts, -1)
    lo_t, hi_t = torch.tensor(dlo), torch.tensor(dhi)
    rivals = torch.tensor([k for k in range(chain.K) if k != y])

    def pgd(eps):
        d = torch.randn(X0.shape, generator=g, dtype=torch.float64)
        d = d / d.norm(dim=1, keepdim=True) * eps * torch.rand(restarts, 1, generator=g, dtype=torch.float64)
        d[0] = 0
        for s in range(steps):
            d.requires_grad_(True)
            with torch.enable_grad():
                f = chain.forward(torch.minimum(torch.maximum(X0 + d, lo_t), hi_t))
                v = f[:, rivals].amax(1) - f[:, y]          # amax: max(dim) can be ~1000x slower on a busy CPU
                grad, = torch.autograd.grad(v.sum(), d)
            with torch.no_grad():
                if bool((v >= 0).any()):
                    return torch.minimum(torch.maximum(X0 + d, lo_t), hi_t)[int(torch.argmax(v))].numpy()
                step = eps * (0.2 * (1 - s / steps) + 0.01)
                d = d + step * grad / grad.norm(dim=1, keepdim=True).clamp(min=1e-300)
                d = d * (eps / d.norm(dim=1, keepdim=True).clamp(min=1e-300)).clamp(max=1.0)
                d = torch.minimum(torch.maximum(X0 + d, lo_t), hi_t) - X0
        return None

    def take(hit):
        with torch.no_grad():
            fh = chain.forward(torch.as_tensor(hit[None]))[0].numpy()
        j = max((k for k in range(chain.K) if k != y), key=lambda k: fh[k])
        least(net.pattern_at(hit), j)
        descend(j)

    if not math.isfinite(st["best"]):
        for k in range(9):
            hit = pgd(max(1.0, float(np.linalg.norm(x))) * 4.0 ** k)
            if hit is not None:
                take(hit)
                break
        if not math.isfinite(st["best"]):
            return
    lo_r = 0.0
    for _ in range(rounds):
        eps = (lo_r + st["best"]) / 2
        hit = pgd(eps)
        if hit is None:
            lo_r = eps
        else:
            take(hit)


def _descend_fn(net, x, st, least, steps: int = 20):
    """From the best point, the neighbouring regions across the faces it lies on (each unit within 1e-9 of 0
    there flipped), while one of them has a nearer point where the rival ties or wins."""
    def descend(j):
        for _ in range(steps):
            if st["point"] is None or st["rival"] != j:
                return
            best, z, pat = st["best"], st["point"], st["pattern"]
            reg = net.region(pat)
            slack = reg.c - reg.A @ z
            near = np.nonzero(np.abs(slack) <= 1e-9 * (1 + np.linalg.norm(reg.A, axis=1) * np.linalg.norm(z)))[0]
            for i in near[:16]:
                least(net.flip(pat, reg.rows[i]), j)
            if st["best"] >= best * (1 - 1e-12):
                return
    return descend
