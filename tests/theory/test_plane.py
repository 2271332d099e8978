"""theory.plane: the exact activation regions of a network on R^2 tile the box, agree with
``linearize`` everywhere, and carry the exact decision boundary and point geometry."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
import sympy
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from theory.layers import ShapeError
from theory.network import mlp
from theory.plane import class_cells, clip_polygon, decision_segments, point_geometry, polygon_area, regions_2d
from theory.region import linearize

BOX = (-2, 2, -2, 2)
BOX_AREA = 16

# a fixed 2-6-6-3 leaky-ReLU network in general position (the teaching figure's)
@pytest.fixture(scope="module")
def net():
    from theory.plane import teaching_network

    return teaching_network()


@pytest.fixture(scope="module")
def regions(net):
    return regions_2d(net, box=BOX)


def _units_differing(p, q) -> int:
    return sum(a != b for k in p for a, b in zip(p[k], q[k]))


def _inside(poly, pt) -> int:
    """+1 strictly inside a counter-clockwise convex polygon, 0 on its boundary, -1 outside."""
    signs = []
    for i in range(len(poly)):
        (ax, ay), (bx, by) = poly[i], poly[(i + 1) % len(poly)]
        signs.append((bx - ax) * (pt[1] - ay) - (by - ay) * (pt[0] - ax))
    if any(s < 0 for s in signs):
        return -1
    return 0 if any(s == 0 for s in signs) else 1


def check_tiling(net, regions, box, n_samples=40, seed=0):
    xmin, xmax, ymin, ymax = (sympy.Rational(v) for v in box)
    # the exact areas sum to the box's area
    assert sum(r.area for r in regions) == (xmax - xmin) * (ymax - ymin)
    assert all(r.area > 0 for r in regions)
    # one polygon per pattern, and each polygon's centroid linearizes to the polygon's pattern
    assert len({r.key for r in regions}) == len(regions)
    for r in regions:
        assert linearize(net, list(r.centroid)).pattern == r.pattern
        assert all(v.is_Rational for p in r.vertices for v in p)
        # f = J x + b on the polygon: at every vertex the network equals the region's affine map
        for v in r.vertices:
            assert net(list(v)) == r.jacobian * sympy.Matrix(v) + r.bias
    # random rational points: in exactly one polygon's interior (unless on an edge), with its pattern
    rng = random.Random(seed)
    for _ in range(n_samples):
        pt = (xmin + (xmax - xmin) * sympy.Rational(rng.randrange(1, 997), 997),
              ymin + (ymax - ymin) * sympy.Rational(rng.randrange(1, 991), 991))
        where = [_inside(r.vertices, pt) for r in regions]
        inside = [i for i, w in enumerate(where) if w == 1]
        if inside:
            assert len(inside) == 1 and where.count(0) == 0
            assert linearize(net, list(pt)).pattern == regions[inside[0]].pattern
        else:
            assert where.count(0) >= 2    # on an edge shared by two or more polygons
    # neighbours are symmetric, share a segment of positive length, and differ in at least one unit
    for i, r in enumerate(regions):
        for j, (a, b) in r.neighbours:
            assert any(k == i for k, _ in regions[j].neighbours)
            assert a != b
            assert _inside(r.vertices, a) == 0 and _inside(r.vertices, b) == 0
            assert _inside(regions[j].vertices, a) == 0 and _inside(regions[j].vertices, b) == 0
            assert _units_differing(r.pattern, regions[j].pattern) >= 1


def test_regions_tile_the_box(net, regions):
    """The tiling, and no region listed twice: a pattern's region is convex, so each pattern is one
    polygon, and the vertex mean of a polygon of positive area is interior and has that pattern."""
    check_tiling(net, regions, BOX)
    keys = [tuple((k, tuple(v)) for k, v in sorted(r.pattern.items())) for r in regions]
    assert len(set(keys)) == len(regions) > 1
    for r in regions:
        assert r.area > 0
        mean = [sum(v[i] for v in r.vertices) / len(r.vertices) for i in range(2)]
        assert linearize(net, mean).pattern == r.pattern


def test_adjacent_regions_differ_in_one_unit(regions):
    pairs = [(i, j) for i, r in enumerate(regions) for j, _ in r.neighbours]
    assert pairs
    for i, j in pairs:
        assert _units_differing(regions[i].pattern, regions[j].pattern) == 1


def test_decision_segments_are_exact_ties_of_the_top_logits(net, regions):
    n = 0
    for r in regions:
        for s in decision_segments(r):
            n += 1
            k, j = s.classes
            for t in (sympy.Rational(1, 2), sympy.Rational(1, 7)):
                pt = [s.start[i] + t * (s.end[i] - s.start[i]) for i in range(2)]
                f = net(pt)
                assert f[k] == f[j] == max(f)
    assert n > 0


def test_class_cells_tile_each_region(net, regions):
    for r in regions:
        cells = class_cells(r)
        assert sum(_area(c) for c in cells.values()) == r.area
        for k, cell in cells.items():
            cx = sum(v[0] for v in cell) / len(cell)
            cy = sum(v[1] for v in cell) / len(cell)
            f = net([cx, cy])
            assert f[k] == max(f)


def _area(poly):
    return sum(poly[i][0] * poly[(i + 1) % len(poly)][1] - poly[(i + 1) % len(poly)][0] * poly[i][1]
               for i in range(len(poly))) / 2


def test_point_geometry(net):
    x, z = [sympy.Rational(-3, 20), sympy.Rational(1, 4)], [sympy.Rational(4, 5), sympy.Rational(-3, 5)]
    g = point_geometry(net, x, z)
    region = linearize(net, x)
    # the exit point is on the boundary of the region, and just before it the pattern is unchanged
    assert region.contains(list(g.exit_point)) and min(region.slacks(list(g.exit_point))) == 0
    before = [x[i] + g.exit_time * Fraction(999, 1000) * z[i] for i in range(2)]
    assert linearize(net, before).pattern == region.pattern
    # r: the foot is on the boundary, at distance r
    assert min(region.slacks(list(g.boundary_foot))) == 0
    assert sum((g.boundary_foot[i] - x[i]) ** 2 for i in range(2)) == g.boundary_distance2
    assert g.boundary_distance2 == region.boundary_distance_squared()
    # gamma: the foot is on the local decision line f_y = f_j, at distance gamma
    fy = region.affine(list(g.margin_foot))
    assert fy[g.label] == fy[g.rival]
    assert sum((g.margin_foot[i] - x[i]) ** 2 for i in range(2)) == g.margin2
    f = net(x)
    assert f[g.label] == max(f) and g.rival != g.label
    # here gamma <= r, so the foot lies in the region and is on the true decision boundary
    assert g.margin2 <= g.boundary_distance2
    assert net(list(g.margin_foot))[g.label] == net(list(g.margin_foot))[g.rival]


def test_clip_polygon_and_area():
    sq = [(0, 0), (2, 0), (2, 2), (0, 2)]
    import flint

    q = [(flint.fmpq(a), flint.fmpq(b)) for a, b in sq]
    assert polygon_area(q) == 4
    half = clip_polygon(q, 1, 0, 1)
    assert polygon_area(half) == 2
    assert clip_polygon(q, 1, 0, -1) == []
    assert clip_polygon(q, 0, 0, 1) == q


def test_errors(net):
    three = mlp([[[1, 0, 0]], [[1]]])
    with pytest.raises(ShapeError, match="2 inputs"):
        regions_2d(three)
    with pytest.raises(ValueError, match="xmin < xmax"):
        regions_2d(net, box=(1, -1, 0, 1))
    with pytest.raises(ValueError, match=r"\(xmin, xmax, ymin, ymax\)"):
        regions_2d(net, box=(0, 1))
    with pytest.raises(TypeError, match="theory.Network"):
        regions_2d("not a network")


# ---- random networks -------------------------------------------------------------------------------
small = st.integers(-3, 3)


@st.composite
def plane_networks(draw):
    """A 2-h-(h2-)K network with small integer weights and halves as biases; slope 0, 1/10 or -1."""
    widths = [2] + draw(st.lists(st.integers(1, 4), min_size=1, max_size=2)) + [draw(st.integers(2, 3))]
    weights = [[[draw(small) for _ in range(widths[i])] for _ in range(widths[i + 1])] for i in range(len(widths) - 1)]
    biases = [[Fraction(draw(small), 2) for _ in range(widths[i + 1])] for i in range(len(widths) - 1)]
    slope = draw(st.sampled_from(["0", "1/10", "-1"]))
    return mlp(weights, biases, slope=slope)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plane_networks())
@example(mlp([[[1, 0], [0, 1]], [[1, 1], [1, -1]]], [[0, 0], [0, 0]]))      # every line through the box centre
@example(mlp([[[0, 0], [1, 1]], [[1, 1], [1, -1]]], [[0, 0], [0, 0]]))      # a dead unit, constant 0
@example(mlp([[[1, 1], [2, 2]], [[1, -1], [0, 1]]], [[0, 0], [0, 0]], slope="-1"))   # two units, one line
def test_random_networks_tile_the_box(net):
    regions = regions_2d(net, box=BOX)
    check_tiling(net, regions, BOX, n_samples=15)
    for r in regions:
        for s in decision_segments(r):
            mid = [(s.start[i] + s.end[i]) / 2 for i in range(2)]
            f = net(mid)
            assert f[s.classes[0]] == f[s.classes[1]] == max(f)
