"""The activation region of a point as an object, :class:`Region` (made by :func:`theory.region.linearize`):
the exact local affine map f = J x' + b on it (claim ``local-affine``), its half-spaces, the exit time along
a direction, the distance to its boundary and the per-layer Jacobians, with the python-flint row and column
operations that compute them.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import flint
import sympy

from .exact import to_domain_matrix, to_sympy, to_sympy_matrix, vector
from .network import AffineNode, Network, RectNode, SumNode

__all__ = ["Region", "unit_pieces", "local_map"]


def _scale_rows(m: flint.fmpq_mat, d) -> flint.fmpq_mat:
    r, c = m.nrows(), m.ncols()
    e = m.entries()
    return flint.fmpq_mat(r, c, [e[i * c + j] * d[i] for i in range(r) for j in range(c)])


def _scale_cols(m: flint.fmpq_mat, d) -> flint.fmpq_mat:
    r, c = m.nrows(), m.ncols()
    e = m.entries()
    return flint.fmpq_mat(r, c, [e[i * c + j] * d[j] for i in range(r) for j in range(c)])


def _rows(m: flint.fmpq_mat, idx) -> flint.fmpq_mat:
    c = m.ncols()
    e = m.entries()
    return flint.fmpq_mat(len(idx), c, [e[i * c + j] for i in idx for j in range(c)])


def _scatter_cols(m: flint.fmpq_mat, idx, n: int) -> flint.fmpq_mat:
    """m @ S where S (len(idx) x n) has S[j, idx[j]] = 1."""
    r, c = m.nrows(), m.ncols()
    e = m.entries()
    out = [flint.fmpq(0)] * (r * n)
    for j, col in enumerate(idx):
        for i in range(r):
            out[i * n + col] += e[i * c + j]
    return flint.fmpq_mat(r, n, out)


def local_map(node, pattern):
    """The local linear map of a nonlinear node under the pattern: per unit a scaling (rectifier) or the
    selected source index (max)."""
    p = pattern[node.name]
    if isinstance(node, RectNode):
        return [flint.fmpq(1) if s > 0 else a for s, a in zip(p, node.slopes)]
    return [g[i] for g, i in zip(node.groups, p)]


def _push_back(net: Network, pattern: dict, start: int, R: flint.fmpq_mat, absolute: bool = False) -> flint.fmpq_mat:
    """R A_start ... A_1 under ``pattern``: the rows of R (one column per unit of node ``start``) pushed back
    to the input; ``absolute``: the same product of the entrywise absolute values of the layer maps."""
    mag = (lambda m: flint.fmpq_mat(m.nrows(), m.ncols(), [abs(e) for e in m.entries()])) if absolute \
        else (lambda m: m)
    adj: dict[int, flint.fmpq_mat] = {start: R}
    for k in range(start, 0, -1):
        if k not in adj:
            continue
        node, a = net.nodes[k], adj.pop(k)
        if isinstance(node, SumNode):
            contribs = [(s, a) for s in node.srcs]
        elif isinstance(node, AffineNode):
            contribs = [(node.src, a * mag(node.weight))]
        elif isinstance(node, RectNode):
            d = local_map(node, pattern)
            contribs = [(node.src, _scale_cols(a, [abs(v) for v in d] if absolute else d))]
        else:
            contribs = [(node.src, _scatter_cols(a, local_map(node, pattern), net.nodes[node.src].size))]
        for s, m in contribs:
            adj[s] = adj[s] + m if s in adj else m
    return adj[0] if 0 in adj else flint.fmpq_mat(R.nrows(), net.n_in)


def unit_pieces(network: Network, x: flint.fmpq_mat, vals: list, pattern: dict, node: int, units) -> list:
    """The exact affine pieces of the given units of node ``node`` (an index into ``network.nodes``) on the
    region of ``pattern`` at x: per unit ``(row, bias)``, the tuple of its input gradient entries and the
    constant, so that the unit's value is ``row . x' + bias`` for x' on the region (both fmpq, exact).

    ``vals`` are the exact node values at x (:meth:`Network.values`). Two units have identical pieces
    when both tuples are equal; a unit is constant on the region when its row is all zero.

    >>> from theory.network import mlp
    >>> net = mlp([[[1, -1], [1, -1]], [[1, 1]]])        # two identical hidden units
    >>> xv = net.read_input([2, 1]); vals = net.values(xv)
    >>> unit_pieces(net, xv, vals, {"1:relu": (1, 1)}, 1, [0, 1])
    [((1, -1), 0), ((1, -1), 0)]
    """
    units = list(units)
    n = network.nodes[node].size
    sel = flint.fmpq_mat(len(units), n, [int(j == u) for u in units for j in range(n)])
    M = _push_back(network, pattern, node, sel)
    D = M.ncols()
    Me, v, xe = M.entries(), vals[node].entries(), x.entries()
    out = []
    for r, u in enumerate(units):
        row = tuple(Me[r * D:(r + 1) * D])
        out.append((row, v[u] - sum((a * b for a, b in zip(row, xe)), flint.fmpq(0))))
    return out


class Region:
    """The activation region of a point, with its exact local affine map.

    Attributes ``pattern`` (per nonlinear layer: signs of a rectifier's pre-activations, or the
    argmax position within each max unit's group), ``jacobian`` (K x D) and ``bias`` (K x 1) as sympy
    Matrices of Rationals, ``logits`` f(x), and ``kinks`` (the (layer, unit) pairs on which x lies,
    non-empty only for regions returned by ``on_kink="all"``), and ``constant_ties``: units where x
    sits on a tie of identical affine functions (a dead ReLU's zero, a max over dead units), which
    are not kinks: every choice gives the same map, and the first is taken.
    """

    def __init__(self, network: Network, x: flint.fmpq_mat, vals: list, pattern: dict, kinks: list):
        self.network = network
        self._x = x
        self._vals = vals
        self.pattern = pattern
        self.kinks = list(kinks)
        self.constant_ties: list = []
        self._J = self._backward()
        f = vals[network.output]
        self._b = f - self._J * x

    # ---- the local affine map ------------------------------------------------------------
    def _local(self, node, k):
        """The local linear map of a nonlinear node under the pattern: scaling or selection."""
        return local_map(node, self.pattern)

    def _backward(self, absolute: bool = False) -> flint.fmpq_mat:
        """The layer product A_L ... A_1 pushed back from the output (K rows): J; with ``absolute``,
        the same product of the entrywise absolute values |A_L| ... |A_1| (for rounding bounds)."""
        net = self.network
        K = net.n_out
        eye = flint.fmpq_mat(K, K, [int(i == j) for i in range(K) for j in range(K)])
        return _push_back(net, self.pattern, net.output, eye, absolute)

    @property
    def x(self) -> sympy.Matrix:
        return to_sympy_matrix(self._x)

    @cached_property
    def jacobian(self) -> sympy.Matrix:
        """J (K x D): the Jacobian of the logits on the region."""
        return to_sympy_matrix(self._J)

    @cached_property
    def bias(self) -> sympy.Matrix:
        """b (K x 1): f(x') = J x' + b on the region."""
        return to_sympy_matrix(self._b)

    @property
    def jacobian_qq(self):
        """J as a sympy ``DomainMatrix`` over QQ (flint-backed, fast exact arithmetic)."""
        return to_domain_matrix(self._J)

    @property
    def jacobian_fmpq(self) -> flint.fmpq_mat:
        return self._J

    @property
    def bias_fmpq(self) -> flint.fmpq_mat:
        return self._b

    @property
    def logits(self) -> sympy.Matrix:
        return to_sympy_matrix(self._vals[self.network.output])

    def affine(self, x: Any) -> sympy.Matrix:
        """J x' + b at any x' (exact); equals f(x') when x' is in the (closed) region."""
        return to_sympy_matrix(self._J * self.network.read_input(x) + self._b)

    # ---- the region as half-spaces -------------------------------------------------------
    @cached_property
    def _halfspaces(self) -> tuple[flint.fmpq_mat, flint.fmpq_mat, list]:
        return self._forward_maps[1]

    @cached_property
    def _forward_maps(self):
        """Per node, the affine map (M, c) from the input to the node's value under the pattern;
        and the half-spaces (A, c, labels) collected on the way."""
        net = self.network
        D = net.n_in
        maps: list = [(flint.fmpq_mat(D, D, [int(i == j) for i in range(D) for j in range(D)]), flint.fmpq_mat(D, 1))]
        A_rows, c_rows, labels = [], [], []
        for k, node in enumerate(net.nodes[1:], 1):
            if isinstance(node, AffineNode):
                M, c = maps[node.src]
                if node.src == 0:  # the input's map is the identity: skip the D x D product
                    M2, c2 = node.weight, flint.fmpq_mat(node.size, 1)
                else:
                    M2, c2 = node.weight * M, node.weight * c
                if node.bias is not None:
                    c2 = c2 + node.bias
            elif isinstance(node, SumNode):
                (M, c), (N, e) = maps[node.srcs[0]], maps[node.srcs[1]]
                M2, c2 = M + N, c + e
            elif isinstance(node, RectNode):
                M, c = maps[node.src]
                signs = self.pattern[node.name]
                # s_i (M_i x' + c_i) >= 0  <=>  -s_i M_i x' <= s_i c_i
                neg = [flint.fmpq(-s) for s in signs]
                A_rows.append(_scale_rows(M, neg))
                c_rows.append(_scale_rows(c, [flint.fmpq(s) for s in signs]))
                labels += [(node.name, i) for i in range(node.size)]
                d = self._local(node, k)
                M2, c2 = _scale_rows(M, d), _scale_rows(c, d)
            else:
                M, c = maps[node.src]
                win = self._local(node, k)
                Me, ce = M.entries(), c.entries()
                rows, rhs = [], []
                for j, (g, w) in enumerate(zip(node.groups, win)):
                    for i in g:
                        if i == w:
                            continue
                        # u_i <= u_w  <=>  (M_i - M_w) x' <= c_w - c_i
                        rows += [Me[i * D + t] - Me[w * D + t] for t in range(D)]
                        rhs.append(ce[w] - ce[i])
                        labels.append((node.name, j, i))
                A_rows.append(flint.fmpq_mat(len(rhs), D, rows))
                c_rows.append(flint.fmpq_mat(len(rhs), 1, rhs))
                M2, c2 = _rows(M, win), _rows(c, win)
            maps.append((M2, c2))
        A = [e for m in A_rows for e in m.entries()]
        c = [e for m in c_rows for e in m.entries()]
        return maps, (flint.fmpq_mat(len(c), D, A), flint.fmpq_mat(len(c), 1, c), labels)

    def _constant_tie(self, node_index: int, unit: int) -> bool:
        """Whether a kinked unit is only a tie of identical affine functions on the region: a zero
        pre-activation whose map is identically 0, or a tied max whose tied inputs have the same map
        (their exact pieces, :func:`unit_pieces`, are equal). Such a unit does not make the network
        non-differentiable, and the choice does not matter."""
        net = self.network
        node = net.nodes[node_index]
        if isinstance(node, RectNode):
            (row, c), = unit_pieces(net, self._x, self._vals, self.pattern, node.src, [unit])
            return not any(row) and c == 0
        u = self._vals[node.src].entries()
        g = node.groups[unit]
        m = max(u[i] for i in g)
        tied = unit_pieces(net, self._x, self._vals, self.pattern, node.src, [i for i in g if u[i] == m])
        return all(t == tied[0] for t in tied)

    @property
    def halfspaces(self) -> tuple[sympy.Matrix, sympy.Matrix]:
        """(A, c) with R(x) = {x' : A x' <= c} (closed), one row per unit or max competitor."""
        A, c, _ = self._halfspaces
        return to_sympy_matrix(A), to_sympy_matrix(c)

    @property
    def halfspace_labels(self) -> list:
        """Per row of ``halfspaces``: (layer, unit) or (layer, max unit, competitor)."""
        return self._halfspaces[2]

    def slacks(self, x: Any = None) -> list:
        """c - A x' per half-space (exact, fmpq): >= 0 inside the closed region."""
        A, c, _ = self._halfspaces
        xv = self._x if x is None else self.network.read_input(x)
        return (c - A * xv).entries()

    def contains(self, x: Any, strict: bool = False) -> bool:
        """Whether x' lies in the closed region (``strict``: in its interior, all slacks > 0).

        Half-spaces whose normal is zero (a unit constant on the region) never bind."""
        A, c, _ = self._halfspaces
        D = A.ncols()
        Ae = A.entries()
        for i, s in enumerate(self.slacks(x)):
            if s < 0 or (strict and s == 0 and any(Ae[i * D: (i + 1) * D])):
                return False
        return True

    def exit_time(self, z: Any):
        """The exact t* with x + t z in the region for 0 <= t < t* (``sympy.oo`` if it never exits).

        t* = min over half-spaces whose value decreases along z of slack_i / (-slope_i).
        """
        A, c, _ = self._halfspaces
        zv = vector(z if not hasattr(z, "shape") else z, self.network.n_in, what="direction z")
        rate = (A * zv).entries()
        best = None
        for s, r in zip(self.slacks(), rate):
            if r > 0:
                t = s / r
                best = t if best is None or t < best else best
        return sympy.oo if best is None else to_sympy(best)

    def boundary_distance_squared(self) -> sympy.Rational:
        """r(x)^2 = min_i slack_i^2 / |a_i|^2, the squared l2 distance to the region boundary."""
        A, c, _ = self._halfspaces
        D = A.ncols()
        Ae = A.entries()
        best = None
        for i, s in enumerate(self.slacks()):
            n2 = sum((a * a for a in Ae[i * D: (i + 1) * D]), flint.fmpq(0))
            if n2 == 0:
                continue
            d2 = s * s / n2
            best = d2 if best is None or d2 < best else best
        return sympy.oo if best is None else to_sympy(best)

    def boundary_distance(self) -> sympy.Expr:
        """r(x), the exact l2 distance to the region boundary, as a sympy expression (a square root)."""
        return sympy.sqrt(self.boundary_distance_squared())

    # ---- per-layer Jacobians ---------------------------------------------------------------
    def layer_jacobians(self) -> list[tuple[str, sympy.Matrix]]:
        """Per nonlinear layer l, J_l = Lambda_l V_l: the layer's local map times the affine maps
        since the previous nonlinear layer; the last entry is the affine head. For a network
        without residual additions, J = J_L ... J_1.
        """
        net = self.network
        if any(isinstance(n, SumNode) for n in net.nodes):
            raise ValueError("layer_jacobians is defined for networks without residual additions")
        out, acc, name = [], None, None
        for k, node in enumerate(net.nodes[1:], 1):
            if isinstance(node, AffineNode):
                acc = node.weight if acc is None else node.weight * acc
                name = node.name
                continue
            n_src = net.nodes[node.src].size
            if acc is None:
                acc = flint.fmpq_mat(n_src, n_src, [int(i == j) for i in range(n_src) for j in range(n_src)])
            loc = self._local(node, k)
            acc = _scale_rows(acc, loc) if isinstance(node, RectNode) else _rows(acc, loc)
            out.append((node.name, to_sympy_matrix(acc)))
            acc = None
        if acc is not None:
            out.append((name, to_sympy_matrix(acc)))
        return out
