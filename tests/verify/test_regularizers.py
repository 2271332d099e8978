"""The regularizers by their definitions (verify.regularizers), and every peer convention of CLAIMS.md
reproduced by an independent re-implementation written the way that paper's public code is written.
Hoffman et al.'s random-projection estimator is tested for unbiasedness and its 1/n variance.
"""

from __future__ import annotations

import math
import random

import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings, strategies as st

from verify import regularizers as R
from verify.networks import ARCHS, draw_inputs, draw_spec




def case(seed: int, arch: str = "mlp", dtype=torch.float64, n: int = 5):
    spec = draw_spec(random.Random(seed), size="quick", arch=arch)
    model = spec.build(dtype=dtype)
    x, y = draw_inputs(model, spec, n, generator=torch.Generator().manual_seed(seed), near_kink_fraction=0.0)
    return model, x, y


def close(a, b, dtype):
    return torch.allclose(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64),
                          rtol=1e-4 if dtype == torch.float32 else 1e-10, atol=1e-12)


# ---- independent re-implementations, written as each paper's code is written -------------------------------
def ross_doshi_velez(model, x, y):
    """Ross & Doshi-Velez (AAAI 2018), l2 double backprop: tf.nn.l2_loss(tf.gradients(mean CE, X)[0])."""
    x = x.detach().clone().requires_grad_(True)
    cross_entropy = F.cross_entropy(model(x), y)                 # reduce_mean
    grad = torch.autograd.grad(cross_entropy, x, create_graph=True)[0]
    return torch.sum(grad ** 2) / 2                              # tf.nn.l2_loss


def rrr(model, x, y):
    """dtak/rrr (Ross, Hughes & Doshi-Velez 2017): input gradients of sum of log-probabilities, A = 1."""
    x = x.detach().clone().requires_grad_(True)
    log_prob_ys = F.log_softmax(model(x), dim=1)
    input_gradients = torch.autograd.grad(log_prob_ys.sum(), x, create_graph=True)[0]
    A = torch.ones_like(x)
    return ((A * input_gradients) ** 2).sum()


class JacobianReg(torch.nn.Module):
    """Hoffman et al. (2019), facebookresearch/jacobian_regularizer, as published (n=-1: exact)."""

    def __init__(self, n=1, generator=None):
        super().__init__()
        self.n, self.generator = n, generator

    def forward(self, x, y):
        J2 = 0.0
        B, C = y.shape
        num_proj = C if self.n == -1 else self.n
        for ii in range(num_proj):
            if self.n == -1:
                v = torch.zeros(B, C, dtype=y.dtype)
                v[:, ii] = 1
            else:
                v = self._random_vector(C=C, B=B, dtype=y.dtype)
            Jv = torch.autograd.grad(y, x, v, retain_graph=True, create_graph=True)[0]
            J2 += C * torch.norm(Jv) ** 2 / (num_proj * B)
        return (1 / 2) * J2

    def _random_vector(self, C, B, dtype):
        if C == 1:
            return torch.ones(B, dtype=dtype)
        v = torch.randn(B, C, generator=self.generator, dtype=dtype)
        vnorm = torch.norm(v, 2, 1, True)
        return v / vnorm


def hein_andriushchenko(model, x):
    """Hein & Andriushchenko (2017): (1/(K^2 B)) sum_i sum_{l,m} ||grad f_l - grad f_m||^2, pair by pair."""
    x = x.detach().clone().requires_grad_(True)
    f = model(x)
    B, K = f.shape
    grads = [torch.autograd.grad(f[:, k].sum(), x, retain_graph=True)[0].reshape(B, -1) for k in range(K)]
    total = 0.0
    for l in range(K):
        for m in range(K):
            total = total + ((grads[l] - grads[m]) ** 2).sum()
    return total / (K * K * B)


