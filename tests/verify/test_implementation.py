"""check_implementation: a user's regularizer is named by its convention, or reported with a counterexample.
The user functions below are written as users write them (not by calling verify.regularizers)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from verify.regularizers.implementation import ImplementationReport, check_implementation, regularizer_id


def ross_style(model, x, y):
    """Ross & Doshi-Velez's input-gradient penalty: CE mean over the batch, grad, 0.5 * sum of squares."""
    loss = F.cross_entropy(model(x), y)
    g = torch.autograd.grad(loss, x, create_graph=True)[0]
    return 0.5 * (g ** 2).sum()


def per_example_mean(model, x, y):
    """The training convention lambda * mean_i ||grad L_i||^2, via the summed loss."""
    g = torch.autograd.grad(F.cross_entropy(model(x), y, reduction="sum"), x, create_graph=True)[0]
    return g.pow(2).flatten(1).sum(1).mean()


def hoffman_full(model, x, y):
    """Hoffman et al.'s JacobianReg(n=-1)."""
    f = model(x)
    B, C = f.shape
    J2 = 0
    for k in range(C):
        v = torch.zeros(B, C, dtype=f.dtype)
        v[:, k] = 1
        Jv = torch.autograd.grad(f, x, v, retain_graph=True, create_graph=True)[0]
        J2 = J2 + C * Jv.norm() ** 2 / (C * B)
    return 0.5 * J2


def emr_code(model, x, y, T=1.0):
    f = model(x)
    pt = F.softmax(f / T, 1).detach()
    return torch.autograd.grad((pt * f).sum(1).mean(), x, create_graph=True)[0].pow(2).sum()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_names_ross_and_doshi_velez(dtype):
    rep = check_implementation(ross_style, "R-IG", networks=3, dtype=dtype)
    assert isinstance(rep, ImplementationReport)
    assert rep.matched == "ross-doshi-velez", str(rep)
    assert rep.candidates["mean"] is False and "MATCHES convention 'ross-doshi-velez'" in str(rep)
    assert all(d["conventions"]["ross-doshi-velez"]["definition_vs_closed_ok"] for d in rep.details)


def test_a_wrong_scaling_is_reported_with_a_counterexample():
    rep = check_implementation(lambda m, x, y: 0.7 * ross_style(m, x, y), "R-IG", networks=3)
    assert rep.matched is None
    c = rep.counterexample
    assert c["convention"] == "ross-doshi-velez" and c["ratio"] == pytest.approx(0.7)
    assert set(c) >= {"network", "B", "user", "value", "tol", "seed"} and c["diff"] > c["tol"]
    assert "matches NO known convention" in str(rep) and c["network"] in str(rep)


@pytest.mark.parametrize("reg,fn,want", [
    ("R-IG", per_example_mean, "mean"),
    ("R-JAC", hoffman_full, "hoffman"),
    ("R-EMR", emr_code, "emr-official"),
])
def test_other_conventions_are_named(reg, fn, want):
    assert check_implementation(fn, reg, networks=2, seed=1).matched == want


@pytest.mark.parametrize("name, rid", [
    ("input-gradient", "R-IG"), ("input_gradient", "R-IG"), ("Input Gradient", "R-IG"), ("ig", "R-IG"),
    ("r_ig", "R-IG"), ("jacobian", "R-JAC"), ("JAC", "R-JAC"), ("cross-lipschitz", "R-CL"),
    ("cross_lipschitz", "R-CL"), ("curvature", "R-CURE"), ("cure", "R-CURE"), ("emr", "R-EMR"),
    ("effective_margin", "R-EMR"), ("R-EMR", "R-EMR"),
])
def test_plain_names_resolve_to_the_ids(name, rid):
    assert regularizer_id(name) == rid


def test_check_implementation_takes_a_plain_name():
    by_name = check_implementation(ross_style, regularizer="input_gradient", networks=1)
    by_id = check_implementation(ross_style, regularizer="R-IG", networks=1)
    assert by_name.regularizer == "R-IG" and by_name.matched == by_id.matched == "ross-doshi-velez"
    assert by_name.details == by_id.details
    assert str(by_name).startswith("check_implementation(R-IG) on 1 networks: MATCHES")


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"^unknown regularizer 'R-FOO'; supported: R-IG, R-JAC, R-CL, R-CURE, R-EMR, "
                                         r"or their plain names: R-IG \(ig, input-gradient, .*R-EMR \(emr, "):
        check_implementation(ross_style, "R-FOO")
    with pytest.raises(ValueError, match=r"^unknown regularizer 'input gradients'"):
        check_implementation(ross_style, "input gradients")
    with pytest.raises(TypeError, match=r"^regularizer must be a name \(str\), got int$"):
        check_implementation(ross_style, 3)
    with pytest.raises(ValueError, match="networks must be >= 1"):
        check_implementation(ross_style, "R-IG", networks=0)
    with pytest.raises(ValueError, match="batch must be >= 2"):
        check_implementation(ross_style, "R-IG", batch=1)


def test_a_per_example_vector_is_refused_with_advice():
    def per_example(model, x, y):
        g = torch.autograd.grad(F.cross_entropy(model(x), y, reduction="sum"), x, create_graph=True)[0]
        return g.pow(2).flatten(1).sum(1)

    with pytest.raises(ValueError, match=r"must return one number.*shape \(5,\).*\.mean\(\) or \.sum\(\)"):
        check_implementation(per_example, "R-IG", networks=1)


def test_a_tiny_departure_is_printed_with_its_digits():
    rep = check_implementation(lambda m, x, y: (1 + 1e-6) * ross_style(m, x, y), "R-IG", networks=2)
    assert rep.matched is None and rep.counterexample["convention"] == "ross-doshi-velez"
    assert "ratio 1 + 1e-06" in str(rep), str(rep)


def test_float32_code_gets_a_hint_and_matches_in_float32():
    def ross_float32(model, x, y):
        import copy

        m32 = copy.deepcopy(model).float()
        x32 = x.detach().float().requires_grad_(True)
        g = torch.autograd.grad(F.cross_entropy(m32(x32), y), x32, create_graph=True)[0]
        return 0.5 * (g.double() ** 2).sum()

    rep = check_implementation(ross_float32, "R-IG", networks=3)
    assert rep.matched is None and rep.counterexample["float32_match"], str(rep)
    assert "run check_implementation(..., dtype=torch.float32)" in str(rep)
    assert check_implementation(ross_float32, "R-IG", networks=3, dtype=torch.float32).matched == "ross-doshi-velez"


def test_the_report_states_the_toolkit_self_check_and_the_batch_size():
    rep = check_implementation(ross_style, "R-IG", networks=2, batch=8)
    assert rep.self_check and "toolkit self-check" in str(rep) and "agree within their bounds" in str(rep)
    assert {d["B"] for d in rep.details} == {8}
    bad = ImplementationReport(rep.regularizer, rep.matched, rep.candidates, [
        {**rep.details[0], "conventions": {c: {**v, "definition_vs_closed_ok": False}
                                           for c, v in rep.details[0]["conventions"].items()}}])
    assert not bad.self_check and "DISAGREE" in str(bad)
