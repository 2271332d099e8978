"""Backward linear bounds (CROWN) of a rectifier MLP over an input box, batched over sub-domains, with
optimised lower slopes (alpha-CROWN) and rectifier units fixed to one phase: the bounding step of
:mod:`verify.robust.bab`.

The network is a chain z_0 = W_0 x + b_0, x_i = sigma_{a_i}(z_i), z_i = W_i x_{i-1} + b_i, the logits
f = z_{n-1}, with rectifier slopes -1 <= a <= 1 (ReLU, leaky, the absolute value: sigma_a is convex). Over
a sub-domain where l <= z_i <= h, an unstable unit (l < 0 < h) is bounded above by its chord and below by
the line alpha z through the origin, any alpha in [a, 1] (valid for every such alpha: sigma_a is convex
with sigma_a(0) = 0). A unit fixed active (z >= 0) or inactive (z <= 0) by a split gets l = max(l, 0) or
h = min(h, 0), so its relaxation is exact; the bound is then valid on the part of the box where the split
holds, and the two phases cover the box. Propagating the margin's row back through the chain gives a
linear function Lam x + c <= the margin on the sub-domain; its minimum over the box is at the corner
x* (lo where Lam >= 0, hi elsewhere): the candidate counterexample of :mod:`verify.robust.bab`.

Rounding. Every bound is computed in float64 (torch). Each is a sum of products of at most
``depth + 1`` factors evaluated by matrix products; by the forward-error bound for such sums
(|fl(s) - s| <= gamma_N sum |terms|, gamma_N = N u / (1 - N u), any summation order, N the number of
operations on a path, Higham, *Accuracy and Stability of Numerical Algorithms*, sec. 3.5), each bound is
widened by :meth:`Chain.pad` = 2 gamma_N times a bound on the sum of its terms' magnitudes (the forward
pass of |W|, |b| and the box's magnitudes, with a factor 4 per layer for |slope z| + |intercept| <= 4 |z|
bound; the terms -beta s z_i of split constraints add beta . pad_i): the widened bound is a proved bound
of the exact network, up to that argument. ``box_pads`` holds the pads of the last box bounded.

An l2 ball. With :meth:`Chain.set_ball` (x, r), every bound holds on the box intersected with the ball
||z - x||_2 <= r (:mod:`verify.robust.l2bab`): a row Lam z + c is bounded below by the larger of its box
minimum and c + Lam x - r ||Lam||_2 (the ball's), and the first layer's interval by W_0 x + b_0 +- r ||row||_2
likewise. The magnitudes behind the pads are then max(|lo|, |hi|, |x| + r) per input (every point of the
ball is within them), and each computed norm is raised by (D + 4) u relative, more than the rounding of a
sum of D squares and its square root.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["Chain", "mlp_chain"]


def mlp_chain(net):
    """The :class:`Chain` of a :class:`verify.robust.plnet.PLNet` that is an MLP (input, then affine and
    rectifier nodes alternating, each fed by the one before, slopes in [-1, 1], ending affine), else None."""
    nodes = net.nodes
    Ws, bs, slopes, rect_ids = [], [], [], []
    want = "affine"
    for k, n in enumerate(nodes[1:], 1):
        if n.kind != want or n.src != (k - 1,):
            return None
        if n.kind == "affine":
            Ws.append(n.W)
            bs.append(n.b)
            want = "rect"
        else:
            if np.any(n.a > 1) or np.any(n.a < -1):
                return None
            slopes.append(n.a)
            rect_ids.append(k)
            want = "affine"
    if want != "rect" or net.output != len(nodes) - 1:
        return None
    return Chain(Ws, bs, slopes, rect_ids)


class Chain:
    """A rectifier MLP as float64 torch tensors, with batched CROWN bounds (module docstring)."""

    def __init__(self, Ws, bs, slopes, rect_ids):
        t = (lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64)))
        self.W, self.b = [t(w) for w in Ws], [t(v) for v in bs]
        self.a, self.rect_ids = [t(s) for s in slopes], list(rect_ids)
        self.depth = len(self.W)                 # hidden layers: depth - 1
        self.D, self.K = self.W[0].shape[1], self.W[-1].shape[0]
        n_ops = 2 * (self.D + sum(w.shape[0] for w in self.W)) + 10 * self.depth
        u = 2.0 ** -53
        self.gamma = n_ops * u / (1 - n_ops * u)          #: gamma_N of the module docstring
        self.norm_up = 1 + (self.D + 4) * u                 #: the factor on a computed l2 norm (module docstring)
        self.ball = None

    def set_ball(self, x, r: float | None):
        """Bound on the box intersected with the l2 ball of radius r about x (module docstring); r None: the
        box alone."""
        self.ball = None if r is None else (torch.as_tensor(np.asarray(x, dtype=np.float64)), float(r))

    # ---- evaluation ------------------------------------------------------------------------------------
    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """The logits at a batch of points (B, D)."""
        v = X
        for i in range(self.depth - 1):
            z = v @ self.W[i].T + self.b[i]
            v = torch.where(z > 0, z, self.a[i] * z)
        return v @ self.W[-1].T + self.b[-1]

    def pad(self, lo: torch.Tensor, hi: torch.Tensor) -> list:
        """Per layer (the last is the logits), the widening 2 gamma_N m_k of every bound of z_k, m_k >= the
        sum of the magnitudes of the terms of any bound of z_k (module docstring)."""
        m = torch.maximum(lo.abs(), hi.abs())
        if self.ball is not None:
            m = torch.maximum(m, self.ball[0].abs() + self.ball[1])
        out = []
        for i in range(self.depth):
            m = self.W[i].abs() @ m + self.b[i].abs()
            out.append(2 * self.gamma * m)
            m = 4 * m
        return out

    # ---- relaxation and back-substitution ---------------------------------------------------------------
    def pieces(self, i: int, l: torch.Tensor, h: torch.Tensor):
        """What :meth:`relax` needs of layer i's bounds l <= z <= h (B, n), computed once for the Adam steps
        that share them: (unstable mask, CROWN's lower slope rule, the stable units' slope, upper slope and
        upper intercept (B, 1, n))."""
        a = self.a[i]
        act, dead = l >= 0, h <= 0
        unst = ~act & ~dead
        span = torch.where(unst, h - l, torch.ones_like(l))
        chord = torch.where(unst, (h - a * l) / span, torch.zeros_like(l))
        bu = torch.where(unst, l * (a - chord), torch.zeros_like(l))
        rule = torch.where(h >= -l, torch.ones_like(l), a.expand_as(l))
        stable = torch.where(act, torch.ones_like(l), a.expand_as(l))
        au = torch.where(unst, chord, stable)
        return unst, rule, stable, au[:, None, :], bu[:, None, :]

    def relax(self, i: int, l: torch.Tensor, h: torch.Tensor, alpha=None, pieces=None):
        """(lower slope, upper slope, upper intercept) of layer i's units for l <= z <= h, per node (B, n):
        alpha where given (clamped to [a, 1]), else 1 where h >= -l and a elsewhere (CROWN's rule).
        ``pieces``: :meth:`pieces` of the same bounds, if already computed."""
        unst, rule, stable, au, bu = self.pieces(i, l, h) if pieces is None else pieces
        if alpha is None:
            al = torch.where(unst, rule, stable)[:, None, :]
        else:
            al = torch.where(unst[:, None, :], torch.maximum(torch.minimum(alpha, torch.ones_like(alpha)), self.a[i]),
                             stable[:, None, :])
        return al, au, bu

    def lower(self, Lam, k: int, L: list, H: list, lo, hi, alpha=None, keep=False, beta=None, S=None, pieces=None):
        """Lower bounds of Lam @ z_k over the box, Lam (B, r, n_k), through layers k-1 .. 0 relaxed on the
        bounds L[i], H[i] (B, n_i) and lower slopes ``alpha`` (list of (B, r, n_i), or None: the fixed rule).
        Returns (bound (B, r), coefficients on the input (B, r, D), and with ``keep`` the coefficients on each
        x_i (list, for the branching score)). ``beta`` (list of (B, r, n_i) >= 0) and ``S`` (list of (B, n_i)
        in {-1, 0, 1}: the phase a split fixed): the Lagrangian terms -beta s z_i of the split constraints
        s z_i >= 0 (beta-CROWN's form), which keep the bound valid on the sub-domain and can only raise its
        best value over beta. ``pieces``: per layer, :meth:`pieces` of L[i], H[i] if already computed."""
        const = Lam @ self.b[k]
        Lam = Lam @ self.W[k]
        kept = {}
        for i in range(k - 1, -1, -1):
            al, au, bu = self.relax(i, L[i], H[i], None if alpha is None else alpha[i],
                                    None if pieces is None else pieces[i])
            if keep:
                kept[i] = Lam
            P, N = Lam.clamp(min=0), Lam.clamp(max=0)
            const = const + (N * bu).sum(-1)
            Lam = P * al + N * au
            if beta is not None:
                Lam = Lam - beta[i] * S[i][:, None, :]
            const = const + Lam @ self.b[i]
            Lam = Lam @ self.W[i]
        bound = const + Lam.clamp(min=0) @ lo + Lam.clamp(max=0) @ hi
        if self.ball is not None:
            center = const + Lam @ self.ball[0]
            bound = torch.maximum(bound, center - self.ball[1] * self.norm_up * Lam.norm(dim=-1))
            if keep:
                kept["center"] = center[..., None]
        return bound, Lam, kept

    def layer_bounds(self, k: int, L: list, H: list, lo, hi, B: int):
        """Bounds (B, n_k) of z_k on every node of the batch: interval arithmetic from layer k-1's bounds
        (the box for k = 0, exact there), intersected with CROWN's (fixed slopes) on the units that interval
        arithmetic leaves unstable on some node, each widened by the pad of :meth:`pad` (set by
        :meth:`all_bounds`) and intersected with the given L[k], H[k] (None: none)."""
        W, b = self.W[k], self.b[k]
        Wp, Wn = W.clamp(min=0).T, W.clamp(max=0).T
        if k == 0:
            nl, nh = (lo @ Wp + hi @ Wn + b).expand(B, -1), (hi @ Wp + lo @ Wn + b).expand(B, -1)
            if self.ball is not None:
                c0, rn = W @ self.ball[0] + b, self.ball[1] * self.norm_up * W.norm(dim=1)
                nl, nh = torch.maximum(nl, c0 - rn), torch.minimum(nh, c0 + rn)
        else:
            a, pl, ph = self.a[k - 1], L[k - 1], H[k - 1]
            sl, sh = torch.where(pl > 0, pl, a * pl), torch.where(ph > 0, ph, a * ph)
            vlo = torch.minimum(sl, sh)
            vlo = torch.where((pl < 0) & (ph > 0), vlo.clamp(max=0), vlo)
            vhi = torch.maximum(sl, sh)
            nl, nh = vlo @ Wp + vhi @ Wn + b, vhi @ Wp + vlo @ Wn + b
        nl, nh = nl - self.box_pads[k], nh + self.box_pads[k]
        if L[k] is not None:
            nl, nh = torch.maximum(nl, L[k]), torch.minimum(nh, H[k])
        self.empty |= (nl > nh).any(1)
        if k > 0:
            idx = ((nl < 0) & (nh > 0)).any(0).nonzero().reshape(-1)
            if len(idx):
                E = torch.eye(W.shape[0], dtype=W.dtype)[idx].expand(B, -1, -1)
                cl = self.lower(E, k, L, H, lo, hi)[0]
                ch = -self.lower(-E, k, L, H, lo, hi)[0]
                nl, nh = nl.clone(), nh.clone()
                nl[:, idx] = torch.maximum(nl[:, idx], cl - self.box_pads[k][idx])
                nh[:, idx] = torch.minimum(nh[:, idx], ch + self.box_pads[k][idx])
                self.empty |= (nl > nh).any(1)
        return nl, torch.maximum(nh, nl)

    def all_bounds(self, lo, hi, B: int = 1, L=None, H=None, start: int = 0):
        """Bounds of every hidden layer's z on a batch of B nodes (L, H lists of (B, n_i) to keep, or None),
        the layers from ``start`` on recomputed by :meth:`layer_bounds` and intersected with the given ones.
        ``self.empty`` (B,) then marks the nodes whose bounds cross (lower > upper): no point of the box
        satisfies their splits."""
        self.box_pads = self.pad(lo, hi)
        self.empty = torch.zeros(B, dtype=torch.bool)
        L = [None] * (self.depth - 1) if L is None else list(L)
        H = [None] * (self.depth - 1) if H is None else list(H)
        for k in range(start, self.depth - 1):
            L[k], H[k] = self.layer_bounds(k, L, H, lo, hi, B)
        return L, H

    def optimised_bounds(self, L: list, H: list, lo, hi, steps: int = 20, lr: float = 0.1):
        """The root's bounds (B = 1) of every hidden layer past the first tightened in turn by optimising the
        lower slopes of the layers below, separately for each unstable unit's lower and upper bound (Adam,
        the best iterate kept: never looser than the fixed rule), then widened by :meth:`pad`; each layer is
        recomputed from the tightened ones below before its own optimisation."""
        L, H = list(L), list(H)
        for k in range(1, self.depth - 1):
            L[k], H[k] = self.layer_bounds(k, L, H, lo, hi, 1)
            idx = ((L[k] < 0) & (H[k] > 0))[0].nonzero().reshape(-1)
            r = len(idx)
            if not r or steps <= 0:
                continue
            E = torch.eye(L[k].shape[1], dtype=torch.float64)[idx][None]
            rows = torch.cat([E, -E], 1)
            alpha = [self.relax(i, L[i], H[i])[0].expand(1, 2 * r, -1).clone().requires_grad_(True) for i in range(k)]
            opt = torch.optim.Adam(alpha, lr=lr)
            best = None
            pcs = [self.pieces(i, L[i], H[i]) for i in range(k)]
            for s in range(steps + 1):
                b = self.lower(rows, k, L, H, lo, hi, alpha, pieces=pcs)[0]
                best = b.detach() if best is None else torch.maximum(best, b.detach())
                if s == steps:
                    break
                opt.zero_grad()
                (-b.sum()).backward()
                opt.step()
                with torch.no_grad():
                    for a, lo_a in zip(alpha, self.a):
                        a.copy_(torch.maximum(torch.minimum(a, torch.ones_like(a)), lo_a))
            p = self.box_pads[k][idx]
            nl, nh = L[k].clone(), H[k].clone()
            nl[0, idx] = torch.maximum(nl[0, idx], best[0, :r] - p)
            nh[0, idx] = torch.minimum(nh[0, idx], -best[0, r:] + p)
            self.empty |= (nl > nh).any(1)
            L[k], H[k] = nl, torch.maximum(nh, nl)
        return L, H
