"""Complete l-inf verification by branch and bound over unstable rectifier units: :func:`linf_bab`.

Whether every point of the box {z : ||z - x||_inf <= eps} (intersected with the data's domain) keeps class
y strictly. First a PGD attack with restarts inside the box; a point it finds that both the float model
and the exact engine classify as another class (:class:`verify.robust.checks.Checker`) ends the search
(not robust). Then, per rival class j, a lower bound of the margin f_y - f_j over the box by backward
linear bounds (:mod:`verify.robust.crown`; the root's layer bounds with optimised lower slopes); while some
sub-domain's bound is <= 0, the sub-domains with the lowest bounds are split on one unstable unit
(z >= 0 | z <= 0), chosen by a BaBSR-like score (|backward coefficient| x |the chord's intercept|), and
bounded again with optimised lower slopes (alpha) and optimised multipliers beta >= 0 of the split
constraints (beta-CROWN's form), warm-started from the parent's; a child keeps its parent's bound where
that is higher. The layer bounds of a child are its parent's with the split unit's own bound set to 0
(``refine`` recomputes the layers after it: 3x slower per decided instance on the MNIST MLPs measured,
so it is off). A sub-domain is pruned when its bound is > 0 or its bounds cross
(no point satisfies its splits). Each bounded sub-domain's minimising corner of the box is tried as a
counterexample (checked exactly); a sub-domain with every unit fixed is the region of one activation
pattern, where the network is affine: one LP (HiGHS) gives its least margin, and its point is tried.

What a "robust" answer rests on (``rests_on``): the float64 bounds widened by the forward-error bound of
:mod:`verify.robust.crown` (so a pruned sub-domain's margin is > 0 in exact arithmetic, up to that
argument), the box rounded outward, and, where a leaf needed its LP, HiGHS' LP tolerances (such leaves
are counted in ``lp_leaves``). "not robust" always carries a witness checked in rationals.

>>> from theory.network import mlp
>>> from verify.robust.inputs import check_inputs
>>> from verify.robust.checks import Checker
>>> ins = check_inputs(mlp([[[1, 0], [0, 1]], [[1, 0], [0, 1]]]), np.array([[2.0, 1.0]]))
>>> chk = Checker(ins.exact, ins.float_logits, ins.X[0], 0, "inf", ins.dtype, None)
>>> [linf_bab(ins.pl, ins.X[0], 0, eps=e, checker=chk).status for e in (0.25, 0.75)]   # the radius is 0.5
['robust', 'not robust']
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from verify.robust.checks import distance_up, strict_rival
from verify.robust.crown import mlp_chain

__all__ = ["linf_bab", "BabResult", "pgd_attack", "optimise", "split_scores", "split_node", "node_betas", "bound_children"]

#: Adam steps on the lower slopes at the root and at each batch of sub-domains; its step size.
ALPHA_STEPS, ALPHA_LR = (20, 4), 0.1
#: Adam steps on the lower slopes of each hidden layer's bounds at the root (alpha-CROWN for layer bounds).
LAYER_STEPS = 20
#: Units whose children are bounded before one is chosen to split (1: the score's best alone). 4 was no
#: faster on the mnist-5k 784-256-256-10 MLP (image 4 at eps 0.05: 3.3 s against 2.5 s; image 0: the same
#: bound, about -0.6, at 30 s), so it is off.
CANDIDATES = 1
#: Children bounded together (one batch of torch products): 128 reached a higher bound than 32 in 30 s on
#: the hardest mnist-5k 784-256-256-10 instance measured (-0.58 against -0.65), the same on an easy one.
BATCH = 128
#: An LP leaf is pruned when its least margin exceeds this (HiGHS' dual feasibility tolerance is 1e-7).
LP_MARGIN = 1e-6


@dataclass
class BabResult:
    """``status``: robust, not robust, or unknown; ``lower``: the least proved lower bound of
    min_j (f_y - f_j) over the box reached (> 0 when robust); ``witness`` (checked, in the box) and
    ``rival`` when not robust; ``nodes``: sub-domains bounded; ``unstable``: unstable units at the root;
    ``stopped``: proved, attack, witness, time_limit, node_limit, unsupported or undecided_leaf;
    ``rests_on``: what a robust answer rests on."""

    status: str
    lower: float
    witness: np.ndarray | None
    rival: int | None
    check: dict
    nodes: int
    unstable: int
    stopped: str
    rests_on: str
    seconds: float
    lp_leaves: int = 0
    notes: list = field(default_factory=list)


def pgd_attack(chain, x, y, lo, hi, *, steps: int = 50, restarts: int = 5, seed: int = 0) -> np.ndarray:
    """Projected gradient ascent of max_{j != y} f_j - f_y in the box [lo, hi] from x and from ``restarts``
    - 1 uniform random points (a fixed seed), step sizes falling geometrically from a quarter of the box's
    half-width to 1 %; returns every start's last point and its best point, (2 restarts, D)."""
    g = torch.Generator().manual_seed(seed)
    lo_t, hi_t = torch.as_tensor(lo), torch.as_tensor(hi)
    X = torch.as_tensor(x).expand(restarts, -1).clone()
    X[1:] = lo_t + (hi_t - lo_t) * torch.rand(restarts - 1, X.shape[1], generator=g, dtype=torch.float64)
    mask = torch.zeros(chain.K, dtype=torch.bool)
    mask[y] = True
    half = (hi_t - lo_t) / 2
    best, best_v = X.clone(), torch.full((restarts,), -math.inf, dtype=torch.float64)
    for s in range(steps):
        X.requires_grad_(True)
        with torch.enable_grad():
            f = chain.forward(X)
            v = f.masked_fill(mask, -math.inf).max(1).values - f[:, y]
            grad, = torch.autograd.grad(v.sum(), X)
        with torch.no_grad():
            up = v > best_v
            best[up], best_v[up] = X[up].detach(), v[up].detach()
            step = half * (0.25 * (0.04 ** (s / max(steps - 1, 1))))
            X = torch.minimum(torch.maximum(X.detach() + step * grad.sign(), lo_t), hi_t)
    return torch.cat([X.detach(), best]).numpy()


