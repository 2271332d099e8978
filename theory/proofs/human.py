r"""The human form of a derivation: how ``python -m theory explain`` shows a :class:`~theory.proofs.Proof`.

Each step of a proof carries, besides the sympy object that its check decided, a display equation in
conventional notation (a LaTeX string, ``tex``) and a one-line reason (``why``, prose with inline ``$...$``
maths). This module renders them:

- :func:`render_text`: plain text, lines of at most :data:`WIDTH` characters; the maths by
  :func:`tex_to_text` (``J^\top`` becomes ``J^T``, ``\sum_k`` becomes ``sum_k``), no Unicode pictures;
- :func:`render_latex`: a complete LaTeX document (``article``, ``amsmath``) that compiles on its own.

The raw sympy expressions are shown only on request (``sympy=True``, the command's ``--sympy``): they are
what the check decided, not how a person reads the step.

>>> tex_to_text(r"H = J^\top S(p)\, J, \quad \sum_k p_k = 1")
'H = J^T S(p) J,  sum_k p_k = 1'
>>> tex_to_text(r"\lambda_{\max}(S) \leq \frac{1}{2}")
'lambda_max(S) <= 1/2'
>>> prose_tex("explicit K <= 4, D <= 3: diff of L twice == J^T S J")
'explicit $K \\leq 4$, $D \\leq 3$: diff of $L$ twice $= J^\\top S J$'
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

from theory.proofs.plain_maths import GREEK, WORDS, inline_text, tex_to_text

__all__ = ["WIDTH", "tex_to_text", "inline_text", "prose_tex", "render_text", "render_latex", "math_fragments"]

#: The width of the plain-text derivation.
WIDTH = 100

WORDS.update({g: g for g in GREEK})
WORDS["varepsilon"] = "epsilon"


# ------------------------------------------------------------------------ ASCII prose -> LaTeX prose
_TEXT_ESCAPES = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$",
                 "{": r"\{", "}": r"\}", "^": r"\^{}", "~": r"\~{}", "<": r"\textless{}", ">": r"\textgreater{}",
                 "|": r"\textbar{}"}
_OPS = {"<=": r"\leq", ">=": r"\geq", "!=": r"\neq", "==": "=", "=": "=", "<": "<", ">": ">", "->": r"\to",
        "+": "+", "-": "-", "/": "/", "*": r"\,"}
_FUNCS = {"max": r"\max", "min": r"\min", "exp": r"\exp", "log": r"\log", "det": r"\det", "lim": r"\lim",
          "sum": r"\sum", "prod": r"\prod", "sqrt": r"\sqrt", "tr": r"\operatorname{tr}", "oo": r"\infty",
          "yhat": r"\hat{y}", "pt": r"\tilde{p}", "grad": r"\nabla", "diag": r"\operatorname{diag}",
          "rank": r"\operatorname{rank}", "hess": r"\nabla^2", "varepsilon": r"\varepsilon", "TIMES": r"\times"}
_FUNCS.update({g: "\\" + g for g in GREEK})


def _tex_text(text: str) -> str:
    return "".join(_TEXT_ESCAPES.get(ch, ch) for ch in text)


def _is_math_token(tok: str, prev_op: bool, next_op: bool) -> bool:
    core = tok.strip("(),;:.")
    if not core or re.fullmatch(r"\([a-z0-9]\)[,:;.]?", tok):       # an item label such as (a) or (b)
        return False
    if re.fullmatch(r"(exp|log|sqrt|max|min)\(.*\)", tok.rstrip(",;:.")):
        return True
    if tok in _OPS or core in _OPS:
        return True
    if re.search(r"[_^|=<>]", core) or core in ("oo",):
        return True
    if re.fullmatch(r"[A-Za-z]'?", core):
        return core not in ("a", "A", "I") or prev_op or next_op
    if re.fullmatch(r"-?\d+(/\d+)?", core):
        return prev_op or next_op
    if core in ("sqrt", "exp", "log", "max", "min", "tr") and (prev_op or next_op):
        return True
    return False


def _math_word(m: re.Match) -> str:
    w = m.group()
    if w in _FUNCS:
        return _FUNCS[w] + " "
    if len(w) == 1 or w.isdigit():
        return w
    return r"\mathrm{" + w + "}"


def _ascii_math(s: str) -> str:
    """One ASCII formula (``J^T (p - e_y)``, ``K <= 4``) as LaTeX maths."""
    out = []
    s = re.sub(r"(?<=\b[A-Z]) x (?=[A-Z]\b)", " TIMES ", s)
    for tok in re.findall(r"<=|>=|!=|==|->|[A-Za-z]+|\d+|\s+|.", s):
        if tok in _OPS:
            out.append(" " + _OPS[tok] + " " if tok not in ("-", "+", "/") else tok)
        elif tok.isalpha():
            out.append(_math_word(re.match(r".+", tok)))
        elif tok in "%&#$~":
            out.append("\\" + tok if tok != "~" else r"\sim ")
        else:
            out.append(tok)
    tex = "".join(out)
    tex = re.sub(r"\^T(?![A-Za-z0-9])", r"^\\top", tex)
    tex = re.sub(r"\\sqrt +(\d+|[A-Za-z])", r"\\sqrt{\1}", tex)
    tex = re.sub(r" +([_^])", r"\1", tex)
    return re.sub(r" {2,}", " ", tex).strip()


def prose_tex(text: str) -> str:
    r"""ASCII prose with ASCII maths (the registry's statements, scopes and methods) as LaTeX: each run of
    maths (``K <= 4``, ``J^T S J``, ``sum_{j != y}``) set in ``$...$`` with ``\leq``, ``^\top``, ``\sum``, the
    rest as escaped text.

    >>> prose_tex("general K and D; every K <= 4")
    'general $K$ and $D$; every $K \\leq 4$'
    """
    toks = text.split(" ")
    def hyphenated(t):  # a word such as Linear(2,3)-sigma_a-Linear(3,4): maths only inside its parts
        return re.search(r"[A-Za-z0-9)]-[A-Za-z]", t) and re.search(r"[_^]", t) and not re.search(r"[=<>|]", t)

    if len(toks) == 1 and hyphenated(text):
        return "-".join(prose_tex(part) for part in text.split("-"))
    if len(toks) > 1:
        toks = [("\x00" + t) if hyphenated(t) else t for t in toks]
    ops = [t.strip("(),;:.") in _OPS and t.strip("(),;:.") != "" for t in toks]
    math = [not t.startswith("\x00") and _is_math_token(t, i > 0 and ops[i - 1], i + 1 < len(toks) and ops[i + 1])
            for i, t in enumerate(toks)]
    out, i = [], 0
    while i < len(toks):
        if toks[i].startswith("\x00"):
            out.append(prose_tex(toks[i][1:]))
            i += 1
            continue
        if not math[i]:
            out.append(_tex_text(toks[i]))
            i += 1
            continue
        j = i
        run = [toks[j]]
        while (j + 1 < len(toks) and (math[j + 1] or " ".join(run).count("{") > " ".join(run).count("}"))
               and not re.search(r"[,;:]$", toks[j].rstrip(")"))
               and not (toks[j + 1].startswith("(") and _balanced(" ".join(run))
                        and re.fullmatch(r"[A-Za-z0-9]", toks[j]))):
            j += 1
            run.append(toks[j])
        while len(run) > 1 and run[-1] in _OPS:     # an operator that ends the formula belongs to the prose
            j -= 1
            run.pop()
        if run[0] in ("+", "-", "*", "/") and len(run) > 1:
            out.append(_tex_text(run.pop(0)))
        if len(run) == 1 and run[0] in ("+", "-", "*", "/"):
            out.append(_tex_text(run[0]))
            i = j + 1
            continue
        s = " ".join(run)
        lead = re.match(r"^[(]*", s).group()
        trail = re.search(r"[),;:.]*$", s).group()
        body = s[len(lead):len(s) - len(trail)]
        # keep parentheses that are balanced inside the formula
        while lead and body.count(")") > body.count("("):
            body, lead = "(" + body, lead[:-1]
        while trail.startswith(")") and body.count("(") > body.count(")"):
            body, trail = body + ")", trail[1:]
        out.append(_tex_text(lead) + ("$" + _ascii_math(body) + "$" if body else "") + _tex_text(trail))
        i = j + 1
    return " ".join(out)


def _balanced(s: str) -> bool:
    return s.count("(") == s.count(")") and s.count("{") == s.count("}")


def math_fragments(document: str) -> list[str]:
    """Every maths fragment of a LaTeX document made by :func:`render_latex`: the ``$...$`` of its text and
    each line of its ``align*`` blocks (without ``&`` and ``\\\\``), for a parser to check one by one."""
    body = document.split(r"\begin{document}", 1)[-1]
    frags = []
    for line in body.splitlines():
        line = line.strip()
        if line.startswith("%"):
            continue
        if line.startswith("&"):
            frags.append(line.lstrip("&").removesuffix(r"\\").strip())
            continue
        parts = re.split(r"(?<!\\)\$", line)
        frags += [p for k, p in enumerate(parts) if k % 2]
    return [f for f in frags if f]


# ------------------------------------------------------------------------------------------ renderers
def _status(step) -> str:
    return {"identity": "[checked: lhs - rhs == 0]", "checked": "[checked]", "failed": "[NOT PROVED]",
            "residual": "[residual]", "note": ""}.get(getattr(step, "status", "note"), "")


def _summary(proof):
    from theory.proofs.sketches import SKETCHES

    return SKETCHES.get(proof.claim)


def _sympy_text(expr, width: int) -> list[str]:
    import sympy as sp

    if expr is None:
        return []
    return textwrap.wrap(sp.sstr(expr), width, subsequent_indent="    ", break_on_hyphens=False,
                         break_long_words=True)


def _wrap(text: str, indent: str, more: str, width: int = WIDTH, keep: str = "") -> list[str]:
    """``text`` wrapped at spaces; ``keep``, a suffix, is kept whole on one line."""
    if keep:
        text = f"{text} {keep.replace(' ', chr(1))}"
    lines = textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=more, break_on_hyphens=False,
                          break_long_words=True) or [indent.rstrip()]
    return [ln.replace(chr(1), " ") for ln in lines]


def render_text(proof, sympy: bool = False) -> str:
    """The derivation as plain text: header, proof sketch, each step (reason, status, display equation), slack.

    With ``sympy`` each step also shows its raw description and the sympy object its check decided."""
    out = [f"{proof.claim} [{proof.tag}, {proof.kind}]: {proof.verdict()}"]
    for label, text in (("claim", proof.statement), ("assumptions", proof.assumptions or "-"),
                        ("method", proof.method), ("scope", proof.scope)):
        out += _wrap(f"{label}: {' '.join(str(text).split())}", "  ", "      ")
    summary = _summary(proof)
    if summary is not None:
        out += _wrap("proof sketch: " + inline_text(summary.sketch), "  ", "      ")
    out.append("  derivation:")
    for i, step in enumerate(proof.steps, 1):
        text, expr = tuple(step)
        why = getattr(step, "why", "")
        plain = getattr(step, "plain", "") or (tex_to_text(step.tex) if getattr(step, "tex", "") else "")
        status = _status(step)
        if why:
            head = inline_text(why)
            if status == "[NOT PROVED]":
                head = "NOT PROVED: " + head
        else:
            head, status = text, ""
        out += _wrap(f"{i}. {head}", "  ", "       ", keep=status)
        if plain:
            parts = [plain] if len(plain) + 7 <= WIDTH else plain.split("  ")
            for part in parts:
                out += _wrap(part, "       ", "           ")
        elif expr is not None and not sympy:
            out += _sympy_text(expr, WIDTH - 7) and ["       " + ln for ln in _sympy_text(expr, WIDTH - 7)]
        if sympy:
            if why:
                out += _wrap(f"sympy step: {text}", "       ", "           ")
            out += ["       " + ln for ln in _sympy_text(expr, WIDTH - 7)]
    for name, value in (proof.slack or {}).items():
        out += _wrap(f"min slack {name}: {value}", "  ", "      ")
    out.append(f"  ({proof.seconds:.2f} s)")
    return "\n".join(out)


def _latex_block(proof, sympy: bool) -> list[str]:
    import sympy as sp

    summary = _summary(proof)
    statement = summary.statement if summary is not None else prose_tex(" ".join(proof.statement.split()))
    lines = [f"% {proof.claim} [{proof.tag}, {proof.kind}]: {' '.join(proof.statement.split())}",
             r"\sloppy",  # prose with inline maths breaks loosely rather than past the margin
             rf"\section*{{{_tex_text(proof.claim)}}}",
             rf"\noindent {proof.tag}, {proof.kind}: \textbf{{{proof.verdict().lower()}}}",
             rf"\paragraph{{Claim.}} {statement}",
             rf"\paragraph{{Assumptions.}} {prose_tex(' '.join((proof.assumptions or '-').split()))}",
             rf"\paragraph{{Method.}} {prose_tex(' '.join(str(proof.method).split()))}; "
             rf"scope: {prose_tex(' '.join(str(proof.scope).split()))}."]
    if summary is not None:
        lines.append(rf"\paragraph{{Proof sketch.}} {summary.sketch}")
    lines += [r"\paragraph{Derivation.}", r"\begin{align*}"]
    for i, step in enumerate(proof.steps, 1):
        text, expr = tuple(step)
        why, tex = getattr(step, "why", ""), getattr(step, "tex", "")
        status = _status(step)
        caption = why if why else prose_tex(text)
        if status == "[NOT PROVED]":
            caption = r"\textbf{not proved:} " + caption
        tag = rf" \hfill\textit{{{status.strip('[]').replace('==', '=')}}}" if status else ""
        lines.append(rf"\intertext{{{i}. {caption}{tag}}}")
        if tex:
            lines.append(rf"&{tex} \\")
        if (sympy or not tex) and expr is not None:
            if isinstance(expr, sp.Equality):
                lines += [rf"&{sp.latex(expr.lhs)} \\", rf"&\quad = {sp.latex(expr.rhs)} \\"]
            else:
                lines.append(rf"&{sp.latex(expr)} \\")
    if lines[-1] == r"\begin{align*}":
        lines.append(r"\intertext{(no steps)}")
    lines.append(r"\end{align*}")
    names = getattr(proof, "slack_tex", None) or {}
    for name, value in (proof.slack or {}).items():
        shown = f"${names[name]}$" if name in names else prose_tex(name)
        lines.append(rf"\noindent min slack of {shown}: ${sp.latex(value)}$\par")
    return lines


def render_latex(proof: Any, sympy: bool = False, standalone: bool = True) -> str:
    r"""The derivation as LaTeX: a complete ``article`` (``amsmath``, ``amssymb``) unless ``standalone`` is
    False, in which case only the body, for one document holding several derivations."""
    body = _latex_block(proof, sympy)
    if not standalone:
        return "\n".join(body)
    return "\n".join([r"\documentclass{article}", r"\usepackage{amsmath,amssymb}", r"\begin{document}",
                      *body, r"\end{document}"])
