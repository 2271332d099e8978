"""VNNLIB properties: the fragment the toolkit reads and writes, parsed into a :class:`Property`.

A VNNLIB file (the SMT-LIB subset of VNN-COMP) declares the inputs ``X_0 .. X_{D-1}`` and outputs
``Y_0 .. Y_{K-1}`` as ``Real`` constants and asserts constraints on them; the property *holds at a point*
X when every assertion is true there, and the verification question is whether some X does that (``sat``:
a counterexample) or none does (``unsat``). The fragment read here:

- ``(declare-const X_i Real)`` and ``(declare-const Y_j Real)``;
- assertions over the inputs alone: a conjunction of bounds ``(<= X_i c)`` / ``(>= X_i c)`` (either side may
  be the constant, a coefficient is allowed: ``(<= (* 2 X_0) 1)``), bounding every X_i from both sides;
- assertions over the outputs alone: ``and`` / ``or`` of linear inequalities ``(<= a b)``, ``(>= a b)``,
  ``(< a b)``, ``(> a b)`` between linear terms (numbers, Y_j, ``(+ ..)``, ``(- ..)``, ``(* c ..)`` with a
  constant factor). All output assertions together are brought to a disjunction of conjunctions.

Everything else is refused with :class:`VnnlibError`, one line naming what: another command (e.g.
``define-fun``), a variable that is neither X_i nor Y_j, a product of two variables, an assertion that
mixes inputs and outputs, an unbounded input. A property over several input boxes (a disjunction over
the inputs, or disjuncts pairing input bounds with output constraints, as VNN-COMP writes some) is read by
:func:`parse_vnnlib_cases`, one :class:`Property` per box; :func:`parse_vnnlib` takes one box. Numbers are read exactly
(``0.1`` is the rational 1/10), so the box and the constraints a witness is checked against are the
file's own.

>>> p = parse_vnnlib('''(declare-const X_0 Real) (declare-const Y_0 Real) (declare-const Y_1 Real)
...                     (assert (>= X_0 -0.5)) (assert (<= X_0 0.5)) (assert (>= Y_1 Y_0))''')
>>> p.n_in, p.n_out, [str(v) for v in p.lo + p.hi], p.class_change()
(1, 2, ['-1/2', '1/2'], 0)
>>> p.holds([1, 2]), p.holds([2, 1])
(True, False)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from verify.errors import VerifyError

__all__ = ["Property", "Constraint", "VnnlibError", "parse_vnnlib", "read_vnnlib", "parse_vnnlib_cases",
           "read_vnnlib_cases", "MAX_DISJUNCTS"]

#: The most disjuncts the output assertions may expand to (their conjunction distributed over the ``or``\\ s).
MAX_DISJUNCTS = 10_000


class VnnlibError(VerifyError, ValueError):
    """A VNNLIB file outside the supported fragment (the message names what), or malformed."""


@dataclass(frozen=True)
class Constraint:
    """``coef . Y + const <= 0`` (``< 0`` when ``strict``), coefficients and constant exact rationals."""

    coef: tuple
    const: Fraction
    strict: bool = False

    def holds(self, y) -> bool:
        """Whether the constraint holds at the output y, in exact arithmetic (y: rationals or floats, read exactly)."""
        v = sum((c * Fraction(v) for c, v in zip(self.coef, y) if c), self.const)
        return v < 0 if self.strict else v <= 0

    def value(self, y) -> float:
        """coef . y + const in floats (the attack's and the bounds' view)."""
        return float(sum(float(c) * float(v) for c, v in zip(self.coef, y) if c) + float(self.const))


@dataclass(frozen=True)
class Property:
    """An input box [lo, hi] (per X_i, exact rationals) and a disjunction of conjunctions of linear output
    constraints: the property holds at X in the box when some conjunction holds at the network's output."""

    n_in: int
    n_out: int
    lo: list
    hi: list
    disjuncts: list                # list of lists of Constraint

    def holds(self, y) -> bool:
        """Whether some disjunct holds at the output y, exactly."""
        return any(all(c.holds(y) for c in conj) for conj in self.disjuncts)

    def in_box(self, x) -> bool:
        """Whether the point x (floats, read exactly) lies in the input box."""
        return len(x) == self.n_in and all(a <= Fraction(float(v)) <= b for a, v, b in zip(self.lo, x, self.hi))

    def class_change(self):
        """The class y when the output assertion reads "some Y_j >= Y_y, j != y" (each disjunct one such
        constraint, every j once): the property is then "x's box is not robustly of class y". Else None."""
        seen, y = set(), None
        for conj in self.disjuncts:
            if len(conj) != 1 or conj[0].const != 0 or conj[0].strict:
                return None
            nz = {j: c for j, c in enumerate(conj[0].coef) if c}
            pos = [j for j, c in nz.items() if c == 1]
            neg = [j for j, c in nz.items() if c == -1]
            if len(nz) != 2 or len(pos) != 1 or len(neg) != 1 or (y is not None and pos[0] != y):
                return None
            y = pos[0]
            seen.add(neg[0])
        return y if y is not None and seen == set(range(self.n_out)) - {y} else None


