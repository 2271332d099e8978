"""The errors of :mod:`figures`, one family: each derives from :class:`FiguresError` and keeps its standard
base. A missing optional package (tueplots for ``--venue``) is :class:`verify.errors.MissingExtraError`, the
toolkit's one error for that.

>>> from figures.errors import NoDataError
>>> issubclass(NoDataError, FiguresError) and issubclass(NoDataError, ValueError)
True
"""

__all__ = ["FiguresError", "NoDataError", "VenueError"]


class FiguresError(Exception):
    """The base of every error :mod:`figures` raises for a user's mistake."""


class NoDataError(FiguresError, ValueError):
    """The results hold no record that a figure plots (e.g. a sweep run on a subset of the claims)."""


class VenueError(FiguresError, ValueError):
    """A venue that tueplots does not know."""
