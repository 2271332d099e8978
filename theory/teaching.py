"""The teaching network, its point and direction, and the region walkthrough of ``python -m theory region``.

One definition serves the printed walkthrough (``python -m theory region``) and the picture
(``python -m figures --only geometry``): :func:`teaching_example` returns the network and the point x and
direction z both use by default, so that the numbers printed can be read off the figure. Both also take a
user's own small network (:func:`load_model`: a ``torch.save``'d ``nn.Module`` with 2 inputs, read on the
CPU and converted exactly by :func:`theory.from_torch`), point and direction.

>>> net, x, z = teaching_example()
>>> net.n_in, net.n_out, x, z
(2, 3, ('-3/20', '1/4'), ('4/5', '-3/5'))
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

__all__ = ["teaching_network", "teaching_example", "TEACHING_POINT", "TEACHING_DIRECTION", "TEACHING_BOX",
           "demo_network", "DEMO_POINT", "DEMO_DIRECTION", "NETWORKS", "load_model", "ModelFileError",
           "region_walkthrough"]

#: The point x of the teaching network (exact rationals, as strings).
TEACHING_POINT = ("-3/20", "1/4")
#: The direction z of the teaching network's exit time (exact rationals, as strings).
TEACHING_DIRECTION = ("4/5", "-3/5")
#: The box (x1 from, x1 to, x2 from, x2 to) the geometry figure draws.
TEACHING_BOX = (-2, 2, -2, 2)
#: The point of the older 2-4-3 demo network (``--network demo-2-4-3``).
DEMO_POINT = ("1/2", "-1")
#: The direction of the older 2-4-3 demo network's exit time.
DEMO_DIRECTION = ("1", "0")


def teaching_network(slope="1/10"):
    """The fixed 2-6-6-3 leaky-ReLU network in general position, with rational weights (slope 1/10 by
    default: :func:`theory.plane.teaching_network`; another ``slope`` keeps the weights)."""
    from . import plane
    from .network import mlp

    if Fraction(str(slope)) == Fraction(1, 10):
        return plane.teaching_network()
    return mlp([plane._W1, plane._W2, plane._W3], plane._B, slope=slope, name=f"teaching-2x6x6x3-slope{slope}")


def teaching_example():
    """``(network, point, direction)``: the teaching network, x and z, as the walkthrough and the figure use them."""
    return teaching_network(), TEACHING_POINT, TEACHING_DIRECTION


def demo_network(slope=Fraction(1, 10)):
    """The older fixed 2-4-3 network: f(x) = W2 sigma_a(W1 x + b1) + b2 with small rational weights, and its
    weights ``(W1, b1, W2, b2)``."""
    from .network import mlp

    W1 = [[1, -1], ["1/2", 1], [-1, 2], [1, "1/2"]]
    b1 = [0, "-1/2", 1, -1]
    W2 = [[1, -1, "1/2", 0], [0, 2, -1, 1], [-1, 1, 1, "1/2"]]
    b2 = [0, "1/2", -1]
    return mlp([W1, W2], [b1, b2], slope=slope, name="demo 2-4-3"), (W1, b1, W2, b2)


#: The built-in networks by name: (a function of the slope returning the network, default point, direction).
NETWORKS = {
    "teaching": (teaching_network, TEACHING_POINT, TEACHING_DIRECTION),
    "demo-2-4-3": (lambda slope: demo_network(slope)[0], DEMO_POINT, DEMO_DIRECTION),
}


from .errors import TheoryError  # noqa: E402


class ModelFileError(TheoryError, ValueError):
    """A model file that cannot be used: unreadable, not an ``nn.Module``, not 2 inputs, not convertible."""


def _first_in_features(module):
    import torch.nn as nn

    for m in module.modules():
        if isinstance(m, nn.Linear):
            return m.in_features
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            return None
    return None


def load_model(path):
    """The exact :class:`theory.network.Network` of a ``torch.save``'d ``nn.Module`` with 2 inputs, read on the
    CPU (``torch.load(..., weights_only=False)``: load only files you trust) and converted exactly with
    :func:`theory.from_torch`. A :class:`ModelFileError` with a one-line message for any other file."""
    import torch
    import torch.nn as nn

    from .errors import TheoryError
    from .torch_bridge import from_torch

    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"model file {str(p)!r} does not exist" if not p.exists()
                             else f"model file {str(p)!r} is not a file")
    try:
        module = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as exc:  # pickle, zip and torch errors alike
        raise ModelFileError(f"model file {str(p)!r} cannot be read by torch.load: {type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    if not isinstance(module, nn.Module):
        what = "a state_dict (save the module itself: torch.save(model, FILE))" if isinstance(module, dict) \
            else f"a {type(module).__name__}"
        raise ModelFileError(f"model file {str(p)!r} holds {what}, not an nn.Module")
    n = _first_in_features(module)
    if n is not None and n != 2:
        raise ModelFileError(f"the model in {str(p)!r} has input dimension {n}; the region walkthrough and the "
                             f"geometry figure need a network on the plane (2 inputs)")
    module = module.cpu().eval()
    try:
        net = from_torch(module, (2,), name=p.stem)
    except (TheoryError, ValueError, TypeError, RuntimeError) as exc:
        raise ModelFileError(f"the model in {str(p)!r} cannot be converted exactly for 2 inputs: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if net.n_in != 2:
        raise ModelFileError(f"the model in {str(p)!r} has input dimension {net.n_in}; 2 inputs are needed")
    return net


# ----------------------------------------------------------------------------------- the walkthrough
def _vec(values) -> str:
    return "(" + ", ".join(str(v) for v in values) + ")"


def _describe(net, pretty, max_entries: int = 64) -> list[str]:
    """The network, layer by layer: each affine map's weights and bias (exact), each rectifier's slopes."""
    from .exact import to_sympy, to_sympy_matrix
    from .network import AffineNode, MaxNode, RectNode

    lines = [f"The network {net.name}: {net.n_in} inputs, {net.n_out} logits, layer by layer:"]
    k = 0
    for node in net.nodes[1:]:
        if isinstance(node, AffineNode):
            k += 1
            W = to_sympy_matrix(node.weight)
            b = [0] * W.rows if node.bias is None else [to_sympy(v) for v in node.bias.entries()]
            lines.append(f"  {node.name} ({node.kind}, {W.cols} -> {W.rows}): u = W{k} v + b{k}, with")
            if W.rows * W.cols <= max_entries and max(len(str(v)) for v in W) <= 12:
                lines.append(f"  W{k} =")
                lines += ["      " + ln for ln in pretty(W).splitlines()]
            else:
                lines.append(f"  W{k}: a {W.rows} x {W.cols} matrix, not printed (too large, or float weights read "
                             f"exactly: long fractions)")
            if len(b) <= 8 and max((len(str(v)) for v in b), default=0) <= 12:
                lines.append(f"  b{k} = {_vec(b)}")
        elif isinstance(node, RectNode):
            slopes = sorted({to_sympy(s) for s in node.slopes})
            shown = slopes[0] if len(slopes) == 1 else "per unit " + _vec(to_sympy(s) for s in node.slopes)
            if len(slopes) == 1 and len(str(shown)) > 12:
                shown = f"{shown} ≈ {float(shown):.6g}"
            lines.append(f"  {node.name}: σ(u) = max(u, 0) + a·min(u, 0) per unit, a = {shown}")
        elif isinstance(node, MaxNode):
            lines.append(f"  {node.name}: max over {len(node.groups)} groups")
        else:
            lines.append(f"  {node.name}")
    return lines


def region_walkthrough(net, x, z) -> tuple[str, int]:
    """The text of ``python -m theory region`` for ``net`` at the point ``x`` along ``z`` (2 numbers each), and
    its exit code: 0, or 1 when x lies on a kink (the adjacent regions' Jacobians are printed instead)."""
    import sympy

    from .errors import KinkError
    from .network import AffineNode, RectNode
    from .region import linearize

    Q = lambda v: sympy.Rational(str(v))  # noqa: E731
    pretty = lambda m: sympy.pretty(m, use_unicode=True, wrap_line=False)  # noqa: E731
    out = []
    say = out.append
    out += _describe(net, pretty)
    say("")
    say(f"Point x = {_vec(x)}")
    try:
        r = linearize(net, list(x))
    except KinkError as exc:
        say(str(exc))
        regions = linearize(net, list(x), on_kink="all")
        say(f"{len(regions)} adjacent regions meet at x; their Jacobians:")
        for reg in regions:
            say("\n".join("    " + ln for ln in pretty(reg.jacobian).splitlines()))
        return "\n".join(out), 1
    vals = net.values(net.read_input(list(x)))
    for i, node in enumerate(net.nodes):
        if isinstance(node, RectNode) and isinstance(net.nodes[node.src], AffineNode):
            say(f"pre-activations of {node.name} = {_vec(_entries(vals[node.src]))}")
    for name, signs in r.pattern.items():
        if all(s in (1, -1) for s in signs) and any(n.name == name and isinstance(n, RectNode) for n in net.nodes):
            say(f"activation pattern of {name}: " + " ".join("+" if s > 0 else "−" for s in signs)
                + "   (+ : slope 1,  − : slope a)")
        else:
            say(f"selected units of {name}: {_vec(signs)}")
    say(f"logits f(x) = {_vec(list(r.logits))}")
    say("")
    say("On the region R(x) the network is exactly affine, f(x') = J x' + b, with")
    say("J =")
    say("\n".join("    " + ln for ln in pretty(r.jacobian).splitlines()))
    say(f"b = {_vec(list(r.bias))}")
    say("")
    A, c = r.halfspaces
    xs = sympy.symbols("x1 x2")
    slacks = r.slacks()
    say("R(x) = {x' : A x' ≤ c}, one half-space per unit (slack = c − A x at x):")
    lhs = [str(sum((A[i, j] * xs[j] for j in range(2)), sympy.Integer(0))) for i in range(A.rows)]
    wl, wc = max(map(len, lhs), default=0), max((len(str(v)) for v in c), default=0)
    for i, label in enumerate(r.halfspace_labels):
        say(f"    {lhs[i]:>{max(wl, 16)}} ≤ {str(c[i]):<{max(wc, 6)}}  unit {label[0]}[{label[1]}], slack {slacks[i]}")
    say("")
    t = r.exit_time(list(z))
    if t == sympy.oo:
        say(f"Along z = {_vec(z)} the point never leaves R(x): t* = ∞")
    else:
        rate = [sum((A[i, j] * Q(z[j]) for j in range(2)), sympy.Integer(0)) for i in range(A.rows)]
        hit = [r.halfspace_labels[i] for i in range(A.rows) if rate[i] > 0 and Q(slacks[i]) / rate[i] == t]
        exit_point = [Q(xi) + t * Q(zi) for xi, zi in zip(x, z)]
        say(f"Along z = {_vec(z)}: x + t z stays in R(x) for 0 ≤ t < t* = {t} ≈ {sympy.N(t, 8)}")
        say(f"    it leaves at x + t* z = {_vec(exit_point)}, through the hyperplane of "
            + ", ".join(f"{n}[{i}]" for n, i in hit))
    d2 = r.boundary_distance_squared()
    d = r.boundary_distance()
    say(f"Distance from x to the boundary of R(x): r(x) = min_i slack_i / ‖a_i‖ = {d} ≈ {sympy.N(d, 10)}"
        f"   (r² = {d2})")
    return "\n".join(out), 0


def _entries(m) -> list:
    from .exact import to_sympy

    return [to_sympy(v) for v in m.entries()]
