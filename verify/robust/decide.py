"""Robustness at fixed budgets, without the radius itself: :func:`robust_at` (complete l-inf verification at
each eps of a grid, the lab's exact robust accuracy) and :func:`witness_distances` (other methods'
adversarial points, e.g. PGD's, checked as witnesses).

>>> import torch
>>> m = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 2)).double()
>>> with torch.no_grad():
...     _ = m[0].weight.copy_(torch.eye(2)); _ = m[0].bias.zero_()
...     _ = m[2].weight.copy_(torch.eye(2)); _ = m[2].bias.zero_()
>>> r = robust_at(m, torch.tensor([[2.0, 1.0]], dtype=torch.float64), eps_grid=[0.25, 1.0])[0]
>>> r.lower > 0.25, r.upper <= 1.0              # robust at 0.25, not at 1 (the radius is 0.5)
(True, True)
"""

from __future__ import annotations

import math
import time

import numpy as np

from verify.robust.checks import Checker, attack, distance_up, exact_logits, find_witness, strict_rival
from verify.robust.inputs import (
    RadiusOptionError,
    check_inputs,
    check_labels,
    check_norm,
    check_positive,
    exact_networks,
)
from verify.robust.radius import RadiusResult, stop_reason

__all__ = ["robust_at", "witness_distances"]


