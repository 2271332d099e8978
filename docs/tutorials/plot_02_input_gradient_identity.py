"""
The input-gradient identity, four ways
======================================

Input-gradient regularization (double backpropagation) penalises ``||grad_x CE(f(x), y)||^2``.
On an activation region the logits are affine, ``f = J x + b``, and the gradient of the cross-entropy
is ``J^T (p - e_y)`` with ``p = softmax(f)`` (claim ``input-gradient``). So the penalty is a closed form
in the Jacobian:

.. math:: \\|\\nabla_x \\mathrm{CE}\\|^2 = (e_y - p)^\\top J J^\\top (e_y - p).

We compute the penalty (1) by autograd, (2) by the closed form from :func:`verify.linearize`,
(3) exactly, on the rational network, with :func:`theory.linearize` and sympy, and (4) let
:func:`verify.check_identity` judge the identity against a rigorous rounding-error bound. Finally we
print the symbolic proof that the toolkit checks.
"""

# %%
# A network with rational weights and a few inputs
# ------------------------------------------------
#
# Weights and inputs are multiples of 1/8, so the float64 network *is* a rational network.

import sympy
import torch
import torch.nn.functional as F

import theory
import verify
from verify.numerics.bounds import Bounded, sq_norm

torch.manual_seed(1)
model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4)).double().eval()
with torch.no_grad():
    for param in model.parameters():
        param.copy_(torch.randint(-8, 9, param.shape, dtype=torch.float64) / 8)
x = torch.randint(-8, 9, (5, 3), dtype=torch.float64) / 8
y = torch.tensor([0, 1, 2, 3, 0])

# %%
# (1) By hand, with autograd
# --------------------------
#
# What training code does: the gradient of the summed cross-entropy with respect to the inputs.

xl = x.clone().requires_grad_(True)
grad = torch.autograd.grad(F.cross_entropy(model(xl), y, reduction="sum"), xl)[0]
by_autograd = grad.pow(2).sum(1)
print("autograd     :", by_autograd.tolist())

# %%
# (2) The closed form from the float linearization
# ------------------------------------------------
#
# :func:`verify.linearize` gives ``J`` (B, K, D) and the logits of every example in one batched pass.

lin = verify.linearize(model, x)
p = torch.softmax(lin.logits, 1)
v = F.one_hot(y, lin.K).double() - p                       # e_y - p
G = lin.jacobian @ lin.jacobian.mT                          # the Gram matrix J J^T
by_closed_form = (v.unsqueeze(1) @ G @ v.unsqueeze(2)).reshape(-1)
print("closed form  :", by_closed_form.tolist())
print("max |difference| =", float((by_autograd - by_closed_form).abs().max()))

# %%
# (3) Exactly, on the rational network
# ------------------------------------
#
# :func:`theory.linearize` reads the float weights and inputs as the rationals they are: ``J`` and
# the logits are exact rationals. Only ``p`` needs ``exp``, so the exact penalty is a sympy expression
# in exponentials of rationals, which we evaluate to 30 digits.


def exact_penalty(i):
    r = theory.linearize(model, x[i:i + 1])
    f = list(r.logits)
    Z = sum(sympy.exp(fk) for fk in f)
    pe = sympy.Matrix([sympy.exp(fk) / Z for fk in f])
    ve = sympy.Matrix([int(k == int(y[i])) for k in range(len(f))]) - pe
    return (ve.T * r.jacobian * r.jacobian.T * ve)[0, 0], r


exact = []
for i in range(len(x)):
    value, r = exact_penalty(i)
    exact.append(sympy.N(value, 30))
    if i == 0:
        print("example 0: J =", r.jacobian.tolist(), " logits =", list(r.logits))
print("exact (30 digits):")
for i, e in enumerate(exact):
    print(f"  {i}: {e}   float64 autograd - exact = {float(by_autograd[i]) - float(e):+.2e}")

# %%
# The float values agree with the exact ones to within float64 rounding: the largest relative
# difference, printed below also in units of the unit roundoff ``u = 2^-53``, is of the order of the
# rounding of the few dozen operations involved. A loose version is asserted, so that the page fails
# to build if it ever stops being true.

rel = max(abs(float(by_autograd[i]) - float(e)) / max(float(e), 1e-300) for i, e in enumerate(exact))
print(f"largest relative difference to the exact value: {rel:.2e} = {rel / 2.0**-53:.1f} u")
assert rel < 1e-12

# %%
# (4) Let the toolkit judge it: :func:`verify.check_identity`
# -----------------------------------------------------------
#
# ``check_identity(lhs, rhs, model, x, y)`` takes the definition ``lhs(model, x, y)`` (autograd; with a
# ``lin`` argument it is handed the linearization, to bound backprop's rounding) and the closed form
# ``rhs(lin, y)`` written on ``lin``'s pieces. When ``rhs`` returns a ``Bounded`` value (a float
# with its rigorous rounding-error bound, carried through ``@``, ``-`` etc.), the check is
# *bound-backed*: every point must agree within the bound.


def grad_sq(model, x, y, lin):
    xl = x.clone().requires_grad_(True)
    loss = F.cross_entropy(model(xl), y, reduction="sum")
    g = torch.autograd.grad(loss, xl)[0].reshape(len(x), -1)
    return sq_norm(Bounded(g, lin.grad_bound(y)))


def gram_form(lin, y):
    r = (lin.onehot(y) - lin.p).unsqueeze(-1)
    return (r.mT @ lin.J @ lin.J.mT @ r).reshape(-1)


report = verify.check_identity(grad_sq, gram_form, model, x, y, name="grad-CE-squared")
print(report.table())
assert report.ok

# %%
# A closed form that returns a plain tensor is judged differently: by agreement of float64 autograd
# with the closed form evaluated on the *exact* rational network (the report labels it "not
# bound-backed"). A wrong closed form fails, with the two sides printed: here one that forgets the
# softmax, ``||J^T e_y||^2`` in place of ``||J^T (e_y - p)||^2``.


def plain_form(lin, y):
    J, f = lin.lin.jacobian, lin.lin.logits
    r = (F.one_hot(y, J.shape[1]).to(J.dtype) - torch.softmax(f, 1)).unsqueeze(-1)
    return (r.mT @ J @ J.mT @ r).reshape(-1)


def wrong_form(lin, y):
    J = lin.lin.jacobian
    e = F.one_hot(y, J.shape[1]).to(J.dtype).unsqueeze(-1)
    return (e.mT @ J @ J.mT @ e).reshape(-1)


agree = verify.check_identity(grad_sq, plain_form, model, x, y, name="grad-CE-squared (plain)")
print(agree.table())
wrong = verify.check_identity(grad_sq, wrong_form, model, x, y, name="forgot the softmax")
print(wrong.table())
print("failing:", wrong.failing)
assert agree.ok and not wrong.ok

# %%
# The symbolic proof
# ------------------
#
# The closed form is not only checked numerically: ``python -m theory explain input-gradient``
# prints its derivation, every step checked by sympy. The same from Python is
# :func:`theory.prove`, whose proof prints as text or as LaTeX (``--latex``), for slides.

proof = theory.prove("input-gradient")
print(proof)

# %%
# The LaTeX of the same derivation (an ``align*`` block), printed by the command's own entry point,
# ``python -m theory explain input-gradient --latex``:

import theory.cli  # noqa: E402

exit_code = theory.cli.main(["explain", "input-gradient", "--latex"])
assert proof.holds and exit_code == 0
