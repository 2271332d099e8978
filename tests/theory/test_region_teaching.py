"""``python -m theory region`` walks the same network, point and direction that the geometry figure draws,
and takes a user's own network (``--model FILE``, a torch.save'd nn.Module with 2 inputs)."""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest
import torch

from theory.cli import main


def _floats_after(out: str, prefix: str) -> list[float]:
    line = next(ln for ln in out.splitlines() if ln.startswith(prefix))
    inside = line[len(prefix):].strip().strip("()")
    return [float(Fraction(v.strip())) for v in inside.split(",")]


def test_the_default_is_the_geometry_figures_network_and_point(capsys):
    import matplotlib

    matplotlib.use("Agg")
    from figures.plots import geometry
    from theory import plane

    assert main(["region"]) == 0
    out = capsys.readouterr().out
    x = tuple(float(Fraction(v)) for v in geometry.POINT)          # the figure's point, e.g. "-3/20"
    assert f"Point x = ({', '.join(geometry.POINT)})" in out
    assert f"z = ({', '.join(geometry.DIRECTION)})" in out
    # the logits printed are those of the figure's network at the figure's point, by a float forward pass of
    # the weights written in theory.plane (not through theory's exact code)
    h = np.array(x)
    Ws = [np.array([[float(Fraction(str(v))) for v in row] for row in W]) for W in (plane._W1, plane._W2, plane._W3)]
    bs = [np.array([float(Fraction(str(v))) for v in b]) for b in plane._B]
    for k, (W, b) in enumerate(zip(Ws, bs)):
        h = W @ h + b
        if k < 2:
            h = np.where(h > 0, h, 0.1 * h)
    assert _floats_after(out, "logits f(x) = ") == pytest.approx(h.tolist(), rel=1e-12)
    # and the figure prints the same t* and r(x)
    fig = geometry.fig_geometry(None, tex=False)
    info = next(t.get_text() for t in fig.axes[1].texts if t.get_gid() == "label|info")
    tstar = float(re.search(r"t < t\* = \S+ ≈ ([0-9.]+)", out).group(1))
    r = float(re.search(r"r\(x\) = min_i slack_i / ‖a_i‖ = \S+ ≈ ([0-9.]+)", out).group(1))
    assert f"t^* = {tstar:.3g}" in info and f"r(x) = {r:.3g}" in info


def test_a_users_model_file(tmp_path, capsys):
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.ReLU(), torch.nn.Linear(5, 4)).double()
    path = tmp_path / "mine.pt"
    torch.save(model, path)
    assert main(["region", "--model", str(path), "--point", "1/4,1/2", "--direction", "0,1"]) == 0
    out = capsys.readouterr().out
    assert "Point x = (1/4, 1/2)" in out and "z = (0, 1)" in out
    with torch.no_grad():
        expected = model(torch.tensor([[0.25, 0.5]], dtype=torch.float64))[0].tolist()
    assert _floats_after(out, "logits f(x) = ") == pytest.approx(expected, rel=1e-12, abs=1e-14)


def test_bad_model_files_are_clear_errors(tmp_path, capsys):
    three = tmp_path / "three.pt"
    torch.save(torch.nn.Sequential(torch.nn.Linear(3, 2)), three)
    assert main(["region", "--model", str(three)]) == 2
    assert "input dimension 3" in capsys.readouterr().err
    sd = tmp_path / "sd.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), sd)
    assert main(["region", "--model", str(sd)]) == 2
    assert "state_dict" in capsys.readouterr().err
    junk = tmp_path / "junk.pt"
    junk.write_text("not a model")
    assert main(["region", "--model", str(junk)]) == 2
    assert "cannot be read" in capsys.readouterr().err
    assert main(["region", "--model", str(tmp_path / "none.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["region", "--model", str(three), "--slope", "0"]) == 2
