"""Exact derivatives of every unit along one input direction on an activation region
(:func:`unit_tangents`, and :func:`unit_tangents_columns` for several regions at once), with the fixed
direction they use (:func:`probe_direction`): how the kink decision tells a tie of two different affine
pieces from a tie of identical ones without pushing each unit back to the input
(:mod:`verify.numerics.kinks`).
"""

from __future__ import annotations

import flint

from .local_affine import local_map
from .network import AffineNode, Network, RectNode, SumNode

__all__ = ["unit_tangents", "unit_tangents_columns", "probe_direction"]


def probe_direction(n: int, seed: int = 20261207) -> flint.fmpq_mat:
    """A fixed input direction z (n x 1) of non-zero integers in [-2^20, 2^20], the same for every call with
    the same ``n`` and ``seed``: the direction along which :func:`unit_tangents` tells pieces apart."""
    import random

    rng = random.Random(seed * 1_000_003 + n)
    return flint.fmpq_mat(n, 1, [rng.choice((-1, 1)) * rng.randint(1, 2 ** 20) for _ in range(n)])


def unit_tangents(network: Network, pattern: dict, z: flint.fmpq_mat) -> list:
    """Per node of ``network``, the exact derivative of each of its units along the input direction ``z`` on
    the region of ``pattern``: the column M_k z (n_k x 1, fmpq), where row . x' + c is the unit's affine
    piece there (:func:`theory.local_affine.unit_pieces` gives row and c). One product per layer, for every unit at once.

    Two units whose tangents differ have different rows, hence different pieces (whatever z is); equal
    tangents prove nothing, and :func:`theory.local_affine.unit_pieces` decides those. This is how a tie of two different
    affine functions is told from a tie of identical ones without pushing each unit back to the input.

    >>> from theory.network import mlp
    >>> net = mlp([[[1, -1], [1, -1], [2, 0]], [[1, 1, 1]]])
    >>> t = unit_tangents(net, {"1:relu": (1, 1, 1)}, net.read_input([3, 5]))
    >>> t[1].entries()                       # rows (1, -1), (1, -1), (2, 0) times z = (3, 5)
    [-2, -2, 6]
    """
    return [flint.fmpq_mat(len(e), 1, e) for e in unit_tangents_columns(network, [pattern], z)[0]]


def unit_tangents_columns(network: Network, patterns: list, z: flint.fmpq_mat) -> list:
    """:func:`unit_tangents` for several patterns at once (one per point), along the same direction ``z``:
    per point, per node, the list of entries (not a matrix) of ``unit_tangents(network, pattern, z)``. The
    affine layers are one matrix product for all points."""
    B = len(patterns)
    if B == 0:
        return []
    cols = [z * flint.fmpq_mat(1, B, [1] * B)]
    for node in network.nodes[1:]:
        if isinstance(node, AffineNode):
            t = node.weight * cols[node.src]
        elif isinstance(node, SumNode):
            t = cols[node.srcs[0]] + cols[node.srcs[1]]
        elif isinstance(node, RectNode):
            d = [local_map(node, p) for p in patterns]
            u = cols[node.src].entries()
            t = flint.fmpq_mat(node.size, B, [u[k] * d[k % B][k // B] for k in range(len(u))])
        else:
            sel = [local_map(node, p) for p in patterns]
            u = cols[node.src].entries()
            t = flint.fmpq_mat(node.size, B, [u[sel[j][i] * B + j] for i in range(node.size) for j in range(B)])
        cols.append(t)
    per = [m.entries() for m in cols]
    return [[e[j::B] for e in per] for j in range(B)]
