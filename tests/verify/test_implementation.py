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


# ---- the weight lambda: every R-CURE convention is lam times its unweighted value ------------------------------

def _cure_direction(g, eps=0.0):
    s = torch.sign(g).detach()
    n = s.flatten(1).norm(dim=1) + eps
    return (s + eps) / torch.where(n > 0, n, torch.ones_like(n)).view(-1, *[1] * (g.dim() - 1))


def cure_mean(model, x, y, h=3.0, lam=4.0):
    """The researcher's code: lam * mean_i ||grad L(x + h z) - grad L(x)||^2."""
    g = torch.autograd.grad(F.cross_entropy(model(x), y, reduction="sum"), x, create_graph=True)[0]
    g2 = torch.autograd.grad(F.cross_entropy(model(x + h * _cure_direction(g)), y, reduction="sum"), x,
                             create_graph=True)[0]
    return lam * (g2 - g).flatten(1).pow(2).sum(1).mean()


def cure_sum(model, x, y, h=3.0, lam=4.0):
    return cure_mean(model, x, y, h=h, lam=lam) * x.shape[0]


def cure_pytorch_code(model, x, y, h=3.0, lam=4.0):
    """The third-party CURE code: mean losses, norm not squared, lambda / B."""
    g = torch.autograd.grad(F.cross_entropy(model(x), y), x, create_graph=True)[0]
    z = h * _cure_direction(g, eps=1e-7)
    gd = torch.autograd.grad(F.cross_entropy(model(x + z), y) - F.cross_entropy(model(x), y), x, create_graph=True)[0]
    return (lam * gd.flatten(1).norm(dim=1)).sum() / x.shape[0]


@pytest.mark.parametrize("lam", [4.0, 2.5, 1.0])
@pytest.mark.parametrize("fn, want", [(cure_mean, "mean"), (cure_sum, "sum"), (cure_pytorch_code, "cure-pytorch")])
def test_a_lambda_weighted_cure_matches_its_convention(fn, want, lam):
    rep = check_implementation(lambda m, x, y: fn(m, x, y, lam=lam), "curvature", lam=lam, networks=3)
    assert rep.matched == want and rep.ok, str(rep)
    assert f"MATCHES convention {want!r}" in str(rep) and f"lambda = {lam:g} (the weight your fn multiplies by" in str(rep)


def test_the_weight_rule_is_said_when_lam_is_missing_or_forgotten():
    rep = check_implementation(cure_mean, "curvature", networks=3)            # lam=4 in the code, lam=1 passed
    assert rep.matched is None and rep.factor["convention"] == "mean" and rep.factor["factor"] == "4", str(rep)
    assert "pass lam=4" in str(rep)
    rep = check_implementation(lambda m, x, y: cure_mean(m, x, y, lam=1.0), "R-CURE", lam=4, networks=3)
    assert rep.factor["convention"] == "mean" and rep.factor["factor"] == "1/lambda", str(rep)
    assert "your code does not multiply by lam = 4" in str(rep)


# ---- diagnoses in words: the convention you named, a known convention times a simple factor ----------------

def jacobian_no_half(model, x, y):
    """Hoffman's penalty with its 1/2 forgotten: mean_i ||J_i||_F^2."""
    f = model(x)
    rows = [torch.autograd.grad(f[:, k].sum(), x, create_graph=True)[0] for k in range(f.shape[1])]
    return sum(r.pow(2).sum() for r in rows) / x.shape[0]


def test_a_missing_half_is_named_against_the_convention_you_meant():
    rep = check_implementation(jacobian_no_half, "jacobian", convention="hoffman", networks=3)
    assert rep.matched == "mean" and not rep.ok
    text = str(rep)
    assert text.splitlines()[0].endswith("does NOT match convention 'hoffman', the one you named: "
                                         "1/2 mean_i ||J_i||_F^2"), text
    assert "yours MATCHES convention 'mean' instead" in text and "that is 'hoffman' times 2: a factor 1/2 missing?" in text
    assert "MATCHES convention 'mean':" not in text.splitlines()[0]
    good = check_implementation(hoffman_full, "R-JAC", convention="hoffman", networks=2)
    assert good.ok and "(the convention you named)" in str(good)


