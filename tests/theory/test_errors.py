"""Errors at the public boundary: each is specific, and its message says what was expected and what was got.

Every test asserts the message text, not only the exception type.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import theory
from theory import (
    Conv2d,
    KinkError,
    Linear,
    Maxout,
    Network,
    NonFiniteError,
    Rectifier,
    Residual,
    ShapeError,
    TrainingModeError,
    UnsupportedLayerError,
    from_torch,
    linearize,
    mlp,
)
from theory.errors import UnknownNameError
from theory.exact import rational

NOT_PL = "is not piecewise linear, so the theory of activation regions does not apply to it"


@pytest.fixture
def net():
    return mlp([[[1, 2], [3, 4]], [[1, -1], [2, 1]]])


# ------------------------------------------------------------------ layers that are not piecewise linear
@pytest.mark.parametrize("act", [nn.GELU(), nn.SiLU(), nn.Sigmoid(), nn.Tanh(), nn.Softplus(), nn.ELU()],
                         ids=lambda m: type(m).__name__)
def test_smooth_activation_modules_are_refused(act):
    name = type(act).__name__
    with pytest.raises(UnsupportedLayerError, match=rf"^{name} \(module '1'\) {NOT_PL}; replace it with ReLU, LeakyReLU"):
        from_torch(nn.Sequential(nn.Linear(2, 2), act), (2,))


class _Functional(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.fn = fn

    def forward(self, x):
        return self.fn(self.lin(x))


@pytest.mark.parametrize("fn, shown", [(F.gelu, "GELU"), (F.silu, "SILU"), (torch.sigmoid, "sigmoid"),
                                       (torch.tanh, "tanh"), (F.softplus, "softplus")],
                         ids=["F.gelu", "F.silu", "torch.sigmoid", "torch.tanh", "F.softplus"])
def test_smooth_functions_are_refused(fn, shown):
    with pytest.raises(UnsupportedLayerError, match=rf"^{shown} \(function call '\w+'\) {NOT_PL}; replace it with ReLU, LeakyReLU"):
        from_torch(_Functional(fn), (2,))


def test_unknown_module_names_what_is_supported():
    with pytest.raises(UnsupportedLayerError, match=r"LayerNorm \(module '1'\) is not a supported layer; "
                                                    r"supported: Linear, Conv2d"):
        from_torch(nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2)), (2,))


# ------------------------------------------------------------------------------------ training mode
def test_batchnorm_in_training_mode():
    model = nn.Sequential(nn.Conv2d(1, 2, 2), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 2))
    with pytest.raises(TrainingModeError, match=r"BatchNorm2d \(module '1'\) is in training mode: call \.eval\(\)"):
        from_torch(model, (1, 3, 3))
    assert isinstance(from_torch(model.eval(), (1, 3, 3)), Network)


def test_batchnorm_without_running_statistics():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2, track_running_stats=False)).eval()
    with pytest.raises(UnsupportedLayerError, match=r"BatchNorm1d \(module '1'\) has no running statistics"):
        from_torch(model, (2,))


def test_dropout_in_training_mode():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.1), nn.Linear(2, 2))
    with pytest.raises(TrainingModeError, match=r"Dropout \(module '1'\) is in training mode: call \.eval\(\)"):
        from_torch(model, (2,))
    assert issubclass(TrainingModeError, UnsupportedLayerError)


# --------------------------------------------------------------------------------- non-finite numbers
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_weights(bad):
    model = nn.Sequential(nn.Linear(2, 2))
    with torch.no_grad():
        model[0].weight[1, 0] = bad
    with pytest.raises(NonFiniteError, match=rf"0:0\.weight: expected finite numbers, got {bad} at index \(1, 0\)"):
        from_torch(model, (2,))
    with pytest.raises(NonFiniteError, match=rf"0:linear\.weight: expected a finite number, got {bad}"):
        Network([Linear([[1, 2], [bad, 1]])], (2,))
    with pytest.raises(NonFiniteError, match=r"0:linear\.bias: expected finite numbers, got nan"):
        Network([Linear([[1, 2]], np.array([np.nan]))], (2,))


@pytest.mark.parametrize("bad", [math.nan, math.inf], ids=["nan", "inf"])
def test_non_finite_inputs(net, bad):
    with pytest.raises(NonFiniteError, match=rf"input x: expected a finite number, got {bad}"):
        linearize(net, [1, bad])
    with pytest.raises(NonFiniteError, match=rf"input x: expected finite numbers, got {bad} at index \(1,\)"):
        linearize(net, torch.tensor([1.0, bad]))
    with pytest.raises(NonFiniteError, match=rf"input x: expected finite numbers, got {bad} at index \(0,\)"):
        net(np.array([bad, 0.0]))


# ------------------------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("x, got", [([1, 2, 3], r"\(3,\)"), ([[1, 2], [3, 4]], r"\(2, 2\)"), ([], r"\(0,\)")],
                         ids=["too-long", "matrix", "empty"])
def test_wrong_input_shape(net, x, got):
    with pytest.raises(ShapeError, match=rf"input x: expected shape \(2,\) \(or 2 numbers\), got shape {got}"):
        linearize(net, x)


def test_wrong_input_shape_of_an_image_network():
    net = Network([Conv2d([[[[1]]]]), theory.Flatten(), Linear([[1] * 4])], (1, 2, 2))
    with pytest.raises(ShapeError, match=r"input x: expected shape \(1, 2, 2\) \(or 4 numbers\), got shape \(2, 3\)"):
        net(np.zeros((2, 3)))


def test_layer_shapes_that_do_not_chain():
    with pytest.raises(ShapeError, match=r"layer 'linear' \(Linear\): expected an input of shape \(3,\), got shape \(2,\)"):
        Network([Linear([[1, 2, 3]])], (2,))
    with pytest.raises(ShapeError, match=r"layer 'maxout' \(Maxout\): expected a vector whose length is a multiple of 2, got shape \(3,\)"):
        Network([Maxout(2)], (3,))
    with pytest.raises(ShapeError, match=r"layer 'conv2d' \(Conv2d\) expects an input of shape \(C, H, W\), got shape \(4,\)"):
        Network([Conv2d([[[[1]]]])], (4,))
    with pytest.raises(ShapeError, match=r"the network must end in a vector of logits, got output shape \(1, 2, 2\)"):
        Network([Conv2d([[[[1]]]])], (1, 2, 2))
    with pytest.raises(ShapeError, match=r"ragged nested sequence"):
        Network([Linear([[1, 2], [3]])], (2,))


def test_torch_input_shape_mismatch():
    with pytest.raises(ShapeError, match=r"^layer '0' \(Linear\): expected an input of shape \(3,\), got shape \(2,\)"):
        from_torch(nn.Sequential(nn.Linear(3, 2)), (2,))
    with pytest.raises(ShapeError, match=r"in_shape must be a tuple of ints without the batch dimension, got 'x'"):
        from_torch(nn.Sequential(nn.Linear(3, 2)), "x")


# ------------------------------------------------------------------------------------ non-numbers
@pytest.mark.parametrize("x, shown", [
    (["a", 1], r"expected a number, got the string 'a'"),
    ([object(), 1], r"expected a number \(int, Fraction, sympy Rational, float or decimal string\), got object <object"),
    ([1 + 2j, 1], r"expected a number .*, got complex \(1\+2j\)"),
    ([True, 1], r"expected a number, got a bool \(True\)"),
    ("xy", r"expected a sequence, array, tensor or sympy Matrix of numbers, got str"),
    (None, r"expected a sequence, array, tensor or sympy Matrix of numbers, got NoneType"),
], ids=["string", "object", "complex", "bool", "bare-string", "None"])
def test_non_numeric_input(net, x, shown):
    with pytest.raises(TypeError, match=rf"input x: {shown}"):
        linearize(net, x)


def test_non_numeric_tensors_and_weights():
    with pytest.raises(TypeError, match=r"expected real numbers, got a complex tensor of dtype torch.complex64"):
        rational(torch.tensor(1 + 1j))
    with pytest.raises(TypeError, match=r"0:linear\.weight: expected a number, got the string 'w'"):
        Network([Linear([["w", 1]])], (2,))


def test_linearize_needs_a_network(net):
    with pytest.raises(TypeError, match=r"^linearize expects a theory.Network or a torch nn.Module, got dict$"):
        linearize({"weight": [[1, 2]]}, [1, 2])
    with pytest.raises(TypeError, match=r"expected a torch nn.Module, got list"):
        theory.torch_bridge.layers_from_torch([1, 2])


# ------------------------------------------------------------------------------ unsupported options
def test_grouped_convolution_is_refused():
    with pytest.raises(UnsupportedLayerError, match=r"Conv2d \(module '0'\) uses groups=2, .*supported: groups=1"):
        from_torch(nn.Sequential(nn.Conv2d(2, 2, 3, groups=2), nn.Flatten()), (2, 4, 4))


def test_dilated_convolution_and_ceil_mode_pooling_are_refused():
    with pytest.raises(UnsupportedLayerError, match=r"dilation=\(2, 2\)"):
        from_torch(nn.Sequential(nn.Conv2d(1, 1, 2, dilation=2), nn.Flatten()), (1, 4, 4))
    with pytest.raises(UnsupportedLayerError, match=r"MaxPool2d \(module '0'\) uses ceil_mode"):
        from_torch(nn.Sequential(nn.MaxPool2d(2, ceil_mode=True), nn.Flatten()), (1, 3, 3))


def test_residual_needs_an_affine_shortcut():
    with pytest.raises(UnsupportedLayerError, match=r"residual: the shortcut must be affine"):
        Network([Residual((Linear([[1, 0], [0, 1]]),), (Rectifier(0),)), Linear([[1, 1]])], (2,))


def test_residual_of_two_nonlinear_branches_is_refused():
    class TwoBranches(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(2, 2), nn.Linear(2, 2)

        def forward(self, x):
            return F.relu(self.a(x)) + F.relu(self.b(x))

    with pytest.raises(UnsupportedLayerError, match=r"a residual addition of two non-affine branches .* one branch "
                                                    r"must be the identity or affine"):
        from_torch(TwoBranches(), (2,))


def test_not_a_layer():
    with pytest.raises(UnsupportedLayerError, match=r"str is not a layer description; supported: Linear"):
        Network(["relu"], (2,))


def test_kink_error_carries_its_units(net):
    with pytest.raises(KinkError, match=r"x lies on a kink: zero pre-activation or tied max at 1:relu\[0\]; the "
                                        r"pattern and the Jacobian are not unique there") as err:
        linearize(net, [2, -1])
    assert err.value.units == [("1:relu", 0)]


# ---------------------------------------------------------------------------------- claim registry
def test_unknown_claim_id():
    with pytest.raises(UnknownNameError, match=r"unknown claim id 'local-afine'; known ids: local-affine, "):
        theory.claim("local-afine")


def test_unknown_claim_id_on_the_command_line(capsys):
    from theory.cli import main

    assert main(["prove", "local-afine"]) == 2
    err = capsys.readouterr().err
    assert "unknown claim id 'local-afine'" in err and "euler-homogeneous" in err
    assert main(["explain", "nope"]) == 2


# ------------------------------------------------------------------------- `python -m theory prove`
def _fake_prove(monkeypatch, proofs):
    import sys
    import types

    fake = types.ModuleType("theory.prove")
    fake.prove_all = lambda ids=None: [p for p in proofs if ids is None or p.claim in ids]
    monkeypatch.setitem(sys.modules, "theory.prove", fake)


def _proof(claim_id, holds, slack=None, method="symbolic"):
    from sympy import Rational, symbols

    from theory.proofs import Proof

    c = theory.CLAIMS[claim_id]
    a = symbols("a")
    return Proof(c.id, c.statement, c.assumptions, c.tag, c.kind, holds, method, "general K, D",
                 [("a step", a - a)], slack and {"chain (a)": Rational(*slack)}, 0.25)


# claim ids are taken by kind, so that these command-line tests do not count as tests of the claims
IDENTITY, OTHER_IDENTITY = theory.claim_ids("identity")[1:3]
INEQUALITY = theory.claim_ids("inequality")[0]
EMPIRICAL = theory.claim_ids("empirical")[0]


def test_prove_command_shows_each_scope_whole_on_request(monkeypatch, capsys):
    from dataclasses import replace

    from theory.cli import main

    long = ("general K and D; cross-checked by explicit expansion for every K <= 4, D <= 3, and by a second, "
            "deliberately long clause that no table column could hold")
    _fake_prove(monkeypatch, [replace(_proof(IDENTITY, True), scope=long)])
    assert main(["prove", "--no-progress"]) == 0          # every claim: the first clause, and where the rest is
    out = capsys.readouterr().out
    assert "general K and D " in out and "every K <= 4" not in out and "--scopes prints them whole" in out
    for argv in (["prove", "--scopes"], ["prove", IDENTITY]):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "Scope of each proof:" in out and "every K <= 4, D <= 3" in out
        assert " ".join(out.split("Scope of each proof:")[1].split()).startswith(f"{IDENTITY}: {long}")


def test_prove_command_reports_each_status_and_fails_on_a_failed_proof(monkeypatch, capsys):
    import re

    from theory.cli import main

    _fake_prove(monkeypatch, [_proof(IDENTITY, True), _proof(INEQUALITY, True, (1, 8), "exact rational instances"),
                              _proof(EMPIRICAL, None),
                              _proof(OTHER_IDENTITY, False)])
    assert main(["prove", IDENTITY, INEQUALITY, EMPIRICAL]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^claim\s+tag\s+kind\s+scope\s+status\s+seconds$", out, re.M)
    assert re.search(rf"^{IDENTITY}\s+derived\s+identity\s+general K, D\s+PROVED\s+0.25$", out, re.M)
    assert re.search(rf"^{INEQUALITY}\s+derived\s+inequality\s+general K, D\s+REPORTED \(inequality checked on "
                     rf"instances, min slack 1/8\)\s+0.25$", out, re.M)
    assert re.search(rf"^{EMPIRICAL}\s+abstract\s+empirical\s+general K, D\s+EMPIRICAL \(not a theorem\)", out, re.M)
    assert "3 claims: 2 hold, 0 failed, 1 empirical" in out
    assert main(["prove", OTHER_IDENTITY, "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert re.search(rf"^{OTHER_IDENTITY}\s+.*\s+FAILED\s+0.25$", out, re.M) and f"FAILED: {OTHER_IDENTITY}" in out
    # an inequality proved symbolically (norm facts cited) is PROVED, with its instance slack
    _fake_prove(monkeypatch, [_proof(INEQUALITY, True, (1, 8), "symbolic (general K, D) + exact rational instances")])
    assert main(["prove", INEQUALITY]) == 0
    assert re.search(r"PROVED \(symbolic, standard norm facts cited, min slack 1/8 on instances\)", capsys.readouterr().out)


def test_explain_command(monkeypatch, capsys):
    from theory.cli import main

    _fake_prove(monkeypatch, [_proof(IDENTITY, True), _proof(OTHER_IDENTITY, False)])
    assert main(["explain", IDENTITY]) == 0
    assert capsys.readouterr().out.startswith(f"{IDENTITY} [derived, identity]: HOLDS")
    assert main(["explain", IDENTITY, "--latex"]) == 0
    assert r"\begin{align*}" in capsys.readouterr().out
    assert main(["explain", OTHER_IDENTITY]) == 1
