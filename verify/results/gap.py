"""One record for every check: :class:`Gap` (the results files that carry them: :mod:`verify.results.records`).

A :class:`Gap` holds, for one sub-statement of one claim on one network, the two sides per point,
the floating-point error bound of their difference per point, and the facts that explain a failure
(dtype, device, seed, architecture, kink distance, whether the pattern changed).

- ``identity``: ``lhs`` is the definition, ``rhs`` the derived form; the check holds at a point when
  ``|lhs - rhs| <= bound``.
- ``inequality``: the statement is ``lhs <= rhs``; its slack is ``rhs - lhs``, and the check holds
  when ``slack >= -bound``.
- ``measurement``: values reported, no verdict (``ok`` is ``None``).

A check is only as strong as its bound. At each point the *resolution* ``bound / scale`` (the scale
is ``max(|lhs|, |rhs|)`` unless the checker gives one) is the smallest relative error the check can see; a point with resolution >= 1/2 (or a non-finite
bound) is *uninformative*: a value off by a factor of 2 could pass there. Uninformative
points still count against a failure, never for a pass: :attr:`Gap.n_informative` says how many
interior points tested the statement, and a check with none is :attr:`Gap.vacuous`.

Points on a kink (``kink_distance == 0``, or where the float pattern is not certified, as decided by
the checker through ``on_kink``) are counted and excluded from the verdict, because the claim's
assumption (an interior point) does not hold there. ``kink_decision`` says, per point, what a point
within the dtype's rounding of a kink was decided to be (:mod:`verify.numerics.kinks`): ``""`` not in doubt,
``"float64"`` / ``"exact"`` recovered (judged), ``"kink"`` a real kink, ``"wrong"`` a float pattern
certified wrong, ``"undecided"``, ``"float-tie"`` (pattern certified, but the float pass is exactly on a kink,
where autograd's side is a convention); the last four are exactly the points ``on_kink``. Points outside a
claim's other assumptions (``excluded``, e.g. x + h z left the region of x) are likewise counted
and excluded. Both counts are reported beside every verdict.

>>> g = Gap("input-gradient", "grad L = J^T (p - e)", "identity", lhs=[1.0, 2.0], rhs=[1.0, 2.0 + 1e-15],
...         bound=[1e-14, 1e-14], dtype="float64", device="cpu", seed=0, arch="mlp-2x3x2-relu")
>>> g.ok, g.max_gap_over_bound < 1, g.n_informative
(True, True, 2)
>>> wide = Gap("input-gradient", "grad L = J^T (p - e)", "identity", lhs=[1.0], rhs=[1.9], bound=[2.0],
...            dtype="float32", device="cpu", seed=0, arch="mlp-2x3x2-relu")
>>> wide.ok, wide.vacuous
(True, True)
>>> Gap.from_dict(g.to_dict()) == g
True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Sequence

__all__ = ["Gap", "INFORMATIVE_RESOLUTION", "KINK_DECISIONS", "NOT_JUDGED", "RESULTS_SCHEMA"]

#: Version tag written on every results line; readers refuse other major versions.
RESULTS_SCHEMA = "relu-regularizer-verification/results/1"

_KINDS = ("identity", "inequality", "measurement")

#: The decision codes of :mod:`verify.numerics.kinks` (defined here, with the record, so that reading results needs
#: no torch), and those of the points that are not judged.
KINK_DECISIONS = ("", "float64", "exact", "kink", "wrong", "undecided", "float-tie")
#: The kink decisions of the points that are counted but never judged.
NOT_JUDGED = ("kink", "wrong", "undecided", "float-tie")

#: A point is informative when its bound is below this fraction of the values' size: then |a - b|
#: for a = 2 b (or b = 2 a, or opposite signs) exceeds the bound.
INFORMATIVE_RESOLUTION = 0.5


def _floats(xs) -> list[float]:
    return [float(v) for v in xs]


@dataclass
class Gap:
    """The outcome of one check of one claim on one network, point by point."""

    claim: str
    check: str
    kind: str
    lhs: Sequence[float]
    rhs: Sequence[float]
    bound: Sequence[float]
    dtype: str
    device: str
    seed: int
    arch: str
    kink_distance: Sequence[float] | None = None
    on_kink: Sequence[bool] | None = None
    pattern_changed: Sequence[bool] | None = None
    excluded: Sequence[bool] | None = None
    extra: dict = field(default_factory=dict)
    scale: Sequence[float] | None = None
    kink_decision: Sequence[str] | None = None

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise ValueError(f"Gap.kind must be one of {_KINDS}, got {self.kind!r}")
        self.lhs, self.rhs, self.bound = _floats(self.lhs), _floats(self.rhs), _floats(self.bound)
        n = len(self.lhs)
        if len(self.rhs) != n or len(self.bound) != n:
            raise ValueError(f"Gap {self.claim}/{self.check}: lhs, rhs and bound must have one value per "
                             f"point; got {n}, {len(self.rhs)} and {len(self.bound)}")
        if self.kink_distance is not None:
            self.kink_distance = _floats(self.kink_distance)
        if self.kink_decision is not None:
            self.kink_decision = [str(c) for c in self.kink_decision]
            bad = sorted({c for c in self.kink_decision if c not in KINK_DECISIONS})
            if bad:
                raise ValueError(f"Gap {self.claim}/{self.check}: kink_decision codes must be among {KINK_DECISIONS}, "
                                 f"got {bad}")
            judged = [c in NOT_JUDGED for c in self.kink_decision]
            if self.on_kink is None:
                self.on_kink = judged
            elif len(self.on_kink) == n and [bool(v) for v in self.on_kink] != judged:
                raise ValueError(f"Gap {self.claim}/{self.check}: on_kink must be True exactly where kink_decision "
                                 f"is one of {NOT_JUDGED}")
        if self.on_kink is None and self.kink_distance is not None:
            self.on_kink = [d == 0.0 for d in self.kink_distance]
        if self.on_kink is not None:
            self.on_kink = [bool(v) for v in self.on_kink]
        if self.pattern_changed is not None:
            self.pattern_changed = [bool(v) for v in self.pattern_changed]
        if self.excluded is not None:
            self.excluded = [bool(v) for v in self.excluded]
        if self.scale is not None:
            self.scale = _floats(self.scale)
        for name in ("kink_distance", "on_kink", "pattern_changed", "excluded", "scale", "kink_decision"):
            v = getattr(self, name)
            if v is not None and len(v) != n:
                raise ValueError(f"Gap {self.claim}/{self.check}: {name} has {len(v)} entries for {n} points")

    # ---- per point -------------------------------------------------------------------------
    @property
    def n_points(self) -> int:
        return len(self.lhs)

    @property
    def abs_err(self) -> list[float]:
        """|lhs - rhs| per point (identity), or the violation max(lhs - rhs, 0) (inequality)."""
        if self.kind == "inequality":
            return [max(a - b, 0.0) for a, b in zip(self.lhs, self.rhs)]
        return [abs(a - b) for a, b in zip(self.lhs, self.rhs)]

    @property
    def rel_err(self) -> list[float]:
        return [e / max(abs(a), abs(b)) if max(abs(a), abs(b)) > 0 else (0.0 if e == 0 else math.inf)
                for e, a, b in zip(self.abs_err, self.lhs, self.rhs)]

    @property
    def slack(self) -> list[float]:
        """rhs - lhs: how much room an inequality ``lhs <= rhs`` leaves."""
        return [b - a for a, b in zip(self.lhs, self.rhs)]

    @property
    def gap_over_bound(self) -> list[float]:
        return [e / b if b > 0 else (0.0 if e == 0 else math.inf) for e, b in zip(self.abs_err, self.bound)]

    def _interior(self) -> list[int]:
        """Points where the claim's assumptions hold: not on a kink, not excluded."""
        kinks = self.on_kink or [False] * self.n_points
        out = self.excluded or [False] * self.n_points
        return [i for i in range(self.n_points) if not kinks[i] and not out[i]]

    @property
    def resolution(self) -> list[float]:
        """bound / scale per point: the smallest relative error the check can detect there (inf where
        the scale is 0 or the bound is not finite). The scale is max(|lhs|, |rhs|) unless the checker
        gives one: a statement whose true value is 0 (a PSD form along a null direction, a rank) is
        judged against the size of what it is about (e.g. |H|_2)."""
        scales = self.scale or [max(abs(a), abs(b)) for a, b in zip(self.lhs, self.rhs)]
        return [e / sc if sc > 0 and math.isfinite(e) and math.isfinite(sc) else math.inf
                for e, sc in zip(self.bound, scales)]

    def informative_points(self) -> list[int]:
        """Interior points whose resolution is below :data:`INFORMATIVE_RESOLUTION`: there a value off
        by a factor of 2 (or more, or of the wrong sign) would fail."""
        if self.kind == "measurement":
            return []
        res = self.resolution
        return [i for i in self._interior() if res[i] < INFORMATIVE_RESOLUTION]

    # ---- summaries -------------------------------------------------------------------------
    @property
    def n_interior(self) -> int:
        return len(self._interior())

    @property
    def n_informative(self) -> int:
        return len(self.informative_points())

    @property
    def vacuous(self) -> bool:
        """A verdict check with interior points but none informative: its pass proves nothing."""
        return self.kind != "measurement" and self.n_interior > 0 and self.n_informative == 0

    @property
    def n_kinks(self) -> int:
        return sum(self.on_kink or [])

    def n_decided(self, *codes: str) -> int:
        """Points whose ``kink_decision`` is one of ``codes`` (0 without a decision record), e.g.
        ``n_decided("float64", "exact")``: the points within rounding of a kink that were recovered."""
        return sum(c in codes for c in self.kink_decision or [])

    @property
    def n_excluded(self) -> int:
        return sum(self.excluded or [])

    @property
    def n_crossings(self) -> int:
        return sum(self.pattern_changed or [])

    @property
    def failures(self) -> list[int]:
        """Indices of interior points where the check does not hold."""
        if self.kind == "measurement":
            return []
        gob = self.gap_over_bound
        bad = []
        for i in self._interior():
            v = gob[i]
            if not (v <= 1.0) or any(math.isnan(t) for t in (self.lhs[i], self.rhs[i])):
                bad.append(i)
        return bad

    @property
    def ok(self) -> bool | None:
        return None if self.kind == "measurement" else not self.failures

    @property
    def max_gap_over_bound(self) -> float:
        gob = self.gap_over_bound                 # one list, not one per point
        return max((gob[i] for i in self._interior()), default=0.0)

    @property
    def max_rel_err(self) -> float:
        rel = self.rel_err
        return max((rel[i] for i in self._interior()), default=0.0)

    def diagnosis(self) -> str:
        """A failure message that explains itself: the claim, the worst point, both sides, the bound,
        dtype, device, seed, the kink distance and whether the pattern changed."""
        head = f"[{self.claim}] {self.check} on {self.arch} ({self.dtype}, {self.device}, seed {self.seed})"
        if self.kind == "measurement":
            return head + ": measurement, no verdict"
        bad = self.failures
        gob = self.gap_over_bound
        idx = self._interior()
        i = max(bad or idx or [0], key=lambda k: gob[k] if idx else 0)
        if not self.n_points:
            return head + ": no points"
        kd = self.kink_distance[i] if self.kink_distance else float("nan")
        pc = self.pattern_changed[i] if self.pattern_changed else None
        dec = self.kink_decision[i] if self.kink_decision else ""
        why = {"float64": " (within rounding of a kink; pattern certified in float64)",
               "exact": " (within rounding of a kink; pattern certified exactly)"}.get(dec, "")
        rel = "<=" if self.kind == "inequality" else "=="
        verdict = ("HOLDS" if not bad else f"FAILS at {len(bad)} of {len(idx)} interior points") + \
            f" ({self.n_informative} of {len(idx)} interior points informative)"
        return (f"{head}: {verdict}; worst point {i}: lhs={self.lhs[i]!r} {rel} rhs={self.rhs[i]!r}, "
                f"error {self.abs_err[i]:.3e} vs bound {self.bound[i]:.3e} (ratio {gob[i]:.3g}); "
                f"kink distance {kd:.3e}{why}; pattern changed: {pc}; kinks excluded: {self.n_kinks}; "
                f"outside assumptions: {self.n_excluded}")

    __str__ = diagnosis

    # ---- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Gap":
        return cls(**d)


