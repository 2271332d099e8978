"""Independent oracles for the exact radius (tests only), written apart from :mod:`verify.robust`.

- :func:`enumerate_radius`: for an MLP (Linear layers with ReLU / LeakyReLU / Abs between them), every
  activation pattern of every hidden unit; on each pattern's closed polytope (built here from the torch
  weights) and each class j != y, the problem min ||z - x|| over {z in P : f_j(z) >= f_y(z)} is solved
  by brute force over its candidate optima, in NumPy linear algebra (no LP or QP solver):
  - l2: the projection of x onto a polytope is its projection onto the affine hull of one face, which
    some set of at most D independent active rows defines: every such set is tried, and the nearest
    feasible projection is the distance;
  - l-inf: the LP min t s.t. z in P, |z - x| <= t is pointed, so it has an optimal vertex: every set of
    D + 1 rows of the (z, t) system is tried, and the least feasible t is the distance.
- :func:`plane_radius`: for a network on the plane, the exact decision boundary of
  :func:`theory.plane.decision_segments` over the exact regions of :func:`theory.plane.regions_2d`, and
  the distance from x to each segment where y ties, in rational arithmetic.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import torch

__all__ = ["enumerate_radius", "plane_radius", "mlp_layers"]


def mlp_layers(model: torch.nn.Sequential):
    """[(W, b, slope)] per Linear layer (slope of the activation after it; None for the last)."""
    from verify.modules import Abs

    out = []
    for mod in model:
        if isinstance(mod, torch.nn.Linear):
            out.append([mod.weight.detach().double().numpy(), mod.bias.detach().double().numpy(), None])
        elif isinstance(mod, torch.nn.ReLU):
            out[-1][2] = 0.0
        elif isinstance(mod, torch.nn.LeakyReLU):
            out[-1][2] = float(mod.negative_slope)
        elif isinstance(mod, Abs):
            out[-1][2] = -1.0
        elif not isinstance(mod, torch.nn.Flatten):
            raise TypeError(f"oracle: unsupported module {mod}")
    return out


def _polytope(layers, signs):
    """Rows (G, g) with P = {z : G z <= g} and the logits' (J, c) on P, for one sign vector."""
    D = layers[0][0].shape[1]
    M, m = np.eye(D), np.zeros(D)
    G, g, o = [], [], 0
    for W, b, a in layers[:-1]:
        U, u = W @ M, W @ m + b
        s = np.asarray(signs[o:o + W.shape[0]], dtype=np.float64)
        o += W.shape[0]
        G.append(-s[:, None] * U)            # s (U z + u) >= 0
        g.append(s * u)
        d = np.where(s > 0, 1.0, a)
        M, m = d[:, None] * U, d * u
    W, b, _ = layers[-1]
    return np.vstack(G), np.concatenate(g), W @ M, W @ m + b


def _l2_batch(G, g, x, tol):
    """Per polytope n of the batch {z : G[n] z <= g[n]}: the l2 distance from x (inf if empty)."""
    N, m, D = G.shape
    best = np.full(N, math.inf)
    inside = np.all(G @ x <= g + tol, axis=1)
    best[inside] = 0.0
    for k in range(1, min(D, m) + 1):                            # a face is cut out by at most m rows
        S = np.array(list(itertools.combinations(range(m), k)))
        GS = G[:, S]                                              # (N, C, k, D)
        Gram = GS @ GS.swapaxes(-1, -2)
        ok = np.abs(np.linalg.det(Gram)) > 1e-12
        Gram = np.where(ok[..., None, None], Gram, np.eye(k))
        rhs = GS @ x - g[:, S]                                    # (N, C, k)
        lam = np.linalg.solve(Gram, rhs[..., None])[..., 0]
        Z = x - (GS.swapaxes(-1, -2) @ lam[..., None])[..., 0]    # (N, C, D)
        feas = ok & np.all(Z @ G.swapaxes(-1, -2) <= g[:, None, :] + tol, axis=2)
        d = np.where(feas, np.linalg.norm(Z - x, axis=2), math.inf)
        best = np.minimum(best, d.min(axis=1))
    return best


