"""The masked-product R-JAC and R-CL (verify.dynamics.penalties) against their definitions, value and weight
gradient, within the derived rounding bound; the training option that uses them; the training benchmark.

Every tolerance is penalties.agreement_bound's: gamma_N times the absolute trees of the two computations.
"""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn as nn

from verify.dynamics import penalties as P
from verify.dynamics.train import Objective, build_model, train_step
from verify.errors import UnsupportedLayerError
from verify.numerics.bounds import unit_roundoff
from verify.regularizers.definitions import unchecked as R

DEFINITIONS = {"jac": R.jacobian, "cl": R.cross_lipschitz}


def _leaky_mlp(seed=0):
    g = torch.Generator().manual_seed(seed)
    m = nn.Sequential(nn.Linear(7, 9), nn.LeakyReLU(0.1), nn.Linear(9, 6), nn.LeakyReLU(0.1), nn.Linear(6, 3))
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    return m.double()


NETS = {
    "mlp-10x12x9x4-relu": lambda: (build_model("mlp12x9", (10,), 4, 1), (10,)),
    "mlp-7x9x6x3-leaky0.1": lambda: (_leaky_mlp(), (7,)),
    "cnn-2x8x8-c2xc3-relu-maxpool": lambda: (build_model("cnn2x3", (2, 8, 8), 4, 1), (2, 8, 8)),
}


def _grads(value, model):
    params = list(model.parameters())
    gs = torch.autograd.grad(value, params, allow_unused=True)
    return {p: torch.zeros_like(p) if g is None else g for p, g in zip(params, gs)}


def _both(model, x, reg):
    """(definition, masked product) batch means, each with its weight gradients."""
    d = DEFINITIONS[reg](model, x, create_graph=True).mean()
    c = getattr(P, P.PENALTIES[reg])(model, x).mean()
    return (d.detach(), _grads(d, model)), (c.detach(), _grads(c, model))


