"""The exact radius as a measure of the training lab: exact robust accuracy beside PGD's, and the effective
margin beside the exact l2 radius, on a small fixed subset of the evaluation points.

:func:`radius_metrics` (called by :func:`verify.dynamics.measures.measure` at the last epoch) returns:

- ``exact_robust_accuracy``: per eps of the grid, from :func:`verify.robust.decide.robust_at` (complete
  l-inf verification, within the data's box): how many points are proved robust, proved not robust,
  and undecided (the per-point time limit), with ``fraction`` (robust / n, the exact robust accuracy
  when none is undecided, else a lower bound) and ``fraction_upper``; beside it ``pgd``, the robust
  accuracy of the lab's own PGD attack (same settings) on the same points, and ``pgd_gap`` = PGD minus
  exact, the attack's over-estimate, measured where everything is decided. PGD's adversarial points that
  the exact engine confirms are used as witnesses too (each decides its point as not robust at that eps). ``contradictions`` counts
  points that PGD broke at eps but the solver proved robust there (there must be none);
- ``exact_l2_radius``: per point of the l2 subset, the bounds [lower, upper] of the exact l2 radius
  (:func:`verify.robust.radius.robust_radius`, its lower bound raised to the l-inf one, since
  ||d||_2 >= ||d||_inf), the status, and gamma(x), the effective margin; summarised by the radius's
  quantiles over the decided points and ``gamma_over_radius``, gamma / rho_2 there (1 where gamma is
  exact, as when gamma <= r(x); otherwise how far the first-order estimate is off); where the search
  stopped first, ``gamma_over_upper`` = gamma / upper <= gamma / rho_2 still bounds it, and
  ``gamma_above_radius`` counts the points where gamma exceeds a checked witness's distance (there gamma
  is proved to over-estimate the true l2 radius).

Nothing here enters a verdict: the verdict rule of SPEC.md is fixed, and these are reported beside it.
"""

from __future__ import annotations

import math

import torch

__all__ = ["radius_metrics"]


