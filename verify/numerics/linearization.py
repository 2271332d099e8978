"""The batched linearization of a model at x: :class:`Linearization`, made by :func:`verify.linearize`.

Pattern, J and b of every example in the model's dtype, with their rounding bounds, the kink distance and,
when asked, the half-spaces of the region; the kink re-decision (:mod:`verify.numerics.kinks`) on demand.
"""

from __future__ import annotations

import math
from functools import cached_property

import torch

from verify.errors import NonFiniteError, ShapeError
from verify.numerics.chain import chain_norms, gram_pays, rect_chain, slopes
from verify.numerics.engine import Engine
from verify.numerics.graph import SAFETY, Record, gamma
from verify.numerics.precision import precision_guard

__all__ = ["Linearization", "KINK_EXACT_MACS"]

#: The exact kink distance (all unit gradients) is computed when it costs at most this many
#: multiply-adds per call; above, ||a_i|| is bounded (lower bound on the distance).
KINK_EXACT_MACS = 2e8


_CHUNK_BYTES = 2 ** 28


class Linearization:
    """The float linearization of a batch (see the module docstring). B examples, K logits, D inputs.

    Attributes: ``logits`` (B, K), ``jacobian`` (B, K, D), ``dtype``, ``device``, ``flags``; on first
    access: ``bias`` (B, K), ``pattern`` (layer name -> (B, n): int8 signs for rectifiers, argmax
    positions for max units, as in :mod:`theory.region`), and in float64 ``jacobian_bound`` (B, K, D),
    ``logits_bound`` (B, K), ``kink_distance`` (B,), ``rounding_doubt`` and ``on_kink`` (B,) bool, ``kinks``
    (:class:`verify.numerics.kinks.KinkDecision`).
    """

    def __init__(self, engine: Engine, rec: Record, logits, jacobian, flags: dict):
        self.engine, self._rec = engine, rec
        self.logits, self.jacobian, self.flags = logits, jacobian, flags
        self.dtype, self.device = logits.dtype, logits.device
        self.B, self.K, self.D = jacobian.shape
        self._hs = None

    def __repr__(self):
        return (f"Linearization(B={self.B}, K={self.K}, D={self.D}, dtype={self.dtype}, device={self.device}, "
                f"layers={[self.engine.nodes[k].name for k in self.engine.nonlinear]})")

    @cached_property
    def bias(self) -> torch.Tensor:
        """(B, K) b = f(x) - J x, so that f(x') = J x' + b on the region (model dtype)."""
        return self.logits - (self.jacobian @ self._rec.vals[0].unsqueeze(2)).squeeze(2)

    @cached_property
    def pattern(self) -> dict:
        """Layer name -> (B, n): int8 signs (+1 / -1) of a rectifier's pre-activations, or the argmax
        position within each group of a max unit (as ``theory.Region.pattern``)."""
        eng, rec = self.engine, self._rec
        return {eng.nodes[k].name: (rec.sign(k) if eng.nodes[k].kind == "rect" else rec.pos(k))
                for k in eng.nonlinear}

    @property
    def x(self) -> torch.Tensor:
        """The inputs, flattened (B, D)."""
        return self._rec.vals[0]

    def _guard(self):
        return precision_guard(self.device)

    # ---- bounds ---------------------------------------------------------------------------------
    @cached_property
    def _fb(self) -> list:
        with self._guard():
            return self.engine.forward_bound(self._rec)

    @cached_property
    def _nb(self) -> list:
        with self._guard():
            return self.engine.norm_bound(self._rec)

    @cached_property
    def logits_bound(self) -> torch.Tensor:
        """(B, K) float64: |logits~ - exact logits| <= logits_bound."""
        return self._fb[self.engine.output]

    @cached_property
    def jacobian_bound(self) -> torch.Tensor:
        """(B, K, D) float64: gamma_m |A_L| ... |A_1|, bounding |J~ - J| for the same pattern."""
        eng = self.engine
        with self._guard():
            mag = eng.jacobian(self._rec, mag=True, order=self.flags["jacobian_order"])
        return mag * (gamma(eng.jac_count, eng.u) * SAFETY)

    # ---- units, slacks and kinks ------------------------------------------------------------------
    @cached_property
    def _table(self) -> list:
        """Per nonlinear node: (slack, err, const, norm bound) each (B, m_k) float64, one column per
        half-space in theory's order (rectifier units; max competitors)."""
        eng, rec, fb, nb = self.engine, self._rec, self._fb, self._nb
        table = []
        for k in eng.nonlinear:
            s = eng.nodes[k].src[0]
            u, e, b = rec.vals[s].to(torch.float64), fb[s], nb[s]
            if eng.nodes[k].kind == "rect":
                table.append((u.abs(), e, b == 0, b))
                continue
            comp, _ = eng.competitors(k, rec.pos(k))
            flat, w = comp.reshape(comp.shape[0], -1), rec.win[k]
            at = lambda t: (t.gather(1, w).unsqueeze(2), t.gather(1, flat).reshape(comp.shape))
            (uw, uc), (ew, ec), (bw, bc) = at(u), at(e), at(b)
            table.append((eng.cut(k, uw - uc), eng.cut(k, ew + ec), eng.cut(k, (bw == 0) & (bc == 0)),
                          eng.cut(k, bw + bc)))
        return table

    def _unit_table(self, exact_norms: bool) -> list:
        """:attr:`_table`, with the exact half-space norms in place of the bounds if ``exact_norms``."""
        if not exact_norms:
            return self._table
        return [(s, e, c, n) for (s, e, c, _), n in zip(self._table, self._exact_norms)]

    @cached_property
    def _exact_norms(self) -> list:
        """Per nonlinear node, ||a_i||_2 (B, m_k) of every half-space normal, in float64: the unit
        gradients pushed forward from the identity, over chunks of the batch, one competitor slot
        of a max unit at a time (memory: a few (chunk, D, n) stacks)."""
        eng, rec = self.engine, self._rec
        chain = rect_chain(eng)
        if chain is not None and gram_pays(eng, chain):
            with self._guard():
                return [n * SAFETY for n in chain_norms(eng, rec, chain, self.B)]
        by_src = {}
        for i, k in enumerate(eng.nonlinear):
            by_src.setdefault(eng.nodes[k].src[0], []).append((i, k))
        step = max(1, int(_CHUNK_BYTES // (8 * eng.D * max(n.size for n in eng.nodes))))
        parts = [[] for _ in eng.nonlinear]
        eye = torch.eye(eng.D, dtype=torch.float64, device=self.device).unsqueeze(0)
        with self._guard():
            for a in range(0, self.B, step):
                sub = rec.slice(slice(a, a + step))
                b_ = sub.vals[0].shape[0]
                for s, T in eng.forward_maps(sub, eye, want=set(by_src)):
                    for i, k in by_src.get(s, []) if s != eng.output else []:
                        T = T.expand(b_, -1, -1)                              # (b, D, n_src)
                        if eng.nodes[k].kind == "rect":
                            parts[i].append(T.norm(dim=1))
                            continue
                        comp, _ = eng.competitors(k, sub.pos(k))              # (b, n, g-1)
                        Tw = T.gather(2, sub.win[k].unsqueeze(1).expand(-1, eng.D, -1))
                        cols = [(T.gather(2, comp[:, :, q].unsqueeze(1).expand(-1, eng.D, -1)) - Tw).norm(dim=1)
                                for q in range(comp.shape[2])]
                        parts[i].append(eng.cut(k, torch.stack(cols, 2)))
        return [torch.cat(p) * SAFETY for p in parts]

    @cached_property
    def kink_distance(self) -> torch.Tensor:
        """(B,) float64 certified lower bound on the l2 distance from x to the nearest kink (0 on a kink,
        inf when no unit can reach a kink)."""
        eng = self.engine
        exact = self._hs is not None or self.B * eng.D * eng.macs <= KINK_EXACT_MACS
        self.flags["kink_distance"] = "exact-norms" if exact else "norm-upper-bound"
        best = torch.full((self.B,), math.inf, dtype=torch.float64, device=self.device)
        for (_, _, const, nrm), num in zip(self._unit_table(exact), self.kinks.lower):
            d = torch.where(num <= 0, torch.zeros_like(num), num / nrm)
            d = torch.where(const, torch.full_like(d, math.inf), d)
            if d.shape[1]:
                best = torch.minimum(best, d.min(dim=1).values)
        return best

    @cached_property
    def at_kink(self) -> torch.Tensor:
        """(B,) bool: some non-constant unit is exactly on a kink in this precision: a pre-activation that is
        exactly 0, or a max whose winner ties exactly. There autograd silently picks one of several
        subgradients. (:attr:`on_kink` also flags the points within rounding of a kink, where the float
        pattern may differ from the exact one; it implies nothing about what autograd does.)"""
        out = torch.zeros(self.B, dtype=torch.bool, device=self.device)
        for slack, _, const, _ in self._unit_table(False):
            if slack.shape[1]:
                out |= ((slack == 0) & ~const).any(dim=1)
        return out

    @cached_property
    def rounding_doubt(self) -> torch.Tensor:
        """(B,) bool: some non-constant unit is within its forward rounding bound of a kink (or exactly on
        one): this pass alone does not determine the pattern, and so J (decided again in :attr:`kinks`)."""
        out = torch.zeros(self.B, dtype=torch.bool, device=self.device)
        for slack, err, const, _ in self._unit_table(False):
            if slack.shape[1]:
                out |= ((slack <= err) & ~const).any(dim=1)
        return out

    @cached_property
    def kinks(self):
        """The :class:`verify.numerics.kinks.KinkDecision` of every point: the points in :attr:`rounding_doubt` decided
        again in float64 and, where still in doubt, exactly (:func:`verify.numerics.kinks.redecide_kinks`)."""
        from verify.numerics.kinks import redecide_kinks

        with self._guard():
            return redecide_kinks(self)

    @cached_property
    def on_kink(self) -> torch.Tensor:
        """(B,) bool: the float pattern at x is not certified to be the exact one: x is on a real kink, or
        the float pass rounded the pattern wrong, or the point stayed undecided (:attr:`kinks`). Points
        within rounding of a kink whose float pattern was certified again (recovered) are not on a kink."""
        return self.kinks.on_kink.to(self.device)

    # ---- region geometry ------------------------------------------------------------------------
    def halfspaces(self):
        """(A (B, m, D), c (B, m)) in the model dtype, with R(x) = {x' : A x' <= c}; rows in theory's
        order: per rectifier unit -s_i a_i, per max competitor a_i - a_winner."""
        if self._hs is not None:
            return self._hs
        eng, rec = self.engine, self._rec
        srcs = [eng.nodes[k].src[0] for k in eng.nonlinear]
        eye = torch.eye(eng.D, dtype=self.dtype, device=self.device).unsqueeze(0)
        rows, slacks = [], []
        with self._guard():
            got = dict(eng.forward_maps(rec, eye, want=set(srcs)))
            for k, s in zip(eng.nonlinear, srcs):
                T = got[s].expand(self.B, -1, -1)
                u = rec.vals[s]
                if eng.nodes[k].kind == "rect":
                    sg = rec.sign(k).to(self.dtype)
                    rows.append((-sg.unsqueeze(1) * T).transpose(1, 2))
                    slacks.append(u.abs())
                    continue
                comp, _ = eng.competitors(k, rec.pos(k))
                b_, n_, g_ = comp.shape
                Tc = T.gather(2, comp.reshape(b_, 1, -1).expand(-1, eng.D, -1)).reshape(b_, eng.D, n_, g_)
                Tw = T.gather(2, rec.win[k].unsqueeze(1).expand(-1, eng.D, -1)).unsqueeze(3)
                rows.append(eng.cut(k, (Tc - Tw).permute(0, 2, 3, 1)))
                uw = u.gather(1, rec.win[k]).unsqueeze(2)
                slacks.append(eng.cut(k, uw - u.gather(1, comp.reshape(b_, -1)).reshape(comp.shape)))
            A = torch.cat(rows, 1) if rows else torch.zeros(self.B, 0, eng.D, dtype=self.dtype, device=self.device)
            slack = torch.cat(slacks, 1) if slacks else A.new_zeros(self.B, 0)
            c = slack + (A @ rec.vals[0].unsqueeze(2)).squeeze(2)
        self._hs = (A, c)
        return self._hs

    def _read_direction(self, z) -> torch.Tensor:
        if not isinstance(z, torch.Tensor):
            raise TypeError(f"z: expected a torch Tensor, got {type(z).__name__}")
        shp = tuple(z.shape)
        if len(shp) < 2 or shp[0] != self.B or (shp[1:] != (self.D,) and shp[1:] != self.engine.in_shape):
            raise ShapeError(f"z: expected shape ({self.B}, {self.D}) or ({self.B}, *{self.engine.in_shape}), "
                             f"got shape {shp}")
        if not torch.isfinite(z).all():
            raise NonFiniteError("z: expected finite numbers")
        return z.detach().to(device=self.device, dtype=torch.float64).reshape(self.B, 1, self.D)

    def exit_time(self, z) -> torch.Tensor:
        """(B,) float64 t* with x + t z in R(x) for 0 <= t < t*: the min over half-spaces whose value
        decreases along z (rate > 0) of slack / rate; inf if none. Rates are computed in float64."""
        eng, rec = self.engine, self._rec
        srcs = [eng.nodes[k].src[0] for k in eng.nonlinear]
        with self._guard():
            got = dict(eng.forward_maps(rec, self._read_direction(z), want=set(srcs)))
        best = torch.full((self.B,), math.inf, dtype=torch.float64, device=self.device)
        for (slack, _, _, _), k, s in zip(self._unit_table(False), eng.nonlinear, srcs):
            d = got[s].reshape(self.B, -1)
            if eng.nodes[k].kind == "rect":
                rate = -rec.sign(k).to(torch.float64) * d
            else:
                comp, _ = eng.competitors(k, rec.pos(k))
                dc = d.gather(1, comp.reshape(comp.shape[0], -1)).reshape(comp.shape)
                rate = eng.cut(k, dc - d.gather(1, rec.win[k]).unsqueeze(2))
            t = torch.where(rate > 0, slack / rate, torch.full_like(slack, math.inf))
            if t.shape[1]:
                best = torch.minimum(best, t.min(dim=1).values)
        return best

    def boundary_distance(self) -> torch.Tensor:
        """(B,) float64 r(x) = min_i slack_i / ||a_i||_2 over half-spaces with a non-zero normal (the
        float estimate of :meth:`theory.region.Region.boundary_distance`); inf if there is none."""
        best = torch.full((self.B,), math.inf, dtype=torch.float64, device=self.device)
        for slack, _, _, nrm in self._unit_table(True):
            d = torch.where(nrm > 0, slack / (nrm / SAFETY), torch.full_like(slack, math.inf))
            if d.shape[1]:
                best = torch.minimum(best, d.min(dim=1).values)
        return best

    # ---- per-layer Jacobians and patterns -------------------------------------------------------------
    def layer_jacobians(self, bound: bool = False) -> list:
        """[(name, J_l (B, n_out, n_in))]: per nonlinear layer J_l = Lambda_l V_l (its local map times the
        affine maps since the previous nonlinear layer), then the affine head, as in
        :meth:`theory.region.Region.layer_jacobians`; J = J_L ... J_1 without residual additions.

        ``bound=True``: [(name, J_l, E_l)] with E_l (float64) = gamma_m |J_l|_mag, the same product on the
        magnitudes, times the gamma_m of :attr:`jacobian_bound` (m covers every rounding of the whole
        product, so of any sub-product): |J_l~ - J_l| <= E_l entrywise."""
        eng = self.engine
        if any(n.kind == "sum" for n in eng.nodes):
            raise ValueError("layer_jacobians is defined for networks without residual additions")
        values = self._layer_maps(mag=False)
        if not bound:
            return values
        g = gamma(eng.jac_count, eng.u) * SAFETY
        return [(name, J, M * g) for (name, J), (_, M) in zip(values, self._layer_maps(mag=True))]

    def layer_grams(self, points: torch.Tensor) -> list | None:
        """For a network of Linear layers and rectifiers only (:func:`verify.numerics.chain.rect_chain`):
        [(name, G_l, n)] per rectified layer, G_l (b, m, m) the float64 Gram matrix of its layer Jacobian
        J_l = Lambda_l W_l (:meth:`layer_jacobians`) on its smaller side (J_l J_l^T when it has fewer outputs
        than inputs, else J_l^T J_l) at the ``points`` (a (B,) bool mask), n the larger side; without forming
        J_l: J_l J_l^T = (W_l W_l^T) * (lambda lambda^T) entrywise, with W_l W_l^T shared by every point.
        None for any other network."""
        eng, rec = self.engine, self._rec
        chain = rect_chain(eng)
        if chain is None:
            return None
        out = []
        with self._guard():
            for s, k in chain:
                W = eng.param(s, "W", torch.float64)
                lam = slopes(eng, rec, k)[points]
                if W.shape[0] <= W.shape[1]:
                    G = (W @ W.T).unsqueeze(0) * (lam.unsqueeze(2) * lam.unsqueeze(1))
                else:
                    G = W.T.unsqueeze(0) @ (W.unsqueeze(0) * lam.square().unsqueeze(2))
                out.append((eng.nodes[k].name, G, max(W.shape)))
        return out

    def _layer_maps(self, mag: bool) -> list:
        eng, rec = self.engine, self._rec
        out, T, name = [], None, None
        with self._guard():
            for k, n in enumerate(eng.nodes[1:], 1):
                if T is None:
                    m = eng.nodes[n.src[0]].size
                    T = torch.eye(m, dtype=torch.float64 if mag else self.dtype, device=self.device).unsqueeze(0)
                T = eng.act(k, T, rec, mag=mag)
                name = n.name
                if n.kind in ("rect", "max"):
                    out.append((name, T.transpose(1, 2).expand(self.B, -1, -1)))
                    T = None
            if T is not None:
                out.append((name, T.transpose(1, 2).expand(self.B, -1, -1)))
        return out

    def same_pattern(self, other: "Linearization") -> torch.Tensor:
        """(B,) bool: whether each example has the same pattern as the same example of ``other``."""
        if set(self.pattern) != set(other.pattern):
            raise ValueError("same_pattern: the two linearizations come from different networks")
        out = torch.ones(self.B, dtype=torch.bool, device=self.device)
        for name, p in self.pattern.items():
            q = other.pattern[name]
            if q.shape != p.shape:
                raise ShapeError(f"same_pattern: layer {name} has shape {tuple(p.shape)} vs {tuple(q.shape)}")
            out &= (p == q.to(p.device)).all(dim=1)
        return out
