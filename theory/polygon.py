"""Exact convex polygons on the plane (python-flint ``fmpq`` vertices), for :mod:`theory.plane`: clipping by
a half-plane (Sutherland-Hodgman) and by an activation region's half-spaces, the area and the centroid, and
the part of a segment inside a region.
"""

from __future__ import annotations

from typing import Sequence

import flint

from .region import Region

__all__ = ["clip_polygon", "polygon_area", "polygon_centroid", "halfspace_rows", "clip_to_region",
           "segment_interval"]

_Q = flint.fmpq


# ---- exact polygon helpers (fmpq) -------------------------------------------------------------
def _cross(o, a, b):
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _clean(poly: list) -> list:
    """Drop repeated and collinear vertices of a convex polygon."""
    out = []
    for p in poly:
        if not out or p != out[-1]:
            out.append(p)
    while len(out) > 1 and out[0] == out[-1]:
        out.pop()
    changed = True
    while changed and len(out) >= 3:
        changed = False
        for i in range(len(out)):
            if _cross(out[i - 1], out[i], out[(i + 1) % len(out)]) == 0:
                del out[i]
                changed = True
                break
    return out


def clip_polygon(poly: Sequence, a0, a1, c) -> list:
    """The part of a convex polygon with a0 x + a1 y <= c (Sutherland-Hodgman, exact).

    >>> q = [(_Q(0), _Q(0)), (_Q(2), _Q(0)), (_Q(2), _Q(2)), (_Q(0), _Q(2))]
    >>> [tuple(int(t) for t in v) for v in clip_polygon(q, 1, 1, 2)]
    [(0, 0), (2, 0), (0, 2)]
    """
    a0, a1, c = _Q(a0), _Q(a1), _Q(c)
    out = []
    n = len(poly)
    for i in range(n):
        P, Q = poly[i], poly[(i + 1) % n]
        vP = c - a0 * P[0] - a1 * P[1]
        vQ = c - a0 * Q[0] - a1 * Q[1]
        if vP >= 0:
            out.append(P)
        if (vP > 0 and vQ < 0) or (vP < 0 and vQ > 0):
            t = vP / (vP - vQ)
            out.append((P[0] + t * (Q[0] - P[0]), P[1] + t * (Q[1] - P[1])))
    return _clean(out)


def polygon_area(poly: Sequence):
    """The exact (signed, counter-clockwise positive) area of a polygon by the shoelace formula."""
    n = len(poly)
    s = _Q(0)
    for i in range(n):
        P, Q = poly[i], poly[(i + 1) % n]
        s += P[0] * Q[1] - Q[0] * P[1]
    return s / 2


def polygon_centroid(poly: Sequence):
    """The exact centroid of a non-degenerate polygon."""
    n = len(poly)
    a = polygon_area(poly)
    cx = cy = _Q(0)
    for i in range(n):
        P, Q = poly[i], poly[(i + 1) % n]
        w = P[0] * Q[1] - Q[0] * P[1]
        cx += (P[0] + Q[0]) * w
        cy += (P[1] + Q[1]) * w
    return cx / (6 * a), cy / (6 * a)


def halfspace_rows(region: Region) -> list:
    """(a0, a1, c) per half-space a x <= c of a region, skipping rows with a zero normal."""
    A, c, _ = region._halfspaces  # fmpq matrices; the sympy view ``region.halfspaces`` is slower
    Ae, ce = A.entries(), c.entries()
    return [(Ae[2 * i], Ae[2 * i + 1], ce[i]) for i in range(len(ce)) if Ae[2 * i] or Ae[2 * i + 1]]


def clip_to_region(poly: list, region: Region) -> list:
    """The polygon ``poly`` (a list of 2-D vertices) clipped to the half-spaces of ``region``; ``[]`` when
    nothing is left."""
    for a0, a1, c in halfspace_rows(region):
        poly = clip_polygon(poly, a0, a1, c)
        if len(poly) < 3:
            return []
    return poly


def segment_interval(P, Q, region: Region):
    """The parameters s in [0, 1] with P + s (Q - P) in the closed region: an interval (lo, hi) or None."""
    lo, hi = _Q(0), _Q(1)
    for a0, a1, c in halfspace_rows(region):
        g0 = c - a0 * P[0] - a1 * P[1]                 # slack at s = 0
        dg = -(a0 * (Q[0] - P[0]) + a1 * (Q[1] - P[1]))  # d slack / ds
        if dg == 0:
            if g0 < 0:
                return None
        elif dg > 0:
            lo = max(lo, -g0 / dg)
        else:
            hi = min(hi, -g0 / dg)
        if lo > hi:
            return None
    return lo, hi