def radius_metrics(model, x, y, gamma, *, eps_grid, points: int, time_limit: float, node_limit: int | None,
                   max_binaries: int | None, l2_points: int, l2_time_limit: float, l2_regions: int | None, box,
                   attack_steps: int, attack_restarts: int) -> dict:
    """The lab's exact-radius measures (module docstring) on the first ``points`` (l-inf) and the first
    ``l2_points`` (l2) evaluation points. The budgets that decide are deterministic: per program at most
    ``max_binaries`` binaries and ``node_limit`` nodes (l-inf), at most ``l2_regions`` regions per point
    (l2); ``time_limit`` and ``l2_time_limit`` (seconds per point) are safety stops, and a result where
    one was reached depends on the machine (its notes say so)."""
    from verify.dynamics.attacks import PGD
    from verify.dynamics.quantiles import summary
    from verify.robust.decide import robust_at, witness_distances
    from verify.robust.radius import exact_robust_accuracy, robust_radius

    n = min(points, x.shape[0])
    xs, ys = x[:n], y[:n]
    dom = None if box is None else (float(box[0]), float(box[1]))
    linf = robust_at(model, xs, ys, eps_grid=eps_grid, time_limit=time_limit, node_limit=node_limit,
                     max_binaries=max_binaries, domain=dom, method="milp")   # the lab's budgets are the MILP's
    gen = torch.Generator().manual_seed(20261202)
    pgd, broken = {}, {}
    for eps in eps_grid:
        atk = PGD(float(eps), norm="inf", steps=attack_steps, restarts=attack_restarts, box=box)
        adv = atk.perturb(model, xs, ys, generator=gen)
        with torch.no_grad():
            f0, f1 = model(xs), model(adv)
        strict = lambda f: f.gather(1, ys[:, None])[:, 0] > f.scatter(1, ys[:, None], -math.inf).max(1).values
        broken[eps] = ~(strict(f0) & strict(f1))
        pgd[eps] = adv
        # PGD's adversarial points that the exact engine confirms are witnesses too: they decide "not robust"
        hit = [i for i in range(n) if broken[eps][i] and linf[i].upper > float(eps)]
        if hit:
            d = witness_distances(model, xs[hit], ys[hit], adv[hit], norm="inf")
            for i, di in zip(hit, d):
                if di is not None and di < linf[i].upper:
                    linf[i].upper = di
                    linf[i].notes.append(f"PGD's point at eps {float(eps):g} is a checked witness at {di:.6g}")
    # the record is a JSON line, whose keys are strings: each budget is keyed by repr(float(eps)), as the
    # reader (verify.dynamics.report.radius_lines) looks it up
    acc = {repr(e): a for e, a in exact_robust_accuracy(linf, eps_grid).items()}
    for eps in eps_grid:
        e = repr(float(eps))
        acc[e]["pgd"] = float(1.0 - broken[eps].to(torch.float64).mean())
        acc[e]["pgd_gap"] = acc[e]["pgd"] - acc[e]["fraction"] if acc[e]["undecided"] == 0 else math.nan
        acc[e]["contradictions"] = int(sum(1 for r, b in zip(linf, broken[eps].tolist()) if b and r.lower > float(eps)))
    m = min(l2_points, x.shape[0])
    # the region search, not the MIQP: its budget is the settings' regions, so the result is the same on every
    # machine (the MIQP reaches the 2-s safety stop at most lab points, python -m verify.bench.l2); both are
    # complete (verify.robust.search's docstring), and neither decides more points within the lab's budget
    l2 = robust_radius(model, x[:m], y[:m], norm=2, time_limit=l2_time_limit, node_limit=l2_regions, domain=dom,
                       certify=False, method="search") if m else []
    lower, upper, status, gam = [], [], [], []
    for i, r in enumerate(l2):
        lo = r.lower
        if i < n and linf[i].lower > lo:
            lo = linf[i].lower                    # ||d||_2 >= ||d||_inf
        lower.append(lo)
        upper.append(r.upper if math.isfinite(r.upper) else (r.radius if r.status == "optimal" else math.inf))
        status.append(r.status)
        gam.append(float(gamma[i]) if gamma is not None else math.nan)
    decided = [i for i, r in enumerate(l2) if r.status == "optimal"]
    rad = torch.tensor([l2[i].radius for i in decided], dtype=torch.float64)
    ratio = torch.tensor([gam[i] / l2[i].radius for i in decided if l2[i].radius > 0 and math.isfinite(gam[i])],
                         dtype=torch.float64)
    # where the search stopped, the checked witness still bounds rho_2 above: gamma / upper <= gamma / rho_2
    usable = [i for i in range(len(l2)) if l2[i].status != "misclassified" and math.isfinite(gam[i])
              and math.isfinite(upper[i]) and upper[i] > 0]
    over = torch.tensor([gam[i] / upper[i] for i in usable], dtype=torch.float64)
    return {
        "settings": {"points": n, "time_limit": time_limit, "node_limit": node_limit, "max_binaries": max_binaries,
                     "l2_points": m, "l2_time_limit": l2_time_limit, "l2_regions": l2_regions,
                     "domain": None if dom is None else list(dom), "linf": "robust_at: MILP (HiGHS) at each eps",
                     "l2": "robust_radius: region search"},
        "exact_robust_accuracy": acc,
        "linf_points": {"lower": [r.lower for r in linf], "upper": [r.upper for r in linf],
                        "status": [r.status for r in linf],
                        "time_limit_reached": sum(1 for r in linf if any("time" in n for n in r.notes))},
        "exact_l2_radius": {"n": m, "decided": len(decided), "radius": summary(rad), "lower": lower, "upper": upper,
                            "status": status, "gamma": gam,
                            "time_limit_reached": sum(1 for r in l2 if r.status == "time_limit")},
        "gamma_over_radius": summary(ratio),
        "gamma_over_upper": summary(over),
        "gamma_above_radius": int(sum(1 for i in usable if gam[i] > upper[i])),
    }
