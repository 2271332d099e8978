"""The float engine: layer descriptions compiled to torch ops, with closed-form adjoints and bounds.

:func:`compile_model` reads a torch model through :func:`theory.torch_bridge.layers_from_torch` (the
one list of supported layers, with its errors) and compiles the descriptions into the node DAG of
:class:`theory.network.Network` (same node kinds, same names, same order), each node a float op:

- affine ``y = A v + b``: Linear, Conv2d, AvgPool2d, eval BatchNorm (folded scale and shift);
- rectifier ``y = sigma_a(u)``: keeps u, whose signs are the pattern and give the mask ``{1, a}``;
- max (MaxPool2d, Maxout): records the argmax (first of equal maxima, as theory and torch choose);
- sum (residual additions).

Every node has a *linear action* on a stack of vectors ``T`` of shape (B', P, n_in) (B' = B or 1,
broadcast) and its *adjoint* on (B', P, n_out): ``R @ W``; ``conv_transpose2d`` with the right
``output_padding``; the AvgPool2d backward; a scatter by argmax; the diagonal BatchNorm scale; the
mask. The Jacobian J = A_L ... A_1 (with the masks and selections of the pattern) is the product of
these maps in closed form, not autograd: K rows pushed back from the output when K < D, D columns
pushed forward from the input otherwise. The same products on |A_l| (in float64) give the
magnitude |A_L| ... |A_1| of the rounding bound.

Rounding bounds, with their assumptions: :mod:`verify.numerics.pass_bounds` (``jac_count`` is the m of
the Jacobian's bound there).

>>> import torch
>>> m = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2)).double()
>>> from verify.numerics.compiled import compile_model
>>> eng = compile_model(m, (2,), torch.float64, torch.device("cpu"))
>>> [n.name for n in eng.nodes]
['input', '0:0', '1:1', '2:2']
>>> rec = eng.forward(torch.randn(4, 2, dtype=torch.float64))
>>> torch.allclose(rec.vals[eng.output], m(rec.vals[0]))
True
"""

from __future__ import annotations

from math import prod

import torch
import torch.nn.functional as F

from theory.layers import (
    SUPPORTED,
    AvgPool2d,
    BatchNorm,
    Conv2d,
    Flatten,
    Linear,
    Maxout,
    MaxPool2d,
    Rectifier,
    Residual,
    ShapeError,
    UnsupportedLayerError,
    as_pair,
    infer_shapes,
)
from verify.numerics.graph import CHUNK_ELEMS, MIN_CHUNK_ROWS, Node, Record, full, pool_groups, unit_roundoff
from verify.numerics.pass_bounds import forward_bound, norm_bound

__all__ = ["Engine"]


