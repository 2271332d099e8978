"""The one style of every figure: a dict of rc settings applied inside ``plt.rc_context``.

Nothing here changes matplotlib's global state: :func:`style` is a context manager, and every figure
is drawn and saved inside it (the pattern of tueplots). Widths follow a two-column paper: single
column 3.3 in, double column 6.9 in. Colours are the Okabe-Ito palette, which stays distinguishable
under the common colour-vision deficiencies. Symbols are written in mathtext (``$\\|J\\|_F^2$``);
LaTeX typesets the text only when a ``latex`` executable is on PATH (and ``REGFIGURES_USETEX`` is
not ``0``). PDFs embed their fonts as TrueType (``pdf.fonttype = 42``), so the text stays text.

>>> import matplotlib as mpl
>>> with style():
...     mpl.rcParams["pdf.fonttype"]
42
>>> mpl.rcParams["pdf.fonttype"] == 42   # unchanged outside
False
"""

from __future__ import annotations

import functools
import os
import shutil

__all__ = ["SINGLE", "DOUBLE", "PALETTE", "OKABE_ITO", "GROUP_COLOURS", "DIVERGING", "rc", "style", "usetex",
           "text", "group_colour", "DPI", "styled", "figure"]

#: Figure widths in inches: one column and the full text width of a two-column paper.
SINGLE = 3.3
DOUBLE = 6.9
#: Raster resolution of the PNGs (for slides).
DPI = 200

#: Okabe & Ito (2008), "Color Universal Design": name -> hex.
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7",
}
#: The cycle order used for lines: the strongest contrasts first (yellow last, it is faint on white).
PALETTE = [OKABE_ITO[k] for k in ("blue", "vermillion", "green", "orange", "purple", "sky", "black", "yellow")]
#: Colours of the (dtype, device) groups, the same in every figure.
GROUP_COLOURS = {
    ("float64", "cpu"): OKABE_ITO["blue"], ("float32", "cpu"): OKABE_ITO["vermillion"],
    ("float64", "cuda"): OKABE_ITO["sky"], ("float32", "cuda"): OKABE_ITO["orange"],
}
#: A diverging colormap centred at 0 for signed matrices.
DIVERGING = "RdBu_r"


def usetex() -> bool:
    """Whether text is typeset by LaTeX: a ``latex`` executable is on PATH, unless ``REGFIGURES_USETEX=0``."""
    env = os.environ.get("REGFIGURES_USETEX")
    if env is not None:
        return env.strip() not in ("0", "", "false", "no")
    return shutil.which("latex") is not None


def rc(tex: bool | None = None) -> dict:
    """The rc settings of every figure (a fresh dict; ``tex`` overrides :func:`usetex`)."""
    from cycler import cycler

    tex = usetex() if tex is None else tex
    d = {
        # size: 8 pt text at paper size; the PNGs are for slides at 200 dpi
        "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7,
        "xtick.labelsize": 7, "ytick.labelsize": 7, "figure.titlesize": 9,
        "font.family": "serif" if tex else "sans-serif",
        "font.sans-serif": ["DejaVu Sans"], "mathtext.fontset": "dejavusans",
        "text.usetex": tex,
        # lines and axes
        "axes.prop_cycle": cycler(color=PALETTE),
        "axes.linewidth": 0.6, "axes.spines.top": False, "axes.spines.right": False,
        "axes.titlepad": 3.0, "axes.labelpad": 2.0,
        "lines.linewidth": 1.2, "lines.markersize": 3.5, "patch.linewidth": 0.5,
        "xtick.major.width": 0.6, "ytick.major.width": 0.6, "xtick.minor.width": 0.4, "ytick.minor.width": 0.4,
        "xtick.major.size": 2.5, "ytick.major.size": 2.5, "xtick.minor.size": 1.5, "ytick.minor.size": 1.5,
        "grid.linewidth": 0.4, "grid.alpha": 0.35,
        "legend.frameon": False, "legend.handlelength": 1.6, "legend.borderaxespad": 0.3,
        "image.cmap": "viridis",
        # layout and output
        "figure.constrained_layout.use": True, "figure.dpi": 100,
        "savefig.dpi": DPI, "savefig.bbox": "tight", "savefig.pad_inches": 0.02,
        "pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none",
        "pdf.compression": 9,
    }
    return d


def style(tex: bool | None = None):
    """A context manager applying :func:`rc` (and only inside it)."""
    import matplotlib as mpl

    return mpl.rc_context(rc(tex))


def styled(fn):
    """Decorate a figure function so that it draws inside :func:`style` (its figure keeps the look when
    it is saved inside :func:`style` too, as the command line does)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with style():
            return fn(*args, **kwargs)

    return wrapper


def figure(width: float = SINGLE, height: float | None = None):
    """A new matplotlib Figure (not registered with pyplot, so nothing global is touched)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height if height is not None else width * 0.75))


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "_": r"\_", "^": r"\^{}", "%": r"\%", "&": r"\&", "#": r"\#",
                "{": r"\{", "}": r"\}", "~": r"\~{}", "$": r"\$", "|": r"$|$", "<": r"$<$", ">": r"$>$"}


def text(s: str, tex: bool | None = None) -> str:
    """A data string (a claim id, a check name, an architecture) made safe for the text renderer:
    LaTeX specials escaped when LaTeX typesets (``tex``; default: the current ``text.usetex``), and
    only ``$`` escaped for mathtext otherwise.

    >>> text("a$b", tex=False)
    'a\\\\$b'
    >>> text("h^2 |Hz|_2", tex=True)
    'h\\\\^{}2 $|$Hz$|$\\\\_2'
    """
    import matplotlib as mpl

    tex = mpl.rcParams["text.usetex"] if tex is None else tex
    if tex:
        return "".join(_TEX_SPECIAL.get(ch, ch) for ch in s)
    return s.replace("$", r"\$")


_OTHER = [OKABE_ITO[k] for k in ("green", "purple", "black", "yellow")]


def group_colour(dtype: str, device: str) -> str:
    """The colour of a (dtype, device) group, the same in every figure; a group outside
    :data:`GROUP_COLOURS` (e.g. float16, mps) gets one of the remaining colours by its name."""
    key = (dtype, device)
    if key in GROUP_COLOURS:
        return GROUP_COLOURS[key]
    return _OTHER[sum(map(ord, dtype + device)) % len(_OTHER)]
