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
                    gram_unification, input_gradient_bounds, robust_radius)
from .plots._data import NoDataError

__all__ = ["FigureSpec", "FIGURES", "NoDataError", "names", "figures_of"]


@dataclass(frozen=True)
class FigureSpec:
    """A figure: its name, the function that draws it, its caption, a one-line summary of what to see, and
    whether it reads results."""

    name: str
    function: Callable
    caption: str
    summary: str
    needs_results: bool = True
    claims: tuple = ()

    def __iter__(self):  # (function, caption), as in ``fn, caption = FIGURES[name]``
        return iter((self.function, self.caption))

    def draw(self, results=None, tex: bool | None = None):
        """The figure of ``results`` (ignored when it reads none), its text typeset by LaTeX (``tex=True``),
        mathtext (``False``) or as :func:`figures.style.usetex` says (``None``). Save it inside
        ``style(tex)`` with the same ``tex`` (:func:`figures.cli.save_figure` does)."""
        return self.function(results if self.needs_results else None, tex=tex)


def _spec(name, module, claims, needs_results=True) -> FigureSpec:
    fn = getattr(module, "fig_" + name.replace("-", "_"))
    return FigureSpec(name, fn, module.CAPTION, module.SUMMARY, needs_results, tuple(claims))


#: The identity claims whose gaps the overview shows (every claim with an identity check).
_IDENTITIES = ("local-affine", "input-gradient", "hessian-gauss-newton", "cross-lipschitz-centered-jacobian",
               "hessian-trace-weighted-cross-lipschitz", "curvature-soft-label-gradient", "curvature-small-step",
               "curvature-region-crossing", "gram-unification", "confident-limit", "euler-homogeneous",
               "effective-margin", "cross-entropy-scale-variance", "emr-limits")

FIGURES: dict[str, FigureSpec] = {s.name: s for s in [
    _spec("gap-overview", gap_overview, _IDENTITIES),
    _spec("curvature-small-step", curvature_small_step, ("curvature-small-step", "curvature-region-crossing")),
    _spec("geometry", geometry, ("local-affine", "effective-margin"), needs_results=False),
    _spec("input-gradient-bounds", input_gradient_bounds, ("input-gradient-bounds", "margin-lower-bound")),
    _spec("confident-limit", confident_limit, ("confident-limit",)),
    _spec("gram-unification", gram_unification, ("gram-unification",)),
    _spec("emr-limits", emr_limits, ("emr-limits",)),
    _spec("float-error", float_error, ("local-affine",)),
    _spec("robust-radius", robust_radius, ("effective-margin", "margin-lower-bound"), needs_results=False),
]}


def figures_of(claim_id: str) -> list[str]:
    """The figures that show a claim.

    >>> figures_of("curvature-region-crossing")
    ['gap-overview', 'curvature-small-step']
    """
    return [name for name, spec in FIGURES.items() if claim_id in spec.claims]


def names() -> list[str]:
    return list(FIGURES)
