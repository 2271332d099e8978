"""Benchmarks of the exact engine, as functions that return their numbers (``python -m theory bench``).

- :func:`linearize_benchmark`: the exact linearization of a 784-256-256-10 leaky-ReLU MLP whose float32
  weights (torch's default initialisation under ``torch.manual_seed(0)``) are read exactly, at one input.
  Conversion from torch is timed once and reported apart; the linearization (pattern, J, b) and the
  linearization with the region's half-spaces are each the median of ``runs`` runs. Goal: < 1 s.
- :func:`prove_benchmark`: the total time of ``theory.prove.prove_all()``. Goal: < 60 s.

Times are wall-clock seconds (``time.perf_counter``).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

__all__ = ["LINEARIZE_GOAL_S", "PROVE_GOAL_S", "BenchResult", "mnist_mlp", "linearize_benchmark",
           "prove_benchmark"]

#: The goal for one exact linearization (pattern, J, b) of the 784-256-256-10 MLP, in seconds.
LINEARIZE_GOAL_S = 1.0
#: The goal for ``prove_all()``, every claim's proof, in seconds.
PROVE_GOAL_S = 60.0


@dataclass(frozen=True)
class BenchResult:
    """One measured quantity: its name, seconds, and goal (None when it has none)."""

    name: str
    seconds: float
    goal: float | None = None
    detail: str = ""

    @property
    def verdict(self) -> str:
        if self.goal is None:
            return ""
        return "PASS" if self.seconds < self.goal else "MISS"


def mnist_mlp(seed: int = 0, slope: float = 0.01):
    """The torch model ``784-256-256-10`` with LeakyReLU(slope), float32, default init under ``seed``.

    The global torch RNG state is restored afterwards.
    """
    import torch
    import torch.nn as nn

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(784, 256), nn.LeakyReLU(slope), nn.Linear(256, 256), nn.LeakyReLU(slope),
                              nn.Linear(256, 10))
        x = torch.rand(784)
    return model.eval(), x


def _median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def linearize_benchmark(runs: int = 5, seed: int = 0) -> list[BenchResult]:
    """Time ``from_torch`` once, then the median of ``runs`` runs of ``linearize`` (pattern, J, b), of
    ``linearize`` plus the exact half-spaces (A, c as flint matrices, via ``region.slacks()``), and of
    ``linearize`` plus ``region.halfspaces`` (A, c as sympy Matrices)."""
    from . import from_torch, linearize

    model, x = mnist_mlp(seed)
    t = time.perf_counter()
    net = from_torch(model, (784,))
    convert = time.perf_counter() - t

    def lin():
        r = linearize(net, x)
        r.jacobian_fmpq, r.bias_fmpq
        return r

    def lin_halfspaces_exact():
        lin().slacks()

    def lin_halfspaces_sympy():
        lin().halfspaces

    r = lin()
    rows = len(r.halfspace_labels)
    size = "784-256-256-10 leaky-ReLU MLP, float32 weights read exactly"
    return [
        BenchResult("convert from torch (once)", convert, None, size),
        BenchResult("linearize: pattern, J, b", _median_time(lin, runs), LINEARIZE_GOAL_S, f"median of {runs}"),
        BenchResult("linearize + half-spaces (flint A, c)", _median_time(lin_halfspaces_exact, runs), None,
                    f"{rows} half-spaces; median of {runs}"),
        BenchResult("linearize + region.halfspaces (sympy)", _median_time(lin_halfspaces_sympy, runs), None,
                    f"median of {runs}"),
    ]


def prove_benchmark() -> tuple[BenchResult, list]:
    """Time ``prove_all()`` once; returns the result and the proofs."""
    from .prove import prove_all

    t = time.perf_counter()
    proofs = prove_all()
    seconds = time.perf_counter() - t
    failed = sum(1 for p in proofs if p.holds is False)
    return BenchResult("prove_all() over every claim", seconds, PROVE_GOAL_S,
                       f"{len(proofs)} proofs, {failed} failed"), proofs