def _linf_batch(G, g, x, tol, chunk=16):
    """Per polytope of the batch: the l-inf distance from x, the least t over the vertices of the (pointed)
    LP min t s.t. G z <= g, |z - x| <= t (inf if empty)."""
    N, m, D = G.shape
    box = np.vstack([np.hstack([np.eye(D), -np.ones((D, 1))]), np.hstack([-np.eye(D), -np.ones((D, 1))])])
    A = np.concatenate([np.concatenate([G, np.zeros((N, m, 1))], axis=2), np.broadcast_to(box, (N, 2 * D, D + 1))],
                       axis=1)
    c = np.concatenate([g, np.broadcast_to(np.concatenate([x, -x]), (N, 2 * D))], axis=1)
    S = np.array(list(itertools.combinations(range(m + 2 * D), D + 1)))
    out = np.full(N, math.inf)
    for a in range(0, N, chunk):
        As, cs = A[a:a + chunk][:, S], c[a:a + chunk][:, S]       # (n, C, D+1, D+1), (n, C, D+1)
        ok = np.abs(np.linalg.det(As)) > 1e-12
        As = np.where(ok[..., None, None], As, np.eye(D + 1))
        V = np.linalg.solve(As, cs[..., None])[..., 0]            # (n, C, D+1): (z, t)
        feas = ok & np.all(V @ A[a:a + chunk].swapaxes(-1, -2) <= c[a:a + chunk][:, None, :] + tol, axis=2) \
            & (V[..., D] >= -tol)
        out[a:a + chunk] = np.where(feas, V[..., D], math.inf).min(axis=1)
    return out


def enumerate_radius(model, x, y: int, norm: str, domain=None, tol: float = 1e-9) -> float:
    """The radius by enumerating every activation pattern (module docstring)."""
    layers = mlp_layers(model)
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    D = x.size
    n = sum(W.shape[0] for W, _, _ in layers[:-1])
    Gs, gs = [], []
    for signs in itertools.product((1.0, -1.0), repeat=n):
        G, g, J, c = _polytope(layers, signs)
        if domain is not None:
            lo, hi = domain
            G = np.vstack([G, np.eye(D), -np.eye(D)])
            g = np.concatenate([g, np.full(D, hi, dtype=np.float64), -np.full(D, lo, dtype=np.float64)])
        for j in range(J.shape[0]):
            if j == y:
                continue
            Gj = np.vstack([G, (J[y] - J[j])[None]])             # f_j >= f_y
            gj = np.append(g, c[j] - c[y])
            scale = np.maximum(np.linalg.norm(Gj, axis=1), 1e-300)
            Gs.append(Gj / scale[:, None])
            gs.append(gj / scale)
    G, g = np.stack(Gs), np.stack(gs)
    d2 = _l2_batch(G, g, x, tol)                                 # inf exactly for the empty polytopes
    if norm == "2":
        return float(d2.min())
    keep = np.isfinite(d2)
    return float(_linf_batch(G[keep], g[keep], x, tol).min()) if keep.any() else math.inf


def _seg_dist(P, Q, x, norm: str) -> Fraction:
    """The exact distance from x to the segment PQ (rationals): squared for l2."""
    d = (Q[0] - P[0], Q[1] - P[1])
    if norm == "2":
        dd = d[0] ** 2 + d[1] ** 2
        t = Fraction(0) if dd == 0 else ((x[0] - P[0]) * d[0] + (x[1] - P[1]) * d[1]) / dd
        t = min(max(t, Fraction(0)), Fraction(1))
        z = (P[0] + t * d[0], P[1] + t * d[1])
        return (z[0] - x[0]) ** 2 + (z[1] - x[1]) ** 2
    # l-inf: max(|a0 + t d0|, |a1 + t d1|) is convex piecewise linear in t: its minimum over [0, 1] is at an
    # end or where two of the four lines +-(a_i + t d_i) cross
    a = (P[0] - x[0], P[1] - x[1])
    ts = {Fraction(0), Fraction(1)}
    for s in (1, -1):
        den = d[0] - s * d[1]
        if den != 0:
            t = (s * a[1] - a[0]) / den
            if 0 <= t <= 1:
                ts.add(t)
    return min(max(abs(a[0] + t * d[0]), abs(a[1] + t * d[1])) for t in ts)


def plane_radius(network, x, y: int, norm: str, box, regions=None) -> Fraction:
    """The exact radius of a 2-input network (squared for l2), from the exact decision segments in ``box``
    (``regions``: those of :func:`theory.plane.regions_2d`, if already computed)."""
    from theory.plane import decision_segments, regions_2d

    xq = (Fraction(x[0]), Fraction(x[1]))
    best = None
    for r in regions if regions is not None else regions_2d(network, box=box):
        for s in decision_segments(r):
            if y not in s.classes:
                continue
            P = (Fraction(int(s.start[0].p), int(s.start[0].q)), Fraction(int(s.start[1].p), int(s.start[1].q)))
            Q = (Fraction(int(s.end[0].p), int(s.end[0].q)), Fraction(int(s.end[1].p), int(s.end[1].q)))
            d = _seg_dist(P, Q, xq, norm)
            best = d if best is None or d < best else best
    return best
