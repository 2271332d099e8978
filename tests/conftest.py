"""Shared pytest configuration.

- Tests marked ``gpu`` (the marker is declared in ``pyproject.toml``) are skipped when
  ``torch.cuda.is_available()`` is false, so the suite passes on machines without a GPU.
- The summary at the end of the run prints what the exact-bound tests measured (the largest ratio of a
  float error to its rigorous bound, and how many points were too close to a kink for the float pass);
  tests add to it through ``tests.theory.strategies.REPORT``.
"""

from __future__ import annotations

import sys

import pytest


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_items or _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (torch.cuda.is_available() is False)")
    for item in gpu_items:
        item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    strategies = sys.modules.get("tests.theory.strategies")
    report = getattr(strategies, "REPORT", None)
    if not report:
        return
    tr = terminalreporter
    tr.section("exact rounding-error bounds (error / bound; must stay < 1)")
    for key in sorted(report):
        values = report[key]
        if values and isinstance(values[0], bool):
            n_skip = sum(values)
            tr.write_line(f"{key}: {len(values) - n_skip} of {len(values)} points "
                          f"({n_skip} too close to a kink for the float pass, rejected)")
        else:
            worst = max(values, key=lambda v: v[0])
            tr.write_line(f"{key}: max {worst[0]:.3g} over {len(values)} points "
                          f"(worst: {worst[1]}, seed {worst[2]})")
