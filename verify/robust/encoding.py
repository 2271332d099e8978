"""The network's exact mixed-integer encoding over a box, shared by the l-inf radius (:mod:`verify.robust.milp`)
and the VNNLIB properties (:mod:`verify.robust.property`).

Given bounds l <= u <= h of every pre-activation over a box of inputs (:meth:`verify.robust.plnet.PLNet.bounds`),
:func:`encode_network` writes, into an :class:`Encoding` whose first D variables are the inputs z, every node's
value as a linear expression (M, m) in the variables (value = M v + m), adding two variables per unstable
rectifier unit and one per candidate of an undecided max unit (the formulation of Tjeng, Xiao & Tedrake, ICLR
2019, written out in :mod:`verify.robust.milp`'s docstring). Affine and sum nodes are substituted, so they add
no variables. :func:`encode_class_change` adds "some rival j has f_j >= f_y" (one binary per candidate
rival); :func:`pattern_of` reads the activation pattern a solution selects; :func:`solve` runs HiGHS
through ``scipy.optimize.milp``, silenced.

>>> from theory.network import mlp
>>> from verify.robust.plnet import plnet
>>> net = plnet(mlp([[[1, -1]], [[1]]]))                 # f(z) = relu(z0 - z1)
>>> lo, hi = np.array([-1.0, -1.0]), np.array([1.0, 1.0])
>>> L, H = net.bounds(lo, hi)
>>> enc = Encoding(network_width(net) + 2)
>>> for i in range(2):
...     _ = enc.var(lo[i], hi[i])
>>> E, binaries, _, _, _ = encode_network(net, enc, L, H)
>>> enc.nv, len(binaries[2])                              # z0, z1, and (p, delta) of the one unstable unit
(4, 1)
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import time
import warnings

import numpy as np

__all__ = ["Encoding", "encode_network", "encode_class_change", "network_width", "pattern_of", "solve",
           "quiet_c_stdout"]


class Encoding:
    """The program being built: variables (bounds, integrality) and rows, with a preallocated width."""

    def __init__(self, width: int):
        self.nv, self.width = 0, width
        self.lb, self.ub, self.integ = np.zeros(width), np.zeros(width), np.zeros(width)
        self.rows, self.rl, self.ru = [], [], []

    def var(self, lo, hi, integer=False) -> int:
        """A new variable in [lo, hi] (integer: a binary when [0, 1]); its index."""
        i = self.nv
        self.nv += 1
        self.lb[i], self.ub[i], self.integ[i] = lo, hi, 1 if integer else 0
        return i

    def add(self, block, lo, hi):
        """Rows lo <= block @ v <= hi (block (r, width) or (width,))."""
        block = np.atleast_2d(block)
        self.rows.append(block)
        self.rl.append(np.broadcast_to(np.asarray(lo, dtype=np.float64), (block.shape[0],)))
        self.ru.append(np.broadcast_to(np.asarray(hi, dtype=np.float64), (block.shape[0],)))

    def matrix(self):
        """(A as a sparse matrix over the variables made so far, row lower bounds, row upper bounds)."""
        from scipy.sparse import csr_matrix

        A = np.vstack(self.rows)[:, :self.nv]
        A[np.abs(A) < 1e-300] = 0.0
        return csr_matrix(A), np.concatenate(self.rl), np.concatenate(self.ru)


def network_width(net) -> int:
    """The inputs plus the most variables :func:`encode_network` can add (every unit unstable)."""
    return net.D + sum(2 * n.size if n.kind == "rect" else n.size + int(n.valid.sum()) for n in
                       (net.nodes[k] for k in net.nonlinear))


@contextlib.contextmanager
def quiet_c_stdout():
    """HiGHS prints some internal messages with C's printf even when told to be silent: send file
    descriptor 1 to /dev/null while it runs (C's buffer flushed before restoring)."""
    try:
        sys.stdout.flush()
        saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError, AttributeError):
        yield
        return
    os.dup2(null, 1)
    try:
        yield
    finally:
        try:
            ctypes.CDLL(None).fflush(None)
        except (OSError, AttributeError):  # pragma: no cover - no C library to flush
            pass
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


