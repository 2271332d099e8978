"""The training lab's figures (margin-dynamics, layer-spectra, confidence-concentration) and the venue sizes.

Each lab figure builds from a real lab results file (``conftest.lab_file``: the synthetic data set, 2 seeds,
2 epochs), plots exactly the saved values (the expected numbers are read from the raw JSON lines here, not
through the figures' code), names the saved verdict and the data set, and says clearly what is missing. The
venue sizes are compared with tueplots' own numbers.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from figures import (  # noqa: E402
    FIGURES,
    NoDataError,
    cli,  # noqa: E402
)
from figures.plots.lab_data import lab_results, load_lab  # noqa: E402

LAB_FIGURES = ("margin-dynamics", "layer-spectra", "confidence-concentration")
CLAIM_OF = {"margin-dynamics": "standard-training-small-margin", "layer-spectra": "layer-smoothing",
            "confidence-concentration": "confidence-concentration"}


def _raw(lab_file):
    return [json.loads(ln) for ln in Path(lab_file).read_text().splitlines() if ln.strip()]


def _final(raw, role):
    """seed -> the metrics of the last epoch of ``role``'s run, from the raw records."""
    E = raw[0]["run"]["epochs"]
    return {r["run"]["seed"]: r["metrics"] for r in raw if r["run"]["role"] == role and r["epoch"] == E}


def _lines(fig, gid):
    """The lines whose gid is ``gid``."""
    return [ln for ax in fig.axes for ln in ax.lines if ln.get_gid() == gid]


def _title(fig):
    return fig._suptitle.get_text()


def _notes(fig):
    """The figure's notes: drawn under its panels or (margin-dynamics) kept for its caption file."""
    return " ".join(getattr(fig, "caption_notes", [])[1:])


@pytest.fixture(scope="module")
def built(lab):
    return {name: FIGURES[name].draw(lab, tex=False) for name in LAB_FIGURES}


def test_the_lab_figures_read_the_lab(built):
    from matplotlib.figure import Figure

    for name in LAB_FIGURES:
        assert FIGURES[name].reads == "lab" and FIGURES[name].claims == (CLAIM_OF[name],)
        assert isinstance(built[name], Figure) and built[name].axes


def test_each_figure_names_its_saved_verdict_and_data_set(built, lab_file):
    saved = {v["claim"]: v["verdict"] for v in json.loads(lab_file.with_name("lab.verdicts.json").read_text())["verdicts"]}
    for name in LAB_FIGURES:
        title = _title(built[name])
        assert title.startswith(f"{CLAIM_OF[name]}: {saved[CLAIM_OF[name]]}\n"), title
        assert "data set synthetic" in title and "2 seeds" in title


def test_the_notes_list_every_saved_comparison(built, lab_file):
    body = json.loads(lab_file.with_name("lab.verdicts.json").read_text())
    for v in body["verdicts"]:
        if v["claim"] == "layer-smoothing":
            continue                                   # its verdicts sit in the panels (next test)
        notes = " ".join(_notes(built[[n for n, c in CLAIM_OF.items() if c == v["claim"]][0]]).split())
        for c in v["comparisons"]:
            assert f"{' '.join(c['name'].split())}: {c['verdict']} ({c['n_for']} for, {c['n_against']} against" in notes


def test_layer_spectra_panels_name_each_layer_verdict(built, lab_file):
    v = next(v for v in json.loads(lab_file.with_name("lab.verdicts.json").read_text())["verdicts"]
             if v["claim"] == "layer-smoothing")
    texts = {t.get_gid(): t.get_text() for ax in built["layer-spectra"].axes for t in ax.texts if t.get_gid()}
    for stat, g in v["groups"]["statistics"].items():
        for layer, d in g["layers"].items():
            assert texts[f"verdict|{stat}|{layer}"].startswith(f"{d['verdict'].lower()} ({d['n_for']}/{d['n_against']})")


def test_margin_dynamics_draws_the_saved_medians(built, lab_file):
    raw = _raw(lab_file)
    fig = built["margin-dynamics"]
    E = raw[0]["run"]["epochs"]
    for role in ("ce", "ce+emr", "at(eps2)", "at(eps2)+emr"):
        by_seed = {}
        for r in raw:
            if r["run"]["role"] == role:
                by_seed.setdefault(r["run"]["seed"], {})[r["epoch"]] = r["metrics"]["effective_weight_norm"]["median"]
        for seed, per in by_seed.items():
            (line,) = _lines(fig, f"seed|omega|{role}|{seed}")
            assert line.get_ydata().tolist() == [per[e] for e in range(E + 1)]
        (med,) = _lines(fig, f"median|omega|{role}")
        expected = [statistics.median(by_seed[s][e] for s in by_seed) for e in range(E + 1)]
        assert np.allclose(med.get_ydata(), expected, rtol=1e-15, atol=0)
        (cert,) = _lines(fig, f"seed|certified|{role}|0")
        assert cert.get_ydata().tolist() == [100 * r["metrics"]["certified_fraction"] for r in raw
                                              if r["run"]["role"] == role and r["run"]["seed"] == 0]


