"""Shared fixtures for the verify tests."""

import pytest
import torch
import torch.nn as nn

from .helpers import _mlp


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one intra-op thread avoids thread wake-up stalls on a loaded 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def user_files(tmp_path):
    """A user's files for ``python -m verify --model``: the model (whole and as a state dict), inputs and labels,
    and the bad ones (a GELU model, inputs of the wrong width, NaN inputs, an out-of-range label, one point)."""
    gen = torch.Generator().manual_seed(4)
    files = {"model": tmp_path / "net.pt", "x": tmp_path / "x.pt",
             "y": tmp_path / "y.pt", "state": tmp_path / "state.pt", "gelu": tmp_path / "gelu.pt",
             "xbad": tmp_path / "x_bad.pt", "xnan": tmp_path / "x_nan.pt", "ybad": tmp_path / "y_bad.pt",
             "x1": tmp_path / "x_one.pt"}
    model = _mlp()
    torch.save(model, files["model"])
    torch.save(model.state_dict(), files["state"])
    torch.save(_mlp(nn.GELU()), files["gelu"])
    torch.save(torch.randn(5, 4, generator=gen, dtype=torch.float64), files["x"])
    torch.save(torch.tensor([0, 1, 2, 0, 1]), files["y"])
    torch.save(torch.randn(5, 7, generator=gen, dtype=torch.float64), files["xbad"])
    torch.save(torch.full((5, 4), float("nan"), dtype=torch.float64), files["xnan"])
    torch.save(torch.tensor([0, 1, 2, 0, 7]), files["ybad"])
    torch.save(torch.randn(4, generator=gen, dtype=torch.float64), files["x1"])
    return {k: str(v) for k, v in files.items()}
