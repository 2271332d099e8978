"""Exact instances for the proofs: rational draws, exact spectral bounds, and the small network.

The symbolic proofs in :mod:`theory.proofs` decide identities for general sizes; the helpers here give
the exact rational instances that check inequalities (with their slack) and the small rectified network
(Linear, sigma_a, Linear, maxout, Linear) on which the region claims are proved pattern by pattern.
Everything is seeded by the caller's ``random.Random``; nothing here is a float.

>>> import random
>>> net = tiny_network(K=3, rng=random.Random(0))
>>> x = sp.Matrix([sp.Rational(1, 3), sp.Rational(-2, 7)])
>>> pat = network_pattern(net, sp.Rational(1, 10), x)
>>> J, b, _ = network_affine(net, sp.Rational(1, 10), pat)
>>> network_forward(net, sp.Rational(1, 10), x) == J * x + b
True
"""

from __future__ import annotations

import sympy as sp

__all__ = [
    "lambda_max_geq", "lambda_max_interval", "lambda_max_slack", "round_down", "random_rational",
    "random_simplex", "tiny_network", "network_forward", "network_autodiff", "network_pattern", "network_affine",
]


# ------------------------------------------------------------------------------ exact spectral bounds
def _charpoly(M: sp.Matrix) -> sp.Poly:
    lam = sp.Symbol("lambda")
    return sp.Poly(M.charpoly(lam).as_expr(), lam, domain=sp.QQ)


def lambda_max_geq(M: sp.Matrix, t) -> bool:
    """Exactly decide ``lambda_max(M) >= t`` for a symmetric rational matrix (Sturm root count).

    >>> M = sp.Matrix([[2, 1], [1, 2]])
    >>> lambda_max_geq(M, 3), lambda_max_geq(M, 3 + sp.Rational(1, 10**9))
    (True, False)
    """
    return _charpoly(M).count_roots(sp.Rational(t), None) > 0


def lambda_max_interval(M: sp.Matrix, eps=sp.Rational(1, 10**12)) -> tuple[sp.Rational, sp.Rational]:
    """Rational ``(lo, hi)`` with ``lo <= lambda_max(M) <= hi`` and ``hi - lo <= eps`` (symmetric rational M)."""
    (lo, hi), _ = _charpoly(M).intervals(eps=sp.Rational(eps))[-1]
    return sp.Rational(lo), sp.Rational(hi)


def lambda_max_slack(M: sp.Matrix, t, above: bool) -> sp.Rational | None:
    """A rational lower bound on the slack of ``lambda_max(M) <= t`` (``above=False``) or of
    ``lambda_max(M) >= t`` (``above=True``), decided exactly; ``None`` when the inequality is false.

    The sign is decided by a Sturm count; the value comes from an isolating interval (width 1e-12). An
    inequality that holds with equality, or too tightly for the interval, reports 0.
    """
    P, t = _charpoly(M), sp.Rational(t)
    strictly_above = P.count_roots(t, None) - (1 if P.eval(t) == 0 else 0)
    holds = (P.count_roots(t, None) > 0) if above else (strictly_above == 0)
    if not holds:
        return None
    lo, hi = lambda_max_interval(M)
    return max(sp.S.Zero, round_down((lo - t) if above else (t - hi)))


def round_down(value, grid: int = 10**6) -> sp.Rational:
    """The largest multiple of ``1/grid`` that is ``<= value``: a short rational lower bound.

    >>> round_down(sp.Rational(2, 3))
    333333/500000
    """
    return sp.Rational(sp.floor(sp.Rational(value) * grid), grid)


# --------------------------------------------------------------------- random exact instances (seeded)
def random_rational(rng, num: int = 9, den: int = 4) -> sp.Rational:
    """A rational ``n / d`` with ``|n| <= num`` and ``1 <= d <= den``, drawn from ``rng``."""
    return sp.Rational(rng.randint(-num, num), rng.randint(1, den))


def random_simplex(rng, K: int) -> list[sp.Rational]:
    """A strictly positive rational probability vector; about one draw in three is nearly one-hot."""
    weights = [rng.randint(1, 20) for _ in range(K)]
    if rng.randint(0, 2) == 0:
        weights[rng.randrange(K)] = 1000
    total = sum(weights)
    return [sp.Rational(w, total) for w in weights]


