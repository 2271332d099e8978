"""Fixtures of the figure tests: a real (tiny) training-lab results file.

The lab's figures are tested on what ``python -m verify dynamics`` writes: the synthetic data set, 2 seeds,
2 epochs, every claim (so every role), in this process; its records and the verdicts file it writes beside
them. About 10 s on two cores, once per test session. The fixture ``tueplots`` skips, alone, each test that
needs that optional package (the 'figures' extra).
"""

from __future__ import annotations

import contextlib
import io

import pytest

LAB_ARGS = ["--data", "synthetic", "--seeds", "2", "--epochs", "2", "--jobs", "1", "--no-progress"]


@pytest.fixture
def tueplots():
    """The tueplots module; the test that asks for it is skipped where tueplots is not installed."""
    return pytest.importorskip("tueplots", reason="the venue sizes come from tueplots (the 'figures' extra)")


@pytest.fixture(scope="session")
def lab_file(tmp_path_factory):
    """The path of a finished lab results file (and its ``.verdicts.json`` beside it)."""
    from verify.cli.dynamics import main

    path = tmp_path_factory.mktemp("lab") / "lab.jsonl"
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(LAB_ARGS + ["--out", str(path)])
    assert code == 0, "the lab fixture run failed"
    return path


@pytest.fixture(scope="session")
def lab(lab_file):
    """The lab results as the figures read them (records and saved verdicts)."""
    from figures.plots.lab_data import load_lab

    return load_lab(lab_file)


@pytest.fixture(scope="session")
def trained_file(lab_file, tmp_path_factory):
    """Checks of the lab fixture's checkpoints (``python -m verify --trained``): 4 points, float64, the
    region-crossing claim only (what the trained-crossing figure draws). A few seconds."""
    from verify.cli import main

    path = tmp_path_factory.mktemp("trained") / "trained.jsonl"
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["--trained", str(lab_file), "--points", "4", "--dtype", "float64", "--claims",
                     "curvature-region-crossing", "--out", str(path), "--no-progress"])
    assert code == 0, "the trained-check fixture run failed"
    return path
