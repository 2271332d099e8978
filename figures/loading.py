"""Reading the results files the figures plot, with every way a file can be unreadable turned into one line:
:func:`load_results` (the sweep's and the trained checks') and :func:`load_lab_results` (the lab's)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

__all__ = ["load_results", "load_lab_results"]


def load_results(path) -> list[dict]:
    """:func:`verify.results.records.read_results`, with every way a file can be unreadable turned into a one-line
    :class:`verify.results.records.ResultsError`, and its warnings (skipped partial lines) printed to stderr."""
    from verify.results.records import ResultsError, read_results

    path = Path(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if path.is_dir():
                raise ResultsError(f"results file {str(path)!r} is a folder, not a file")
            records = read_results(path)
        except ResultsError:
            raise
        except UnicodeDecodeError:
            raise ResultsError(f"results file {str(path)!r} is not a text (UTF-8) JSON-lines file") from None
        except OSError as exc:
            raise ResultsError(f"results file {str(path)!r} cannot be read: {exc.strerror or exc}") from None
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            raise ResultsError(f"results file {str(path)!r} holds a malformed record: {exc}") from None
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    return records


def load_lab_results(path):
    """:func:`figures.plots.lab_data.load_lab` (the lab's records and the verdicts saved beside them), its
    warnings (skipped partial lines) printed to stderr."""
    from figures.plots.lab_data import load_lab

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lab = load_lab(path)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    return lab
