"""The figure registry: name -> (function, caption). Names are claim ids (or ``gap-overview``,
``geometry``, ``float-error`` for the figures that span claims, and ``margin-dynamics``, ``layer-spectra``,
``emr-dose``, ``attack-gap`` for the training lab's; the last two read round 2's results). A figure reads the sweep's results (``reads="sweep"``, ``python -m verify``), the
training lab's (``reads="lab"``, ``python -m verify dynamics``), or nothing.

>>> list(FIGURES)[:3]
['gap-overview', 'curvature-small-step', 'geometry']
>>> FIGURES["geometry"].needs_results, FIGURES["layer-spectra"].reads
(False, 'lab')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .plots import (
    attack_gap,
    confidence_concentration,
    confident_limit,
    curvature_small_step,
    emr_dose,
    emr_limits,
    float_error,
    gap_overview,
    geometry,
    gram_unification,
    input_gradient_bounds,
    layer_spectra,
    margin_dynamics,
    robust_radius,
    trained_crossing,
)
from .plots.sweep_data import NoDataError

__all__ = ["FigureSpec", "FIGURES", "NoDataError", "names", "figures_of", "SOURCES"]

#: What a figure can read: the sweep's results records, the training lab's (a LabResults), or the checks of
#: the lab's checkpoints (``python -m verify --trained``) together with the sweep's records.
SOURCES = ("sweep", "lab", "trained")


@dataclass(frozen=True)
class FigureSpec:
    """A figure: its name, the function that draws it, its caption, a one-line summary of what to see,
    whether it reads results, and which (``reads``: one of :data:`SOURCES`)."""

    name: str
    function: Callable
    caption: str
    summary: str
    needs_results: bool = True
    claims: tuple = ()
    reads: str = "sweep"

    def __iter__(self):  # (function, caption), as in ``fn, caption = FIGURES[name]``
        return iter((self.function, self.caption))

    def draw(self, results=None, tex: bool | None = None, venue=None):
        """The figure of ``results`` (ignored when it reads none: the sweep's records, or the lab's
        :class:`figures.plots.lab_data.LabResults` when ``reads == "lab"``), its text typeset by LaTeX
        (``tex=True``), mathtext (``False``) or as :func:`figures.style.usetex` says (``None``), sized for
        ``venue`` (a :class:`figures.style.Venue` or its name; None: the default sizes). Save it inside
        ``style(tex, venue)`` with the same ``tex`` and ``venue`` (:func:`figures.cli.save_figure` does)."""
        kwargs = {"tex": tex} if venue is None else {"tex": tex, "venue": venue}
        return self.function(results if self.needs_results else None, **kwargs)


def _spec(name, module, claims, needs_results=True, reads="sweep") -> FigureSpec:
    fn = getattr(module, "fig_" + name.replace("-", "_"))
    return FigureSpec(name, fn, module.CAPTION, module.SUMMARY, needs_results, tuple(claims), reads)


#: The identity claims whose gaps the overview shows (every claim with an identity check).
_IDENTITIES = ("local-affine", "input-gradient", "hessian-gauss-newton", "cross-lipschitz-centered-jacobian",
               "hessian-trace-weighted-cross-lipschitz", "curvature-soft-label-gradient", "curvature-small-step",
               "curvature-region-crossing", "gram-unification", "confident-limit", "euler-homogeneous",
               "effective-margin", "cross-entropy-scale-variance", "emr-limits")

#: Every figure by name, in the order ``python -m figures`` draws them.
FIGURES: dict[str, FigureSpec] = {s.name: s for s in [
    _spec("gap-overview", gap_overview, _IDENTITIES),
    _spec("curvature-small-step", curvature_small_step, ("curvature-small-step", "curvature-region-crossing")),
    _spec("geometry", geometry, ("local-affine", "effective-margin"), needs_results=False),
    _spec("input-gradient-bounds", input_gradient_bounds, ("input-gradient-bounds", "margin-lower-bound")),
    _spec("confident-limit", confident_limit, ("confident-limit",)),
    _spec("gram-unification", gram_unification, ("gram-unification",)),
    _spec("emr-limits", emr_limits, ("emr-limits",)),
    _spec("float-error", float_error, ("local-affine",)),
    _spec("margin-dynamics", margin_dynamics, ("standard-training-small-margin",), reads="lab"),
    _spec("layer-spectra", layer_spectra, ("layer-smoothing",), reads="lab"),
    _spec("confidence-concentration", confidence_concentration, ("confidence-concentration",), reads="lab"),
    _spec("emr-dose", emr_dose, ("standard-training-small-margin",), reads="lab"),
    _spec("attack-gap", attack_gap, ("standard-training-small-margin",), reads="lab"),
    _spec("trained-crossing", trained_crossing, ("curvature-region-crossing",), reads="trained"),
    _spec("robust-radius", robust_radius, ("effective-margin", "margin-lower-bound"), needs_results=False),
]}


def figures_of(claim_id: str) -> list[str]:
    """The figures that show a claim.

    >>> figures_of("curvature-region-crossing")
    ['gap-overview', 'curvature-small-step', 'trained-crossing']
    """
    return [name for name, spec in FIGURES.items() if claim_id in spec.claims]


def names() -> list[str]:
    """The figures' names, in drawing order."""
    return list(FIGURES)
