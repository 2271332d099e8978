"""The quantile summary every per-point measure of the lab is reported by: :func:`summary`.

>>> import torch
>>> summary(torch.arange(5.0))["median"]
2.0
"""

from __future__ import annotations

import math

import torch

__all__ = ["QUANTILES", "summary"]


#: The quantiles each per-point measure is summarised by (and the mean).
QUANTILES = {"q05": 0.05, "q25": 0.25, "median": 0.5, "q75": 0.75, "q95": 0.95}


def summary(values: torch.Tensor) -> dict:
    """{"n", "mean", "q05", "q25", "median", "q75", "q95"} of a 1-D tensor (NaN for an empty one)."""
    v = values.detach().to(torch.float64).flatten().cpu()
    if v.numel() == 0:
        return {"n": 0, "mean": math.nan, **{k: math.nan for k in QUANTILES}}
    qs = torch.quantile(v, torch.tensor(list(QUANTILES.values()), dtype=torch.float64))
    return {"n": int(v.numel()), "mean": float(v.mean()), **{k: float(q) for k, q in zip(QUANTILES, qs)}}
