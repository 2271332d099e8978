"""Figure ``geometry`` (teaching): activation regions, the decision boundary, and one point's geometry.

A small leaky-ReLU network on R^2 (2-6-6-3, slope 1/10, fixed rational weights) is exactly affine on
each of its activation regions. Every region in the box is found exactly by
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
           "REGION_TINTS", "point_floats"]

#: One line for ``--list``: what to see.
SUMMARY = "exact activation regions and decision boundary of a 2-D network; one point's t*, r(x) and gamma(x)"

CAPTION = ("A 2-6-6-3 leaky-ReLU network on the plane: its activation regions (computed exactly, coloured), the "
           "decision boundary (black), and for one point x its region, the exit x + t* z along z, the distance "
           "r(x) to the region boundary (circle) and the effective margin gamma(x) to the local decision line.")

#: The box drawn, and the highlighted point x and direction z (exact rationals, as strings).
BOX = (-2, 2, -2, 2)
POINT = ("-3/20", "1/4")
DIRECTION = ("4/5", "-3/5")

def teaching_network():
    """The fixed 2-6-6-3 leaky-ReLU (slope 1/10) network of the figure (see :func:`theory.plane.teaching_network`)."""
    from theory.plane import teaching_network as net

    return net()


def point_floats(p) -> tuple[float, float]:
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


REGION_TINTS = [_tint(OKABE_ITO[k], a) for k, a in (("sky", 0.3), ("yellow", 0.35), ("purple", 0.25), ("green", 0.22),
                                                ("orange", 0.25))]
_HOME = OKABE_ITO["purple"]
_CLASS_NAMES = ("class 1", "class 2", "class 3", "class 4", "class 5")


@styled
def fig_geometry(results: list[dict] | None = None, network=None, box=BOX, point=POINT, direction=DIRECTION):
    """The teaching figure; ``results`` are not used (the figure is exact geometry of a fixed network).

    ``network`` (a :class:`theory.network.Network` with 2 inputs), ``box``, ``point`` and ``direction``
    replace the defaults.
    """
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.patches import Circle, FancyArrowPatch, Polygon, Rectangle

    from theory.exact import rational
    from theory.plane import class_cells, point_geometry, regions_2d

    net = network if network is not None else teaching_network()
    regions = regions_2d(net, box=box)
    geo = point_geometry(net, list(point), list(direction))
    home = next(r for r in regions if r.pattern == geo.region.pattern)
    cols, polys, segs = region_tiles(regions)
    # where to write the class names: the centroid of each class's largest cell
    best: dict = {}
    for r in regions:
        for k, cell in class_cells(r).items():
            arr = np.array([point_floats(v) for v in cell])
            area = 0.5 * abs(np.dot(arr[:, 0], np.roll(arr[:, 1], 1)) - np.dot(arr[:, 1], np.roll(arr[:, 0], 1)))
            if area > best.get(k, (0,))[0]:
                best[k] = (area, arr.mean(axis=0))

    x = np.array(point_floats(geo.x))
    r = float(geo.boundary_distance)
    gamma = float(geo.margin) if geo.margin_foot is not None else None
    exit_pt = np.array(point_floats(geo.exit_point)) if geo.exit_point is not None else None
    home_poly = np.array([point_floats(v) for v in home.vertices])

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
    for k, (_, c) in sorted(best.items()):
        ax_all.text(*c, _CLASS_NAMES[k] if k < len(_CLASS_NAMES) else f"class {k + 1}", ha="center",
                    va="center", fontsize=fs(7), zorder=7,
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))
    xmin, xmax, ymin, ymax = (float(rational(v, what="box")) for v in box)
    ax_all.set_xlim(xmin, xmax)
    ax_all.set_ylim(ymin, ymax)
    ax_all.set_aspect("equal")
    ax_all.set_xlabel("$x_1$")
    ax_all.set_ylabel("$x_2$")
    ax_all.set_title(f"(a) the {len(regions)} activation regions in the box", loc="left")

    # the zoom window: the highlighted region, the exit point and the margin foot, padded and square
    pts = [home_poly, x[None, :]]
    if exit_pt is not None:
        pts.append(exit_pt[None, :])
    if geo.margin_foot is not None:
        pts.append(np.array([point_floats(geo.margin_foot)]))
    pts = np.vstack(pts)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre, half = (lo + hi) / 2, max(hi - lo) / 2 * 1.25
    half = max(half, 1.15 * max(r, gamma or 0))
    zx, zy = (centre[0] - half, centre[0] + half), (centre[1] - half, centre[1] + half)
    ax_all.add_patch(Rectangle((zx[0], zy[0]), 2 * half, 2 * half, fill=False, ec="black", lw=0.7, ls="--",
                               zorder=5))
    ax_all.text(zx[0], zy[1], "(b)", ha="left", va="bottom", fontsize=fs(7), zorder=7)

    draw_regions(ax_zoom, 0.6)
    ax_zoom.add_patch(Polygon(home_poly, closed=True, facecolor="white", alpha=0.55, edgecolor="none",
                              zorder=3))
    # r(x): circle and radius
    ax_zoom.add_patch(Circle(x, r, fill=False, ec=OKABE_ITO["blue"], lw=1.1, ls=(0, (3, 2)), zorder=5,
                             gid="r-circle"))
    if geo.boundary_foot is not None:
        foot = np.array(point_floats(geo.boundary_foot))
        ax_zoom.plot(*zip(x, foot), color=OKABE_ITO["blue"], lw=1.1, zorder=5)
        mid = (x + foot) / 2
        ax_zoom.annotate(r"$r(x)$", mid, xytext=(-3, 3), textcoords="offset points", color=OKABE_ITO["blue"],
                         ha="right", va="bottom", fontsize=fs(8), zorder=8,
                         bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.7))
    # gamma(x): the local decision line and the perpendicular to it
    if geo.margin_foot is not None:
        mf = np.array(point_floats(geo.margin_foot))
        d = mf - x
        t = np.array([-d[1], d[0]]) / np.linalg.norm(d)
        ext = 3 * half
        ax_zoom.plot(*zip(mf - ext * t, mf + ext * t), color=OKABE_ITO["green"], lw=1.0, ls=(0, (1, 1.5)),
                     zorder=5, gid="local-decision-line")
        ax_zoom.plot(*zip(x, mf), color=OKABE_ITO["green"], lw=1.4, zorder=6, gid="margin")
        s = 0.035 * half
        u = d / np.linalg.norm(d)
        corner = np.array([mf - s * u, mf - s * u + s * t, mf + s * t])
        ax_zoom.plot(corner[:, 0], corner[:, 1], color=OKABE_ITO["green"], lw=0.8, zorder=6)
        ax_zoom.annotate(r"$\gamma(x)$", (x + mf) / 2, xytext=(-3, -3), textcoords="offset points",
                         color=OKABE_ITO["green"], ha="right", va="top", fontsize=fs(8), zorder=8,
                         bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.7))
    # t*: the exit along z
    if exit_pt is not None:
        ax_zoom.add_patch(FancyArrowPatch(x, exit_pt, arrowstyle="-|>", mutation_scale=9, lw=1.3,
                                          color=OKABE_ITO["vermillion"], zorder=7, shrinkA=0, shrinkB=0,
                                          gid="exit"))
        ax_zoom.plot(*exit_pt, "o", ms=3, color=OKABE_ITO["vermillion"], zorder=7)
        ax_zoom.annotate(r"$x + t^* z$", exit_pt, xytext=(4, -4), textcoords="offset points",
                         color=OKABE_ITO["vermillion"], ha="left", va="top", fontsize=fs(8), zorder=8,
                         bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.7))
    ax_zoom.plot(*x, "o", color="black", ms=4, zorder=8)
    ax_zoom.annotate("$x$", x, xytext=(-4, -4), textcoords="offset points", ha="right", va="top", fontsize=fs(9),
                     zorder=8)
    ax_zoom.set_xlim(*zx)
    ax_zoom.set_ylim(*zy)
    ax_zoom.set_aspect("equal")
    ax_zoom.set_xlabel("$x_1$")
    ax_zoom.set_title("(b) the region of $x$ (zoom)", loc="left")
    tstar = float(geo.exit_time)
    lines = [rf"$t^* = {tstar:.3g}$ along $z = ({_q(geo.z[0])}, {_q(geo.z[1])})$", rf"$r(x) = {r:.3g}$"]
    if gamma is not None:
        rel = r"\leq" if gamma <= r else ">"
        lines.append(rf"$\gamma(x) = {gamma:.3g} {rel} r(x)$")
        lines.append("(exact distance to the decision boundary)" if gamma <= r else "(a first-order estimate)")
    ax_zoom.text(0.98, 0.98, "\n".join(lines), transform=ax_zoom.transAxes, ha="right", va="top", fontsize=fs(7),
                 zorder=9, bbox=dict(boxstyle="round,pad=0.3", fc="white", ec="0.6", lw=0.5, alpha=0.92))
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="black", lw=1.6, label="decision boundary"),
               Line2D([], [], color="0.45", lw=0.6, label="region boundaries (kinks)"),
               Line2D([], [], color=_HOME, lw=1.3, ls=(0, (3, 1.5)), label="region of $x$"),
               Line2D([], [], color=OKABE_ITO["green"], lw=1.0, ls=(0, (1, 1.5)),
                      label=r"local decision line $f_y = f_j$")]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=fs(7), frameon=False)
    return fig


def _q(v) -> str:
    """A rational (sympy Rational) as a short fraction: 4/5, -3/5, 2."""
    return str(v.p) if v.q == 1 else f"{'-' if v < 0 else ''}{abs(v.p)}/{v.q}"
