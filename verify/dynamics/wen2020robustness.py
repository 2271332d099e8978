"""layer-smoothing and confidence-concentration [abstract] (Wen, Li & Jia, ICML 2020): judged by training.

layer-smoothing: at the last epoch E, for eps_0 = 0 < eps_1 < eps_2 < eps_3 of ``at(eps)`` (``at(0)`` is
``ce``), for each spectrum statistic of the layer Jacobians (largest, mean, smallest non-zero singular
value; medians over the points) and each rectified layer, the statistic at eps_3 is below the one at
eps_0 (sign test over seeds). A statistic is SUPPORTED when more than half of the layers are, CONTRADICTED
when more than half are CONTRADICTED; the claim needs all three statistics. The same comparisons for each
``ce+R`` against ``ce`` are sub-verdicts, outside the claim's verdict, and the per-layer Spearman
correlation of each statistic with eps (over every seed and eps of the grid) is reported.

confidence-concentration: at E, ``at(eps_3)`` against ``at(0)``: (1) clean accuracy is lower; (2) the median
output margin is lower; (3) the median confidence is lower; (4) the fraction of points with confidence
below 0.5 is higher.
"""

from __future__ import annotations

import math

from verify.dynamics.liu2022margin import median_of, values_at
from verify.dynamics.verdicts import ClaimVerdict, combine, compare, majority, spearman

__all__ = ["LAYER_SMOOTHING", "CONFIDENCE", "STATISTICS", "judge_layer_smoothing", "judge_confidence"]

#: The claim :func:`judge_layer_smoothing` judges.
LAYER_SMOOTHING = "layer-smoothing"
#: The claim :func:`judge_confidence` judges.
CONFIDENCE = "confidence-concentration"
#: The statistics of each layer's singular values that layer-smoothing compares.
STATISTICS = ("largest", "mean", "smallest_nonzero")
_EPS_ROLES = ("ce", "at(eps1)", "at(eps2)", "at(eps3)")
_SUB = ("ce+ig", "ce+jac", "ce+cl", "ce+cure", "ce+emr")
#: Round 2's defenses in place of at(eps_3): sub-verdicts, outside the claims' verdicts (SPEC.md, "Round 2").
_SUB2 = ("trades(eps3)",)


def _seeds(table, roles):
    return sorted(set().union(*(table["runs"].get(r, {}).keys() for r in roles)))


def _layers(table, E) -> list[str]:
    for rows in table["runs"].get("ce", {}).values():
        if rows and rows[E] is not None:
            return list(rows[E]["layer_spectra"])
    return []


def _spec(stat, layer):
    return lambda m: m["layer_spectra"][layer][stat]["median"]


def _smoothing(table, role: str, base: str, seeds, E, layers):
    """Per statistic: per layer the comparison "role < base" at E, and the statistic's majority verdict."""
    stats, comps = {}, []
    for stat in STATISTICS:
        per = {}
        for layer in layers:
            c = compare(f"{stat}, layer {layer}: {role} < {base}", values_at(table, role, seeds, E, _spec(stat, layer)),
                        values_at(table, base, seeds, E, _spec(stat, layer)), seeds)
            comps.append(c)
            per[layer] = c
        stats[stat] = {"verdict": majority(c.verdict for c in per.values()),
                       "layers": {k: {"verdict": c.verdict, "effect": c.effect, "interval": c.interval,
                                      "n_for": c.n_for, "n_against": c.n_against} for k, c in per.items()}}
    return stats, comps


