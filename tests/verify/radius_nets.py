"""Small random MLPs for the exact-radius tests (test_robust, test_bab, test_l2_miqp, test_l2_bab): Gaussian
weights from a seed, biases of half the weights' scale, one activation throughout; the l2 methods' shared cases
(``CASES``, ``corner_network``, ``integer_mlp``) and their agreement check with the oracle (``agrees``, TOL as
in test_l2_miqp's docstring)."""

from __future__ import annotations

import pytest
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


TOL = 2e-6


def agrees(r, truth):
    assert r.status == "optimal", (r.status, r.notes)
    assert r.witness_check["float"] and r.witness_check["exact"], r.witness_check
    assert truth <= r.upper * (1 + 1e-12), (truth, r.upper)
    assert r.lower <= truth * (1 + TOL) + 1e-12, (r.lower, truth)
    assert abs(r.radius - truth) <= TOL * truth + 1e-12, (r.radius, truth)


CASES = [  # (D, hidden, K, activation, seed, domain): at most 8 hidden units for the enumeration
    pytest.param(2, (6,), 3, "relu", 11, None, id="mlp2-6-3-relu"),
    pytest.param(3, (4, 4), 3, "leaky", 12, None, id="mlp3-4x4-3-leaky"),
    pytest.param(8, (5,), 3, "relu", 13, None, id="mlp8-5-3-relu"),
    pytest.param(5, (3, 3), 2, "leaky", 14, None, id="mlp5-3x3-2-leaky"),
    pytest.param(4, (6,), 4, "relu", 15, (-1.0, 1.0), id="mlp4-6-4-relu-box"),
]


def corner_network(a=1.0, b=1.0, c=2.0):
    """f_0 = c, f_1 = relu(x0 - a) + relu(x1 - b): class 1 needs relu(x0 - a) + relu(x1 - b) >= c. From x = 0
    (with a = b = 1, c = 2) the candidates are (a + c, 0) and (0, b + c) at distance 3 with one unit on, and
    (2, 2) at distance 2 sqrt(2) with both on: the segment from x to it crosses the vertex (1, 1), where both
    units change sign at once."""
    l1, head = torch.nn.Linear(2, 2, dtype=torch.float64), torch.nn.Linear(2, 2, dtype=torch.float64)
    with torch.no_grad():
        l1.weight.copy_(torch.eye(2, dtype=torch.float64))
        l1.bias.copy_(torch.tensor([-a, -b], dtype=torch.float64))
        head.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64))
        head.bias.copy_(torch.tensor([c, 0.0], dtype=torch.float64))
    return torch.nn.Sequential(l1, torch.nn.ReLU(), head).eval()


def integer_mlp(seed, D=2, hidden=(3, 2), K=2):
    """Weights and biases in {-1, 0, 1}: many units share hyperplanes or meet at lattice vertices, and x sits
    on the lattice too, so nearest points often lie where several units change sign at once."""
    g = torch.Generator().manual_seed(seed)
    model = random_mlp(D, hidden, K, "relu", seed)
    with torch.no_grad():
        for mod in model:
            if isinstance(mod, torch.nn.Linear):
                mod.weight.copy_(torch.randint(-1, 2, mod.weight.shape, generator=g).double())
                mod.bias.copy_(torch.randint(-1, 2, mod.bias.shape, generator=g).double())
    return model


def far_class_network():
    """Class 1 wins only where relu(x0) >= 3 (f_0 = 3, f_1 = relu(x0)): beyond the domain [-1, 1]^2, at l2
    distance 3 from the origin."""
    lin = torch.nn.Linear(2, 2, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=torch.float64))
        lin.bias.copy_(torch.tensor([3.0, 0.0], dtype=torch.float64))
    model = torch.nn.Sequential(lin, torch.nn.ReLU(), torch.nn.Linear(2, 2, dtype=torch.float64)).eval()
    with torch.no_grad():
        model[2].weight.copy_(torch.eye(2, dtype=torch.float64))
        model[2].bias.zero_()
    return model
