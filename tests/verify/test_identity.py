"""verify.check_identity: a user's own identity, lhs by autograd on the model, rhs from the linearization.

The input-gradient identity ||grad_x CE||^2 = (e_y - p)^T J J^T (e_y - p) holds bound-backed on an MLP and a
CNN in float64 and float32; a wrong closed form (a factor 2, a wrong seed) fails with a diagnosis that writes
``lhs=... != rhs=...``; a point exactly on a kink is counted and not judged; a closed form without a bound is
judged by agreement across float64 and the model's dtype and labelled so; bad arguments are errors of the
family.
"""

import re

import pytest
import torch
import torch.nn as nn

import verify
from verify.checkers.identity import AGREEMENT, IdentityArgumentError, IdentityGap, check_identity
from verify.errors import LabelError, ShapeError, VerifyError
from verify.numerics.bounds import Bounded, sq_norm
from verify.results.records import read_results

DTYPES = [torch.float64, torch.float32]


def _grad(model, x, y):
    xl = x.clone().requires_grad_(True)
    loss = nn.functional.cross_entropy(model(xl), y, reduction="sum")
    return torch.autograd.grad(loss, xl)[0].reshape(len(x), -1)


def grad_sq(model, x, y, lin):
    """||grad_x CE||^2 by autograd, with the bound of backprop."""
    return sq_norm(Bounded(_grad(model, x, y), lin.grad_bound(y)))


def grad_sq_plain(model, x, y):
    return _grad(model, x, y).square().sum(-1)


def gram_form(lin, y):
    r = (lin.onehot(y) - lin.p).unsqueeze(-1)
    return (r.mT @ lin.J @ lin.J.mT @ r).reshape(-1)


def gram_form_twice(lin, y):              # wrong: a factor 2 too many
    return gram_form(lin, y) * 2


def p_only(lin, y):                       # wrong: p in place of e_y - p
    r = lin.p.unsqueeze(-1)
    return (r.mT @ lin.J @ lin.J.mT @ r).reshape(-1)


def gram_plain(lin, y):                   # no bound: plain tensors
    J, p = lin.J.value, lin.p.value
    r = (nn.functional.one_hot(y, lin.K).to(p.dtype) - p).unsqueeze(-1)
    return (r.mT @ J @ J.mT @ r).reshape(-1)


def gram_plain_twice(lin, y):
    return 2 * gram_plain(lin, y)


def grad_vec(model, x, y, lin):
    return Bounded(_grad(model, x, y), lin.grad_bound(y))


def grad_form(lin, y):                    # J^T (p - e_y), a (B, D) identity
    return ((lin.p - lin.onehot(y)).unsqueeze(-2) @ lin.J).squeeze(-2)


def _mlp(dtype):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3)).to(dtype)


def _cnn(dtype):
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(27, 4)).to(dtype)


def _net(kind, dtype):
    g = torch.Generator().manual_seed(2)
    if kind == "mlp":
        return _mlp(dtype), torch.randn(8, 4, generator=g, dtype=torch.float64).to(dtype)
    return _cnn(dtype), torch.randn(5, 1, 5, 5, generator=g, dtype=torch.float64).to(dtype)


