"""The float-vs-exact checks of ``test_linearize`` on CUDA (skipped without a GPU).

The exact engine reads the CUDA model's float weights as rationals, so the GPU's J, logits and
pattern are judged against the exact values of the same network, within the same rigorous bounds.
TF32 (and cuDNN, whose Winograd and FFT convolutions the bounds do not cover) must be off while
verifying, restored after, and recorded in ``flags``.
"""

from __future__ import annotations

import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from verify import linearize
from verify.jobs.networks import ARCHS, draw_inputs, draw_spec

from .helpers import _jacrev, check_against_exact, small_spec

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("arch", ARCHS)
@given(seed=st.integers(0, 2 ** 31 - 1))
@settings(max_examples=3, deadline=None)
def test_float_vs_exact_cuda(arch, dtype, seed):
    spec = small_spec(seed, arch)
    model = spec.build(dtype=dtype, device="cuda")
    x, _ = draw_inputs(model, spec, 4, generator=torch.Generator().manual_seed(seed), near_kink_fraction=0.5)
    assert x.device.type == "cuda"
    lin = linearize(model, x)
    assert lin.jacobian.device.type == "cuda" and lin.flags["tf32_matmul"] is False
    check_against_exact(model, spec, x, lin, seed)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("arch", ARCHS)
def test_jacobian_matches_jacrev_cuda(arch, dtype):
    spec = draw_spec(random.Random(7), arch=arch)
    model = spec.build(dtype=dtype, device="cuda")
    x, _ = draw_inputs(model, spec, 16, generator=torch.Generator().manual_seed(0), near_kink_fraction=0)
    lin = linearize(model, x)
    with _no_tf32():  # the reference too, or float32 convolutions and matmuls would run in TF32
        ref = _jacrev(model, x).reshape(lin.jacobian.shape)
    ok = ~lin.on_kink
    assert ((lin.jacobian - ref).abs().double()[ok] <= 2 * lin.jacobian_bound[ok]).all()


class _no_tf32:
    """The reference in the same arithmetic as linearize: no TF32, no cuDNN (Winograd / FFT)."""

    def __enter__(self):
        self.old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.enabled)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = torch.backends.cudnn.enabled = False

    def __exit__(self, *exc):
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.enabled = self.old


def test_tf32_switched_off_and_restored():
    spec = draw_spec(random.Random(1), arch="cnn")
    model = spec.build(dtype=torch.float32, device="cuda")
    x, _ = draw_inputs(model, spec, 4, generator=torch.Generator().manual_seed(0))
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        lin = linearize(model, x)
        _ = lin.jacobian_bound, lin.kink_distance
        assert lin.flags["tf32_matmul"] is False and lin.flags["tf32_cudnn"] is False
        assert lin.flags["tf32_matmul_outside"] is True and lin.flags["cudnn_convolutions"] is False
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        assert torch.backends.cudnn.enabled
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
