"""Rigorous rounding-error bounds for a float evaluation of an exact network, computed exactly.

A float network is itself exact (its weights are dyadic rationals), so the only difference between
torch's float forward pass or Jacobian and the exact values of :mod:`theory.region` is rounding.
With unit roundoff u (2^-53 for float64, 2^-24 for float32) and gamma_n = n u / (1 - n u) (Higham,
*Accuracy and Stability of Numerical Algorithms*, Lemma 3.1), any float inner product of length n
satisfies |fl(w^T v) - w^T v| <= gamma_n |w|^T |v|, whatever the summation order or use of FMA.

Forward pass (running error bound e, propagated layer by layer, with |v~| <= |v| + e):

- affine y = W v + b:  e_y = |W| e_v + gamma_{n+1} (|W| (|v| + e_v) + |b|), n = the row's nonzeros;
- rectifier: e_y = max(1, |a|) e_v + u |a| (|v| + e_v) (the float slope may differ from the exact one
  by a relative u, which the term also covers);
- max: e_y = max over the group of e_v (max is 1-Lipschitz in the sup norm, and exact in float);
- sum: e_y = e_1 + e_2 + u (|v_1| + e_1 + |v_2| + e_2).

BatchNorm layers are evaluated by torch from running statistics rather than from the folded scale
and shift: the float scale differs from the fold by up to about 8 roundings, and the float shift
beta - mu * scale is computed with an error relative to |beta| + |mu * scale| (which may be far larger
than |shift| when the two cancel). They get gamma_{n+1+11} instead of gamma_{n+1}, and the node's
``bias_terms`` (|beta| + |mu * scale|) are added to |b| = |shift| when the description records them.

Jacobian: the float Jacobian of the same activation pattern is a product of the layer matrices;
with m = the sum of the inner dimensions plus 6 per layer, |J_float - J| <= gamma_m |A_L| ... |A_1|
entrywise (the first-order product bound, since (1 + gamma_a)(1 + gamma_b) <= 1 + gamma_{a+b}).
It holds only when the float pass selects the same pattern, i.e. away from kinks by more than the
forward bound of the pre-activations.

>>> from theory.network import mlp
>>> net = mlp([[[1, -1], [1, 1]], [[2, 3]]], [[0, -1], [0]])
>>> e = forward_error_bound(net, [3, 1], unit_roundoff("float64"))
>>> 0 < float(e[0]) / 13 < 1e-15   # f(x) = 13, bound a few u relative
True
"""

from __future__ import annotations

from typing import Any

import flint

from .network import AffineNode, MaxNode, Network, RectNode

__all__ = ["unit_roundoff", "gamma", "forward_error_bound", "preactivation_error_bounds",
           "jacobian_magnitude", "jacobian_error_bound", "jacobian_error_count"]

_U = {"float64": flint.fmpq(1, 2 ** 53), "float32": flint.fmpq(1, 2 ** 24), "bfloat16": flint.fmpq(1, 2 ** 8),
      "float16": flint.fmpq(1, 2 ** 11)}


def unit_roundoff(dtype: Any) -> flint.fmpq:
    """The unit roundoff u of a float dtype (a name like "float32", or a torch/numpy dtype)."""
    name = str(dtype).replace("torch.", "")
    try:
        return _U[name]
    except KeyError:
        raise ValueError(f"unit_roundoff: unknown float dtype {dtype!r}; known: {', '.join(_U)}") from None


def gamma(n: int, u: flint.fmpq) -> flint.fmpq:
    """gamma_n = n u / (1 - n u), exactly; requires n u < 1."""
    nu = n * u
    if nu >= 1:
        raise ValueError(f"gamma_{n} is undefined for u = {u}: n u >= 1")
    return nu / (1 - nu)


def _abs(m: flint.fmpq_mat) -> flint.fmpq_mat:
    return flint.fmpq_mat(m.nrows(), m.ncols(), [abs(e) for e in m.entries()])


def _is_batchnorm(node: AffineNode) -> bool:
    return node.kind == "BatchNorm"


def _row_lengths(W: flint.fmpq_mat) -> list[int]:
    c = W.ncols()
    e = W.entries()
    return [sum(1 for v in e[i * c:(i + 1) * c] if v != 0) for i in range(W.nrows())]


def _forward(network: Network, x: Any, u: flint.fmpq):
    xv = network.read_input(x)
    vals = network.values(xv)
    errs = [flint.fmpq_mat(network.n_in, 1)]
    one = flint.fmpq(1)
    for k, node in enumerate(network.nodes[1:], 1):
        if isinstance(node, AffineNode):
            src, e = vals[node.src], errs[node.src]
            Wa = _abs(node.weight)
            mag = Wa * (_abs(src) + e)
            if node.bias is not None:
                mag = mag + _abs(node.bias)
            if node.bias_terms is not None:
                mag = mag + node.bias_terms
            extra = 12 if _is_batchnorm(node) else 1
            g = [gamma(n + extra, u) for n in _row_lengths(node.weight)]
            prop = (Wa * e).entries()
            new = [p + gi * mi for p, gi, mi in zip(prop, g, mag.entries())]
        elif isinstance(node, RectNode):
            v, e = vals[node.src].entries(), errs[node.src].entries()
            new = [max(one, abs(a)) * ei + u * abs(a) * (abs(vi) + ei) for vi, ei, a in zip(v, e, node.slopes)]
        elif isinstance(node, MaxNode):
            e = errs[node.src].entries()
            new = [max(e[i] for i in g) for g in node.groups]
        else:
            (v1, v2), (e1, e2) = (vals[s].entries() for s in node.srcs), (errs[s].entries() for s in node.srcs)
            new = [a + b + u * (abs(p) + a + abs(q) + b) for p, q, a, b in zip(v1, v2, e1, e2)]
        errs.append(flint.fmpq_mat(len(new), 1, new))
    return vals, errs


def forward_error_bound(network: Network, x: Any, u: flint.fmpq) -> list:
    """Per logit, a bound on |fl(f(x)) - f(x)| for a float pass with unit roundoff u (exact fmpq)."""
    _, errs = _forward(network, x, u)
    return errs[network.output].entries()


def preactivation_error_bounds(network: Network, x: Any, u: flint.fmpq) -> dict:
    """Per rectifier or max layer name: the bound on the float error of each of its inputs."""
    _, errs = _forward(network, x, u)
    return {node.name: errs[node.src].entries() for node in network.nodes[1:]
            if isinstance(node, (RectNode, MaxNode))}


def jacobian_error_count(network: Network) -> int:
    """m in gamma_m: the sum of the inner dimensions of the product plus 6 per node."""
    m = 0
    for node in network.nodes[1:]:
        if isinstance(node, AffineNode):
            m += max(_row_lengths(node.weight) or [0]) + 6
        else:
            m += 6
    return m


def jacobian_magnitude(region) -> flint.fmpq_mat:
    """|A_L| ... |A_1|: the layer product of the region's Jacobian taken with absolute values."""
    return region._backward(absolute=True)


def jacobian_error_bound(region, u: flint.fmpq) -> flint.fmpq_mat:
    """Entrywise bound on |J_float - J| for a float Jacobian of the same pattern: gamma_m |A_L|...|A_1|."""
    g = gamma(jacobian_error_count(region.network), u)
    mag = jacobian_magnitude(region)
    return flint.fmpq_mat(mag.nrows(), mag.ncols(), [g * e for e in mag.entries()])
