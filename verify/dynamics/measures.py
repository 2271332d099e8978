"""Every measure of SPEC.md ("Empirical claims", Measures), on the fixed evaluation set, at one epoch.

Per evaluation point, summarised by quantiles (:func:`summary`):

- ``cross_entropy``; ``input_gradient_norm`` ||grad_x CE||; ``param_gradient_norm`` ||grad_theta CE(x_i)||,
  the norm of each example's own parameter gradient (``torch.func``: vmap of grad);
- from the toolkit's linearization (:func:`verify.linearize`): ``effective_weight_norm``
  omega(x) = ||w_y - w_j||_2 and ``effective_margin`` gamma(x) = (f_y - f_j) / omega(x), j the strongest other
  class [derived operationalisation of the abstract's terms]; ``certified_fraction``, the share of points
  with |gamma(x)| <= r(x) (r the l2 distance to the region's boundary), where |gamma| is the exact l2
  distance to the y-vs-j decision boundary; ``layer_spectra``: per rectified layer, the largest, the mean
  (over all min(n_out, n_in) singular values) and the smallest non-zero singular value of its layer
  Jacobian J_l = Lambda_l V_l (``Linearization.layer_jacobians``), from the smaller Gram matrix
  (:func:`singular_values`, which also says when a value counts as zero). On a CNN the same holds layer by
  layer: a rectified layer's J_l = Lambda_l V_l maps its input (the previous layer's pooled feature map,
  flattened, or the image) to its rectified output, V_l being the convolution written as a dense matrix
  (the linearization's per-layer Jacobians); a max pooling is a nonlinear layer of its own in the
  linearization, and it is not a rectified layer, so it has no spectrum here. On images with an exactly
  constant background (digits, MNIST) most points of such a CNN lie on real kinks of its max pooling: in
  a pooling window over the background the convolution outputs are equal (the bias) while being
  different affine functions of the input, a tie of different pieces; those points are counted in
  ``kinks`` and left out of the linearization's measures, as everywhere;
- ``output_margin`` f_y - max_{j != y} f_j and ``confidence`` max_k p_k, with ``confidence_below_half``;
- ``clean_accuracy``, and ``robust_accuracy`` under l-inf PGD at each eps of the grid, with the attack's
  settings beside it (``attack``);
- when asked (``radius``, the lab's last epoch): ``exact_radius``, the exact robust accuracy beside PGD's
  and the exact l2 radius beside gamma(x) on the first evaluation points (:mod:`verify.dynamics.exact_radius`).

Points where the float pattern is not certified (``Linearization.on_kink``: a real kink, or a point within
the model dtype's rounding of a kink that the re-decision of :mod:`verify.numerics.kinks` did not recover) are
counted (``kinks``) and left out of the linearization's measures, as everywhere in the toolkit; the other
measures use every point.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from verify.dynamics.quantiles import QUANTILES, summary

__all__ = ["measure", "summary", "QUANTILES", "rectified_layers", "singular_values", "gram_singular_values",
           "CHUNK_ENTRIES"]

def _mlp_layers(model) -> list | None:
    """The Linear layers of a model made of Flatten, Linear and elementwise rectifiers only (in order); None
    for any other model (a convolution, a pooling, a normalisation...)."""
    mods = list(model.children()) if isinstance(model, torch.nn.Sequential) else None
    ok = (torch.nn.Flatten, torch.nn.Linear, torch.nn.ReLU, torch.nn.LeakyReLU, torch.nn.PReLU)
    if not mods or not all(type(m) in ok for m in mods):
        return None
    if any(p.requires_grad is False for p in model.parameters()):
        return None
    lins = [m for m in mods if isinstance(m, torch.nn.Linear)]
    return lins if len(lins) == sum(1 for m in mods if isinstance(m, (torch.nn.Linear, torch.nn.PReLU))) else None


def _linear_gradient_norms(model, lins, x, y) -> torch.Tensor:
    """||grad_theta CE(x_i)|| of an MLP of Linear layers (``lins``) from one backward pass: a Linear layer
    v = W a + b has the per-example gradients (delta a^T, delta) with delta = dCE_i/dv, so its share of the
    squared norm is ||delta||^2 (||a||^2 + 1) (without the 1 when it has no bias)."""
    seen = []

    def keep(mod, inp, out):
        seen.append((mod, inp[0], out))

    hooks = [m.register_forward_hook(keep) for m in lins]
    try:
        with torch.enable_grad():
            loss = F.cross_entropy(model(x), y, reduction="sum")
            deltas = torch.autograd.grad(loss, [v for _, _, v in seen])
    finally:
        for h in hooks:
            h.remove()
    sq = 0
    for (mod, a, _), d in zip(seen, deltas):
        sq = sq + d.square().sum(1) * (a.detach().square().sum(1) + (1 if mod.bias is not None else 0))
    return torch.sqrt(sq)


def _param_gradient_norms(model, x, y) -> torch.Tensor:
    from torch.func import functional_call, grad, vmap

    lins = _mlp_layers(model)
    if lins is not None:
        return _linear_gradient_norms(model, lins, x, y)

    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p, xi, yi):
        return F.cross_entropy(functional_call(model, p, (xi.unsqueeze(0),)), yi.unsqueeze(0))

    g = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)
    return torch.sqrt(sum(t.reshape(t.shape[0], -1).square().sum(1) for t in g.values()))


def rectified_layers(lin) -> list[str]:
    """The names of the rectified (ReLU-family) layers of a linearization, in order."""
    return [lin.engine.nodes[k].name for k in lin.engine.nonlinear if lin.engine.nodes[k].kind == "rect"]


def singular_values(J: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(s, tol): the min(n_out, n_in) singular values of each J (b, n_out, n_in), ascending, in float64, as
    the square roots of the eigenvalues of the smaller Gram matrix (one symmetric eigenproblem per point:
    about twice as fast as an SVD of these small matrices), and the level below which a value counts as
    zero: sqrt(n u) s_max, the resolution of those eigenvalues (u the float64 unit roundoff, n the
    larger side)."""
    J = J.to(torch.float64)
    G = J @ J.mT if J.shape[1] <= J.shape[2] else J.mT @ J
    return gram_singular_values(G, max(J.shape[1], J.shape[2]))


