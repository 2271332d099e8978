"""The Gram shortcuts for chains of Linear layers and rectifiers (verify.numerics.chain, the layer Gram
matrices of verify.numerics.linearization, the per-example parameter-gradient norms of
verify.dynamics.measures) against the general computations they stand in for.

Tolerances are rounding bounds computed beside the values: a float64 product of factors with total inner
dimension m is within gamma_m of the same product on the factors' magnitudes (Higham, ch. 3), so two
computations of the same Gram entry differ by at most 2 gamma_m times the magnitude product; a sum of n
non-negative float64 terms is within gamma_n of its value relatively.
"""

from __future__ import annotations

import pytest
import torch

from verify.dynamics import measures
from verify.numerics import linearization as linmod
from verify.numerics.chain import gram_pays, rect_chain
from verify.numerics.graph import gamma
from verify.numerics.linearize import linearize

U = torch.finfo(torch.float64).eps / 2


def _mlp(D, widths, K, seed, slope=0.0):
    g = torch.Generator().manual_seed(seed)
    layers, dims = [torch.nn.Flatten()], (D,) + tuple(widths)
    for i, o in zip(dims[:-1], dims[1:]):
        layers += [torch.nn.Linear(i, o, dtype=torch.float64),
                   torch.nn.LeakyReLU(slope) if slope else torch.nn.ReLU()]
    layers.append(torch.nn.Linear(dims[-1], K, dtype=torch.float64))
    model = torch.nn.Sequential(*layers).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) / p.shape[-1] ** 0.5)
    x = torch.randn(7, D, generator=g, dtype=torch.float64)
    return model, x


def _pre_maps(model, x):
    """Per hidden layer, the maps M_l (B, n_l, D) from the input to its pre-activations and the same
    products on the magnitudes |W|, |slopes|, by explicit products."""
    lins = [m for m in model if isinstance(m, torch.nn.Linear)]
    acts = [m for m in model if isinstance(m, (torch.nn.ReLU, torch.nn.LeakyReLU))]
    M = Mabs = None
    out, h = [], x
    for lin, act in zip(lins, acts):
        W = lin.weight.detach()
        M = W.expand(x.shape[0], -1, -1) if M is None else W @ M
        Mabs = W.abs().expand(x.shape[0], -1, -1) if Mabs is None else W.abs() @ Mabs
        out.append((M, Mabs))
        u = lin(h).detach()
        s = torch.where(u > 0, torch.ones_like(u), torch.full_like(u, getattr(act, "negative_slope", 0.0)))
        M, Mabs = s.unsqueeze(2) * M, s.abs().unsqueeze(2) * Mabs
        h = act(u)
    return out


def test_rect_chain_sees_an_mlp_and_nothing_else():
    mlp, x = _mlp(6, (5, 4), 3, 0)
    assert rect_chain(linearize(mlp, x).engine) is not None
    cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, dtype=torch.float64), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(8, 3, dtype=torch.float64)).eval()
    assert rect_chain(linearize(cnn, torch.randn(2, 1, 4, 4, dtype=torch.float64)).engine) is None
    assert gram_pays(linearize(*_mlp(100, (8, 8), 3, 1)).engine, rect_chain(linearize(*_mlp(100, (8, 8), 3, 1)).engine))
    assert not gram_pays(linearize(*_mlp(4, (16, 16), 3, 1)).engine,
                         rect_chain(linearize(*_mlp(4, (16, 16), 3, 1)).engine))


@pytest.mark.parametrize("slope", [0.0, 0.1])
def test_the_gram_recursion_gives_the_unit_gradient_norms_of_the_identity_push(monkeypatch, slope):
    model, x = _mlp(40, (6, 5, 4), 3, 2, slope)
    lin = linearize(model, x)
    assert gram_pays(lin.engine, rect_chain(lin.engine))
    gram = lin._exact_norms
    monkeypatch.setattr(linmod, "gram_pays", lambda eng, chain: False)
    push = linearize(model, x)._exact_norms
    m = 40 + 6 + 5 + 4
    for g, p, (M, Mabs) in zip(gram, push, _pre_maps(model, x)):
        truth = M.square().sum(2)
        mag = Mabs.square().sum(2)
        bound = 4 * gamma(2 * m, U) * mag + 4 * (linmod.SAFETY - 1) * truth
        assert ((g.square() - p.square()).abs() <= bound).all()
        assert ((g.square() - truth).abs() <= bound).all()


def test_layer_grams_are_the_gram_matrices_of_the_layer_jacobians():
    for D, widths in ((30, (6, 5)), (3, (6, 5))):            # fewer outputs than inputs, and more
        model, x = _mlp(D, widths, 3, 3)
        lin = linearize(model, x)
        keep = torch.tensor([True, False, True, True, False, True, True])
        grams = lin.layer_grams(keep)
        jacs = [(name, J, E) for name, J, E in lin.layer_jacobians(bound=True)][:len(widths)]
        assert [g[0] for g in grams] == [j[0] for j in jacs]
        for (_, G, n), (_, J, _) in zip(grams, jacs):
            J = J[keep]
            small = J @ J.mT if J.shape[1] <= J.shape[2] else J.mT @ J
            mag = J.abs() @ J.abs().mT if J.shape[1] <= J.shape[2] else J.abs().mT @ J.abs()
            assert n == max(J.shape[1:]) and G.shape == small.shape
            assert ((G - small).abs() <= 2 * gamma(max(J.shape[1:]) + 2, U) * mag).all()
    cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, dtype=torch.float64), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(8, 3, dtype=torch.float64)).eval()
    lin = linearize(cnn, torch.randn(2, 1, 4, 4, dtype=torch.float64))
    assert lin.layer_grams(torch.ones(2, dtype=torch.bool)) is None


@pytest.mark.parametrize("bias", [True, False])
def test_mlp_parameter_gradient_norms_from_one_backward_are_the_per_example_gradients(bias):
    model, x = _mlp(9, (7, 5), 4, 4)
    if not bias:
        model[1].bias = None
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2])
    lins = measures._mlp_layers(model)
    assert lins is not None and len(lins) == 3
    fast = measures._linear_gradient_norms(model, lins, x, y)
    n_params = sum(p.numel() for p in model.parameters())
    for i in range(x.shape[0]):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
        ref = torch.sqrt(sum(p.grad.square().sum() for p in model.parameters()))
        # both sum the same non-negative squares (gamma_n relative each) of per-example gradients that the
        # batched and the single backward round differently: products of total inner dimension m = 25, taken
        # relative to the norm (an estimate where the gradient has no cancellation, not a worst-case bound)
        assert abs(fast[i] - ref) <= (2 * gamma(n_params, U) + 4 * gamma(25, U)) * ref
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 2), torch.nn.Flatten(), torch.nn.Linear(4, 2))
    assert measures._mlp_layers(conv) is None