def test_layer_spectra_draws_the_saved_statistic_per_eps(built, lab_file):
    raw = _raw(lab_file)
    fig = built["layer-spectra"]
    roles = ("ce", "at(eps1)", "at(eps2)", "at(eps3)")
    finals = {role: _final(raw, role) for role in roles}
    eps = [0.0] + raw[0]["run"]["lab"]["settings"]["eps_grid"]
    layers = sorted(finals["ce"][0]["layer_spectra"])
    assert len(fig.axes) == 3 * len(layers)
    for stat in ("largest", "mean", "smallest_nonzero"):
        for layer in layers:
            for seed in (0, 1):
                (line,) = _lines(fig, f"seed|{stat}|{layer}|{seed}")
                assert line.get_xdata().tolist() == eps
                assert line.get_ydata().tolist() == [finals[r][seed]["layer_spectra"][layer][stat]["median"] for r in roles]


def test_confidence_concentration_draws_the_saved_values(built, lab_file):
    raw = _raw(lab_file)
    fig = built["confidence-concentration"]
    from figures.plots.confidence_concentration import logit

    for role in ("ce", "at(eps1)", "at(eps2)", "at(eps3)"):
        fin = _final(raw, role)
        (dots,) = _lines(fig, f"seed-median|confidence|{role}")
        assert np.array_equal(dots.get_ydata(), logit([fin[s]["confidence"]["median"] for s in sorted(fin)]))
        (dots,) = _lines(fig, f"seed-median|output_margin|{role}")
        assert dots.get_ydata().tolist() == [fin[s]["output_margin"]["median"] for s in sorted(fin)]
        # the violins are of the per-point values the lab kept, every seed pooled
        violin = [c for ax in fig.axes for c in ax.collections if c.get_gid() == f"violin|output_margin|{role}"]
        pooled = np.concatenate([fin[s]["points"]["output_margin"] for s in sorted(fin)])
        (v,) = violin
        ys = v.get_paths()[0].vertices[:, 1]
        assert np.isclose(ys.min(), pooled.min()) and np.isclose(ys.max(), pooled.max())
    (clean,) = _lines(fig, "acc|clean")
    expected = [100 * statistics.median(m["clean_accuracy"] for m in _final(raw, r).values())
                for r in ("ce", "at(eps1)", "at(eps2)", "at(eps3)")]
    assert np.allclose(clean.get_ydata(), expected, rtol=1e-15, atol=0)


def test_without_per_point_values_the_boxes_come_from_the_quantiles(lab_file):
    raw = _raw(lab_file)
    for r in raw:
        r["metrics"].pop("points", None)
    fig = FIGURES["confidence-concentration"].draw(lab_results(raw), tex=False)
    assert not [c for ax in fig.axes for c in ax.collections if (c.get_gid() or "").startswith("violin|")]
    texts = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "no per-point confidences saved" in texts and "no per-point margins saved" in texts
    # the box's median line is the median over the seeds of the saved medians
    fin = _final(raw, "at(eps3)")
    med = [ln for ln in _lines(fig, "box|output_margin|at(eps3)") if len(set(ln.get_ydata())) == 1]
    assert med
    assert statistics.median(m["output_margin"]["median"] for m in fin.values()) in {ln.get_ydata()[0] for ln in med}


def test_a_missing_verdicts_file_is_said_not_guessed(lab_file, tmp_path):
    lonely = tmp_path / "lab.jsonl"
    shutil.copy(lab_file, lonely)
    lab = load_lab(lonely)
    assert lab.verdicts == {} and "no saved verdict" in lab.verdict_note
    fig = FIGURES["margin-dynamics"].draw(lab, tex=False)
    assert _title(fig).startswith("standard-training-small-margin: no saved verdict (")


def test_a_verdicts_file_of_another_run_is_not_used(lab_file, tmp_path):
    other = tmp_path / "lab.jsonl"
    shutil.copy(lab_file, other)
    body = json.loads(lab_file.with_name("lab.verdicts.json").read_text())
    body["config"]["seeds"] = 7
    other.with_name("lab.verdicts.json").write_text(json.dumps(body))
    lab = load_lab(other)
    assert lab.verdicts == {} and "another run" in lab.verdict_note


