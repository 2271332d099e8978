"""ONNX and VNNLIB in and out (verify.robust.onnx_read / onnx_write / vnnlib / property), and the radius
command's --onnx/--vnnlib mode. The oracles: the torch model itself (round trips), the exact network of the
written model, hand-computed properties of constructed networks, and the enumerated l-inf radius of
tests/verify/oracle_radius.py (unsat below it, sat above it)."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch
import torch.nn as nn

from tests.verify.oracle_radius import enumerate_radius
from verify.errors import UnsupportedLayerError
from verify.robust.vnnlib import VnnlibError, parse_vnnlib
from verify.robust.vnnlib_write import linf_ball_property, write_vnnlib


@pytest.fixture
def onnx():
    return pytest.importorskip("onnx")


def _relu_net(dtype=torch.float64):
    """f(x) = relu(x) on the plane: class 0 where x0 > x1."""
    m = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2)).to(dtype)
    with torch.no_grad():
        for i in (0, 2):
            m[i].weight.copy_(torch.eye(2))
            m[i].bias.zero_()
    return m.eval()


def _cnn(dtype):
    g = torch.Generator().manual_seed(3)
    m = nn.Sequential(nn.Conv2d(1, 3, 3, stride=1, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(3 * 4 * 4, 6), nn.LeakyReLU(0.25), nn.Linear(6, 3)).to(dtype)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=dtype) * 0.5)
    return m.eval()


# ---- ONNX round trips ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_onnx_round_trip_same_weights_and_outputs(onnx, tmp_path, dtype):
    from verify.robust import read_onnx, write_onnx

    m = _cnn(dtype)
    write_onnx(m, (1, 8, 8), tmp_path / "net.onnx")
    r, in_shape = read_onnx(tmp_path / "net.onnx")
    assert in_shape == (1, 8, 8)
    aff = (nn.Linear, nn.Conv2d)
    ours = [p for mod in m.modules() if isinstance(mod, aff) for p in mod.parameters()]
    theirs = [p for mod in r.modules() if isinstance(mod, aff) for p in mod.parameters()]
    (slope,) = [mod.weight for mod in r.modules() if isinstance(mod, nn.PReLU)]    # LeakyReLU(0.25), as PRelu
    assert slope.tolist() == [0.25]
    assert len(ours) == len(theirs) and all(a.dtype == b.dtype and torch.equal(a, b) for a, b in zip(ours, theirs))
    x = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(0), dtype=dtype)
    with torch.no_grad():
        assert torch.equal(m(x), r(x))


def test_onnx_round_trip_residual_block_is_the_same_exact_network(onnx, tmp_path):
    from theory.torch_bridge import from_torch
    from verify.jobs.networks import ResidualBlock
    from verify.robust import read_onnx, write_onnx

    torch.manual_seed(0)
    body = nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(), nn.Conv2d(2, 2, 3, padding=1))
    m = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), ResidualBlock(body, None), nn.ReLU(), nn.Flatten(),
                      nn.Linear(2 * 4 * 4, 3)).double()
    with torch.no_grad():
        body[1].running_mean.uniform_(-1, 1)
        body[1].running_var.uniform_(0.5, 2)
    m.eval()
    write_onnx(m, (1, 4, 4), tmp_path / "res.onnx")
    r, in_shape = read_onnx(tmp_path / "res.onnx")
    a, b = from_torch(m, (1, 4, 4)), from_torch(r, in_shape)
    assert sum(type(n).__name__ == "SumNode" for n in b.nodes) == 1
    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        x = [float(v) for v in torch.randn(16, generator=g, dtype=torch.float64)]
        assert a(x) == b(x)                         # rational outputs, compared with ==


@pytest.mark.filterwarnings("ignore::DeprecationWarning")      # torch's legacy exporter says it is legacy
def test_reads_a_torch_exported_graph(onnx, tmp_path):
    from verify.robust import read_onnx

    m = _cnn(torch.float32)
    try:
        torch.onnx.export(m, (torch.zeros(1, 1, 8, 8),), str(tmp_path / "t.onnx"), dynamo=False)
    except Exception as exc:  # the exporter needs packages the toolkit does not (onnxscript, ...)
        pytest.skip(f"torch.onnx.export is not usable here: {type(exc).__name__}: {str(exc)[:80]}")
    r, in_shape = read_onnx(tmp_path / "t.onnx")
    x = torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(m(x), r(x))


def test_onnx_operator_outside_the_theory_is_named(onnx, tmp_path):
    from onnx import TensorProto, helper

    from verify.robust import read_onnx

    g = helper.make_graph([helper.make_node("Sigmoid", ["x"], ["y"], name="act")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    onnx.save(helper.make_model(g), str(tmp_path / "s.onnx"))
    with pytest.raises(UnsupportedLayerError, match="ONNX operator Sigmoid") as info:
        read_onnx(tmp_path / "s.onnx")
    assert "\n" not in str(info.value)


# ---- VNNLIB ------------------------------------------------------------------------------------------------

_PROP = """; a hand-written property
(declare-const X_0 Real)
(declare-const X_1 Real)
(declare-const Y_0 Real)
(declare-const Y_1 Real)
(declare-const Y_2 Real)
(assert (<= X_0 0.3))
(assert (>= X_0 -0.1))
(assert (and (>= X_1 (/ 1 3)) (<= (* 2 X_1) 1)))
(assert (or (and (>= Y_1 Y_0) (<= (+ Y_2 (* -1 Y_1)) 0.5))
            (and (> Y_2 (- Y_0 1)))))
