"""A piecewise-linear network in float64 NumPy, read from the exact network: the solvers' view of it.

:func:`plnet` turns a :class:`theory.network.Network` (built from a torch model by
:func:`theory.torch_bridge.from_torch`, or given directly) into the same node DAG with float64 arrays:
affine ``v = W u + b``, rectifier ``sigma_a`` (one slope per unit), max over index groups, and sums.
Every float32 or float64 weight is a dyadic rational that float64 holds exactly, so this is the *same*
network as the exact one (folded eval BatchNorm is float64 there too); only the solvers' arithmetic is
float.

What the solvers need from it:

- :meth:`PLNet.forward`: every node's value at a batch of points, and the activation pattern (signs
  +1 / -1 of the rectifiers' pre-activations, u <= 0 counting as -1; argmax positions of the max units,
  the first of equal maxima), as in :mod:`theory.region`;
- :meth:`PLNet.region`: for a pattern, the affine map of every node on its region and the region's
  half-spaces {z : A z <= c} (one row per rectifier unit, one per competitor of a max unit), with the
  logits' J and b;
- :meth:`PLNet.bounds`: bounds l <= v <= h of every node over a box of inputs, by interval arithmetic
  and, tighter, by linear bounds propagated back to the input (each rectifier relaxed by its chord and
  a line through the origin, each max by its best lower input and its upper bound; the CROWN / DeepPoly
  form, here written from the math), intersected.

>>> from theory.network import mlp
>>> net = plnet(mlp([[[1, -1], [1, 1]], [[2, 3]]], [[0, -1], [0]]))
>>> vals, pat = net.forward(np.array([[3.0, 1.0]]))
>>> vals[net.output].tolist(), [p.tolist() for p in pat.values()]
([[13.0]], [[[1, 1]]])
>>> lo, hi = net.bounds(np.array([-1.0, -1.0]), np.array([1.0, 1.0]))   # f ranges over [0, 4] there
>>> float(lo[net.output][0]) <= 0 and 4 <= float(hi[net.output][0]) < 7    # 7: interval arithmetic alone
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["PLNet", "PLNode", "plnet", "Region"]


def _floats(m) -> np.ndarray:
    """An fmpq_mat as a float64 array (each entry p / q correctly rounded: exact for dyadic rationals)."""
    r, c = m.nrows(), m.ncols()
    return np.array([int(q.p) / int(q.q) for q in m.entries()], dtype=np.float64).reshape(r, c)


@dataclass(eq=False)
class PLNode:
    """One node: ``kind`` in input, affine, rect, max, sum; ``src`` its source node(s)."""

    kind: str
    name: str
    src: tuple
    size: int
    W: np.ndarray | None = None       # affine (n, n_src)
    b: np.ndarray | None = None       # affine (n,)
    a: np.ndarray | None = None       # rect: the slope of each unit (n,)
    G: np.ndarray | None = None       # max: (n, g) source indices, padded with the group's first index
    valid: np.ndarray | None = None   # max: (n, g) which entries of G are real


@dataclass
class Region:
    """A pattern's region: {z : A z <= c}, with per row the (node, unit, competitor) it comes from
    (competitor -1 for a rectifier unit), and the logits' affine map f(z) = J z + b on it."""

    A: np.ndarray
    c: np.ndarray
    rows: list
    J: np.ndarray
    b: np.ndarray
    maps: dict = field(repr=False, default_factory=dict)   # node -> (M, m): value = M z + m


