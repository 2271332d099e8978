"""Fixtures of the figure tests: a real (tiny) training-lab results file.

The lab's figures are tested on what ``python -m verify dynamics`` writes: the synthetic data set, 2 seeds,
2 epochs, every claim (so every role), in this process; its records and the verdicts file it writes beside
them. About 10 s on two cores, once per test session. The fixture ``tueplots`` skips, alone, each test that
needs that optional package (the 'figures' extra).
"""

from __future__ import annotations

import contextlib
import io

import pytest

LAB_ARGS = ["--data", "synthetic", "--seeds", "2", "--epochs", "2", "--jobs", "1", "--no-progress"]


@pytest.fixture
def tueplots():
    """The tueplots module; the test that asks for it is skipped where tueplots is not installed."""
    return pytest.importorskip("tueplots", reason="the venue sizes come from tueplots (the 'figures' extra)")


@pytest.fixture(scope="session")
def lab_file(tmp_path_factory):
    """The path of a finished lab results file (and its ``.verdicts.json`` beside it)."""
    from verify.cli.dynamics import main

    path = tmp_path_factory.mktemp("lab") / "lab.jsonl"
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(LAB_ARGS + ["--out", str(path)])
    assert code == 0, "the lab fixture run failed"
    return path


@pytest.fixture(scope="session")
def lab(lab_file):
    """The lab results as the figures read them (records and saved verdicts)."""
    from figures.plots.lab_data import load_lab

    return load_lab(lab_file)


@pytest.fixture(scope="session")
def trained_file(lab_file, tmp_path_factory):
    """Checks of the lab fixture's checkpoints (``python -m verify --trained``): 4 points, float64, the
    region-crossing claim only (what the trained-crossing figure draws). A few seconds."""
    from verify.cli import main

    path = tmp_path_factory.mktemp("trained") / "trained.jsonl"
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["--trained", str(lab_file), "--points", "4", "--dtype", "float64", "--claims",
                     "curvature-region-crossing", "--out", str(path), "--no-progress"])
    assert code == 0, "the trained-check fixture run failed"
    return path


#: Round 2's roles that the round-2 fixture copies from a round-1 role (verify.dynamics.lab.ROLES2), and the
#: factor its effective margin is scaled by at the last epoch (so that the doses and defenses differ).
ROUND2_FROM = {"trades(eps2)": ("at(eps2)", 1.10), "trades(eps2)+emr": ("at(eps2)+emr", 1.20),
               "mart(eps2)": ("at(eps2)", 0.90), "mart(eps2)+emr": ("at(eps2)+emr", 0.95),
               "trades(eps3)": ("at(eps3)", 1.05), "at(eps2)+emr-official": ("at(eps2)+emr", 1.02),
               "ce+emr(x10)": ("ce+emr", 1.30), "ce+emr(x100)": ("ce+emr", 1.60),
               "at(eps2)+emr(x10)": ("at(eps2)+emr", 0.85), "at(eps2)+emr(x100)": ("at(eps2)+emr", 0.70)}


def _autoattack(m: dict, role: str, seed: int, settings) -> dict:
    """An ``autoattack`` measure of the last epoch, made up from the record's PGD numbers: AutoAttack breaks
    k more of the n points than PGD did (k from the role and seed), as a real one is never weaker."""
    n = int(m["n_eval"])
    out = {}
    for i, e in enumerate(settings.eps_grid):
        key = repr(float(e))
        pgd = float(m["robust_accuracy"][key])
        k = min(round(pgd * n), (len(role) + 3 * seed + i) % 4)
        out[key] = {"n": n, "robust_accuracy": pgd - k / n, "pgd_robust_accuracy": pgd, "broken_by_autoattack_only": k,
                    "broken_by_pgd_only": 0, "reported_not_confirmed": 0,
                    "settings": {"attack": "autoattack", "package": "pyautoattack 0.2.0", "version": "standard",
                                 "attacks": ["apgd-ce", "apgd-t", "fab-t", "square"], "norm": "inf", "eps": float(e),
                                 "apgd_iterations": 100, "apgd_restarts": 1, "apgd_t_iterations": 100,
                                 "target_classes": 9, "seed": 20261207, "box": [0.0, 1.0], "scale": [0.0, 1.0],
                                 "fab_t_iterations": 100, "square_queries": 5000},
                    "pgd_settings": {"attack": "pgd", "norm": "inf", "eps": float(e), "steps": settings.eval_steps,
                                     "step_size": 2.5 * float(e) / settings.eval_steps,
                                     "restarts": settings.eval_restarts, "random_start": True, "box": [0.0, 1.0]}}
    return out


@pytest.fixture(scope="session")
def lab2_file(lab_file, tmp_path_factory):
    """A round-2 lab results file and its verdicts, for the round-2 figures (emr-dose, attack-gap, the new rows).

    A real round-2 run (AutoAttack's standard version on every run) takes minutes even on the synthetic data set,
    so this one is made from the real round-1 fixture's records, with made-up numbers, clearly: the config says
    round 2 (the synthetic data set's :func:`verify.dynamics.settings.round2_for`); each new role of
    :data:`ROUND2_FROM` is a copy of a round-1 role's run, its final effective margins scaled by a factor; every
    run's last epoch gets an ``autoattack`` measure made up from its PGD numbers (:func:`_autoattack`); the
    exact-radius measures are the real ones. The verdicts are then judged and written by the lab's own
    :func:`verify.dynamics.report.judge_all` and :func:`~verify.dynamics.report.write_verdicts`."""
    import copy
    import json

    from verify.dynamics.lab import read_dynamics
    from verify.dynamics.report import judge_all, write_verdicts
    from verify.dynamics.settings import LabSettings, round2_for

    records = read_dynamics(lab_file)
    lab = dict(records[0]["run"]["lab"], round=2, round2=round2_for("synthetic").to_dict())
    s = LabSettings.from_dict(lab["settings"])
    E = s.epochs
    out = []
    for r in records:
        r = copy.deepcopy(r)
        r["run"]["lab"] = lab
        out.append(r)
    for role, (source, factor) in ROUND2_FROM.items():
        for r in [r for r in out if r["run"]["role"] == source]:
            c = copy.deepcopy(r)
            c["run"]["role"], c["run"]["id"] = role, r["run"]["id"] + "-as-" + role
            if c["epoch"] == E:
                c["metrics"].pop("exact_radius", None)         # measured on round 1's radius roles only
                em = c["metrics"]["effective_margin"]
                for q in ("mean", "q05", "q25", "median", "q75", "q95"):
                    em[q] *= factor * (1 + 0.01 * c["run"]["seed"])
            out.append(c)
    for r in out:
        if r["epoch"] == E:
            r["metrics"]["autoattack"] = _autoattack(r["metrics"], r["run"]["role"], r["run"]["seed"], s)
    path = tmp_path_factory.mktemp("lab2") / "lab2.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in out), encoding="utf-8")
    table, verdicts = judge_all(read_dynamics(path))
    write_verdicts(path, table, verdicts)
    return path


@pytest.fixture(scope="session")
def lab2(lab2_file):
    """The round-2 fixture's results as the figures read them."""
    from figures.plots.lab_data import load_lab

    return load_lab(lab2_file)