def cure_pytorch(net, inputs, targets, h=3.0, lambda_=4):
    """The third-party CURE for PyTorch (F-Salehi/CURE_robustness): _find_z, then regularizer."""
    criterion = torch.nn.CrossEntropyLoss()
    inputs = inputs.detach().clone().requires_grad_(True)
    loss_z = criterion(net.eval()(inputs), targets)
    grad = torch.autograd.grad(loss_z, inputs)[0] + 0.0
    z = torch.sign(grad).detach() + 0.
    shape = [-1] + [1] * (inputs.dim() - 1)
    z = 1. * h * (z + 1e-7) / (z.reshape(z.size(0), -1).norm(dim=1).reshape(shape) + 1e-7)
    inputs = inputs.detach().clone().requires_grad_(True)
    outputs_pos = net.eval()(inputs + z)
    outputs_orig = net.eval()(inputs)
    loss_pos = criterion(outputs_pos, targets)
    loss_orig = criterion(outputs_orig, targets)
    grad_diff = torch.autograd.grad((loss_pos - loss_orig), inputs, create_graph=True)[0]
    reg = grad_diff.reshape(grad_diff.size(0), -1).norm(dim=1)
    return torch.sum(lambda_ * reg) / float(inputs.size(0))


def emr_official(model, x_adv, T=1.0):
    """EMR (Liu & Chan 2022), as coded: pt = softmax(logits / T) held constant, gradient of the batch mean."""
    x_adv = x_adv.detach().clone().requires_grad_(True)
    logits = model(x_adv)
    pt = F.softmax(logits / T, dim=1).detach()
    g = torch.autograd.grad((pt * logits).sum(dim=1).mean(), x_adv, create_graph=True)[0]
    return g.pow(2).sum()


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1), arch=st.sampled_from(ARCHS), dtype=st.sampled_from([torch.float64, torch.float32]))
@example(seed=0, arch="mlp", dtype=torch.float64)
def test_peer_conventions_are_reproduced(seed, arch, dtype):
    model, x, y = case(seed, arch, dtype)
    B = x.shape[0]
    per = R.input_gradient(model, x, y)
    assert close(R.input_gradient(model, x, y, convention="ross-doshi-velez"), ross_doshi_velez(model, x, y), dtype)
    assert close(ross_doshi_velez(model, x, y), per.sum() / (2 * B * B), dtype)    # the 1/B^2 of the mean
    assert close(R.input_gradient(model, x, y, convention="dtak-rrr"), rrr(model, x, y), dtype)
    xl = x.detach().clone().requires_grad_(True)
    f = model(xl)
    assert close(R.jacobian(model, x, convention="hoffman"), JacobianReg(n=-1)(xl, f), dtype)
    assert close(R.jacobian(model, x, convention="hoffman"), R.jacobian(model, x).mean() / 2, dtype)
    g1, g2 = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    assert close(R.jacobian(model, x, projections=3, generator=g1, convention="hoffman"),
                 JacobianReg(n=3, generator=g2)(xl, f), dtype)
    K = f.shape[1]
    assert close(R.cross_lipschitz(model, x, convention="hein-andriushchenko"), hein_andriushchenko(model, x), dtype)
    assert close(R.cross_lipschitz(model, x).sum() / (K * K * B), hein_andriushchenko(model, x), dtype)
    assert close(R.curvature(model, x, y, 3.0, convention="cure-pytorch"), cure_pytorch(model, x, y), dtype)
    assert close(R.emr(model, x, convention="emr-official"), emr_official(model, x), dtype)
    assert close(R.emr(model, x, 0.5, convention="emr-official"), R.emr(model, x, 0.5).sum() / B ** 2, dtype)
    for name, fn in (("R-IG", lambda c: R.input_gradient(model, x, y, convention=c)),
                     ("R-EMR", lambda c: R.emr(model, x, convention=c)),
                     ("R-CL", lambda c: R.cross_lipschitz(model, x, convention=c))):
        assert close(fn("mean"), fn(None).mean(), dtype) and close(fn("sum"), fn(None).sum(), dtype), name