class PLNet:
    """The float64 DAG of an exact network (see the module docstring)."""

    def __init__(self, nodes: list, output: int, in_shape: tuple, name: str = "network"):
        self.nodes, self.output, self.in_shape, self.name = nodes, output, tuple(in_shape), name
        self.D, self.K = nodes[0].size, nodes[output].size
        self.nonlinear = [k for k, n in enumerate(nodes) if n.kind in ("rect", "max")]
        self.n_units = sum(nodes[k].size for k in self.nonlinear if nodes[k].kind == "rect")

    def __repr__(self):
        return f"PLNet({self.name!r}, D={self.D}, K={self.K}, units={self.n_units})"

    # ---- evaluation ------------------------------------------------------------------------------
    def forward(self, Z: np.ndarray):
        """(values per node (B, n), pattern: {node index: (B, n) int8 signs or argmax positions})."""
        Z = np.atleast_2d(np.asarray(Z, dtype=np.float64))
        vals, pat = [Z], {}
        for k, n in enumerate(self.nodes[1:], 1):
            v = vals[n.src[0]]
            if n.kind == "affine":
                y = v @ n.W.T + n.b
            elif n.kind == "rect":
                pat[k] = np.where(v > 0, 1, -1).astype(np.int8)
                y = np.where(v > 0, v, n.a * v)
            elif n.kind == "max":
                g = np.where(n.valid, v[:, n.G], -np.inf)
                pos = g.argmax(axis=2)
                pat[k] = pos
                y = np.take_along_axis(g, pos[:, :, None], 2)[:, :, 0]
            else:
                y = vals[n.src[0]] + vals[n.src[1]]
            vals.append(y)
        return vals, pat

    def logits(self, Z: np.ndarray) -> np.ndarray:
        return self.forward(Z)[0][self.output]

    def pattern_at(self, z: np.ndarray) -> dict:
        """The pattern of one point, as {node: (n,) array}."""
        _, pat = self.forward(z[None])
        return {k: p[0] for k, p in pat.items()}

    # ---- a pattern's region ------------------------------------------------------------------------
    def region(self, pattern: dict) -> Region:
        """The affine maps of every node under ``pattern`` and the half-spaces of its region."""
        D = self.D
        maps = {0: (None, np.zeros(D))}               # None: the identity, never multiplied out
        A_rows, c_rows, rows = [], [], []
        for k, n in enumerate(self.nodes[1:], 1):
            M, m = maps[n.src[0]]
            if n.kind == "affine":
                maps[k] = (n.W.copy() if M is None else n.W @ M, n.W @ m + n.b)
                continue
            if M is None:
                M = np.eye(D)
            if n.kind == "sum":
                M2, m2 = maps[n.src[1]]
                maps[k] = (M + (np.eye(D) if M2 is None else M2), m + m2)
                continue
            if n.kind == "rect":
                s = pattern[k].astype(np.float64)
                A_rows.append(-s[:, None] * M)          # s (M z + m) >= 0  <=>  -s M z <= s m
                c_rows.append(s * m)
                rows += [(k, i, -1) for i in range(n.size)]
                d = np.where(s > 0, 1.0, n.a)
                maps[k] = (d[:, None] * M, d * m)
            else:
                win = n.G[np.arange(n.size), pattern[k]]
                for j in range(n.size):
                    for q in range(n.G.shape[1]):
                        i = n.G[j, q]
                        if not n.valid[j, q] or q == pattern[k][j]:
                            continue
                        A_rows.append((M[i] - M[win[j]])[None])  # u_i <= u_win
                        c_rows.append(np.array([m[win[j]] - m[i]]))
                        rows.append((k, j, q))
                maps[k] = (M[win], m[win])
        A = np.concatenate(A_rows) if A_rows else np.zeros((0, D))
        c = np.concatenate(c_rows) if c_rows else np.zeros(0)
        maps[0] = (np.eye(D), maps[0][1])
        J, b = maps[self.output]
        return Region(A, c, rows, J, b, maps)

    def output_jacobian(self, pattern: dict) -> np.ndarray:
        """(K, D): the logits' J on the region of ``pattern`` (:attr:`Region.J` of :meth:`region`), by products
        from the output back to the input (K rows carried, not the D columns of every node's map)."""
        adj = {self.output: np.eye(self.K)}
        for k in range(self.output, 0, -1):
            if k not in adj:
                continue
            R, n = adj.pop(k), self.nodes[k]
            if n.kind == "affine":
                parts = [(n.src[0], R @ n.W)]
            elif n.kind == "sum":
                parts = [(n.src[0], R), (n.src[1], R)]
            elif n.kind == "rect":
                parts = [(n.src[0], R * np.where(pattern[k] > 0, 1.0, n.a)[None, :])]
            else:
                win = n.G[np.arange(n.size), pattern[k]]
                full = np.zeros((R.shape[0], self.nodes[n.src[0]].size))
                np.add.at(full, (slice(None), win), R)
                parts = [(n.src[0], full)]
            for src, m in parts:
                adj[src] = adj[src] + m if src in adj else m
        return adj[0]

    def flip(self, pattern: dict, row: tuple) -> dict:
        """The pattern across one half-space of its region: a rectifier unit's sign flipped, or a max
        unit's argmax moved to the competitor."""
        k, i, q = row
        out = dict(pattern)
        p = pattern[k].copy()
        if q < 0:
            p[i] = -p[i]
        else:
            p[i] = q
        out[k] = p
        return out

    @staticmethod
    def key(pattern: dict) -> bytes:
        return b"".join(np.ascontiguousarray(pattern[k]).astype(np.int16).tobytes() for k in sorted(pattern))

    def rival_rows(self, y: int) -> np.ndarray:
        """(K - 1, K): the rows e_j - e_y for j != y in order, so that ``rival_rows(y) @ f`` is f_j - f_y (the
        ``diff_rows`` whose upper bounds say whether any class can reach f_y)."""
        others = [j for j in range(self.K) if j != y]
        R = np.zeros((len(others), self.K))
        R[np.arange(len(others)), others] = 1.0
        R[:, y] -= 1.0
        return R

    def linf_box(self, x: np.ndarray, r: float, domain=None) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi): the l-inf box of radius r around x, intersected with the ``domain`` box (lo, hi) if given."""
        lo, hi = x - r, x + r
        if domain is not None:
            dl, dh = (np.broadcast_to(np.asarray(v, dtype=np.float64), (self.D,)) for v in domain)
            lo, hi = np.maximum(lo, dl), np.minimum(hi, dh)
        return lo, hi

    # ---- bounds over a box ----------------------------------------------------------------------------
    def bounds(self, lo: np.ndarray, hi: np.ndarray, linear: bool = True, diff_rows: np.ndarray | None = None,
               fixed=None, ball=None):
        """Bounds (lo, hi) per node over the box lo <= z <= hi: interval arithmetic, intersected (when
        ``linear``) with linear bounds propagated back to the input at every node that feeds a nonlinear
        node and at the output. With ``diff_rows`` (r, K), also the bounds of diff_rows @ f over the box
        (returned as a third item). ``fixed`` = (L, H, k): bounds already known (e.g. tightened), kept as
        they are below node k and intersected with the new ones from k on. ``ball`` = (x, R): the inputs also lie
        within l2 distance R of x, which the linear bounds use (min of g z over the ball: g x - R ||g||_2)."""
        lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
        L, H = [lo], [hi]
        FL, FH, start = fixed if fixed is not None else (None, None, len(self.nodes))
        feeds = {self.nodes[k].src[0] for k in self.nonlinear} | {self.output}
        relax: dict = {}
        for k, n in enumerate(self.nodes[1:], 1):
            l, h = L[n.src[0]], H[n.src[0]]
            if n.kind == "affine":
                c, r = (l + h) / 2, (h - l) / 2
                mid, rad = n.W @ c + n.b, np.abs(n.W) @ r
                nl, nh = mid - rad, mid + rad
            elif n.kind == "rect":
                cand = np.stack([l, h, np.zeros_like(l)])
                sig = np.where(cand > 0, cand, n.a * cand)
                sig[2] = np.where((l < 0) & (h > 0), 0.0, sig[0])  # 0 is in range only when l < 0 < h
                nl, nh = sig.min(0), sig.max(0)
                relax[k] = _rect_relaxation(l, h, n.a)
            elif n.kind == "max":
                gl = np.where(n.valid, l[n.G], -np.inf)
                gh = np.where(n.valid, h[n.G], -np.inf)
                nl, nh = gl.max(1), gh.max(1)
                relax[k] = (gl.argmax(1), nh, gh, nl)
            else:
                nl, nh = l + L[n.src[1]], h + H[n.src[1]]
            if FL is not None and k < start:
                L.append(FL[k])
                H.append(FH[k])
                continue
            if linear and k in feeds and k > 0:
                bl, bh = self._backsub(k, np.eye(n.size), relax, lo, hi, ball)
                nl, nh = np.maximum(nl, bl), np.minimum(nh, bh)
                nh = np.maximum(nh, nl)      # rounding: never an empty interval
            if FL is not None:
                nl, nh = np.maximum(nl, FL[k]), np.minimum(nh, FH[k])
                nh = np.maximum(nh, nl)
            L.append(nl)
            H.append(nh)
        if diff_rows is None:
            return L, H
        R = np.asarray(diff_rows, dtype=np.float64)
        c, r = (L[self.output] + H[self.output]) / 2, (H[self.output] - L[self.output]) / 2
        dl, dh = R @ c - np.abs(R) @ r, R @ c + np.abs(R) @ r
        if linear:
            bl, bh = self._backsub(self.output, R, relax, lo, hi, ball)
            dl, dh = np.maximum(dl, bl), np.minimum(dh, bh)
        return L, H, (dl, np.maximum(dh, dl))

    def _backsub(self, start: int, Lam: np.ndarray, relax: dict, lo, hi, ball=None):
        """Lower and upper bounds of Lam @ v_start over the box, by back-substitution through the
        relaxations of the nonlinear nodes below ``start``."""
        low = self._lower(start, Lam, relax, lo, hi, ball)
        up = -self._lower(start, -Lam, relax, lo, hi, ball)
        return low, up

    def _lower(self, start, Lam, relax, lo, hi, ball=None) -> np.ndarray:
        adj = {start: Lam}
        const = np.zeros(Lam.shape[0])
        for k in range(start, 0, -1):
            if k not in adj:
                continue
            Lk, n = adj.pop(k), self.nodes[k]
            if n.kind == "affine":
                const += Lk @ n.b
                push = [(n.src[0], Lk @ n.W)]
            elif n.kind == "sum":
                push = [(n.src[0], Lk), (n.src[1], Lk)]
            elif n.kind == "rect":
                al, bl, au, bu = relax[k]
                P, N = np.maximum(Lk, 0), np.minimum(Lk, 0)
                const += P @ bl + N @ bu
                push = [(n.src[0], P * al + N * au)]
            else:
                best, up, gh, ml = relax[k]
                P, N = np.maximum(Lk, 0), np.minimum(Lk, 0)
                # y_j >= u_best(j); y_j <= its upper bound, or y_j = u_k when k is its only candidate
                single = (gh >= ml[:, None]).sum(1) == 1
                src = np.zeros((Lk.shape[0], self.nodes[n.src[0]].size))
                cols = n.G[np.arange(n.size), best]
                np.add.at(src.T, cols, P.T)
                np.add.at(src.T, cols[single], N[:, single].T)
                const += N[:, ~single] @ up[~single]
                push = [(n.src[0], src)]
            for s, m in push:
                adj[s] = adj[s] + m if s in adj else m
        L0 = adj.get(0, np.zeros((Lam.shape[0], self.D)))
        box = const + np.maximum(L0, 0) @ lo + np.minimum(L0, 0) @ hi
        if ball is None:
            return box
        xc, R = ball                             # the radius padded for the rounding of the norm
        return np.maximum(box, const + L0 @ xc - R * (1 + 1e-12) * np.linalg.norm(L0, axis=1))


def _rect_relaxation(l, h, a):
    """Per unit (alpha_l, beta_l, alpha_u, beta_u): alpha_l u + beta_l <= sigma_a(u) <= alpha_u u + beta_u
    for l <= u <= h. Stable units are exact; an unstable one is bounded by its chord on one side and
    a line through the origin of slope in [min(a, 1), max(a, 1)] on the other (the chord is above for
    a <= 1, where sigma_a is convex, below for a > 1)."""
    act, dead = l >= 0, h <= 0
    unst = ~act & ~dead
    span = np.where(unst, h - l, 1.0)
    chord = np.where(unst, (h - a * l) / span, 0.0)
    chord_b = np.where(unst, a * l - chord * l, 0.0)
    lam = np.where(h >= -l, 1.0, a)
    convex = a <= 1
    al = np.where(act, 1.0, np.where(dead, a, np.where(convex, lam, chord)))
    bl = np.where(unst & ~convex, chord_b, 0.0)
    au = np.where(act, 1.0, np.where(dead, a, np.where(convex, chord, lam)))
    bu = np.where(unst & convex, chord_b, 0.0)
    return al, bl, au, bu


def plnet(network) -> PLNet:
    """The :class:`PLNet` of a :class:`theory.network.Network`."""
    from theory.network import AffineNode, MaxNode, RectNode

    nodes = [PLNode("input", "input", (), network.nodes[0].size)]
    for n in network.nodes[1:]:
        if isinstance(n, AffineNode):
            W = _floats(n.weight)
            b = _floats(n.bias).reshape(-1) if n.bias is not None else np.zeros(W.shape[0])
            nodes.append(PLNode("affine", n.name, (n.src,), W.shape[0], W=W, b=b))
        elif isinstance(n, RectNode):
            a = np.array([int(q.p) / int(q.q) for q in n.slopes], dtype=np.float64)
            nodes.append(PLNode("rect", n.name, (n.src,), len(a), a=a))
        elif isinstance(n, MaxNode):
            g = max(len(grp) for grp in n.groups)
            G = np.array([list(grp) + [grp[0]] * (g - len(grp)) for grp in n.groups], dtype=np.int64)
            valid = np.array([[True] * len(grp) + [False] * (g - len(grp)) for grp in n.groups])
            nodes.append(PLNode("max", n.name, (n.src,), len(n.groups), G=G, valid=valid))
        else:
            nodes.append(PLNode("sum", n.name, tuple(n.srcs), n.size))
    return PLNet(nodes, network.output, network.in_shape, network.name)
