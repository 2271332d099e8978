"""standard-training-small-margin [abstract] (Liu & Chan, BMVC 2022): judged by training.

Under plain cross-entropy the effective weight norm keeps growing while the effective margin stalls;
adding EMR gives larger effective margins and more robustness, in standard and in adversarial training.
The comparisons (SPEC.md, "The verdict rule"; E the last epoch, M = E // 2 the middle one, every
quantity the median over the evaluation points, each comparison per seed on paired runs):

1. under ``ce``: omega_M < omega_E;
2. under ``ce``: log(gamma_E / gamma_M) < 1/2 log(omega_E / omega_M), judged in the equivalent form
   gamma_E / gamma_M < (omega_E / omega_M)^(1/2) (exp is increasing), so that its effect B/A is a ratio
   of positive numbers; a seed whose median margin is not positive at M or E is missing;
3. under ``ce``: ||grad_theta CE||_E < ||grad_theta CE||_M (per-example parameter gradients);
4. at E: gamma(``ce``) < gamma(``ce+emr``);
5. at E: PGD robust accuracy at the middle eps of the grid, ``ce`` < ``ce+emr``;
6. and 7.: the same two for ``at(eps2)`` against ``at(eps2)+emr`` (eps2 the middle eps).
"""

from __future__ import annotations

import math

from verify.dynamics.verdicts import ClaimVerdict, combine, compare

__all__ = ["CLAIM", "ROLES", "judge", "values_at", "median_of"]

CLAIM = "standard-training-small-margin"
ROLES = ("ce", "ce+emr", "at(eps2)", "at(eps2)+emr")


def values_at(table: dict, role: str, seeds, epoch: int, get) -> list[float]:
    """``get(record)`` of ``role``'s run at ``epoch`` for each seed of ``seeds`` (NaN where the run has no
    such epoch), from a :func:`~verify.dynamics.lab.run_table`."""
    out = []
    for s in seeds:
        rows = table["runs"].get(role, {}).get(s)
        m = rows[epoch] if rows and epoch < len(rows) else None
        out.append(float(get(m)) if m is not None else math.nan)
    return out


def median_of(key):
    """The getter of the median of the per-point measure ``key`` of a lab record."""
    return lambda m: m[key]["median"]


def judge(table: dict) -> ClaimVerdict:
    """The claim's verdict from a lab's :func:`~verify.dynamics.lab.run_table`."""
    s = table["settings"]
    E, M = s.epochs, s.epochs // 2
    eps2 = repr(float(s.middle_eps))
    seeds = sorted(set().union(*(table["runs"].get(r, {}).keys() for r in ROLES)))
    om_M, om_E = values_at(table, "ce", seeds, M, median_of("effective_weight_norm")), \
        values_at(table, "ce", seeds, E, median_of("effective_weight_norm"))
    ga_M, ga_E = values_at(table, "ce", seeds, M, median_of("effective_margin")), \
        values_at(table, "ce", seeds, E, median_of("effective_margin"))
    growth_g = [ge / gm if gm > 0 and ge > 0 else math.nan for gm, ge in zip(ga_M, ga_E)]
    half_w = [math.sqrt(we / wm) if wm > 0 and we > 0 else math.nan for wm, we in zip(om_M, om_E)]
    robust = lambda m: m["robust_accuracy"][eps2]
    comps = [
        compare(f"(1) ce: omega at M={M} < omega at E={E}", om_M, om_E, seeds),
        compare("(2) ce: gamma_E/gamma_M < (omega_E/omega_M)^(1/2)", growth_g, half_w, seeds),
        compare(f"(3) ce: |grad_theta CE| at E={E} < at M={M}", values_at(table, "ce", seeds, E, median_of("param_gradient_norm")),
                values_at(table, "ce", seeds, M, median_of("param_gradient_norm")), seeds),
        compare("(4) E: gamma ce < ce+emr", ga_E, values_at(table, "ce+emr", seeds, E, median_of("effective_margin")), seeds),
        compare(f"(5) E: robust acc (eps={s.middle_eps:.4g}) ce < ce+emr", values_at(table, "ce", seeds, E, robust),
                values_at(table, "ce+emr", seeds, E, robust), seeds),
        compare("(6) E: gamma at < at+emr", values_at(table, "at(eps2)", seeds, E, median_of("effective_margin")),
                values_at(table, "at(eps2)+emr", seeds, E, median_of("effective_margin")), seeds),
        compare(f"(7) E: robust acc (eps={s.middle_eps:.4g}) at < at+emr", values_at(table, "at(eps2)", seeds, E, robust),
                values_at(table, "at(eps2)+emr", seeds, E, robust), seeds),
    ]
    notes = [f"M = epoch {M}, E = epoch {E}; at = at(eps={s.middle_eps:.4g}); medians over the evaluation points"]
    return ClaimVerdict(claim=CLAIM, data=s.data, verdict=combine(c.verdict for c in comps), comparisons=tuple(comps),
                        groups={}, sub_verdicts={}, notes=tuple(notes))