def _kinked():
    """u_1 = x_1 - x_2 = 0 exactly at the second point."""
    m = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2)).double()
    with torch.no_grad():
        m[0].weight.copy_(torch.tensor([[1.0, -1.0], [1.0, 1.0]]))
        m[0].bias.zero_()
        m[2].weight.copy_(torch.tensor([[2.0, 3.0], [1.0, 0.0]]))
        m[2].bias.zero_()
    return m, torch.tensor([[3.0, 1.0], [1.0, 1.0], [0.5, 2.0]], dtype=torch.float64)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_the_input_gradient_identity_holds_bound_backed(kind, dtype):
    model, x = _net(kind, dtype)
    report = verify.check_identity(grad_sq, gram_form, model, x, name="grad-CE-squared")
    assert report.ok and [r.status for r in report.summary()] == ["HOLDS"]
    want = ["float32", "float64"] if dtype == torch.float32 else ["float64"]
    assert [g.dtype for g in report.gaps] == want                # a float32 model is checked in float64 too
    for g in report.gaps:
        assert g.claim == "grad-CE-squared" and g.kind == "identity" and g.extra["bound_backed"]
        assert g.extra["lhs_bound"] and g.n_informative == len(x) and 0 < g.max_gap_over_bound <= 1
    assert "HOLDS" in report.text() and not report.diagnoses


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_a_vector_identity_holds_at_every_entry(dtype):
    model, x = _net("mlp", dtype)
    report = check_identity(grad_vec, grad_form, model, x)
    assert report.ok and report.gaps[0].claim == "grad_vec = grad_form" and report.gaps[0].n_informative == len(x)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("wrong", [gram_form_twice, p_only])
def test_a_wrong_closed_form_fails_and_says_lhs_differs_from_rhs(wrong, dtype):
    model, x = _net("mlp", dtype)
    report = check_identity(grad_sq, wrong, model, x)
    assert not report.ok and report.failing == [f"grad_sq = {wrong.__name__}"]
    g = report.gaps[0]
    assert isinstance(g, IdentityGap) and g.failures
    d = g.diagnosis()
    assert re.search(r"lhs=[-+0-9.e]+ != rhs=[-+0-9.e]+", d) and " == " not in d
    assert "FAILS" in d and str(g) == d
    assert re.search(r"lhs=[-+0-9.e]+ != rhs=", report.text())
    if wrong is gram_form_twice:
        i = g.failures[0]
        assert g.rhs[i] == pytest.approx(2 * g.lhs[i], rel=1e-4)


def test_a_holding_identity_is_still_written_with_equals():
    model, x = _net("mlp", torch.float64)
    d = check_identity(grad_sq, gram_form, model, x).gaps[0].diagnosis()
    assert "HOLDS" in d and re.search(r"lhs=[-+0-9.e]+ == rhs=", d)


