"""Figure ``robust-radius`` (teaching): the exact l2 and l-inf balls that touch the decision boundary, beside
gamma(x) and r(x).

On the geometry figure's 2-6-6-3 leaky-ReLU network and point x (:mod:`figures.plots.geometry`): the
activation regions and the decision boundary, exactly (:func:`theory.plane.regions_2d`,
:func:`theory.plane.decision_segments`); the effective margin gamma(x) and the distance r(x) to the
region's boundary, exactly (:func:`theory.plane.point_geometry`); and the exact radii rho_2 and rho_inf
with their witnesses from :func:`verify.robust.robust_radius` (region search for l2, MILP for l-inf),
each witness re-checked in rationals. The largest l2 disc and l-inf square around x that contain no
point of another class touch the boundary at the witness. When gamma(x) > r(x) the local decision
line lies outside the region and gamma is only a first-order estimate of rho_2; the figure shows by
how much.

The figure computes nothing itself: it draws what those functions return.
"""

from __future__ import annotations

import numpy as np

from ..style import DOUBLE, OKABE_ITO, figure, styled
from .geometry import BOX, POINT, REGION_TINTS, point_floats, region_tiles, teaching_network

__all__ = ["fig_robust_radius", "CAPTION", "SUMMARY", "SECOND"]

#: The one-line summary ``python -m figures --list`` prints.
SUMMARY = "exact l2 and l-inf radii of one point of the 2-D teaching network, beside gamma(x) and r(x)"

#: The figure's caption.
CAPTION = ("The teaching network of the geometry figure: around x, the largest l2 disc (a) and l-inf square (b) "
           "that hold no point of another class, from the exact radius (region search, MILP; witnesses checked in "
           "rational arithmetic), beside the effective margin gamma(x) to the local decision line and the "
           "distance r(x) to the region's boundary; (c) a point where gamma(x) > r(x), so that gamma is only a "
           "first-order estimate of the radius, here five times too small.")


#: A second point, where gamma(x) > r(x): there gamma is a first-order estimate, and far from rho_2.
SECOND = ("-31/50", "4/5")


def _panel(ax, x, res, geo, regions_art, half, *, title, show_gamma):
    from matplotlib.patches import Circle, Rectangle

    polys, cols, segs, home_poly = regions_art
    from matplotlib.collections import LineCollection, PolyCollection

    ax.add_collection(PolyCollection(polys, facecolors=[REGION_TINTS[c % len(REGION_TINTS)] for c in cols],
                                     edgecolors="0.45", linewidths=0.5, gid="regions"))
    ax.add_collection(LineCollection(segs, colors="black", linewidths=1.6, zorder=4, gid="decision-boundary"))
    ax.fill(*home_poly.T, facecolor="white", alpha=0.5, edgecolor=OKABE_ITO["purple"], lw=1.1, ls=(0, (3, 1.5)),
            zorder=3)
    r = float(geo.boundary_distance)
    gamma = float(geo.margin) if geo.margin_foot is not None else None
    w = np.array(res.witness)
    if res.norm == "2":
        ax.add_patch(Circle(x, res.radius, fill=False, ec=OKABE_ITO["vermillion"], lw=1.6, zorder=6, gid="l2-ball"))
        ax.add_patch(Circle(x, r, fill=False, ec=OKABE_ITO["blue"], lw=1.0, ls=(0, (3, 2)), zorder=5, gid="r-circle"))
    else:
        ax.add_patch(Rectangle(x - res.radius, 2 * res.radius, 2 * res.radius, fill=False, ec=OKABE_ITO["vermillion"],
                               lw=1.6, zorder=6, gid="linf-ball"))
    if show_gamma and geo.margin_foot is not None:
        foot = np.array(point_floats(geo.margin_foot))
        d = foot - x
        t = np.array([-d[1], d[0]]) / np.linalg.norm(d)
        ax.plot(*zip(foot - 3 * half * t, foot + 3 * half * t), color=OKABE_ITO["green"], lw=1.0, ls=(0, (1, 1.5)),
                zorder=5, gid="local-decision-line")
        ax.plot(*zip(x, foot), color=OKABE_ITO["green"], lw=1.4, zorder=6, gid="margin")
    ax.plot(*zip(x, w), color=OKABE_ITO["vermillion"], lw=1.0, zorder=6)
    ax.plot(*w, "o", ms=3.5, color=OKABE_ITO["vermillion"], zorder=7, gid="witness")
    ax.plot(*x, "o", color="black", ms=4, zorder=8)
    ax.annotate("$x$", x, xytext=(-4, -4), textcoords="offset points", ha="right", va="top", fontsize=9, zorder=8)
    ax.set_xlim(x[0] - half, x[0] + half)
    ax.set_ylim(x[1] - half, x[1] + half)
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_title(title, loc="left")
    ok = "checked" if res.witness_check.get("float") and res.witness_check.get("exact") else "NOT checked"
    sym = r"\rho_2" if res.norm == "2" else r"\rho_\infty"
    lines = [rf"${sym}(x) = {res.radius:.4g}$ ({res.status})", f"witness {ok} in rationals"]
    if res.norm == "2":
        lines.append(rf"$r(x) = {r:.3g}$")
        if gamma is not None and show_gamma:
            rel = r"\leq" if gamma <= r else ">"
            lines.append(rf"$\gamma(x) = {gamma:.4g} {rel} r(x)$")
            lines.append(r"so $\gamma = \rho_2$" if gamma <= r else rf"$\gamma / \rho_2 = {gamma / res.radius:.3g}$")
    elif res.certified:
        lines.append(rf"region certificate $\geq {res.certified['lower']:.3g}$")
    ax.text(0.98, 0.98, "\n".join(lines), transform=ax.transAxes, ha="right", va="top", fontsize=6.5, zorder=9,
            bbox=dict(boxstyle="round,pad=0.3", fc="white", ec="0.6", lw=0.5, alpha=0.92))


