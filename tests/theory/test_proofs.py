"""Tests of the symbolic proofs (:mod:`theory.prove`, :mod:`theory.proofs`).

Every claim id has a prover; every identity, limit and measurement proof holds; every inequality reports a
nonnegative exact slack; empirical claims say they are not theorems; and the ``lhs - rhs == 0`` machinery
can fail (negative tests with deliberately wrong right-hand sides).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import sympy as sp
from sympy import KroneckerDelta as delta
from sympy import Sum

from theory.claims import CLAIMS
from theory.errors import UnknownNameError
from theory.proofs import Derivation, IndexAlgebra, explicit_residual, softmax_to_p
from theory.proofs.setting import general_setting
from theory.prove import PROVERS, Proof, prove, prove_all

IDS = list(CLAIMS)
PROVABLE = [c for c in IDS if CLAIMS[c].kind in ("identity", "limit", "measurement")]
INEQUALITIES = [c for c in IDS if CLAIMS[c].kind == "inequality"]
EMPIRICAL = [c for c in IDS if CLAIMS[c].kind == "empirical"]


def by_claim(ids):
    """Parametrize values that carry their claim marker (``python -m pytest --claim ID`` selects them)."""
    return [pytest.param(c, marks=pytest.mark.claim(c), id=c) for c in ids]


# ------------------------------------------------------------------------------------- the registry
def test_every_claim_has_a_prover():
    missing = [c for c in IDS if c not in PROVERS]
    assert not missing, f"claims without a prover: {missing}"
    assert list(PROVERS) == IDS, "PROVERS must follow the claim-registry order and hold no extra ids"


def test_prove_all_returns_every_claim_in_registry_order(proofs):
    assert list(proofs) == IDS
    assert all(isinstance(p, Proof) for p in proofs.values())


@pytest.mark.parametrize("cid", IDS)
def test_proof_fields_match_the_registry(proofs, cid):
    p, c = proofs[cid], CLAIMS[cid]
    assert (p.claim, p.statement, p.assumptions, p.tag, p.kind) == (c.id, c.statement, c.assumptions, c.tag, c.kind)
    assert p.method and p.scope and p.steps
    assert isinstance(p.seconds, float) and p.seconds >= 0


# ------------------------------------------------------------------------------------ the verdicts
@pytest.mark.parametrize("cid", by_claim(PROVABLE))
def test_identity_limit_and_measurement_proofs_hold(proofs, cid):
    p = proofs[cid]
    assert p.holds is True, str(p)
    assert not any(text.startswith("NOT PROVED") for text, _ in p.steps)
    assert p.method.startswith(("symbolic", "series/limit")), p.method


@pytest.mark.parametrize("cid", by_claim(INEQUALITIES))
def test_inequality_proofs_hold_with_nonnegative_exact_slack(proofs, cid):
    p = proofs[cid]
    assert p.holds is True, str(p)
    assert "exact rational instances" in p.method
    assert p.slack, "an inequality must report its slack"
    for name, value in p.slack.items():
        assert isinstance(value, sp.Rational), (name, value)
        assert value >= 0, (name, value)


@pytest.mark.parametrize("cid", by_claim(EMPIRICAL))
def test_empirical_claims_are_not_proved(proofs, cid):
    p = proofs[cid]
    assert p.holds is None
    assert p.method == "empirical: not a theorem"
    assert "experiment" in p.scope and "not by this proof" in p.scope


@pytest.mark.parametrize("cid", IDS)
def test_results_are_exact(proofs, cid):
    p = proofs[cid]
    for _, expr in p.steps:
        if isinstance(expr, sp.Basic):
            assert not expr.atoms(sp.Float), f"{cid}: a float in {expr}"


# ---------------------------------------------------------------------------------- the renderings
@pytest.mark.parametrize("cid", IDS)
def test_latex_and_text_name_the_claim(proofs, cid):
    p = proofs[cid]
    tex, text = p.latex(), str(p)
    assert cid in tex and " ".join(p.statement.split()) in tex          # the registry's words, as a comment
    assert tex.count(r"\begin{align*}") == 1 and tex.rstrip().endswith(r"\end{document}")
    assert len(tex.splitlines()) >= len(p.steps) + 4
    flat = " ".join(text.split())                   # the text wraps long lines at spaces
    assert text.startswith(cid) and " ".join(p.statement.split()) in flat and p.verdict() in text
    assert all(len(line) <= 100 for line in text.splitlines()), text


def test_latex_sets_each_description_as_wrapping_text_and_each_equation_side_on_its_own_line(proofs):
    p = proofs["input-gradient"]
    tex = p.latex(sympy=True)
    body = tex.split("\\begin{align*}")[1]
    assert not re.search(r"^\\text\{", body, re.M), "a description in \\text{} cannot wrap"
    assert body.count("\\intertext{") == len(p.steps)                      # every step's reason
    eq = next(e for _, e in p.steps if isinstance(e, sp.Equality))
    assert f"&{sp.latex(eq.lhs)} \\\\\n&\\quad = {sp.latex(eq.rhs)} \\\\" in body    # with --sympy
    assert sp.latex(eq.rhs) not in p.latex()


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no pdflatex on PATH (CI has none)")
def test_every_latex_derivation_compiles_and_no_description_overflows(proofs, tmp_path):
    """All derivations in one plain article: no LaTeX error, and no overfull paragraph (the descriptions
    wrap; an equation side wider than the page may still overflow its alignment, and is not counted)."""
    doc = tmp_path / "all.tex"
    doc.write_text("\\documentclass{article}\\usepackage{amsmath,amssymb}\\begin{document}\n"
                   + "\n".join(p.latex(standalone=False) for p in proofs.values()) + "\n\\end{document}\n")
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    log = (tmp_path / "all.log").read_text(errors="replace")
    assert proc.returncode == 0, [ln for ln in log.splitlines() if ln.startswith("!")][:5]
    assert not re.findall(r"Overfull \\\\hbox .* in paragraph at lines \\d+--\\d+", log)


def test_unknown_id_raises_a_helpful_key_error():
    with pytest.raises(UnknownNameError, match="unknown claim id 'no-such-claim'; known ids: local-affine") as info:
        prove("no-such-claim")
    assert "input-gradient" in str(info.value) and "confidence-concentration" in str(info.value)
    with pytest.raises(UnknownNameError, match="known ids"):
        prove_all(["input-gradient", "no-such-claim"])


def test_prove_all_with_ids_keeps_registry_order():
    out = prove_all(["confidence-concentration", "cross-lipschitz-centered-jacobian", "layer-smoothing"])
    assert [p.claim for p in out] == ["cross-lipschitz-centered-jacobian", "layer-smoothing",
                                      "confidence-concentration"]


# ---------------------------------------------------------------- negative tests: the checks can fail
def test_wrong_rhs_fails_an_explicit_identity():
    a, b = sp.symbols("a b")
    d = Derivation("input-gradient", "symbolic (general K, D)", "negative test")
    assert d.equal("right", (a + b) ** 2, a**2 + 2 * a * b + b**2)
    assert not d.equal("wrong on purpose", (a + b) ** 2, a**2 + b**2)
    p = d.proof()
    assert p.holds is False
    assert any(text.startswith("NOT PROVED: wrong on purpose") for text, _ in p.steps)
    residual = [expr for text, expr in p.steps if text.startswith("residual")]
    assert residual == [2 * a * b]


@pytest.mark.claim("input-gradient")
def test_wrong_rhs_fails_the_general_input_gradient():
    s = general_setting()
    g = s.to_p(sp.diff(s.L(s.y), s.x[s.j]))
    right = Sum(s.W[s.k, s.j] * (s.p[s.k] - delta(s.k, s.y)), (s.k, 1, s.K))
    wrong = Sum(s.W[s.k, s.j] * s.p[s.k], (s.k, 1, s.K))  # forgets -e_y
    d = Derivation("input-gradient", "symbolic (general K, D)", "negative test")
    assert d.equal("right", g, right, s.alg)
    assert not d.equal("wrong: J^T p", g, wrong, s.alg)
    assert d.proof().holds is False
    assert s.alg.residual(g - wrong) == -s.W[s.y, s.j]


@pytest.mark.claim("hessian-gauss-newton")
def test_wrong_hessian_fails():
    s = general_setting()
    H = s.to_p(sp.diff(s.L(s.y), s.x[s.j], s.x[s.i]))
    wrong = Sum(s.W[s.k, s.i] * s.p[s.k] * delta(s.k, s.l) * s.W[s.l, s.j], (s.k, 1, s.K), (s.l, 1, s.K))
    assert s.alg.residual(H - wrong) != 0  # diag(p) alone misses -p p^T


def test_negative_slack_fails_a_proof():
    d = Derivation("input-gradient-bounds", "exact rational instances", "negative test")
    d.min_slack("made up", sp.Rational(1, 3))
    d.min_slack("made up", sp.Rational(-1, 7))
    p = d.proof()
    assert p.holds is False and p.slack == {"made up": sp.Rational(-1, 7)}


# ---------------------------------------------------------------------- the index algebra itself
def _at_sizes(expr, K, D, sizes, p):
    """Evaluate a general expression at concrete sizes, with p_K = 1 - sum of the others."""
    out = expr.subs(sizes).doit()
    return out.xreplace({p[K]: 1 - sum(p[k] for k in range(1, K))})


@pytest.mark.parametrize("case", ["cross-lipschitz", "hessian", "wrong", "deltas"])
def test_index_algebra_residual_preserves_value_at_concrete_sizes(case):
    """residual(E) equals E (under sum p = 1) once K and D are numbers: the normal form is value-preserving."""
    s = general_setting()
    K, D, k, l, m, d, W, p, y = s.K, s.D, s.k, s.l, s.m, s.d, s.W, s.p, s.y
    exprs = {
        "cross-lipschitz": Sum((W[l, d] - W[m, d]) ** 2, (l, 1, K), (m, 1, K), (d, 1, D))
        - 2 * K * Sum(W[k, d] ** 2, (k, 1, K), (d, 1, D)),
        "hessian": s.to_p(sp.diff(s.L(y), s.x[s.j], s.x[s.i])),
        "wrong": Sum(p[k] ** 2 * W[k, s.j], (k, 1, K)) + Sum(p[k], (k, 1, K)) * W[y, s.j],
        "deltas": Sum(delta(k, y) * p[k] * Sum(p[l] * W[l, d] * delta(d, s.j), (l, 1, K), (d, 1, D)), (k, 1, K)),
    }
    expr = exprs[case]
    res = s.alg.residual(expr)
    for Kn, Dn, yn, jn, iin in ((2, 1, 1, 1, 1), (3, 2, 2, 1, 2)):
        sizes = {K: Kn, D: Dn, y: yn, s.j: jn, s.i: iin}
        diff = _at_sizes(expr, Kn, Dn, sizes, p) - _at_sizes(res, Kn, Dn, sizes, p)
        assert explicit_residual(diff) == 0, (case, Kn, Dn)


def test_index_algebra_needs_the_simplex_rule_only_for_declared_probabilities():
    K = sp.Symbol("K", integer=True, positive=True)
    k, l = sp.symbols("k l", integer=True)
    p, q = sp.IndexedBase("p"), sp.IndexedBase("q")
    alg = IndexAlgebra({}, {p: K})
    assert alg.residual(Sum(p[k] * p[l], (k, 1, K), (l, 1, K)) - 1) == 0
    assert alg.residual(Sum(q[k], (k, 1, K)) - 1) != 0
    assert alg.residual(Sum(p[k] ** 2, (k, 1, K)) - 1) != 0
    assert alg.residual(Sum(1, (k, 1, K)) - K) == 0


def test_index_algebra_refuses_what_it_cannot_decide():
    K = sp.Symbol("K", integer=True, positive=True)
    k = sp.Symbol("k", integer=True)
    p = sp.IndexedBase("p")
    alg = IndexAlgebra({}, {p: K})
    with pytest.raises(ValueError, match="summation index"):
        alg.residual(Sum(k * p[k], (k, 1, K)))
    with pytest.raises(ValueError, match="start at 1"):
        alg.residual(Sum(p[k], (k, 0, K)))
    with pytest.raises(ValueError, match="power"):
        alg.residual(1 / Sum(p[k] ** 2, (k, 1, K)))
    with pytest.raises(ValueError, match="no declared range"):
        alg.residual(Sum(p[k] * delta(k, sp.Symbol("j", integer=True)), (k, 1, K)))


def test_softmax_substitution_refuses_a_foreign_exponential():
    s = general_setting()
    with pytest.raises(ValueError, match="not exp"):
        softmax_to_p(sp.exp(s.b[s.k]), lambda c: s.f(c), s.p, s.Z, s.K)


# ------------------------------------------------------------------------- claim-specific contents
def _texts(p: Proof) -> str:
    return "\n".join(text for text, _ in p.steps)


@pytest.mark.claim("input-gradient")
def test_input_gradient_comes_out_of_diff(proofs):
    text = _texts(proofs["input-gradient"])
    assert "sympy diff" in text and "exp(f_k) = Z p_k" in text


@pytest.mark.claim("cross-entropy-scale-variance")
def test_cross_entropy_scale_variance_covers_margin_input_and_parameters(proofs):
    p = proofs["cross-entropy-scale-variance"]
    text = _texts(p)
    assert p.holds is True and p.tag == "abstract"
    assert "gamma(c f)" in text and "grad_x CE(c)" in text and "dCE/dV" in text


@pytest.mark.claim("confident-limit")
def test_confident_limit_separates_decaying_and_growing_regularizers(proofs):
    text = _texts(proofs["confident-limit"])
    assert "R-JAC(c J) = c^2 R-JAC(J)" in text and "R-CL(c J) = c^2 R-CL(J)" in text
    assert text.count("exp(c delta / 2) -> 0") == 3


@pytest.mark.claim("standard-training-small-margin")
def test_standard_training_small_margin_is_empirical(proofs):
    p = proofs["standard-training-small-margin"]
    assert p.holds is None and p.method == "empirical: not a theorem"


@pytest.mark.claim("hessian-gauss-newton")
def test_hessian_gauss_newton_checks_every_consequence(proofs):
    text = _texts(proofs["hessian-gauss-newton"])
    for piece in ("does not depend on y", "PSD", "rank", "Gershgorin", "1/2 - 2 t (1 - t)", "tr S = 1 - |p|^2"):
        assert piece in text, piece
