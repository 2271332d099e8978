"""Figure ``geometry`` (teaching): activation regions, the decision boundary, and one point's geometry.

A small leaky-ReLU network on R^2 (by default the teaching network of :func:`theory.teaching.teaching_example`,
2-6-6-3, slope 1/10, fixed rational weights, at the point and direction that ``python -m theory region``
prints; ``python -m figures --only geometry --model FILE --point X1,X2 --direction Z1,Z2`` draws another)
is exactly affine on each of its activation regions. Every region in the box is found exactly by
:func:`theory.plane.regions_2d` (polygons with rational vertices, not a sampled grid) and coloured;
the decision boundary is the union of the exact segments of :func:`theory.plane.decision_segments`.
One point x is highlighted with its region, and the exact quantities of
:func:`theory.plane.point_geometry`: the exit along a direction z (the arrow to x + t* z, where the
pattern first changes), the distance r(x) to the region boundary (the circle of radius r), and the
effective margin gamma(x), the distance to the local decision line f_y = f_j (the perpendicular).

The figure computes nothing itself: the exact values come from :mod:`theory.plane`, and are turned
into floats only to be drawn.
"""

from __future__ import annotations

import numpy as np

from ..style import DOUBLE, OKABE_ITO, figure, fs, styled

__all__ = ["fig_geometry", "CAPTION", "SUMMARY", "teaching_network", "region_tiles", "BOX", "POINT", "DIRECTION",
           "REGION_TINTS", "point_floats", "fit_box", "zoom_window", "place_labels"]

#: One line for ``--list``: what to see.
SUMMARY = "exact activation regions and decision boundary of a 2-D network; one point's t*, r(x) and gamma(x)"

#: The figure's caption.
CAPTION = ("A 2-6-6-3 leaky-ReLU network (the teaching network of python -m theory region, at the same x and z) on the plane: its activation regions (computed exactly, coloured), the "
           "decision boundary (black), and for one point x its region, the exit x + t* z along z, the distance "
           "r(x) to the region boundary (circle) and the effective margin gamma(x) to the local decision line.")

from theory.teaching import TEACHING_BOX, TEACHING_DIRECTION, TEACHING_POINT  # noqa: E402

#: The box drawn: that of :mod:`theory.teaching`, whose network ``python -m theory region`` prints.
BOX = TEACHING_BOX
#: The highlighted point x (exact rationals, as strings), as ``python -m theory region`` prints it.
POINT = TEACHING_POINT
#: The direction z of x's exit time (exact rationals, as strings), as ``python -m theory region`` prints it.
DIRECTION = TEACHING_DIRECTION


def teaching_network():
    """The teaching network of the figure and of ``python -m theory region`` (:func:`theory.teaching.teaching_network`)."""
    from theory.teaching import teaching_network as net

    return net()


def point_floats(p) -> tuple[float, float]:
    """A point given as two exact numbers (strings or rationals) as two floats, for drawing."""
    return float(p[0]), float(p[1])


def _colouring(regions, n_colours: int) -> list[int]:
    """A greedy colouring of the region adjacency graph: neighbours differ in colour, and among the
    allowed colours the least used is taken, so that all colours appear."""
    colour = [-1] * len(regions)
    count = [0] * n_colours
    for i in range(len(regions)):                       # breadth-first order of regions_2d
        used = {colour[j] for j, _ in regions[i].neighbours}
        free = [c for c in range(n_colours) if c not in used] or list(range(n_colours))
        colour[i] = min(free, key=lambda c: (count[c], c))
        count[colour[i]] += 1
    return colour


def region_tiles(regions):
    """What the region pictures draw of exact regions (``theory.plane.regions_2d``): the colour index of each
    region, its polygon in floats, and the decision-boundary segments, each once."""
    from theory.plane import decision_segments

    cols = _colouring(regions, len(REGION_TINTS))
    polys = [np.array([point_floats(v) for v in r.vertices]) for r in regions]
    segs, seen = [], set()
    for r in regions:
        for s in decision_segments(r):
            key = frozenset((s.start, s.end))
            if key not in seen:
                seen.add(key)
                segs.append([point_floats(s.start), point_floats(s.end)])
    return cols, polys, segs