def solve(enc: Encoding, c: np.ndarray, *, relax: bool, opts: dict, deadline: float | None = None):
    """``scipy.optimize.milp`` on the encoding with objective c (relax: as an LP), HiGHS kept quiet.
    ``deadline``: a ``time.perf_counter()`` value; HiGHS' time limit is what is left of it once the matrix is
    built (building it takes a second on a large CNN's program, which a limit set before would not count)."""
    from verify.robust.solvers import load_milp

    milp, LinearConstraint, Bounds = load_milp()
    A, rl, ru = enc.matrix()
    if deadline is not None:
        opts = {**opts, "time_limit": max(deadline - time.perf_counter(), 1e-3)}
    nv = enc.nv
    integ = np.zeros(nv) if relax else enc.integ[:nv]
    with warnings.catch_warnings(), quiet_c_stdout():  # the HiGHS options scipy passes on verbatim warn
        warnings.simplefilter("ignore", RuntimeWarning)
        return milp(c[:nv], integrality=integ, bounds=Bounds(enc.lb[:nv], enc.ub[:nv]),
                    constraints=LinearConstraint(A, rl, ru), options=opts)


def encode_network(net, enc: Encoding, L, H, *, tighten: bool = False, budget: float | None = None,
                   t0: float | None = None, rebound=None):
    """Every node of ``net`` as a linear expression in the encoding's variables, over the box whose bounds
    (L, H) per node are given; the first D variables of ``enc`` must be the inputs. Returns (E, binaries, L, H,
    stats): E[k] = (M, m) with node k's value = M v + m; binaries[k] the binaries of nonlinear node k (a
    rectifier: [(unit, delta)], a max: [(unit, [(candidate, delta or None)])]); the bounds, tightened when
    ``tighten``; stats = {"lps", "tightened", "unstable", "extra"}.

    ``tighten``: before each nonlinear node past the first, the bounds of its unstable units by the LPs
    min / max u_i over the relaxation of the rows so far (Tjeng et al.'s progressive bounds), while the
    time since ``t0`` is under ``budget``; ``rebound(L, H, k)`` then returns the bounds propagated from the
    tightened ones, (L, H, extra) (``extra`` kept in stats, e.g. the bounds of the output rows)."""
    width, D = enc.width, net.D
    t0 = time.perf_counter() if t0 is None else t0
    stats = {"lps": 0, "tightened": 0, "unstable": 0, "extra": None}
    seen_nonlinear = False
    binaries = {}
    E = {0: (np.hstack([np.eye(D), np.zeros((D, width - D))]), np.zeros(D))}
    for k, n in enumerate(net.nodes[1:], 1):
        M, m = E[n.src[0]]
        if n.kind == "affine":
            E[k] = (n.W @ M, n.W @ m + n.b)
            continue
        if n.kind == "sum":
            M2, m2 = E[n.src[1]]
            E[k] = (M + M2, m + m2)
            continue
        s = n.src[0]
        if tighten and seen_nonlinear and enc.rows:
            unst = np.nonzero((L[s] < 0) & (H[s] > 0))[0]
            for i in unst:
                if budget is not None and time.perf_counter() - t0 > budget:
                    break
                for sign in (1.0, -1.0):
                    res = solve(enc, sign * M[i], relax=True, opts={"presolve": True})
                    stats["lps"] += 1
                    if res.status != 0:
                        continue
                    v = sign * res.fun + m[i]
                    # the LP's optimum is feasibility-tolerant: loosen it by 1e-7 relative before use
                    slack = 1e-7 * (1.0 + abs(v))
                    if sign > 0 and v - slack > L[s][i]:
                        L[s][i] = v - slack
                    elif sign < 0 and v + slack < H[s][i]:
                        H[s][i] = v + slack
                stats["tightened"] += int(not (L[s][i] < 0 < H[s][i]))
            if rebound is not None:             # propagate the tightened bounds to the layers above
                L, H, stats["extra"] = rebound(L, H, k)
        seen_nonlinear = True
        l, h = L[s], H[s]
        if n.kind == "rect":
            E[k], binaries[k] = _rect(enc, n, M, m, l, h, stats)
        else:
            E[k], binaries[k] = _max(enc, n, M, m, l, h, stats)
    return E, binaries, L, H, stats


