"""The benchmark's mechanics (python -m verify.bench): its measurements, its verdicts and its CLI.

The benchmark's numbers themselves are never asserted here: timings belong to the benchmark run.
"""

import re

import pytest
import torch

from verify.bench import common
from verify.bench import linearize as bench


def test_peak_memory_sees_an_allocation_that_is_kept_and_one_that_is_freed():
    n = 1 << 20  # 4 MiB of float32

    def kept():
        return torch.ones(n)

    def transient():
        t = torch.ones(4 * n)  # 16 MiB, freed before the 4 MiB result is made
        del t
        return torch.ones(n)

    assert 4 * n <= common.peak_memory(kept, "cpu") < 5 * n
    assert 16 * n <= common.peak_memory(transient, "cpu") < 17 * n


def test_peak_memory_keeps_the_profilers_banner_out_of_stderr_and_passes_the_rest_on(capfd):
    import os

    def noisy():
        os.write(2, b"a line the caller wrote\n")
        return torch.ones(8)

    common.peak_memory(noisy, "cpu")
    err = capfd.readouterr().err
    assert "a line the caller wrote" in err, err
    assert "profiler_start" not in err and "profiler_stop" not in err, err
    assert common.BANNER.match("USDT:2026-11-30 16:16:18 8308:8308 SyncActivityProfilerHandler.cpp:52] profiler_start")


def test_format_table_prints_pass_and_miss_from_the_ratio_and_the_direction_of_the_goal():
    rows = [("fast", 1e-3, 3e-3, 3.0, 2.0, "ms", "speedup", ""),
            ("slow", 1.0, 1.5, 1.5, 2.0, "ms", "speedup", ""),
            ("small", 2 ** 20, 4 * 2 ** 20, 0.25, 0.5, "MiB", "fraction", ""),
            ("big", 3 * 2 ** 20, 4 * 2 ** 20, 0.75, 0.5, "MiB", "fraction", "note"),
            ("info", 1.0, 2.0, 2.0, None, "ms", "speedup", "")]
    lines = {ln.split("|")[0].strip(): ln for ln in bench.format_table(rows).splitlines()}
    assert "PASS" in lines["fast"] and "MISS" in lines["slow"]
    assert "PASS" in lines["small"] and "MISS" in lines["big"]
    assert "1.0 ms" in lines["fast"] and "3.0 MiB" in lines["big"] and ">= 2x" in lines["fast"]
    assert "PASS" not in lines["info"] and "MISS" not in lines["info"]


def test_memory_floor_is_the_size_of_j_over_the_reference_peak():
    assert bench.memory_floor_note(3 * 2 ** 20, 4 * 2 ** 20).endswith("0.75x of reference: the goal is below this floor")
    assert bench.memory_floor_note(2 ** 20, 4 * 2 ** 20) == "J alone 1.0 MiB = 0.25x of reference"


def test_main_runs_small_and_prints_every_row(capsys):
    rc = bench.main(["--device", "cpu", "--repeats", "1", "--batch", "3", "--conv-batch", "2", "--hessian-batch", "2",
                     "--threads", "1"])
    out = capsys.readouterr().out
    assert rc == 0
    assert out.startswith(f"verify.bench: torch {torch.__version__}, CPU, 1 threads, float32")
    for measure in ("J time, MLP", "J time, CNN", "J time, ResNet", "J peak memory, MLP", "J peak memory, CNN",
                    "J peak memory, ResNet", "J roofline, MLP", "Hessian time, MLP"):
        assert measure in out
    mem = next(ln for ln in out.splitlines() if ln.startswith("J peak memory, MLP"))
    assert "(reference column: the bytes of J)" in mem and "<= 1.25x" in mem and "torch.func's peak" in mem
    roof = next(ln for ln in out.splitlines() if ln.startswith("J roofline, MLP"))
    assert re.search(r"closed form [0-9.]+ GFLOP/s, bare matmuls [0-9.]+ GFLOP/s, torch.func [0-9.]+ GFLOP/s", roof)
    # the closed forms agree with torch.func on the benchmark's own models, within the rounding bound
    ratios = re.findall(r"max \|d[JH]\|/bound = ([0-9.e+-]+|inf)", out)
    unjudged = out.count("max |dJ|/bound: no point judged")
    assert len(ratios) + unjudged == 4 and ratios and all(float(r) <= 1 for r in ratios), out
    assert re.search(r"all goals met|goals missed: \d", out)


