"""
Check your own regularizer
==========================

A regularizer in a paper is a formula; in code it is a batch scalar, and the two differ by
conventions: a mean or a sum over the batch, a factor 1/2, a gradient of the batch *mean* loss (which
puts 1/B inside the square). :func:`verify.check_implementation` takes your function
``fn(model, x, y) -> scalar`` and tells you which convention it computes: it evaluates it on random
networks (or on your model), beside every known convention of the regularizer (``SPEC.md``, "Peer
conventions") computed both by definition and from the closed form, and compares within a derived
rounding tolerance. When nothing matches, it looks for a known convention times a simple factor.
"""

# %%
# The known conventions of input-gradient regularization
# -------------------------------------------------------

import torch
import torch.nn.functional as F

import verify
from verify.regularizers import conventions

for name, value in conventions("input-gradient").items():
    print(f"{name:>18}: {value}")

# %%
# A correct implementation
# ------------------------
#
# Double backpropagation, written as a training loop would: the per-example squared gradient norms of
# the cross-entropy, averaged over the batch.


def ig_penalty(model, x, y):
    loss = F.cross_entropy(model(x), y, reduction="sum")
    (g,) = torch.autograd.grad(loss, x, create_graph=True)
    return g.pow(2).flatten(1).sum(1).mean()


report = verify.check_implementation(ig_penalty, "input-gradient", convention="mean", networks=3)
print(report)
assert report.ok and report.matched == "mean"

# %%
# A mis-scaled one
# ----------------
#
# Ross & Doshi-Velez's code computes ``tf.nn.l2_loss`` (half the sum of squares) of the gradient of the
# batch-*mean* loss: ``(1/(2B^2)) sum_i ||grad L_i||^2``. Here is a port of it that forgets the 1/2 of
# ``l2_loss``. We say which convention we meant; the report says that it is not that one, and names the
# factor.


def ross_port(model, x, y):
    loss = F.cross_entropy(model(x), y)                  # batch mean: 1/B inside the gradient
    (g,) = torch.autograd.grad(loss, x, create_graph=True)
    return g.pow(2).sum()                                # l2_loss would be half of this


bad = verify.check_implementation(ross_port, "input-gradient", convention="ross-doshi-velez", networks=3)
print(bad)
assert not bad.ok
print("factor found:", bad.factor)

# %%
# Another classic slip: dividing by ``B^2`` where a mean was meant (a mean of a quantity that was
# already averaged). The batch size of the random networks varies (the report's "checked on" line lists
# the sizes), so a factor ``1/B`` cannot pass for a constant.


def double_mean(model, x, y):
    return ig_penalty(model, x, y) / x.shape[0]


slip = verify.check_implementation(double_mean, "input-gradient", convention="mean", networks=3)
print(slip)
assert not slip.ok
print("factor found:", slip.factor)

# %%
# What to notice: the two slips compute the *same* batch value, ``(1/B^2) sum_i ||grad L_i||^2``, so
# both reports give both readings ("or equally"). Which one is the slip depends on the convention you
# meant: that is why naming it (``convention=``) makes the first line of the report say which factor
# separates your code from it.

# %%
# On your own model and batch
# ---------------------------
#
# With ``model=``, ``x=`` and ``y=`` the check runs on your network and data instead of random
# networks (on the whole batch and on its first half, so that ``B`` still varies). Here a small CNN
# and the cross-Lipschitz penalty of Hein & Andriushchenko, ``(1/(K^2 B)) sum_i sum_{l,m} ||w_l - w_m||^2``,
# implemented with one backward pass per class.

torch.manual_seed(6)
cnn = torch.nn.Sequential(
    torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 5),
).double().eval()
xb = torch.randn(8, 1, 8, 8, dtype=torch.float64)
yb = torch.randint(0, 5, (8,))


def cross_lipschitz_penalty(model, x, y):
    f = model(x)
    K = f.shape[1]
    W = torch.stack([torch.autograd.grad(f[:, k].sum(), x, create_graph=True)[0].flatten(1) for k in range(K)], 1)
    diff = W.unsqueeze(1) - W.unsqueeze(2)               # (B, K, K, D): w_l - w_m
    return diff.pow(2).sum() / (K * K * x.shape[0])


mine = verify.check_implementation(cross_lipschitz_penalty, "cross-lipschitz", convention="hein-andriushchenko",
                                   model=cnn, x=xb, y=yb)
print(mine)
assert mine.ok
