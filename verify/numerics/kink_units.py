"""Which units put the points of a batch on a kink: :class:`KinkedUnit`, the per-unit record that
:func:`verify.numerics.kinks.redecide_kinks` keeps of every side it decided (a rectifier unit, or a max
unit against one competitor), named as :mod:`theory.region` names them (the layer's node name, as in
:class:`~theory.errors.KinkError`'s ``units``, and the unit's flat index in the layer's output).

What a unit's record says (``what``), per point:

- ``"kink"``: a real kink, decided exactly: a pre-activation exactly 0, or a max tied exactly, whose
  affine pieces differ (so the pattern and the Jacobian are not unique there);
- ``"wrong"``: the model-dtype pass rounded the unit to the other side;
- ``"undecided"``: the side could not be decided (exact stage skipped);
- ``"float-tie"``: decided, but the float pass sits exactly on the kink (autograd's side is a convention);
- ``"identical"``: an exact tie of identical affine pieces, decided exactly (:func:`theory.local_affine.unit_pieces`:
  the same row of the input-to-unit map and the same constant): *not* a kink, the point is judged; listed so
  that a reader sees where the ties were.

>>> KinkedUnit("2:pool1", 5, (1, 0, 1), "max pooling", "kink", (0, 3)).label
"2:pool1[5] (module 'pool1', max pooling, position (1, 0, 1))"
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["KinkedUnit", "SIDE_STATES", "NOT_JUDGED_WHAT", "side_units", "layer_kind", "record_sides", "collect",
           "by_layer", "module_name", "kink_lines"]

#: The state codes of :func:`verify.numerics.kinks.redecide_kinks` per side, and what a unit's record calls them.
SIDE_STATES = {2: "kink", -1: "wrong", 0: "undecided", 3: "identical"}
#: The records of sides that leave their point unjudged.
NOT_JUDGED_WHAT = ("kink", "wrong", "undecided", "float-tie")


def module_name(layer: str) -> str:
    """The module's own name in a node name: ``'pool1'`` in ``'2:pool1'``, ``'conv'`` in
    ``'3:res/body/0:conv'``; a Sequential's index (``'2'`` in ``'2:2'``) is its name."""
    return layer.rsplit("/", 1)[-1].split(":", 1)[-1]


@dataclass(frozen=True)
class KinkedUnit:
    """One unit of one layer and the points of the batch where it is ``what`` (see the module docstring)."""

    layer: str        # the node name, as theory names it (e.g. '2:pool1')
    unit: int         # the flat index in the layer's output (the KinkError's unit)
    position: tuple   # the same index in the layer's output shape, e.g. (channel, row, column)
    kind: str         # 'max pooling', 'maxout', 'ReLU', 'leaky ReLU', 'PReLU', 'absolute value'
    what: str
    points: tuple     # the indices in the batch

    @property
    def module(self) -> str:
        return module_name(self.layer)

    @property
    def label(self) -> str:
        return f"{self.layer}[{self.unit}] (module '{self.module}', {self.kind}, position {self.position})"


def layer_kind(node) -> str:
    """A reader's name for a nonlinear engine node: its operation."""
    if node.kind == "max":
        return "max pooling" if "pool" in node.p else "maxout"
    a = node.p.get("scalar")
    return {0.0: "ReLU", -1.0: "absolute value", None: "PReLU"}.get(a, "leaky ReLU")


def side_units(eng, k: int) -> torch.Tensor:
    """(m_k,) the unit (flat output index of node k) of each side column of node k, in the order of the
    half-spaces: a rectifier's units; a max unit once per real competitor (:meth:`Engine.cut`)."""
    n = eng.nodes[k]
    if n.kind == "rect":
        return torch.arange(n.size, device=eng.device)
    g = n.p["G"].shape[1]
    grid = torch.arange(n.size, device=eng.device).reshape(1, -1, 1).expand(1, -1, max(g - 1, 0))
    return eng.cut(k, grid)[0]


def record_sides(marks: dict, eng, k: int, mask: torch.Tensor, what: str, points) -> None:
    """Add to ``marks`` ({(node k, unit, what): set of points}) the sides of node k that ``mask``
    (len(points), m_k) marks, at the batch indices ``points`` (a sequence of len(points))."""
    if not mask.shape[1] or not bool(mask.any()):
        return
    units = side_units(eng, k)
    for j, c in mask.nonzero().tolist():
        marks.setdefault((k, int(units[c]), what), set()).add(int(points[j]))