@pytest.mark.claim("cross-lipschitz-centered-jacobian")
@pytest.mark.parametrize("reg", ["jac", "cl"])
@pytest.mark.parametrize("net", list(NETS))
def test_masked_product_equals_the_definition_value_and_weight_gradient_within_the_bound(net, reg):
    model, shape = NETS[net]()
    x = torch.randn((6,) + shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    (d, gd), (c, gc) = _both(model, x, reg)
    vb, gb = P.agreement_bound(model, x, reg)
    assert 0 < vb < 1e-9 * abs(float(d)), (vb, float(d))           # the bound is informative: far below the value
    assert abs(float(d) - float(c)) <= vb, (float(d), float(c), vb)
    for p in model.parameters():
        gap = (gd[p] - gc[p]).abs()
        assert bool((gap <= gb[p]).all()), (tuple(p.shape), float(gap.max()), float(gb[p].max()))
        assert float(gb[p].max()) < 1e-9 * max(float(gd[p].abs().max()), 1e-300) or not bool(gd[p].any())


@pytest.mark.parametrize("reg", ["jac", "cl"])
def test_the_bound_sees_a_wrong_penalty(reg):
    """A closed form off by one part in a million, or R-CL without its centring, is outside the bound."""
    model, shape = NETS["mlp-10x12x9x4-relu"]()
    x = torch.randn((6,) + shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    (d, gd), (c, gc) = _both(model, x, reg)
    vb, gb = P.agreement_bound(model, x, reg)
    assert abs(float(d) - float(c) * (1 + 1e-6)) > vb
    w = model[1].weight
    assert bool(((gd[w] - gc[w] * (1 + 1e-6)).abs() > gb[w]).any())
    if reg == "cl":
        K = 4
        uncentred = (2 * K * P.jacobian_penalty(model, x)).mean().detach()   # drops -2 ||J^T 1||^2
        assert abs(float(d) - float(uncentred)) > vb


def test_the_benchmarks_torch_func_penalty_is_the_definition_within_the_bound():
    """torch.func's vmap(jacrev) evaluates the same products as the definition's K backward passes."""
    from verify.bench.training import _torch_func

    model, shape = NETS["mlp-7x9x6x3-leaky0.1"]()
    x = torch.randn((5,) + shape, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    vb, _ = P.agreement_bound(model, x, "jac")
    tf = float(_torch_func(model, Objective("jac"), x, None).detach())
    assert abs(tf - float(R.jacobian(model, x).mean())) <= vb


def test_at_a_kink_both_take_the_slope_a_as_torch_does():
    """Pre-activations exactly 0 (x = 0, no biases): both computations use s'(0) = a, torch's subgradient."""
    model = _leaky_mlp()
    with torch.no_grad():
        for mod in model:
            if isinstance(mod, nn.Linear):
                mod.bias.zero_()
    x = torch.zeros(2, 7, dtype=torch.float64)
    (d, _), (c, _) = _both(model, x, "jac")
    vb, _ = P.agreement_bound(model, x, "jac")
    assert abs(float(d) - float(c)) <= vb
    W = [m.weight for m in model if isinstance(m, nn.Linear)]
    J = W[2] @ (0.1 * W[1]) @ (0.1 * W[0])                           # every mask is a = 0.1
    assert math.isclose(float(c), float(J.detach().square().sum()), rel_tol=1e-12)


def test_masked_jacobian_and_its_magnitude():
    model, shape = NETS["cnn-2x8x8-c2xc3-relu-maxpool"]()
    x = torch.randn((3,) + shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    J = P.masked_jacobian(model, x)
    ref = R.logit_jacobian(model, x)
    assert J.shape == (3, 4, 128) and torch.allclose(J, ref, rtol=0, atol=1e-13)
    M = P.masked_jacobian(model, x, magnitude=True)
    assert bool((M >= J.abs() - 1e-15).all()) and bool((M > J.abs()).any())


def test_unsupported_layers_and_bad_input_are_named():
    with pytest.raises(UnsupportedLayerError, match="does not support Tanh"):
        P.jacobian_penalty(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double(),
                           torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(UnsupportedLayerError, match="reads an nn.Sequential"):
        P.jacobian_penalty(nn.Linear(3, 2), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"expected a non-empty batch of shape \(B, \*in_shape\), got \(0, 3\)"):
        P.cross_lipschitz_penalty(nn.Sequential(nn.Linear(3, 2)), torch.zeros(0, 3))
    with pytest.raises(ValueError, match="reg must be one of jac, cl, got 'ig'"):
        P.agreement_bound(nn.Sequential(nn.Linear(3, 2)).double(), torch.zeros(2, 3, dtype=torch.float64), "ig")


# ---- the training option ------------------------------------------------------------------------------

def _step_grads(model, obj, x, y):
    opt = torch.optim.SGD(model.parameters(), lr=0.0)                   # lr 0: the step leaves the gradients
    loss, _ = train_step(model, opt, obj, x, y)
    return loss, {p: p.grad.clone() for p in model.parameters()}


@pytest.mark.parametrize("reg", ["jac", "cl"])
def test_the_training_option_gives_the_definitions_loss_and_weight_gradient_within_the_bound(reg):
    """loss = CE + lam R: the two steps differ by lam |dR| plus the roundings of lam * R and of the sum (one
    each per side); the gradients likewise, with the gradient bound."""
    model = build_model("mlp12x9", (10,), 4, 2)
    x = torch.randn(6, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    lam = 0.37
    a = Objective(reg, lam=lam)
    b = Objective(reg, lam=lam, method="closed-form")
    la, ga = _step_grads(build_model("mlp12x9", (10,), 4, 2), a, x, y)      # three copies of the same network
    lb, gb = _step_grads(build_model("mlp12x9", (10,), 4, 2), b, x, y)
    vb, gbound = P.agreement_bound(model, x, reg)
    u = unit_roundoff(torch.float64)
    assert abs(float(la) - float(lb)) <= lam * vb * (1 + u) ** 2 + 2 * u * (abs(float(la)) + abs(float(lb)))
    for p, g1, g2 in zip(model.parameters(), ga.values(), gb.values()):
        bound = lam * gbound[p] * (1 + u) ** 2 + 2 * u * (g1.abs() + g2.abs())
        assert bool(((g1 - g2).abs() <= bound).all()), (tuple(p.shape), float((g1 - g2).abs().max()))
        assert not torch.equal(g1, torch.zeros_like(g1)) or p.dim() == 1
    assert a.id.endswith(")") and b.id == a.id[:-1] + ",closed-form)" and b.family == a.family


def test_the_option_is_recorded_only_when_used_and_is_checked():
    d = Objective("jac", lam=0.1)
    c = Objective("jac", lam=0.1, method="closed-form")
    assert "method" not in d.to_dict() and c.to_dict()["method"] == "closed-form"
    assert Objective.from_dict(c.to_dict()) == c and Objective.from_dict(d.to_dict()) == d
    with pytest.raises(ValueError, match="method must be one of definition, closed-form, got 'fast'"):
        Objective("jac", method="fast")
    with pytest.raises(ValueError, match="computes the jac and cl penalties only, got reg='ig'"):
        Objective("ig", method="closed-form")
    cnn = build_model("cnn2x3", (2, 8, 8), 4, 0)
    x, y = torch.randn(2, 2, 8, 8, dtype=torch.float64), torch.tensor([0, 1])
    opt = torch.optim.SGD(cnn.parameters(), lr=0.0)
    with pytest.raises(ValueError, match="not offered here: on CNNs the masked product of R-JAC is slower"):
        train_step(cnn, opt, Objective("jac", lam=0.1, method="closed-form"), x, y)
    train_step(cnn, opt, Objective("cl", lam=0.1, method="closed-form"), x, y)   # offered: R-CL on CNNs


# ---- the benchmark ----------------------------------------------------------------------------------------

def test_training_benchmark_quick_prints_every_objectives_ratios(capsys, tmp_path):
    from verify import bench
    from verify.bench.training import variants
    from verify.dynamics.settings import settings_for

    out = tmp_path / "t.json"
    assert bench.main(["--training", "--quick", "--threads", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"verify.bench --training: torch {torch.__version__}, CPU, 1 threads, float32, batch 8")
    tables = text.split("\n\n")[1:3]
    assert text.rstrip().endswith(f"wrote {out}") and tables[0].startswith("MLP 784-256-256-10") and tables[1].startswith("CNN 3x32x32")
    for table, (data, arch, shape) in zip(tables, [("mnist", "mlp256x256", (784,)),
                                                     ("cifar10", "cnn16x32", (3, 32, 32))]):
        labels = [lab for lab, _, _ in variants(settings_for(data), build_model(arch, shape, 10, 0))]
        assert len(labels) == 12
        for lab in labels:
            line = next((ln for ln in table.splitlines() if ln.startswith(lab + " ")), None)
            assert line is not None, (lab, table)
            assert len(re.findall(r"\d+\.\d\dx", line)) >= 2, line              # time and memory ratios to ce
        for reg in ("jac", "cl"):
            line = next(ln for ln in table.splitlines() if ln.startswith(f"ce+{reg}: closed form"))
            v, g = re.search(r"value ([0-9.e+-]+), weight gradient ([0-9.e+-]+)", line).groups()
            assert float(v) <= 1 and float(g) <= 1, line
    assert '"results"' in out.read_text()


@pytest.mark.parametrize("argv, message", [
    (["--training", "--nets", "mlp,rnn"], "expected a comma-separated list of mlp, cnn"),
    (["--training", "--repeats", "0"], "--repeats must be at least 1"),
    (["--training", "--batch", "0"], "--batch must be at least 1"),
])
def test_training_benchmark_usage_errors(capsys, argv, message):
    from verify import bench

    with pytest.raises(SystemExit) as exc:
        bench.main(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err