def judge_layer_smoothing(table: dict) -> ClaimVerdict:
    """The verdict of layer-smoothing (SPEC.md): at the last epoch, for every rectified layer and each of
    :data:`STATISTICS` of its Jacobian's singular values, at(eps_3) below ce over paired seeds; Spearman's
    rho against the training eps beside it; the regularizers and round 2's defenses as sub-verdicts."""
    s = table["settings"]
    E = s.epochs
    layers = _layers(table, E)
    seeds = _seeds(table, _EPS_ROLES)
    stats, comps = _smoothing(table, "at(eps3)", "ce", seeds, E, layers)
    eps = (0.0, *s.eps_grid)
    rho = {}
    for stat in STATISTICS:
        rho[stat] = {}
        for layer in layers:
            xs, ys = [], []
            for role, e in zip(_EPS_ROLES, eps):
                for v in values_at(table, role, seeds, E, _spec(stat, layer)):
                    if not math.isnan(v):
                        xs.append(e)
                        ys.append(v)
            rho[stat][layer] = spearman(xs, ys)
    sub = {}
    for role in _SUB + _SUB2:                          # round 2's defenses only where the run has them
        if role in table["runs"]:
            st, _ = _smoothing(table, role, "ce", _seeds(table, ("ce", role)), E, layers)
            sub[role] = {"verdict": combine(v["verdict"] for v in st.values()), "statistics": st}
    return ClaimVerdict(claim=LAYER_SMOOTHING, data=s.data, verdict=combine(v["verdict"] for v in stats.values()),
                        comparisons=tuple(comps), groups={"statistics": stats, "spearman": rho},
                        sub_verdicts=sub, notes=(f"E = epoch {E}; eps_3 = {s.eps_grid[-1]:.4g}; layers {', '.join(layers)}; "
                                                 f"spectra over the first {s.n_spectra} evaluation points",))


def judge_confidence(table: dict) -> ClaimVerdict:
    """The verdict of confidence-concentration (SPEC.md): at the last epoch, at(eps_3) against the ce run
    (at(0)) over paired seeds: (1) lower clean accuracy, (2) lower median output margin, (3) lower median
    confidence, (4) a larger share of points with confidence below 1/2; round 2's defenses as sub-verdicts."""
    s = table["settings"]
    E = s.epochs
    seeds = _seeds(table, ("ce", "at(eps3)"))
    acc = lambda m: m["clean_accuracy"]
    low = lambda m: m["confidence_below_half"]
    e3 = f"at({s.eps_grid[-1]:.4g})"
    comps = [
        compare(f"(1) clean acc {e3} < at(0)", values_at(table, "at(eps3)", seeds, E, acc), values_at(table, "ce", seeds, E, acc), seeds),
        compare(f"(2) median output margin {e3} < at(0)", values_at(table, "at(eps3)", seeds, E, median_of("output_margin")),
                values_at(table, "ce", seeds, E, median_of("output_margin")), seeds),
        compare(f"(3) median confidence {e3} < at(0)", values_at(table, "at(eps3)", seeds, E, median_of("confidence")),
                values_at(table, "ce", seeds, E, median_of("confidence")), seeds),
        compare(f"(4) share conf < 0.5: at(0) < {e3}", values_at(table, "ce", seeds, E, low),
                values_at(table, "at(eps3)", seeds, E, low), seeds),
    ]
    sub = {}
    for role in _SUB2:                                 # round 2: the same four comparisons with trades(eps_3)
        if role in table["runs"]:
            sd = _seeds(table, ("ce", role))
            name = role.replace("(eps3)", f"({s.eps_grid[-1]:.4g})")
            cs = [compare(f"(1) clean acc {name} < at(0)", values_at(table, role, sd, E, acc), values_at(table, "ce", sd, E, acc), sd),
                  compare(f"(2) median output margin {name} < at(0)", values_at(table, role, sd, E, median_of("output_margin")),
                          values_at(table, "ce", sd, E, median_of("output_margin")), sd),
                  compare(f"(3) median confidence {name} < at(0)", values_at(table, role, sd, E, median_of("confidence")),
                          values_at(table, "ce", sd, E, median_of("confidence")), sd),
                  compare(f"(4) share conf < 0.5: at(0) < {name}", values_at(table, "ce", sd, E, low),
                          values_at(table, role, sd, E, low), sd)]
            sub[role] = {"verdict": combine(c.verdict for c in cs), "comparisons": [c.to_dict() for c in cs]}
    return ClaimVerdict(claim=CONFIDENCE, data=s.data, verdict=combine(c.verdict for c in comps),
                        comparisons=tuple(comps), groups={}, sub_verdicts=sub,
                        notes=(f"E = epoch {E}; at(0) is the ce run (PGD with eps = 0 is the clean point)",))
