"""
Jacobian, cross-Lipschitz and the Gram matrix
=============================================

Write the rows of the logit Jacobian ``J`` (K x D) as ``w_k = grad_x f_k``. Three facts from
``SPEC.md``:

* cross-Lipschitz regularization, ``R-CL = sum_{l,m} ||w_l - w_m||^2``, equals ``2K ||C J||_F^2``,
  with ``C = I - 1 1^T / K`` the centring matrix: it is the Jacobian regularizer of the *centred*
  logits (claim ``cross-lipschitz-centered-jacobian``);
* all of these penalties depend on ``J`` only through the Gram matrix ``G = J J^T`` (K x K);
* each is an inner product ``<G, M>`` with a K x K weighting matrix ``M`` (claim ``gram-unification``):
  ``I`` for R-JAC, ``2K C`` for R-CL, ``(p - e_y)(p - e_y)^T`` for R-IG, ``S = diag(p) - p p^T`` for the
  trace of the Hessian, ``pt pt^T`` for R-EMR, ``S^2`` for the Jacobian of the softmax.

We check all of them on a random network, comparing the toolkit's closed forms
(:mod:`verify.regularizers.closed_forms`) with the regularizers computed by their definitions
(:mod:`verify.regularizers`, autograd as training code does).
"""

# %%
# A random network and a batch
# ----------------------------

import matplotlib.pyplot as plt
import torch

import verify
from verify import regularizers as reg
from verify.regularizers import closed_forms as cf

torch.manual_seed(3)
model = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32), torch.nn.ReLU(),
                            torch.nn.Linear(32, 5)).double().eval()
x = torch.randn(8, 10, dtype=torch.float64)
y = torch.randint(0, 5, (8,))
lin = verify.linearize(model, x)
J, f = lin.jacobian, lin.logits
B, K, D = J.shape
print(f"B={B} examples, K={K} classes, D={D} inputs; points on a kink: {int(lin.on_kink.sum())}")

# %%
# The centred Jacobian
# --------------------
#
# ``C J`` subtracts the mean row from every row: the Jacobian of ``f - mean(f)``. Its rows sum to zero.

CJ = cf.centered(J)
print("rows of C J sum to (max |.|):", float(CJ.sum(1).abs().max()))
print("the same by hand, J - mean_k w_k:", float((CJ - (J - J.mean(1, keepdim=True))).abs().max()))

# %%
# Cross-Lipschitz three ways: the definition over all pairs (autograd, on the model), the pairwise
# sum on ``J``, the centred form ``2K ||C J||_F^2`` and the expanded form ``2K ||J||_F^2 - 2 ||J^T 1||^2``.

by_definition = reg.cross_lipschitz(model, x)
forms = {"pairwise on J": cf.cross_lipschitz_pairwise(J), "2K ||CJ||_F^2": cf.cross_lipschitz_centered(J),
         "2K||J||^2 - 2||J^T 1||^2": cf.cross_lipschitz_expanded(J)}
print("definition (autograd):", [f"{v:.6g}" for v in by_definition.tolist()])
for name, val in forms.items():
    rel = float(((val - by_definition).abs() / by_definition).max())
    print(f"{name:>26}: max relative difference {rel:.1e}")
    assert rel < 1e-12

# %%
# SPEC.md also states ``R-CL <= 2K ||J||_F^2``, with equality only when the rows sum to zero: the
# gap is exactly ``2 ||J^T 1||^2``.

rjac = reg.jacobian(model, x)
print("R-CL / (2K R-JAC) per example:", [f"{v:.3f}" for v in (by_definition / (2 * K * rjac)).tolist()])
assert bool((by_definition <= 2 * K * rjac).all())

# %%
# One Gram matrix, many regularizers
# ----------------------------------
#
# :func:`~verify.regularizers.closed_forms.weighting_matrices` returns the matrix ``M`` of each
# regularizer; ``<G, M>`` is then compared with the regularizer by its definition.

G = cf.gram(J)
p = cf.probabilities(f)
pt = cf.probabilities(f / 1.0)                       # R-EMR's weights at temperature T = 1
M = cf.weighting_matrices(p, y, pt)
reference = {
    "R-JAC": rjac,
    "R-CL": by_definition,
    "R-IG": reg.input_gradient(model, x, y),
    "trH": reg.hessian_trace(model, x, y),
    "R-EMR": reg.emr(model, x, T=1.0),
    "softmax-Jacobian": reg.softmax_jacobian(model, x),
}
print(f"{'regularizer':>17}  {'<G, M> (example 0)':>20}  {'definition':>12}  max rel. difference")
worst = {}
for name, ref in reference.items():
    val = cf.gram_inner(G, M[name])
    worst[name] = float(((val - ref).abs() / ref.abs()).max())
    print(f"{name:>17}  {float(val[0]):20.10g}  {float(ref[0]):12.6g}  {worst[name]:.1e}")
    assert worst[name] < 1e-10

# %%
# What to notice: every row agrees to float64 rounding, though the definitions use autograd on
# the model (K backward passes, double backprop, Hessian-vector products) and the closed forms use
# nothing but the K x K matrix ``G``.
#
# The last row of the table in ``SPEC.md`` is a limit: for a small CURE step ``h``,
# ``R-CURE / h^2 -> z^T J^T S G S J z = <G, M>`` with ``M = (S J z)(S J z)^T``
# (:func:`~verify.regularizers.closed_forms.cure_weighting`). At a finite ``h`` the two differ by
# O(h), as long as ``x + h z`` stays in the region of ``x``: where a step leaves it for some example of the
# batch (``same regions False`` below), the difference is no longer small (the next tutorial is about that).

z = reg.cure_direction(reg.loss_gradient(model, x, y))
limit = cf.gram_inner(G, cf.cure_weighting(J, p, z))
for h in (1e-2, 1e-3, 1e-4):
    same = all(bool((verify.linearize(model, x + h * z).pattern[k] == lin.pattern[k]).all()) for k in lin.pattern)
    ratio = reg.curvature(model, x, y, h=h, z=z) / h ** 2
    print(f"h = {h:.0e}: same regions {same}; max |R-CURE/h^2 - <G, M>| / <G, M> = "
          f"{float(((ratio - limit).abs() / limit).max()):.1e}")
assert same and float(((ratio - limit).abs() / limit).max()) < 1e-2      # at the smallest h

# %%
# The weighting matrices, for example 0
# -------------------------------------
#
# R-JAC weights every class equally; R-CL removes the common direction (its ``M`` has rows summing
# to zero); the loss-based ones (R-IG, tr H, softmax Jacobian) are built from ``p`` and vanish as the
# prediction of a correctly classified point becomes confident (claim ``confident-limit``).

fig, axes = plt.subplots(1, len(reference), figsize=(13, 2.6))
for ax, name in zip(axes, reference):
    m = M[name][0]
    lim = float(m.abs().max())
    ax.imshow(m.numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set_title(name, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("weighting matrices M with regularizer = <G, M> (red > 0, blue < 0)")
plt.show()

print("rows of M for R-CL sum to (max |.|):", float(M["R-CL"].sum(-1).abs().max()))