"""


def test_vnnlib_parse_by_hand():
    p = parse_vnnlib(_PROP)
    assert (p.n_in, p.n_out) == (2, 3)
    assert p.lo == [Fraction(-1, 10), Fraction(1, 3)] and p.hi == [Fraction(3, 10), Fraction(1, 2)]
    assert len(p.disjuncts) == 2 and [len(c) for c in p.disjuncts] == [2, 1]
    # by hand: disjunct 1 is y1 >= y0 and y2 - y1 <= 1/2; disjunct 2 is y2 > y0 - 1
    tiny = Fraction(1, 10 ** 30)
    assert p.holds([0, 1, Fraction(3, 2)])                  # disjunct 1, both constraints tight
    assert p.holds([3, 3, 2]) and not p.holds([3, 3 - tiny, 2])   # y1 >= y0 tight; y2 > y0 - 1 false (strict)
    assert p.holds([2, 1, 1 + tiny]) and not p.holds([2, 1, 1])
    assert p.in_box([0.3, 0.5]) and not p.in_box([0.3, 1 / 3])       # the float 1/3 is below the rational 1/3
    assert p.class_change() is None


def test_vnnlib_written_ball_reads_back_exactly():
    x = [0.1, 0.7, 0.95]
    p = linf_ball_property(x, 0.1, 2, 4, domain=(0, 1))
    q = parse_vnnlib(write_vnnlib(p, comment="ball"))
    assert q == p and q.class_change() == 2
    assert q.hi[2] == 1 and q.lo[0] == Fraction(0.1 - 0.1) and q.lo[1] == Fraction(0.7 - 0.1)


@pytest.mark.parametrize("text,what", [
    ("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (<= X_0 1))(assert (>= X_0 0))"
     "(assert (<= (* Y_0 Y_0) 1))", "not linear"),
    ("(declare-const X_0 Real)(declare-const Y_0 Real)(declare-fun f () Real)", "declare-fun"),
    ("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (<= X_0 1))(assert (<= Y_0 1))", "bounded from below"),
    ("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (<= X_0 Y_0))", "mixes inputs and outputs"),
    ("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (or (<= X_0 1) (>= X_0 2)))", "several input boxes"),
    ("(declare-const X_0 Int)", "declare-const X_i Real"),
    ("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (>= X_0 0))(assert (<= X_0 1))"
     "(assert (<= (exp Y_0) 1))", "operator 'exp'"),
])
def test_vnnlib_outside_the_fragment_refused_in_one_line(text, what):
    with pytest.raises(VnnlibError, match=what) as info:
        parse_vnnlib(text)
    assert "\n" not in str(info.value)


# ---- deciding properties -----------------------------------------------------------------------------------

def _check_witness_by_hand(res, prop, f):
    """The counterexample in the box (exactly) and the property true at f(witness), computed here."""
    assert res.status == "sat" and prop.in_box(res.witness)
    assert prop.holds([Fraction(v) for v in f(res.witness)])


@pytest.mark.parametrize("attack", [True, False], ids=["attack", "milp"])
def test_class_change_sat_and_unsat_on_a_constructed_net(attack):
    from verify.robust import decide_property

    m = _relu_net()
    kw = {} if attack else {"restarts": 0}
    f = lambda w: [max(Fraction(w[0]), 0), max(Fraction(w[1]), 0)]        # noqa: E731 - the net, by hand
    # x = (2, 1) is of class 0 and its l-inf radius is exactly 1/2 (the tie point (1.5, 1.5))
    sat = linf_ball_property([2.0, 1.0], 0.625, 0, 2)
    res = decide_property(m, (2,), sat, timeout=20, **kw)
    _check_witness_by_hand(res, sat, f)
    assert res.method == ("attack" if attack else "milp") and res.checks == {"in_box": True, "float": True,
                                                                             "exact": True}
    unsat = linf_ball_property([2.0, 1.0], 0.375, 0, 2)
    res = decide_property(m, (2,), unsat, timeout=20, **kw)
    assert res.status == "unsat" and res.witness is None and res.margin_lower >= 0


def test_general_disjunction_by_the_program():
    from verify.robust import decide_property

    m = _relu_net()
    head = ("(declare-const X_0 Real)(declare-const X_1 Real)(declare-const Y_0 Real)(declare-const Y_1 Real)"
            "(assert (>= X_0 0))(assert (<= X_0 1))(assert (>= X_1 0))(assert (<= X_1 1))")
    # y = relu(x) = x on [0, 1]^2: y0 >= 0.7 and y1 >= 0.7 at (0.8, 0.8); y0 >= 0.7 forces y0 + y1 >= 0.7 > 0.5
    sat = parse_vnnlib(head + "(assert (or (and (>= Y_0 0.7) (>= Y_1 0.7)) (<= Y_0 -1)))")
    res = decide_property(m, (2,), sat, timeout=20, restarts=0)
    _check_witness_by_hand(res, sat, lambda w: [max(Fraction(v), 0) for v in w])
    unsat = parse_vnnlib(head + "(assert (and (>= Y_0 0.7) (<= (+ Y_0 Y_1) 0.5)))")
    assert decide_property(m, (2,), unsat, timeout=20, restarts=0).status == "unsat"


_TWO_VARS = "(declare-const X_0 Real)(declare-const X_1 Real)(declare-const Y_0 Real)(declare-const Y_1 Real)"


def _box(x0, x1, y0, y1):
    return f"(>= X_0 {x0}) (<= X_0 {x1}) (>= X_1 {y0}) (<= X_1 {y1})"


def test_several_input_boxes_are_read_one_property_per_box_in_both_spellings():
    from verify.robust import parse_vnnlib_cases

    # VNN-COMP's spelling: each disjunct pairs a box with its output constraint
    paired = parse_vnnlib_cases(_TWO_VARS + f"(assert (or (and {_box(2, 3, 0, 1)} (>= Y_1 Y_0)) "
                                            f"(and {_box(0, 1, 2, 3)} (>= Y_0 Y_1))))")
    assert [(p.lo, p.hi, p.class_change()) for p in paired] == [([2, 0], [3, 1], 0), ([0, 2], [1, 3], 1)]
    # a disjunction of boxes and one output assertion for all of them; a box emptied by a global bound is dropped
    shared = parse_vnnlib_cases(_TWO_VARS + f"(assert (<= X_1 2.5))(assert (or (and {_box(2, 3, 0, 1)}) "
                                            f"(and {_box(0, 1, 2, 3)}) (and {_box(5, 6, 3, 4)})))"
                                            "(assert (or (>= Y_1 Y_0) (<= Y_0 -1)))")
    assert [(p.lo, p.hi) for p in shared] == [([2, 0], [3, 1]), ([0, 2], [1, Fraction(5, 2)])]
    assert all(len(p.disjuncts) == 2 for p in shared)
    with pytest.raises(VnnlibError, match="parse_vnnlib_cases reads"):
        parse_vnnlib(_TWO_VARS + f"(assert (or (and {_box(2, 3, 0, 1)} (>= Y_1 Y_0)) "
                                 f"(and {_box(0, 1, 2, 3)} (>= Y_0 Y_1))))")
    with pytest.raises(VnnlibError, match="no output constraint"):
        parse_vnnlib_cases(_TWO_VARS + f"(assert (or (and {_box(2, 3, 0, 1)} (>= Y_1 Y_0)) (and {_box(0, 1, 2, 3)})))")
    with pytest.raises(VnnlibError, match="mixes inputs and outputs"):
        parse_vnnlib_cases(_TWO_VARS + f"(assert (and {_box(0, 1, 0, 1)} (<= X_0 Y_0)))")


@pytest.mark.parametrize("eps,want", [(0.375, "unsat"), (0.625, "sat")])
def test_a_property_over_two_boxes_is_sat_iff_one_box_is(onnx, tmp_path, eps, want):
    """f = relu on the plane (class 0 where x0 > x1): the box around (2, 1) changes class beyond radius 1/2, the
    box around (1, 3) (class 1) beyond radius 1: both unsat at 0.375; at 0.625 the first is sat, the second not."""
    from verify.robust import verify_vnnlib, write_onnx

    write_onnx(_relu_net(torch.float32), (2,), tmp_path / "n.onnx")
    text = _TWO_VARS + (f"(assert (or (and {_box(1 - eps, 1 + eps, 3 - eps, 3 + eps)} (>= Y_0 Y_1)) "
                        f"(and {_box(2 - eps, 2 + eps, 1 - eps, 1 + eps)} (>= Y_1 Y_0))))")
    (tmp_path / "p.vnnlib").write_text(text)
    res = verify_vnnlib(tmp_path / "n.onnx", tmp_path / "p.vnnlib", timeout=20)
    assert res.status == want, res.notes
    assert res.notes[0].startswith("box 1 of 2: unsat")
    if want == "sat":
        assert res.notes[1].startswith("box 2 of 2: sat") and all(res.checks.values())
        w = res.witness
        assert 2 - eps <= w[0] <= 2 + eps and 1 - eps <= w[1] <= 1 + eps and max(w[1], 0) >= max(w[0], 0)
    else:
        assert len(res.notes) == 2 and res.margin_lower > 0 and res.witness is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unsat_below_and_sat_above_the_enumerated_radius(seed):
    from verify.robust import decide_property

    g = torch.Generator().manual_seed(seed)
    for _ in range(50):                # the first draw with a class change in the unit box
        m = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 3)).double()
        with torch.no_grad():
            for p in m.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
        m.eval()
        x = torch.rand(2, generator=g, dtype=torch.float64)
        y = int(m(x[None]).argmax())
        rho = enumerate_radius(m, x.numpy(), y, "inf", domain=(0.0, 1.0))
        if math.isfinite(rho) and rho > 1e-3:
            break
    assert math.isfinite(rho) and rho > 1e-3
    for eps, want in ((rho * (1 - 1e-3), "unsat"), (rho * (1 + 1e-3), "sat")):
        prop = linf_ball_property(x.tolist(), eps, y, 3, domain=(0, 1))
        res = decide_property(m, (2,), prop, timeout=20)
        assert res.status == want, (seed, eps, rho, res.notes)
        if want == "sat":
            _check_witness_by_hand(res, prop, lambda w: _exact(m, w))


def _exact(m, w):
    """f(w) in rationals, by the exact engine (a sympy Matrix of Rationals)."""
    from theory.torch_bridge import from_torch

    out = from_torch(m, (2,))([float(v) for v in w])
    return [Fraction(int(v.p), int(v.q)) for v in out]


# ---- the command -------------------------------------------------------------------------------------------

def test_cli_vnnlib_prints_the_result_format_and_exits_0(onnx, tmp_path, capsys):
    from verify.cli.radius import main
    from verify.robust import write_onnx

    write_onnx(_relu_net(torch.float32), (2,), tmp_path / "n.onnx")
    for eps, want in ((0.625, "sat"), (0.375, "unsat")):
        write_vnnlib(linf_ball_property([2.0, 1.0], eps, 0, 2), tmp_path / "p.vnnlib")
        rc = main(["--onnx", str(tmp_path / "n.onnx"), "--vnnlib", str(tmp_path / "p.vnnlib"), "--timeout", "20",
                   "--result-file", str(tmp_path / "r.txt")])
        out = capsys.readouterr().out
        assert rc == 0 and out.splitlines()[0] == want
        text = (tmp_path / "r.txt").read_text()
        assert text.splitlines()[0] == want
        if want == "sat":
            body = text.split("\n", 1)[1].strip()
            assert body.startswith("((X_0 ") and body.endswith(")") and "(Y_1 " in body
            vals = dict(tok.strip("() ").split() for tok in body[1:-1].split("\n"))
            w = [float(vals["X_0"]), float(vals["X_1"])]
            assert max(abs(w[0] - 2), abs(w[1] - 1)) <= 0.625 and max(w[1], 0) >= max(w[0], 0)


def test_cli_vnnlib_out_appends_the_answer_as_a_json_line(onnx, tmp_path, capsys, monkeypatch):
    import json

    from verify.cli.radius import main
    from verify.robust import write_onnx

    write_onnx(_relu_net(torch.float32), (2,), tmp_path / "n.onnx")
    for eps in (0.625, 0.375):
        write_vnnlib(linf_ball_property([2.0, 1.0], eps, 0, 2), tmp_path / f"p{eps}.vnnlib")
        assert main(["--onnx", str(tmp_path / "n.onnx"), "--vnnlib", str(tmp_path / f"p{eps}.vnnlib"),
                     "--timeout", "20", "--out", str(tmp_path / "r.jsonl")]) == 0
    printed = capsys.readouterr().out
    recs = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [r["result"]["status"] for r in recs] == ["sat", "unsat"]
    assert [r["vnnlib"] for r in recs] == [str(tmp_path / "p0.625.vnnlib"), str(tmp_path / "p0.375.vnnlib")]
    sat = recs[0]["result"]
    assert sat["checks"] and all(sat["checks"].values()) and len(sat["witness"]) == 2
    assert recs[1]["result"]["margin_lower"] > 0 and recs[1]["result"]["witness"] is None
    assert printed.count("JSON line appended") == 2
    monkeypatch.chdir(tmp_path)
    assert main(["--onnx", "n.onnx", "--vnnlib", "p0.375.vnnlib", "--timeout", "20"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.onnx", "p0.375.vnnlib", "p0.625.vnnlib", "r.jsonl"]


def test_cli_vnnlib_refusals_in_one_line(onnx, tmp_path, capsys):
    from onnx import TensorProto, helper

    from verify.cli.radius import main

    g = helper.make_graph([helper.make_node("Tanh", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])])
    onnx.save(helper.make_model(g), str(tmp_path / "t.onnx"))
    write_vnnlib(linf_ball_property([2.0, 1.0], 0.5, 0, 2), tmp_path / "p.vnnlib")
    assert main(["--onnx", str(tmp_path / "t.onnx"), "--vnnlib", str(tmp_path / "p.vnnlib")]) == 2
    err = capsys.readouterr().err
    assert "Tanh" in err and len(err.strip().splitlines()) == 1
    assert main(["--onnx", str(tmp_path / "t.onnx")]) == 2
    assert "go together" in capsys.readouterr().err
    assert main(["--onnx", str(tmp_path / "t.onnx"), "--vnnlib", str(tmp_path / "p.vnnlib"), "--model", "m.pt"]) == 2
    assert "--model" in capsys.readouterr().err
    assert main([]) == 2
    assert "--onnx FILE and --vnnlib FILE" in capsys.readouterr().err


def test_missing_onnx_is_one_line_naming_the_extra(monkeypatch, tmp_path):
    import sys

    from verify.errors import MissingExtraError
    from verify.robust import read_onnx, write_onnx

    monkeypatch.setitem(sys.modules, "onnx", None)          # import onnx now raises ImportError
    with pytest.raises(MissingExtraError, match=r'needs onnx, which is not installed: pip install -e "\.\[onnx\]"'):
        read_onnx(tmp_path / "n.onnx")
    with pytest.raises(MissingExtraError, match=r"\.\[onnx\]"):
        write_onnx(_relu_net(), (2,))