def test_dtak_equals_its_closed_form():
    """sum_i ||grad_x sum_k log p_k||^2 = K^2 sum_i ||J_i^T (p_i - 1/K)||^2."""
    model, x, y = case(2)
    J = R.logit_jacobian(model, x)
    p = torch.softmax(model(x), 1)
    K = p.shape[1]
    want = (K * K) * (J.mT @ (p - 1 / K).unsqueeze(-1)).square().sum()
    assert close(R.input_gradient(model, x, y, convention="dtak-rrr"), want, torch.float64)


def test_unknown_convention_lists_the_known_ones():
    model, x, y = case(1)
    with pytest.raises(ValueError, match="known conventions: None, mean, sum, ross-doshi-velez, dtak-rrr"):
        R.input_gradient(model, x, y, convention="ross")
    with pytest.raises(ValueError, match="hein-andriushchenko"):
        R.cross_lipschitz(model, x, convention="hein")
    with pytest.raises(ValueError, match="known conventions: None"):
        R.effective_margin(model, x, y, convention="mean")
    with pytest.raises(KeyError, match="known: R-IG"):
        R.conventions("R-XYZ")


def test_definitions_keep_the_graph_for_training():
    """create_graph=True: the penalty is differentiable in the parameters (double backprop)."""
    model, x, y = case(3)
    for pen in (R.input_gradient(model, x, y, convention="mean", create_graph=True),
                R.jacobian(model, x, convention="hoffman", create_graph=True),
                R.curvature(model, x, y, 0.1, convention="mean", create_graph=True),
                R.emr(model, x, convention="emr-official", create_graph=True)):
        grads = torch.autograd.grad(pen, list(model.parameters()), allow_unused=True)
        assert any(g is not None and bool(g.abs().sum() > 0) for g in grads)


def test_hessian_and_trace_match_torch_func():
    model, x, y = case(4, n=3)
    H = R.hessian(model, x, y)
    for i in range(x.shape[0]):
        want = torch.func.hessian(lambda v: F.cross_entropy(model(v[None]), y[i:i + 1]))(x[i])
        assert torch.allclose(H[i], want.reshape(H.shape[1:]), atol=1e-12)
    assert torch.allclose(R.hessian_trace(model, x, y), H.diagonal(dim1=1, dim2=2).sum(1))
    V = torch.randn(3, 2, x[0].numel(), dtype=torch.float64)
    assert torch.allclose(R.hessian(model, x, y, directions=V), (H @ V.mT).mT, atol=1e-12)


def test_effective_margin_and_cure_direction():
    model, x, y = case(5)
    f = model(x)
    J = R.logit_jacobian(model, x)
    other = f.detach().clone().scatter(1, y[:, None], -math.inf).argmax(1)
    i = torch.arange(x.shape[0])
    want = (f[i, y] - f[i, other]) / (J[i, y] - J[i, other]).norm(dim=1)
    assert torch.allclose(R.effective_margin(model, x, y), want)
    g = torch.tensor([[3.0, 0.0, -2.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    z = R.cure_direction(g)
    assert torch.allclose(z[0], torch.tensor([1.0, 0.0, -1.0, 0.0]) / math.sqrt(2)) and bool((z[1] == 0).all())


def test_hoffman_projection_estimator_is_unbiased_with_variance_1_over_n():
    """Over 400 generator seeds: the mean of the n = 1 estimate is within 4 standard errors of the exact
    ||J||_F^2 (unbiased), and the variance at n = 8 is 1/8 of that at n = 1 up to the sampling error of a
    variance estimate from 400 draws (a factor of 1.6 either way is > 5 standard errors)."""
    model, x, y = case(6, n=3)
    exact = R.jacobian(model, x)
    runs = {n: torch.stack([R.jacobian(model, x, projections=n, generator=torch.Generator().manual_seed(s))
                            for s in range(400)]) for n in (1, 8)}
    for n, est in runs.items():
        se = est.std(0) / math.sqrt(est.shape[0])
        assert bool(((est.mean(0) - exact).abs() <= 4 * se + 1e-12).all()), n
    ratio = runs[1].var(0) / runs[8].var(0)
    ok = (ratio > 8 / 1.6) & (ratio < 8 * 1.6) | (runs[1].var(0) < 1e-20)
    assert bool(ok.all()), ratio