@pytest.mark.parametrize("argv, message", [
    (["--device", "gpu"], "expected cpu, cuda or cuda:N"),
    (["--repeats", "0"], "--repeats must be at least 1"),
])
def test_main_usage_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        bench.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_agreement_ratios_see_a_wrong_reference():
    """The agreement printed beside each time is |d| / (rounding bound): at most 1 for torch.func's own J and
    Hessian, and far above 1 for a reference off by one part in a thousand."""
    from verify.bench.linearize import _hessian_ref, _jacrev, agreement, hessian_agreement
    from verify.jobs.networks import NetSpec
    from verify.numerics.linearize import linearize

    model = NetSpec("mlp", (6,), (8, 8), 4, "leaky", 0.1, True, 0).build(torch.float32)
    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(0))
    lin, y = linearize(model, x), torch.arange(5) % 4
    ratio = lambda text: float(text.split("= ")[1].split()[0])
    assert ratio(agreement(lin, _jacrev(model, x))) <= 1
    assert ratio(agreement(lin, _jacrev(model, x) * 1.001)) > 1
    assert ratio(hessian_agreement(lin, _hessian_ref(model, x, y))) <= 1
    assert ratio(hessian_agreement(lin, _hessian_ref(model, x, y) * 1.001)) > 1


def test_mlp_jacobian_gemms_are_linearizes_products():
    """The roofline's FLOP count: the forward pass per layer, the K unit rows through the last layer, then the
    B K rows through each earlier one (shapes (M, k, N) of an M x k by k x N product)."""
    from verify.jobs.networks import NetSpec

    model = NetSpec("mlp", (6,), (8, 5), 4, "leaky", 0.1, True, 0).build(torch.float32)
    x = torch.zeros(3, 6)
    assert bench.mlp_jacobian_gemms(model, x) == [(3, 6, 8), (3, 8, 5), (3, 5, 4), (4, 4, 5), (12, 5, 8), (12, 8, 6)]
    cnn = NetSpec("cnn", (1, 6, 6), (2,), 3, "relu", None, True, 0).build(torch.float32)
    with pytest.raises(ValueError, match="must be an MLP"):
        bench.mlp_jacobian_gemms(cnn, torch.zeros(2, 1, 6, 6))


def test_jacobian_chunked_for_memory_is_the_same_product():
    """Pushed back from the output, Engine.jacobian chunks the batch (here 64 examples in chunks of 26, the
    fewest rows MIN_CHUNK_ROWS allows at K = 10) and writes the last product into its result: J and its
    magnitude agree with the per-example products of torch.func within the rounding bound, at every point."""
    from verify.jobs.networks import NetSpec
    from verify.numerics.compiled import compile_model
    from verify.numerics.graph import MIN_CHUNK_ROWS
    from verify.numerics.linearize import linearize

    model = NetSpec("mlp", (20,), (30, 30), 10, "leaky", 0.1, True, 0).build(torch.float64)
    x = torch.randn(64, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    eng = compile_model(model, (20,), torch.float64, torch.device("cpu"))
    step = max(-(-MIN_CHUNK_ROWS // 10), 64 * 20 // (24 * 30))
    assert step == 26 < 64 and eng._input_users == [1]
    lin = linearize(model, x)
    assert not bool(lin.on_kink.any())
    gap = (lin.jacobian - bench._jacrev(model, x)).abs()
    assert bool((gap <= 2 * lin.jacobian_bound).all())
    # the magnitude |A_L| ... |A_1| (float64, chunked the same way) against one example's own product: two float64
    # evaluations of the same sums of non-negative terms, each within gamma_m of the exact value
    from verify.numerics.graph import gamma

    mag, one = eng.jacobian(lin._rec, mag=True)[30], eng.jacobian(lin._rec.slice(slice(30, 31)), mag=True)[0]
    g = gamma(eng.jac_count, 2.0 ** -53)
    assert bool(((mag - one).abs() <= 2 * g / (1 - g) * one).all())