# ---- reading ----------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_VAR = re.compile(r"^([XY])_(\d+)$")


def _sexprs(text: str) -> list:
    text = re.sub(r";[^\n]*", " ", text)
    stack, top = [], []
    for tok in _TOKEN.findall(text):
        if tok == "(":
            stack.append([])
        elif tok == ")":
            if not stack:
                raise VnnlibError("unbalanced parentheses: a ')' closes nothing")
            e = stack.pop()
            (stack[-1] if stack else top).append(e)
        else:
            (stack[-1] if stack else top).append(tok)
    if stack:
        raise VnnlibError("unbalanced parentheses: the file ends inside an expression")
    return top


def _show(e) -> str:
    return e if isinstance(e, str) else "(" + " ".join(_show(a) for a in e) + ")"


def _number(tok: str):
    try:
        return Fraction(tok)
    except (ValueError, ZeroDivisionError):
        return None


def _linear(e, declared) -> dict:
    """A term as {name or 1: Fraction} (1: the constant)."""
    if isinstance(e, str):
        v = _number(e)
        if v is not None:
            return {1: v}
        if e not in declared:
            raise VnnlibError(f"the term {e!r} is not a number or a declared X_i / Y_j")
        return {e: Fraction(1)}
    if not e or not isinstance(e[0], str):
        raise VnnlibError(f"the term {_show(e)} is not supported")
    op, args = e[0], [_linear(a, declared) for a in e[1:]]
    if op == "+" and args:
        return _add(args)
    if op == "-" and len(args) == 1:
        return {k: -v for k, v in args[0].items()}
    if op == "-" and args:
        return _add([args[0]] + [{k: -v for k, v in a.items()} for a in args[1:]])
    if op == "/" and len(args) == 2 and set(args[1]) == {1} and args[1][1] != 0:
        return {k: v / args[1][1] for k, v in args[0].items()}
    if op == "*" and args:
        out = {1: Fraction(1)}
        for a in args:
            if set(a) == {1}:
                out = {k: v * a[1] for k, v in out.items()}
            elif set(out) == {1}:
                out = {k: v * out[1] for k, v in a.items()}
            else:
                raise VnnlibError(f"the product {_show(e)} is not linear (two variables multiplied): outside the "
                                  f"supported fragment (linear constraints)")
        return out
    raise VnnlibError(f"the operator {op!r} in {_show(e)} is outside the supported fragment (numbers, X_i, Y_j, "
                      f"+, -, * by a constant, / by a constant)")


def _add(terms) -> dict:
    out = {}
    for t in terms:
        for k, v in t.items():
            out[k] = out.get(k, Fraction(0)) + v
    return out


def _formula(e, declared):
    """A formula as ("atom", lin, strict) with lin <= 0 (< 0) | ("and" | "or", [formulas])."""
    if isinstance(e, str) or not e or not isinstance(e[0], str):
        raise VnnlibError(f"the assertion {_show(e)} is not a comparison, and or or")
    op = e[0]
    if op in ("and", "or"):
        if len(e) < 2:
            raise VnnlibError(f"{_show(e)}: an empty {op}")
        return (op, [_formula(a, declared) for a in e[1:]])
    if op in ("<=", ">=", "<", ">"):
        if len(e) != 3:
            raise VnnlibError(f"{_show(e)}: a comparison of more or fewer than two terms is not supported")
        a, b = _linear(e[1], declared), _linear(e[2], declared)
        lin = _add([a, {k: -v for k, v in b.items()}]) if op in ("<=", "<") else \
            _add([b, {k: -v for k, v in a.items()}])
        return ("atom", {k: v for k, v in lin.items() if v != 0 or k == 1}, op in ("<", ">"))
    raise VnnlibError(f"the operator {op!r} in {_show(e)} is outside the supported fragment (<=, >=, <, >, and, or)")