def collect(eng, marks: dict, earlier=()) -> list:
    """The :class:`KinkedUnit` records of ``marks`` and the ``earlier`` ones, most points first (then in layer
    and unit order)."""
    from math import prod

    out = list(earlier)
    for (k, u, what), pts in marks.items():
        node = eng.nodes[k]
        shape = tuple(node.out_shape)
        pos, rest = [], u
        for i in range(len(shape)):
            step = prod(shape[i + 1:])
            pos.append(rest // step)
            rest %= step
        out.append(KinkedUnit(node.name, u, tuple(pos), layer_kind(node), what, tuple(sorted(pts))))
    order = {eng.nodes[k].name: k for k in eng.nonlinear}
    return sorted(out, key=lambda r: (-len(r.points), order.get(r.layer, 0), r.unit, r.what))


def by_layer(units, what=NOT_JUDGED_WHAT) -> dict:
    """Per layer (in the order first met), over the records whose ``what`` is among ``what``: its ``kind``,
    ``module``, the number of ``units``, the distinct ``points`` (sorted) and the records ``what`` counts
    of points ({what: number of distinct points})."""
    out: dict = {}
    for r in units:
        if r.what not in what:
            continue
        d = out.setdefault(r.layer, {"kind": r.kind, "module": r.module, "units": set(), "points": set(), "what": {}})
        d["units"].add(r.unit)
        d["points"].update(r.points)
        d["what"].setdefault(r.what, set()).update(r.points)
    return {layer: {"kind": d["kind"], "module": d["module"], "units": len(d["units"]),
                    "points": sorted(d["points"]), "what": {w: len(p) for w, p in d["what"].items()}}
            for layer, d in out.items()}


def kink_lines(units, n_points: int, dtype: str = "", *, shown: int = 4) -> list[str]:
    """What a reader needs when points of a batch of ``n_points`` were not judged for a kink: per layer, its
    kind and module, how many of its units tie (or sit on their kink) and at how many points, the first units
    by position; and, when every point is unjudged, what helps. Empty when no unit left a point unjudged.

    >>> u = [KinkedUnit("2:pool", 5, (0, 1, 1), "max pooling", "kink", (0, 1)),
    ...      KinkedUnit("2:pool", 6, (0, 1, 2), "max pooling", "kink", (0, 1))]
    >>> print("\\n".join(kink_lines(u, 2, "float32")))
    kinks (float32): layer 2:pool (module 'pool', max pooling): 2 units tied at 2 of 2 points (real kink 2); first units: [5] at (0, 1, 1), [6] at (0, 1, 2)
    every point of the batch is on a kink, so no claim could be judged. What helps: inputs off the tie, e.g. x + 1e-3 * torch.randn_like(x) (a small noise breaks exact ties, such as max pooling over zero padding or a constant background); or, for one point, theory.linearize(model, x[i:i+1], on_kink="all") enumerates its adjacent regions exactly.
    """
    layers = by_layer(units)
    if not layers:
        return []
    names = {"kink": "real kink", "wrong": "pattern wrong", "undecided": "undecided", "float-tie": "float tie"}
    out, every = [], set()
    for layer, d in layers.items():
        verb = "tied" if d["kind"] in ("max pooling", "maxout") else "on their kink"
        first = [r for r in units if r.layer == layer and r.what in NOT_JUDGED_WHAT]
        seen, shown_units = set(), []
        for r in sorted(first, key=lambda r: r.unit):
            if r.unit not in seen and len(shown_units) < shown:
                seen.add(r.unit)
                shown_units.append(f"[{r.unit}] at {r.position}")
        what = ", ".join(f"{names[w]} {n}" for w, n in d["what"].items())
        tag = f" ({dtype})" if dtype else ""
        out.append(f"kinks{tag}: layer {layer} (module '{d['module']}', {d['kind']}): {d['units']} unit"
                   f"{'s' if d['units'] != 1 else ''} {verb} at {len(d['points'])} of {n_points} points ({what}); "
                   f"first units: {', '.join(shown_units)}")
        every.update(d["points"])
    if len(every) >= n_points:
        out.append("every point of the batch is on a kink, so no claim could be judged. What helps: inputs off the "
                   "tie, e.g. x + 1e-3 * torch.randn_like(x) (a small noise breaks exact ties, such as max pooling "
                   "over zero padding or a constant background); or, for one point, theory.linearize(model, "
                   "x[i:i+1], on_kink=\"all\") enumerates its adjacent regions exactly.")
    return out
