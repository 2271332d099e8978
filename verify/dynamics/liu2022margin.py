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

Round 2 (SPEC.md, "Round 2"; :func:`judge_round2`): (1)-(7) with AutoAttack's robust accuracy in (5) and
(7), and at E, with eps2 the middle budget:

8. gamma ``trades(eps2)`` < ``trades(eps2)+emr``;   9. robust accuracy ``trades(eps2)`` < ``trades(eps2)+emr``;
10. gamma ``mart(eps2)`` < ``mart(eps2)+emr``;      11. robust accuracy ``mart(eps2)`` < ``mart(eps2)+emr``;
12. robust accuracy ``trades(eps2)`` < ``at(eps2)+emr`` ("EMR outperforms TRADES"),

every robust accuracy AutoAttack's. The round-2 verdict combines (1)-(12) by the same rule; the round-1
verdict ((1)-(7) with PGD) is kept beside it (``sub_verdicts["round 1"]``), with the dose-response of EMR
(comparisons (4)-(7) at each dose, Holm over the doses) and the official EMR arm against ``at(eps2)``,
both outside the verdict.
"""

from __future__ import annotations

import math

from verify.dynamics.dose import dose_response
from verify.dynamics.verdicts import ClaimVerdict, combine, compare

__all__ = ["CLAIM", "ROLES", "ROLES2", "judge", "judge_round2", "values_at", "median_of", "autoattack_robust",
           "dose_response_of"]

#: The claim this module judges.
CLAIM = "standard-training-small-margin"
#: The roles the round-1 comparisons (1)-(7) use.
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


#: The roles of the round-2 comparisons (1)-(12): round 1's and the TRADES and MART arms.
ROLES2 = ROLES + ("trades(eps2)", "trades(eps2)+emr", "mart(eps2)", "mart(eps2)+emr")


def autoattack_robust(eps_key: str):
    """The getter of AutoAttack's robust accuracy at ``eps_key`` (repr of the float budget) of a last-epoch record;
    NaN where the record has none (a round-1 record)."""
    return lambda m: m["autoattack"][eps_key]["robust_accuracy"] if "autoattack" in m else math.nan


def _doses(table) -> tuple:
    r2 = table["config"].get("round2") or {}
    return tuple(r2.get("doses", (1.0, 10.0, 100.0)))


def dose_response_of(table: dict) -> dict:
    """At each dose of EMR (lambda_0 times 1, 10, 100), comparisons (4)-(7) with the p-values Holm-corrected
    over the doses (:func:`verify.dynamics.dose.dose_response`), and the official EMR arm against at(eps2)
    (gamma and AutoAttack's robust accuracy); outside every verdict."""
    s = table["settings"]
    E = s.epochs
    eps2 = repr(float(s.middle_eps))
    rob = autoattack_robust(eps2)
    gam = median_of("effective_margin")
    doses = _doses(table)
    names = lambda base, d: base if d == 1 else f"{base}(x{d:g})"
    seeds = sorted(set().union(*(table["runs"].get(r, {}).keys() for r in ("ce", "at(eps2)"))))
    out = {"doses": list(doses), "comparisons": {}}
    for label, base, treated, get in (("(4) gamma ce < ce+emr", "ce", "ce+emr", gam),
                                      ("(5) robust acc (AutoAttack) ce < ce+emr", "ce", "ce+emr", rob),
                                      ("(6) gamma at < at+emr", "at(eps2)", "at(eps2)+emr", gam),
                                      ("(7) robust acc (AutoAttack) at < at+emr", "at(eps2)", "at(eps2)+emr", rob)):
        if not all(names(treated, d) in table["runs"] for d in doses) or base not in table["runs"]:
            continue
        a = [values_at(table, base, seeds, E, get) for _ in doses]
        b = [values_at(table, names(treated, d), seeds, E, get) for d in doses]
        out["comparisons"][label] = dose_response(label, doses, a, b, seeds)
    if "at(eps2)+emr-official" in table["runs"]:
        out["official"] = [compare(name, values_at(table, "at(eps2)", seeds, E, get),
                                   values_at(table, "at(eps2)+emr-official", seeds, E, get), seeds).to_dict()
                           for name, get in (("gamma at < official EMR arm", gam),
                                             ("robust acc (AutoAttack) at < official EMR arm", rob))]
    return out


def judge_round2(table: dict) -> ClaimVerdict:
    """The round-2 verdict ((1)-(12), AutoAttack's robust accuracy) from a round-2 lab's run table, with the
    round-1 verdict, the dose-response and the official arm beside it (module docstring)."""
    s = table["settings"]
    E = s.epochs
    eps2 = repr(float(s.middle_eps))
    first = judge(table)                                  # round 1: (1)-(7) with PGD
    rob = autoattack_robust(eps2)
    gam = median_of("effective_margin")
    seeds = sorted(set().union(*(table["runs"].get(r, {}).keys() for r in ROLES2)))
    e = f"{s.middle_eps:.4g}"
    v = lambda role, get: values_at(table, role, seeds, E, get)
    comps = list(first.comparisons[:4]) + [
        compare(f"(5) E: robust acc AutoAttack (eps={e}) ce < ce+emr", v("ce", rob), v("ce+emr", rob), seeds),
        first.comparisons[5],
        compare(f"(7) E: robust acc AutoAttack (eps={e}) at < at+emr", v("at(eps2)", rob), v("at(eps2)+emr", rob), seeds),
        compare("(8) E: gamma trades < trades+emr", v("trades(eps2)", gam), v("trades(eps2)+emr", gam), seeds),
        compare(f"(9) E: robust acc AutoAttack (eps={e}) trades < trades+emr", v("trades(eps2)", rob),
                v("trades(eps2)+emr", rob), seeds),
        compare("(10) E: gamma mart < mart+emr", v("mart(eps2)", gam), v("mart(eps2)+emr", gam), seeds),
        compare(f"(11) E: robust acc AutoAttack (eps={e}) mart < mart+emr", v("mart(eps2)", rob),
                v("mart(eps2)+emr", rob), seeds),
        compare(f"(12) E: robust acc AutoAttack (eps={e}) trades < at+emr", v("trades(eps2)", rob),
                v("at(eps2)+emr", rob), seeds),
    ]
    notes = list(first.notes) + [f"round 2: robust accuracy at E is AutoAttack's; trades = trades(eps={e}), "
                                 f"mart = mart(eps={e})"]
    sub = {"round 1": {"verdict": first.verdict, "comparisons": [c.to_dict() for c in first.comparisons]},
           "dose-response": dose_response_of(table)}
    return ClaimVerdict(claim=CLAIM, data=s.data, verdict=combine(c.verdict for c in comps), comparisons=tuple(comps),
                        groups={"round": 2}, sub_verdicts=sub, notes=tuple(notes))
