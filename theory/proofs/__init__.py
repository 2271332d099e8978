"""Shared machinery of the symbolic proofs: the :class:`Proof` record, the :class:`Derivation` that builds
one, and the exact checks that decide ``lhs - rhs == 0``.

Two checks decide an identity, and both compare with ``==``:

- :func:`explicit_residual` for explicit sizes: ``expand(cancel(lhs - rhs))``, entry by entry;
- :class:`IndexAlgebra` for general sizes: both sides are written with ``IndexedBase`` entries and
  ``Sum`` over ``1..K`` or ``1..D``; the difference is expanded into multi-sums of monomials, Kronecker
  deltas are summed out, every sum of a probability entry ``sum_k p_k`` is replaced by 1, and the terms
  are collected under a canonical naming of their summation indices. The identity holds for every K and
  D when every collected coefficient is 0.

Softmax enters the derivations through the exponential (``p_k = exp(f_k) / sum_l exp(f_l)``). Each
``exp(f_k)`` is then replaced by ``Z p_k`` with a symbol ``Z > 0`` and ``sum_k p_k = 1``, which turns the
identities into polynomial identities in p.

>>> from sympy import IndexedBase, Sum, symbols
>>> K = symbols("K", integer=True, positive=True)
>>> k, l = symbols("k l", integer=True)
>>> p = IndexedBase("p")
>>> alg = IndexAlgebra({}, simplex={p: K})
>>> alg.residual(Sum(p[k], (k, 1, K)) ** 2 - 1)
0
>>> alg.residual(Sum(p[k] ** 2, (k, 1, K)) - 1) == 0
False
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import sympy as sp
from sympy import Indexed, Sum

from theory.claims import CLAIMS
from theory.proofs.algebra import IndexAlgebra, explicit_residual
from theory.proofs.instances import (
    lambda_max_geq,
    lambda_max_interval,
    lambda_max_slack,
    network_affine,
    network_autodiff,
    network_forward,
    network_pattern,
    random_rational,
    random_simplex,
    round_down,
    tiny_network,
)

__all__ = [
    "Proof", "Step", "Derivation", "IndexAlgebra", "explicit_residual", "softmax_to_p", "explicit_softmax_to_p",
    "lambda_max_geq", "lambda_max_interval", "lambda_max_slack", "round_down", "random_rational",
    "random_simplex", "tiny_network", "network_forward", "network_autodiff", "network_pattern",
    "network_affine", "METHOD_EMPIRICAL", "METHOD_INSTANCES", "METHOD_SERIES",
]

#: The method of a proof checked on exact rational instances only.
METHOD_INSTANCES = "exact rational instances"
#: The method of a proof by series expansion or limits.
METHOD_SERIES = "series/limit"
#: The method of an empirical claim: established by experiment, not a theorem.
METHOD_EMPIRICAL = "empirical: not a theorem"


# --------------------------------------------------------------------------------------------- record
@dataclass(frozen=True)
class Step:
    """One step of a derivation.

    ``text`` and ``expr`` are what the check recorded: the description (with its verdict marker, e.g.
    ``[checked: lhs - rhs == 0]`` or ``NOT PROVED:``) and the sympy object that was decided or shown; a step
    unpacks as this pair (``text, expr = step``). The human form is written per step by the prover:
    ``tex``, the display equation in conventional notation (LaTeX); ``plain``, its text rendering (default
    :func:`~theory.proofs.human.tex_to_text` of ``tex``); ``why``, a one-line reason (prose, inline maths in
    ``$...$``). ``status`` is ``note`` (a definition or an argument), ``identity`` (``lhs - rhs == 0``
    decided), ``checked`` (a fact decided by exact computation), ``failed`` or ``residual``.
    """

    text: str
    expr: Any = None
    tex: str = ""
    why: str = ""
    plain: str = ""
    status: str = "note"

    def __iter__(self):
        return iter((self.text, self.expr))


@dataclass
class Proof:
    """The outcome of one symbolic proof: the claim, how it was proved, the derivation and the verdict.

    ``holds`` is ``True`` when every checked step holds, ``False`` when one fails (the failing step and
    its residual or counterexample are in ``steps``), and ``None`` for empirical claims. ``steps`` holds
    :class:`Step` records (plain ``(text, expr)`` pairs are accepted too, and shown as they are).
    """

    claim: str
    statement: str
    assumptions: str
    tag: str
    kind: str
    holds: bool | None
    method: str
    scope: str
    steps: list[Step] = field(default_factory=list)
    slack: dict[str, sp.Rational] | None = None
    seconds: float = 0.0
    slack_tex: dict[str, str] | None = None

    def verdict(self) -> str:
        """``HOLDS``, ``FAILS`` or ``EMPIRICAL``."""
        return {True: "HOLDS", False: "FAILS", None: "EMPIRICAL"}[self.holds]

    def latex(self, sympy: bool = False, standalone: bool = True) -> str:
        """The derivation as a LaTeX document that compiles on its own (``article``, ``amsmath``): the claim,
        the assumptions, method and scope, a proof sketch, and an ``align*`` block in which each step's reason
        is ``\\intertext`` and its display equation a line of its own. ``sympy`` adds the raw sympy form of
        each step; ``standalone=False`` gives only the body (see :func:`~theory.proofs.human.render_latex`)."""
        from theory.proofs.human import render_latex

        return render_latex(self, sympy=sympy, standalone=standalone)

    def text(self, sympy: bool = False) -> str:
        """The derivation as plain text, lines of at most 100 characters; ``sympy`` adds each step's raw form."""
        from theory.proofs.human import render_text

        return render_text(self, sympy=sympy)

    def __str__(self) -> str:
        return self.text()


