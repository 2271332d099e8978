"""Kinks named and ties of identical pieces set apart, in float and exactly.

- A max over units whose affine pieces on the region are identical (two maxout inputs with the same weights;
  max pooling over windows of dead units) is smooth there: not a kink in float (verify.linearize) nor exactly
  (theory.linearize), and the point is judged.
- A real tie (max pooling over a zero background behind live units) is a kink; the decision names the layer,
  its kind, its units and how many points each, and, when every point ties, says what helps; check_model's
  report and ``python -m verify --model`` print it; a small noise takes the inputs off the tie.
- ``on_kink`` means the same in ``theory.linearize`` and ``verify.linearize``: ``"raise"`` raises KinkError
  naming the (layer, unit) pairs.
"""

import pytest
import torch
import torch.nn as nn

import theory
import verify
from verify.errors import UnknownNameError

DTYPES = [torch.float32, torch.float64]


def _twin_maxout(dtype):
    """Maxout over pairs of Linear outputs whose first pair has identical weights and bias: the first max
    ties at every input, over one and the same affine function."""
    torch.manual_seed(0)
    first = nn.Linear(3, 4)
    with torch.no_grad():
        first.weight[1] = first.weight[0]
        first.bias[1] = first.bias[0]
    return nn.Sequential(first, verify.MaxoutUnit(2), nn.Linear(2, 3)).to(dtype)


def _pool_cnn(dtype, bias):
    """Conv (padding 1) -> ReLU -> max pooling over 2x2 windows: on a zero background every window holds
    relu(bias): dead (identical zero pieces) for bias < 0, tied live units (different pieces) for bias >= 0."""
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(2 * 3 * 3, 3)).to(dtype)
    with torch.no_grad():
        m[0].bias.fill_(bias)
    return m


def _digits(dtype, n=4):
    """A bright 2x2 patch in the corner of a zero 6x6 background."""
    g = torch.Generator().manual_seed(3)
    x = torch.zeros(n, 1, 6, 6, dtype=torch.float64)
    x[:, :, :2, :2] = torch.rand(n, 1, 2, 2, generator=g, dtype=torch.float64) + 0.5
    return x.to(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_a_tie_of_identical_affine_pieces_is_not_a_kink_in_float_or_exactly(dtype):
    model = _twin_maxout(dtype)
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64).to(dtype)
    lin = verify.linearize(model, x)
    assert not lin.on_kink.any()                                  # judged: before, every point was a "kink"
    assert set(lin.kinks.codes) == {"exact"}                      # decided exactly: the pieces are equal
    assert lin.kinks.kinked_units() == [] and lin.kinks.lines() == []
    same = lin.kinks.kinked_units("identical")
    assert {(u.layer, u.unit) for u in same} == {(same[0].layer, 0)} and set(same[0].points) == set(range(5))
    for i in range(len(x)):
        r = theory.linearize(model, x[i:i + 1])                   # exact: not a kink either
        J = torch.tensor([[float(v) for v in row] for row in r.jacobian.tolist()], dtype=torch.float64)
        assert (J - lin.jacobian[i].double()).abs().max() <= lin.jacobian_bound[i].max() + 1e-300
    report = verify.check_model(model, x, claims=["input-gradient"])
    assert report.ok and report.summary()[0].checked and not report.diagnoses


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_max_pooling_over_dead_windows_is_not_a_kink(dtype):
    model, x = _pool_cnn(dtype, -0.1), _digits(dtype)
    assert not verify.linearize(model, x).on_kink.any()
    assert theory.linearize(model, x[:1]).constant_ties              # exact: ties, all of identical pieces


