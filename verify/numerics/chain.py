"""Networks that are a chain of Linear layers and rectifiers (an MLP): what their Gram matrices give
without forming every layer's map from the input (the exact norms of the units' gradients, the slopes at
a point). :class:`verify.numerics.linearization.Linearization` uses them where they cost less.
"""

from __future__ import annotations

import torch

__all__ = ["rect_chain", "gram_pays", "chain_norms", "slopes"]


def rect_chain(eng) -> list | None:
    """[(linear node, rectifier node), ...] when the engine's graph is input -> linear -> rect -> linear ->
    rect ... (then an affine head): every nonlinear node a rectifier fed by a linear node fed by the previous
    rectifier (the first by the input). None for any other graph (convolutions, max units, sums...)."""
    chain, prev = [], 0
    for k in eng.nonlinear:
        n = eng.nodes[k]
        s = n.src[0]
        if n.kind != "rect" or eng.nodes[s].kind != "linear" or eng.nodes[s].src != (prev,):
            return None
        chain.append((s, k))
        prev = k
    return chain or None


def gram_pays(eng, chain) -> bool:
    """Whether the Gram recursion of :func:`chain_norms` takes fewer multiply-adds per point than pushing
    the D x D identity forward (it does when the input is wider than the layers, e.g. MNIST's 784)."""
    sizes = [eng.nodes[s].size for s, _ in chain]
    push = sum(eng.D * n for n in sizes) + sum(eng.D * a * b for a, b in zip(sizes, sizes[1:]))
    gram = sum(a * a * b + a * b * b for a, b in zip(sizes, sizes[1:]))
    return gram < push


def chain_norms(eng, rec, chain, B: int) -> list:
    """Per rectifier of a :func:`rect_chain` graph, ||a_i||_2 (B, n) in float64 of the gradient of each
    pre-activation with respect to the input, from the Gram matrices G_l = M_l M_l^T of the maps M_l from the
    input to layer l's pre-activations: G_1 = W_1 W_1^T (shared by the points), and
    G_{l+1} = (W_{l+1} Lambda_l) G_l (W_{l+1} Lambda_l)^T, Lambda_l the rectifier's slopes at the point;
    ||a_i||^2 = (G_l)_ii. The same norms as the identity pushed forward, in other roundings."""
    out, G, lam = [], None, None
    for i, (s, k) in enumerate(chain):
        W = eng.param(s, "W", torch.float64)
        if G is None:
            G = (W @ W.T).unsqueeze(0)
            d = torch.diagonal(G, dim1=1, dim2=2).expand(B, -1)
        else:
            A = W.unsqueeze(0) * lam.unsqueeze(1)                          # (B, n, n_prev)
            AG = A @ G
            d = (AG * A).sum(2)
            if i + 1 < len(chain):
                G = AG @ A.mT
        out.append(d.clamp_min(0).sqrt())
        lam = slopes(eng, rec, k)
    return out


def slopes(eng, rec, k: int) -> torch.Tensor:
    """(B, n) float64: the slope of rectifier k at each point (1 where its pre-activation is > 0, else a),
    as :meth:`verify.numerics.engine.Engine.act` applies it."""
    u = rec.pre[k].to(torch.float64)
    a = eng.nodes[k].p["scalar"]
    low = torch.full_like(u, float(a)) if a is not None else eng.param(k, "a", torch.float64).expand_as(u)
    return torch.where(u > 0, torch.ones_like(u), low)
