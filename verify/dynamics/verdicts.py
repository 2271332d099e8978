"""The verdict rule of the empirical claims, in one place: a paired sign test and a bootstrap effect.

The rule (SPEC.md, "Empirical claims", "The verdict rule"), fixed before any run and never tuned
after one:

- A comparison "A < B" is made seed by seed, on paired runs (runs that differ only in what is compared
  share the seed, the initial weights and the order of the mini-batches).
- It is judged by a one-sided sign test over the seeds. It is **SUPPORTED** when "A < B" holds with
  p < 0.05, **CONTRADICTED** when the opposite, "A > B", holds with p < 0.05, and **INCONCLUSIVE**
  otherwise.
- Each comparison also reports its effect, the median over the seeds of the ratio B/A, with a
  bootstrap 95 % interval.
- A claim is SUPPORTED when all its comparisons are, CONTRADICTED when any is, and INCONCLUSIVE
  otherwise (:func:`combine`). For layer-smoothing, a spectrum statistic is decided over the layers by
  :func:`majority` (more than half), and the claim needs all three statistics (:func:`combine`).

The sign test, with why 5 seeds need unanimity: :mod:`verify.dynamics.statistics` (:func:`sign_test`).

The effect and its interval. With the per-seed ratios r_i = b_i / a_i, the effect is median_i r_i.
The interval is the percentile bootstrap: draw BOOTSTRAP_RESAMPLES = 10 000 resamples of the n ratios
with replacement (one (10 000, n) array of indices from ``numpy.random.Generator(PCG64(0))``), take
the median of each, and report the 2.5 and 97.5 percentiles of those medians (numpy's default linear
interpolation). The generator is seeded, so the interval is the same on every call; with one seed it
is (r, r). The ratio is defined only when every a_i and b_i is finite and positive (for negative
values, B/A > 1 would mean B is *more* negative, which reads backwards); otherwise, and for
comparisons made with ``ratio=False`` (e.g. differences of logarithms), the effect is ``None`` and the
comparison's note says why. The effect is reported beside the verdict and never enters it.

>>> c = compare("(1) omega_M < omega_E", [1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 4.0, 6.0, 8.0, 10.0])
>>> c.verdict, c.n_for, c.n_against, c.p_for == 1 / 32
('SUPPORTED', 5, 0, True)
>>> format_effect(c)
'2.00 [2.00, 2.00]'
>>> four_one = compare("4-1", [1, 1, 1, 1, 2], [2, 2, 2, 2, 1])
>>> four_one.verdict, four_one.p_for == 6 / 32
('INCONCLUSIVE', True)
>>> combine([c.verdict, four_one.verdict]), combine([c.verdict, c.verdict])
('INCONCLUSIVE', 'SUPPORTED')
>>> sign_test(9, 1) == 11 / 1024
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from verify.dynamics.statistics import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, bootstrap_median, sign_test, spearman

__all__ = [
    "SUPPORTED",
    "CONTRADICTED",
    "INCONCLUSIVE",
    "VERDICTS",
    "ALPHA",
    "BOOTSTRAP_RESAMPLES",
    "BOOTSTRAP_SEED",
    "sign_test",
    "Comparison",
    "compare",
    "combine",
    "majority",
    "spearman",
    "ClaimVerdict",
    "format_effect",
    "HELPS",
    "HURTS",
    "NEITHER",
]

#: A comparison whose one-sided sign test in the claimed direction has p < ALPHA; a claim all of whose
#: comparisons are (:func:`combine`).
SUPPORTED = "SUPPORTED"
#: A comparison whose sign test in the opposite direction has p < ALPHA; a claim with any such comparison.
CONTRADICTED = "CONTRADICTED"
#: Neither: a comparison whose sign tests decide nothing at level ALPHA; a claim otherwise.
INCONCLUSIVE = "INCONCLUSIVE"
#: The three verdicts, in the order a report lists them.
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE)

#: The sign test's level: a direction is established when its one-sided p-value is below ALPHA.
ALPHA = 0.05

_NOTE_POSITIVE = "ratio B/A is defined for positive values only"
_NOTE_FINITE = "ratio B/A is defined for finite values only"
_NOTE_NO_RATIO = "this comparison has no meaningful ratio B/A (ratio=False)"


def _verdict(p_for: float, p_against: float) -> str:
    if p_for < ALPHA:
        return SUPPORTED
    if p_against < ALPHA:
        return CONTRADICTED
    return INCONCLUSIVE


def _check_verdict(v, where: str) -> str:
    if v not in VERDICTS:
        raise ValueError(f"{where}: a verdict must be one of {', '.join(VERDICTS)}; got {v!r}")
    return v


@dataclass(frozen=True)
class Comparison:
    """The judged comparison "A < B" over paired seeds: the counts, both p-values, verdict and effect.

    ``n_for`` seeds have A < B, ``n_against`` have A > B, ``n_ties`` have A = B and ``n_missing`` have
    A or B NaN; the last two are dropped from the test, and the four add up to the number of seeds.
    ``p_for = sign_test(n_for, n_against)`` and ``p_against = sign_test(n_against, n_for)``.
    ``effect`` is the median over seeds of B/A and ``interval`` its bootstrap 95 % percentile
    interval; both are ``None`` when the ratio is undefined, and ``note`` says why. Build one with
    :func:`compare`.
    """

    name: str
    a: tuple[float, ...]
    b: tuple[float, ...]
    seeds: tuple[int, ...]
    n_for: int
    n_against: int
    n_ties: int
    n_missing: int
    p_for: float
    p_against: float
    verdict: str
    effect: float | None
    interval: tuple[float, float] | None
    note: str = ""

    def __post_init__(self):
        n = len(self.seeds)
        if len(self.a) != n or len(self.b) != n:
            raise ValueError(
                f"Comparison {self.name!r}: a, b and seeds must have one entry per seed; "
                f"got len(a) = {len(self.a)}, len(b) = {len(self.b)}, len(seeds) = {n}"
            )
        counts = self.n_for + self.n_against + self.n_ties + self.n_missing
        if counts != n:
            raise ValueError(
                f"Comparison {self.name!r}: n_for + n_against + n_ties + n_missing = {counts}, "
                f"but there are {n} seeds"
            )
        _check_verdict(self.verdict, f"Comparison {self.name!r}")
        if (self.effect is None) != (self.interval is None):
            raise ValueError(
                f"Comparison {self.name!r}: effect and interval are both given or both None; "
                f"got effect = {self.effect!r}, interval = {self.interval!r}"
            )

    def to_dict(self) -> dict:
        """A JSON-able dict (NaN values stay floats, as the results file writes them)."""
        return {
            "name": self.name,
            "a": list(self.a),
            "b": list(self.b),
            "seeds": list(self.seeds),
            "n_for": self.n_for,
            "n_against": self.n_against,
            "n_ties": self.n_ties,
            "n_missing": self.n_missing,
            "p_for": self.p_for,
            "p_against": self.p_against,
            "verdict": self.verdict,
            "effect": self.effect,
            "interval": None if self.interval is None else list(self.interval),
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Comparison":
        """The inverse of :meth:`to_dict` (also after a trip through ``json``)."""
        interval = d.get("interval")
        effect = d.get("effect")
        return cls(
            name=str(d["name"]),
            a=tuple(float(v) for v in d["a"]),
            b=tuple(float(v) for v in d["b"]),
            seeds=tuple(int(s) for s in d["seeds"]),
            n_for=int(d["n_for"]),
            n_against=int(d["n_against"]),
            n_ties=int(d["n_ties"]),
            n_missing=int(d["n_missing"]),
            p_for=float(d["p_for"]),
            p_against=float(d["p_against"]),
            verdict=str(d["verdict"]),
            effect=None if effect is None else float(effect),
            interval=None if interval is None else (float(interval[0]), float(interval[1])),
            note=str(d.get("note", "")),
        )


def _floats(name: str, label: str, xs) -> tuple[float, ...]:
    if isinstance(xs, (str, bytes)):
        raise TypeError(f"compare({name!r}): {label} must be a sequence of numbers, one per seed; got a string")
    try:
        arr = np.asarray(xs, dtype=float)
    except (TypeError, ValueError) as e:
        raise TypeError(f"compare({name!r}): {label} must be a sequence of numbers, one per seed ({e})") from None
    if arr.ndim != 1:
        raise ValueError(f"compare({name!r}): {label} must be one number per seed (1-D); got shape {arr.shape}")
    return tuple(float(v) for v in arr)


def _effect(a: tuple[float, ...], b: tuple[float, ...], seeds: tuple[int, ...], ratio: bool):
    """(effect, interval, note) for the ratio B/A over the seeds."""
    if not ratio:
        return None, None, _NOTE_NO_RATIO
    for ai, bi, s in zip(a, b, seeds):
        if not (math.isfinite(ai) and math.isfinite(bi)):
            return None, None, f"{_NOTE_FINITE}: seed {s} has a = {ai!r}, b = {bi!r}"
    for ai, bi, s in zip(a, b, seeds):
        if not (ai > 0 and bi > 0):
            return None, None, f"{_NOTE_POSITIVE}: seed {s} has a = {ai:.3g}, b = {bi:.3g}"
    r = np.asarray(b, dtype=float) / np.asarray(a, dtype=float)
    return float(np.median(r)), bootstrap_median(r), ""


def compare(name: str, a, b, seeds=None, *, ratio: bool = True) -> Comparison:
    """Judge "A < B" over paired seeds by the sign test, with the effect median(B/A) and its interval.

    ``a[i]`` and ``b[i]`` are the two sides on seed ``seeds[i]`` (default ``0, 1, ..., n-1``). A seed
    counts for the comparison when a_i < b_i, against it when a_i > b_i, as a tie when a_i = b_i and
    as missing when either is NaN; ties and missing seeds are dropped from the test. The verdict is
    SUPPORTED when ``sign_test(n_for, n_against) < ALPHA``, CONTRADICTED when
    ``sign_test(n_against, n_for) < ALPHA``, and INCONCLUSIVE otherwise (SPEC.md, "The verdict
    rule"). Set ``ratio=False`` when B/A means nothing (e.g. the sides are differences of logs): the
    effect is then ``None``.

    >>> c = compare("x", [1.0, 2.0, float("nan")], [2.0, 2.0, 1.0], seeds=[3, 4, 5])
    >>> c.n_for, c.n_against, c.n_ties, c.n_missing, c.verdict
    (1, 0, 1, 1, 'INCONCLUSIVE')
    >>> c.effect is None, c.note
    (True, 'ratio B/A is defined for finite values only: seed 5 has a = nan, b = 1.0')
    """
    name = str(name)
    af = _floats(name, "a", a)
    bf = _floats(name, "b", b)
    if len(af) != len(bf):
        raise ValueError(
            f"compare({name!r}): a and b must be paired, one value per seed; got len(a) = {len(af)}, len(b) = {len(bf)}"
        )
    if len(af) == 0:
        raise ValueError(f"compare({name!r}): needs at least one seed; got empty a and b")
    if seeds is None:
        sd = tuple(range(len(af)))
    else:
        sd = tuple(int(s) for s in seeds)
        if len(sd) != len(af):
            raise ValueError(
                f"compare({name!r}): one seed per pair is needed; got len(seeds) = {len(sd)}, len(a) = len(b) = {len(af)}"
            )
        if len(set(sd)) != len(sd):
            raise ValueError(f"compare({name!r}): seeds must be distinct (each is one pair of runs); got {sd}")
    n_for = n_against = n_ties = n_missing = 0
    for ai, bi in zip(af, bf):
        if math.isnan(ai) or math.isnan(bi):
            n_missing += 1
        elif ai < bi:
            n_for += 1
        elif ai > bi:
            n_against += 1
        else:
            n_ties += 1
    p_for = sign_test(n_for, n_against)
    p_against = sign_test(n_against, n_for)
    effect, interval, note = _effect(af, bf, sd, ratio)
    return Comparison(
        name=name,
        a=af,
        b=bf,
        seeds=sd,
        n_for=n_for,
        n_against=n_against,
        n_ties=n_ties,
        n_missing=n_missing,
        p_for=p_for,
        p_against=p_against,
        verdict=_verdict(p_for, p_against),
        effect=effect,
        interval=interval,
        note=note,
    )


def combine(verdicts: Iterable[str]) -> str:
    """The claim rule: SUPPORTED if every verdict is, CONTRADICTED if any is, else INCONCLUSIVE.

    An empty list has nothing in support, so it is INCONCLUSIVE.

    >>> combine([SUPPORTED, SUPPORTED]), combine([SUPPORTED, CONTRADICTED, INCONCLUSIVE]), combine([])
    ('SUPPORTED', 'CONTRADICTED', 'INCONCLUSIVE')
    """
    vs = [_check_verdict(v, "combine") for v in verdicts]
    if not vs:
        return INCONCLUSIVE
    if CONTRADICTED in vs:
        return CONTRADICTED
    if all(v == SUPPORTED for v in vs):
        return SUPPORTED
    return INCONCLUSIVE


def majority(verdicts: Iterable[str]) -> str:
    """Layer-smoothing's per-statistic rule: SUPPORTED (CONTRADICTED) if more than half the layers are.

    "More than half" is strict: 1 of 2 is not enough, and an empty list is INCONCLUSIVE.

    >>> majority([SUPPORTED, SUPPORTED, INCONCLUSIVE]), majority([SUPPORTED, CONTRADICTED])
    ('SUPPORTED', 'INCONCLUSIVE')
    """
    vs = [_check_verdict(v, "majority") for v in verdicts]
    n = len(vs)
    if 2 * vs.count(SUPPORTED) > n:
        return SUPPORTED
    if 2 * vs.count(CONTRADICTED) > n:
        return CONTRADICTED
    return INCONCLUSIVE


@dataclass(frozen=True)
class ClaimVerdict:
    """One empirical claim's verdict with everything it rests on.

    ``comparisons`` are the claim's judged comparisons; ``groups`` holds named sub-results that the
    verdict is built from (e.g. per spectrum statistic: ``{"largest": {"verdict": ..., "layers":
    {...}}}``); ``sub_verdicts`` are reported beside the claim but outside its verdict (e.g. each
    ``ce+R`` against ``ce`` for layer-smoothing). Both dicts must be JSON-able.
    """

    claim: str
    data: str
    verdict: str
    comparisons: tuple[Comparison, ...]
    groups: dict = field(default_factory=dict)
    sub_verdicts: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def __post_init__(self):
        _check_verdict(self.verdict, f"ClaimVerdict {self.claim!r}")

    def to_dict(self) -> dict:
        """A JSON-able dict: the comparisons as :meth:`Comparison.to_dict` dicts."""
        return {
            "claim": self.claim,
            "data": self.data,
            "verdict": self.verdict,
            "comparisons": [c.to_dict() for c in self.comparisons],
            "groups": self.groups,
            "sub_verdicts": self.sub_verdicts,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "ClaimVerdict":
        """The inverse of :meth:`to_dict`."""
        return cls(
            claim=str(d["claim"]),
            data=str(d["data"]),
            verdict=str(d["verdict"]),
            comparisons=tuple(Comparison.from_dict(c) for c in d.get("comparisons", ())),
            groups=dict(d.get("groups", {})),
            sub_verdicts=dict(d.get("sub_verdicts", {})),
            notes=tuple(str(s) for s in d.get("notes", ())),
        )


def _fmt(v: float, fixed: bool) -> str:
    return f"{v:.2f}" if fixed else f"{v:.3g}"


def format_effect(c: Comparison) -> str:
    """The effect and its interval for a table: ``"1.23 [1.05, 1.40]"``, or ``"n/a (why)"``.

    Two decimals when every number lies in [0.1, 1000), three significant digits otherwise.

    >>> format_effect(compare("x", [1.0], [1.5])), format_effect(compare("x", [0.0], [1.0]))
    ('1.50 [1.50, 1.50]', 'n/a (ratio B/A is defined for positive values only: seed 0 has a = 0, b = 1)')
    """
    if c.effect is None or c.interval is None:
        return f"n/a ({c.note})" if c.note else "n/a"
    vals = (c.effect, *c.interval)
    fixed = all(0.1 <= abs(v) < 1000 for v in vals)
    lo, hi = c.interval
    return f"{_fmt(c.effect, fixed)} [{_fmt(lo, fixed)}, {_fmt(hi, fixed)}]"


# ---- the dose-response of EMR (round 2, a secondary analysis outside every verdict) --------------------------

#: A dose whose Holm-corrected p of "EMR better" is below ALPHA (verify.dynamics.dose.dose_response).
HELPS = "helps"
#: A dose whose Holm-corrected p of the opposite comparison is below ALPHA.
HURTS = "hurts"
#: A dose that neither helps nor hurts at level ALPHA.
NEITHER = "neither"


