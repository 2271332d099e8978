"""What the benchmarks share: timing two or more calls side by side (medians of interleaved runs) and the
peak memory of one call.
"""

from __future__ import annotations

import contextlib
import os
import re
import statistics
import sys
import tempfile
import time

import torch

__all__ = ["sync", "time_call", "time_pair", "time_many", "peak_memory"]


def sync(device):
    """Wait for the device's queued work (CUDA); nothing on the CPU."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_call(fn, repeats: int, device) -> float:
    """Median wall time in seconds of ``fn()`` over ``repeats`` runs, after one warm-up."""
    return time_pair(fn, None, repeats, device)[0]


def time_pair(fa, fb, repeats: int, device) -> tuple:
    """Median wall times (seconds) of ``fa()`` and ``fb()``, run alternately ``repeats`` times each
    after one warm-up each, so that both see the same machine load (``fb`` may be None)."""
    med = time_many([f for f in (fa, fb) if f is not None], repeats, device)
    return (med[0], med[1] if fb is not None else None)


def peak_memory(fn, device) -> int:
    """Peak bytes allocated above the level at entry while ``fn()`` runs (see the module docstring)."""
    if torch.device(device).type == "cuda":
        sync(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        out = fn()
        sync(device)
        peak = torch.cuda.max_memory_allocated(device) - base
        del out
        return peak
    from torch.profiler import ProfilerActivity, profile

    with _without_profiler_banner(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = fn()
    del out
    events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
                    key=lambda e: e.start_ns())
    level = peak = 0
    for e in events:
        level += e.nbytes()
        peak = max(peak, level)
    return peak


#: The line the profiler's C++ side writes to the process's stderr at each start and stop.
BANNER = re.compile(r"^USDT:.*\] profiler_(start|stop)\s*$")


@contextlib.contextmanager
def _without_profiler_banner():
    """Keep the profiler's start and stop lines (:data:`BANNER`), which its C++ side writes to file
    descriptor 2, out of stderr; every other line written there meanwhile is passed on after the call."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no descriptor 2: nothing to keep clean
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            rest = [ln for ln in tmp.read().splitlines(keepends=True)
                    if not BANNER.match(ln.decode(errors="replace"))]
            if rest:
                os.write(2, b"".join(rest))


def time_many(fns, repeats: int, device) -> list:
    """Median wall times (seconds) of each of ``fns``, run in turn ``repeats`` times after one warm-up each
    (as :func:`time_pair`, for more than two)."""
    for f in fns:
        f()
    sync(device)
    ts = [[] for _ in fns]
    for _ in range(repeats):
        for f, t in zip(fns, ts):
            t0 = time.perf_counter()
            f()
            sync(device)
            t.append(time.perf_counter() - t0)
    return [statistics.median(t) for t in ts]