def _tint(hex_colour: str, amount: float) -> tuple:
    """The colour mixed with white: amount 0 is white, 1 the colour."""
    h = hex_colour.lstrip("#")
    rgb = np.array([int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)])
    return tuple(1 - amount * (1 - rgb))


#: The light tints the activation regions are coloured with, in turn.
REGION_TINTS = [_tint(OKABE_ITO[k], a) for k, a in (("sky", 0.3), ("yellow", 0.35), ("purple", 0.25), ("green", 0.22),
                                                ("orange", 0.25))]
_HOME = OKABE_ITO["purple"]
_CLASS_NAMES = ("class 1", "class 2", "class 3", "class 4", "class 5")


def fit_box(box, point, exit_point=None):
    """The box drawn: ``box`` when it holds ``point`` (and the exit point), else a square box about the origin,
    with integer bounds, that holds them with room around them."""
    from theory.exact import rational

    b = [float(rational(v, what="box")) for v in box]
    pts = [point_floats(point)] + ([] if exit_point is None else [point_floats(exit_point)])
    if all(b[0] < px < b[1] and b[2] < py < b[3] for px, py in pts):
        return tuple(box)
    R = int(np.ceil(1.3 * max(max(abs(v) for v in p) for p in pts)))
    R = max(R, int(max(abs(v) for v in b)))
    return (-R, R, -R, R)


def zoom_window(pts, r, box) -> tuple[tuple[float, float], tuple[float, float]]:
    """The zoom square around the points ``pts`` (the region of x, x, the exit point, the margin foot), padded
    and at least as large as the circle r(x), but never larger than the box nor outside it: a proper square of
    positive size inside the box, so that its outline in panel (a) is a whole rectangle."""
    xmin, xmax, ymin, ymax = box
    side_box = min(xmax - xmin, ymax - ymin)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre = (lo + hi) / 2
    half = max(hi - lo) / 2 * 1.25
    half = max(half, 1.15 * r if np.isfinite(r) else 0.0, 0.03 * side_box)
    half = min(half, 0.45 * side_box)                  # a zoom, strictly inside panel (a)
    cx = float(np.clip(centre[0], xmin + half * 1.02, xmax - half * 1.02))
    cy = float(np.clip(centre[1], ymin + half * 1.02, ymax - half * 1.02))
    return (cx - half, cx + half), (cy - half, cy + half)


def _overlaps(bb, others, pad: float = 1.0) -> float:
    """The total overlap area (display units) of the box ``bb`` (grown by ``pad``) with ``others``."""
    total = 0.0
    for o in others:
        w = min(bb.x1 + pad, o.x1) - max(bb.x0 - pad, o.x0)
        h = min(bb.y1 + pad, o.y1) - max(bb.y0 - pad, o.y0)
        if w > 0 and h > 0:
            total += w * h
    return total


def _inside(bb, frame) -> bool:
    return bb.x0 >= frame.x0 and bb.x1 <= frame.x1 and bb.y0 >= frame.y0 and bb.y1 <= frame.y1


_OFFSETS = [(dx, dy) for r in (4, 9, 16, 26, 38) for dx, dy in ((-r, -r), (r, -r), (r, r), (-r, r), (0, r + 2), (0, -r - 2),
                                                      (r + 2, 0), (-r - 2, 0))]


def _align(dx, dy):
    return ("left" if dx > 0 else "right" if dx < 0 else "center"), ("bottom" if dy > 0 else "top" if dy < 0 else "center")


from matplotlib.artist import Artist  # noqa: E402


class _Placer(Artist):
    """An invisible artist drawn before all others (the figure laid out already) that calls ``place(renderer)``:
    the labels are placed at the size, layout and text renderer of each drawing."""

    zorder = -1000

    def __init__(self, place):
        super().__init__()
        self._place = place

    def draw(self, renderer):
        self._place(renderer)
        self.stale = False


