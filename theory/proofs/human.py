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

__all__ = ["WIDTH", "tex_to_text", "inline_text", "prose_tex", "render_text", "render_latex", "math_fragments"]

#: The width of the plain-text derivation.
WIDTH = 100

# ------------------------------------------------------------------------------- LaTeX -> plain text
_WORDS = {
    "top": "T", "sum": "sum", "prod": "prod", "max": "max", "min": "min", "lim": "lim", "exp": "exp",
    "log": "log", "det": "det", "sup": "sup", "inf": "inf", "nabla": "grad", "partial": "d",
    "leq": "<=", "geq": ">=", "neq": "!=", "ne": "!=", "to": "->", "infty": "oo", "Rightarrow": "=>",
    "Leftrightarrow": "<=>", "in": "in", "succeq": ">=", "cdots": "...", "ldots": "...", "dots": "...",
    "times": "x", "langle": "<", "rangle": ">", "vert": "|", "mid": "|", "quad": "\x00", "qquad": "\x00",
    "colon": ":", "pm": "+-", "approx": "~", "sim": "~", "circ": "o", "cdot": " ",
}
_GREEK = ("alpha", "beta", "gamma", "delta", "epsilon", "lambda", "mu", "sigma", "theta", "tau", "Delta",
          "Sigma", "Lambda", "Pi", "ell")
_WORDS.update({g: g for g in _GREEK})
_WORDS["varepsilon"] = "epsilon"
_SPACES = {",": " ", ";": " ", ":": " ", " ": " ", "!": "", "|": "|", "{": "{", "}": "}", "\\": " ", "_": "_",
           "%": "%", "&": "&", "#": "#", "$": "$"}
_ONE_ARG = {"operatorname", "mathrm", "text", "mathbf", "mathcal", "mathbb", "mathsf", "mathit", "boldsymbol"}


def _tokens(tex: str) -> list[str]:
    return re.findall(r"\\[A-Za-z]+|\\.|[{}^_]|[^\\{}^_]", tex)


def _arg(toks: list[str], i: int) -> tuple[str, int]:
    """The converted argument at ``toks[i]``: a braced group or one token (with its own argument)."""
    while i < len(toks) and toks[i] == " ":
        i += 1
    if i >= len(toks):
        return "", i
    if toks[i] == "{":
        return _convert(toks, i + 1)
    return _one(toks, i)


def _simple(s: str, denominator: bool = False) -> bool:
    """Whether ``s`` needs no parentheses as a numerator (or denominator) of ``a/b``."""
    if re.search(r"\s|[-+*/=<>,]", s[1:]) or s[:1] in "-+":
        return False
    return not (denominator and re.match(r"\d+[A-Za-z(]", s))


def _starts_alnum(tok: str) -> bool:
    """Whether the text of the token ``tok`` starts with a letter or digit (so needs a space before it)."""
    if tok[:1].isalnum():
        return True
    if tok[:1] != "\\" or not tok[1:2].isalpha():
        return False
    name = tok[1:]
    if name in _WORDS:
        return _WORDS[name][:1].isalnum()
    return name not in ("left", "right", "big", "Big", "bigl", "bigr")


def _paren(s: str) -> str:
    if s.startswith("(") and s.endswith(")") and _closes_at_end(s):
        return s
    return "(" + s + ")"


def _closes_at_end(s: str) -> bool:
    depth = 0
    for n, ch in enumerate(s):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and n < len(s) - 1:
            return False
    return True


