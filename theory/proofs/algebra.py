"""The exact checks that decide ``lhs - rhs == 0`` (see :mod:`theory.proofs`): :func:`explicit_residual`
for explicit sizes, and the :class:`IndexAlgebra` of sums over ``1..K`` / ``1..D`` for general sizes.
"""

from __future__ import annotations

import itertools

import sympy as sp
from sympy import Add, Indexed, KroneckerDelta, Mul, Pow, Sum

__all__ = ["explicit_residual", "IndexAlgebra"]


def explicit_residual(expr):
    """``expand(cancel(expr))`` (entry by entry for a matrix): 0 exactly when the rational identity holds."""
    if isinstance(expr, sp.MatrixBase):
        return expr.applyfunc(explicit_residual)
    if isinstance(expr, sp.MatrixExpr):
        expanded = sp.expand(expr)
        return sp.S.Zero if expanded.is_ZeroMatrix else expanded
    expanded = sp.expand(sp.sympify(expr))
    return expanded if expanded == 0 else sp.expand(sp.cancel(sp.together(expanded)))


# ---------------------------------------------------------------------- the index algebra (general K, D)
class _Term:
    __slots__ = ("coeff", "dummies", "factors")

    def __init__(self, coeff, dummies, factors):
        self.coeff, self.dummies, self.factors = coeff, dummies, factors


class IndexAlgebra:
    """Decide identities between sums over ``1..K`` / ``1..D`` of products of indexed entries.

    ``ranges`` maps every free index (``y``, ``j``, ...) to its range symbol; ``simplex`` maps each
    probability vector (an ``IndexedBase``) to its range, for the rule ``sum_k p_k = 1``. The residual of
    an expression is a canonical sum of its surviving terms: it is ``0`` exactly when every collected
    coefficient cancels, which proves the identity for every value of the range symbols.
    """

    def __init__(self, ranges: dict, simplex: dict | None = None):
        self.ranges, self.simplex = dict(ranges), dict(simplex or {})
        self._count = 0

    # expansion into multi-sums of monomials
    def _fresh(self):
        self._count += 1
        return sp.Symbol(f"_s{self._count}", integer=True)

    def _expand(self, e) -> list[_Term]:
        if isinstance(e, Add):
            return [t for a in e.args for t in self._expand(a)]
        if isinstance(e, Mul):
            out = [_Term(sp.S.One, {}, [])]
            for a in e.args:
                out = [_Term(t1.coeff * t2.coeff, {**t1.dummies, **t2.dummies}, t1.factors + t2.factors)
                       for t2 in self._expand(a) for t1 in out]
            return out
        if isinstance(e, Pow) and _indexed(e.base):
            if not (e.exp.is_Integer and e.exp > 0):
                raise ValueError(f"cannot normalize the power {e}: divide only by index-free factors")
            return self._expand(Mul(*([e.base] * int(e.exp)), evaluate=False))
        if isinstance(e, Sum):
            rename, dummies = {}, {}
            for i, lo, hi in e.limits:
                if lo != 1:
                    raise ValueError(f"sums must start at 1, got {(i, lo, hi)}")
                rename[i] = new = self._fresh()
                dummies[new] = hi
            return [_Term(t.coeff, {**dummies, **t.dummies}, t.factors)
                    for t in self._expand(e.function.xreplace(rename))]
        if isinstance(e, (Indexed, KroneckerDelta)):
            return [_Term(sp.S.One, {}, [e])]
        if _indexed(e):
            raise ValueError(f"cannot normalize {e}")
        return [_Term(e, {}, [])]

    # reduction of one term
    def _range(self, index, dummies):
        if index in dummies:
            return dummies[index]
        if index in self.ranges:
            return self.ranges[index]
        raise ValueError(f"index {index} has no declared range")

    def _reduce(self, t: _Term) -> _Term:
        if set(t.dummies) & t.coeff.free_symbols:
            raise ValueError(f"a summation index appears outside an indexed entry in {t.coeff}")
        changed = True
        while changed and t.coeff != 0:
            changed = False
            for f in t.factors:
                if isinstance(f, KroneckerDelta):
                    a, b = f.args
                    if b in t.dummies and a not in t.dummies:
                        a, b = b, a
                    if a in t.dummies:
                        if self._range(b, t.dummies) != t.dummies[a]:
                            raise ValueError(f"{f}: indices with different ranges")
                        rest = list(t.factors)
                        rest.remove(f)
                        t = _Term(t.coeff, {i: r for i, r in t.dummies.items() if i != a},
                                  [g.xreplace({a: b}) for g in rest])
                        changed = True
                        break
            for i, r in list(t.dummies.items()):
                holders = [f for f in t.factors if i in f.free_symbols]
                if not holders:
                    t = _Term(t.coeff * r, {j: s for j, s in t.dummies.items() if j != i}, t.factors)
                    changed = True
                elif (len(holders) == 1 and isinstance(holders[0], Indexed)
                      and self.simplex.get(holders[0].base) == r and holders[0].indices == (i,)):
                    rest = list(t.factors)
                    rest.remove(holders[0])
                    t = _Term(t.coeff, {j: s for j, s in t.dummies.items() if j != i}, rest)
                    changed = True
            numbers = [f for f in t.factors if not _indexed(f)]
            if numbers:
                t = _Term(t.coeff * Mul(*numbers), t.dummies, [f for f in t.factors if _indexed(f)])
                changed = True
        return t

    def _canonical(self, t: _Term):
        def signature(i):
            uses = sorted((str(f.base) if isinstance(f, Indexed) else "delta",
                           f.indices.index(i) if isinstance(f, Indexed) and i in f.indices else -1)
                          for f in t.factors if i in f.free_symbols)
            return (str(t.dummies[i]), tuple(uses))
        order = sorted(t.dummies, key=signature)
        groups = [list(g) for _, g in itertools.groupby(order, key=signature)]
        counters: dict[str, int] = {}
        names = []
        for i in order:
            r = str(t.dummies[i])
            counters[r] = counters.get(r, 0) + 1
            names.append(sp.Symbol(f"{r.lower()}_{counters[r]}", integer=True))
        best = None
        for perm in itertools.product(*(itertools.permutations(g) for g in groups)):
            seq = [i for g in perm for i in g]
            mapping = dict(zip(seq, names))
            key = tuple(sorted(sp.srepr(f.xreplace(mapping)) for f in t.factors))
            if best is None or key < best[0]:
                best = (key, mapping)
        key, mapping = best
        limits = [(mapping[i], 1, t.dummies[i]) for i in order]
        body = Mul(*[f.xreplace(mapping) for f in t.factors])
        shown = Sum(body, *limits) if limits else body
        return (tuple(str(t.dummies[i]) for i in order), key), shown

    def residual(self, expr):
        """The canonical form of ``expr``: ``0`` exactly when it vanishes for all K, D and entries."""
        collected: dict = {}
        for t in self._expand(sp.sympify(expr)):
            t = self._reduce(t)
            if t.coeff == 0:
                continue
            key, shown = self._canonical(t)
            coeff, _ = collected.get(key, (sp.S.Zero, shown))
            collected[key] = (coeff + t.coeff, shown)
        out = sp.S.Zero
        for coeff, shown in collected.values():
            coeff = explicit_residual(coeff)
            if coeff != 0:
                out += coeff * shown
        return out


def _indexed(e) -> bool:
    return e.has(Indexed, Sum, KroneckerDelta)