class Derivation:
    """Collects the steps of one proof and decides its verdict from the checked steps.

    Every recording method takes the step's human form as keywords: ``tex`` (the display equation, LaTeX),
    ``why`` (a one-line reason) and optionally ``plain`` (the text form, when :func:`tex_to_text` of ``tex``
    does not read well). They are shown by ``explain``; they decide nothing.

    >>> from sympy import symbols
    >>> a, b = symbols("a b")
    >>> d = Derivation("input-gradient", "symbolic (general K, D)", "a toy")
    >>> d.equal("expand a square", (a + b) ** 2, a**2 + 2*a*b + b**2, tex="(a + b)^2 = a^2 + 2ab + b^2",
    ...         why="the binomial formula")
    True
    >>> d.equal("a wrong expansion", (a + b) ** 2, a**2 + b**2)
    False
    >>> d.proof().holds
    False
    """

    def __init__(self, claim_id: str, method: str, scope: str):
        self._claim = CLAIMS[claim_id]
        self._start = time.perf_counter()
        self.method, self.scope = method, scope
        self.steps: list[Step] = []
        self.slack: dict[str, sp.Rational] = {}
        self.slack_tex: dict[str, str] = {}
        self.ok = True

    def note(self, text: str, expr: Any = None, *, tex: str = "", why: str = "", plain: str = "") -> None:
        """A step that is a definition, a derivation result or an argument in words (not itself a check)."""
        self.steps.append(Step(text, expr, tex, why, plain, "note"))

    def equal(self, text: str, lhs: Any, rhs: Any, algebra: IndexAlgebra | None = None,
              show: Any = None, *, tex: str = "", why: str = "", plain: str = "") -> bool:
        """Check ``lhs - rhs == 0`` exactly; record the equation (or ``show``) and the verdict."""
        diff = lhs - rhs
        residual = algebra.residual(diff) if algebra is not None else explicit_residual(diff)
        ok = _is_zero(residual)
        shown = show if show is not None else _equation(lhs, rhs)
        if ok:
            self.steps.append(Step(f"{text} [checked: lhs - rhs == 0]", shown, tex, why, plain, "identity"))
        else:
            self.ok = False
            self.steps.append(Step(f"NOT PROVED: {text}", shown, tex, why, plain, "failed"))
            self.steps.append(Step("residual lhs - rhs (should be 0)", residual, status="residual"))
        return ok

    def check(self, text: str, ok: bool, expr: Any = None, *, tex: str = "", why: str = "",
              plain: str = "") -> bool:
        """Record a fact decided by exact computation (a limit value, a root count, a sign)."""
        ok = bool(ok)
        self.ok = self.ok and ok
        self.steps.append(Step((f"{text} [checked]" if ok else f"NOT PROVED: {text}"), expr, tex, why, plain,
                               "checked" if ok else "failed"))
        return ok

    def min_slack(self, name: str, value: sp.Rational, *, tex: str = "") -> None:
        """Keep the smallest slack seen for one inequality; a negative slack makes the proof fail. ``tex`` is the
        slack's expression in conventional notation (LaTeX), for ``explain --latex``."""
        if tex:
            self.slack_tex.setdefault(name, tex)
        value = sp.Rational(value)
        if name not in self.slack or value < self.slack[name]:
            self.slack[name] = value
        if value < 0:
            self.ok = False

    def proof(self, holds: bool | None | str = "auto") -> Proof:
        """The finished :class:`Proof`; ``holds`` defaults to "every checked step held"."""
        c = self._claim
        return Proof(c.id, c.statement, c.assumptions, c.tag, c.kind,
                     self.ok if holds == "auto" else holds, self.method, self.scope, self.steps,
                     dict(self.slack) or None, time.perf_counter() - self._start, dict(self.slack_tex) or None)