@styled
def fig_robust_radius(results: list[dict] | None = None, network=None, box=BOX, point=POINT, second=SECOND):
    """The teaching figure; ``results`` are not used. ``network`` (2 inputs), ``box`` and the two points
    replace the defaults (the first is the geometry figure's)."""
    from theory.exact import rational
    from theory.plane import point_geometry, regions_2d
    from verify.robust import robust_radius

    net = network if network is not None else teaching_network()
    regions = regions_2d(net, box=box)
    cols, polys, segs = region_tiles(regions)

    def at(p):
        geo = point_geometry(net, list(p), [1, 0])
        x = np.array([float(rational(v, what="point")) for v in p])
        home = next(reg for reg in regions if reg.pattern == geo.region.pattern)
        art = (polys, cols, segs, np.array([point_floats(v) for v in home.vertices]))
        return x, geo, art

    x1, g1, a1 = at(point)
    x2, g2, a2 = at(second)
    l2, li = robust_radius(net, x1[None], norm=2)[0], robust_radius(net, x1[None], norm="inf")[0]
    l2b = robust_radius(net, x2[None], norm=2)[0]
    gam1 = float(g1.margin) if g1.margin_foot is not None else 0.0
    h1 = 1.35 * max(l2.radius, li.radius * np.sqrt(2), gam1, float(g1.boundary_distance))
    gam2 = float(g2.margin) if g2.margin_foot is not None else 0.0
    h2 = 1.2 * max(l2b.radius, gam2)
    fig = figure(DOUBLE, 2.9)
    axes = fig.subplots(1, 3)
    _panel(axes[0], x1, l2, g1, a1, h1, title=r"(a) $\ell_2$ disc, $\gamma \leq r(x)$", show_gamma=True)
    _panel(axes[1], x1, li, g1, a1, h1, title=r"(b) $\ell_\infty$ square, same $x$", show_gamma=False)
    _panel(axes[2], x2, l2b, g2, a2, h2, title=r"(c) $\ell_2$ disc, $\gamma > r(x)$", show_gamma=True)
    axes[0].set_ylabel("$x_2$")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="black", lw=1.6, label="decision boundary"),
               Line2D([], [], color=OKABE_ITO["vermillion"], lw=1.6, marker="o", ms=3,
                      label="exact radius and its witness"),
               Line2D([], [], color=OKABE_ITO["blue"], lw=1.0, ls=(0, (3, 2)), label="$r(x)$"),
               Line2D([], [], color=OKABE_ITO["green"], lw=1.4, label=r"$\gamma(x)$ to the local decision line")]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=7, frameon=False)
    return fig
