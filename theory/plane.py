"""Exact activation regions of a network on the plane (D = 2): polygons, and the decision boundary.

For a piecewise-linear network with two inputs, every activation region meets a box in a convex
polygon, and the network is affine on it ([derived]; claim ``local-affine``). This module finds
every such polygon exactly, without sampling a grid:

- :func:`regions_2d` walks the regions breadth-first. It linearizes the network at an interior
  point (:func:`theory.region.linearize`), clips the box by the region's half-spaces (Sutherland-Hodgman
  in rational arithmetic) and crosses every facet of the polygon just beyond a point of the facet
  to find the region on the other side, until every facet is covered by the neighbours found.
- :func:`decision_segments` splits a region's polygon by the arg-max of its local affine logits
  f(x') = J x' + b, and returns the exact segments on which the top logit changes.
- :func:`point_geometry` gives, for one interior point x and a direction z, the exact exit time
  t*(x, z), the distance r(x) to the region boundary and the effective margin gamma(x) (claim
  ``effective-margin``), with the points the teaching figure draws (exit point, feet of the
  perpendiculars).

Vertices are sympy Rationals, compared with ``==``; nothing here is a float.

>>> from theory.network import mlp
>>> net = mlp([[[1, 0], [0, 1]], [[1, 1], [1, -1]]], [[0, 0], [0, 0]])   # 2-2-2 ReLU: the quadrants
>>> regs = regions_2d(net, box=(-1, 1, -1, 1))
>>> len(regs), sum(r.area for r in regs)
(4, 4)
>>> sorted(r.pattern["1:relu"] for r in regs)
[(-1, -1), (-1, 1), (1, -1), (1, 1)]
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import flint
import sympy

from .exact import rational, to_sympy
from .layers import KinkError, ShapeError
from .network import Network
from .polygon import clip_polygon, clip_to_region, polygon_area, polygon_centroid, segment_interval
from .region import Region, linearize

__all__ = ["PlaneRegion", "DecisionSegment", "PointGeometry", "regions_2d", "decision_segments",
           "class_cells", "point_geometry", "clip_polygon", "polygon_area", "teaching_network"]

_Q = flint.fmpq
#: Points tried along an uncovered piece of a facet, as fractions of the piece.
_FRACTIONS = tuple(_Q(p, q) for p, q in ((1, 2), (1, 3), (2, 3), (1, 5), (4, 5), (2, 7), (5, 7), (3, 11), (8, 11)))
#: The outward step beyond a facet is (box size) * 2^-k for k in this range, largest first.
_STEPS = range(6, 80, 2)


def _pattern_key(pattern: dict) -> tuple:
    return tuple(sorted(pattern.items()))


def _sym(p) -> tuple:
    return (to_sympy(p[0]), to_sympy(p[1]))


# ---- the regions ---------------------------------------------------------------------------------
@dataclass(eq=False)
class PlaneRegion:
    """One activation region of a network on R^2, clipped to the box.

    ``vertices``: the polygon, counter-clockwise, as pairs of sympy Rationals; ``pattern``, ``jacobian``
    (K x 2) and ``bias`` (K x 1) of the region (f(x') = J x' + b on it); ``point``: the interior point it
    was found from; ``neighbours``: (index of the neighbouring region in the list, the shared segment as
    two vertices) for every region across a facet; ``region``: the :class:`~theory.region.Region`.
    """

    pattern: dict
    vertices: tuple
    jacobian: sympy.Matrix
    bias: sympy.Matrix
    point: tuple
    region: Region = field(repr=False)
    neighbours: list = field(default_factory=list, repr=False)
    _poly: list = field(default_factory=list, repr=False)

    @property
    def area(self) -> sympy.Rational:
        """The exact area of the polygon."""
        return to_sympy(polygon_area(self._poly))

    @property
    def centroid(self) -> tuple:
        """The exact centroid of the polygon (an interior point)."""
        return _sym(polygon_centroid(self._poly))

    @property
    def key(self) -> tuple:
        """The pattern as a hashable tuple."""
        return _pattern_key(self.pattern)


def _box(box) -> list:
    if len(box) != 4:
        raise ValueError(f"box must be (xmin, xmax, ymin, ymax), got {box!r}")
    xmin, xmax, ymin, ymax = (rational(v, what="box") for v in box)
    if not (xmin < xmax and ymin < ymax):
        raise ValueError(f"box must have xmin < xmax and ymin < ymax, got {box!r}")
    return [xmin, xmax, ymin, ymax]


def regions_2d(network: Network, box=(-1, 1, -1, 1), max_regions: int = 100_000) -> list[PlaneRegion]:
    """Every activation region of a network with two inputs that meets the box, as exact polygons.

    The polygons tile the box: their interiors are disjoint and their exact areas sum to the box's
    area. Regions of zero area (a pattern that holds only on a line) are not listed.

    Raises :class:`~theory.errors.ShapeError` when the network does not take two inputs.
    """
    if not isinstance(network, Network):
        raise TypeError(f"regions_2d expects a theory.Network, got {type(network).__name__}")
    if network.n_in != 2:
        raise ShapeError(f"regions_2d needs a network with 2 inputs, got {network.n_in}")
    xmin, xmax, ymin, ymax = _box(box)
    box_poly = [(xmin, ymin), (xmax, ymin), (xmax, ymax), (xmin, ymax)]
    size = (xmax - xmin) + (ymax - ymin)
    regions: list[PlaneRegion] = []
    index: dict[tuple, int] = {}
    queue: deque = deque()

    def inside_box(q) -> bool:
        return xmin < q[0] < xmax and ymin < q[1] < ymax

    def add(q, region: Region) -> int:
        key = _pattern_key(region.pattern)
        if key in index:
            return index[key]
        poly = clip_to_region(list(box_poly), region)
        if len(poly) < 3:  # pragma: no cover - q is an interior, non-kink point of the box
            raise RuntimeError(f"the region at {q} has an empty polygon")
        regions.append(PlaneRegion(region.pattern, tuple(_sym(v) for v in poly), region.jacobian, region.bias,
                                   _sym(q), region, [], poly))
        index[key] = len(regions) - 1
        queue.append(len(regions) - 1)
        if len(regions) > max_regions:
            raise RuntimeError(f"more than max_regions={max_regions} regions in the box")
        return index[key]

    # a start point off every kink: the box centre, else points near it
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    for k in range(200):
        q = (cx + size * _Q(k, 1009), cy + size * _Q(k * k % 97, 4099)) if k else (cx, cy)
        try:
            add(q, linearize(network, list(q)))
            break
        except KinkError:
            continue
    else:  # pragma: no cover
        raise RuntimeError("found no start point off the kinks")

    def across(P, Q, s0, s1):
        """The region beyond the facet P->Q near a point of [s0, s1], and the piece of the facet it covers."""
        dx, dy = Q[0] - P[0], Q[1] - P[1]
        nx, ny = dy, -dx                                   # outward normal of a counter-clockwise edge
        norm1 = abs(nx) + abs(ny)
        nx, ny = nx / norm1, ny / norm1
        for f in _FRACTIONS:
            s = s0 + f * (s1 - s0)
            m = (P[0] + s * dx, P[1] + s * dy)
            for k in _STEPS:
                eps = size / _Q(2) ** k
                q = (m[0] + eps * nx, m[1] + eps * ny)
                if not inside_box(q):
                    continue
                try:
                    region = linearize(network, list(q))
                except KinkError:
                    continue
                if not region.contains(list(m)):
                    continue                               # stepped over a thin region: step less
                iv = segment_interval(P, Q, region)
                if iv is None:  # pragma: no cover - m is in the closed region
                    continue
                lo, hi = max(iv[0], s0), min(iv[1], s1)
                if lo < hi:
                    return add(q, region), lo, hi
                break                                      # m is a vertex beyond: try another point
        raise RuntimeError(f"could not cross the facet {P}->{Q} near s in [{s0}, {s1}]")  # pragma: no cover

    while queue:
        i = queue.popleft()
        poly = regions[i]._poly
        for e in range(len(poly)):
            P, Q = poly[e], poly[(e + 1) % len(poly)]
            if (P[0] == Q[0] and P[0] in (xmin, xmax)) or (P[1] == Q[1] and P[1] in (ymin, ymax)):
                continue                                   # an edge of the box
            todo = [(_Q(0), _Q(1))]
            while todo:
                s0, s1 = todo.pop()
                j, lo, hi = across(P, Q, s0, s1)
                seg = ((P[0] + lo * (Q[0] - P[0]), P[1] + lo * (Q[1] - P[1])),
                       (P[0] + hi * (Q[0] - P[0]), P[1] + hi * (Q[1] - P[1])))
                if all(n != j for n, _ in regions[i].neighbours):
                    regions[i].neighbours.append((j, (_sym(seg[0]), _sym(seg[1]))))
                if lo > s0:
                    todo.append((s0, lo))
                if hi < s1:
                    todo.append((hi, s1))
    return regions


# ---- the decision boundary within a region -----------------------------------------------------
@dataclass(frozen=True)
class DecisionSegment:
    """A segment of the decision boundary: on it, classes ``classes[0]`` and ``classes[1]`` tie for the
    top logit. ``start`` and ``end`` are pairs of sympy Rationals."""

    start: tuple
    end: tuple
    classes: tuple


def _affine(region) -> tuple[list, list, int]:
    r = region.region if isinstance(region, PlaneRegion) else region
    if not isinstance(r, Region):
        raise TypeError(f"expected a PlaneRegion or a Region, got {type(region).__name__}")
    J, b = r.jacobian_fmpq, r.bias_fmpq
    if J.ncols() != 2:
        raise ShapeError(f"expected a region of a network with 2 inputs, got {J.ncols()} inputs")
    K = J.nrows()
    Je = J.entries()
    return [(Je[2 * k], Je[2 * k + 1]) for k in range(K)], b.entries(), K


def _fmpq_poly(region, polygon) -> list:
    if polygon is None:
        if not isinstance(region, PlaneRegion):
            raise TypeError("give the polygon when the region is a Region, not a PlaneRegion")
        return list(region._poly)
    return [(rational(p[0], what="vertex"), rational(p[1], what="vertex")) for p in polygon]


def class_cells(region, polygon=None) -> dict:
    """The arg-max partition of a region's polygon by its local affine logits: {class k: polygon where
    f_k is the top logit}, for the classes whose cell has positive area. Vertices are sympy Rationals.

    ``region``: a :class:`PlaneRegion` (its own polygon by default) or a :class:`~theory.region.Region`
    with ``polygon`` given.
    """
    return {k: tuple(_sym(v) for v in cell) for k, cell in _cells(region, polygon).items()}


def _cells(region, polygon) -> dict:
    W, b, K = _affine(region)
    poly = _fmpq_poly(region, polygon)
    cells = {}
    for k in range(K):
        cell = poly
        for j in range(K):
            if j == k or len(cell) < 3:
                continue
            # f_j <= f_k  <=>  (w_j - w_k) x <= b_k - b_j
            cell = clip_polygon(cell, W[j][0] - W[k][0], W[j][1] - W[k][1], b[k] - b[j])
        if len(cell) >= 3 and polygon_area(cell) > 0:
            cells[k] = cell
    return cells


def decision_segments(region, polygon=None) -> list[DecisionSegment]:
    """The exact segments of the decision boundary within a region's polygon (its edges included).

    Within the region the logits are affine, f_k(x') = w_k x' + b_k, so the arg-max partitions the
    polygon into convex cells; a segment is an edge of a class-k cell on which f_k = f_j for another
    class j. A segment along the polygon's own edge (where the top class changes exactly at the region
    boundary) is listed too, so a neighbouring region may list it again.

    >>> from theory.network import mlp
    >>> net = mlp([[[1, 0], [0, 1]], [[1, 0], [0, 1]]])         # f = relu(x): class 0 wins where x0 > x1
    >>> regs = regions_2d(net, box=(-1, 1, -1, 1))
    >>> pos = [r for r in regs if r.pattern["1:relu"] == (1, 1)][0]
    >>> [(s.start, s.end, s.classes) for s in decision_segments(pos)]
    [((1, 1), (0, 0), (0, 1))]
    """
    W, b, K = _affine(region)
    seen, out = set(), []
    for k, cell in _cells(region, polygon).items():
        for e in range(len(cell)):
            P, Q = cell[e], cell[(e + 1) % len(cell)]
            for j in range(K):
                if j == k:
                    continue
                tie = lambda v: (W[k][0] - W[j][0]) * v[0] + (W[k][1] - W[j][1]) * v[1] + b[k] - b[j] == 0
                if tie(P) and tie(Q):
                    ends = frozenset((P, Q))
                    if ends not in seen:
                        seen.add(ends)
                        out.append(DecisionSegment(_sym(P), _sym(Q), (min(j, k), max(j, k))))
    return out


# ---- one point: exit, distance to the boundary, effective margin --------------------------------
@dataclass(frozen=True)
class PointGeometry:
    """Exact geometry of an interior point x of its region (see :func:`point_geometry`)."""

    x: tuple
    z: tuple
    region: Region = field(repr=False)
    exit_time: Any               # t*(x, z), a Rational (sympy.oo if x + t z never leaves)
    exit_point: tuple | None     # x + t* z
    boundary_distance2: Any      # r(x)^2, a Rational
    boundary_foot: tuple         # the nearest point of the nearest facet line (distance r)
    label: int                   # the top class y at x
    rival: int                   # the strongest other class j
    margin2: Any                 # gamma(x)^2 = (f_y - f_j)^2 / |w_y - w_j|^2
    margin_foot: tuple           # the foot of the perpendicular from x on the line f_y = f_j

    @property
    def boundary_distance(self):
        """r(x), exact (a square root)."""
        return sympy.sqrt(self.boundary_distance2)

    @property
    def margin(self):
        """gamma(x), exact (a square root)."""
        return sympy.sqrt(self.margin2)


def point_geometry(network: Network, x, z) -> PointGeometry:
    """The exit time t*(x, z), the boundary distance r(x) and the effective margin gamma(x) of a point.

    - t* = min over the half-spaces whose value decreases along z of slack_i / (-slope_i);
    - r(x) = min_i slack_i / |a_i|, attained at the foot x + (slack_i / |a_i|^2) a_i;
    - gamma(x) = (f_y - f_j) / |w_y - w_j| with y the top class and j the strongest other class
      ([derived]; claim ``effective-margin``): the distance from x to the local decision line, whose
      foot is x - (f_y - f_j) (w_y - w_j) / |w_y - w_j|^2.

    Assumes x lies in the interior of its region (raises :class:`~theory.errors.KinkError` otherwise).

    >>> from theory.network import mlp
    >>> g = point_geometry(mlp([[[1, 0], [0, 1]], [[1, 0], [0, 1]]]), [2, 1], [-1, 0])
    >>> g.exit_time, g.boundary_distance2, g.label, g.rival, g.margin2, g.margin_foot
    (2, 1, 0, 1, 1/2, (3/2, 3/2))
    """
    region = linearize(network, x)
    if network.n_in != 2:
        raise ShapeError(f"point_geometry needs a network with 2 inputs, got {network.n_in}")
    xv = [rational(v, what="x") for v in network.read_input(x).entries()]
    zv = [rational(v, what="z") for v in network.read_input(z).entries()]
    t = region.exit_time(list(zv))
    exit_point = None if t == sympy.oo else tuple(to_sympy(xv[i]) + t * to_sympy(zv[i]) for i in range(2))
    A, c, _ = region._halfspaces
    Ae = A.entries()
    best = None
    for i, s in enumerate(region.slacks()):
        a = (Ae[2 * i], Ae[2 * i + 1])
        n2 = a[0] ** 2 + a[1] ** 2
        if n2 == 0:
            continue
        d2 = s * s / n2
        if best is None or d2 < best[0]:
            best = (d2, tuple(xv[k] + s / n2 * a[k] for k in range(2)))
    f = region._vals[network.output].entries()
    K = len(f)
    y = max(range(K), key=lambda k: (f[k], -k))
    if K < 2:
        raise ValueError("the effective margin needs at least two classes")
    j = max((k for k in range(K) if k != y), key=lambda k: (f[k], -k))
    W, _, _ = _affine(region)
    d = (W[y][0] - W[j][0], W[y][1] - W[j][1])
    dd = d[0] ** 2 + d[1] ** 2
    gap = f[y] - f[j]
    if dd == 0:
        m2, foot = sympy.oo, None
    else:
        m2, foot = to_sympy(gap * gap / dd), _sym(tuple(xv[k] - gap / dd * d[k] for k in range(2)))
    return PointGeometry(x=_sym(xv), z=_sym(zv), region=region, exit_time=t, exit_point=exit_point,
                         boundary_distance2=sympy.oo if best is None else to_sympy(best[0]),
                         boundary_foot=None if best is None else _sym(best[1]), label=y, rival=j,
                         margin2=m2, margin_foot=foot)


# ---- the teaching network -------------------------------------------------------------------------
_W1 = [["3/2", "3/4"], [0, -1], ["-3/4", -2], ["1/2", 2], ["3/2", "-3/2"], ["1/2", "-7/4"]]
_W2 = [["-1/4", "-7/4", "-5/4", -1, 2, "-3/2"], [1, "-5/4", "1/4", "-1/2", "-1/4", "5/4"],
       ["-3/2", 0, "-1/2", 1, 0, "1/2"], ["-7/4", "-1/2", -2, "5/4", "-7/4", 1],
       ["7/4", -1, -2, "-1/4", "5/4", "-5/4"], [-2, "-5/4", "-1/2", "-1/2", "1/2", -2]]
_W3 = [["-1/2", "5/4", "-3/2", 1, "-1/2", "-3/2"], [-1, "-3/4", "-7/4", "-7/4", 0, -1],
       [0, "-7/4", "-5/4", 1, "-1/4", "-3/4"]]
_B = [["1/2", "-3/8", "3/4", "5/8", "-3/8", "-3/8"], ["-3/4", "-1/2", -1, 1, "-3/4", "7/8"], [0, 0, 0]]


def teaching_network():
    """A fixed 2-6-6-3 leaky-ReLU (slope 1/10) network in general position, with rational weights: the
    network of the teaching figure (``python -m figures --only geometry``)."""
    from .network import mlp

    return mlp([_W1, _W2, _W3], _B, slope="1/10", name="teaching-2x6x6x3-leaky0.1")