# ------------------------------------------------------------------- the small network of the proofs
def tiny_network(K: int = 2, bias: bool = True, rng=None) -> dict:
    """Layers of Linear(2, 3), sigma_a, Linear(3, 4), maxout over pairs, Linear(2, K).

    Symbolic entries when ``rng`` is None, otherwise random rationals; biases are 0 when ``bias`` is False.
    """
    shapes = {"V1": (3, 2), "c1": (3, 1), "V2": (4, 3), "c2": (4, 1), "V3": (K, 2), "c3": (K, 1)}
    net = {}
    for name, (r, c) in shapes.items():
        if name.startswith("c") and not bias:
            net[name] = sp.zeros(r, c)
        elif rng is None:
            net[name] = sp.Matrix(r, c, lambda i, j, n=name: sp.Symbol(f"{n.lower()}_{i + 1}{j + 1}"))
        else:
            net[name] = sp.Matrix(r, c, lambda i, j: random_rational(rng))
    return net


def network_forward(net: dict, a, x: sp.Matrix, pattern=None) -> sp.Matrix:
    """The logits. Without ``pattern``: the true function, with ``Max``/``Min``. With a pattern
    ``(signs, winners)``: the branch each unit takes on that activation region."""
    u1 = net["V1"] * x + net["c1"]
    if pattern is None:
        h1 = u1.applyfunc(lambda u: sp.Max(u, 0) + a * sp.Min(u, 0))
    else:
        h1 = sp.Matrix([u if s > 0 else a * u for u, s in zip(u1, pattern[0])])
    u2 = net["V2"] * h1 + net["c2"]
    if pattern is None:
        h2 = sp.Matrix([sp.Max(u2[0], u2[1]), sp.Max(u2[2], u2[3])])
    else:
        h2 = sp.Matrix([u2[2 * g + w] for g, w in enumerate(pattern[1])])
    return net["V3"] * h2 + net["c3"]


def network_autodiff(net: dict, a, x0: sp.Matrix) -> sp.Matrix:
    """The Jacobian at a rational point by the chain rule over the units, each unit's derivative taken by
    sympy ``diff`` of its ``Max``/``Min`` definition (``Heaviside`` at the unit's numeric input)."""
    v, w = sp.Symbol("v", real=True), sp.Symbol("w", real=True)
    d_sigma = sp.diff(sp.Max(v, 0) + a * sp.Min(v, 0), v)
    d_max = (sp.diff(sp.Max(v, w), v), sp.diff(sp.Max(v, w), w))
    u1 = net["V1"] * x0 + net["c1"]
    h1 = u1.applyfunc(lambda u: sp.Max(u, 0) + a * sp.Min(u, 0))
    u2 = net["V2"] * h1 + net["c2"]
    jac1 = sp.diag(*[d_sigma.subs(v, u) for u in u1]) * net["V1"]
    sel = sp.zeros(2, 4)
    for g in range(2):
        at = {v: u2[2 * g], w: u2[2 * g + 1]}
        sel[g, 2 * g], sel[g, 2 * g + 1] = d_max[0].subs(at), d_max[1].subs(at)
    return net["V3"] * sel * net["V2"] * jac1


def network_pattern(net: dict, a, x0: sp.Matrix):
    """The activation pattern ``(signs, winners)`` at a rational point; ``None`` on a kink."""
    u1 = net["V1"] * x0 + net["c1"]
    if any(u == 0 for u in u1):
        return None
    signs = tuple(1 if u > 0 else -1 for u in u1)
    h1 = sp.Matrix([u if u > 0 else a * u for u in u1])
    u2 = net["V2"] * h1 + net["c2"]
    if u2[0] == u2[1] or u2[2] == u2[3]:
        return None
    return signs, (0 if u2[0] > u2[1] else 1, 0 if u2[2] > u2[3] else 1)


def network_affine(net: dict, a, pattern) -> tuple[sp.Matrix, sp.Matrix, list[sp.Matrix]]:
    """``(J, b, [J_1, J_2, J_3])`` on a region: J_1 = diag(lambda) V_1, J_2 = S V_2, J_3 = V_3."""
    lam = sp.diag(*[1 if s > 0 else a for s in pattern[0]])
    sel = sp.zeros(2, 4)
    for g, w in enumerate(pattern[1]):
        sel[g, 2 * g + w] = 1
    layers = [lam * net["V1"], sel * net["V2"], net["V3"]]
    b = net["V3"] * (sel * (net["V2"] * (lam * net["c1"]) + net["c2"])) + net["c3"]
    return layers[2] * layers[1] * layers[0], b, layers
