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


def _l2_polytope(G, g, x, tol):
    D = x.size
    best = math.inf
    if np.all(G @ x <= g + tol):
        return 0.0
    for k in range(1, D + 1):
        S = np.array(list(itertools.combinations(range(G.shape[0]), k)))
        GS = G[S]                                            # (C, k, D)
        Gram = GS @ GS.transpose(0, 2, 1)
        ok = np.abs(np.linalg.det(Gram)) > 1e-12
        if not ok.any():
            continue
        GS, Gram, idx = GS[ok], Gram[ok], S[ok]
        rhs = (GS @ x) - g[idx]                              # (C, k)
        lam = np.linalg.solve(Gram, rhs[..., None])[..., 0]
        Z = x[None] - (GS.transpose(0, 2, 1) @ lam[..., None])[..., 0]
        feas = np.all(Z @ G.T <= g[None] + tol, axis=1)
        if feas.any():
            best = min(best, float(np.min(np.linalg.norm(Z[feas] - x, axis=1))))
    return best


def _linf_polytope(G, g, x, tol):
    D = x.size
    A = np.vstack([np.hstack([G, np.zeros((G.shape[0], 1))]),
                   np.hstack([np.eye(D), -np.ones((D, 1))]), np.hstack([-np.eye(D), -np.ones((D, 1))])])
    c = np.concatenate([g, x, -x])
    S = np.array(list(itertools.combinations(range(A.shape[0]), D + 1)))
    AS = A[S]
    ok = np.abs(np.linalg.det(AS)) > 1e-12
    AS, idx = AS[ok], S[ok]
    V = np.linalg.solve(AS, c[idx][..., None])[..., 0]       # (C, D + 1): (z, t)
    feas = np.all(V @ A.T <= c[None] + tol, axis=1) & (V[:, D] >= -tol)
    return float(np.min(V[feas, D])) if feas.any() else math.inf


def enumerate_radius(model, x, y: int, norm: str, domain=None, tol: float = 1e-9) -> float:
    """The radius by enumerating every activation pattern (module docstring)."""
    layers = mlp_layers(model)
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    n = sum(W.shape[0] for W, _, _ in layers[:-1])
    best = math.inf
    for signs in itertools.product((1.0, -1.0), repeat=n):
        G, g, J, c = _polytope(layers, signs)
        if domain is not None:
            lo, hi = domain
            D = x.size
            G = np.vstack([G, np.eye(D), -np.eye(D)])
            g = np.concatenate([g, np.full(D, hi, dtype=np.float64), -np.full(D, lo, dtype=np.float64)])
        for j in range(J.shape[0]):
            if j == y:
                continue
            Gj = np.vstack([G, (J[y] - J[j])[None]])       # f_j >= f_y
            gj = np.append(g, c[j] - c[y])
            scale = np.maximum(np.linalg.norm(Gj, axis=1), 1e-300)
            Gj, gj = Gj / scale[:, None], gj / scale
            d = _l2_polytope(Gj, gj, x, tol) if norm == "2" else _linf_polytope(Gj, gj, x, tol)
            best = min(best, d)
    return best


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


def plane_radius(network, x, y: int, norm: str, box) -> Fraction:
    """The exact radius of a 2-input network (squared for l2), from the exact decision segments in ``box``."""
    from theory.plane import decision_segments, regions_2d

    xq = (Fraction(x[0]), Fraction(x[1]))
    best = None
    for r in regions_2d(network, box=box):
        for s in decision_segments(r):
            if y not in s.classes:
                continue
            P = (Fraction(int(s.start[0].p), int(s.start[0].q)), Fraction(int(s.start[1].p), int(s.start[1].q)))
            Q = (Fraction(int(s.end[0].p), int(s.end[0].q)), Fraction(int(s.end[1].p), int(s.end[1].q)))
            d = _seg_dist(P, Q, xq, norm)
            best = d if best is None or d < best else best
    return best