def _one(toks: list[str], i: int) -> tuple[str, int]:
    t = toks[i]
    if not t.startswith("\\") or len(t) == 1:
        return t, i + 1
    name = t[1:]
    if len(name) == 1 and not name.isalpha():
        return _SPACES.get(name, name), i + 1
    if name in ("left", "right", "big", "Big", "bigl", "bigr"):
        if i + 1 < len(toks) and toks[i + 1] in (".", "\\."):
            return "", i + 2
        return ("", i + 1)
    if name == "frac":
        a, j = _arg(toks, i + 1)
        b, j = _arg(toks, j)
        return f"{a if _simple(a) else _paren(a)}/{b if _simple(b, True) else _paren(b)}", j
    if name == "sqrt":
        a, j = _arg(toks, i + 1)
        return f"sqrt({a})" if not a.isdigit() else f"sqrt {a}", j
    if name in ("hat", "tilde", "bar"):
        a, j = _arg(toks, i + 1)
        return a + {"hat": "hat", "tilde": "t", "bar": "bar"}[name], j
    if name in _ONE_ARG:
        return _arg(toks, i + 1)
    if name in _WORDS:
        word, j = _WORDS[name], i + 1
        while j < len(toks) and toks[j] == " ":  # LaTeX ignores the spaces after a control word
            j += 1
        nxt = toks[j] if j < len(toks) else ""
        if name in ("langle", "partial"):
            return word, j
        if j > i + 1 or (word[-1:].isalpha() and _starts_alnum(nxt)):
            word += " "
        return word, j
    raise ValueError(f"tex_to_text: unsupported command {t!r}")


def _convert(toks: list[str], i: int) -> tuple[str, int]:
    """Convert tokens from ``i`` up to the matching ``}`` (or the end); return the text and the next index."""
    out: list[str] = []
    while i < len(toks):
        t = toks[i]
        if t == "}":
            return "".join(out), i + 1
        if t == "{":
            s, i = _convert(toks, i + 1)
            out.append(s)
        elif t in ("^", "_"):
            s, i = _arg(toks, i + 1)
            tail = " " if s.endswith(" ") else ""
            s = s.strip()
            out.append(t + (s if re.fullmatch(r"[A-Za-z0-9'*+]+", s) else "{" + s + "}") + tail)
        else:
            control = t.startswith("\\") and t[1:2].isalpha() and t[1:] not in _WORDS
            s, i = _one(toks, i)
            if t.startswith("\\") and t[1:2].isalpha() and s[:1].isalpha() and out and out[-1][-1:].isalnum():
                s = " " + s
            if control and _starts_alnum(toks[i] if i < len(toks) else ""):
                s += " "
            out.append(s)
    return "".join(out), i


def tex_to_text(tex: str) -> str:
    r"""Plain-text reading of a LaTeX formula in the vocabulary of the derivations (``^\top`` as ``^T``,
    ``\frac{a}{b}`` as ``a/b``, ``\sum_{k,l}`` as ``sum_{k,l}``, ``\|x\|`` as ``|x|``, Greek by name).

    >>> tex_to_text(r"\nabla_x L = J^\top (p - e_y) = \sum_{k \neq y} p_k (w_k - w_y)")
    'grad_x L = J^T (p - e_y) = sum_{k != y} p_k (w_k - w_y)'
    >>> tex_to_text(r"\|J\|_F^2 = \langle G, I\rangle, \quad S(p) = \operatorname{diag}(p) - p p^\top")
    '|J|_F^2 = <G, I>,  S(p) = diag(p) - p p^T'
    """
    text, _ = _convert(_tokens(tex), 0)
    text = re.sub(r" {2,}", " ", text)
    return re.sub(r" ?\x00 ?", "  ", text).strip()


def inline_text(prose: str) -> str:
    """Prose with inline ``$...$`` maths as plain text (each formula by :func:`tex_to_text`).

    >>> inline_text(r"since $\\sum_k p_k = 1$, the terms cancel")
    'since sum_k p_k = 1, the terms cancel'
    """
    parts = re.split(r"(?<!\\)\$", prose)
    if len(parts) % 2 == 0:
        raise ValueError(f"unbalanced $ in {prose!r}")
    return "".join(tex_to_text(p) if i % 2 else p.replace(r"\$", "$") for i, p in enumerate(parts))


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
_FUNCS.update({g: "\\" + g for g in _GREEK})


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
