"""The sides of a region's half-spaces at the points a float pass leaves in doubt, read from three other
passes of the same network, for the decisions of :mod:`verify.numerics.kinks`: the same layer
descriptions compiled in float64 (:func:`engine64`), the exact rational network (:func:`exact_network`,
skipped above a size given in :func:`dense_entries`), and the model's own float pass through its torch.fx
graph (:func:`own_sources`). :func:`side_sigmas` gives sigma = s u of every side under the model-dtype
orientation, :func:`own_disagrees` and :func:`float_ties` compare the model's own pass with the engine's.
"""

from __future__ import annotations

from math import prod

import torch

__all__ = ["engine64", "dense_entries", "exact_network", "side_sigmas", "identical_side", "float_ties",
           "float_tie_sides", "own_sources", "own_disagrees"]


def engine64(eng):
    """The same network compiled in float64 (cached on the engine)."""
    if eng._engine64 is None:
        from verify.numerics.engine import Engine

        eng._engine64 = Engine(eng.layers, eng.in_shape, torch.float64, eng.device)
    return eng._engine64


def dense_entries(eng) -> int:
    """Entries of the dense rational matrices that :class:`theory.network.Network` builds for ``eng``'s
    network (one n_out x n_in matrix per affine node)."""
    return sum(prod(eng.nodes[n.src[0]].out_shape) * n.size for n in eng.nodes[1:]
               if n.kind in ("linear", "conv", "avgpool", "bn"))


def exact_network(eng, limit: int):
    """(the exact network, None), the network cached on the engine; or (None, why it was skipped) when its
    dense matrices would exceed ``limit`` entries."""
    n = dense_entries(eng)
    if n > limit:
        return None, f"exact stage skipped: the exact network would hold {n:,} matrix entries, above {limit:,}"
    if eng._exact_net is None:
        from theory.network import Network

        net = Network(eng.layers, eng.in_shape)
        for k in eng.nonlinear:
            if getattr(net.nodes[k], "name", None) != eng.nodes[k].name:
                raise RuntimeError(f"the exact network's node {k} is {getattr(net.nodes[k], 'name', None)!r}, the float "
                                   f"engine's is {eng.nodes[k].name!r}: the two compilations disagree")
        eng._exact_net = net
    return eng._exact_net, None


def side_sigmas(eng, k: int, rec, rows, u: torch.Tensor, e: torch.Tensor):
    """For nonlinear node k at the points ``rows`` of ``rec`` (the model-dtype pass): sigma = s u under the
    model-dtype orientation, evaluated from the source values ``u`` (len(rows), n_src) with bounds ``e``,
    and its bound, each (len(rows), m_k); and the flat source indices (plus, minus) of each side, so that
    sigma = u[plus] - u[minus] (rectifiers: minus is -1, and plus carries the sign)."""
    u, e = u.to(torch.float64), e.to(torch.float64)
    if eng.nodes[k].kind == "rect":
        s = rec.sign(k)[rows].to(torch.float64)
        idx = torch.arange(u.shape[1], device=u.device).expand(len(rows), -1)
        return s * u, e, (idx, s)
    comp, _ = eng.competitors(k, rec.pos(k)[rows])                      # (b, n, g-1)
    w = rec.win[k][rows]
    uw, ew = u.gather(1, w).unsqueeze(2), e.gather(1, w).unsqueeze(2)
    flat = comp.reshape(comp.shape[0], -1)
    uc, ec = u.gather(1, flat).reshape(comp.shape), e.gather(1, flat).reshape(comp.shape)
    sig = eng.cut(k, uw - uc)
    err = eng.cut(k, ew + ec) + 2.0 ** -53 * sig.abs()                 # + the rounding of the subtraction
    return sig, err, (eng.cut(k, w.unsqueeze(2).expand_as(comp)), eng.cut(k, comp))


def identical_side(net, xv, vals, pattern, src: int, plus: int, minus, tangents: list | None = None) -> bool:
    """Whether an exact tie is a tie of identical affine pieces, decided exactly on the exact network ``net``
    at the point xv (its node values ``vals``, its ``pattern``, :func:`theory.region.pattern_at`): for a
    rectifier (``minus`` None), whether unit ``plus`` of node ``src`` is the zero function on the region; for
    a max, whether source units ``plus`` and ``minus`` have the same row of the input-to-unit map and the
    same constant (:func:`theory.local_affine.unit_pieces`). Then every choice gives the same function and
    Jacobian: not a kink (as :func:`theory.region.linearize` decides it).

    ``tangents``: per node, the entries of the units' exact derivatives along one input direction on the
    region (:func:`theory.tangents.unit_tangents`, with the same ``pattern``), computed once per point: where they
    differ (a rectifier's is non-zero) the rows differ and the answer is False without the push-back to the
    input; where they agree the pieces are compared as without them. The answer is the same either way."""
    from theory.local_affine import unit_pieces

    if tangents is not None:
        t = tangents[src]
        if (t[plus] != 0) if minus is None else (t[plus] != t[minus]):
            return False
    if minus is None:
        (row, c), = unit_pieces(net, xv, vals, pattern, src, [plus])
        return c == 0 and not any(row)
    a, b = unit_pieces(net, xv, vals, pattern, src, [plus, minus])
    return a == b


