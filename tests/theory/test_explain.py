"""Tests of ``python -m theory explain``: the derivation reads like one for people, in text and LaTeX, and the
regularizer listing agrees with the claims registry and with the canonical ids of the numeric checker.

Text mode: no line over 100 characters, no computer-algebra internals (``Sum(``, ``KroneckerDelta``, ``Eq(``,
dummy names), a reason for every step, a proof sketch. LaTeX mode: a complete document; it compiles where
``pdflatex`` (or ``latex``) is installed, and everywhere every maths fragment of it parses as matplotlib
mathtext. Each test covers every claim.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from theory.claims import CLAIMS, REGULARIZER_ALIASES, REGULARIZERS, claims_about, claims_by_regularizer, regularizer_id
from theory.errors import UnknownNameError
from theory.proofs import Step
from theory.proofs.human import WIDTH, inline_text, math_fragments, prose_tex, tex_to_text
from theory.proofs.sketches import SKETCHES

IDS = list(CLAIMS)


@pytest.fixture(scope="module")
def texts(proofs):
    return {cid: p.text() for cid, p in proofs.items()}


@pytest.fixture(scope="module")
def documents(proofs):
    return {cid: p.latex() for cid, p in proofs.items()}


# ------------------------------------------------------------------------------------------ text mode
@pytest.mark.parametrize("cid", IDS)
def test_text_lines_fit_100_columns(texts, cid):
    long = [ln for ln in texts[cid].splitlines() if len(ln) > WIDTH]
    assert WIDTH == 100 and not long, long


@pytest.mark.parametrize("cid", IDS)
def test_text_has_no_computer_algebra_internals(texts, cid):
    text = texts[cid]
    for internal in ("KroneckerDelta", "Sum(", "Eq(", "Indexed", "Dummy", "\\", "$"):
        assert internal not in text, (internal, [ln for ln in text.splitlines() if internal in ln][:3])
    dummies = re.findall(r"(?<![\w'}\])|])_[A-Za-z]\w*", text)     # sympy's dummy names print as _c, _r, _s1
    assert not dummies, dummies
    assert not re.search(r"\b[A-Za-z]\[[a-z_0-9, ]+\]", text), "an IndexedBase entry such as p[k] or W[k, d]"
    assert text.isascii(), "plain text, no Unicode pictures"


@pytest.mark.parametrize("cid", IDS)
def test_every_step_has_a_reason_and_every_check_its_verdict(proofs, texts, cid):
    p, text = proofs[cid], texts[cid]
    assert p.steps and all(isinstance(s, Step) for s in p.steps)
    for s in p.steps:
        assert s.why.strip(), f"{cid}: a step without a reason: {s.text}"
        assert inline_text(s.why) in " ".join(text.split()), s.why
        if s.status in ("identity", "checked"):
            assert s.tex, f"{cid}: a checked step without its display equation: {s.text}"
    n_identity = sum(s.status == "identity" for s in p.steps)
    assert text.count("[checked: lhs - rhs == 0]") == n_identity
    assert text.count("[checked]") == sum(s.status == "checked" for s in p.steps)


@pytest.mark.parametrize("cid", IDS)
def test_text_shows_a_proof_sketch_and_each_display_equation(proofs, texts, cid):
    flat = " ".join(texts[cid].split())
    sketch = inline_text(SKETCHES[cid].sketch)
    assert f"proof sketch: {sketch}" in flat
    assert 3 <= len(re.findall(r"[.!?](?:\s|$)", sketch)) <= 6, "a sketch of 3 to 6 sentences"
    for s in proofs[cid].steps:
        if s.tex:
            assert " ".join(tex_to_text(s.tex).split()) in flat, s.tex


def test_hessian_reads_in_conventional_notation(texts):
    text = texts["hessian-gauss-newton"]
    assert "H = J^T S(p) J,  S(p) = diag(p) - p p^T" in text
    assert "Z p_k / Z" not in text and "/Z" not in text
    assert "tr S = sum_k (p_k - p_k^2) = 1 - |p|^2" in text


def test_sympy_form_is_offered_on_request(proofs):
    p = proofs["hessian-gauss-newton"]
    plain, raw = p.text(), p.text(sympy=True)
    assert "KroneckerDelta" not in plain and "KroneckerDelta" in raw and "sympy step:" in raw
    assert str(p) == plain
    assert r"\delta" not in p.latex() and "delta_{" in p.latex(sympy=True)


def test_tex_to_text_reads_the_usual_notation():
    assert tex_to_text(r"\|J\|_F^2 = \langle G, I\rangle") == "|J|_F^2 = <G, I>"
    assert tex_to_text(r"\frac{\mathrm{CL}}{2K} \leq \|J\|_F^2") == "CL/(2K) <= |J|_F^2"
    assert tex_to_text(r"\lim_{T \to 0^+} \tilde{p}_k / \tilde{p}_{\hat{y}} = 0") == "lim_{T -> 0^+} pt_k / pt_yhat = 0"
    assert tex_to_text(r"\frac{1}{2}\sum_{k,l} p_k p_l") == "1/2 sum_{k,l} p_k p_l"
    with pytest.raises(ValueError, match="unsupported command"):
        tex_to_text(r"\weird x")


# ----------------------------------------------------------------------------------------- LaTeX mode
@pytest.mark.parametrize("cid", IDS)
def test_latex_is_a_complete_document_with_latex_captions(proofs, documents, cid):
    doc = documents[cid]
    assert doc.startswith("\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n\\begin{document}")
    assert doc.rstrip().endswith("\\end{document}") and doc.count("\\begin{align*}") == 1
    body = doc.split("\\begin{document}", 1)[1]
    body = "\n".join(ln for ln in body.splitlines() if not ln.startswith("%"))
    for ascii_escape in ("\\^{}", "$<$", "$>$", "$|$", "<=", ">=", "!=", "^T", "\\textless", "\\textbar"):
        assert ascii_escape not in body, (cid, ascii_escape)
    assert body.count("\\intertext{") == len(proofs[cid].steps)
    assert SKETCHES[cid].sketch in body and SKETCHES[cid].statement in body


def test_latex_of_the_hessian_sets_captions_in_latex(documents):
    doc = documents["hessian-gauss-newton"]
    assert r"$K \leq 4$" in doc and r"&H = J^\top S(p) J, \quad S(p) = \operatorname{diag}(p) - p p^\top \\" in doc


@pytest.mark.parametrize("cid", IDS)
def test_every_maths_fragment_parses_as_mathtext(documents, cid):
    mathtext = pytest.importorskip("matplotlib.mathtext")
    parser = mathtext.MathTextParser("path")
    frags = math_fragments(documents[cid])
    assert frags or CLAIMS[cid].kind == "empirical"          # a claim about training may have no maths
    bad = []
    for frag in frags:
        try:
            parser.parse(f"${frag}$")
        except ValueError as exc:
            bad.append((frag, str(exc).splitlines()[0] if str(exc) else ""))
    assert not bad, bad


def test_math_fragments_finds_inline_and_display_maths():
    doc = "\\begin{document}\n\\paragraph{Claim.} a $x^2$ and $\\$ 1$\n\\begin{align*}\n&H = J \\\\\n\\end{align*}"
    assert math_fragments(doc) == ["x^2", "\\$ 1", "H = J"]


def _latex_program():
    return shutil.which("pdflatex") or shutil.which("latex")


@pytest.mark.skipif(_latex_program() is None, reason="no pdflatex or latex on PATH")
@pytest.mark.parametrize("cid", IDS)
def test_every_latex_document_compiles_on_its_own(documents, tmp_path, cid):
    (tmp_path / "proof.tex").write_text(documents[cid])
    proc = subprocess.run([_latex_program(), "-interaction=nonstopmode", "-halt-on-error", "proof.tex"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    log = (tmp_path / "proof.log").read_text(errors="replace")
    assert proc.returncode == 0, [ln for ln in log.splitlines() if ln.startswith("!")][:5]
    assert not re.findall(r"Overfull \\hbox .* in paragraph at lines \d+--\d+", log)


def test_prose_tex_sets_ascii_maths_in_latex():
    assert prose_tex("for every K <= 4, D <= 3") == r"for every $K \leq 4$, $D \leq 3$"
    assert prose_tex("J^T S J") == r"$J^\top S J$"
    assert prose_tex("sum_{j != y} p_j") == r"$\sum_{j \neq y} p_j$"
    assert prose_tex("100% & #1") == r"100\% \& \#1"


# ------------------------------------------------------------------------------- the regularizer listing
def _verify_names():
    return pytest.importorskip("verify.regularizers.names")


def test_claim_regularizers_are_canonical_ids_of_verify():
    names = _verify_names()
    assert tuple(REGULARIZERS) == names.SUPPORTED
    for c in CLAIMS.values():
        assert isinstance(c.regularizers, tuple)
        assert set(c.regularizers) <= set(names.SUPPORTED), (c.id, c.regularizers)
        assert len(set(c.regularizers)) == len(c.regularizers), c.id


def test_aliases_equal_verifys():
    names = _verify_names()
    assert REGULARIZER_ALIASES == names.ALIASES
    for rid, aliases in names.ALIASES.items():
        for name in (rid, *aliases, rid.lower(), rid.replace("-", "_"), aliases[-1].replace("-", " ").title()):
            assert regularizer_id(name) == names.regularizer_id(name) == rid, name


def test_unknown_regularizer_is_refused_with_the_known_names():
    with pytest.raises(UnknownNameError, match=r"unknown regularizer 'R-FOO'; known: R-IG, R-JAC"):
        claims_about("R-FOO")
    with pytest.raises(TypeError):
        regularizer_id(3)


def test_claims_about_reads_the_registry():
    for rid in REGULARIZERS:
        expected = [c.id for c in CLAIMS.values() if rid in c.regularizers]
        assert [c.id for c in claims_about(rid)] == expected and expected
    # the closed form of R-IG lives in gram-unification, beside the gradient of input-gradient
    ig = [c.id for c in claims_about("input-gradient")]
    assert {"input-gradient", "gram-unification", "input-gradient-bounds"} <= set(ig)
    groups = claims_by_regularizer()
    assert list(groups) == [*REGULARIZERS, "none"]
    listed = {c.id for cs in groups.values() for c in cs}
    assert listed == set(CLAIMS), "every claim appears in the listing"
    assert all(not c.regularizers for c in groups["none"])


def test_every_claim_that_names_a_regularizer_lists_it():
    """An independent reading of the statements: a claim whose statement names a regularizer (R-IG, R-CURE,
    CURE, EMR, IG, CL, ...) lists it."""
    words = {"R-IG": r"\bR-IG\b|\bIG\b", "R-JAC": r"\bR-JAC\b", "R-CL": r"\bR-CL\b|\bCL\b|cross-Lipschitz",
             "R-CURE": r"\bR-CURE\b|\bCURE\b", "R-EMR": r"\bR-EMR\b|\bEMR\b"}
    for c in CLAIMS.values():
        for rid, pattern in words.items():
            if re.search(pattern, c.statement):
                assert rid in c.regularizers, (c.id, rid)


def test_explain_regularizer_and_list_commands(capsys):
    from theory.cli import main

    assert main(["explain", "--regularizer", "ig"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("R-IG: ") and len(out) == 1 + len(claims_about("R-IG"))
    assert [ln.split()[0] for ln in out[1:]] == [c.id for c in claims_about("R-IG")]
    assert all(len(ln) <= 100 for ln in out)
    assert main(["explain", "--list"]) == 0
    out = capsys.readouterr().out
    blocks = out.strip().split("\n\n")
    assert [b.split(":")[0] for b in blocks[:-1]] == list(REGULARIZERS) and blocks[-1].startswith("no regularizer")
    for block, cs in zip(blocks, claims_by_regularizer().values()):
        assert [ln.split()[0] for ln in block.splitlines()[1:]] == [c.id for c in cs]
    assert all(len(ln) <= 100 for ln in out.splitlines())
    assert main(["explain", "--regularizer", "nope"]) == 2
    assert "unknown regularizer 'nope'" in capsys.readouterr().err
    assert main(["explain", "input-gradient", "--list"]) == 2
    assert main(["explain"]) == 2
    assert "give a claim id" in capsys.readouterr().err
