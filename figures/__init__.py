"""Paper figures from saved results: one pure function per figure, one style, one command.

Each figure is named after the claim it shows (``curvature-small-step``, ``confident-limit``, ...) or
what it spans (``gap-overview``, ``geometry``, ``float-error``; the training lab's ``margin-dynamics`` and
``layer-spectra``). A figure function takes the records of a results file (:func:`verify.results.records.read_results`),
or, for the lab's figures, the lab's records and saved verdicts (:func:`figures.plots.lab_data.load_lab`), and
returns a matplotlib Figure; it only selects and draws saved values, and computes no claim (nor verdict). :data:`FIGURES` maps each name to its function and
caption; ``python -m figures`` rebuilds them all as PDF and PNG. Importing this package changes no
matplotlib setting: the style (:mod:`figures.style`) is applied inside ``rc_context`` only.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from .errors import FiguresError, NoDataError, VenueError
from .registry import FIGURES, FigureSpec
from .style import style

__all__ = ["__version__", "FIGURES", "FigureSpec", "FiguresError", "NoDataError", "VenueError", "style"]

try:
    #: The installed version of the toolkit (``0+unknown`` when run from a source tree that is not installed).
    __version__ = _version("relu-regularizer-verification")
except PackageNotFoundError:  # not installed, e.g. run from a source tree
    __version__ = "0+unknown"