def _rect(enc, n, M, m, l, h, stats):
    width, a = enc.width, n.a
    d = np.where(l >= 0, 1.0, a)            # stable units: u or a u
    My, my = d[:, None] * M, d * m
    bins = []
    for i in np.nonzero((l < 0) & (h > 0))[0]:
        stats["unstable"] += 1
        pi = enc.var(0.0, h[i])
        di = enc.var(0.0, 1.0, integer=True)
        bins.append((i, di))
        r1 = np.zeros(width)
        r1[pi], r1[di] = 1.0, -h[i]
        enc.add(r1, -np.inf, 0.0)                         # p <= h delta
        r2 = -M[i]
        r2[pi] += 1.0
        enc.add(r2, m[i], np.inf)                         # p - u >= 0   (q = u - p <= 0)
        r3 = M[i].copy()
        r3[pi] -= 1.0
        r3[di] += l[i]
        enc.add(r3, l[i] - m[i], np.inf)                  # u - p >= l (1 - delta)
        My[i] = a[i] * M[i]
        My[i, pi] += 1.0 - a[i]
        my[i] = a[i] * m[i]
    return (My, my), bins


def _max(enc, n, M, m, l, h, stats):
    width = enc.width
    gl = np.where(n.valid, l[n.G], -np.inf)
    gh = np.where(n.valid, h[n.G], -np.inf)
    ml = gl.max(1)
    My, my = np.zeros((n.size, width)), np.zeros(n.size)
    bins = []
    for j in range(n.size):
        cq = [q for q in range(n.G.shape[1]) if n.valid[j, q] and gh[j, q] >= ml[j]]
        idx = [n.G[j, q] for q in cq]
        if len(cq) == 1:
            My[j], my[j] = M[idx[0]], m[idx[0]]
            bins.append((j, [(cq[0], None)]))
            continue
        stats["unstable"] += 1
        hmax = max(h[i] for i in idx)
        yv = enc.var(max(l[i] for i in idx), hmax)
        one = np.zeros(width)
        sel = []
        for q, i in zip(cq, idx):
            dv = enc.var(0.0, 1.0, integer=True)
            sel.append((q, dv))
            one[dv] = 1.0
            r = -M[i].copy()
            r[yv] += 1.0
            enc.add(r, m[i], np.inf)                      # y - u_i >= 0
            r2 = r.copy()
            r2[dv] += hmax - l[i]
            enc.add(r2, -np.inf, m[i] + hmax - l[i])      # y - u_i <= (hmax - l_i)(1 - delta_i)
        enc.add(one, 1.0, 1.0)
        bins.append((j, sel))
        My[j, yv] = 1.0
    return (My, my), bins


def encode_class_change(enc: Encoding, F, fm, y: int, others: list, cands: list, fl) -> list:
    """The rows "f_j(z) >= f_y(z) for some j" on the encoding, where the logits are F v + fm, ``others`` the
    classes j != y, ``cands`` the positions i (into ``others``) of those whose upper bound of f_j - f_y over
    the box is >= 0, and ``fl`` the lower bounds of f_j - f_y (by position). One candidate: the row itself;
    several: f_j - f_y >= -M_j (1 - beta_j) with M_j = max(-fl_j, 0) and sum_j beta_j = 1. Returns
    [(j, beta_j)] (empty for one candidate)."""
    width = enc.width
    if len(cands) == 1:
        j = others[cands[0]]
        enc.add(F[j] - F[y], -(fm[j] - fm[y]), np.inf)
        return []
    betas = []
    one = np.zeros(width)
    for i in cands:
        j = others[i]
        bv = enc.var(0.0, 1.0, integer=True)
        betas.append((j, bv))
        one[bv] = 1.0
        Mj = max(-fl[i], 0.0)
        r = F[j] - F[y]
        r[bv] -= Mj
        enc.add(r, -Mj - (fm[j] - fm[y]), np.inf)             # f_j - f_y >= -M_j (1 - beta_j)
    enc.add(one, 1.0, 1.0)
    return betas


def pattern_of(net, L, binaries, v) -> dict:
    """The activation pattern a solution v selects: {nonlinear node: signs (rectifier) or argmax positions}."""
    pattern = {}
    for k in net.nonlinear:
        n = net.nodes[k]
        l = L[n.src[0]]
        if n.kind == "rect":
            p = np.where(l >= 0, 1, -1).astype(np.int8)
            for i, di in binaries[k]:
                p[i] = 1 if v[di] > 0.5 else -1
        else:
            p = np.zeros(n.size, dtype=np.int64)
            for j, sel in binaries[k]:
                p[j] = sel[0][0] if sel[0][1] is None else sel[int(np.argmax([v[dv] for _, dv in sel]))][0]
        pattern[k] = p
    return pattern
