"""What :func:`verify.check_implementation` concludes from its per-batch numbers, in words: the
:class:`ImplementationReport`, and the search for a known convention times a simple factor.

A factor is a product 2^a B^b K^c lambda^d of at most two of the atoms 1/2, 2, B, 1/B, K, 1/K (and, for a
weighted regularizer with lambda != 1, lambda and 1/lambda): 1/B^2, 2/B, K^2, 1/(2B), ... The user's value
is that convention times that factor when on every batch |user - f ref| <= |f| tol + 2 gamma_4 |f ref| (tol the
convention's rounding bound, gamma_4 the few roundings of the factor). B and K are those of each batch, so a
factor in B or K is identified only when B and K vary over the batches: where two candidate factors take
the same value on every batch (B the same everywhere: 1/B and the constant 1/5 are one number) the report
names both and says the batches could not tell them apart.

>>> factor_text((0, -2, 0, 0)), factor_text((-1, -1, 0, 0)), factor_text((1, 0, -1, 0)), factor_text((0, 0, 0, -1))
('1/B^2', '1/(2B)', '2/K', '1/lambda')
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from verify.numerics.bounds import gamma
from verify.regularizers.definitions import CONVENTIONS
from verify.regularizers.names import regularizer_id

__all__ = ["ImplementationReport", "WEIGHTED", "BATCH_POWER", "describe", "factor_text", "factor_value",
           "factor_fits", "find_factors", "constant_ratio", "ratio_text", "conclude"]

#: The regularizers whose conventions carry a weight lambda (compared as lambda times the unweighted value).
WEIGHTED = ("R-CURE",)

#: The power of B in each convention's batch scale (mean 1/B, ross-doshi-velez 1/B^2, ...): it says whether a
#: factor 1/B means "the batch averaged twice" or "a mean where the convention sums".
BATCH_POWER = {"mean": -1, "sum": 0, "ross-doshi-velez": -2, "dtak-rrr": 0, "hoffman": -1,
               "hein-andriushchenko": -1, "cure-pytorch": -2, "emr-official": -2}

_SYMBOLS = ("2", "B", "K", "lambda")


def describe(regularizer: str, convention: str) -> str:
    """The batch value of a convention, with the weight lambda in front where the regularizer is weighted."""
    d = CONVENTIONS[regularizer][convention]
    return d if regularizer not in WEIGHTED or "lambda" in d else f"lambda {d}"


def factor_value(vec, B: int, K: int, lam: float) -> float:
    """2^a B^b K^c lambda^d for vec = (a, b, c, d)."""
    return math.prod(float(v) ** e for v, e in zip((2, B, K, lam), vec))


def factor_text(vec) -> str:
    """The factor as one reads it: '1/B', '2/B', '1/(2B)', 'K^2', 'B/K', 'lambda'."""
    def part(sign):
        terms = [s + (f"^{abs(e)}" if abs(e) > 1 and s != "2" else "") for s, e in zip(_SYMBOLS, vec) if e * sign > 0]
        terms = [str(2 ** abs(vec[0])) if t == "2" else t for t in terms]
        return terms
    num, den = part(+1), part(-1)
    top = "".join(num) if num else "1"
    if not den:
        return top
    bottom = "".join(den)
    return f"{top}/{bottom}" if len(den) == 1 else f"{top}/({bottom})"


def _candidates(lam: float, weighted: bool):
    """Every factor of at most two atoms (the zero vector excluded), simplest first."""
    atoms = [(1, 0, 0, 0), (-1, 0, 0, 0), (0, 1, 0, 0), (0, -1, 0, 0), (0, 0, 1, 0), (0, 0, -1, 0)]
    if weighted and lam != 1:
        atoms += [(0, 0, 0, 1), (0, 0, 0, -1)]
    out = {a: 1 for a in atoms}
    for a, b in itertools.combinations_with_replacement(atoms, 2):
        v = tuple(p + q for p, q in zip(a, b))
        if any(v) and v not in out:
            out[v] = 2
    return sorted(out.items(), key=lambda kv: kv[1])


def factor_fits(details, convention: str, vec, lam: float) -> bool:
    """Whether user = factor * convention within the rounding bound on every batch (see the module docstring)."""
    for d in details:
        c = d["conventions"][convention]
        f = factor_value(vec, d["B"], d["K"], lam)
        if not abs(d["user"] - f * c["value"]) <= abs(f) * c["tol"] + 2 * gamma(4, d["u"]) * abs(f * c["value"]):
            return False
    return True


def find_factors(details, names, lam: float, weighted: bool) -> list:
    """[(complexity, convention, vec)] for every convention and factor that fit, simplest first (ties keep
    the order of ``names``)."""
    cands = _candidates(lam, weighted)
    fits = [(n, c, vec) for c in names for vec, n in cands if factor_fits(details, c, vec, lam)]
    return sorted(fits, key=lambda t: (t[0], names.index(t[1])))


def constant_ratio(details, convention: str) -> float | None:
    """The ratio user/convention when it is one constant on every batch (within the bounds), else None."""
    c0 = details[0]["conventions"][convention]
    if not c0["value"] or len(details) < 2:
        return None
    r = details[0]["user"] / c0["value"]
    for d in details:
        c = d["conventions"][convention]
        if not abs(d["user"] - r * c["value"]) <= 2 * abs(r) * c["tol"] + 4 * gamma(4, d["u"]) * abs(d["user"]):
            return None
    return r


def ratio_text(r: float) -> str:
    """A ratio near 1 with the digits that tell it from 1 (1 + 1e-6 is not printed as '1')."""
    if math.isfinite(r) and r != 1 and abs(r - 1) < 1e-4:
        return f"1 {'+' if r > 1 else '-'} {abs(r - 1):.3g}"
    return f"{r:.6g}"


def _why(convention: str, vec, lam: float, weighted: bool = False) -> str:
    """A guess at the slip behind a factor, in words."""
    two, b, k, lm = vec
    own = BATCH_POWER.get(convention, -1)
    out = []
    if two:
        out.append({1: "a factor 1/2 missing", -1: "an extra factor 1/2 (tf.nn.l2_loss's?)"}.get(
            two, f"an extra factor {factor_text((two, 0, 0, 0))}"))
    if b:
        if b < 0:
            out.append(("the batch is averaged twice" if own < 0 else "a mean over the batch where the convention "
                        "sums") if b == -1 else "the batch averaged twice more than the convention")
        else:
            out.append(("a sum over the batch where the convention averages" if own < 0 else "a factor B too many")
                       if b == 1 else "a batch scaling 1/B^2 missing")
    if k:
        out.append({-1: "an extra mean over the K classes", 1: "a sum over the K classes where the convention "
                    "averages"}.get(k, f"a class scaling {factor_text((0, 0, k, 0))}"))
    if lm:
        out.append(f"your code does not multiply by lam = {lam:g} (pass lam=1 if it is unweighted)" if lm < 0
                   else f"the weight lam = {lam:g} applied twice")
    text = "; ".join(out)
    if weighted and two and not (b or k or lm):
        w = factor_value(vec, 1, 1, lam) * lam
        text += f", or does your code weight the penalty by {w:g} (then pass lam={w:g}: the weight your fn multiplies by)"
    return text + "?"


def _sizes(details, key: str) -> str:
    vals = sorted({d[key] for d in details})
    return ", ".join(map(str, vals))


@dataclass
class ImplementationReport:
    """The outcome of :func:`verify.check_implementation`.

    ``matched``: the convention the user's value equals within the rounding bound on every batch (None if
    none); ``candidates``: that verdict per convention; ``convention``: the one the user named (None if not
    named); ``factor``: when nothing matched, the simplest known convention times a simple factor that
    fits every batch ({"convention", "factor", "vec", "alternatives", "why"}), else None; ``details``:
    per-batch numbers; ``counterexample``: a batch where the closest convention departs; ``lam``: the
    weight of a weighted regularizer. ``ok``: the user's code implements the named convention (or, when
    none was named, some known convention)."""

    regularizer: str
    matched: str | None
    candidates: dict
    details: list = field(default_factory=list)
    counterexample: dict | None = None
    convention: str | None = None
    factor: dict | None = None
    related: list = field(default_factory=list)
    lam: float = 1.0
    h: float | None = None
    source: str = "random networks"

    def __post_init__(self):
        self.regularizer = regularizer_id(self.regularizer)

    @property
    def ok(self) -> bool:
        return self.matched is not None and self.convention in (None, self.matched)

    @property
    def self_check(self) -> bool:
        """Whether the toolkit's own two computations of every convention (the definition, and the derived
        closed form on the linearization) agreed within their bounds on every network: if not, the report
        rests on a toolkit error, and says so."""
        return all(c["definition_vs_closed_ok"] for d in self.details for c in d["conventions"].values())

    def _conv(self, c: str) -> str:
        return f"convention {c!r}: {describe(self.regularizer, c)}"

    def _factor_phrase(self, fac: dict) -> str:
        vec = fac["vec"]
        where = []
        if vec[1]:
            where.append(f"B = {_sizes(self.details, 'B')}, the batch size" + ("s" if "," in _sizes(
                self.details, 'B') else ""))
        if vec[2]:
            where.append(f"K = {_sizes(self.details, 'K')}, the classes")
        if vec[3]:
            where.append(f"lambda = {self.lam:g}")
        return f"{fac['factor']}" + (f" ({'; '.join(where)})" if where else "")

    def __str__(self) -> str:
        n = len(self.details)
        head = f"check_implementation({self.regularizer}) on " + (f"{n} networks: " if self.source == "random networks"
                                                                  else f"{self.source} ({n} batches): ")
        lines = []
        named, m = self.convention, self.matched
        if m and named in (None, m):
            lines.append(head + f"MATCHES {self._conv(m)}" + ("  (the convention you named)" if named else ""))
        elif m:
            lines.append(head + f"does NOT match convention {named!r}, the one you named: "
                         f"{describe(self.regularizer, named)}")
            rel = next((r for r in self.related if r["convention"] == named), None)
            lines.append(f"  yours MATCHES convention {m!r} instead: {describe(self.regularizer, m)}")
            if rel:
                lines.append(f"  that is {named!r} times {self._factor_phrase(rel)}: {rel['why']}")
        elif self.factor:
            f = self.factor
            lines.append(head + "matches NO known convention exactly" + (
                f" (nor {named!r}, the one you named)" if named and named != f["convention"] else ""))
            lines.append(f"  yours = convention {f['convention']!r} times {self._factor_phrase(f)}: {f['why']}")
            lines.append(f"    {f['convention']!r}: {describe(self.regularizer, f['convention'])}")
            for c, text in f["alternatives"]:
                lines.append(f"    or equally: {c!r} times {text}")
            for r in self.related:
                lines.append(f"    that is {r['convention']!r}, the one you named, times {r['factor']}")
            if f.get("note"):
                lines.append(f"  note: {f['note']}")
        else:
            lines.append(head + "matches NO known convention" + (f" (nor {named!r}, the one you named)"
                                                                 if named else ""))
        if self.counterexample and not m:
            c = self.counterexample
            lines.append(f"  {'e.g.' if self.factor else 'closest:'} {c['convention']!r} departs on {c['network']} "
                         f"(batch of {c['B']}, x shape {c['x_shape']}, seed {c['seed']}): yours = {c['user']!r}, "
                         f"{c['convention']} = {c['value']!r} (ratio {ratio_text(c['ratio'])}, |diff| "
                         f"{c['diff']:.3e} > tol {c['tol']:.3e})")
            if c.get("constant_ratio") is not None and not self.factor:
                hint = (f"; if your code weights the penalty by {c['constant_ratio']:g}, pass "
                        f"lam={c['constant_ratio'] * self.lam:g} (lam is the weight your fn multiplies by)"
                        if self.regularizer in WEIGHTED else "")
                lines.append(f"  the ratio is the constant {ratio_text(c['constant_ratio'])} on every batch: a "
                             f"constant factor, not one in B or K{hint}")
            if c.get("float32_match"):
                lines.append(f"  yours agrees with {c['convention']!r} within float32 rounding on every network: "
                             f"if your code computes in float32, run check_implementation(..., dtype=torch.float32)")
        if m and named is None and self.related:
            lines.append("  (if you meant another convention: yours = " + "; ".join(
                f"{r['convention']!r} times {r['factor']}" for r in self.related) + ")")
        if self.details:
            info = f"  checked on: {self.source}, B = {_sizes(self.details, 'B')}, K = {_sizes(self.details, 'K')}"
            if self.regularizer in WEIGHTED:
                info += (f"; lambda = {self.lam:g} (the weight your fn multiplies by: every convention is compared as "
                         f"lambda times its unweighted value)" + (f", h = {self.h:g}" if self.h is not None else ""))
            lines.append(info)
        for name, ok in self.candidates.items():
            lines.append(f"  {'yes' if ok else ' no'}  {name}: {describe(self.regularizer, name)}")
        lines.append("  toolkit self-check (definition vs derived closed form, every convention and network): "
                     + ("agree within their bounds" if self.self_check else
                        "DISAGREE somewhere: this report rests on a toolkit error (see details)"))
        return "\n".join(lines)


def _relation(details, names, c, lam, weighted):
    """The simplest factor with user = factor * convention ``c`` on every batch, as a dict, or None."""
    fits = find_factors(details, [c], lam, weighted)
    if not fits:
        return None
    vec = fits[0][2]
    return {"convention": c, "factor": factor_text(vec), "vec": vec, "why": _why(c, vec, lam, weighted)}


def _counterexample(details, names, best):
    d = next((r for r in details if not r["conventions"][best]["match"]), details[0])
    cv = d["conventions"][best]
    return {"convention": best, "network": d["network"], "seed": d["seed"], "B": d["B"], "x_shape": d["x_shape"],
            "user": d["user"], "value": cv["value"], "diff": cv["diff"], "tol": cv["tol"],
            "ratio": d["user"] / cv["value"] if cv["value"] else math.inf,
            "float32_match": all(r["conventions"][best]["match_float32"] for r in details),
            "constant_ratio": constant_ratio(details, best)}


def conclude(regularizer: str, details: list, *, convention: str | None = None, lam: float = 1.0,
             h: float | None = None, source: str = "random networks") -> ImplementationReport:
    """The report from the per-batch numbers: the exact match (the named convention first, then the peer
    conventions, then mean and sum), else the simplest convention times a factor, else the closest one."""
    regularizer = regularizer_id(regularizer)
    weighted = regularizer in WEIGHTED
    names = list(details[0]["conventions"])
    cand = {c: all(d["conventions"][c]["match"] for d in details) for c in names}
    prefer = ([convention] if convention else []) + [c for c in names if c not in ("mean", "sum", convention)]
    prefer += [c for c in ("mean", "sum") if c in names and c != convention]
    matched = next((c for c in prefer if cand[c]), None)
    report = ImplementationReport(regularizer, matched, cand, details, convention=convention, lam=lam, h=h,
                                  source=source)
    if matched:
        others = [c for c in prefer if c != matched]
        report.related = [r for r in (_relation(details, names, c, lam, weighted) for c in others) if r]
        return report
    fits = find_factors(details, prefer, lam, weighted)
    if fits:
        n0, c0, v0 = fits[0]
        alt = [(c, factor_text(v)) for n, c, v in fits[1:] if n == n0]
        same = [factor_text(v) for n, c, v in fits[1:] if c == c0 and n > n0]
        notes = []
        if same:
            notes.append(f"on these batches {factor_text(v0)} also equals {', '.join(same)}: they cannot be told apart "
                         f"here (more networks, or batches of other sizes, would)")
        if v0[1] and len({d["B"] for d in details}) == 1:
            b = details[0]["B"]
            notes.append(f"B = {b} on every batch, so this factor cannot be told from the constant "
                         f"{factor_value(v0, b, details[0]['K'], lam):g}; batches of several sizes (batch=(5, 7), "
                         f"the default) tell them apart")
        report.factor = {"convention": c0, "factor": factor_text(v0), "vec": v0, "alternatives": alt,
                         "why": _why(c0, v0, lam, weighted), "note": "; ".join(notes)}
        if convention and convention != c0:
            report.related = [r for r in [_relation(details, names, convention, lam, weighted)] if r]
        report.counterexample = _counterexample(details, names, c0)
        return report
    const = [(abs(math.log(abs(r))), c) for c in prefer if (r := constant_ratio(details, c))]
    if const:
        best = min(const)[1]
    else:
        def score(c):
            return sum(d["conventions"][c]["match"] for d in details), -max(
                abs(math.log(abs(d["user"] / d["conventions"][c]["value"]))) if d["user"] and d["conventions"][c]["value"]
                else math.inf for d in details)
        best = max(names, key=score)
    report.counterexample = _counterexample(details, names, best)
    return report
