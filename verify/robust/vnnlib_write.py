"""Writing VNNLIB properties: :func:`write_vnnlib` (a :class:`~verify.robust.vnnlib.Property` as text that
:func:`~verify.robust.vnnlib.parse_vnnlib` reads back exactly) and :func:`linf_ball_property` (the property
"the clipped l-inf ball around x is not robustly of class y", as the verification competition writes it).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from verify.robust.vnnlib import Constraint, Property

__all__ = ["write_vnnlib", "linf_ball_property"]


def _num(v) -> str:
    """v written so that it reads back as v exactly: an integer, a terminating decimal (every float is
    one), else (/ p q)."""
    v = Fraction(v)
    return str(v.numerator) if v.denominator == 1 else _exact_decimal(v)


def _exact_decimal(v: Fraction) -> str:
    """v as a decimal string that reads back as v exactly (v a dyadic rational), else (/ p q)."""
    d = v.denominator
    k = 0
    while d % 2 == 0:
        d //= 2
        k += 1
    if d != 1:
        return f"(/ {v.numerator} {v.denominator})"
    digits = v * 10 ** k
    s = str(abs(digits.numerator)).rjust(k + 1, "0")
    return ("-" if v < 0 else "") + s[:-k] + "." + s[-k:] if k else str(v.numerator)


def linf_ball_property(x, eps: float, y: int, n_out: int, domain=None) -> Property:
    """The VNN-COMP robustness property: X in the l-inf ball of radius eps around x (each coordinate clipped to
    ``domain`` = (lo, hi) when given), and some Y_j >= Y_y, j != y (sat: x's ball holds a point not strictly of
    class y). Bounds are the float64 values x_i -/+ eps (clipped), read exactly."""
    lo, hi = [], []
    for v in x:
        a, b = float(v) - eps, float(v) + eps
        if domain is not None:
            a, b = max(a, float(domain[0])), min(b, float(domain[1]))
        lo.append(Fraction(a))
        hi.append(Fraction(b))
    conj = [[Constraint(tuple(Fraction(1 if k == y else -1 if k == j else 0) for k in range(n_out)), Fraction(0))]
            for j in range(n_out) if j != y]
    return Property(len(lo), n_out, lo, hi, conj)


def write_vnnlib(prop: Property, path=None, comment: str = "") -> str:
    """The VNNLIB text of a property (its bounds written so that they read back exactly); written to ``path``
    when given. Each constraint is written as ``(<= (+ (* c_j Y_j) ..) (- const))``, a class change as
    ``(>= Y_j Y_y)``."""
    lines = [f"; {c}" for c in comment.splitlines()] if comment else []
    lines += [f"(declare-const X_{i} Real)" for i in range(prop.n_in)]
    lines += [f"(declare-const Y_{j} Real)" for j in range(prop.n_out)]
    for i in range(prop.n_in):
        lines.append(f"(assert (>= X_{i} {_num(prop.lo[i])}))")
        lines.append(f"(assert (<= X_{i} {_num(prop.hi[i])}))")

    def atom(c: Constraint) -> str:
        nz = [(j, v) for j, v in enumerate(c.coef) if v]
        op = "<" if c.strict else "<="
        if c.const == 0 and len(nz) == 2 and sorted(v for _, v in nz) == [-1, 1]:
            pos = next(j for j, v in nz if v == 1)
            neg = next(j for j, v in nz if v == -1)
            return f"({'>' if c.strict else '>='} Y_{neg} Y_{pos})"
        terms = " ".join(f"Y_{j}" if v == 1 else f"(* {_num(v)} Y_{j})" for j, v in nz) or "0"
        return f"({op} (+ {terms}) {_num(-c.const)})"

    conjs = ["(and " + " ".join(atom(c) for c in conj) + ")" for conj in prop.disjuncts]
    lines.append("(assert (or " + " ".join(conjs) + "))" if len(conjs) > 1 else f"(assert {conjs[0]})")
    text = "\n".join(lines) + "\n"
    if path is not None:
        Path(path).write_text(text)
    return text