def place_labels(renderer, ax, annotations, keep_clear=()):
    """Move each annotation (offset from its anchor in points) to the first of ``_OFFSETS`` where its box
    lies inside the axes and overlaps no label placed before it (nor the boxes ``keep_clear``); when no offset
    is free, the label is left out (hidden). Return the boxes placed (``keep_clear`` first)."""
    frame = ax.get_window_extent(renderer)
    placed = list(keep_clear)
    for ann in annotations:
        ann.set_visible(True)
        best = None
        for dx, dy in _OFFSETS:
            ha, va = _align(dx, dy)
            ann.set_position((dx, dy))
            ann.set_ha(ha)
            ann.set_va(va)
            bb = ann.get_window_extent(renderer)
            cost = _overlaps(bb, placed) + (0.0 if _inside(bb, frame) else 1e9)
            if best is None or cost < best[0]:
                best = (cost, dx, dy)
            if cost == 0:
                break
        cost, dx, dy = best
        ha, va = _align(dx, dy)
        ann.set_position((dx, dy))
        ann.set_ha(ha)
        ann.set_va(va)
        ann.set_visible(cost == 0)                     # no free place: left out (its value is in the numbers box)
        if ann.get_visible():
            placed.append(ann.get_window_extent(renderer))
    return placed


@styled
def fig_geometry(results: list[dict] | None = None, network=None, box=BOX, point=POINT, direction=DIRECTION):
    """The teaching figure; ``results`` are not used (the figure is exact geometry of a fixed network).

    ``network`` (a :class:`theory.network.Network` with 2 inputs), ``box``, ``point`` and ``direction``
    replace the defaults (those of :func:`theory.teaching.teaching_example`); a box that does not hold the
    point is widened (:func:`fit_box`).
    """
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Circle, FancyArrowPatch, Polygon, Rectangle

    from theory.exact import rational
    from theory.plane import class_cells, point_geometry, regions_2d

    net = network if network is not None else teaching_network()
    geo = point_geometry(net, list(point), list(direction))
    box = fit_box(box, geo.x, geo.exit_point)
    regions = regions_2d(net, box=box)
    home = next(r for r in regions if r.pattern == geo.region.pattern)
    cols, polys, segs = region_tiles(regions)
    # every cell of each class, largest first: the class name goes in the first one where it fits
    cells: dict = {}
    for r in regions:
        for k, cell in class_cells(r).items():
            arr = np.array([point_floats(v) for v in cell])
            area = 0.5 * abs(np.dot(arr[:, 0], np.roll(arr[:, 1], 1)) - np.dot(arr[:, 1], np.roll(arr[:, 0], 1)))
            cells.setdefault(k, []).append((area, arr.mean(axis=0)))
    for k in cells:
        cells[k].sort(key=lambda t: -t[0])

    x = np.array(point_floats(geo.x))
    r = float(geo.boundary_distance)
    gamma = float(geo.margin) if geo.margin_foot is not None else None
    exit_pt = np.array(point_floats(geo.exit_point)) if geo.exit_point is not None else None
    home_poly = np.array([point_floats(v) for v in home.vertices])
    bx = tuple(float(rational(v, what="box")) for v in box)

    fig = figure(DOUBLE, 3.35)
    ax_all, ax_zoom = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1]})

    def draw_regions(ax, lw):
        ax.add_collection(PolyCollection(polys, facecolors=[REGION_TINTS[c % len(REGION_TINTS)] for c in cols],
                                         edgecolors="0.45", linewidths=lw, gid="regions"))
        ax.add_collection(LineCollection(segs, colors="black", linewidths=1.6, capstyle="round", zorder=4,
                                         gid="decision-boundary"))
        ax.add_patch(Polygon(home_poly, closed=True, fill=False, edgecolor=_HOME, lw=1.3, ls=(0, (3, 1.5)),
                             zorder=4.5, gid="home-region"))

    draw_regions(ax_all, 0.35)
    ax_all.plot(*x, "o", color="black", ms=3.5, zorder=6)
    ax_all.set_xlim(bx[0], bx[1])
    ax_all.set_ylim(bx[2], bx[3])
    ax_all.set_aspect("equal")
    ax_all.set_xlabel("$x_1$")
    ax_all.set_ylabel("$x_2$")
    ax_all.set_title(f"(a) the {len(regions)} activation regions in the box", loc="left")

    # the zoom window: the highlighted region, the exit point and the margin foot, padded, square, in the box
    pts = [home_poly, x[None, :]]
    if exit_pt is not None:
        pts.append(exit_pt[None, :])
    core = np.vstack(pts)
    if geo.margin_foot is not None:                     # the margin's foot, unless far beyond the region
        foot_pt = np.array([point_floats(geo.margin_foot)])
        if np.abs(foot_pt - core.mean(axis=0)).max() <= 1.5 * max(core.max(axis=0) - core.min(axis=0)):
            pts.append(foot_pt)
    zx, zy = zoom_window(np.vstack(pts), r, bx)
    half = (zx[1] - zx[0]) / 2
    ax_all.add_patch(Rectangle((zx[0], zy[0]), zx[1] - zx[0], zy[1] - zy[0], fill=False, ec="black", lw=0.7,
                               ls="--", zorder=5, gid="zoom-box"))
    zoom_tag = ax_all.annotate("(b)", (zx[0], zy[1]), xytext=(0, 2), textcoords="offset points", ha="left",
                               va="bottom", fontsize=fs(7), zorder=7, gid="label|zoom")

    draw_regions(ax_zoom, 0.6)
    ax_zoom.add_patch(Polygon(home_poly, closed=True, facecolor="white", alpha=0.55, edgecolor="none",
                              zorder=3))
    label_box = dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.7)
    zoom_labels = []

    def in_zoom(p):
        return zx[0] <= p[0] <= zx[1] and zy[0] <= p[1] <= zy[1]

    # r(x): circle and radius
    ax_zoom.add_patch(Circle(x, r, fill=False, ec=OKABE_ITO["blue"], lw=1.1, ls=(0, (3, 2)), zorder=5,
                             gid="r-circle"))
    if geo.boundary_foot is not None:
        foot = np.array(point_floats(geo.boundary_foot))
        ax_zoom.plot(*zip(x, foot), color=OKABE_ITO["blue"], lw=1.1, zorder=5)
        if in_zoom((x + foot) / 2):
            zoom_labels.append(ax_zoom.annotate(r"$r(x)$", (x + foot) / 2, xytext=(-3, 3), textcoords="offset points",
                                                color=OKABE_ITO["blue"], fontsize=fs(8), zorder=8, bbox=label_box,
                                                gid="label|r"))
    # gamma(x): the local decision line and the perpendicular to it
    if geo.margin_foot is not None:
        mf = np.array(point_floats(geo.margin_foot))
        d = mf - x
        t = np.array([-d[1], d[0]]) / np.linalg.norm(d)
        ext = 3 * half + float(np.linalg.norm(d))
        ax_zoom.plot(*zip(mf - ext * t, mf + ext * t), color=OKABE_ITO["green"], lw=1.0, ls=(0, (1, 1.5)),
                     zorder=5, gid="local-decision-line")
        ax_zoom.plot(*zip(x, mf), color=OKABE_ITO["green"], lw=1.4, zorder=6, gid="margin")
        sq = 0.035 * half
        u = d / np.linalg.norm(d)
        corner = np.array([mf - sq * u, mf - sq * u + sq * t, mf + sq * t])
        ax_zoom.plot(corner[:, 0], corner[:, 1], color=OKABE_ITO["green"], lw=0.8, zorder=6)
        mid = (x + mf) / 2 if in_zoom((x + mf) / 2) else x + u * min(np.linalg.norm(d), half) / 2
        if in_zoom(mid):
            zoom_labels.append(ax_zoom.annotate(r"$\gamma(x)$", mid, xytext=(-3, -3), textcoords="offset points",
                                                color=OKABE_ITO["green"], fontsize=fs(8), zorder=8, bbox=label_box,
                                                gid="label|gamma"))
    # t*: the exit along z
    if exit_pt is not None:
        ax_zoom.add_patch(FancyArrowPatch(x, exit_pt, arrowstyle="-|>", mutation_scale=9, lw=1.3,
                                          color=OKABE_ITO["vermillion"], zorder=7, shrinkA=0, shrinkB=0,
                                          gid="exit"))
        ax_zoom.plot(*exit_pt, "o", ms=3, color=OKABE_ITO["vermillion"], zorder=7)
        if in_zoom(exit_pt):
            zoom_labels.append(ax_zoom.annotate(r"$x + t^* z$", exit_pt, xytext=(4, -4), textcoords="offset points",
                                                color=OKABE_ITO["vermillion"], fontsize=fs(8), zorder=8,
                                                bbox=label_box, gid="label|exit"))
    ax_zoom.plot(*x, "o", color="black", ms=4, zorder=8)
    zoom_labels.insert(0, ax_zoom.annotate("$x$", x, xytext=(-4, -4), textcoords="offset points", fontsize=fs(9),
                                           zorder=8, gid="label|x"))
    ax_zoom.set_xlim(*zx)
    ax_zoom.set_ylim(*zy)
    ax_zoom.set_aspect("equal")
    ax_zoom.set_xlabel("$x_1$")
    ax_zoom.set_title("(b) the region of $x$ (zoom)", loc="left")
    tstar = float(geo.exit_time)
    lines = [rf"$t^* = {tstar:.3g}$ along $z = ({_q(geo.z[0])}, {_q(geo.z[1])})$" if np.isfinite(tstar)
             else rf"$t^* = \infty$ along $z = ({_q(geo.z[0])}, {_q(geo.z[1])})$", rf"$r(x) = {r:.3g}$"]
    if gamma is not None:
        rel = r"\leq" if gamma <= r else ">"
        lines.append(rf"$\gamma(x) = {gamma:.3g} {rel} r(x)$")
        lines.append("(exact distance to the decision boundary)" if gamma <= r else "(a first-order estimate)")
    info = ax_zoom.text(0.98, 0.98, "\n".join(lines), transform=ax_zoom.transAxes, ha="right", va="top",
                        fontsize=fs(7), zorder=9, gid="label|info",
                        bbox=dict(boxstyle="round,pad=0.3", fc="white", ec="0.6", lw=0.5, alpha=0.92))
    handles = [Line2D([], [], color="black", lw=1.6, label="decision boundary"),
               Line2D([], [], color="0.45", lw=0.6, label="region boundaries (kinks)"),
               Line2D([], [], color=_HOME, lw=1.3, ls=(0, (3, 1.5)), label="region of $x$"),
               Line2D([], [], color=OKABE_ITO["green"], lw=1.0, ls=(0, (1, 1.5)),
                      label=r"local decision line $f_y = f_j$")]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=fs(7), frameon=False)

    # every label is put where it overlaps no other when the figure is drawn (after its layout, at the size and
    # with the text renderer it is saved with): _Placer, drawn first
    class_labels = [(ax_all.text(*cells[k][0][1], _CLASS_NAMES[k] if k < len(_CLASS_NAMES) else f"class {k + 1}",
                                 ha="center", va="center", fontsize=fs(7), zorder=7, gid=f"label|class{k}",
                                 bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8)),
                     [c for _, c in cells[k]]) for k in sorted(cells)]
    feet = [np.array(point_floats(f)) for f in (geo.margin_foot, geo.boundary_foot) if f is not None]
    marks = [x] + [q for q in (exit_pt,) if q is not None] + feet + [np.asarray(a.xy) for a in zoom_labels]

    def place(renderer):
        for ax in (ax_all, ax_zoom):                   # their equal aspect, which Axes.draw would apply later
            ax.apply_aspect()
        best = None
        for cx, cy, ha, va in ((0.98, 0.98, "right", "top"), (0.02, 0.98, "left", "top"),
                               (0.98, 0.02, "right", "bottom"), (0.02, 0.02, "left", "bottom")):
            info.set_position((cx, cy))
            info.set_ha(ha)
            info.set_va(va)
            bb = info.get_window_extent(renderer).padded(6)
            cost = sum(bb.contains(*ax_zoom.transData.transform(m)) for m in marks)
            if best is None or cost < best[0]:
                best = (cost, cx, cy, ha, va)
        _, cx, cy, ha, va = best
        info.set_position((cx, cy))
        info.set_ha(ha)
        info.set_va(va)
        place_labels(renderer, ax_zoom, zoom_labels, keep_clear=[info.get_window_extent(renderer).padded(2)])
        placed = place_labels(renderer, ax_all, [zoom_tag])
        frame_all = ax_all.get_window_extent(renderer)
        for lab, centres in class_labels:              # in the largest cell of its class where it is free
            lab.set_visible(True)
            for c in centres:
                lab.set_position(tuple(c))
                bb = lab.get_window_extent(renderer)
                if _inside(bb, frame_all) and _overlaps(bb, placed) == 0:
                    placed.append(bb)
                    break
            else:
                lab.set_visible(False)

    fig.add_artist(_Placer(place))
    return fig


def _q(v) -> str:
    """A rational (sympy Rational) as a short fraction: 4/5, -3/5, 2."""
    return str(v.p) if v.q == 1 else f"{'-' if v < 0 else ''}{abs(v.p)}/{v.q}"
