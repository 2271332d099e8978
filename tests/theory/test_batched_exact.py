"""The batched exact evaluations that the kink decision uses (:meth:`theory.network.Network.values_columns`,
:func:`theory.tangents.unit_tangents`, :func:`~theory.tangents.unit_tangents_columns`), each against
the one-point computation it replaces, on networks of every layer kind; and the tangent shortcut of
:func:`verify.numerics.kink_sides.identical_side` against the full comparison of pieces, at real ties.

The tangents are checked against the rows that :func:`theory.local_affine.unit_pieces` pushes back from
each unit to the input (another computation: backward products instead of one forward product), dotted
with the direction.
"""

from __future__ import annotations

import flint
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.local_affine import unit_pieces
from theory.region import pattern_at
from theory.tangents import probe_direction, unit_tangents, unit_tangents_columns

from .strategies import networks, points

SETTINGS = settings(max_examples=30, deadline=None)


@st.composite
def _net_and_points(draw):
    case = draw(networks())
    return case, [draw(points(case.D)) for _ in range(draw(st.integers(1, 3)))]


@SETTINGS
@given(_net_and_points())
def test_values_at_several_points_equal_the_values_at_each(drawn):
    case, xs = drawn
    net = case.network()
    reads = [net.read_input(x) for x in xs]
    for one, many in zip((net.values(x) for x in reads), net.values_columns(reads)):
        assert len(one) == len(many)
        assert all(a == b for a, b in zip(one, many))


@SETTINGS
@given(_net_and_points())
def test_tangents_are_the_unit_rows_times_the_direction(drawn):
    case, xs = drawn
    net = case.network()
    z = probe_direction(net.n_in)
    pats = []
    for x in xs:
        xv = net.read_input(x)
        vals = net.values(xv)
        pat = pattern_at(net, vals)[0]           # on a kink: torch's choice, as the kink decision takes it
        pats.append(pat)
        tan = unit_tangents(net, pat, z)
        for k, node in enumerate(net.nodes):
            pieces = unit_pieces(net, xv, vals, pat, k, range(node.size))
            want = [sum((a * b for a, b in zip(row, z.entries())), flint.fmpq(0)) for row, _ in pieces]
            assert tan[k].entries() == want
    batched = unit_tangents_columns(net, pats, z)
    assert batched == [[t.entries() for t in unit_tangents(net, p, z)] for p in pats]


def test_the_probe_direction_is_fixed_and_has_no_zero_entry():
    a, b = probe_direction(50), probe_direction(50)
    assert a == b and all(v != 0 for v in a.entries())
    assert probe_direction(50, seed=1) != a


@pytest.mark.parametrize("bias", [-0.1, 0.1], ids=["dead-windows", "live-windows"])
def test_the_tangent_shortcut_decides_every_tie_as_the_full_comparison(bias):
    """A zero background under a conv -> ReLU -> max pool: every window ties, over identical zero pieces
    (bias < 0) or over different live pieces (bias > 0); both answers, with and without the tangents."""
    from theory.torch_bridge import from_torch
    from verify.numerics.kink_sides import identical_side

    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                            torch.nn.Flatten(), torch.nn.Linear(2 * 3 * 3, 3)).double()
    with torch.no_grad():
        m[0].bias.fill_(bias)
    net = from_torch(m, (1, 6, 6))
    x = torch.zeros(1, 6, 6, dtype=torch.float64)
    x[0, :2, :2] = torch.tensor([[0.75, 0.5], [0.625, 1.0]])
    xv = net.read_input(x.numpy())
    vals = net.values(xv)
    pat = pattern_at(net, vals)[0]
    tan = [t.entries() for t in unit_tangents(net, pat, probe_direction(net.n_in))]
    ties = 0
    for k, node in enumerate(net.nodes):
        if not hasattr(node, "groups"):
            continue
        u = vals[node.src].entries()
        for g in node.groups:
            top = max(u[i] for i in g)
            tied = [i for i in g if u[i] == top]
            for other in tied[1:]:
                ties += 1
                full = identical_side(net, xv, vals, pat, node.src, tied[0], other)
                assert identical_side(net, xv, vals, pat, node.src, tied[0], other, tan) == full
                assert full == (bias < 0)
    assert ties > 0

