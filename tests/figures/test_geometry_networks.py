"""The geometry figure stays readable for any small network: its zoom box is a whole rectangle inside panel (a),
its text labels do not overlap, and ``python -m figures --only geometry`` takes a user's network, point and
direction (``--model``, ``--point``, ``--direction``), refused for the other figures and for a network that is
not on the plane."""

from __future__ import annotations

import itertools

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402

from figures import cli  # noqa: E402
from figures.plots.geometry import fig_geometry  # noqa: E402
from theory.torch_bridge import from_torch  # noqa: E402


def _torch_net(seed, widths, n_in=2, classes=3):
    torch.manual_seed(seed)
    layers, d = [], n_in
    for w in widths:
        layers += [torch.nn.Linear(d, w), torch.nn.LeakyReLU(0.1)]
        d = w
    layers.append(torch.nn.Linear(d, classes))
    return torch.nn.Sequential(*layers).eval()


NETWORKS = [(0, [6]), (1, [8]), (2, [5, 5]), (3, [10, 6]), (4, [3]), (5, [7, 4])]


def _texts(fig):
    """Every visible, non-empty text of the figure with its window box (the figure drawn first)."""
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    out = []
    for ax in fig.axes:
        for t in list(ax.texts) + [ax.title, ax._left_title, ax._right_title]:
            if t.get_visible() and t.get_text().strip():
                out.append((t.get_text(), t.get_window_extent()))
    return out


def _zoom_rectangle(fig):
    from matplotlib.patches import Rectangle

    rects = [p for p in fig.axes[0].patches if type(p) is Rectangle]
    assert len(rects) == 1
    return rects[0]


@pytest.mark.parametrize("seed,widths", [(None, None)] + NETWORKS)
def test_zoom_box_is_a_rectangle_inside_the_axes_and_labels_do_not_overlap(seed, widths):
    net = None if seed is None else from_torch(_torch_net(seed, widths), (2,))
    fig = fig_geometry(None, network=net, tex=False)
    ax = fig.axes[0]
    rect = _zoom_rectangle(fig)
    x0, y0, w, h = rect.get_x(), rect.get_y(), rect.get_width(), rect.get_height()
    (xa, xb), (ya, yb) = ax.get_xlim(), ax.get_ylim()
    assert w > 0 and h > 0
    assert xa <= x0 and x0 + w <= xb and ya <= y0 and y0 + h <= yb, ((x0, y0, w, h), (xa, xb, ya, yb))
    # and it is the window of panel (b)
    assert fig.axes[1].get_xlim() == pytest.approx((x0, x0 + w)) and fig.axes[1].get_ylim() == pytest.approx((y0, y0 + h))
    texts = _texts(fig)
    assert any(t == "$x$" for t, _ in texts)
    for (ta, a), (tb, b) in itertools.combinations(texts, 2):
        assert not a.overlaps(b), f"labels {ta!r} and {tb!r} overlap"
    frame = fig.bbox
    for t, bb in texts:
        assert frame.x0 <= bb.x0 and bb.x1 <= frame.x1 and frame.y0 <= bb.y0 and bb.y1 <= frame.y1, t


def test_a_point_outside_the_box_widens_the_box():
    fig = fig_geometry(None, point=("3", "-5/2"), tex=False)
    (xa, xb), (ya, yb) = fig.axes[0].get_xlim(), fig.axes[0].get_ylim()
    assert xa < 3 < xb and ya < -2.5 < yb


def _main(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_draws_a_users_model_point_and_direction(tmp_path, capsys):
    path = tmp_path / "net.pt"
    torch.save(_torch_net(2, [5, 5]), path)
    code, out, err = _main(["--only", "geometry", "--model", str(path), "--point=-1/2,1/3", "--direction", "1,0",
                            "--out", str(tmp_path / "o"), "--format", "png", "--no-progress"], capsys)
    assert code == 0, err
    assert (tmp_path / "o" / "geometry.png").stat().st_size > 1000


def test_cli_geometry_options_are_refused_elsewhere_and_for_bad_input(tmp_path, capsys):
    path = tmp_path / "net3.pt"
    torch.save(_torch_net(0, [4], n_in=3), path)
    code, _, err = _main(["--model", str(path)], capsys)                   # every figure: not only geometry
    assert code == 2 and "do not apply to" in err and "--only geometry" in err
    code, _, err = _main(["--only", "geometry", "emr-limits", "--point", "0,1"], capsys)
    assert code == 2 and "emr-limits" in err
    code, _, err = _main(["--only", "geometry", "--model", str(path)], capsys)
    assert code == 2 and "input dimension 3" in err
    code, _, err = _main(["--only", "geometry", "--point", "1,2,3"], capsys)
    assert code == 2 and "two numbers" in err
    code, _, err = _main(["--only", "geometry", "--direction", "0,0"], capsys)
    assert code == 2 and "non-zero" in err
    code, _, err = _main(["--only", "geometry", "--model", str(tmp_path / "missing.pt")], capsys)
    assert code == 2 and "does not exist" in err