def _equation(lhs, rhs):
    if isinstance(lhs, sp.MatrixBase) or isinstance(rhs, sp.MatrixBase):
        return sp.Eq(sp.ImmutableMatrix(lhs), sp.ImmutableMatrix(rhs), evaluate=False)
    return sp.Eq(lhs, rhs, evaluate=False)


def _is_zero(residual) -> bool:
    if isinstance(residual, sp.MatrixBase):
        return all(e == 0 for e in residual)
    return residual == 0


# ------------------------------------------------------------------------- softmax through exp(f_k)
def softmax_to_p(expr, logit, p: sp.IndexedBase, Z: sp.Symbol, K):
    """Replace every ``exp(logit(i))`` by ``Z p[i]`` and every ``sum_i Z p[i]`` by ``Z`` (as sum p = 1).

    ``logit(i)`` builds the logit expression of class ``i``; any other exponential raises ``ValueError``.
    """
    def to_p(e):
        for i in {a.indices[0] for a in e.args[0].atoms(Indexed) if len(a.indices) == 1}:
            if sp.expand(e.args[0] - logit(i)) == 0:
                return Z * p[i]
        raise ValueError(f"exponential {e} is not exp(logit) of any class")

    expr = expr.replace(lambda e: isinstance(e, sp.exp), to_p)

    def is_partition(e):
        if not isinstance(e, Sum) or len(e.limits) != 1:
            return False
        i, lo, hi = e.limits[0]
        return lo == 1 and hi == K and e.function == Z * p[i]

    return expr.replace(is_partition, lambda e: Z)


def explicit_softmax_to_p(expr, logits, p, Z):
    """Explicit sizes: ``exp(f_k) -> Z p_k``, then ``p_K = 1 - sum_{k<K} p_k``, then cancel."""
    expr = expr.xreplace({sp.exp(f): Z * pk for f, pk in zip(logits, p)})
    last = {p[-1]: 1 - sum(p[:-1])}
    if isinstance(expr, sp.MatrixBase):
        return expr.applyfunc(lambda e: sp.cancel(e.xreplace(last)))
    return sp.cancel(expr.xreplace(last))
