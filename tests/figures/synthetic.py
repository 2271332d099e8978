"""A synthetic sweep results file for the figure tests (test_figures, test_lab_figures): every record kind
the figures read, built from :class:`Gap` objects with plausible numbers and written with
:func:`verify.results.records.write_record`, so the figures are tested without running a sweep."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from verify.results.gap import Gap
from verify.results.records import network_record, write_record

IDENTITY_CHECKS = {
    "input-gradient": ["grad L = J^T (p - e_y)", "grad L = sum_{j != y} p_j (w_j - w_y)"],
    "hessian-gauss-newton": ["hess L = J^T S J", "tr S = 1 - |p|^2"],
    "cross-lipschitz-centered-jacobian": ["CL = 2K |CJ|_F^2", "CL = 2K |J|_F^2 - 2 |J^T 1|^2"],
    "hessian-trace-weighted-cross-lipschitz": ["tr H = <G, S>", "tr H = E_p |grad L|^2"],
    "curvature-soft-label-gradient": ["grad L(x + hz) - grad L(x) = J^T (p' - p)"],
    "gram-unification": ["R = <G, M>"],
    "euler-homogeneous": ["f = J x"],
    "effective-margin": ["gamma invariant under logit scaling"],
}
IG_LINKS = ["IG <= |p-e|^2 |CJ|_2^2", "|p-e|^2 |CJ|_2^2 <= |p-e|^2 CL/(2K)", "|p-e|^2 CL/(2K) <= |p-e|^2 |J|_F^2",
            "IG <= (1-p_y) sum_j p_j |w_j - w_y|^2", "(1-p_y) sum_j p_j |w_j - w_y|^2 <= (1-p_y) CL/2"]
MARGIN_LINKS = ["min(gamma_O / max_j |w_y - w_j|, r) <= distance", "max_j |w_y - w_j| <= sqrt2 |J|_2",
                "sqrt2 |J|_2 <= sqrt2 prod_l |J_l|_2"]
HS = [float(h) for h in np.logspace(-4, math.log10(3), 13)]
CS = [float(c) for c in np.logspace(-1, 2, 25)]
TS = [float(t) for t in np.logspace(-2, 2, 33)]
UNIT = {"float64": 2.0 ** -53, "float32": 2.0 ** -24}
RUNS = [("mlp-20x30x7-leaky0.1", "float64", "cpu"), ("mlp-20x30x7-leaky0.1", "float32", "cpu"),
        ("cnn-1x8x8-c4x8-relu", "float64", "cpu"), ("cnn-1x8x8-c4x8-relu", "float32", "cpu"),
        ("maxout-12x16x5-p3", "float64", "cpu"), ("resnet-16-b2-abs", "float32", "cuda")]


def _softmax(f):
    e = np.exp(f - f.max())
    return e / e.sum()


def _record(k: int, arch: str, dtype: str, device: str, n: int = 12) -> dict:
    """One synthetic results record: every gap kind that the figures read, for one network and dtype."""
    rng = np.random.default_rng(k)
    u = UNIT[dtype]
    common = dict(dtype=dtype, device=device, seed=k, arch=arch)
    gaps = []
    kinks = [i == 0 and k % 2 == 0 for i in range(n)]
    for claim, checks in IDENTITY_CHECKS.items():
        for check in checks:
            lhs = 10 ** rng.normal(0, 1, n)
            err = lhs * u * 10 ** rng.normal(0.3, 0.6, n) * (rng.random(n) > 0.15)
            rhs = lhs + err * rng.choice([-1, 1], n)
            bound = lhs * u * 40
            excluded = [claim == "curvature-soft-label-gradient" and i % 4 == 1 for i in range(n)]
            gaps.append(Gap(claim, check, "identity", lhs, rhs, bound, kink_distance=[0.0 if q else 0.1 for q in kinks],
                            excluded=excluded, **common))
    # local-affine: float J against exact J, entrywise
    K, D = 5, 8
    J = rng.normal(0, 1, (n, K, D)).ravel()
    err = np.abs(J) * u * 10 ** rng.normal(0.5, 0.6, J.size) * (rng.random(J.size) > 0.2)
    Jf = J + err * rng.choice([-1, 1], J.size)
    bound = (np.abs(J) + 0.5) * u * 30
    gaps.append(Gap("local-affine", "float J vs exact J", "identity", Jf, J, bound,
                    on_kink=[bool(kinks[i // (K * D)]) for i in range(J.size)], **common))
    # curvature-small-step and curvature-region-crossing, one gap per h
    tstar = 10 ** rng.normal(-1.3, 0.6, n)
    tstar[-1] = math.inf if k == 0 else tstar[-1]
    hz2 = 10 ** rng.normal(-1, 0.4, n)
    slope = rng.normal(0, 1, n)
    for h in HS:
        small = h * h * hz2
        inside = h < tstar
        noise = 2 * u * 3 / (h * np.sqrt(hz2)) * rng.normal(0, 1, n)
        in_region = small * (1 + 0.5 * h * slope + noise) ** 2
        pattern = np.where(inside, 0.0, ((h - np.minimum(tstar, h)) ** 2) * 10 ** rng.normal(0.7, 0.4, n))
        cure = in_region + pattern
        gaps.append(Gap("curvature-small-step", "R-CURE vs h^2 |Hz|^2", "measurement", cure, small, [0.0] * n,
                        pattern_changed=~inside, on_kink=kinks, extra={"h": h}, **common))
        gaps.append(Gap("curvature-region-crossing", "pattern-change share", "measurement", in_region, pattern,
                        [0.0] * n, pattern_changed=~inside, extra={"h": h, "share": list(pattern / cure),
                                                                   "exit_time": list(tstar)}, **common))
    # inequality links with their slack
    for claim, links in (("input-gradient-bounds", IG_LINKS), ("margin-lower-bound", MARGIN_LINKS)):
        for j, link in enumerate(links):
            rhs = 10 ** rng.normal(0, 0.5, n)
            rel = np.where(rng.random(n) < 0.1, 0.0, 10 ** rng.normal(-1.5 + 0.4 * j, 0.6, n).clip(max=1.0))
            lhs = rhs * (1 - rel)
            gaps.append(Gap(claim, link, "inequality", lhs, rhs, rhs * u * 10, on_kink=kinks, **common))
    # confident-limit: the regularizers of c f at one point
    Jp = rng.normal(0, 1, (3, 6))
    f = np.array([2.0, 0.5, -0.3])
    e = np.eye(3)[0]
    series = {name: [] for name in ("R-IG", "trH", "R-CURE", "R-JAC", "R-CL")}
    for c in CS:
        p = _softmax(c * f)
        Jc = c * Jp
        S = np.diag(p) - np.outer(p, p)
        g = Jc.T @ (p - e)
        z = np.sign(g) / np.linalg.norm(np.sign(g))
        H = Jc.T @ S @ Jc
        series["R-IG"].append(float(g @ g))
        series["trH"].append(float(np.trace(H)))
        series["R-CURE"].append(float(1e-4 * (H @ z) @ (H @ z)))
        series["R-JAC"].append(float((Jc ** 2).sum()))
        series["R-CL"].append(float(sum(((Jc[a] - Jc[b]) ** 2).sum() for a in range(3) for b in range(3))))
    gaps.append(Gap("confident-limit", "scale sweep", "measurement", [0.0], [0.0], [0.0],
                    extra={"c": CS, "series": series, "point": 0}, **common))
    # gram-unification: G and every M of one example
    Kg = 4
    Jg = rng.normal(0, 1, (Kg, 6))
    G = Jg @ Jg.T
    p = _softmax(rng.normal(0, 1.5, Kg))
    e = np.eye(Kg)[int(np.argmax(p))]
    S = np.diag(p) - np.outer(p, p)
    C = np.eye(Kg) - np.ones((Kg, Kg)) / Kg
    pt = _softmax(rng.normal(0, 1.5, Kg))
    Ms = {"R-JAC": np.eye(Kg), "R-CL": 2 * Kg * C, "R-IG": np.outer(p - e, p - e), "trH": S,
          "R-EMR": np.outer(pt, pt), "softmax-jacobian": S @ S}
    inner = {name: float((G * M).sum()) for name, M in Ms.items()}
    gaps.append(Gap("gram-unification", "matrices", "measurement", [0.0], [0.0], [0.0],
                    extra={"G": G.tolist(), "M": {n_: M.tolist() for n_, M in Ms.items()}, "inner": inner,
                           "definition": {n_: v * (1 + u * rng.normal()) for n_, v in inner.items()}, "point": 0},
                    **common))
    # emr-limits: R-EMR against the temperature
    Je = rng.normal(0, 1, (3, 6))
    fe = rng.normal(0, 2, 3)
    emr = [float(np.sum((Je.T @ _softmax(fe / T)) ** 2)) for T in TS]
    JF2, m = float(np.sum(Je ** 2)), float(np.sort(fe)[-1] - np.sort(fe)[-2])
    with np.errstate(over="ignore"):              # the hot bound overflows to inf at small T, as saved ones do
        hot_bound = [JF2 * float(np.expm1(np.ptp(fe) / T)) * (1 + 3 ** -0.5) / 3 ** 0.5 for T in TS]
    cold_bound = [2 * math.sqrt(2) * 2 * JF2 * math.exp(-m / T) for T in TS]
    gaps.append(Gap("emr-limits", "temperature sweep", "measurement", [0.0], [0.0], [0.0],
                    extra={"T": TS, "emr": emr, "hot_limit": float(np.sum(Je.sum(0) ** 2) / 9),
                           "cold_limit": float(np.sum(Je[int(np.argmax(fe))] ** 2)), "point": 0,
                           "hot_bound": hot_bound, "cold_bound": None if k == 2 else cold_bound}, **common))
    run = {"torch": "2.13.0", "device": device, "device_name": "synthetic", "dtype": dtype, "flags": {}, "seed": k}
    return network_record({"id": arch, "arch": arch.split("-")[0], "index": k, "device": device}, run, gaps)


def write_synthetic(path) -> Path:
    """Write the synthetic results file and return its path."""
    path = Path(path)
    for k, (arch, dtype, device) in enumerate(RUNS):
        write_record(path, _record(k, arch, dtype, device))
    return path
