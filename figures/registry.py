"""The figure registry: name -> (function, caption). Names are claim ids (or ``gap-overview``,
``geometry``, ``float-error`` for the figures that span claims).

>>> list(FIGURES)[:3]
['gap-overview', 'curvature-small-step', 'geometry']
>>> FIGURES["geometry"].needs_results
False
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .plots import (confident_limit, curvature_small_step, emr_limits, float_error, gap_overview, geometry,
                    gram_unification, input_gradient_bounds)
from .plots._data import NoDataError

__all__ = ["FigureSpec", "FIGURES", "NoDataError", "names"]


@dataclass(frozen=True)
class FigureSpec:
    """A figure: its name, the function that draws it, its caption, a one-line summary of what to see, and
    whether it reads results."""

    name: str
    function: Callable
    caption: str
    summary: str
    needs_results: bool = True

    def __iter__(self):  # (function, caption), as in ``fn, caption = FIGURES[name]``
        return iter((self.function, self.caption))


def _spec(name, module, needs_results=True) -> FigureSpec:
    fn = getattr(module, "fig_" + name.replace("-", "_"))
    return FigureSpec(name, fn, module.CAPTION, module.SUMMARY, needs_results)


FIGURES: dict[str, FigureSpec] = {s.name: s for s in [
    _spec("gap-overview", gap_overview),
    _spec("curvature-small-step", curvature_small_step),
    _spec("geometry", geometry, needs_results=False),
    _spec("input-gradient-bounds", input_gradient_bounds),
    _spec("confident-limit", confident_limit),
    _spec("gram-unification", gram_unification),
    _spec("emr-limits", emr_limits),
    _spec("float-error", float_error),
]}


def names() -> list[str]:
    return list(FIGURES)
