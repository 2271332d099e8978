"""
Effective margin against the exact robustness radius
====================================================

The *effective margin* of a point (claim ``effective-margin``) is

.. math:: \\gamma(x) = \\frac{f_y(x) - f_j(x)}{\\|w_y - w_j\\|_2},

with ``y`` the top class, ``j`` the strongest other class and ``w_k = grad_x f_k``. On the activation
region of ``x`` the logits are affine, so ``gamma`` is the exact distance from ``x`` to the *local*
decision line ``f_y = f_j``. That line is the true decision boundary only while it lies inside the
region: when ``gamma(x) <= r(x)`` (``r`` the distance to the region's boundary) the margin is the exact
distance to the y-vs-j boundary; otherwise it is a first-order estimate.

The true answer is the *robustness radius*: the distance to the nearest point classified differently.
:func:`verify.robust_radius` computes it exactly, by a search over activation regions (l2) and a
mixed-integer program (l-inf), and re-checks each witness in rational arithmetic. We compare the two on
a small 2-D network and draw the largest l2 disc and l-inf square that fit.
"""

# %%
# The network and a few points
# ----------------------------
#
# The teaching network of the toolkit: a fixed small leaky-ReLU network with two inputs and rational weights
# (:func:`theory.plane.teaching_network`). Both functions below take it directly.

from fractions import Fraction

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Circle, Rectangle

import verify
from theory.plane import decision_segments, point_geometry, regions_2d, teaching_network

net = teaching_network()
print(net)
points = [("-7/10", "-7/10"), ("-31/50", "4/5"), ("1/10", "1/2"), ("2/5", "-3/5"), ("3/4", "1/3")]
X = torch.tensor([[float(Fraction(a)), float(Fraction(b))] for a, b in points], dtype=torch.float64)

# %%
# Margin, region distance and radii
# ---------------------------------
#
# :func:`theory.plane.point_geometry` gives ``gamma(x)`` and ``r(x)`` exactly (square roots of
# rationals). The radii come with a status (``optimal`` when the solver proved the optimum) and a
# ``certified`` lower bound from ``x``'s own region.

geo = [point_geometry(net, p, (1, 0)) for p in points]
rad2 = verify.robust_radius(net, X, norm=2)
radinf = verify.robust_radius(net, X, norm="inf")
print(f"{'x':>14} {'y':>2} {'j':>2} {'gamma(x)':>9} {'r(x)':>8} {'gamma<=r':>8} {'rho_2':>8} {'rho_inf':>8}  status")
for p, g, a, b in zip(points, geo, rad2, radinf):
    print(f"{str(p):>14} {g.label:>2} {g.rival:>2} {float(g.margin):9.4f} {float(g.boundary_distance):8.4f} "
          f"{str(bool(g.margin2 <= g.boundary_distance2)):>8} {a.radius:8.4f} {b.radius:8.4f}  {a.status}/{b.status}")

# %%
# What the theory says about these columns, checked on them:
#
# * ``rho_inf <= rho_2`` always (an l2 ball of radius rho sits inside the l-inf box of the same
#   radius), and ``rho_2 <= sqrt(2) rho_inf`` in two dimensions;
# * the region's certificate is a lower bound, ``rho_2 >= min(min_j gamma_j, r(x))``, tight when the
#   margin lies inside the region;
# * where ``gamma(x) <= r(x)`` the foot of the margin lies in the region, on the decision boundary, so
#   ``rho_2 <= gamma(x)`` (equal when no other class's line is nearer).

tol = 1e-7
for p, g, a, b in zip(points, geo, rad2, radinf):
    assert a.status == b.status == "optimal", (p, a.status, b.status)
    assert b.radius <= a.radius + tol and a.radius <= np.sqrt(2) * b.radius + tol
    assert a.radius >= a.certified["lower"] - tol
    if a.certified["exact"]:
        assert abs(a.radius - a.certified["lower"]) <= tol
    if g.margin2 <= g.boundary_distance2:
        assert a.radius <= float(g.margin) + tol
print("checked at every point: rho_inf <= rho_2 <= sqrt(2) rho_inf, rho_2 >= the region certificate")
for p, g, a in zip(points, geo, rad2):
    inside = g.margin2 <= g.boundary_distance2
    print(f"x = {p}: gamma/rho_2 = {float(g.margin) / a.radius:.3f}  "
          f"({'gamma <= r(x): the local line is the boundary' if inside else 'gamma > r(x): first-order estimate'})")

# %%
# The picture
# -----------
#
# The exact decision boundary (:func:`theory.plane.decision_segments` on every region of
# :func:`theory.plane.regions_2d`), and for two points the l2 disc of radius ``rho_2`` and the l-inf
# square of half-side ``rho_inf`` around ``x``, each touching the boundary at its witness, and the foot
# of ``gamma`` on the local decision line.

box = (-2, 2, -2, 2)
regions = regions_2d(net, box=box)
segments = [s for reg in regions for s in decision_segments(reg)]
fig, axes = plt.subplots(1, 2, figsize=(10, 5.6), layout="constrained")
for ax, i in zip(axes, (0, 1)):
    for s in segments:
        ax.plot([float(s.start[0]), float(s.end[0])], [float(s.start[1]), float(s.end[1])], color="k", lw=1.2)
    for reg in regions:
        xy = np.array([[float(v) for v in q] for q in reg.vertices + reg.vertices[:1]])
        ax.plot(xy[:, 0], xy[:, 1], color="0.75", lw=0.4, zorder=0)
    x0 = X[i].numpy()
    a, b, g = rad2[i], radinf[i], geo[i]
    ax.add_patch(Circle(x0, a.radius, fill=False, color="tab:blue", lw=2, label=rf"$\ell_2$ disc, $\rho_2$ = {a.radius:.3f}"))
    ax.add_patch(Rectangle(x0 - b.radius, 2 * b.radius, 2 * b.radius, fill=False, color="tab:orange", lw=2,
                           label=rf"$\ell_\infty$ square, $\rho_\infty$ = {b.radius:.3f}"))
    ax.plot(*a.witness, "x", color="tab:blue", ms=8)
    ax.plot(*b.witness, "x", color="tab:orange", ms=8)
    foot = [float(v) for v in g.margin_foot]
    ax.plot([x0[0], foot[0]], [x0[1], foot[1]], ":", color="crimson",
            label=rf"$\gamma$ = {float(g.margin):.3f} to the local line")
    ax.plot(*x0, "o", color="crimson")
    half = max(1.6 * a.radius, 0.25)                    # zoom on x
    ax.set_xlim(x0[0] - half, x0[0] + half)
    ax.set_ylim(x0[1] - half, x0[1] + half)
    ax.set_aspect("equal")
    ax.set_title(f"x = {points[i]}: " + ("gamma <= r(x)" if g.margin2 <= g.boundary_distance2 else "gamma > r(x)"))
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=2)
fig.suptitle("black: exact decision boundary; grey: activation regions; x: witnesses")
plt.show()

# %%
# What to notice: the disc and the square each touch the black boundary at their witness (a cross)
# and contain no point of another class; where ``gamma > r(x)`` the dotted margin points to a line that
# is not the boundary, and ``gamma`` misses ``rho_2`` by the ratio printed above.