def _names(f) -> set:
    if f[0] == "atom":
        return {k[0] for k in f[1] if k != 1}
    return set().union(*(_names(g) for g in f[1]))


def _dnf(f) -> list:
    """A formula as a list of conjunctions (lists of atoms)."""
    if f[0] == "atom":
        return [[f]]
    parts = [_dnf(g) for g in f[1]]
    if f[0] == "or":
        return [c for p in parts for c in p]
    out = [[]]
    for p in parts:
        out = [a + b for a in out for b in p]
        if len(out) > MAX_DISJUNCTS:
            raise VnnlibError(f"the output assertions expand to more than {MAX_DISJUNCTS} disjuncts")
    return out


def _commands(text: str):
    """The declarations {name: (kind, index)} and the assertions [(formula, expression)] of a VNNLIB text, with
    (D, K); VnnlibError for a command outside the fragment or declarations not numbered from 0."""
    declared, asserts = {}, []
    for e in _sexprs(text):
        if isinstance(e, str) or not e:
            raise VnnlibError(f"{_show(e)!r} at the top level is not a command")
        cmd = e[0]
        if cmd == "declare-const":
            m = _VAR.match(e[1]) if len(e) == 3 and isinstance(e[1], str) else None
            if m is None or e[2] != "Real":
                raise VnnlibError(f"{_show(e)}: only (declare-const X_i Real) and (declare-const Y_j Real) are "
                                  f"supported")
            declared[e[1]] = (m.group(1), int(m.group(2)))
        elif cmd == "assert" and len(e) == 2:
            asserts.append((_formula(e[1], declared), e))
        else:
            raise VnnlibError(f"the command {_show(e)[:60]} is outside the supported fragment (declare-const, "
                              f"assert)")
    xs = sorted(i for k, i in declared.values() if k == "X")
    ys = sorted(i for k, i in declared.values() if k == "Y")
    if not xs or xs != list(range(len(xs))) or not ys or ys != list(range(len(ys))):
        raise VnnlibError(f"expected declarations of X_0 .. X_(D-1) and Y_0 .. Y_(K-1), got {len(xs)} X and "
                          f"{len(ys)} Y not numbered from 0 without gaps")
    return declared, asserts, len(xs), len(ys)


def _bound(atoms, declared, lo, hi, e) -> None:
    """Tighten [lo, hi] (in place) by input atoms, each a bound c X_i <= d on one X_i."""
    for _, lin, _strict in atoms:
        var = [k for k in lin if k != 1]
        if len(var) != 1:
            raise VnnlibError(f"the input constraint in {_show(e)[:80]} is not a bound on one X_i")
        i, c, d = declared[var[0]][1], lin[var[0]], -lin.get(1, Fraction(0))   # c X_i <= d
        if c > 0:
            hi[i] = d / c if hi[i] is None else min(hi[i], d / c)
        else:
            lo[i] = d / c if lo[i] is None else max(lo[i], d / c)


