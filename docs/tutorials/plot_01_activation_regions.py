"""
The activation regions of a 2-D network, exactly
================================================

A ReLU network cuts its input space into convex *activation regions*: on each one, every unit is
either on or off, and the network is exactly an affine map ``f(x') = J x' + b``. With two inputs the
regions are polygons that we can compute and draw.

This tutorial takes a small torch MLP with two inputs, linearizes it *exactly* (rational arithmetic)
at a rational point with :func:`theory.linearize`, reads off the sign pattern, the Jacobian ``J``, the
bias ``b`` and the half-spaces that bound the region, and then draws the regions of the whole square.
"""

# %%
# A small network with rational weights
# -------------------------------------
#
# The weights are multiples of 1/4, so each float64 weight is exactly the rational it shows.
# :func:`theory.linearize` reads every float weight as the rational number it is, so nothing below
# is rounded.

import flint  # python-flint: the exact rationals of the polygon helpers
import matplotlib.pyplot as plt
import numpy as np
import sympy
import torch

import theory
import verify
from theory.plane import regions_2d
from theory.polygon import clip_to_region

torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Linear(2, 6), torch.nn.ReLU(),
    torch.nn.Linear(6, 6), torch.nn.ReLU(),
    torch.nn.Linear(6, 3),
).double().eval()
with torch.no_grad():
    for param in model.parameters():
        param.copy_(torch.randint(-4, 5, param.shape, dtype=torch.float64) / 4)
print(model)

# %%
# Linearize at a rational point
# -----------------------------
#
# The point is given as strings, so it is the exact rational ``(1/3, -1/2)`` (not a float near it).
# The pattern lists, for each rectified layer, which units are on (+1) or off (-1).

region = theory.linearize(model, ["1/3", "-1/2"])
print("x       =", list(region.x))
print("pattern =", region.pattern)
print("J =")
sympy.pprint(region.jacobian)
print("b =")
sympy.pprint(region.bias)

# %%
# On the region the network *is* this affine map: the exact logits of the network at ``x`` equal
# ``J x + b``.

print("f(x)    =", list(region.logits))
print("J x + b =", list(region.jacobian * region.x + region.bias))
assert region.logits == region.jacobian * region.x + region.bias

# %%
# The region as half-spaces
# -------------------------
#
# The region is the convex set ``{x' : A x' <= c}``, one row per rectified unit: a unit stays on (or
# off) as long as its pre-activation keeps its sign. ``halfspace_labels`` names the unit of each row,
# and ``slacks`` gives ``c - A x`` at our point: all positive, since ``x`` is inside.

A, c = region.halfspaces
for label, a_row, c_i, slack in zip(region.halfspace_labels, A.tolist(), list(c), region.slacks()):
    print(f"{str(label):>12}:  {str(a_row[0]):>6} x1 + {str(a_row[1]):>6} x2 <= {str(c_i):>6}   slack {slack}")
assert all(s > 0 for s in region.slacks())

# %%
# Two distances follow exactly. ``boundary_distance()`` is the l2 distance from ``x`` to the nearest
# facet line; ``exit_time(z)`` is how far one can walk along a direction ``z`` before leaving the
# region. Both are exact sympy numbers (a square root for the distance).

z = [1, 0]
t_star = region.exit_time(z)
r = region.boundary_distance()
print("exit time t*(x, z=(1,0)) =", t_star, "~", float(t_star))
print("boundary distance r(x)   =", r, "~", float(r))

# %%
# The exit time is exact: the point ``x + t* z`` is still in the closed region, and any step further
# is not. The distance bounds every exit time along a unit direction from below.

x_exit = [region.x[0] + t_star * z[0], region.x[1] + t_star * z[1]]
x_past = [region.x[0] + (t_star + sympy.Rational(1, 10**6)) * z[0], region.x[1]]
print("x + t* z in the region:", region.contains(x_exit), "| a bit further:", region.contains(x_past))
assert region.contains(x_exit) and not region.contains(x_past)
assert r <= t_star

# %%
# Every region of the square
# --------------------------
#
# :func:`theory.plane.regions_2d` walks all activation regions that meet a box, exactly, by crossing
# every facet of every polygon it finds. For a picture we also colour a grid by its float pattern,
# computed in one batched call of :func:`verify.linearize`.

box = (-2, 2, -2, 2)
net = theory.from_torch(model, (2,))
regions = regions_2d(net, box=box)
print(f"{len(regions)} exact regions meet the box {box}; their areas sum to {sum(p.area for p in regions)}")
assert sum(p.area for p in regions) == (box[1] - box[0]) * (box[3] - box[2])

n = 300
g1, g2 = np.meshgrid(np.linspace(box[0], box[1], n), np.linspace(box[2], box[3], n))
grid = torch.tensor(np.stack([g1.ravel(), g2.ravel()], 1))
lin = verify.linearize(model, grid)
codes = torch.cat([lin.pattern[name].to(torch.int64) for name in lin.pattern], 1)
_, colour = torch.unique(codes, dim=0, return_inverse=True)
print(f"{int(colour.max()) + 1} distinct patterns on the {n}x{n} grid "
      f"(at most the number of exact regions: small regions can fall between grid points)")
assert int(colour.max()) + 1 <= len(regions)

# %%
# The picture: the grid coloured by pattern, every exact region outlined, our point, and its region's
# polygon (the box clipped by the region's half-spaces, exactly) filled in.

box_poly = [(box[0], box[2]), (box[1], box[2]), (box[1], box[3]), (box[0], box[3])]

own = clip_to_region([(flint.fmpq(a), flint.fmpq(b)) for a, b in box_poly], region)
own_xy = np.array([[float(v) for v in p] for p in own])

fig, ax = plt.subplots(figsize=(5.5, 5))
ax.imshow(colour.reshape(n, n).numpy() % 20, origin="lower", extent=box, cmap="tab20", alpha=0.55,
          interpolation="nearest")
for poly in regions:
    xy = np.array([[float(v) for v in p] for p in poly.vertices] + [[float(v) for v in poly.vertices[0]]])
    ax.plot(xy[:, 0], xy[:, 1], color="k", lw=0.6)
ax.fill(own_xy[:, 0], own_xy[:, 1], facecolor="none", edgecolor="crimson", lw=2.5, label="region of x")
ax.plot(*[float(v) for v in region.x], "o", color="crimson", label=f"x = ({region.x[0]}, {region.x[1]})")
ax.annotate("", xy=[float(v) for v in x_exit], xytext=[float(v) for v in region.x],
            arrowprops=dict(arrowstyle="->", color="crimson"))
ax.set_xlabel("$x_1$")
ax.set_ylabel("$x_2$")
ax.set_title("grid colour: float pattern; lines: exact regions")
ax.legend(loc="upper right", fontsize=8)
plt.show()

# %%
# What to notice: the grid colours change exactly on the black lines (the exact polygons), the red
# polygon is the set ``{A x' <= c}`` printed above, and the arrow from ``x`` along ``z = (1, 0)`` stops
# on its boundary after the exit time ``t*``.