def test_a_missing_role_names_the_role(lab_file):
    raw = [r for r in _raw(lab_file) if r["run"]["role"] != "at(eps2)+emr"]
    with pytest.raises(NoDataError, match=re.escape("no finished at(eps2)+emr run(s), which margin-dynamics needs")):
        FIGURES["margin-dynamics"].draw(lab_results(raw), tex=False)
    raw = [r for r in _raw(lab_file) if r["run"]["role"] != "at(eps3)"]
    for name in ("layer-spectra", "confidence-concentration"):
        with pytest.raises(NoDataError, match=re.escape(f"no finished at(eps3) run(s), which {name} needs")):
            FIGURES[name].draw(lab_results(raw), tex=False)


def test_confidence_concentration_needs_only_its_claims_runs(lab_file):
    raw = [r for r in _raw(lab_file) if r["run"]["role"] in ("ce", "at(eps3)")]
    fig = FIGURES["confidence-concentration"].draw(lab_results(raw), tex=False)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["0", "0.2"]


@pytest.mark.parametrize("metric,name", [("effective_weight_norm", "margin-dynamics"),
                                         ("layer_spectra", "layer-spectra"),
                                         ("output_margin", "confidence-concentration")])
def test_a_missing_metric_names_the_metric(lab_file, metric, name):
    raw = _raw(lab_file)
    for r in raw:
        r["metrics"].pop(metric, None)
    with pytest.raises(NoDataError, match=f"lack the metric {metric}"):
        FIGURES[name].draw(lab_results(raw), tex=False)


def test_sweep_records_are_not_lab_results(tmp_path):
    from verify.results.records import ResultsError

    with pytest.raises(NoDataError, match="no records"):
        lab_results([])
    bad = tmp_path / "sweep.jsonl"
    bad.write_text(json.dumps({"schema": "relu-regularizer-verification/results/1", "gaps": []}) + "\n")
    with pytest.raises(ResultsError, match="not a lab results record"):
        load_lab(bad)


# ---- the command line ---------------------------------------------------------------------------
def _main(argv, capsys):
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_builds_the_lab_figures_from_dynamics(lab_file, tmp_path, capsys, monkeypatch):
    def no_sweep(*a, **k):
        raise AssertionError("the lab's figures must not run the sweep")

    monkeypatch.setattr(cli, "_quick_sweep", no_sweep)
    monkeypatch.setenv("REGFIGURES_USETEX", "0")
    code, out, err = _main(["--dynamics", str(lab_file), "--out", str(tmp_path), "--only", *LAB_FIGURES,
                            "--format", "png", "--dpi", "50", "--no-progress"], capsys)
    assert code == 0, err
    for name in LAB_FIGURES:          # both formats of every figure: test_figures.py's all-figure CLI tests
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
    assert f"lab record(s) from {lab_file}" in err