def test_a_batch_averaged_twice_is_mean_times_one_over_B():
    rep = check_implementation(lambda m, x, y: jacobian_no_half(m, x, y) / x.shape[0], "R-JAC", networks=4)
    assert rep.matched is None and rep.factor["convention"] == "mean" and rep.factor["factor"] == "1/B", str(rep)
    assert {d["B"] for d in rep.details} == {5, 7}                               # B varies: 1/B is not a constant
    assert "matches NO known convention exactly" in str(rep)
    assert "yours = convention 'mean' times 1/B (B = 5, 7, the batch sizes): the batch is averaged twice?" in str(rep)
    # a constant 1/5 is not 1/B once B varies; with one batch size the report says it cannot tell them apart
    const = check_implementation(lambda m, x, y: jacobian_no_half(m, x, y) / 5, "R-JAC", networks=4)
    assert const.factor is None and const.counterexample["constant_ratio"] is not None, str(const)
    fixed = check_implementation(lambda m, x, y: jacobian_no_half(m, x, y) / 5, "R-JAC", networks=2, batch=5)
    assert fixed.factor["factor"] == "1/B" and "cannot be told from the constant 0.2" in str(fixed)


def test_a_factor_in_K_is_found():
    def cl_per_K(model, x, y):                   # (1/(K B)) sum_i sum_{l,m} ||w_l - w_m||^2: one 1/K short
        f = model(x)
        J = torch.stack([torch.autograd.grad(f[:, k].sum(), x, create_graph=True)[0].flatten(1)
                         for k in range(f.shape[1])], 1)
        return (J.unsqueeze(1) - J.unsqueeze(2)).pow(2).sum() / (f.shape[1] * x.shape[0])

    rep = check_implementation(cl_per_K, "cross-lipschitz", convention="hein-andriushchenko", networks=4)
    assert rep.factor and rep.factor["factor"] in ("K", "1/K") and rep.factor["convention"] in (
        "hein-andriushchenko", "mean"), str(rep)
    assert "the classes" in str(rep)


def test_an_unknown_convention_is_refused():
    from verify.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match=r"^check_implementation\(R-JAC\): unknown convention 'hofman'; "
                                               r"known conventions of R-JAC: mean, sum, hoffman$"):
        check_implementation(hoffman_full, "jacobian", convention="hofman")


# ---- the user's own model and batch ------------------------------------------------------------------------

def _user_model():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3)).double().eval()
    return m, torch.randn(6, 4, dtype=torch.float64)


def test_the_users_own_model_and_batch():
    m, x = _user_model()
    seen = []

    def spy(model, xb, yb):
        seen.append((model, xb.shape[0]))
        return ross_style(model, xb, yb)

    rep = check_implementation(spy, "ig", model=m, x=x, y=torch.tensor([0, 1, 2, 0, 1, 2]))
    assert rep.ok and rep.matched == "ross-doshi-velez" and rep.source == "your model"
    assert all(mm is m for mm, _ in seen) and [b for _, b in seen] == [6, 3]   # the whole batch and its first half
    assert str(rep).startswith("check_implementation(R-IG) on your model (2 batches): MATCHES")
    twice = check_implementation(lambda mm, xb, yb: ross_style(mm, xb, yb) / xb.shape[0], "ig", model=m, x=x)
    assert twice.factor["factor"] == "1/B", str(twice)


def test_bad_user_model_arguments_are_verify_errors():
    from verify.errors import LabelError, ShapeError, VerifyError

    m, x = _user_model()
    cases = [(dict(model="m", x=x), TypeError, "model must be a torch nn.Module, got str"),
             (dict(model=m), ValueError, "model= needs x="),
             (dict(x=x), ValueError, "pass model= too"),
             (dict(model=m, x=[1, 2]), TypeError, "x must be a torch Tensor"),
             (dict(model=m, x=x[:1]), ShapeError, "at least 2 examples"),
             (dict(model=m, x=torch.randn(6, 5, dtype=torch.float64)), ShapeError, "expected an input of shape"),
             (dict(model=m, x=x, y=torch.tensor([0., 1, 2, 0, 1, 2])), LabelError, "got dtype torch.float32"),
             (dict(model=m, x=x, y=torch.tensor([0, 1, 5, 0, 1, 2])), LabelError, "the label 5"),
             (dict(lam=-1.0), ValueError, "lam must be a positive finite number")]
    for kw, kind, msg in cases:
        with pytest.raises(VerifyError, match=msg) as info:
            check_implementation(ross_style, "R-IG", networks=1, **kw)
        assert isinstance(info.value, kind), kw


# ---- the regularizer is named by its id everywhere ---------------------------------------------------------

def test_output_names_the_regularizer_by_its_id():
    rep = check_implementation(cure_mean, "curvature", lam=4, networks=1)
    assert rep.regularizer == "R-CURE" and "curvature" not in str(rep)
    again = ImplementationReport("curvature", rep.matched, rep.candidates, rep.details)
    assert again.regularizer == "R-CURE" and str(again).startswith("check_implementation(R-CURE)")
    with pytest.raises(ValueError, match=r"^check_implementation\(R-IG\): fn must return one number"):
        check_implementation(lambda m, x, y: x.sum(1), "input_gradient", networks=1)