def linf_bab(net, x, y: int, *, eps: float, checker, domain=None, time_limit: float | None = None,
             node_limit: int | None = None, alpha_steps=ALPHA_STEPS, batch: int = BATCH,
             refine: bool = False, use_beta: bool = True, layer_steps: int = LAYER_STEPS) -> BabResult:
    """Decide whether every point of the eps-box around x (in ``domain``, (lo, hi) or None) keeps class y
    strictly, by branch and bound (module docstring). ``net``: a :class:`verify.robust.plnet.PLNet` that
    is a rectifier MLP (otherwise ``stopped`` is unsupported); ``checker``: the
    :class:`verify.robust.checks.Checker` of (x, y) that every candidate passes before it is a witness.
    ``time_limit`` (s) and ``node_limit`` (sub-domains bounded) stop it with status unknown. ``refine``:
    recompute the bounds of the layers after a split (else only the split unit's own bounds change);
    ``layer_steps``: Adam steps on the slopes of each layer bound at the root (0: CROWN's rule);
    ``use_beta``: add the split constraints to the bound with optimised multipliers (beta-CROWN's form)."""
    t0 = time.perf_counter()
    x = np.asarray(x, dtype=np.float64)
    rests = ("float64 CROWN bounds widened by 2 gamma_N x their terms' magnitudes (Higham's bound; "
             "verify.robust.crown), the box rounded outward")
    chain = mlp_chain(net)

    def out(status, lower, stopped, nodes=0, unstable=0, w=None, rival=None, check=None, lp=0, notes=()):
        return BabResult(status, float(lower), w, rival, check or {}, nodes, unstable, stopped,
                         rests + (f"; HiGHS' LP tolerances on {lp} leaves" if lp else ""),
                         time.perf_counter() - t0, lp, list(notes))

    if chain is None:
        return out("unknown", -math.inf, "unsupported", notes=["not a rectifier MLP with slopes in [-1, 1]"])
    lo = np.nextafter(x - eps, -np.inf)
    hi = np.nextafter(x + eps, np.inf)
    if domain is not None:
        lo = np.maximum(lo, np.broadcast_to(np.asarray(domain[0], dtype=np.float64), x.shape))
        hi = np.minimum(hi, np.broadcast_to(np.asarray(domain[1], dtype=np.float64), x.shape))

    inner = (np.nextafter(x - eps, np.inf), np.nextafter(x + eps, -np.inf))     # inside the exact box

    def witness(w):
        w = checker.cast(np.clip(np.asarray(w, dtype=np.float64), inner[0], inner[1]))
        if distance_up(w, x, "inf") > eps:
            return None
        c = checker.check(w)
        return (w, c) if c["float"] and c["exact"] else None

    cand = pgd_attack(chain, x, y, lo, hi)
    with torch.no_grad():
        fc = chain.forward(torch.as_tensor(cand)).numpy()
    for i in np.argsort([fc[i, y] - max(v for k, v in enumerate(fc[i]) if k != y) for i in range(len(cand))]):
        if strict_rival(fc[i], y) is None:
            break
        wc = witness(cand[i])
        if wc is not None:
            return out("not robust", -math.inf, "attack", w=wc[0], rival=strict_rival(fc[i], y), check=wc[1])
    lo_t, hi_t = torch.as_tensor(lo), torch.as_tensor(hi)
    with torch.no_grad():
        L, H = chain.all_bounds(lo_t, hi_t, 1)
    if layer_steps:
        L, H = chain.optimised_bounds(L, H, lo_t, hi_t, layer_steps)
    unstable = int(sum(((l < 0) & (h > 0)).sum() for l, h in zip(L, H)))
    others = [j for j in range(chain.K) if j != y]
    C = torch.zeros(1, len(others), chain.K, dtype=torch.float64)
    C[0, torch.arange(len(others)), others] = -1.0
    C[0, :, y] = 1.0
    pad_out = C[0].abs() @ chain.box_pads[-1]
    bound, Lam, kept, alpha, _ = optimise(chain, C, L, H, lo_t, hi_t, None, alpha_steps[0])
    bound = bound[0] - pad_out
    nodes, lp_leaves, least = 1, 0, math.inf
    order = sorted(range(len(others)), key=lambda i: float(bound[i]))
    for i in order:
        if bound[i] > 0:
            least = min(least, float(bound[i]))
            continue
        j = others[i]
        Ci = C[:, i:i + 1]
        zero = [torch.zeros(v.shape[1], dtype=torch.int8) for v in L]
        root = (float(bound[i]), 0, [v[0] for v in L], [v[0] for v in H], [a[0, i:i + 1] for a in alpha],
                split_scores(chain, kept, L, H, i)[0], Lam[0, i], zero, [torch.zeros_like(a[0, i:i + 1]) for a in alpha])
        heap, tie = [root], 1
        while heap:
            if time_limit is not None and time.perf_counter() - t0 > time_limit:
                return out("unknown", heap[0][0], "time_limit", nodes, unstable, lp=lp_leaves)
            if node_limit is not None and nodes >= node_limit:
                return out("unknown", heap[0][0], "node_limit", nodes, unstable, lp=lp_leaves)
            take = [heapq.heappop(heap) for _ in range(min(batch // 2, len(heap)))]
            corners = np.stack([np.where(d[6].numpy() >= 0, lo, hi) for d in take])
            fc = chain.forward(torch.as_tensor(corners)).numpy()
            for d, c, f in zip(take, corners, fc):
                if f[j] > f[y] and (wc := witness(c)) is not None:
                    return out("not robust", -math.inf, "witness", nodes, unstable, wc[0], j, wc[1], lp_leaves)
            leaves = [d for d in take if d[5] is None]
            for d in leaves:
                r = _lp_leaf(net, chain, d, x, y, j, lo, hi, witness)
                lp_leaves += 1
                if r[0] == "witness":
                    return out("not robust", -math.inf, "witness", nodes, unstable, r[1][0], j, r[1][1], lp_leaves)
                if r[0] == "open":
                    return out("unknown", r[1], "undecided_leaf", nodes, unstable, lp=lp_leaves,
                               notes=[f"rival {j}: an LP leaf's least margin {r[1]:.3g} <= {LP_MARGIN:g} and its "
                                      "point did not pass the witness checks"])
                least = min(least, r[1])
            take = [d for d in take if d[5] is not None]
            if not take:
                continue
            chosen = _choose(chain, Ci, take, lo_t, hi_t, use_beta) if CANDIDATES > 1 else [d[5][0] for d in take]
            start = min(li for li, _ in chosen) + 1 if refine else chain.depth - 1
            KL, KH, empty, S, b0, parent, (kb, kLam, kkept, kalpha, kbeta) = bound_children(
                chain, Ci, take, chosen, lo_t, hi_t, alpha_steps[1], use_beta, start)
            B = len(parent)
            # a child lies in its parent, so the parent's bound holds on it too (CROWN's own bound is not
            # monotone under splits: tighter layer bounds change the relaxation of other units)
            kb = torch.maximum(kb[:, 0] - pad_out[i], parent)
            nodes += B
            cands = split_scores(chain, kkept, KL, KH, 0)
            for b in range(B):
                if empty[b]:
                    continue
                if kb[b] > 0:
                    least = min(least, float(kb[b]))
                    continue
                heapq.heappush(heap, (float(kb[b]), tie, [v[b] for v in KL], [v[b] for v in KH],
                                      [a[b] for a in kalpha], cands[b], kLam[b, 0],
                                      [v[b] for v in S], [v[b] for v in kbeta] if kbeta else node_betas(b0, b)))
                tie += 1
    return out("robust", least, "proved", nodes, unstable, lp=lp_leaves)


def optimise(chain, C, L, H, lo, hi, alpha0, steps, S=None, beta0=None):
    """The best (largest) bound of the rows C over Adam steps on the lower slopes (and, with the split phases
    ``S``, on the split constraints' multipliers beta >= 0), per node and row: [bound (B, r) less the pad of
    the beta terms, its input coefficients, its coefficients on each layer, the slopes, the betas]. Every
    iterate is a valid bound, so the best never falls below the first (the given slopes or CROWN's rule)."""
    B, r = C.shape[0], C.shape[1]
    nh = chain.depth - 1
    if alpha0 is None:
        alpha0 = [chain.relax(i, L[i], H[i])[0].expand(B, r, -1).clone() for i in range(nh)]
    use_beta = S is not None and any(bool((s != 0).any()) for s in S)
    if use_beta and beta0 is None:
        beta0 = [torch.zeros(B, r, L[i].shape[1], dtype=torch.float64) for i in range(nh)]
    alpha = [a.detach().clone().requires_grad_(steps > 0) for a in alpha0]
    beta = [v.detach().clone().requires_grad_(steps > 0) for v in beta0] if use_beta else []
    opt = torch.optim.Adam(alpha + beta, lr=ALPHA_LR) if steps > 0 and alpha else None
    best = None
    pieces = [chain.pieces(i, L[i], H[i]) for i in range(nh)]
    Sf = [v.to(torch.float64) for v in S] if use_beta else None
    for s in range(steps + 1):
        with torch.set_grad_enabled(opt is not None and s < steps):
            b, Lam, kept = chain.lower(C, nh, L, H, lo, hi, alpha, keep=True, beta=beta if use_beta else None,
                                       S=Sf, pieces=pieces)
            if use_beta:                 # the rounding pad of the beta terms (verify.robust.crown, "Rounding")
                b = b - sum((v * chain.box_pads[i]).sum(-1) for i, v in enumerate(beta))
        with torch.no_grad():
            if best is None:
                best = [b.detach().clone(), Lam.detach().clone(), {k: v.detach().clone() for k, v in kept.items()},
                        [a.detach().clone() for a in alpha], [v.detach().clone() for v in beta]]
            else:
                up = b > best[0]
                best[0] = torch.where(up, b, best[0])
                best[1] = torch.where(up[..., None], Lam, best[1])
                for k, v in kept.items():
                    best[2][k] = torch.where(up[..., None], v, best[2][k])
                best[3] = [torch.where(up[..., None], a, ba) for a, ba in zip(alpha, best[3])]
                best[4] = [torch.where(up[..., None], v, bv) for v, bv in zip(beta, best[4])]
        if s == steps or opt is None or bool((best[0] > 0).all()):
            break
        opt.zero_grad()
        (-b.sum()).backward()
        opt.step()
        with torch.no_grad():
            for a, lo_a in zip(alpha, chain.a):
                a.copy_(torch.maximum(torch.minimum(a, torch.ones_like(a)), lo_a))
            for v in beta:
                v.clamp_(min=0)
    return best


def bound_children(chain, Ci, take, units, lo, hi, steps, use_beta, start):
    """Split each sub-domain of ``take`` on its (layer, unit) of ``units``, both phases, and bound the children
    together on the row Ci: their layer bounds (recomputed from layer ``start`` on, else the parent's with the
    split unit's set to 0; ``empty`` marks crossed bounds), phases S, parents' multipliers b0 and bounds
    (``parent``), and :func:`optimise`'s result from the parents' slopes and multipliers (``steps`` Adam steps)."""
    kids = []
    for d, (li, u) in zip(take, units):
        for phase in (1, -1):
            Lk, Hk, Sk = split_node(d, li, u, phase, use_beta)
            kids.append((Lk, Hk, d[4], d[0], Sk, d[8]))
    B, nh = len(kids), chain.depth - 1
    stack = lambda f: [torch.stack([k[f][i] for k in kids]) for i in range(nh)]
    with torch.no_grad():
        KL, KH = chain.all_bounds(lo, hi, B, stack(0), stack(1), start)
        empty = chain.empty.clone()
    S, b0 = stack(4), stack(5)
    res = optimise(chain, Ci.expand(B, -1, -1), KL, KH, lo, hi, stack(2), steps, S, b0)
    return KL, KH, empty, S, b0, torch.tensor([k[3] for k in kids], dtype=torch.float64), res


def node_betas(b0, b):
    """Node b's betas of a batch (kept as they were when the bound did not use them)."""
    return [v[b] for v in b0]


def split_scores(chain, kept, L, H, row, k: int = 0):
    """Per node of the batch, its candidate units to split, best first: the ``k`` (layer, unit) (default
    ``CANDIDATES``) with the largest |coefficient on x_i| x |chord intercept| over the unstable units (a
    BaBSR-like score; each layer's best k first, then the best k of those, a later layer first among equal
    scores), or None when every unit is stable or fixed."""
    k = k or CANDIDATES
    vals, where = [], []
    for i in range(chain.depth - 1):
        unst, _, _, _, bu = chain.pieces(i, L[i], H[i])          # bu: the chord's intercept l (a - chord)
        sc = torch.where(unst, kept[i][:, row].abs() * bu[:, 0].abs() + 1e-30, torch.full_like(L[i], -1.0))
        top = torch.topk(sc, min(k, sc.shape[1]), dim=1)
        vals.append(top.values)
        where.extend((i, top.indices[:, t]) for t in range(top.values.shape[1]))
    V = torch.cat(vals, 1).flip(1)                  # flipped, so that a stable sort puts later layers first
    order = torch.sort(V, dim=1, descending=True, stable=True).indices[:, :k]
    m = V.shape[1]
    V, order = V.gather(1, order).tolist(), (m - 1 - order).tolist()
    units = [w[1].tolist() for w in where]
    out = []
    for n in range(len(V)):
        c = [(where[p][0], units[p][n]) for v, p in zip(V[n], order[n]) if v > 0]
        out.append(c or None)
    return out


def split_node(d, li, u, phase, use_beta):
    """A child's (L, H, phases) of sub-domain d with unit u of layer li fixed to ``phase``."""
    Lk, Hk, Sk = [v.clone() for v in d[2]], [v.clone() for v in d[3]], [v.clone() for v in d[7]]
    if phase > 0:
        Lk[li][u] = 0.0
    else:
        Hk[li][u] = 0.0
    Sk[li][u] = phase if use_beta else 0
    return Lk, Hk, Sk


def _choose(chain, Ci, take, lo, hi, use_beta):
    """Per sub-domain, the candidate whose two children have the largest lesser bound, each child bounded once
    with its parent's slopes and multipliers (filtered smart branching, in its simplest form)."""
    rows, owner = [], []
    for n, d in enumerate(take):
        for c in d[5]:
            for phase in (1, -1):
                rows.append(split_node(d, c[0], c[1], phase, use_beta) + (d[4], d[8]))
                owner.append((n, c))
    nh = chain.depth - 1
    st = [[torch.stack([r[f][i] for r in rows]) for i in range(nh)] for f in range(5)]
    with torch.no_grad():
        b = chain.lower(Ci.expand(len(rows), -1, -1), nh, st[0], st[1], lo, hi, st[3],
                        beta=st[4] if use_beta else None, S=[v.to(torch.float64) for v in st[2]])[0][:, 0]
    best = {}
    for t in range(0, len(rows), 2):
        n, c = owner[t]
        v = float(torch.minimum(b[t], b[t + 1]))
        if n not in best or v > best[n][0]:
            best[n] = (v, c)
    return [best[n][1] for n in range(len(take))]


def _lp_leaf(net, chain, d, x, y, j, lo, hi, witness):
    """A sub-domain with every unit fixed: the least margin f_y - f_j on its pattern's region within the box
    (one LP; the network is affine there). ("pruned", margin) when > :data:`LP_MARGIN` or the region is
    empty, ("witness", (w, checks)) when its point (or one just beyond it) passes the checks, else ("open",
    margin)."""
    from scipy.optimize import linprog

    pattern = {k: np.where(d[2][i].numpy() >= 0, 1, -1).astype(np.int8) for i, k in enumerate(chain.rect_ids)}
    reg = net.region(pattern)
    g, e = reg.J[y] - reg.J[j], reg.b[y] - reg.b[j]
    res = linprog(g, A_ub=reg.A if reg.A.shape[0] else None, b_ub=reg.c if reg.A.shape[0] else None,
                  bounds=list(zip(lo, hi)), method="highs")
    if res.status == 2:
        return ("pruned", math.inf)
    if res.status != 0:
        return ("open", -math.inf)
    m = float(res.fun + e)
    if m > LP_MARGIN:
        return ("pruned", m)
    wc = witness(res.x)
    return ("witness", wc) if wc is not None else ("open", m)
