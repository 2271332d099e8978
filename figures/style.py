"""The one style of every figure: a dict of rc settings applied inside ``plt.rc_context``.

Nothing here changes matplotlib's global state: :func:`style` is a context manager, and every figure
is drawn and saved inside it (the pattern of tueplots). Widths follow a two-column paper: single
column 3.3 in, double column 6.9 in. Colours are the Okabe-Ito palette, which stays distinguishable
under the common colour-vision deficiencies. Symbols are written in mathtext (``$\\|J\\|_F^2$``);
LaTeX typesets the text only when a ``latex`` executable is on PATH (and ``REGFIGURES_USETEX`` is
not ``0``); a figure function decorated with :func:`styled` also takes ``tex=True``/``False`` to
choose. When the TeX toolchain fails on a figure (a partial TeX installation: a missing package or
font), :func:`tex_error` recognises the error and the command line draws that figure again with
mathtext. The text stays text in the PDFs: mathtext embeds TrueType fonts (``pdf.fonttype = 42``),
LaTeX its own Type 1 fonts.

A *venue* (``style(venue="icml2024")``, ``python -m figures --venue icml2024``) sizes the figures for a
conference's page: :func:`venue` takes the column widths and the font sizes from ``tueplots`` (an optional
dependency, the ``figures`` extra), never from a table of our own. Inside ``style(venue=...)`` a figure of
width :data:`SINGLE` made by :func:`figure` gets the venue's column width, one of width :data:`DOUBLE`
its full text width (on a one-column venue both get the text width, tueplots' default there), its height
scaled by the same factor; the font sizes are the venue's; and a figure is saved at exactly that size
(no tight bounding box), so that it goes into the paper at 100 %. Font sizes that a figure gives
explicitly are written at the default 8-pt base through :func:`fs`, which scales them with the venue's.

>>> import matplotlib as mpl
>>> with style():
...     mpl.rcParams["pdf.fonttype"]
42
>>> mpl.rcParams["pdf.fonttype"] == 42   # unchanged outside
False
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import shutil
from dataclasses import dataclass, field

from figures.errors import VenueError
from theory.errors import UnknownNameError

__all__ = ["OBJECTIVE_COLOURS", "objective_colour", "colour_name", "NEUTRAL", "SLIDES", "STYLES", "SINGLE", "DOUBLE", "PALETTE", "OKABE_ITO", "GROUP_COLOURS", "DIVERGING", "rc", "style", "usetex",
           "text", "group_colour", "DPI", "styled", "figure", "tex_error", "Venue", "VenueError", "venue",
           "venues", "current_venue", "fs", "BASE_FONT_SIZE"]

#: Figure widths in inches: one column and the full text width of a two-column paper.
SINGLE = 3.3
#: The width (inches) of a figure that spans both columns when no venue is given.
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
#: The colour of each training objective (a role of the lab, ``python -m verify dynamics``): the same in every
#: panel of every lab figure, and used for nothing else there. The Okabe-Ito colours go to the objectives the
#: figures draw; the explicit regularizers (drawn by none yet) get four of Paul Tol's muted colours, round 2's
#: objectives the rest of them and four of his light ones.
OBJECTIVE_COLOURS = {
    "ce": OKABE_ITO["blue"], "ce+emr": OKABE_ITO["vermillion"],
    "at(eps1)": OKABE_ITO["sky"], "at(eps2)": OKABE_ITO["green"], "at(eps3)": OKABE_ITO["orange"],
    "at(eps2)+emr": OKABE_ITO["purple"],
    "ce+ig": "#882255", "ce+jac": "#44AA99", "ce+cl": "#999933", "ce+cure": "#661100",
    # round 2 (verify.dynamics.lab.ROLES2): Paul Tol's remaining muted colours and a few of his light ones; drawn
    # together are only a defense and its +EMR (margin-dynamics' rows) and trades(eps3) beside at(eps1..3)
    "trades(eps2)": "#88CCEE", "trades(eps2)+emr": "#CC6677", "mart(eps2)": "#117733", "mart(eps2)+emr": "#AA4499",
    "trades(eps3)": "#332288", "at(eps2)+emr-official": "#DDCC77",
    "ce+emr(x10)": "#EE8866", "ce+emr(x100)": "#FFAABB", "at(eps2)+emr(x10)": "#BBCC33", "at(eps2)+emr(x100)": "#77AADD",
}
#: Colours of what is no objective in the lab figures (seeds' medians, clean and attack curves, data sets):
#: black and greys, never an objective's colour.
NEUTRAL = {"black": "#000000", "dark grey": "#595959", "grey": "#8c8c8c", "light grey": "#bfbfbf"}
_COLOUR_NAMES = {**{v.lower(): ("sky blue" if k == "sky" else k) for k, v in OKABE_ITO.items()},
                 **{v.lower(): k for k, v in NEUTRAL.items()},
                 "#882255": "wine", "#44aa99": "teal", "#999933": "olive", "#661100": "brown",
                 "#88ccee": "cyan", "#cc6677": "rose", "#117733": "forest green", "#aa4499": "magenta",
                 "#332288": "indigo", "#ddcc77": "sand", "#ee8866": "salmon", "#ffaabb": "pink", "#bbcc33": "pear",
                 "#77aadd": "light blue"}


def objective_colour(role: str) -> str:
    """The colour of a lab objective (:data:`OBJECTIVE_COLOURS`); an UnknownNameError (a LookupError) names the known ones.

    >>> objective_colour("ce") == OKABE_ITO["blue"]
    True
    """
    try:
        return OBJECTIVE_COLOURS[role]
    except KeyError:
        raise UnknownNameError(f"no colour for the objective {role!r}; known: {', '.join(OBJECTIVE_COLOURS)}") from None


def colour_name(colour) -> str:
    """The word a caption uses for a colour of :data:`OBJECTIVE_COLOURS`, :data:`OKABE_ITO` or :data:`NEUTRAL`.

    >>> colour_name(OKABE_ITO["vermillion"]), colour_name(objective_colour("at(eps1)")), colour_name("#000000")
    ('vermillion', 'sky blue', 'black')
    """
    from matplotlib.colors import to_hex

    key = to_hex(colour).lower()
    if key not in _COLOUR_NAMES:
        raise UnknownNameError(f"colour {key} has no caption name")
    return _COLOUR_NAMES[key]


#: A diverging colormap centred at 0 for signed matrices.
DIVERGING = "RdBu_r"
#: The base font size of the default style (points); :func:`fs` scales sizes given against it.
BASE_FONT_SIZE = 8.0


@dataclass(frozen=True)
class Venue:
    """A venue's page, as tueplots gives it: ``single`` the width of one column, ``double`` the full text
    width (inches; equal on a one-column venue), and ``fonts`` the rc font sizes."""

    name: str
    single: float
    double: float
    fonts: dict = field(default_factory=dict)
    #: width / height of every figure (the slides' 16:9), or None: each figure keeps its own proportions
    aspect: float | None = None

    @property
    def columns(self) -> int:
        return 1 if self.single == self.double else 2

    def scale(self, width: float) -> float:
        """The factor that takes a default-style width to this venue's: :data:`SINGLE` -> ``single``,
        :data:`DOUBLE` -> ``double`` (a width nearer SINGLE than DOUBLE counts as one column)."""
        return self.single / SINGLE if width <= (SINGLE + DOUBLE) / 2 else self.double / DOUBLE


#: ``--style slides``: every figure 12.8 x 7.2 in (16:9) at 20-pt text, its verdict text left to the caption.
SLIDES = Venue("slides", 12.8, 12.8, {"font.size": 20.0, "axes.titlesize": 20.0, "axes.labelsize": 20.0,
                                      "legend.fontsize": 17.0, "xtick.labelsize": 17.0, "ytick.labelsize": 17.0},
               aspect=16 / 9)
#: The styles of ``python -m figures --style``: the paper's (default sizes, or a venue's) and the slides'.
STYLES = ("paper", "slides")

_VENUE: contextvars.ContextVar = contextvars.ContextVar("regfigures_venue", default=None)

def _tueplots():
    from verify.errors import require

    return require("tueplots.figsizes", "figures", "--venue"), require("tueplots.fontsizes", "figures", "--venue")


def venues() -> list[str]:
    """The venues tueplots knows both the font sizes and the figure sizes of (a :class:`verify.errors.MissingExtraError` when
    tueplots is not installed)."""
    figsizes, fontsizes = _tueplots()
    names = [n for n in dir(fontsizes) if not n.startswith("_") and callable(getattr(fontsizes, n))]
    return sorted(n for n in names if hasattr(figsizes, n + "_half") or callable(getattr(figsizes, n, None)))


def _width(fn) -> float:
    return float(fn()["figure.figsize"][0])


@functools.lru_cache(maxsize=None)
def venue(name: str) -> Venue:
    """The :class:`Venue` ``name`` (e.g. ``"icml2024"``) from tueplots: ``figsizes.<name>_half()`` and
    ``<name>_full()`` give the column and text widths of a two-column venue, ``figsizes.<name>()`` the text
    width of a one-column one, ``fontsizes.<name>()`` the font sizes. A :class:`VenueError` with a one-line
    message when tueplots is missing or does not know ``name``."""
    figsizes, fontsizes = _tueplots()
    known = venues()
    if name not in known:
        raise VenueError(f"unknown venue {name!r}; tueplots knows: {', '.join(known)}")
    if hasattr(figsizes, name + "_half"):
        single, double = _width(getattr(figsizes, name + "_half")), _width(getattr(figsizes, name + "_full"))
    else:
        single = double = _width(getattr(figsizes, name))
    fonts = {k: float(v) for k, v in getattr(fontsizes, name)().items()}
    return Venue(name, single, double, fonts)


def current_venue() -> Venue | None:
    """The venue of the enclosing ``style(venue=...)``, or None (the default style)."""
    return _VENUE.get()


def fs(size: float) -> float:
    """A font size written against the default base (:data:`BASE_FONT_SIZE`, 8 pt), scaled to the current
    base font size (a venue's): ``fs(6.5)`` is 6.5 in the default style and 6.5 * 9/8 at a 9-pt venue."""
    import matplotlib as mpl

    return size * float(mpl.rcParams["font.size"]) / BASE_FONT_SIZE


def usetex() -> bool:
    """Whether text is typeset by LaTeX: a ``latex`` executable is on PATH, unless ``REGFIGURES_USETEX=0``."""
    env = os.environ.get("REGFIGURES_USETEX")
    if env is not None:
        return env.strip() not in ("0", "", "false", "no")
    return shutil.which("latex") is not None


def rc(tex: bool | None = None, venue: "Venue | None" = None) -> dict:
    """The rc settings of every figure (a fresh dict; ``tex`` overrides :func:`usetex`), with a
    :class:`Venue`'s font sizes, and its figures saved at their exact size, when ``venue`` is given."""
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
    if venue is not None:
        d.update(venue.fonts)
        d["figure.titlesize"] = venue.fonts.get("axes.titlesize", d["figure.titlesize"])
        if venue.aspect:                         # slides: thicker lines, larger marks
            d.update({"lines.linewidth": 2.4, "lines.markersize": 7.0, "axes.linewidth": 1.0})
        d["savefig.bbox"] = None                # the page's size, not a tight crop of it
        d["savefig.pad_inches"] = 0.015
    return d


@contextlib.contextmanager
def style(tex: bool | None = None, venue: "Venue | str | None" = None):
    """A context manager applying :func:`rc` (and only inside it); with ``venue`` (a :class:`Venue` or its
    name), the venue's font sizes, and :func:`figure` sizes its figures to the venue's columns.

    >>> with style(venue=Venue("demo", 3.0, 6.0, {"font.size": 9.0})):
    ...     figure(SINGLE).get_size_inches().tolist(), figure(DOUBLE, 2.3).get_size_inches().round(9).tolist(), fs(8)
    ([3.0, 2.25], [6.0, 2.0], 9.0)
    >>> figure(SINGLE).get_size_inches().tolist()   # outside: the default widths
    [3.3, 2.4749999999999996]
    """
    import matplotlib as mpl

    v = (SLIDES if venue == "slides" else globals()["venue"](venue)) if isinstance(venue, str) else venue
    token = _VENUE.set(v)
    try:
        with mpl.rc_context(rc(tex, v)):
            yield
    finally:
        _VENUE.reset(token)


def styled(fn):
    """Decorate a figure function so that it draws inside :func:`style` (its figure keeps the look when
    it is saved inside :func:`style` too, as the command line does). The decorated function takes one
    more keywords: ``tex``, ``True`` typesets its text with LaTeX, ``False`` with mathtext, ``None`` (the
    default) as :func:`usetex` says; and ``venue`` (a :class:`Venue` or its name; default: the enclosing
    style's). Save the figure inside ``style(tex, venue)`` with the same ``tex`` and ``venue``."""

    @functools.wraps(fn)
    def wrapper(*args, tex: bool | None = None, venue=None, **kwargs):
        with style(tex, venue if venue is not None else current_venue()):
            return fn(*args, **kwargs)

    return wrapper


#: The matplotlib modules that run TeX and read its output (dvi files, TeX font metrics and font files).
_TEX_MODULES = ("matplotlib.texmanager", "matplotlib.dviread")
#: The matplotlib functions that draw LaTeX-typeset text (they open the TeX fonts that dviread finds).
_TEX_FUNCTIONS = ("draw_tex", "get_glyphs_tex")
#: The kinds of error the TeX toolchain raises: RuntimeError (latex or dvipng exited with an error or is
#: missing; FreeType cannot open a TeX font file), FileNotFoundError (kpsewhich finds no .tfm, .vf, .map
#: or font file), LookupError (pdftex.map lacks a PostScript font for a TeX font), ValueError (a dvi or
#: vf file or a font map that matplotlib cannot read; a TeX font without a Type 1 version).
_TEX_ERRORS = (RuntimeError, OSError, LookupError, ValueError)


def tex_error(exc: BaseException) -> str | None:
    """If ``exc`` comes from the TeX toolchain (latex, dvipng, kpsewhich or a TeX font, as matplotlib's
    ``texmanager`` and ``dviread`` raise it while text is typeset with LaTeX), its cause in one line:
    the error's first line, followed by the first TeX error line (``! ...``) of latex's log when there
    is one. ``None`` for any other error (a bug in a figure, bad data), which must not be hidden.

    >>> tex_error(ValueError("not a TeX problem")) is None
    True
    """
    if not isinstance(exc, _TEX_ERRORS):
        return None
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        module = frame.f_globals.get("__name__", "")
        if module in _TEX_MODULES or (module.startswith("matplotlib.") and frame.f_code.co_name in _TEX_FUNCTIONS):
            break
        tb = tb.tb_next
    else:
        return None
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    cause = lines[0] if lines else ""
    tex_line = next((ln for ln in lines[1:] if ln.startswith("! ")), None)
    if tex_line:
        cause = f"{cause} {tex_line}"
    cause = f"{type(exc).__name__}: {cause}" if cause else type(exc).__name__
    return cause if len(cause) <= 240 else cause[:237] + "..."


def figure(width: float = SINGLE, height: float | None = None):
    """A new matplotlib Figure (not registered with pyplot, so nothing global is touched), ``width`` x
    ``height`` inches (default height 0.75 ``width``); inside ``style(venue=...)`` both are scaled to the
    venue's columns (:meth:`Venue.scale`)."""
    from matplotlib.figure import Figure

    height = height if height is not None else width * 0.75
    v = current_venue()
    if v is not None and v.aspect:
        return Figure(figsize=(v.double, v.double / v.aspect))
    k = v.scale(width) if v is not None else 1.0
    return Figure(figsize=(width * k, height * k))


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