@pytest.mark.parametrize("kind", ["missing", "folder", "sweep"])
def test_cli_bad_dynamics_file_is_one_line(tmp_path, capsys, kind):
    path = {"missing": tmp_path / "none.jsonl", "folder": tmp_path, "sweep": tmp_path / "s.jsonl"}[kind]
    if kind == "sweep":
        path.write_text(json.dumps({"schema": "relu-regularizer-verification/results/1", "gaps": []}) + "\n")
    code, _, err = _main(["--dynamics", str(path), "--out", str(tmp_path / "o"), "--only", "layer-spectra",
                          "--no-progress"], capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert {"missing": "no lab results file", "folder": "is a folder", "sweep": "not a lab results record"}[kind] in err


def test_cli_without_dynamics_runs_the_quick_lab(lab_file, tmp_path, capsys, monkeypatch):
    import verify.cli.dynamics

    calls = []

    def fake_lab(argv):
        calls.append(list(argv))
        out = Path(argv[argv.index("--out") + 1])
        shutil.copy(lab_file, out)
        shutil.copy(lab_file.with_name("lab.verdicts.json"), out.with_name(out.stem + ".verdicts.json"))
        print("the lab's report")
        return 0

    monkeypatch.setattr(verify.cli.dynamics, "main", fake_lab)
    code, out, err = _main(["--out", str(tmp_path), "--only", "margin-dynamics", "--format", "png", "--no-progress"],
                           capsys)
    assert code == 0, err
    quick = tmp_path / "quick-dynamics.jsonl"
    assert calls == [["--out", str(quick), "--resume", "--no-progress"]]
    assert "the lab's report" in err and "the lab's report" not in out     # its report goes to stderr
    assert (tmp_path / "margin-dynamics.png").exists()
    # a second call finds it there: the lab is asked to finish it (resume), which costs nothing when it is done
    code, out, err = _main(["--out", str(tmp_path), "--only", "margin-dynamics", "--format", "png", "--no-progress"],
                           capsys)
    assert code == 0 and len(calls) == 2 and "finishing the quick training lab" in err


def test_cli_quick_lab_failure_is_one_line(tmp_path, capsys, monkeypatch):
    import verify.cli.dynamics

    monkeypatch.setattr(verify.cli.dynamics, "main", lambda argv: 2)
    code, _, err = _main(["--out", str(tmp_path), "--only", "layer-spectra", "--no-progress"], capsys)
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: the quick training lab could not run") and "--dynamics FILE" in last


# ---- venues ---------------------------------------------------------------------------------------


def test_icml2024_widths_and_font_sizes_are_tueplots(lab, capsys, tueplots):
    from tueplots import figsizes, fontsizes

    from figures.style import DOUBLE, SINGLE, figure, style, venue

    v = venue("icml2024")
    half, full = figsizes.icml2024_half()["figure.figsize"][0], figsizes.icml2024_full()["figure.figsize"][0]
    assert (v.single, v.double) == (half, full) and v.fonts == fontsizes.icml2024()
    with style(venue="icml2024"):
        assert figure(SINGLE).get_figwidth() == half and figure(DOUBLE).get_figwidth() == full
        assert matplotlib.rcParams["xtick.labelsize"] == fontsizes.icml2024()["xtick.labelsize"]
    # a one-column venue: its text width for both
    n = figsizes.neurips2024()["figure.figsize"][0]
    assert (venue("neurips2024").single, venue("neurips2024").double) == (n, n)


def test_every_figure_gets_the_icml_width(lab, lab2, trained_file, tueplots):
    """Every figure, drawn for icml2024, is one column or the full text width wide, as tueplots says."""
    import tempfile

    from tueplots import figsizes

    from tests.figures.synthetic import write_synthetic
    from verify.results.records import read_results

    with tempfile.TemporaryDirectory() as d:
        results = read_results(write_synthetic(Path(d) / "s.jsonl"))
    half, full = figsizes.icml2024_half()["figure.figsize"][0], figsizes.icml2024_full()["figure.figsize"][0]
    widths = {}
    for name, spec in FIGURES.items():
        data = ({"lab": lab2 if name in ("emr-dose", "attack-gap") else lab,
                 "trained": read_results(trained_file) + results}.get(spec.reads, results)
                if spec.needs_results else None)
        widths[name] = spec.draw(data, tex=False, venue="icml2024").get_figwidth()
    assert set(widths.values()) == {half, full}, widths
    # one-column figures (3.3 in by default) get the column, the others the text width
    assert widths["confident-limit"] == widths["float-error"] == half
    assert all(widths[n] == full for n in ("gap-overview", "geometry", *LAB_FIGURES, "emr-dose", "attack-gap"))


def test_cli_venue_writes_pdfs_at_the_column_width(lab_file, tmp_path, capsys, monkeypatch, tueplots):
    from tueplots import figsizes

    from tests.figures.synthetic import write_synthetic

    monkeypatch.setenv("REGFIGURES_USETEX", "0")
    code, out, err = _main(["--dynamics", str(lab_file), "--out", str(tmp_path), "--only", "layer-spectra",
                            "confident-limit", "--venue", "icml2024", "--format", "pdf", "--no-progress",
                            "--results", str(write_synthetic(tmp_path / "s.jsonl"))], capsys)
    assert code == 0, err
    assert "sizing for icml2024 (tueplots)" in err
    for name, size in (("layer-spectra", figsizes.icml2024_full), ("confident-limit", figsizes.icml2024_half)):
        box = re.search(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", (tmp_path / f"{name}.pdf").read_bytes())
        assert abs(float(box.group(1)) - 72 * size()["figure.figsize"][0]) < 0.01, (name, box.group(0))


def test_cli_unknown_venue(capsys, tueplots):
    code, _, err = _main(["--venue", "icml2099", "--only", "geometry"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "unknown venue 'icml2099'; tueplots knows: " in err and "icml2024" in err and "neurips2024" in err


def test_cli_venue_without_tueplots_is_one_line(capsys, monkeypatch):
    import builtins

    from figures.style import venue

    real = builtins.__import__

    def no_tueplots(name, *a, **k):
        if name == "tueplots" or name.startswith("tueplots."):
            raise ImportError("No module named 'tueplots'")
        return real(name, *a, **k)

    venue.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_tueplots)
    try:
        code, _, err = _main(["--venue", "icml2024", "--only", "geometry"], capsys)
    finally:
        venue.cache_clear()
    assert code == 2 and err.count("\n") == 1
    assert err.strip() == 'error: --venue needs tueplots, which is not installed: pip install -e ".[figures]"'
