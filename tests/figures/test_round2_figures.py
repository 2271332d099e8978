"""The round-2 lab figures (emr-dose, attack-gap) on the round-2 fixture (``conftest.lab2_file``: round-1 records
made into round 2's, their AutoAttack numbers made up, the verdicts judged by the lab itself): the values drawn
are the saved ones, recomputed here from the raw JSON lines (never through the figures' code); round-1 results
get a one-line message naming ``--round 2``."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

from figures import FIGURES, NoDataError  # noqa: E402
from figures.plots.lab_data import lab_results, load_lab  # noqa: E402

ROUND2 = ("emr-dose", "attack-gap")


def _raw(path):
    return [json.loads(ln) for ln in Path(path).read_text().splitlines() if ln.strip()]


def _final(raw, role):
    E = raw[0]["run"]["lab"]["settings"]["epochs"]
    return {r["run"]["seed"]: r["metrics"] for r in raw if r["run"]["role"] == role and r["epoch"] == E}


def _lines(fig, gid):
    return [ln for ax in fig.axes for ln in ax.lines if ln.get_gid() == gid]


def _one(fig, gid):
    found = _lines(fig, gid)
    assert len(found) == 1, (gid, len(found))
    return found[0]


def _texts(fig):
    return {t.get_gid(): t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid()}


def _saved_dose(path) -> dict:
    body = json.loads(Path(path).with_name(Path(path).stem + ".verdicts.json").read_text())
    v = next(v for v in body["verdicts"] if v["claim"] == "standard-training-small-margin")
    return v["sub_verdicts"]["dose-response"]


@pytest.fixture(scope="module")
def drawn(lab2):
    return {name: FIGURES[name].draw(lab2, tex=False) for name in ROUND2}


def test_both_are_registered_as_lab_figures_of_the_margin_claim():
    for name in ROUND2:
        assert FIGURES[name].reads == "lab" and FIGURES[name].claims == ("standard-training-small-margin",)


PAIRS = {("gamma", "standard"): ("(4)", "ce", "ce+emr", "effective_margin"),
         ("robust", "standard"): ("(5)", "ce", "ce+emr", "autoattack"),
         ("gamma", "adversarial"): ("(6)", "at(eps2)", "at(eps2)+emr", "effective_margin"),
         ("robust", "adversarial"): ("(7)", "at(eps2)", "at(eps2)+emr", "autoattack")}


def test_emr_dose_draws_the_saved_effects_which_are_the_records_ratios(drawn, lab2_file):
    raw = _raw(lab2_file)
    lab = raw[0]["run"]["lab"]
    lam0, eps2 = lab["settings"]["lam"]["emr"], repr(float(lab["settings"]["eps_grid"][1]))
    dr = _saved_dose(lab2_file)
    fig = drawn["emr-dose"]
    texts = _texts(fig)
    value = {"effective_margin": lambda m: m["effective_margin"]["median"],
             "autoattack": lambda m: m["autoattack"][eps2]["robust_accuracy"]}
    checked = 0
    for (measure, family), (number, base, treated, key) in PAIRS.items():
        label = next(k for k in dr["comparisons"] if k.startswith(number + " "))
        for e in dr["comparisons"][label]:
            d = e["dose"]
            gid = f"{measure}|{family}|x{d:g}"
            c = e["comparison"]
            # the saved effect is the median over seeds of B/A of the records (computed here from the raw lines)
            a, b = _final(raw, base), _final(raw, treated if d == 1 else f"{treated}(x{d:g})")
            ratios = [value[key](b[s]) / value[key](a[s]) for s in sorted(a)]
            if all(math.isfinite(r) and r > 0 for r in ratios) and all(value[key](a[s]) > 0 for s in a):
                assert math.isclose(c["effect"], statistics.median(ratios), rel_tol=1e-12), gid
            if c["effect"] is None:
                assert texts[f"no-effect|{gid}"] == "no ratio" and not _lines(fig, f"effect|{gid}")
                continue
            pt = _one(fig, f"effect|{gid}")
            assert pt.get_xdata().tolist() == [lam0 * d] and pt.get_ydata().tolist() == [c["effect"]]
            bar = _one(fig, f"interval|{gid}")
            assert bar.get_xdata().tolist() == [lam0 * d] * 2 and bar.get_ydata().tolist() == list(c["interval"])
            assert texts[f"result|{gid}"] == e["result"]
            filled = pt.get_markerfacecolor() != "white"
            assert filled == (e["result"] in ("helps", "hurts"))
            checked += 1
    assert checked >= 6
    for measure, c in zip(("gamma", "robust"), dr["official"]):
        assert c["name"].startswith("gamma") == (measure == "gamma")
        if c["effect"] is not None:
            assert _one(fig, f"effect|{measure}|official").get_ydata().tolist() == [c["effect"]]
            assert texts[f"result|{measure}|official"] == c["verdict"].lower()
    # every dose's Holm-corrected result, and the attack's settings, in the notes
    notes = " ".join(" ".join(fig.caption_notes).split())
    for label, entries in dr["comparisons"].items():
        for e in entries:
            assert f"x{e['dose']:g} (lambda {lam0 * e['dose']:.3g}) {e['result']} (for/against " in notes
    assert "official arm: convention emr-official" in notes and "not on the lambda axis" in notes
    assert "AutoAttack standard (pyautoattack 0.2.0: apgd-ce, apgd-t, fab-t, square" in notes


def test_emr_dose_official_arm_is_apart_from_the_lambda_axis(drawn):
    fig = drawn["emr-dose"]
    ax = _one(fig, "effect|gamma|official").axes
    assert ax.get_xscale() == "linear" and [t.get_text() for t in ax.get_xticklabels()][0].startswith("official")
    assert _one(fig, "effect|gamma|standard|x1").axes.get_xscale() == "log"


def test_attack_gap_draws_the_records_medians_and_the_exact_intervals(drawn, lab2_file):
    raw = _raw(lab2_file)
    grid = raw[0]["run"]["lab"]["settings"]["eps_grid"]
    fig = drawn["attack-gap"]
    roles = list(dict.fromkeys(r["run"]["role"] for r in raw))
    ticks = [t.get_text() for t in fig.axes[-1].get_xticklabels()]
    assert len(ticks) == len(roles) == 20
    radius = 0
    for role in roles:
        fin = _final(raw, role)
        for e in grid:
            key = repr(float(e))
            for what, field in (("autoattack", "robust_accuracy"), ("pgd", "pgd_robust_accuracy")):
                vals = [100 * fin[s]["autoattack"][key][field] for s in sorted(fin)]
                assert sorted(_one(fig, f"seed|{what}|{key}|{role}").get_ydata().tolist()) == sorted(vals)
                med = _one(fig, f"median|{what}|{key}|{role}").get_ydata().tolist()
                assert math.isclose(med[0], statistics.median(vals), rel_tol=1e-12)
            if all("exact_radius" in m for m in fin.values()):
                ex = [fin[s]["exact_radius"]["exact_robust_accuracy"][key] for s in sorted(fin)]
                bar = _one(fig, f"exact|{key}|{role}").get_ydata().tolist()
                want = [100 * statistics.median(v["fraction"] for v in ex),
                        100 * statistics.median(v["fraction_upper"] for v in ex)]
                assert all(math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12) for x, y in zip(bar, want)), (role, key)
                radius += 1
            else:
                assert not _lines(fig, f"exact|{key}|{role}")
    assert radius == 4 * len(grid)             # ce, ce+emr, at(eps2), at(eps2)+emr
    notes = " ".join(" ".join(fig.caption_notes).split())
    assert "AutoAttack standard (pyautoattack 0.2.0: apgd-ce, apgd-t, fab-t, square; l-inf, each row's eps; APGD 100" in notes
    steps = raw[0]["run"]["lab"]["settings"]["eval_steps"]
    assert f"PGD-{steps} (l-inf, each row's eps, step {2.5 / steps:.4g} eps" in notes
    assert "complete l-inf verification" in notes


@pytest.mark.parametrize("name", ROUND2)
def test_round1_results_say_they_need_round2(lab, name):
    with pytest.raises(NoDataError, match=r"needs the results of round 2 \(python -m verify dynamics --round 2") as exc:
        FIGURES[name].draw(lab, tex=False)
    assert "\n" not in str(exc.value)


def test_emr_dose_without_a_saved_verdict_says_so(lab2_file):
    from verify.dynamics.lab import read_dynamics

    bare = lab_results(read_dynamics(lab2_file))
    with pytest.raises(NoDataError, match="reads the saved verdict of standard-training-small-margin: no saved verdict"):
        FIGURES["emr-dose"].draw(bare, tex=False)
    assert FIGURES["attack-gap"].draw(bare, tex=False).axes           # attack-gap reads the records alone


def test_the_cli_draws_both_from_the_round2_file(lab2_file, tmp_path, capsys, monkeypatch):
    from figures import cli

    monkeypatch.setenv("REGFIGURES_USETEX", "0")
    code = cli.main(["--dynamics", str(lab2_file), "--out", str(tmp_path), "--only", *ROUND2, "--format", "png",
                     "--dpi", "40", "--no-progress"])
    capsys.readouterr()
    assert code == 0
    for name in ROUND2:
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
        assert (tmp_path / f"{name}.caption.txt").read_text().startswith(FIGURES[name].caption[:30])
    assert load_lab(lab2_file).table["config"]["round"] == 2


@pytest.mark.parametrize("name", ["layer-spectra", "confidence-concentration"])
def test_trades_eps3_is_drawn_in_round2_and_absent_from_round1(lab, lab2, lab2_file, name):
    """Round 2 adds trades(eps3) (its median in its own colour, its sub-verdict in the notes); round-1 results
    draw no such artist, and the same number of axes as before."""
    from matplotlib.colors import to_hex

    from figures.style import objective_colour

    one, two = FIGURES[name].draw(lab, tex=False), FIGURES[name].draw(lab2, tex=False)
    gids = lambda f: [ln.get_gid() or "" for ax in f.axes for ln in ax.lines]  # noqa: E731
    assert not any("trades" in g for g in gids(one)) and "TRADES" not in " ".join(one.caption_notes)
    assert len(one.axes) == len(two.axes)
    if name == "layer-spectra":
        raw = _raw(lab2_file)
        fin = _final(raw, "trades(eps3)")
        layer = sorted(next(iter(fin.values()))["layer_spectra"])[0]
        pt = _one(two, f"median-point|largest|{layer}|trades(eps3)")
        want = statistics.median(m["layer_spectra"][layer]["largest"]["median"] for m in fin.values())
        assert math.isclose(pt.get_ydata()[0], want, rel_tol=1e-12)
        assert to_hex(pt.get_color()) == to_hex(objective_colour("trades(eps3)"))
    else:
        assert any(g.startswith("violin|confidence|trades(eps3)") or g.startswith("box|confidence|trades(eps3)")
                   for g in gids(two) + [c.get_gid() or "" for ax in two.axes for c in ax.collections])
    assert "TRADES" in " ".join(two.caption_notes)


def test_margin_dynamics_adds_a_row_per_round2_pair_with_the_records_medians(lab, lab2, lab2_file):
    """Round 2 adds the rows TRADES(eps_2) vs +EMR and MART(eps_2) vs +EMR, each line the median over the seeds of
    the raw records' effective margin; round-1 results keep their two rows."""
    one, two = FIGURES["margin-dynamics"].draw(lab, tex=False), FIGURES["margin-dynamics"].draw(lab2, tex=False)
    assert len(one.axes) == 8 and len(two.axes) == 16
    raw = _raw(lab2_file)
    E = raw[0]["run"]["lab"]["settings"]["epochs"]
    for role in ("trades(eps2)", "trades(eps2)+emr", "mart(eps2)", "mart(eps2)+emr"):
        line = _one(two, f"median|gamma|{role}")
        finals = [r["metrics"]["effective_margin"]["median"] for r in raw
                  if r["run"]["role"] == role and r["epoch"] == E]
        assert math.isclose(line.get_ydata()[E], statistics.median(finals), rel_tol=1e-12)
        assert not _lines(one, f"median|gamma|{role}")
    assert "further rows: trades(eps2) against trades(eps2)+emr" in " ".join(two.caption_notes)
