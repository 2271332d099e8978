"""Small random MLPs for the exact-radius tests (test_robust, test_bab): Gaussian weights from a seed, biases
of half the weights' scale, one activation throughout."""

from __future__ import annotations

import torch

from verify.modules import Abs


def random_mlp(D, hidden, K, act, seed, dtype=torch.float64):
    """A D-hidden...-K MLP with activation ``act`` ("relu", "leaky": slope 0.1, "abs"), in eval mode, in ``dtype``."""
    g = torch.Generator().manual_seed(seed)
    layers, dims = [], (D,) + tuple(hidden)
    for i, o in zip(dims[:-1], dims[1:]):
        lin = torch.nn.Linear(i, o, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(o, i, generator=g, dtype=torch.float64))
            lin.bias.copy_(torch.randn(o, generator=g, dtype=torch.float64) * 0.5)
        layers += [lin, {"relu": torch.nn.ReLU(), "leaky": torch.nn.LeakyReLU(0.1), "abs": Abs()}[act]]
    head = torch.nn.Linear(dims[-1], K, dtype=torch.float64)
    with torch.no_grad():
        head.weight.copy_(torch.randn(K, dims[-1], generator=g, dtype=torch.float64))
        head.bias.copy_(torch.randn(K, generator=g, dtype=torch.float64))
    return torch.nn.Sequential(*layers, head).to(dtype).eval()
