"""The statistics of the verdict rule (:mod:`verify.dynamics.verdicts`): the exact one-sided sign test
(:func:`sign_test`), the seeded percentile bootstrap of a median (:func:`bootstrap_median`) and Spearman's
rank correlation (:func:`spearman`).

The sign test. Of the n seeds, let n₊ have A < B and n₋ have A > B. Ties (A = B) carry no sign and are
dropped; seeds where A or B is NaN are counted as missing and dropped too. Under the null hypothesis
that each remaining seed's sign is a fair coin, X ~ Binomial(n₊ + n₋, 1/2), and the one-sided p-value
of "A < B" is

    p₊ = P(X >= n₊) = Σ_{k = n₊}^{m} C(m, k) / 2^m,    m = n₊ + n₋,

computed exactly in integers (:func:`sign_test`); p₋ is the same with n₊ and n₋ swapped. Since
p₊ + p₋ = 1 + P(X = n₊) >= 1, at most one of them is below 0.05, so the verdict is well defined.

Why 5 seeds need unanimity: 5 of 5 gives p = 1/32 = 0.03125 < 0.05, but 4 of 5 gives
p = (C(5,4) + C(5,5)) / 32 = 6/32 = 0.1875. With 6 seeds 6 of 6 gives 1/64; with 10 seeds 9 of 10
gives (10 + 1)/1024 = 11/1024 ≈ 0.0107, which is enough.

>>> sign_test(9, 1) == 11 / 1024
True
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Sequence

import numpy as np

__all__ = ["BOOTSTRAP_RESAMPLES", "BOOTSTRAP_SEED", "sign_test", "bootstrap_median", "spearman"]

#: Resamples of the per-seed ratios for the percentile bootstrap of the median ratio.
BOOTSTRAP_RESAMPLES = 10_000
#: Seed of the bootstrap's ``numpy.random.PCG64`` generator (fixed: the interval is reproducible).
BOOTSTRAP_SEED = 0


def _check_count(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"sign_test: {name} must be an int, got {type(v).__name__} {v!r}")
    if v < 0:
        raise ValueError(f"sign_test: {name} must be >= 0, got {v}")
    return int(v)


def sign_test(n_for: int, n_against: int) -> float:
    """One-sided exact sign test: P(X >= n_for) for X ~ Binomial(n_for + n_against, 1/2).

    .. math:: p = \\sum_{k=n_+}^{m} \\binom{m}{k} 2^{-m}, \\qquad m = n_+ + n_-.

    Ties are dropped before the call (pass only seeds with a sign). The sum is exact in integers and
    rounded once to a float; with no seeds (m = 0) there is no evidence and p = 1.0.

    >>> sign_test(5, 0), sign_test(4, 1), sign_test(1, 0), sign_test(0, 0)
    (0.03125, 0.1875, 0.5, 1.0)
    """
    n_for = _check_count("n_for", n_for)
    n_against = _check_count("n_against", n_against)
    m = n_for + n_against
    if m == 0:
        return 1.0
    tail = sum(math.comb(m, k) for k in range(n_for, m + 1))
    return float(Fraction(tail, 2**m))


def bootstrap_median(r: np.ndarray) -> tuple[float, float]:
    """Percentile bootstrap 95 % interval of the median of ``r`` (seeded; see :mod:`verify.dynamics.verdicts`)."""
    n = r.shape[0]
    if n == 1:
        return float(r[0]), float(r[0])
    rng = np.random.Generator(np.random.PCG64(BOOTSTRAP_SEED))
    idx = rng.integers(0, n, size=(BOOTSTRAP_RESAMPLES, n))
    medians = np.median(r[idx], axis=1)
    lo, hi = np.percentile(medians, [2.5, 97.5])
    return float(lo), float(hi)


def _doubled_ranks(xs: Sequence[float]) -> list[int]:
    """Twice the average (1-based) ranks: integers, since an average rank is a multiple of 1/2."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = i + j + 2  # 2 * mean of the ranks i+1, ..., j+1
        i = j + 1
    return ranks


def spearman(x, y) -> float:
    """Spearman's rank correlation: the Pearson correlation of the ranks, ties given their average rank.

    .. math:: \\rho = \\frac{\\sum_i (R_i - \\bar R)(S_i - \\bar S)}
              {\\sqrt{\\sum_i (R_i - \\bar R)^2 \\sum_i (S_i - \\bar S)^2}}

    with R, S the ranks of x and y. Computed exactly in integers (on doubled ranks; Pearson is scale
    free) and rounded once. NaN when there are fewer than 2 points, when either side is constant (the
    correlation is 0/0), or when any value is NaN (it has no rank).

    >>> spearman([1, 2, 3], [10, 20, 30]), spearman([1, 2, 3], [3, 2, 1]), spearman([1, 2, 3], [1, 1, 2])
    (1.0, -1.0, 0.8660254037844386)
    """
    xs = [float(v) for v in x]
    ys = [float(v) for v in y]
    if len(xs) != len(ys):
        raise ValueError(f"spearman: x and y must be paired; got len(x) = {len(xs)}, len(y) = {len(ys)}")
    n = len(xs)
    if n < 2 or any(math.isnan(v) for v in xs + ys):
        return float("nan")
    rx, ry = _doubled_ranks(xs), _doubled_ranks(ys)
    sx, sy = sum(rx), sum(ry)
    cov = n * sum(p * q for p, q in zip(rx, ry)) - sx * sy
    vx = n * sum(p * p for p in rx) - sx * sx
    vy = n * sum(q * q for q in ry) - sy * sy
    if vx == 0 or vy == 0:
        return float("nan")
    rho = math.sqrt(cov * cov / (vx * vy))  # int / int is correctly rounded
    return math.copysign(min(rho, 1.0), cov)
