"""Shared pytest configuration.

- Tests marked ``gpu`` (the marker is declared in ``pyproject.toml``) are skipped when
  ``torch.cuda.is_available()`` is false, so the suite passes on machines without a GPU.
- Tests marked ``claim(*ids)`` check those claims; ``--claim ID`` (repeatable) runs only the tests of the
  claims named (tests/test_registry.py requires every claim to have such tests).
- Hypothesis runs derandomized (profile ``repeatable``); ``--hypothesis-profile explore`` draws afresh.
- The summary at the end of the run prints what the exact-bound tests measured (the largest ratio of a
  float error to its rigorous bound, and how many points were too close to a kink for the float pass);
  tests add to it through ``tests.theory.strategies.REPORT``.
"""

from __future__ import annotations

import sys

import pytest
from hypothesis import settings

# Hypothesis draws the same examples on every run ("repeatable", the default: a green suite stays green, and
# a failure reproduces anywhere), or fresh ones with ``python -m pytest --hypothesis-profile explore``.
# Neither replays failures saved in a local .hypothesis/ folder, so a run in a work tree tests what a fresh
# clone tests. Loaded here, before the test modules build their own @settings on top of it.
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False, database=None)
settings.load_profile("repeatable")


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return torch.cuda.is_available()


@pytest.fixture(scope="session")
def proofs():
    """Every proof of ``theory.prove.prove_all()``, by claim id, computed once for the whole run (about
    10 s; the proof tests and the paper-notes test share it)."""
    from theory.prove import prove_all

    return {p.claim: p for p in prove_all()}


def pytest_addoption(parser):
    parser.addoption("--claim", action="append", default=[], metavar="ID",
                     help="run only the tests marked claim(ID) (repeatable; ids as listed by python -m theory prove)")


def claim_ids(item) -> set[str]:
    """The claim ids of every ``claim`` marker on a collected test (function, class or parameter)."""
    return {cid for mark in item.iter_markers("claim") for cid in mark.args}


def pytest_collection_modifyitems(config, items):
    wanted = set(config.getoption("claim"))
    if wanted:
        from theory.claims import CLAIMS

        unknown = wanted - set(CLAIMS)
        if unknown:
            raise pytest.UsageError(f"--claim: unknown claim id(s) {', '.join(sorted(unknown))}; "
                                    f"known: {', '.join(CLAIMS)}")
        keep, drop = [], []
        for item in items:
            (keep if claim_ids(item) & wanted else drop).append(item)
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
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