class Engine:
    """A compiled network for one input shape, dtype and device (see the module docstring)."""

    def __init__(self, layers, in_shape, dtype: torch.dtype, device: torch.device):
        self.dtype, self.device, self.u = dtype, torch.device(device), unit_roundoff(dtype)
        self.layers = tuple(layers)            # the descriptions, kept for the same network in another dtype
        self.in_shape = tuple(int(s) for s in in_shape)
        self.shapes = infer_shapes(layers, self.in_shape)
        if len(self.shapes[-1]) != 1:
            raise ShapeError(f"the network must end in a vector of logits, got output shape {self.shapes[-1]}")
        self.nodes = [Node("input", "input", (), self.in_shape, self.in_shape)]
        self.output = self._compile(layers, 0, self.in_shape, "")
        self.D, self.K = prod(self.in_shape), self.nodes[self.output].size
        self.jac_count = sum(6 + n.inner for n in self.nodes[1:] if n.kind in ("linear", "conv", "avgpool", "bn")) \
            + sum(max(6, n.inner) if n.kind == "max" else 6 for n in self.nodes[1:]
                  if n.kind not in ("linear", "conv", "avgpool", "bn"))
        self.macs = sum(n.macs for n in self.nodes)
        self.nonlinear = [k for k, n in enumerate(self.nodes) if n.kind in ("rect", "max")]
        self._input_users = [k for k, n in enumerate(self.nodes) if 0 in n.src]
        self._engine64 = self._exact_net = None     # the same network in float64, and exact (verify.numerics.kink_sides)

    # ---- compilation ----------------------------------------------------------------------------
    def _t(self, v, dtype=None):
        return torch.as_tensor(v).detach().to(device=self.device, dtype=dtype or self.dtype)

    def _compile(self, layers, src: int, shape, prefix: str) -> int:
        f64 = torch.float64
        for k, layer in enumerate(layers):
            name, out = f"{prefix}{k}:{layer.name}", tuple(layer.out_shape(shape))
            n_in, n_out = prod(shape), prod(out)
            if isinstance(layer, Linear):
                W = self._t(layer.weight)
                b = None if layer.bias is None else self._t(layer.bias)
                nz = (W != 0).to(f64)
                p = dict(W=W, b=b, aW=W.abs().to(f64), ab=None if b is None else b.abs().to(f64))
                node = Node("linear", name, (src,), (n_in,), out, p, nz.sum(1),
                            int(max(nz.sum(1).max().item(), nz.sum(0).max().item())), n_in * n_out)
            elif isinstance(layer, Conv2d):
                W = self._t(layer.weight)
                b = None if layer.bias is None else self._t(layer.bias)
                (sh, sw), (ph, pw) = as_pair(layer.stride), as_pair(layer.padding)
                co, ci, kh, kw = W.shape
                opad = (shape[1] - ((out[1] - 1) * sh - 2 * ph + kh), shape[2] - ((out[2] - 1) * sw - 2 * pw + kw))
                nz = (W != 0).to(f64)
                rows = F.conv2d(torch.ones((1,) + tuple(shape), dtype=f64, device=self.device), nz, None, (sh, sw), (ph, pw))
                cols = F.conv_transpose2d(torch.ones((1,) + out, dtype=f64, device=self.device), nz, None, (sh, sw),
                                          (ph, pw), opad)
                p = dict(W=W, b=b, aW=W.abs().to(f64), ab=None if b is None else b.abs().to(f64),
                         stride=(sh, sw), padding=(ph, pw), opad=opad)
                node = Node("conv", name, (src,), tuple(shape), out, p, rows.reshape(-1),
                            int(max(rows.max().item(), cols.max().item())), n_out * ci * kh * kw)
            elif isinstance(layer, MaxPool2d):
                node = Node("max", name, (src,), tuple(shape), out, pool_groups(layer, shape, self.device))
                node.inner = int(torch.bincount(node.p["G"][node.p["valid"]], minlength=n_in).max().item())
                node.macs = n_out
            elif isinstance(layer, AvgPool2d):
                (kh, kw), s, pd = layer.geometry()
                ones = torch.ones((1,) + out, dtype=f64, device=self.device)
                cover = torch.ops.aten.avg_pool2d_backward(ones, ones.new_empty((1,) + tuple(shape)),
                                                           [kh, kw], list(s), list(pd), False, True, None)
                rows = F.avg_pool2d(torch.ones((1,) + tuple(shape), dtype=f64, device=self.device), (kh, kw), s, pd)
                p = dict(k=(kh, kw), stride=s, padding=pd)
                node = Node("avgpool", name, (src,), tuple(shape), out, p, torch.round(rows * kh * kw).reshape(-1),
                            int(max(kh * kw, torch.round(cover * kh * kw).max().item())), n_out * kh * kw)
            elif isinstance(layer, Flatten):
                shape = out
                continue
            elif isinstance(layer, BatchNorm):
                sc, sh = full(layer.scale, n_in, name).to(self.device), full(layer.shift, n_in, name).to(self.device)
                terms = getattr(layer, "shift_terms", None)
                p = dict(scale=sc.to(self.dtype), shift=sh.to(self.dtype), ascale=sc.to(f64).abs(),
                         ashift=sh.to(f64).abs() + (0 if terms is None else
                                                    full(terms, n_in, name).to(self.device, f64).abs()))
                node = Node("bn", name, (src,), tuple(shape), out, p, (sc != 0).to(f64), 1, n_in)
            elif isinstance(layer, Rectifier):
                a = full(layer.slope, n_in, name).to(self.device)
                sl = layer.slope if isinstance(layer.slope, torch.Tensor) else torch.tensor(layer.slope, dtype=f64)
                chan = sl.detach().reshape(-1).to(self.device, self.dtype)
                scalar = float(chan[0]) if bool((chan == chan[0]).all()) else None
                p = dict(a=a.to(self.dtype), aa=a.to(f64).abs(), scalar=scalar, chan=chan)
                node = Node("rect", name, (src,), tuple(shape), out, p, macs=n_in)
            elif isinstance(layer, Maxout):
                G = torch.arange(n_in, device=self.device).reshape(n_out, layer.pieces)
                node = Node("max", name, (src,), tuple(shape), out,
                            dict(G=G, valid=torch.ones_like(G, dtype=torch.bool), offset=G[:, 0],
                                 gsize=torch.full((n_out,), layer.pieces, device=self.device)), inner=1, macs=n_out)
            elif isinstance(layer, Residual):
                body = self._compile(layer.body, src, shape, prefix=name + "/body/")
                short = self._compile(layer.shortcut, src, shape, prefix=name + "/shortcut/")
                node = Node("sum", name, (body, short), out, out, macs=n_out)
            else:
                raise UnsupportedLayerError(f"{type(layer).__name__} is not supported; supported: {', '.join(SUPPORTED)}")
            self.nodes.append(node)
            src, shape = len(self.nodes) - 1, out
        return src

    # ---- forward pass ---------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> Record:
        """Values of every node (flattened, model dtype) and the pattern at x (B, *in_shape)."""
        B = x.shape[0]
        rec = Record([x.reshape(B, -1)])
        for k, n in enumerate(self.nodes[1:], 1):
            v = rec.vals[n.src[0]]
            p = n.p
            if n.kind == "linear":
                y = F.linear(v, p["W"], p["b"])
            elif n.kind == "conv":
                y = F.conv2d(v.reshape((B,) + n.in_shape), p["W"], p["b"], p["stride"], p["padding"])
            elif n.kind == "avgpool":
                y = F.avg_pool2d(v.reshape((B,) + n.in_shape), p["k"], p["stride"], p["padding"])
            elif n.kind == "bn":
                y = torch.addcmul(p["shift"], v, p["scale"])
            elif n.kind == "rect":  # sigma_a(u) = u if u > 0 else a u, as torch computes it
                rec.pre[k] = v
                a = p["scalar"]
                if a is None:
                    y = F.prelu(v.reshape(B, p["chan"].numel(), -1), p["chan"])
                else:
                    y = F.relu(v) if a == 0 else (v.abs() if a == -1 else F.leaky_relu(v, a))
            elif n.kind == "max":
                rec.groups[k] = (p["G"], p["valid"])
                if "pool" in p:  # torch's max pool: first maximum in window order, padding never wins
                    y, idx = F.max_pool2d(v.reshape((B,) + n.in_shape), *p["pool"], return_indices=True)
                    rec.win[k] = (idx.reshape(B, n.out_shape[0], -1) + p["offset"]).reshape(B, -1)
                else:  # maxout: contiguous groups
                    g = p["G"].shape[1]
                    y, pos = v.reshape(B, -1, g).max(dim=2)
                    rec.win[k] = pos + p["offset"]
            else:
                y = rec.vals[n.src[0]] + rec.vals[n.src[1]]
            rec.vals.append(y.reshape(B, -1))
        return rec

    # ---- linear actions and adjoints on stacks (B', P, n) -----------------------------------------
    def act(self, k: int, T: torch.Tensor, rec: Record, mag: bool = False) -> torch.Tensor:
        """The node's linear map (pattern of ``rec``, no bias) applied to each of the P vectors of T;
        ``mag``: the same with every entry replaced by its absolute value (float64 parameters)."""
        n, p = self.nodes[k], self.nodes[k].p
        Bp, P, _ = T.shape
        if n.kind == "linear":
            return T @ (p["aW"] if mag else self.param(k, "W", T.dtype)).T
        if n.kind == "conv":
            W = p["aW"] if mag else self.param(k, "W", T.dtype)
            y = F.conv2d(T.reshape((Bp * P,) + n.in_shape), W, None, p["stride"], p["padding"])
            return y.reshape(Bp, P, -1)
        if n.kind == "avgpool":
            return F.avg_pool2d(T.reshape((Bp * P,) + n.in_shape), p["k"], p["stride"], p["padding"]).reshape(Bp, P, -1)
        if n.kind == "bn":
            return T * (p["ascale"] if mag else self.param(k, "scale", T.dtype))
        if n.kind == "rect":
            return self._rect(k, T, rec, mag)
        if n.kind == "max":
            win = rec.win[k]
            T = T.expand(win.shape[0], P, T.shape[2])
            return T.gather(2, win.unsqueeze(1).expand(-1, P, -1))
        raise ValueError(f"act is not defined for a {n.kind} node")

    def _rect(self, k: int, T: torch.Tensor, rec: Record, mag: bool) -> torch.Tensor:
        """The diagonal mask {1, a} (``mag``: {1, |a|}) of rectifier k applied to T (its own adjoint)."""
        p, u = self.nodes[k].p, rec.pre[k].unsqueeze(1)
        a = p["scalar"]
        if a is not None and T.dtype == u.dtype:  # one fused pass, no stored mask
            return torch.ops.aten.leaky_relu_backward(T, u, abs(a) if mag else a, False)
        slopes = p["aa"] if mag else self.param(k, "a", T.dtype)
        return torch.where(u > 0, T, T * slopes.to(T.dtype))

    def adjoint(self, k: int, R: torch.Tensor, rec: Record, mag: bool = False) -> torch.Tensor:
        """R A for the node's linear map A (R of shape (B', P, n_out)); ``mag`` as in :meth:`act`."""
        n, p = self.nodes[k], self.nodes[k].p
        Bp, P, _ = R.shape
        if n.kind == "linear":
            return R @ (p["aW"] if mag else self.param(k, "W", R.dtype))
        if n.kind == "conv":
            W = p["aW"] if mag else self.param(k, "W", R.dtype)
            y = F.conv_transpose2d(R.reshape((Bp * P,) + n.out_shape), W, None,
                                   p["stride"], p["padding"], p["opad"])
            return y.reshape(Bp, P, -1)
        if n.kind == "avgpool":
            r = R.reshape((Bp * P,) + n.out_shape)
            shape = (Bp * P,) + n.in_shape  # the backward reads only the input's shape
            like = r.new_empty(1).expand(shape) if r.device.type == "cpu" else r.new_empty(shape)
            y = torch.ops.aten.avg_pool2d_backward(r, like, list(p["k"]),
                                                   list(p["stride"]), list(p["padding"]), False, True, None)
            return y.reshape(Bp, P, -1)
        if n.kind == "bn":
            return R * (p["ascale"] if mag else self.param(k, "scale", R.dtype))
        if n.kind == "rect":
            return self._rect(k, R, rec, mag)
        if n.kind == "max":
            win = rec.win[k]
            B = win.shape[0]
            out = R.new_zeros(B, P, prod(n.in_shape))
            return out.scatter_add_(2, win.unsqueeze(1).expand(-1, P, -1), R.expand(B, P, R.shape[2]))
        raise ValueError(f"adjoint is not defined for a {n.kind} node")

    # ---- products --------------------------------------------------------------------------------
    def backward(self, rec: Record, R: torch.Tensor, start: int | None = None, mag: bool = False,
                 out: torch.Tensor | None = None) -> torch.Tensor:
        """R A_L ... A_1 from node ``start`` (default: the output) back to the input: (B', P, D). With ``out``
        (B', P, D), when the input's only user is a Linear node, its product is written into ``out`` (no
        temporary of the result's size; otherwise the result is returned as usual, not in ``out``)."""
        start = self.output if start is None else start
        adj = {start: R}
        for k in range(start, 0, -1):
            if k not in adj:
                continue
            a, n = adj.pop(k), self.nodes[k]
            if out is not None and n.kind == "linear" and n.src == (0,) and self._input_users == [k] \
                    and a.shape[0] == out.shape[0]:                      # the last product, into ``out``
                return torch.matmul(a, n.p["aW"] if mag else self.param(k, "W", a.dtype), out=out)
            contribs = list(zip(n.src, (a, a))) if n.kind == "sum" else [(n.src[0], self.adjoint(k, a, rec, mag))]
            for s, m in contribs:
                adj[s] = adj[s] + m if s in adj else m
        return adj[0]

    def forward_maps(self, rec: Record, T0: torch.Tensor, want=(), mag: bool = False):
        """Push the input stack T0 (B', P, D) forward through the pattern's linear maps; yield
        (k, T_k) for each node k in ``want`` (in order), and finally (output, T_output)."""
        want = set(want)
        last = {}
        for k, n in enumerate(self.nodes):
            for s in n.src:
                last[s] = k
        maps = {0: T0}
        if 0 in want:
            yield 0, T0
        for k, n in enumerate(self.nodes[1:], 1):
            if n.kind == "sum":
                T = maps[n.src[0]] + maps[n.src[1]]
            else:
                T = self.act(k, maps[n.src[0]], rec, mag)
            maps[k] = T
            for s in n.src:
                if last.get(s) == k:
                    maps.pop(s, None)
            if k in want:
                yield k, T
        yield self.output, maps[self.output]

    def jacobian(self, rec: Record, mag: bool = False, order: str | None = None) -> torch.Tensor:
        """J (B, K, D) of the pattern in ``rec`` (``mag``: |A_L| ... |A_1| in float64).

        The product runs over chunks of the batch so that no intermediate stack exceeds
        :data:`verify.numerics.graph.CHUNK_ELEMS` entries; each chunk is written into the preallocated result.
        Pushed back from the output (K < D), the chunks are also small enough that two intermediate stacks of a chunk (a
        layer's input and output) hold at most 1/12 of J's entries, but never fewer than
        :data:`verify.numerics.graph.MIN_CHUNK_ROWS` rows per product, so that the peak memory stays near J's own bytes
        (``python -m verify.bench`` prints the ratio) without slowing the products; where the input's only
        user is a Linear layer, its product writes straight into the result."""
        B = rec.vals[0].shape[0]
        dt = torch.float64 if mag else self.dtype
        order = order or ("output" if self.K < self.D else "input")
        P = self.K if order == "output" else self.D
        width = max(n.size for n in self.nodes)
        step = B if not self.nonlinear else max(1, min(B, CHUNK_ELEMS // (P * width)))
        if self.nonlinear and order == "output":
            inner = max(n.size for n in self.nodes[1:])
            step = min(step, max(-(-MIN_CHUNK_ROWS // P), (B * self.D) // (24 * inner)))
        eye = torch.eye(P, dtype=dt, device=self.device).unsqueeze(0)
        out = None
        for a in range(0, B, step):
            sub = rec if step >= B else rec.slice(slice(a, a + step))
            if order == "output" and step < B:
                if out is None:
                    out = torch.empty(B, self.K, self.D, dtype=dt, device=self.device)
                J = self.backward(sub, eye, mag=mag, out=out[a:a + step])
                if J.data_ptr() != out[a:a + step].data_ptr() or J.shape[0] != out[a:a + step].shape[0]:
                    out[a:a + step].copy_(J)
                continue
            if order == "output":
                J = self.backward(sub, eye, mag=mag)
            else:
                *_, (_, T) = self.forward_maps(sub, eye, mag=mag)
                J = T.transpose(1, 2)
            if step >= B:
                return J.contiguous() if J.shape[0] == B else J.expand(B, -1, -1).contiguous()
            if out is None:
                out = torch.empty(B, self.K, self.D, dtype=dt, device=self.device)
            out[a:a + step].copy_(J)
        return out

    # ---- bounds ----------------------------------------------------------------------------------
    def forward_bound(self, rec: Record) -> list:
        """Per node, a bound (B, n) float64 on |value~ - exact value|
        (:func:`verify.numerics.pass_bounds.forward_bound`)."""
        return forward_bound(self, rec)

    def norm_bound(self, rec: Record) -> list:
        """Per node, an upper bound (B, n) float64 on the l2 norm of each unit's input gradient under the pattern
        (:func:`verify.numerics.pass_bounds.norm_bound`)."""
        return norm_bound(self, rec)

    # ---- helpers for the region geometry -----------------------------------------------------------
    def param(self, k: int, key: str, dtype: torch.dtype) -> torch.Tensor:
        """Parameter ``key`` of node k in ``dtype`` (cached copy when it differs from the model's)."""
        p = self.nodes[k].p
        if p[key] is None or p[key].dtype == dtype:
            return p[key]
        ck = f"{key}@{dtype}"
        if ck not in p:
            p[ck] = p[key].to(dtype)
        return p[ck]

    def competitors(self, k: int, win_pos: torch.Tensor):  # noqa: D417
        """For max node k and argmax positions (B, n): the source indices (B, n, g-1) of every
        competitor, in group order without the winner, and the static mask (n, g-1) of real ones
        (windows cut by padding are shorter). The order is theory's half-space order."""
        p = self.nodes[k].p
        g = p["G"].shape[1]
        q = torch.arange(g - 1, device=self.device)
        qpos = q + (q >= win_pos.unsqueeze(2))                       # (B, n, g-1)
        G = p["G"].unsqueeze(0).expand(win_pos.shape[0], -1, -1)
        return G.gather(2, qpos), q.unsqueeze(0) < (p["gsize"] - 1).unsqueeze(1)

    def cut(self, k: int, t: torch.Tensor) -> torch.Tensor:
        """Flatten a per-competitor table (B, n, g-1, ...) of max node k to (B, m_k, ...), keeping the
        real competitors only (theory's half-space order)."""
        p = self.nodes[k].p
        if "keep" not in p:
            g = p["G"].shape[1]
            valid = torch.arange(g - 1, device=self.device).unsqueeze(0) < (p["gsize"] - 1).unsqueeze(1)
            p["keep"] = None if bool(valid.all()) else valid.reshape(-1).nonzero().squeeze(1)
        t = t.reshape((t.shape[0], -1) + tuple(t.shape[3:]))
        return t if p["keep"] is None else t.index_select(1, p["keep"])


