"""Exact activation regions: ``linearize(network, x) -> Region``.

On the activation region R(x) of a piecewise-linear network the logits are exactly affine,
f(x') = J x' + b, where J is the product of the layer matrices with the activation layers replaced
by diagonal matrices with entries in {1, a} and the max units by 0/1 selection matrices
([derived]; claim ``local-affine``). R(x) is the convex polyhedron {x' : A x' <= c}: one half-space
s_i (a_i^T x' + c_i) >= 0 per rectified unit, one per competitor of each max unit.

Everything is exact (python-flint rationals). J is computed from the output side (K rows pushed
back through the layers), which is the cheaper order when K < D; the half-spaces are computed on
first use by pushing the input-to-unit affine maps forward.

>>> from theory.network import mlp
>>> net = mlp([[[1, -1], [1, 1]], [[2, 3]]], [[0, -1], [0]])
>>> r = linearize(net, [3, 1])
>>> r.jacobian, r.bias, r.pattern
(Matrix([[5, 1]]), Matrix([[-3]]), {'1:relu': (1, 1)})
>>> r.exit_time([-1, 0])     # u_1 = x_1 - x_2 = 2 falls at rate 1 first
2
>>> r.boundary_distance_squared()   # min(2^2/2, 3^2/2)
2
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass, field
from typing import Any

from .layers import KinkError, ShapeError
from .local_affine import Region
from .network import MaxNode, Network, RectNode

__all__ = ["Region", "linearize", "pattern_at", "MAX_ADJACENT"]

#: ``on_kink="all"`` refuses to enumerate more adjacent regions than this.
MAX_ADJACENT = 4096


@dataclass
class _Choice:
    """The pattern at x: for a RectNode a tuple of signs (+1/-1), for a MaxNode argmax positions."""

    pattern: dict
    kinks: list = field(default_factory=list)


def pattern_at(network: Network, vals: list) -> tuple[dict, dict]:
    """The pattern at x from the exact node values ``vals`` (:meth:`Network.values`), and for each unit on
    a kink, ``(layer, unit)``, its admissible choices. On a kink the pattern takes sign -1 (a zero
    pre-activation) or the first of the tied positions (torch's choice); constant ties are among the
    choices too (:func:`linearize` sets them apart)."""
    pattern, options = {}, {}
    for node in network.nodes[1:]:
        if isinstance(node, RectNode):
            u = vals[node.src].entries()
            pattern[node.name] = tuple(1 if ui > 0 else -1 for ui in u)
            for i, ui in enumerate(u):
                if ui == 0:
                    options[(node.name, i)] = (1, -1)
        elif isinstance(node, MaxNode):
            u = vals[node.src].entries()
            arg = []
            for j, g in enumerate(node.groups):
                m = max(u[i] for i in g)
                tied = tuple(pos for pos, i in enumerate(g) if u[i] == m)
                arg.append(tied[0])
                if len(tied) > 1:
                    options[(node.name, j)] = tied
            pattern[node.name] = tuple(arg)
    return pattern, options


def _is_torch_module(obj) -> bool:
    """Whether ``obj`` is a torch ``nn.Module``, without importing torch (a module exists only if torch is
    imported already)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _network_of_module(module, x: Any) -> Network:
    """The exact network of a torch module, its input shape taken from the one input ``x``: ``x.shape``,
    or ``x.shape[1:]`` for a batch of one, ``(1, *in_shape)``, as ``verify.linearize`` takes it."""
    from .exact import flat_entries
    from .torch_bridge import from_torch

    _, shape = flat_entries(x, "input x")
    try:
        return from_torch(module, shape)
    except ShapeError as first:
        if len(shape) > 1 and shape[0] == 1:
            try:
                return from_torch(module, shape[1:])
            except ShapeError:
                pass
        raise ShapeError(f"{first}; theory.linearize(module, x) takes one input x, of the module's input shape "
                         f"(or a batch of one, (1, *shape)): for a batch use verify.linearize") from None


def linearize(network: Network, x: Any, *, on_kink: str = "raise"):
    """The exact activation region of x and the network's affine map on it.

    ``network`` is a :class:`~theory.network.Network`, or a torch ``nn.Module``, which is converted
    exactly first (:func:`theory.from_torch`, every float weight read as the rational it is), with the
    input shape taken from ``x``: one input, or a batch of one (as ``verify.linearize`` takes it).

    ``on_kink`` (keyword only) says what to do when x lies on a kink (a pre-activation exactly 0, or a
    tied max):

    - ``"raise"`` (default) raises :class:`~theory.errors.KinkError` naming every such unit (its
      ``units``: ``(layer, unit)`` pairs);
    - ``"all"`` returns a list with the Region of every adjacent pattern (each kinked unit on each of
      its sides), whose closures all contain x. Away from kinks ``"all"`` returns a one-element list.

    A tie of identical affine pieces is not a kink: a zero pre-activation whose exact piece on the region
    is the zero function, or a max whose tied inputs have exactly the same piece (the same row of the
    input-to-unit map and the same constant, compared exactly, :func:`theory.local_affine.unit_pieces`),
    e.g. max pooling over dead ReLUs or over units that see only zero padding. Every choice there gives the
    same function and Jacobian; such units are listed in ``Region.constant_ties``, never in the error.

    ``verify.linearize(model, x, on_kink=...)`` takes the same keyword for a batch in float: its
    ``"raise"`` raises the same :class:`~theory.errors.KinkError` (naming the points and units) where a
    point is on a kink, its default ``"flag"`` reports the points in the Linearization instead; ``"all"``
    has no float counterpart (for one point, enumerate its adjacent regions here, exactly).

    The max-unit entries of ``pattern`` are the positions of the selected units within their groups.

    >>> import torch
    >>> lin = torch.nn.Linear(2, 1, dtype=torch.float64)
    >>> _ = lin.weight.data.copy_(torch.tensor([[0.5, -0.25]], dtype=torch.float64)); _ = lin.bias.data.fill_(1)
    >>> r = linearize(torch.nn.Sequential(torch.nn.ReLU(), lin), torch.tensor([[4.0, -1.0]], dtype=torch.float64))
    >>> r.jacobian, r.bias, r.pattern
    (Matrix([[1/2, 0]]), Matrix([[1]]), {'0:0': (1, -1)})
    """
    if _is_torch_module(network):
        network = _network_of_module(network, x)
    if not isinstance(network, Network):
        raise TypeError(f"linearize expects a theory.Network or a torch nn.Module, got {type(network).__name__}")
    if on_kink not in ("raise", "all"):
        from .errors import UnknownNameError

        extra = " (for a float batch, verify.linearize(model, x, on_kink='flag'))" if on_kink == "flag" else ""
        raise UnknownNameError(f"on_kink must be 'raise' or 'all', got {on_kink!r}{extra}")
    xv = network.read_input(x)
    vals = network.values(xv)
    pattern, options = pattern_at(network, vals)
    degenerate = []
    if options:
        # ties of identical affine functions (e.g. a max over units that are all dead ReLUs) are not kinks
        index = {getattr(nd, "name", None): k for k, nd in enumerate(network.nodes)}
        tentative = Region(network, xv, vals, pattern, [])
        degenerate = [u for u in options if tentative._constant_tie(index[u[0]], u[1])]
        options = {u: o for u, o in options.items() if u not in degenerate}
    if not options:
        r = Region(network, xv, vals, pattern, [])
        r.constant_ties = degenerate
        return r if on_kink == "raise" else [r]
    units = list(options)
    if on_kink == "raise":
        shown = ", ".join(f"{name}[{i}]" for name, i in units[:10])
        more = f" and {len(units) - 10} more" if len(units) > 10 else ""
        raise KinkError(f"x lies on a kink: zero pre-activation or tied max at {shown}{more}; the pattern "
                        f"and the Jacobian are not unique there. Use on_kink='all' for every adjacent "
                        f"region.", units)
    n = 1
    for u in units:
        n *= len(options[u])
    if n > MAX_ADJACENT:
        raise KinkError(f"x lies on {len(units)} kinks: {n} adjacent patterns exceed MAX_ADJACENT="
                        f"{MAX_ADJACENT}", units)
    regions = []
    for choice in itertools.product(*(options[u] for u in units)):
        pat = {k: list(v) for k, v in pattern.items()}
        for (name, i), c in zip(units, choice):
            pat[name][i] = c
        r = Region(network, xv, vals, {k: tuple(v) for k, v in pat.items()}, units)
        r.constant_ties = degenerate
        regions.append(r)
    return regions
