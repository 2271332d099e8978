"""What every checker shares: :class:`CheckContext` (the model, the batch, ONE linearization, and the
definition-side quantities computed once), and helpers that turn Bounded pairs into :class:`Gap`.

Two sides per check:

- the DEFINITION (lhs): autograd (or a finite step) on the model, in the model's dtype, exactly as
  training computes it (:mod:`verify.regularizers`);
- the DERIVED closed form (rhs): :mod:`verify.regularizers.closed_forms` on the linearization's J, logits and bias.

Both carry a bound from :mod:`verify.numerics.bounds`. The closed form's bound is propagated through its own
formula from ``jacobian_bound`` and ``logits_bound``. The definition's bound has the same a-priori
form: autograd multiplies the seed by the same layer matrices (``bounds.vjp_err``), so the Higham
product bound gamma_m |A_1|^T ... |A_L|^T |seed| <= jacobian_bound^T |seed| applies to it, and its
softmax is bounded by ``bounds.softmax``. A gap's bound is the sum of the two. The bounds hold at
points that are not on a kink (``lin.on_kink``), where both computations select the exact pattern;
points on a kink are counted and excluded by :class:`Gap`. A point within the model dtype's rounding of
a kink is first decided again (:mod:`verify.numerics.kinks`): where the float pattern is certified exact
(recovered) it is judged like any interior point, with the model dtype's bounds, since the closed form's
J is then the J of the certified region and autograd's float pass selects the same float pattern. Every
Gap records each point's decision (``kink_decision``), so the recovered points are counted per claim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import torch
import torch.nn as nn

from verify.numerics.bounds import SAFETY, Bounded, gamma, onehot, softmax, vjp_err, worst_entry
from verify.numerics.kinks import NOT_JUDGED, combine_codes
from verify.regularizers import closed_forms as cf
from verify.regularizers.definitions import unchecked as reg  # the context has checked and linearized the batch
from verify.results.gap import Gap

__all__ = ["CheckContext", "LogitScale", "H_GRID", "C_GRID", "HESS_FULL_MAX", "bias_free", "to_list", "f64"]

#: Step sizes for the curvature claims: 13 log-spaced values from 1e-4 to 3 (both included).
H_GRID = tuple(float(v) for v in torch.logspace(-4, math.log10(3.0), 13, dtype=torch.float64))
#: Logit scales for the confident-limit and cross-entropy claims: log-spaced 1e-1 .. 1e2.
C_GRID = tuple(float(v) for v in torch.logspace(-1, 2, 13, dtype=torch.float64))
#: Up to this input dimension the full Hessian (D x D) is formed; above, Hessian-vector products
#: along K + 4 random probe directions are compared instead.
HESS_FULL_MAX = 256


def f64(t) -> torch.Tensor:
    """``t`` detached, in float64."""
    return t.detach().to(torch.float64)


def to_list(t) -> list:
    """The entries of ``t`` as a flat list of Python floats."""
    return [float(v) for v in f64(t).reshape(-1).cpu().tolist()]


class LogitScale(nn.Module):
    """c * model(x): the logits scaled by c (one c per example, or one for all). The same as scaling
    the last layer's weight and bias by c when the network ends in an affine layer."""

    def __init__(self, model: nn.Module, c: torch.Tensor):
        super().__init__()
        self.model, self.c = model, c

    def forward(self, x):
        out = self.model(x)
        return out * self.c.reshape(-1, 1).to(out.dtype)