def parse_vnnlib_cases(text: str) -> list:
    """The properties of a VNNLIB text whose assertions may also describe several input boxes, each with its
    own output constraints (a disjunction over the inputs, or disjuncts that pair input bounds with output
    constraints, as VNN-COMP writes a property over several regions): one :class:`Property` per distinct box,
    in the order of first appearance. The file's property is sat iff one of them is. A disjunct whose box is
    empty is dropped (it cannot hold); an atom that mixes X_i and Y_j, an unbounded X_i, or a disjunct without
    an output constraint is refused with VnnlibError.

    >>> two = parse_vnnlib_cases('''(declare-const X_0 Real) (declare-const Y_0 Real) (declare-const Y_1 Real)
    ...   (assert (or (and (>= X_0 0) (<= X_0 1) (>= Y_1 Y_0)) (and (>= X_0 2) (<= X_0 3) (>= Y_0 Y_1))))''')
    >>> [(str(p.lo[0]), str(p.hi[0]), p.class_change()) for p in two]
    [('0', '1', 0), ('2', '3', 1)]
    """
    declared, asserts, D, K = _commands(text)
    glob_lo, glob_hi, rest = [None] * D, [None] * D, []
    for f, e in asserts:
        if _names(f) == {"X"}:
            d = _dnf(f)
            if len(d) == 1:
                _bound(d[0], declared, glob_lo, glob_hi, e)
                continue
        rest.append((f, e))
    for i in range(D):
        if glob_lo[i] is not None and glob_hi[i] is not None and glob_lo[i] > glob_hi[i]:
            raise VnnlibError(f"X_{i} has an empty range [{glob_lo[i]}, {glob_hi[i]}]")
    if not any("Y" in _names(f) for f, _ in rest):
        raise VnnlibError("no assertion on the outputs Y_j: nothing to verify")
    cases: dict = {}
    for conj in _dnf(("and", [f for f, _ in rest])):
        lo, hi, ys = list(glob_lo), list(glob_hi), []
        for atom in conj:
            kinds = _names(atom)
            if kinds == {"X", "Y"}:
                raise VnnlibError(f"a constraint mixes inputs and outputs ({' '.join(str(k) for k in atom[1] if k != 1)}): "
                                  f"outside the supported fragment (input boxes and output constraints)")
            if kinds == {"X"}:
                _bound([atom], declared, lo, hi, ("assert", "..."))
            else:
                ys.append(atom)
        for i in range(D):
            if lo[i] is None or hi[i] is None:
                raise VnnlibError(f"X_{i} is not bounded from {'below' if lo[i] is None else 'above'}: the input "
                                  f"region must be a box")
        if any(a > b for a, b in zip(lo, hi)):
            continue
        if not ys:
            raise VnnlibError("a disjunct of the assertions has input bounds but no output constraint: outside the "
                              "supported fragment (each input box needs output constraints)")
        cases.setdefault((tuple(lo), tuple(hi)), []).append(
            [Constraint(tuple(lin.get(f"Y_{j}", Fraction(0)) for j in range(K)), lin.get(1, Fraction(0)), st)
             for _, lin, st in ys])
    if not cases:
        raise VnnlibError("every input box of the assertions is empty")
    return [Property(D, K, list(lo), list(hi), disj) for (lo, hi), disj in cases.items()]


def parse_vnnlib(text: str) -> Property:
    """The :class:`Property` of a VNNLIB text in the supported fragment with one input box (module docstring);
    VnnlibError otherwise (several boxes: :func:`parse_vnnlib_cases`)."""
    declared, asserts, _, _ = _commands(text)
    for f, e in asserts:
        kinds = _names(f)
        if kinds == {"X", "Y"}:
            raise VnnlibError(f"the assertion {_show(e)} mixes inputs and outputs: outside the supported "
                              f"fragment of one input box (parse_vnnlib_cases reads boxes paired with outputs)")
        if kinds == {"X"} and len(_dnf(f)) != 1:
            raise VnnlibError(f"the assertion {_show(e)[:80]} is a disjunction over the inputs (several input "
                              f"boxes): parse_vnnlib_cases reads it, one property per box")
    cases = parse_vnnlib_cases(text)
    if len(cases) != 1:
        raise VnnlibError(f"the assertions describe {len(cases)} input boxes: parse_vnnlib_cases reads them, one "
                          f"property per box")
    return cases[0]


def read_vnnlib_cases(path) -> list:
    """:func:`parse_vnnlib_cases` of a file; the error names the file."""
    return _read(path, parse_vnnlib_cases)


def _read(path, parse):
    """``parse`` of the text of the file at ``path``; a VnnlibError names the file."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise VnnlibError(f"{path}: cannot be read ({exc})") from None
    try:
        return parse(text)
    except VnnlibError as exc:
        raise VnnlibError(f"{path}: {exc}") from None


def read_vnnlib(path) -> Property:
    """:func:`parse_vnnlib` of a file; the error names the file."""
    return _read(path, parse_vnnlib)
