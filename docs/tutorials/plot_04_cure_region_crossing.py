"""
CURE's finite difference and the region it leaves
=================================================

CURE regularizes curvature with a finite difference of loss gradients,

.. math:: R_{\\mathrm{CURE}} = \\| \\nabla L(x + h z) - \\nabla L(x) \\|^2,
   \\qquad z = \\mathrm{sign}(\\nabla L) / \\|\\mathrm{sign}(\\nabla L)\\|.

On a ReLU network the Hessian of the loss is ``H = J^T S J`` (``S = diag(p) - p p^T``) inside an
activation region. Two claims of ``SPEC.md`` say what the difference measures:

* ``curvature-small-step``: for small ``h``, ``R-CURE = h^2 ||H z||^2 + O(h^3)``;
* ``curvature-region-crossing``: once ``x + h z`` leaves the region of ``x``, a second term
  ``(J' - J)^T (p' - e_y)`` appears, with ``J'``, ``p'`` taken at ``x + h z``.

Where the step leaves the region is the *exit time* ``t*(x, z)``, which the exact linearization
gives as a rational number. So ``h`` decides what CURE measures: the curvature of the softmax
inside the region (``h < t*``), or the change of the network's affine piece (``h >= t*``).
"""

# %%
# A network, a point and CURE's direction
# ---------------------------------------

import matplotlib.pyplot as plt
import numpy as np
import torch

import theory
import verify
from verify import regularizers as reg
from verify.regularizers import closed_forms as cf

torch.manual_seed(4)
model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.ReLU(),
                            torch.nn.Linear(16, 3)).double().eval()
x = torch.randn(1, 4, dtype=torch.float64)
y = torch.tensor([0])
g = reg.loss_gradient(model, x, y)
z = reg.cure_direction(g)
print("grad L(x) =", g.tolist(), "\nz         =", z.tolist())

# %%
# The exact exit time
# -------------------
#
# :func:`theory.linearize` reads ``x`` and ``z`` as the rationals their floats are, so ``t*`` is exact:
# ``x + t z`` stays in the region of ``x`` for ``0 <= t < t*``.

region = theory.linearize(model, x)
t_star = region.exit_time(z[0].tolist())
print("t*(x, z) =", float(t_star))
print("distance to the region boundary r(x) =", float(region.boundary_distance()), "(<= t*, since |z| = 1)")
assert region.boundary_distance() <= t_star

# %%
# R-CURE against h
# ----------------
#
# For each ``h`` we compute R-CURE by its definition (autograd, :func:`verify.regularizers.curvature`),
# the small-step term ``h^2 ||Hz||^2`` from the closed form, and the decomposition of the gradient
# difference into the in-region part ``J^T (p' - p)`` and the pattern-change part
# ``(J' - J)^T (p' - e_y)`` (:func:`~verify.regularizers.closed_forms.cure_decomposition`), from the
# linearizations at ``x`` and ``x + h z``.

lin = verify.linearize(model, x)
J, p = lin.jacobian, torch.softmax(lin.logits, 1)
Hz2 = float(cf.cure_small_step(J, p, z, h=1.0))          # ||H z||^2
hs = np.logspace(-3, 1, 41)
cure, change_share, crossed = [], [], []
for h in hs:
    cure.append(float(reg.curvature(model, x, y, h=float(h), z=z)))
    lin2 = verify.linearize(model, x + float(h) * z)
    inside, change = cf.cure_decomposition(J, p, lin2.jacobian, torch.softmax(lin2.logits, 1), y)
    a, b = inside.pow(2).sum(), change.pow(2).sum()
    change_share.append(float(b / (a + b)) if a + b > 0 else 0.0)
    crossed.append(any(bool((lin2.pattern[k] != lin.pattern[k]).any()) for k in lin.pattern))
cure = np.array(cure)

# %%
# Check the two claims on these numbers:
#
# * the pattern changes exactly at the steps ``h >= t*`` (the steps within a relative 1e-9 of ``t*``
#   are left out: there the float step itself decides the side);
# * below ``t*`` the pattern-change part is zero, and at the smallest ``h`` R-CURE / h^2 is
#   ``||Hz||^2`` up to the O(h) term.

far = np.abs(hs - float(t_star)) > 1e-9 * float(t_star)
assert all(c == (h >= float(t_star)) for h, c, keep in zip(hs, crossed, far) if keep)
assert all(s == 0.0 for h, s in zip(hs, change_share) if h < float(t_star))
small = abs(cure[0] / hs[0] ** 2 - Hz2) / Hz2
print(f"||Hz||^2 = {Hz2:.6g};  R-CURE/h^2 at h = {hs[0]:.0e}: {cure[0] / hs[0] ** 2:.6g} (relative difference {small:.1e})")
print(f"steps below t*: {int((hs < float(t_star)).sum())} of {len(hs)}; the pattern changed at "
      f"{sum(crossed)} of the {len(hs)} steps")
print(f"pattern-change share at the largest h = {hs[-1]:g}: {change_share[-1]:.2f}")
assert small < 1e-2

# %%
# The picture
# -----------
#
# Left: R-CURE against ``h``, beside the small-step term ``h^2 ||Hz||^2``. Middle: ``R-CURE / h^2``
# against its small-step limit ``||Hz||^2``. Right: the share of the pattern-change
# term, ``||change||^2 / (||inside||^2 + ||change||^2)``. The exit time is the red line in each.

fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
ax0.loglog(hs, cure, "o-", ms=3, label="R-CURE (definition)")
ax0.loglog(hs, hs ** 2 * Hz2, color="gray", ls="--", label=r"$h^2 \|Hz\|^2$")
ax0.set_title("R-CURE against h")
ax0.legend(fontsize=8)
ax1.loglog(hs, cure / hs ** 2, "o-", ms=3, label="R-CURE / $h^2$ (definition)")
ax1.axhline(Hz2, color="gray", ls="--", label=r"$\|Hz\|^2$ (small-step limit)")
for ax in (ax0, ax1, ax2):
    ax.axvline(float(t_star), color="crimson", lw=1.5, label=r"exit time $t^*(x, z)$")
    ax.set_xlabel("CURE step h")
ax1.legend(fontsize=8)
ax1.set_title("what the finite difference measures")
ax2.semilogx(hs, change_share, "o-", ms=3, color="darkorange")
ax2.set_ylim(-0.05, 1.05)
ax2.set_ylabel("pattern-change share")
ax2.set_title("pattern-change part of the difference")
ax2.legend(fontsize=8)
plt.show()

# %%
# What to notice: left of the red line R-CURE follows ``h^2 ||Hz||^2`` (the middle curve is flat at
# ``||Hz||^2``, up to the O(h) term that bends it before ``t*``) and the pattern-change share is zero;
# right of it the network's affine piece changes and that term takes over. The default step of
# :func:`verify.regularizers.curvature` is that of the third-party PyTorch code of CURE (``SPEC.md``,
# "Peer conventions"); compare it with the exit time to see which regime such a step is in here.

import inspect  # noqa: E402

h_default = inspect.signature(reg.curvature).parameters["h"].default
print(f"default h of verify.regularizers.curvature: {h_default} ->",
      "at or beyond t*: CURE measures the change of region here" if h_default >= float(t_star)
      else "below t*: CURE measures the curvature inside the region here")