def robust_at(model, x, y=None, *, eps_grid, time_limit: float | None = 10.0, node_limit: int | None = None,
              max_binaries: int | None = None, domain=None, method: str = "bab") -> list[RadiusResult]:
    """Complete l-inf verification at each eps of a grid: per example, whether some point within eps changes
    class (decided by a checked witness) or none does (decided by the program at radius eps), without
    computing the radius itself unless it falls out. Cheaper than :func:`~verify.robust.radius.robust_radius` when only
    robustness at fixed budgets is asked (the lab's exact robust accuracy). ``y``: (B,) labels, or None for the
    model's predictions (as in :func:`~verify.robust.radius.robust_radius`); the budgets ``eps_grid`` and the
    limits are keyword-only. Every input is checked (finite, of the model's shape, labels, domain) before the
    first program is solved, and an error names the example's index in the batch.

    Per example, after the attack's witness (distance ``upper``): for each eps in increasing order, a
    witness within eps decides it (not robust); otherwise :func:`~verify.robust.milp.linf_milp` on the
    box of radius eps either proves that no point of it changes class (robust: ``lower`` = the float just
    above eps, since rho > eps), or
    finds the radius (<= eps: ``status`` optimal), or stops at its share of ``time_limit``, at
    ``node_limit``, or is not tried because it has more than ``max_binaries`` binaries (undecided; the
    last two budgets are deterministic, a time limit depends on the machine). ``status`` is ``optimal``
    (radius found), ``decided`` (every eps decided, the radius only bracketed by [lower, upper]),
    ``misclassified``, or ``undecided`` (some eps undecided; the notes say why). Read the decisions with
    :func:`exact_robust_accuracy`.

    ``method``: ``bab`` (the default: :func:`~verify.robust.bab.linf_bab`, branch and bound on CROWN bounds
    with optimised slopes after a PGD attack, for rectifier MLPs; any other network goes to the MILP) or
    ``milp`` (the program above at every eps). By BaB an eps is decided by a proof (robust: ``lower`` the
    float above eps; what it rests on is in the notes) or by a checked witness within eps (``upper``); the
    radius itself is not computed (``status`` decided or undecided). ``node_limit`` counts BaB's
    sub-domains there.
    """
    from verify.robust.bab import linf_bab
    from verify.robust.crown import mlp_chain
    from verify.robust.milp import linf_milp
    from verify.robust.solvers import load_milp

    load_milp()
    if method not in ("bab", "milp"):
        raise RadiusOptionError(f"method: expected 'bab' or 'milp', got {method!r}")
    try:
        grid = sorted(float(e) for e in eps_grid)
    except (TypeError, ValueError):
        raise RadiusOptionError(f"eps_grid: expected a sequence of budgets > 0, got {eps_grid!r}") from None
    if not grid or any(not (math.isfinite(e) and e > 0) for e in grid):
        raise RadiusOptionError(f"eps_grid: expected budgets > 0, got {list(eps_grid)!r}")
    time_limit = check_positive("time_limit", time_limit)
    node_limit = check_positive("node_limit", node_limit, integer=True)
    if max_binaries is not None and not (isinstance(max_binaries, int) and not isinstance(max_binaries, bool)
                                         and max_binaries >= 0):
        raise RadiusOptionError(f"max_binaries: expected an integer >= 0 (or None), got {max_binaries!r}")
    ins = check_inputs(model, x, y, domain=domain, who="robust_at")
    exact, pl, float_logits, X, dtype, Y, dom = ins.exact, ins.pl, ins.float_logits, ins.X, ins.dtype, ins.Y, ins.dom
    use_bab = method == "bab" and mlp_chain(pl) is not None
    out = []
    for b in range(X.shape[0]):
        t0 = time.perf_counter()
        xb = X[b]
        fe = exact_logits(exact, xb)
        yb = int(Y[b]) if Y is not None else max(range(len(fe)), key=lambda k: (fe[k], -k))
        top = max(range(len(fe)), key=lambda k: (fe[k], -k))
        chk = Checker(exact, float_logits, xb, yb, "inf", dtype, dom)
        notes, problem, stopped = [], {}, []

        def done(status, radius, lower, upper, rival=None, witness=None, wcheck=None, nodes=0):
            why = stopped[-1] if stopped else ("decided" if status != "undecided" else "")
            return RadiusResult(b, "inf", yb, int(top), status, float(radius), float(lower), float(upper),
                                0.0 if not math.isfinite(upper) else (upper - lower) / max(upper, 1e-300),
                                rival, None if witness is None else [float(v) for v in witness], wcheck or {}, None,
                                round(time.perf_counter() - t0, 6), time_limit, nodes, notes, dict(problem), why)

        if not max(fe[k] for k in range(len(fe)) if k != yb) < fe[yb]:
            notes.append(f"x is not strictly of class {yb}: the radius is 0")
            out.append(done("misclassified", 0.0, 0.0, 0.0, strict_rival(fe, yb), xb, chk.check(xb)))
            continue
        upper, witness, wcheck = math.inf, None, {}
        a = attack(pl, xb, yb, "inf", dom)
        if a is not None:
            wa, ca = find_witness(chk, pl, a, None, None, float(np.max(np.abs(a - xb))))
            if wa is not None and ca["float"] and ca["exact"]:
                upper, witness, wcheck = distance_up(wa, xb, "inf"), wa, ca
        lower, radius, status, nodes = 0.0, math.nan, "decided", 0
        todo = [e for e in grid if not upper <= e]
        for i, e in enumerate(todo):
            left = None if time_limit is None else (time_limit - (time.perf_counter() - t0)) / (len(todo) - i)
            if left is not None and left <= 1e-3:
                status = "undecided"
                notes.append(f"eps {e:g}: no time left")
                stopped.append(f"no time left for eps {e:g}")
                break
            if use_bab:
                r = linf_bab(pl, xb, yb, eps=e, checker=chk, domain=dom, time_limit=left, node_limit=node_limit)
                nodes += r.nodes
                problem.update(unstable=int(r.unstable))
                if r.status == "robust":
                    lower = math.nextafter(e, math.inf)
                    if r.rests_on not in notes:
                        notes.append(r.rests_on)
                    continue
                if r.status == "not robust":
                    d = distance_up(r.witness, xb, "inf")
                    if d < upper:
                        upper, witness, wcheck = d, r.witness, r.check
                    break
                status = "undecided"
                stopped.append(f"eps {e:g}: {r.stopped} after {r.nodes} sub-domains")
                notes.append(f"eps {e:g}: branch and bound stopped ({r.stopped}; margin bound {r.lower:.3g}, "
                             f"{r.nodes} sub-domains, {r.unstable} unstable units)")
                break
            r = linf_milp(pl, xb, yb, cap=e, domain=dom, time_limit=left, node_limit=node_limit,
                          max_binaries=max_binaries)
            nodes += r.nodes
            if r.binaries or r.unstable:
                problem.update(binaries=int(r.binaries), unstable=int(r.unstable))
            if r.status == "beyond_cap":
                lower = math.nextafter(e, math.inf)     # no point of the closed eps-box changes class: rho > eps
                continue
            if r.point is not None:
                wz, cz = find_witness(chk, pl, r.point, r.rival, r.pattern, r.radius)
                if wz is not None and cz["float"] and cz["exact"]:
                    d = distance_up(wz, xb, "inf")
                    if d < upper:
                        upper, witness, wcheck = d, wz, cz
                else:
                    notes.append(f"the program's point at eps {e:g} did not pass the witness checks")
                if r.status == "optimal":
                    radius, lower = r.radius, max(lower, r.lower)
                    status = "optimal"
                    break
            status = "undecided"
            stopped.append(f"eps {e:g}: " + stop_reason(r.status, "inf", problem, int(r.nodes), left, node_limit))
            notes.append(f"eps {e:g}: the program stopped ({r.status}{': ' + r.message if r.status == 'skipped' else ''})")
            break
        if status == "decided" and not all(lower > e or upper <= e for e in grid):
            status = "undecided"
        rival = None
        if witness is not None:
            fw = float_logits(witness[None])[0]
            rival = int(np.argmax([v if k != yb else -math.inf for k, v in enumerate(fw)]))
        out.append(done(status, radius if status == "optimal" else math.nan, lower, upper, rival, witness, wcheck,
                        nodes))
    return out


def witness_distances(model, x, y, points, *, norm="inf") -> list:
    """For each example, the exact distance (rounded up) from x to the given point if the point is a witness
    (the float model and, in rationals, the exact engine both put a class strictly above y there), else
    None: how another method's adversarial points (e.g. PGD's) become checked upper bounds on the radius."""
    import torch

    p = check_norm(norm)
    exact, pl, float_logits, X, in_shape, dtype = exact_networks(model, x, who="witness_distances")
    Y = check_labels(y, X.shape[0], pl.K)
    P = points.detach().to(torch.float64).reshape(X.shape[0], -1).cpu().numpy() if isinstance(points, torch.Tensor) \
        else np.asarray(points, dtype=np.float64).reshape(X.shape[0], -1)
    out = []
    for b in range(X.shape[0]):
        chk = Checker(exact, float_logits, X[b], int(Y[b]), p, dtype, None)
        w = chk.cast(P[b])
        res = chk.check(w)
        out.append(distance_up(w, X[b], p) if res["float"] and res["exact"] else None)
    return out