def gram_singular_values(G: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(s, tol) of :func:`singular_values` from the smaller Gram matrices G (b, m, m) of the J's, float64,
    n the J's larger side."""
    s = torch.linalg.eigvalsh(G).clamp_min(0).sqrt()
    top = s[:, -1] if s.shape[0] else s.new_zeros(0)
    return s, top * math.sqrt(n * torch.finfo(torch.float64).eps / 2) * 4


def _spectrum_points(lin, keep: torch.Tensor) -> dict:
    """Per rectified layer name: (largest, mean, smallest non-zero) singular value per kept point (from the
    layers' Gram matrices without forming their Jacobians where the network is a chain of Linear layers
    and rectifiers: :meth:`verify.numerics.linearization.Linearization.layer_grams`)."""
    names = rectified_layers(lin)
    grams = lin.layer_grams(keep)
    if grams is not None:
        pairs = [(name, gram_singular_values(G, n)) for name, G, n in grams]
    else:
        pairs = [(name, singular_values(J[keep])) for name, J in lin.layer_jacobians() if name in names]
    out = {}
    for name, (s, tol) in pairs:
        if name not in names:
            continue
        top = s[:, -1] if s.shape[0] else s.new_zeros(0)
        nz = torch.where(s > tol.unsqueeze(1), s, torch.full_like(s, math.inf)).min(1).values
        nz = torch.where(torch.isfinite(nz), nz, torch.zeros_like(nz))   # an all-zero layer map: 0
        out[name] = (top, s.mean(1), nz)
    return out


def _spectra_summary(names: list, per: dict) -> dict:
    """Per rectified layer, keyed ``L1``, ``L2``, ... in order (the network's own name is in ``module``)."""
    return {f"L{names.index(name) + 1}": {"module": name, "largest": summary(top), "mean": summary(mean),
                                          "smallest_nonzero": summary(nz)} for name, (top, mean, nz) in per.items()}


def _spectra(lin, keep: torch.Tensor) -> dict:
    return _spectra_summary(rectified_layers(lin), _spectrum_points(lin, keep))


def has_conv(model) -> bool:
    """Whether the network has a convolution (its linearization is then taken in chunks of points)."""
    return any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


#: The largest layer map, in entries, that one chunk of a CNN's linearization may hold (2^24 float64
#: entries = 128 MiB): a CNN's layer Jacobians are dense (n_out x n_in per point, e.g. 12544 x 784 for the
#: first convolution of MNIST), so its points are linearized a few at a time.
CHUNK_ENTRIES = 2 ** 24


def _chunked(model, x, n_spectra: int):
    """For a CNN: the linearization's per-point measures over chunks of points (module docstring of
    :func:`measure`), concatenated: (J, logits, r, on_kink, layer names, per-layer spectrum values of the kept
    points among the first ``n_spectra``)."""
    from verify.numerics.linearize import linearize

    B = x.shape[0]
    first = linearize(model, x[:1])
    sizes = [J.shape[1] * J.shape[2] for _, J in first.layer_jacobians()]
    step = max(1, CHUNK_ENTRIES // max(sizes + [first.jacobian.shape[1] * first.jacobian.shape[2]]))
    Js, fls, rs, kinks, per = [], [], [], [], {}
    names = rectified_layers(first)
    for i in range(0, B, step):
        lin = first if (i == 0 and step == 1) else linearize(model, x[i:i + step])
        keep = ~lin.on_kink
        Js.append(lin.jacobian)
        fls.append(lin.logits)
        rs.append(lin.boundary_distance())
        kinks.append(lin.on_kink)
        idx = torch.arange(i, i + keep.shape[0], device=keep.device)
        sel = keep & (idx < n_spectra)
        if i < n_spectra:
            for name, vals in _spectrum_points(lin, sel).items():
                per.setdefault(name, []).append(vals)
    per = {name: tuple(torch.cat(v) for v in zip(*parts)) for name, parts in per.items()}
    return torch.cat(Js), torch.cat(fls), torch.cat(rs), torch.cat(kinks), names, per


def measure(model, x, y, *, eps_grid, attack_steps: int, attack_restarts: int, box, generator: torch.Generator,
            n_spectra: int | None = None, keep_points: bool = False, radius: dict | None = None,
            autoattack: dict | None = None) -> dict:
    """The ``metrics`` of one epoch (module docstring) on the evaluation set (x, y), the model in eval mode
    (restored after). The layer spectra use the first ``n_spectra`` points (default all). ``keep_points`` adds the per-point ``confidence``, ``output_margin`` and
    ``effective_margin`` values (the distributions kept for the figures). ``radius`` (points, time_limit,
    l2_points, l2_time_limit) adds ``exact_radius`` (:func:`verify.dynamics.exact_radius.radius_metrics`).
    ``autoattack`` (version, points, seed, and optionally n_iter, n_queries: round 2's last epoch) adds
    ``autoattack``: per eps AutoAttack's robust accuracy on the first ``points`` points beside PGD's on the
    same points, the points each broke that the other did not, and both attacks' settings
    (:func:`verify.dynamics.autoattack.autoattack`).

    A network with convolutions is linearized in chunks of points (:data:`CHUNK_ENTRIES`): its layer
    Jacobians are dense matrices per point. The numbers are those of one linearization of the whole batch;
    an MLP is linearized in one piece, as always."""
    from verify.dynamics.attacks import PGD, robust_accuracy
    from verify.numerics.linearize import linearize
    from verify.regularizers.definitions import unchecked as R

    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            f = model(x)
        p = torch.softmax(f, 1)
        ce = F.cross_entropy(f, y, reduction="none")
        correct = f.argmax(1) == y
        other = f.clone()
        other.scatter_(1, y.view(-1, 1), -math.inf)
        m_out = f.gather(1, y.view(-1, 1)).squeeze(1) - other.max(1).values
        conf = p.max(1).values
        gx = R.loss_gradient(model, x, y).reshape(x.shape[0], -1).norm(dim=1)
        gtheta = _param_gradient_norms(model, x, y)

        if has_conv(model):
            J, fl, r, on_kink, names, per = _chunked(model, x, n_spectra or x.shape[0])
            keep = ~on_kink
            spectra = lambda: _spectra_summary(names, per)
        else:
            lin = linearize(model, x)
            keep = ~lin.on_kink
            J, fl = lin.jacobian, lin.logits
            r = lin.boundary_distance()
            spectra = lambda: _spectra(lin, keep & (torch.arange(len(keep), device=keep.device)
                                                    < (n_spectra or len(keep))))
        j = other.argmax(1)
        w = J.gather(1, y.view(-1, 1, 1).expand(-1, 1, J.shape[2])).squeeze(1) \
            - J.gather(1, j.view(-1, 1, 1).expand(-1, 1, J.shape[2])).squeeze(1)
        omega = w.norm(dim=1)
        gamma = (fl.gather(1, y.view(-1, 1)).squeeze(1) - fl.gather(1, j.view(-1, 1)).squeeze(1)) / omega
        cert = (gamma.abs().to(torch.float64) <= r)[keep]

        robust = {}
        attacks = {}
        flags = {}
        for eps in eps_grid:
            atk = PGD(float(eps), norm="inf", steps=attack_steps, restarts=attack_restarts, box=box)
            if autoattack:                            # the same draws as robust_accuracy's, keeping the flags
                flags[eps] = atk.robust(model, x, y, generator=generator)
                robust[repr(float(eps))] = int(flags[eps].sum().item()) / x.shape[0]
            else:
                robust[repr(float(eps))] = robust_accuracy(model, x, y, atk, generator=generator)
            attacks[repr(float(eps))] = atk.to_dict()
        metrics = {
            "n_eval": int(x.shape[0]),
            "kinks": int((~keep).sum()),
            "clean_accuracy": float(correct.to(torch.float64).mean()),
            "cross_entropy": summary(ce),
            "input_gradient_norm": summary(gx),
            "param_gradient_norm": summary(gtheta),
            "effective_weight_norm": summary(omega[keep]),
            "effective_margin": summary(gamma[keep]),
            "certified_fraction": float(cert.to(torch.float64).mean()) if cert.numel() else math.nan,
            "output_margin": summary(m_out),
            "confidence": summary(conf),
            "confidence_below_half": float((conf < 0.5).to(torch.float64).mean()),
            "robust_accuracy": robust,
            "attack": attacks,
            "layer_spectra": spectra(),
        }
        if autoattack:
            metrics["autoattack"] = _autoattack(model, x, y, flags, attacks, eps_grid, box, autoattack)
        if radius:
            from verify.dynamics.exact_radius import radius_metrics

            g = torch.where(keep, gamma, torch.full_like(gamma, math.nan))
            metrics["exact_radius"] = radius_metrics(model, x, y, g.tolist(), eps_grid=eps_grid, box=box,
                                                     attack_steps=attack_steps, attack_restarts=attack_restarts,
                                                     **radius)
        if keep_points:
            metrics["points"] = {"confidence": conf.tolist(), "output_margin": m_out.tolist(),
                                 "effective_margin": [float(v) if k else math.nan for v, k in zip(gamma, keep)]}
        return metrics
    finally:
        model.train(was)


def _autoattack(model, x, y, flags: dict, attacks: dict, eps_grid, box, cfg: dict) -> dict:
    """Per eps: AutoAttack's robust accuracy beside PGD's (the measure's own PGD run, its flags) on the first
    ``cfg["points"]`` points, how many points each broke that the other did not, and both settings."""
    from verify.dynamics.autoattack import autoattack

    n = min(int(cfg["points"]), x.shape[0])
    out = {}
    for eps in eps_grid:
        key = repr(float(eps))
        res = autoattack(model, x[:n], y[:n], eps=float(eps), version=cfg["version"], box=box, seed=cfg["seed"],
                         n_iter=cfg.get("n_iter"), n_queries=cfg.get("n_queries"))
        aa, pgd = res["robust"], flags[eps][:n]
        out[key] = {"n": n, "robust_accuracy": int(aa.sum().item()) / n, "pgd_robust_accuracy": int(pgd.sum().item()) / n,
                    "broken_by_autoattack_only": int((pgd & ~aa).sum().item()),
                    "broken_by_pgd_only": int((aa & ~pgd).sum().item()),
                    "reported_not_confirmed": res["reported_not_confirmed"],
                    "settings": res["settings"], "pgd_settings": attacks[key]}
    return out
