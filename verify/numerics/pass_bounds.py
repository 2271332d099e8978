"""Bounds on one forward pass of a compiled :class:`verify.numerics.engine.Engine`: per node, the rounding
error of the float values (:func:`forward_bound`) and the l2 norm of each unit's input gradient under the
pattern (:func:`norm_bound`). :meth:`Engine.forward_bound <verify.numerics.engine.Engine.forward_bound>` and
:meth:`Engine.norm_bound <verify.numerics.engine.Engine.norm_bound>` call them with the engine as ``eng``.

Rounding bounds mirror :mod:`theory.rounding` (Higham; u the unit roundoff of the dtype,
gamma_n = n u / (1 - n u)), with the exact values |v| replaced by |v~| + e_v >= |v| so that the
float bound is rigorous, and a relative safety of 2^-30 for the bound's own float64 rounding:

- affine: e_y = |A| e_v + gamma_{n+1} (|A| (|v~| + 2 e_v) + |b|), n = the row's nonzeros
  (BatchNorm: gamma_{n+12}, and |b| + |beta| + |mu scale| when the description has ``shift_terms``:
  torch computes the shift from the running statistics);
- rectifier: e_y = max(1, |a|) e_v + u |a| (|v~| + 2 e_v); max: the group max of e_v;
  sum: e_1 + e_2 + u (|v~_1| + 2 e_1 + |v~_2| + 2 e_2);
- Jacobian: |J~ - J| <= gamma_m |A_L| ... |A_1| entrywise, m = sum over affine nodes of
  max(max row nonzeros, max column nonzeros) + 6 per node (max nodes: max(6, window overlap)). The
  max of rows and columns makes m valid for either product order; it is >= theory's m.

Assumptions: float matmuls and convolutions satisfy the componentwise inner-product bound (true
for BLAS-style summation in any order, with or without FMA; TF32 is switched off on CUDA by
:func:`verify.numerics.linearize.linearize`; a cuDNN Winograd or FFT convolution would not be covered).
"""

from __future__ import annotations

from math import prod

import torch
import torch.nn.functional as F

from verify.numerics.graph import SAFETY, Record, gamma

__all__ = ["forward_bound", "norm_bound"]


def forward_bound(eng, rec: Record) -> list:
    """Per node, a bound (B, n) float64 on |value~ - exact value| (see the module docstring)."""
    f64, u = torch.float64, eng.u
    vals = [v.to(f64).abs() for v in rec.vals]
    errs = [torch.zeros_like(vals[0])]
    for k, n in enumerate(eng.nodes[1:], 1):
        e, v = errs[n.src[0]], vals[n.src[0]]
        p = n.p
        if n.kind in ("linear", "conv", "avgpool", "bn"):
            both = torch.stack([e, v])  # one magnitude pass for both
            Pe, Pv = eng.act(k, both.transpose(0, 1), rec, mag=True).transpose(0, 1)
            babs = p.get("ab") if n.kind in ("linear", "conv") else (p["ashift"] if n.kind == "bn" else None)
            if babs is not None and n.kind == "conv":
                babs = babs.repeat_interleave(prod(n.out_shape[1:]))
            mag = Pv + 2 * Pe + (babs if babs is not None else 0)
            extra = 12 if n.kind == "bn" else 1  # BatchNorm: + 11 for the running-statistics roundings
            new = Pe + gamma(n.rowlen + extra, u) * mag
        elif n.kind == "rect":
            aa = p["aa"]
            new = torch.clamp(aa, min=1) * e + u * aa * (v + 2 * e)
        elif n.kind == "max":
            new = e[:, p["G"]].masked_fill(~p["valid"], 0).amax(dim=2)
        else:
            e2, v2 = errs[n.src[1]], vals[n.src[1]]
            new = e + e2 + u * (v + 2 * e + v2 + 2 * e2)
        errs.append(new * SAFETY)
    return errs


def norm_bound(eng, rec: Record) -> list:
    """Per node, an upper bound (B, n) float64 on the l2 norm of each unit's gradient with respect
    to the input under the pattern (exact for the first affine node; triangle inequality after).
    Zero exactly when the unit is structurally constant on the region (all paths are zero)."""
    B, f64 = rec.vals[0].shape[0], torch.float64
    nb = [torch.ones(1, eng.D, dtype=f64, device=eng.device)]
    for k, n in enumerate(eng.nodes[1:], 1):
        src = n.src[0]
        if n.kind in ("linear", "conv") and src == 0:
            W2 = n.p["aW"] ** 2
            ones = torch.ones(1, 1, eng.D, dtype=f64, device=eng.device)
            new = (ones @ W2.T if n.kind == "linear" else
                   F.conv2d(ones.reshape((1,) + n.in_shape), W2, None, n.p["stride"], n.p["padding"])).reshape(1, -1).sqrt()
        elif n.kind == "sum":
            new = nb[n.src[0]] + nb[n.src[1]]
        else:
            new = eng.act(k, nb[src].unsqueeze(1), rec, mag=True).squeeze(1)
        nb.append(new * SAFETY)
    return [t.expand(B, t.shape[1]) for t in nb]