@pytest.mark.parametrize("rhs", [gram_form, gram_plain], ids=["bound-backed", "agreement"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_a_point_exactly_on_a_kink_is_counted_and_not_judged(rhs, dtype):
    model, x = _kinked()
    model, x = model.to(dtype), x.to(dtype)
    report = check_identity(grad_sq, rhs, model, x, torch.tensor([1, 1, 1]))
    assert report.ok
    for g in report.gaps:
        assert g.on_kink == [False, True, False] and g.kink_decision[1] == "kink"
        assert g.n_kinks == 1 and g.n_interior == 2
    row = report.summary()[0]
    assert row.kinks == len(report.gaps) and row.status == "HOLDS"
    # the kink is excluded, not passed: a wrong form fails at the two interior points only
    bad = check_identity(grad_sq, gram_form_twice if rhs is gram_form else gram_plain_twice, model, x,
                         torch.tensor([1, 1, 1]))
    judged = [g for g in bad.gaps if g.kind == "identity"]
    assert not bad.ok and all(g.failures == [0, 2] for g in judged)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_a_closed_form_without_a_bound_is_judged_by_agreement_and_labelled(dtype):
    model, x = _net("cnn", dtype)
    report = check_identity(grad_sq_plain, gram_plain, model, x, name="mine")
    assert report.ok
    claim = f"mine {AGREEMENT}"
    assert [r.claim for r in report.summary()] == [claim] and "not bound-backed" in report.table()
    assert all(g.claim == claim and g.extra["bound_backed"] is False for g in report.gaps)
    kinds = [(g.dtype, g.kind) for g in report.gaps]
    if dtype == torch.float32:        # the float32 values are the rounding scale, the float64 sides are judged
        assert kinds == [("float32", "measurement"), ("float64", "identity")]
        assert "u_torch.float32" in report.gaps[1].extra["tolerance"]
    else:
        assert kinds == [("float64", "identity")] and report.gaps[0].extra["tolerance"] == "2^20 u_64 s"
    judged = report.gaps[-1]
    assert judged.n_informative == len(x) and judged.max_gap_over_bound < 1
    assert judged.extra["rhs_from"].startswith("exact rational network")     # rhs on the exact network
    assert any("agreement" in line and "not by a rigorous bound" in line for line in report.diagnoses)
    assert "not by a rigorous bound" in report.text()
    wrong = check_identity(grad_sq_plain, gram_plain_twice, model, x, name="mine")
    assert not wrong.ok and re.search(r"lhs=[-+0-9.e]+ != rhs=", wrong.text())


def test_an_lhs_without_a_bound_is_said(tmp_path):
    model, x = _net("mlp", torch.float64)
    report = check_identity(grad_sq_plain, gram_form, model, x)
    assert report.ok and report.gaps[0].extra == {"bound_backed": True, "lhs_bound": False}
    assert "lhs rounding not bounded" in report.gaps[0].check
    assert any("lhs returned a plain tensor" in line for line in report.diagnoses)
    path = report.save(tmp_path / "identity.jsonl")
    recs = read_results(path)
    assert [g.claim for rec in recs for g in rec["gaps"]] == ["grad_sq_plain = gram_form"]
    assert recs[0]["run"]["dtype"] == "float64" and recs[0]["network"]["arch"] == "user"


def test_the_labels_default_to_the_predictions_and_bad_labels_are_refused():
    model, x = _net("mlp", torch.float64)
    with torch.no_grad():
        yhat = model(x).argmax(-1)
    a = check_identity(grad_sq, gram_form, model, x)
    b = check_identity(grad_sq, gram_form, model, x, yhat)
    assert a.gaps[0].lhs == b.gaps[0].lhs
    with pytest.raises(LabelError):
        check_identity(grad_sq, gram_form, model, x, torch.full((len(x),), 0.5))


def test_bad_arguments_are_errors_of_the_family():
    model, x = _net("mlp", torch.float64)
    with pytest.raises(IdentityArgumentError, match="lhs must be callable") as info:
        check_identity(3.0, gram_form, model, x)
    assert isinstance(info.value, VerifyError) and isinstance(info.value, TypeError)
    with pytest.raises(IdentityArgumentError, match="rhs must be callable"):
        check_identity(grad_sq, "J J^T", model, x)
    with pytest.raises(IdentityArgumentError, match="rhs must return a tensor"):
        check_identity(grad_sq, lambda lin, y: [1.0], model, x)
    with pytest.raises(ShapeError, match=r"lhs returned shape \(8,\) but rhs returned shape \(8, 1\)"):
        check_identity(grad_sq, lambda lin, y: gram_form(lin, y).unsqueeze(-1), model, x)
    with pytest.raises(ShapeError, match="one value .* per example"):
        check_identity(lambda m, x, y: torch.zeros(()), gram_form, model, x)
    with pytest.raises(ShapeError):
        check_identity(grad_sq, gram_form, model, torch.zeros(8, 5, dtype=torch.float64))
    assert issubclass(ShapeError, VerifyError)


def test_the_agreement_path_evaluates_rhs_on_the_exact_rational_linearization():
    """rhs sees J, b, f of theory.linearize rounded once to float64: here the exact J differs from the float one
    in the last bits, and the difference is inside the float linearization's own bound."""
    import theory

    model, x = _net("cnn", torch.float64)
    seen = []

    def rhs(lin, y):
        seen.append(lin.J.value.clone())
        return gram_plain(lin, y)

    report = check_identity(grad_sq_plain, rhs, model, x)
    assert report.ok and len(seen) == 2                      # the float64 context, then the exact one
    exact = torch.tensor([[float(v) for v in row] for row in theory.linearize(model, x[:1]).jacobian.tolist()],
                         dtype=torch.float64)
    assert torch.equal(seen[1][0], exact)
    lin = verify.linearize(model, x)
    assert ((seen[0] - seen[1]).abs() <= lin.jacobian_bound + exact.abs().max() * 2.0 ** -53).all()
