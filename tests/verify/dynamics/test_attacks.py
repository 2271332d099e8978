"""Tests of verify.dynamics.attacks: PGD against exact answers, its ball and box, its draws, its restarts.

All randomness goes through explicit ``torch.Generator`` objects; models are built with ``skip_init`` and
filled from a generator, so torch's global generator is neither seeded nor read.
"""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import skip_init

from verify.dynamics.attacks import PGD, robust_accuracy

DTYPES = [torch.float32, torch.float64]
DT = {torch.float32: "f32", torch.float64: "f64"}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _linear(W: torch.Tensor, b: torch.Tensor) -> nn.Linear:
    lin = skip_init(nn.Linear, W.shape[1], W.shape[0], dtype=W.dtype)
    with torch.no_grad():
        lin.weight.copy_(W)
        lin.bias.copy_(b)
    return lin.eval()


def _mlp(D: int, H: int, K: int, dtype, gen: torch.Generator) -> nn.Sequential:
    m = nn.Sequential(skip_init(nn.Linear, D, H, dtype=dtype), nn.ReLU(), skip_init(nn.Linear, H, K, dtype=dtype))
    with torch.no_grad():
        for layer in (m[0], m[2]):
            fan_in = layer.weight.shape[1]
            w = torch.randn(layer.weight.shape, generator=gen, dtype=torch.float64)
            layer.weight.copy_(w * math.sqrt(2 / fan_in))
            layer.bias.zero_()
    return m


def _blobs(n: int, D: int, K: int, gen: torch.Generator, dtype):
    """K Gaussian blobs in the unit box, spread 0.12, centres uniform in [0.2, 0.8]^D."""
    centres = 0.2 + 0.6 * torch.rand((K, D), generator=gen, dtype=torch.float64)
    y = torch.arange(n) % K
    x = (centres[y] + 0.12 * torch.randn((n, D), generator=gen, dtype=torch.float64)).clamp(0, 1)
    return x.to(dtype), y


@pytest.fixture(scope="module")
def trained():
    """A 10-32-3 ReLU MLP trained for 150 full-batch Adam steps on three blobs (float32), with its data."""
    gen = _gen(2024)
    x, y = _blobs(120, 10, 3, gen, torch.float32)
    m = _mlp(10, 32, 3, torch.float32, gen)
    opt = torch.optim.Adam(m.parameters(), lr=0.02)
    for _ in range(150):
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        opt.step()
    opt.zero_grad(set_to_none=True)
    return m.eval(), x, y


def _correct(logits, y):
    fy = logits.gather(1, y[:, None]).squeeze(1)
    return fy > logits.scatter(1, y[:, None], float("-inf")).amax(1)


# -- exact answers on a linear binary classifier --------------------------------------------------------------


