"""LaTeX to readable plain text, for ``python -m theory explain`` in a terminal: :func:`tex_to_text` turns a
display equation written in LaTeX (``H = J^\\top S(p) J``) into ASCII (``H = J^T S(p) J``), and
:func:`inline_text` does the same for the ``$...$`` fragments of a sentence. No unicode, no computer-algebra
output: what a person writes on a blackboard.
"""

from __future__ import annotations

import re

__all__ = ["tex_to_text", "inline_text", "WORDS", "GREEK"]


#: LaTeX commands and the plain words that stand for them in text output.
WORDS = {
    "top": "T", "sum": "sum", "prod": "prod", "max": "max", "min": "min", "lim": "lim", "exp": "exp",
    "log": "log", "det": "det", "sup": "sup", "inf": "inf", "nabla": "grad", "partial": "d",
    "leq": "<=", "geq": ">=", "neq": "!=", "ne": "!=", "to": "->", "infty": "oo", "Rightarrow": "=>",
    "Leftrightarrow": "<=>", "in": "in", "succeq": ">=", "cdots": "...", "ldots": "...", "dots": "...",
    "times": "x", "langle": "<", "rangle": ">", "vert": "|", "mid": "|", "quad": "\x00", "qquad": "\x00",
    "colon": ":", "pm": "+-", "approx": "~", "sim": "~", "circ": "o", "cdot": " ",
}


#: The Greek letters written by name in text output (``\\gamma`` -> ``gamma``).
GREEK = ("alpha", "beta", "gamma", "delta", "epsilon", "lambda", "mu", "sigma", "theta", "tau", "Delta",
          "Sigma", "Lambda", "Pi", "ell")


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
    if name in WORDS:
        return WORDS[name][:1].isalnum()
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
    if name in WORDS:
        word, j = WORDS[name], i + 1
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
            control = t.startswith("\\") and t[1:2].isalpha() and t[1:] not in WORDS
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