@pytest.mark.parametrize("case", ["live-windows", "twin-maxout", "near-kinks"])
def test_the_exact_stage_decides_the_same_in_chunks_of_points(monkeypatch, case):
    """The exact stage evaluates the points in doubt EXACT_CHUNK at a time: chunks of 1 or 3 of 7 points give
    the codes, the kinked units and the lower bounds of one chunk of all (real kinks at live pooling windows;
    ties of identical pieces, decided exactly, in the twin maxout)."""
    from verify.numerics import kinks

    if case == "live-windows":
        model, x, want = _pool_cnn(torch.float32, 0.1), _digits(torch.float32, n=7), {"kink"}
    elif case == "twin-maxout":
        model, want = _twin_maxout(torch.float32), {"exact"}
        x = torch.randn(7, 3, generator=torch.Generator().manual_seed(1))
    else:       # u = x0 - x1 within float64 rounding of 0 at every point: exactly 0 (a kink) or not, alternately
        model = nn.Sequential(nn.Linear(2, 1, bias=False), nn.ReLU(), nn.Linear(1, 2, bias=False)).double()
        with torch.no_grad():
            model[0].weight.copy_(torch.tensor([[1.0, -1.0]]))
            model[2].weight.copy_(torch.tensor([[1.0], [-1.0]]))
        x = torch.tensor([[1.0, 1.0 - k * 2.0 ** -52] for k in (0, 1, 0, -1, 0, 2, -2)], dtype=torch.float64)
        want = {"kink", "exact"}

    def decide():
        d = kinks.redecide_kinks(verify.linearize(model, x))
        return d.codes, [(u.layer, u.unit, u.what, tuple(u.points)) for u in d.units], [t.tolist() for t in d.lower]

    whole = decide()
    assert set(whole[0]) == want
    if case == "near-kinks":
        assert whole[0] == ["kink", "exact", "kink", "exact", "kink", "exact", "exact"]
    for chunk in (1, 3):
        monkeypatch.setattr(kinks, "EXACT_CHUNK", chunk)
        assert decide() == whole


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_a_real_tie_names_its_layer_units_and_points_and_says_what_helps(dtype):
    model, x = _pool_cnn(dtype, 0.1), _digits(dtype)
    lin = verify.linearize(model, x)
    assert lin.on_kink.all() and set(lin.kinks.codes) == {"kink"}
    exact_units = set()
    for i in range(len(x)):                                         # the units theory names, point by point
        units = set(pytest.raises(theory.KinkError, theory.linearize, model, x[i:i + 1]).value.units)
        assert {(u.layer, u.unit) for u in lin.kinks.kinked_units() if i in u.points} == units
        exact_units |= units
    layers = lin.kinks.kinked_layers()
    assert list(layers) == ["2:2"] and layers["2:2"]["kind"] == "max pooling"
    assert layers["2:2"]["points"] == [0, 1, 2, 3] and layers["2:2"]["units"] == len(exact_units)
    lines = lin.kinks.lines()
    assert lines[0].startswith(f"kinks ({str(dtype)[6:]}): layer 2:2 (module '2', max pooling): "
                               f"{len(exact_units)} units tied at 4 of 4 points (real kink 4)")
    assert "every point of the batch is on a kink" in lines[-1] and "small noise" in lines[-1]
    report = verify.check_model(model, x, claims=["input-gradient"])
    assert not report.summary()[0].checked
    text = report.text()
    assert "No claim was checked" in text and "layer 2:2 (module '2', max pooling)" in text
    assert "x + 1e-3 * torch.randn_like(x)" in text
    # the advice works: off the tie, the points are judged
    noisy = x + 1e-3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64).to(dtype)
    off = verify.check_model(model, noisy, claims=["input-gradient"])
    assert off.ok and off.summary()[0].checked and not off.diagnoses


def test_the_command_line_prints_the_layers_that_tie(tmp_path, capsys):
    from verify.cli import main

    model, x = _pool_cnn(torch.float64, 0.1), _digits(torch.float64)
    torch.save(model, tmp_path / "m.pt")
    torch.save(x, tmp_path / "x.pt")
    code = main(["--model", str(tmp_path / "m.pt"), "--inputs", str(tmp_path / "x.pt"), "--claims",
                 "input-gradient", "--out", str(tmp_path / "o.jsonl"), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "No claim was checked" in out
    assert "kinks (float64): layer 2:2 (module '2', max pooling)" in out and "small noise" in out


def test_on_kink_means_the_same_in_theory_and_verify():
    model, x = _pool_cnn(torch.float64, 0.1), _digits(torch.float64)
    with pytest.raises(theory.KinkError) as exact:
        theory.linearize(model, x[:1], on_kink="raise")
    with pytest.raises(theory.KinkError, match=r"4 of 4 points lie on a kink .* tied max at 2:2\[") as flt:
        verify.linearize(model, x, on_kink="raise")
    assert set(exact.value.units) <= set(flt.value.units)
    assert isinstance(flt.value, verify.VerifyError)
    assert verify.linearize(model, x).on_kink.all()                  # "flag", the default, reports them
    smooth = _twin_maxout(torch.float64)
    xs = torch.randn(3, 3, dtype=torch.float64)
    assert verify.linearize(smooth, xs, on_kink="raise").B == 3       # ties of identical pieces do not raise
    with pytest.raises(UnknownNameError, match="theory.linearize.*on_kink='all'"):
        verify.linearize(model, x, on_kink="all")
    with pytest.raises(UnknownNameError, match="on_kink must be 'raise' or 'all', got 'flag'"):
        theory.linearize(model, x[:1], on_kink="flag")
    with pytest.raises(TypeError):
        theory.linearize(model, x[:1], "all")                        # keyword only, as in verify.linearize