@pytest.mark.parametrize("random_start", [True, False], ids=["rand", "zero"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DT.get)
@pytest.mark.parametrize("norm", ["inf", "2"])
def test_linear_exact_radius(norm, dtype, random_start):
    """f(x) = W x + b with K = 2: the minimal perturbation is |margin| / ||w_1 - w_0||_q (q the dual norm:
    1 for l-inf, 2 for l2). At 1.05x that radius PGD flips the point; at 0.95x no point of the ball can.

    Steps: l-inf and the zero start need at most 8 of the default 10 (alpha = eps/4; 2 eps to cross). From a
    random start in l2 the rescaling projection turns delta towards the worst direction only geometrically,
    tan(angle) shrinking by alpha / (eps + alpha) per step on the sphere, about e^-2.5 in all under the
    default alpha = 2.5 eps / steps whatever the steps: in D = 6 the final cos can be 0.953, right at
    1/1.05 = 0.952. So the random-start l2 case runs 20 steps of eps/4 (5 eps of travel; cos > 0.999)."""
    gen = _gen(7)
    D = 6
    W = torch.randn((2, D), generator=gen, dtype=torch.float64).to(dtype)
    b = torch.randn((2,), generator=gen, dtype=torch.float64).to(dtype)
    model = _linear(W, b)
    xs = torch.randn((8, D), generator=gen, dtype=torch.float64).to(dtype)
    q = 1 if norm == "inf" else 2
    long_l2 = norm == "2" and random_start
    W64, b64 = W.double(), b.double()
    for i in range(xs.shape[0]):
        x = xs[i:i + 1]
        f = x.double() @ W64.T + b64
        y = f.argmax(1)
        margin = (f[0, y] - f[0, 1 - y]).abs().item()
        r = margin / torch.linalg.vector_norm(W64[1] - W64[0], ord=q).item()
        for factor, flips in ((1.05, True), (0.95, False)):
            eps = factor * r
            attack = PGD(eps=eps, norm=norm, steps=20 if long_l2 else 10, step_size=eps / 4 if long_l2 else None,
                         random_start=random_start, box=None)
            x_adv = attack.perturb(model, x, y, generator=_gen(100 + i))
            robust = attack.robust(model, x, y, generator=_gen(100 + i))
            wrong = model(x_adv).argmax(1).item() != y.item()
            assert wrong == flips, (f"point {i}: eps = {factor} x exact radius {r:.4g} ({norm}, {DT[dtype]}): "
                                    f"flipped={wrong}, expected {flips}")
            assert robust.tolist() == [not flips]


# -- the ball and the box -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=DT.get)
@pytest.mark.parametrize("norm,eps", [("inf", 0.1), ("2", 0.4)])
def test_stays_in_ball_and_box(norm, eps, dtype):
    """l-inf: max |x_adv - x0| <= eps + one ulp of |x0| + eps (the rounding of x0 + eps); l2:
    ||x_adv - x0|| <= eps (1 + 8u) + u sqrt(D) max(|x0| + eps) (the rescale, and rounding x0 + delta per
    coordinate). Always inside the box [0, 1], exactly. Also x_adv has x's shape, dtype and device."""
    gen = _gen(3)
    x, y = _blobs(64, 10, 3, gen, dtype)
    model = _mlp(10, 16, 3, dtype, gen).eval()
    attack = PGD(eps=eps, norm=norm, restarts=2)
    x_adv = attack.perturb(model, x, y, generator=_gen(11))
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and x_adv.device == x.device
    assert not x_adv.requires_grad
    u = torch.finfo(dtype).eps
    delta = x_adv.double() - x.double()
    scale = (x.double().abs().max() + eps).item()
    if norm == "inf":
        bound = eps + u * scale
        got = delta.abs().max().item()
    else:
        bound = eps * (1 + 8 * u) + u * math.sqrt(x.shape[1]) * scale
        got = torch.linalg.vector_norm(delta, dim=1).max().item()
        # the attack uses its budget: most points end on the sphere
        assert (torch.linalg.vector_norm(delta, dim=1) > 0.99 * eps).float().mean() > 0.5
    assert got <= bound, f"{norm}: ||delta|| = {got!r} > bound {bound!r} (eps {eps})"
    assert x_adv.min().item() >= 0.0 and x_adv.max().item() <= 1.0


def test_box_none_allows_points_outside_unit_box():
    gen = _gen(5)
    x = torch.randn((16, 4), generator=gen, dtype=torch.float64) * 3
    y = torch.zeros(16, dtype=torch.long)
    model = _mlp(4, 8, 2, torch.float64, gen).eval()
    x_adv = PGD(eps=0.5, box=None).perturb(model, x, y, generator=_gen(0))
    assert (x_adv - x).abs().max().item() <= 0.5 + 1e-12
    with pytest.raises(ValueError, match="box"):
        PGD(eps=0.5).perturb(model, x, y, generator=_gen(0))


# -- determinism and the draws --------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=DT.get)
@pytest.mark.parametrize("norm", ["inf", "2"])
def test_same_seed_same_points_different_seed_different_start(norm, dtype):
    gen = _gen(9)
    x, y = _blobs(32, 10, 3, gen, dtype)
    model = _mlp(10, 16, 3, dtype, gen).eval()
    attack = PGD(eps=0.2, norm=norm, restarts=2)
    a = attack.perturb(model, x, y, generator=_gen(1))
    b = attack.perturb(model, x, y, generator=_gen(1))
    assert torch.equal(a, b)
    # one tiny step: the result is the random start moved by at most 1e-3 eps, so it shows the start
    short = PGD(eps=0.2, norm=norm, steps=1, step_size=2e-4)
    s1, s2 = (short.perturb(model, x, y, generator=_gen(s)) for s in (1, 2))
    assert not torch.equal(s1, s2)
    assert (s1 - s2).abs().max().item() > 1e-2
    # and without a random start the seed does not matter, and nothing is drawn
    fixed = PGD(eps=0.2, norm=norm, random_start=False)
    g = _gen(1)
    state = g.get_state()
    f1 = fixed.perturb(model, x, y, generator=g)
    assert torch.equal(g.get_state(), state)
    assert torch.equal(f1, fixed.perturb(model, x, y, generator=_gen(2)))


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_restarts_are_consecutive_single_runs(norm, trained):
    """Restart r of an n-restart attack is the single-restart attack on the generator as the previous r runs
    left it; so robust(n restarts) = AND of the single runs, a subset of robust(1 restart) with the same seed,
    and perturb keeps a misclassified final point when a restart has one, else the highest loss."""
    model, x, y = trained
    eps = 0.08 if norm == "inf" else 0.3
    one, three = PGD(eps=eps, norm=norm, steps=5), PGD(eps=eps, norm=norm, steps=5, restarts=3)
    g = _gen(42)
    singles = [one.perturb(model, x, y, generator=g) for _ in range(3)]
    g = _gen(42)
    single_robust = [one.robust(model, x, y, generator=g) for _ in range(3)]
    x3 = three.perturb(model, x, y, generator=_gen(42))
    r3 = three.robust(model, x, y, generator=_gen(42))
    clean_ok = _correct(model(x), y)
    with torch.no_grad():
        outs = [model(s) for s in singles]
    wrongs = torch.stack([~_correct(o, y) for o in outs])            # (3, B)
    losses = torch.stack([F.cross_entropy(o, y, reduction="none") for o in outs])
    assert torch.equal(single_robust[0], clean_ok & ~wrongs[0])
    assert torch.equal(r3, single_robust[0] & single_robust[1] & single_robust[2])
    assert torch.equal(r3, clean_ok & ~wrongs.any(0))
    assert bool((r3 <= single_robust[0]).all())                      # subset of the one-restart robust set
    # the restarts differ (else this test would not test the selection)
    assert not torch.equal(singles[0], singles[1])
    with torch.no_grad():
        out3 = model(x3)
    wrong3, loss3 = ~_correct(out3, y), F.cross_entropy(out3, y, reduction="none")
    for i in range(x.shape[0]):
        match = [r for r in range(3) if torch.equal(x3[i], singles[r][i])]
        assert match, f"example {i}: x_adv is none of the restarts' final points"
        if wrongs[:, i].any():
            assert wrong3[i] and loss3[i] == losses[wrongs[:, i], i].max()
        else:
            assert loss3[i] == losses[:, i].max()


def test_more_restarts_never_raise_robust_accuracy(trained):
    model, x, y = trained
    for seed in range(3):
        accs = [robust_accuracy(model, x, y, PGD(eps=0.06, steps=5, restarts=n), generator=_gen(seed))
                for n in (1, 2, 4)]
        assert accs[0] >= accs[1] >= accs[2], f"seed {seed}: robust accuracy by restarts 1, 2, 4: {accs}"


# -- eps = 0, gradients, mode ---------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_eps_zero_returns_x_and_clean_correctness(norm, trained):
    model, x, y = trained
    attack = PGD(eps=0, norm=norm, restarts=3)
    g = _gen(0)
    state = g.get_state()
    x_adv = attack.perturb(model, x, y, generator=g)
    assert torch.equal(x_adv, x) and x_adv.dtype == x.dtype
    assert torch.equal(attack.robust(model, x, y, generator=g), _correct(model(x), y))
    assert torch.equal(g.get_state(), state), "eps = 0 drew from the generator"
    assert attack.to_dict()["step_size"] == 0.0
    clean = _correct(model(x), y).double().mean().item()
    assert robust_accuracy(model, x, y, attack, generator=g) == clean
    # a tie (f_0 = f_1) is not a correct classification
    tie = _linear(torch.zeros((2, 2), dtype=torch.float64), torch.zeros(2, dtype=torch.float64))
    xt = torch.full((1, 2), 0.5, dtype=torch.float64)
    assert attack.robust(tie, xt, torch.tensor([0]), generator=g).tolist() == [False]


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_no_parameter_gradients_and_mode_kept(mode, trained):
    model, x, y = trained
    model.train(mode == "train")
    try:
        xr = x.clone().requires_grad_(True)
        attack = PGD(eps=0.05, norm="2", restarts=2)
        attack.perturb(model, xr, y, generator=_gen(0))
        attack.robust(model, xr, y, generator=_gen(0))
        robust_accuracy(model, xr, y, attack, generator=_gen(0), batch_size=50)
        with torch.no_grad():                                      # works inside an outer no_grad too
            x_adv = PGD(eps=0.05).perturb(model, x, y, generator=_gen(0))
        assert not torch.equal(x_adv, x)
        assert all(p.grad is None for p in model.parameters()), "PGD left .grad on the model's parameters"
        assert xr.grad is None
        assert all(m.training == (mode == "train") for m in model.modules())
    finally:
        model.eval()


# -- robust accuracy ------------------------------------------------------------------------------------------


def test_robust_accuracy_batches(trained):
    model, x, y = trained
    attack = PGD(eps=0.05, steps=5)
    whole = robust_accuracy(model, x, y, attack, generator=_gen(3))
    assert whole == attack.robust(model, x, y, generator=_gen(3)).double().mean().item()
    g = _gen(3)
    manual = torch.cat([attack.robust(model, x[i:i + 50], y[i:i + 50], generator=g) for i in range(0, 120, 50)])
    assert robust_accuracy(model, x, y, attack, generator=_gen(3), batch_size=50) == manual.double().mean().item()
    with pytest.raises(ValueError, match="batch_size"):
        robust_accuracy(model, x, y, attack, generator=_gen(3), batch_size=0)


@pytest.mark.parametrize("norm,grid", [("inf", [0.0, 0.02, 0.05, 0.1, 0.2, 0.4]),
                                       ("2", [0.0, 0.1, 0.2, 0.4, 0.8, 1.5])])
def test_robust_accuracy_decreases_with_eps(norm, grid, trained):
    """On the trained MLP: robust accuracy at eps = 0 is the clean accuracy, it does not increase along the
    grid, and the largest eps takes most of it away."""
    model, x, y = trained
    clean = _correct(model(x), y).double().mean().item()
    assert clean > 0.8, f"the MLP did not train (clean accuracy {clean})"
    accs = [robust_accuracy(model, x, y, PGD(eps=e, norm=norm), generator=_gen(0)) for e in grid]
    assert accs[0] == clean
    assert all(a >= b for a, b in zip(accs, accs[1:])), f"{norm}: robust accuracy over eps {grid}: {accs}"
    assert accs[-1] < 0.5 * clean, f"{norm}: eps {grid[-1]} leaves {accs[-1]} of clean {clean}"


def test_to_dict_records_the_settings():
    d = PGD(eps=0.1, norm="2", steps=4, restarts=2, box=(0, 1)).to_dict()
    assert d == {"attack": "pgd", "norm": "2", "eps": 0.1, "steps": 4, "step_size": 2.5 * 0.1 / 4,
                 "restarts": 2, "random_start": True, "box": [0.0, 1.0]}
    assert PGD(eps=0.1, step_size=0.03, box=None).to_dict()["step_size"] == 0.03
    assert PGD(eps=0.1, box=None).to_dict()["box"] is None


# -- bad arguments --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs,name", [
    ({"eps": -0.1}, "eps"), ({"eps": float("nan")}, "eps"), ({"eps": float("inf")}, "eps"), ({"eps": "0.1"}, "eps"),
    ({"eps": 0.1, "steps": 0}, "steps"), ({"eps": 0.1, "steps": 2.5}, "steps"),
    ({"eps": 0.1, "restarts": 0}, "restarts"), ({"eps": 0.1, "norm": "1"}, "norm"), ({"eps": 0.1, "norm": 2}, "norm"),
    ({"eps": 0.1, "step_size": 0.0}, "step_size"), ({"eps": 0.1, "step_size": -1.0}, "step_size"),
    ({"eps": 0.1, "box": (1.0, 0.0)}, "box"), ({"eps": 0.1, "box": (0.0,)}, "box"),
    ({"eps": 0.1, "random_start": 1}, "random_start"),
])
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        PGD(**kwargs)