def bias_free(model: nn.Module) -> bool:
    """Whether no layer adds a constant: every bias absent or exactly zero, and every BatchNorm's shift
    (beta - running_mean * scale) exactly zero."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if (m.bias is not None and bool((m.bias != 0).any())) or \
                    (m.running_mean is not None and bool((m.running_mean != 0).any())):
                return False
        elif isinstance(getattr(m, "bias", None), torch.Tensor) and bool((m.bias != 0).any()):
            return False
    return True


@dataclass
class CheckContext:
    """One model, one batch, one linearization; every checker reads from it."""

    model: nn.Module
    x: torch.Tensor
    y: torch.Tensor
    lin: object
    seed: int
    arch: str
    dtype: torch.dtype
    device: torch.device
    generator: torch.Generator | None = None
    exact: bool | None = None
    cache: dict = field(default_factory=dict)

    # ---- bookkeeping ----------------------------------------------------------------------------------
    def memo(self, key, fn):
        if key not in self.cache:
            self.cache[key] = fn()
        return self.cache[key]

    @property
    def B(self) -> int:
        return self.x.shape[0]

    @property
    def K(self) -> int:
        return self.lin.K

    @property
    def D(self) -> int:
        return self.lin.D

    @property
    def u(self) -> float:
        return Bounded(self.lin.logits).u

    def randn(self, *shape) -> torch.Tensor:
        """Gaussian draws from the context's generator (CPU), moved to the model's dtype and device."""
        g = self.generator if self.generator is not None else torch.Generator().manual_seed(self.seed)
        return torch.randn(*shape, generator=g, dtype=torch.float64).to(self.dtype).to(self.device)

    @cached_property
    def kink(self) -> list:
        return to_list(self.lin.kink_distance)

    @cached_property
    def on_kink(self) -> torch.Tensor:
        return self.lin.on_kink.cpu()

    @cached_property
    def kink_codes(self) -> list:
        """Per point, its decision code (:mod:`verify.numerics.kinks`): "" not in doubt, "float64" or "exact" recovered,
        "kink", "wrong" or "undecided" not judged."""
        return list(self.lin.kinks.codes)

    # ---- closed-form side (the linearization) ---------------------------------------------------------
    @cached_property
    def J(self) -> Bounded:
        return Bounded(self.lin.jacobian, self.lin.jacobian_bound)

    @cached_property
    def f(self) -> Bounded:
        return Bounded(self.lin.logits, self.lin.logits_bound)

    @cached_property
    def p(self) -> Bounded:
        return softmax(self.f)

    @cached_property
    def xf(self) -> torch.Tensor:
        return self.x.reshape(self.B, -1)

    @cached_property
    def b(self) -> Bounded:
        """b = f - J x as linearize computes it; the bound of that computation."""
        bb = self.f - (self.J @ self.xf.unsqueeze(-1)).squeeze(-1)
        return Bounded(self.lin.bias, bb.err)

    @cached_property
    def yhat(self) -> torch.Tensor:
        return self.lin.logits.argmax(-1)

    def frobenius_upper(self) -> torch.Tensor:
        """A certified upper bound on |J|_F per point (float64): |J~|_F plus the norm of J's error bound."""
        return f64(torch.linalg.matrix_norm(f64(self.J.value))) + torch.linalg.matrix_norm(self.J.err)

    def margin(self, f: Bounded, y: torch.Tensor) -> Bounded:
        """f_y - max_{j != y} f_j (Bounded); its value minus its bound is a certified lower bound."""
        return cf.logit_gap(f, y, cf.strongest_other(f, y))

    # ---- definition side (autograd) -------------------------------------------------------------------
    @cached_property
    def f_def(self) -> Bounded:
        with torch.no_grad():
            return Bounded(self.model(self.x), self.lin.logits_bound)

    @cached_property
    def p_def(self) -> Bounded:
        return softmax(self.f_def)

    @cached_property
    def J_def(self) -> Bounded:
        """J by K backward passes; autograd's rounding is at most jacobian_bound (seed e_k exact)."""
        return Bounded(reg.logit_jacobian(self.model, self.x), self.lin.jacobian_bound)

    def grad_def(self, y: torch.Tensor, J: Bounded | None = None, p: Bounded | None = None, x=None,
                 model=None) -> Bounded:
        """grad_x L(x, y) by autograd (B, D), with the bound of backprop of the seed p - e_y."""
        J, p = J or self.J, p or self.p
        g = reg.loss_gradient(model or self.model, self.x if x is None else x, y).reshape(self.B, -1)
        return Bounded(g, vjp_err(J, p - onehot(y, self.K, p)))

    @cached_property
    def g_def(self) -> Bounded:
        return self.grad_def(self.y)

    @cached_property
    def hess_mode(self) -> str:
        return "full" if self.D <= HESS_FULL_MAX else "probes"

    @cached_property
    def probes(self) -> torch.Tensor:
        """(B, r, D) unit Gaussian directions, r = K + 4 (probe mode)."""
        V = self.randn(self.B, self.K + 4, self.D)
        return V / V.norm(dim=-1, keepdim=True)

    def hess_def(self, y: torch.Tensor) -> Bounded:
        """The autograd Hessian of L(x, y): (B, D, D) (full mode) or H V for the probes (B, r, D)."""
        S = cf.softmax_covariance(self.p)
        if self.hess_mode == "full":
            H = reg.hessian(self.model, self.x, y).reshape(self.B, self.D, self.D)
            return Bounded(H, vjp_err(self.J, S @ self.J))
        HV = reg.hessian(self.model, self.x, y, directions=self.probes)
        return Bounded(HV, vjp_err(self.J, S @ (self.J @ self.probes.mT)).mT)

    def hess_diag_err(self, J: Bounded, p: Bounded) -> torch.Tensor:
        """The diagonal of vjp_err(J, S J) (B, D), without forming D x D."""
        U = cf.softmax_covariance(p) @ J
        return (J.err * (U.abs64 + 2 * U.err) + (J.abs64 + J.err) * U.err).sum(-2)

    def trace_def(self, model=None, y=None, J: Bounded | None = None, p: Bounded | None = None) -> Bounded:
        """tr hess_x L by D Hessian-vector products along the basis (autograd), Bounded."""
        y = self.y if y is None else y
        d = reg.hessian_diagonal(model or self.model, self.x, y)
        return Bounded(d, self.hess_diag_err(J or self.J, p or self.p)).sum(-1)

    def emr_grad(self, T: float | torch.Tensor, model=None, x=None) -> torch.Tensor:
        """J^T pt by autograd (B, D): grad_x of sum_i pt_i . f_i with pt = softmax(f/T) detached (T may
        be one value per row)."""
        x = self.x if x is None else x
        xl = x.detach().clone().requires_grad_(True)
        f = (model or self.model)(xl)
        Tt = torch.as_tensor(T, dtype=f.dtype, device=f.device).reshape(-1, 1)
        pt = torch.softmax(f.detach() / Tt, dim=1)
        return torch.autograd.grad((pt * f).sum(), xl)[0].reshape(x.shape[0], -1)

    # ---- shifted points ---------------------------------------------------------------------------------
    @cached_property
    def z(self) -> torch.Tensor:
        """CURE's direction z = sign(grad L)/||sign(grad L)|| from the definition's gradient (B, *in)."""
        return reg.cure_direction(self.g_def.value.reshape(self.x.shape))

    def linearize_at(self, xs: torch.Tensor):
        from verify.numerics.linearize import linearize
        return linearize(self.model, xs)

    @cached_property
    def shifted(self) -> dict:
        """For every h of H_GRID: x' = x + h z, its linearization (one batched call), the autograd
        gradient at x' (one batched backward), and whether the pattern changed."""
        xs = [self.x + h * self.z for h in H_GRID]
        X = torch.cat(xs)
        LIN = self.linearize_at(X)
        Y = self.y.repeat(len(H_GRID))
        G = reg.loss_gradient(self.model, X, Y).reshape(len(H_GRID) * self.B, -1)
        out, B = {}, self.B
        Jb = Bounded(LIN.jacobian, LIN.jacobian_bound)
        fb = Bounded(LIN.logits, LIN.logits_bound)
        same = self.pattern_equal(LIN, len(H_GRID))
        for i, h in enumerate(H_GRID):
            s = slice(i * B, (i + 1) * B)
            J2, f2 = Jb[s], fb[s]
            p2 = softmax(f2)
            g1 = Bounded(G[s], vjp_err(J2, p2 - onehot(self.y, self.K, p2)))
            codes = combine_codes(self.kink_codes, LIN.kinks.codes[s])
            out[h] = dict(x=xs[i], J=J2, f=f2, p=p2, g=g1, changed=~same[s].cpu(), kinks=codes,
                          on_kink=torch.tensor([c in NOT_JUDGED for c in codes], dtype=torch.bool))
        return out

    def pattern_equal(self, other, reps: int) -> torch.Tensor:
        """(reps * B,) bool: same pattern as x for each row of a linearization of ``reps`` stacked copies."""
        out = torch.ones(reps * self.B, dtype=torch.bool, device=self.device)
        for name, p in self.lin.pattern.items():
            q = other.pattern[name]
            out &= (p.repeat(reps, 1) == q).all(dim=1)
        return out

    @cached_property
    def exit_time(self) -> list:
        return to_list(self.lin.exit_time(self.z.reshape(self.B, -1)))

    # ---- scaled logits ----------------------------------------------------------------------------------
    def scaled(self, c) -> tuple[nn.Module, float | torch.Tensor]:
        """(c * model, c as represented in the model dtype)."""
        ct = torch.as_tensor(c, dtype=self.dtype, device=self.device)
        return LogitScale(self.model, ct), ct

    def scale_bounded(self, t: Bounded, c: float) -> Bounded:
        """Bound of a quantity computed by backprop through c * model with seed exact: c * err (the seed
        c~ is exact in the dtype, and the Higham product bound scales linearly)."""
        return Bounded(t.value * c, t.err * abs(c), t.u)

    # ---- gaps -------------------------------------------------------------------------------------------
    def gap(self, claim, check, kind, lhs, rhs, bound=None, *, kinks=None, pattern_changed=None,
            excluded=None, extra=None, per_point=True, scale=None) -> Gap:
        """A Gap from Bounded or plain sides. Vector sides are reduced per point to the worst entry
        (largest |lhs - rhs| / bound) for identities. ``kinks``: the decision code of each point (default
        the context's; a check that also reads other points passes their combination, e.g. the shifted
        points' ``kinks``); the points not judged are those of :data:`verify.numerics.kinks.NOT_JUDGED`. ``scale``
        (B,): the size against which the bound is judged informative, where max(|lhs|, |rhs|) is not it
        (see :class:`verify.results.gap.Gap`)."""
        if isinstance(lhs, Bounded) or isinstance(rhs, Bounded):
            L = lhs if isinstance(lhs, Bounded) else Bounded(torch.as_tensor(lhs, dtype=torch.float64))
            R = rhs if isinstance(rhs, Bounded) else Bounded(torch.as_tensor(rhs, dtype=torch.float64))
            if L.value.dim() > 1 or R.value.dim() > 1:
                l, r, bd = worst_entry(L, R)
            else:
                l, r = f64(L.value).expand(self.B), f64(R.value).expand(self.B)
                bd = (L.bound() + R.bound()).expand(self.B)
            if bound is not None:
                bd = bd + f64(torch.as_tensor(bound))
            lhs, rhs, bound = l, r, bd
        if bound is None:
            bound = torch.zeros(len(lhs) if not isinstance(lhs, torch.Tensor) else lhs.numel())
        lists = [to_list(torch.as_tensor(v)) for v in (lhs, rhs, bound)]
        n = len(lists[0])
        codes = list(kinks if kinks is not None else self.kink_codes) if per_point and n else None
        return Gap(claim, check, kind, *lists, dtype=str(self.dtype).replace("torch.", ""),
                   device=str(self.device), seed=int(self.seed), arch=self.arch,
                   kink_distance=self.kink if per_point and n else None,
                   on_kink=[c in NOT_JUDGED for c in codes] if codes is not None else None,
                   kink_decision=codes,
                   pattern_changed=[bool(v) for v in to_list(pattern_changed)] if pattern_changed is not None else None,
                   excluded=[bool(v) for v in to_list(excluded)] if excluded is not None else None,
                   extra=extra or {}, scale=to_list(torch.as_tensor(scale)) if scale is not None else None)

    def measurement(self, claim, check, extra) -> Gap:
        """A measurement with no per-point sides (lhs = rhs = bound = [])."""
        return Gap(claim, check, "measurement", [], [], [], dtype=str(self.dtype).replace("torch.", ""),
                   device=str(self.device), seed=int(self.seed), arch=self.arch, extra=extra)


def upper(x: torch.Tensor) -> torch.Tensor:
    """A float64 value inflated by the rounding allowance of its own float64 evaluation (a bound formula
    of a few dozen operations: relative error < 64 u_64)."""
    return x * (1 + gamma(64, 2.0 ** -53)) * SAFETY


__all__ += ["upper"]