def float_tie_sides(eng, rec, table, rows, dsub, own=None) -> list:
    """Per nonlinear node, (len(rows), m_k) bool: the doubtful sides that sit exactly on their kink in the
    float pass: slack 0, in the engine's pass, or in the model's own pass where it was read and differs
    (``own``)."""
    out = []
    for (slack, _, _, _), d, k in zip(table, dsub, eng.nonlinear):
        if not d.shape[1]:
            out.append(d)
            continue
        at = slack[rows] == 0
        if own and k in own:
            u = own[k][rows].to(torch.float64)
            at |= side_sigmas(eng, k, rec, rows, u, u.abs())[0] == 0
        out.append(d & at)
    return out


def float_ties(eng, rec, table, rows, dsub, own=None) -> torch.Tensor:
    """(len(rows),) bool: some doubtful side sits exactly on its kink in the float pass (:func:`float_tie_sides`)."""
    out = torch.zeros(len(rows), dtype=torch.bool, device=rows.device)
    for t in float_tie_sides(eng, rec, table, rows, dsub, own):
        if t.shape[1]:
            out |= t.any(1)
    return out


def own_sources(model, x: torch.Tensor, eng, mode: str = "batch") -> dict:
    """The model's own float values at the source of each nonlinear node of ``eng``, from its forward pass on
    the batch x (B, *in_shape) evaluated as ``mode`` says (see :func:`verify.numerics.kinks.confirm_own_pass`):
    {node k: (B, n_src)};
    a node whose call cannot be told apart (its description's name matches no graph call, or the calls and
    nodes of one name differ in number or size) is left out."""
    import torch.fx

    from theory.torch_bridge import trace

    gm = trace(model)                      # the engine was compiled from this same trace
    names = {}
    for k in eng.nonlinear:
        names.setdefault(eng.nodes[k].name.rsplit("/", 1)[-1].split(":", 1)[1], []).append(k)
    seen: dict = {}

    class _Capture(torch.fx.Interpreter):
        def run_node(self, n):
            if n.op in ("call_module", "call_function", "call_method"):
                key = n.target if n.op == "call_module" else n.name
                if key in names:
                    args, _ = self.fetch_args_kwargs_from_env(n)
                    seen.setdefault(key, []).append(args[0].detach().reshape(args[0].shape[0], -1))
            return super().run_node(n)

    def run(xb):
        seen.clear()
        _Capture(gm).run(xb)
        return [(key, t) for key in seen for t in seen[key]]

    with torch.no_grad():
        if mode == "batch":
            run(x)
        else:
            if mode == "vmap":
                order = []

                def one(xi):
                    got = run(xi.unsqueeze(0))
                    order[:] = [key for key, _ in got]
                    return tuple(t.squeeze(0) for _, t in got)
                vals = torch.func.vmap(one)(x)
            else:
                per = [run(x[i:i + 1]) for i in range(x.shape[0])]
                order = [key for key, _ in per[0]]
                vals = [torch.cat([p[j][1] for p in per]) for j in range(len(order))]
            seen.clear()
            for key, t in zip(order, vals):
                seen.setdefault(key, []).append(t.reshape(x.shape[0], -1))
    out = {}
    for key, ks in names.items():
        got = seen.get(key, [])
        if len(got) == len(ks) and all(t.shape[1] == eng.nodes[eng.nodes[k].src[0]].size for t, k in zip(got, ks)):
            out.update(zip(ks, got))
    return out


def own_disagrees(eng, k: int, rec, rows, own: torch.Tensor, s: int) -> torch.Tensor:
    """(len(rows), m_k) bool: the model's own float pass is on another side than the engine's pass: a
    rectifier's sign differs, or a max unit's winner does not beat (or tie exactly as in the engine) the
    competitor."""
    if eng.nodes[k].kind == "rect":
        return (own[rows] > 0) != (rec.vals[s][rows] > 0)
    mine, _, _ = side_sigmas(eng, k, rec, rows, rec.vals[s][rows], rec.vals[s][rows].abs())
    theirs, _, _ = side_sigmas(eng, k, rec, rows, own[rows], own[rows].abs())
    return ~((theirs > 0) | ((theirs == 0) & (mine == 0)))