def test_bad_inputs(trained):
    model, x, y = trained
    attack = PGD(eps=0.1)
    with pytest.raises(ValueError, match=r"^y: expected shape \(120,\)"):
        attack.perturb(model, x, y[:-1], generator=_gen(0))
    with pytest.raises(ValueError, match=r"^y: expected shape \(119,\)"):
        robust_accuracy(model, x[:-1], y, attack, generator=_gen(0))
    with pytest.raises(ValueError, match=r"^y: expected labels in \[0, 3\)"):
        attack.robust(model, x, torch.full_like(y, 3), generator=_gen(0))
    with pytest.raises(ValueError, match=r"^y: expected an integer dtype"):
        attack.robust(model, x, y.float(), generator=_gen(0))
    with pytest.raises(ValueError, match=r"^x: expected finite"):
        attack.robust(model, torch.full_like(x, float("nan")), y, generator=_gen(0))
    with pytest.raises(TypeError, match=r"^x: expected the model's dtype"):
        attack.robust(model, x.double(), y, generator=_gen(0))
    with pytest.raises(TypeError, match="generator"):
        attack.robust(model, x, y, generator=0)


# -- CUDA -----------------------------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=DT.get)
@pytest.mark.parametrize("norm", ["inf", "2"])
def test_cuda_with_cpu_generator(norm, dtype):
    """A CPU generator serves a CUDA x; the points are on x's device, in the ball, deterministic, and the
    random starts are those of the CPU run (drawn on the CPU in x's dtype)."""
    gen = _gen(1)
    x, y = _blobs(32, 10, 3, gen, dtype)
    model = _mlp(10, 16, 3, dtype, gen).eval()
    xc, yc, mc = x.cuda(), y.cuda(), copy.deepcopy(model).cuda()
    attack = PGD(eps=0.1, norm=norm, restarts=2)
    a = attack.perturb(mc, xc, yc, generator=_gen(5))
    assert a.device == xc.device and a.dtype == dtype
    assert torch.equal(a, attack.perturb(mc, xc, yc, generator=_gen(5)))
    delta = (a - xc).double()
    size = delta.abs().max() if norm == "inf" else torch.linalg.vector_norm(delta, dim=1).max()
    assert size.item() <= 0.1 * (1 + 1e-5)
    assert a.min().item() >= 0.0 and a.max().item() <= 1.0
    short = PGD(eps=0.1, norm=norm, steps=1, step_size=1e-8)
    cpu_start = short.perturb(model, x, y, generator=_gen(6))
    cuda_start = short.perturb(mc, xc, yc, generator=_gen(6)).cpu()
    assert (cpu_start - cuda_start).abs().max().item() < 1e-6
    cg = torch.Generator(device="cuda").manual_seed(5)
    b = attack.perturb(mc, xc, yc, generator=cg)
    assert b.device == xc.device
    assert torch.equal(b, attack.perturb(mc, xc, yc, generator=torch.Generator(device="cuda").manual_seed(5)))
