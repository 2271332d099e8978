"""Helpers shared by several verify test modules (plain functions and constants; the shared fixtures are in
conftest.py): the float-vs-exact check of a linearization (test_linearize, test_engine_gpu), a drawn batch
(test_checkers, test_kinks), and the sweep's table patterns and the small user model (test_sweep_cli,
test_cli_errors)."""

from __future__ import annotations

import dataclasses
import math
import random
import re
import warnings

import torch
import torch.nn as nn

from theory import KinkError, from_torch
from theory import linearize as exact_linearize
from theory.exact import matrix
from theory.rounding import forward_error_bound, jacobian_error_bound, unit_roundoff
from verify.jobs.networks import NetSpec, draw_inputs, draw_spec
from verify.numerics.graph import gamma
from verify.results.records import read_results

try:
    from tests.theory.strategies import REPORT
except ImportError:  # pragma: no cover
    REPORT = {}


# ---- the float linearization against the exact engine (test_linearize, test_engine_gpu) -------------------
def small_spec(seed: int, arch: str, variant: str | None = None, side: int = 5) -> NetSpec:
    """A quick NetSpec from an integer seed, with images cut to at most 2 x side x side and 4 channels
    (the exact engine is slow on big convolutions); ``variant`` pins an edge case: K = 2, ReLU (a = 0)
    or abs (a = -1), leaky (a = 0.3) or PReLU."""
    spec = draw_spec(random.Random(seed), size="quick", arch=arch)
    if len(spec.in_shape) == 3:
        c, h, w = spec.in_shape
        spec = dataclasses.replace(spec, in_shape=(min(c, 2), min(h, side), min(w, side)),
                                   widths=tuple(min(v, 4) for v in spec.widths[:2]))
    if variant == "K2":
        spec = dataclasses.replace(spec, K=2)
    elif variant in ("relu", "abs", "prelu"):
        spec = dataclasses.replace(spec, activation=variant, slope=None)
    elif variant == "leaky":
        spec = dataclasses.replace(spec, activation="leaky", slope=0.3)
    return spec


def q(t: torch.Tensor) -> list:
    """The exact rationals of a float tensor's entries (row-major)."""
    return matrix(t.detach().cpu().reshape(-1, 1)).entries()


def _report(key, value, label, seed):
    if isinstance(REPORT, dict) and hasattr(REPORT, "default_factory"):
        REPORT[key].append((float(value), label, seed))


def check_against_exact(model, spec: NetSpec, x: torch.Tensor, lin, seed: int = 0) -> int:
    """Every float-vs-exact check of one batch; returns the number of interior points checked."""
    net = from_torch(model, spec.in_shape)
    u = unit_roundoff(str(lin.dtype).replace("torch.", ""))
    checked, worst = 0, 0.0
    for i in range(x.shape[0]):
        try:
            r = exact_linearize(net, x[i].cpu())
        except KinkError:
            assert bool(lin.on_kink[i]), f"point {i} lies on an exact kink that the float pass did not flag"
            assert lin.kink_distance[i].item() == 0.0
            continue
        if bool(lin.on_kink[i]):
            continue  # ambiguous in this precision: no claim about J
        checked += 1
        assert {k: tuple(v) for k, v in r.pattern.items()} == \
               {k: tuple(v[i].tolist()) for k, v in lin.pattern.items()}, "pattern differs away from kinks"
        Jf, Je, bd = q(lin.jacobian[i]), r.jacobian_fmpq.entries(), q(lin.jacobian_bound[i])
        for a, b, c in zip(Jf, Je, bd):
            assert abs(a - b) <= c, f"|J_float - J_exact| = {float(abs(a - b)):.3e} > bound {float(c):.3e}"
            if c > 0:
                worst = max(worst, float(abs(a - b) / c))
        tb = jacobian_error_bound(r, u).entries()
        assert all(c >= t for c, t in zip(bd, tb)), "the float Jacobian bound is below theory's"
        fe = forward_error_bound(net, x[i].cpu(), u)
        lf, le, lb = q(lin.logits[i]), r._vals[net.output].entries(), q(lin.logits_bound[i])
        for a, b, c, t in zip(lf, le, lb, fe):
            assert abs(a - b) <= c, f"|logit_float - logit_exact| = {float(abs(a - b)):.3e} > bound {float(c):.3e}"
            assert c >= t, "the float forward bound is below theory's"
        kd = lin.kink_distance[i].item()
        r2 = r.boundary_distance_squared()
        if r2.is_finite:
            # float(r2) and the sqrt each round once (float64): 2 roundings
            assert kd <= math.sqrt(float(r2)) * (1 + gamma(2, 2.0 ** -53)), "kink_distance must be a lower bound on r(x)"
    _report(f"verify.linearize J error/bound {str(lin.dtype)[6:]} {lin.device.type}", worst, spec.id, seed)
    return checked


def _jacrev(model, x):
    """torch.func's Jacobian per example. Not vmapped for PReLU: in torch 2.13 vmap(jacrev) through
    PReLU raises a size mismatch when B != K and silently returns wrong Jacobians when B == K."""
    f = lambda xx: model(xx.unsqueeze(0))[0]
    if any(isinstance(mod, torch.nn.PReLU) for mod in model.modules()):
        return torch.stack([torch.func.jacrev(f)(xi) for xi in x])
    return torch.func.vmap(torch.func.jacrev(f))(x)


# ---- a drawn network and batch (test_checkers, test_kinks) ------------------------------------------------
def batch(seed: int, arch: str, dtype, n: int = 12, kinks: float = 0.25):
    spec = draw_spec(random.Random(seed), size="quick", arch=arch)
    model = spec.build(dtype=dtype)
    gen = torch.Generator().manual_seed(seed)
    x, y = draw_inputs(model, spec, n, generator=gen, near_kink_fraction=kinks)
    return spec, model, x, y, gen


# ---- the sweep's table and a small user model (test_sweep_cli, test_cli_errors) ----------------------------
HEADER = re.compile(r"^claim\s+tag\s+networks\s+points\s+max rel gap\s+max gap/bound\s+informative\s+kinks\s+"
                    r"excluded\s+crossings\s+status\s*$", re.M)


def _row(claim: str, status: str) -> re.Pattern:
    """A table row: claim, tag, networks, points, max rel gap, max gap/bound, informative, kinks, excluded,
    crossings, status."""
    return re.compile(rf"^{re.escape(claim)}\s+\S+\s+(\d+)\s+(\d+)\s+\S+\s+\S+\s+\d+/\d+\s+\d+\s+\d+\s+\d+\s+"
                      rf"{status}\s*$", re.M)


def _quiet_read(path):
    """read_results, asserting it issues no warning (every line complete)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return read_results(path)


def _mlp(act: nn.Module | None = None) -> nn.Sequential:
    gen = torch.Generator().manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 6), act or nn.ReLU(), nn.Linear(6, 3)).to(torch.float64).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
    return model
