"""The figures: each builds from a results file, plots exactly the saved values, and the command line
fails clearly on bad input.

The results file here is synthetic: every record kind the figures read, built from :class:`Gap`
objects with plausible numbers (written with :func:`verify.results.records.write_record`, by
:func:`tests.figures.synthetic.write_synthetic`), so the figures are tested without running a sweep.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from verify.results.gap import RESULTS_SCHEMA, Gap
from verify.results.records import read_results

matplotlib.use("Agg")

from figures import (  # noqa: E402
    FIGURES,
    NoDataError,
    cli,  # noqa: E402
)
from figures.plots.sweep_data import interior  # noqa: E402

from .synthetic import write_synthetic  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def results_file(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("results") / "synthetic.jsonl")


@pytest.fixture(scope="module")
def results(results_file):
    return read_results(results_file)


@pytest.fixture(scope="module")
def trained(trained_file, results):
    """What the trained-crossing figure reads: the checks of the lab fixture's checkpoints, then the sweep's."""
    return read_results(trained_file) + results


#: The lab figures that read round 2's results (python -m verify dynamics --round 2).
ROUND2_FIGURES = ("emr-dose", "attack-gap")


def _input(spec, results, lab, trained=None, lab2=None):
    """What the figure ``spec`` reads: the sweep's records, the lab's results (round 2's for the figures of
    :data:`ROUND2_FIGURES`), the trained checks beside the sweep's, or nothing."""
    if not spec.needs_results:
        return None
    if spec.name in ROUND2_FIGURES:
        return lab2
    return {"lab": lab, "trained": trained}.get(spec.reads, results)


@pytest.fixture(scope="module")
def built(results, lab, trained, lab2):
    """Every figure, built once."""
    figs = {name: spec.function(_input(spec, results, lab, trained, lab2)) for name, spec in FIGURES.items()}
    yield figs


# ---- every figure builds, and plots the saved values ---------------------------------------------
def test_registry_names_and_captions():
    assert list(FIGURES) == ["gap-overview", "curvature-small-step", "geometry", "input-gradient-bounds",
                             "confident-limit", "gram-unification", "emr-limits", "float-error", "margin-dynamics",
                             "layer-spectra", "confidence-concentration", "emr-dose", "attack-gap", "trained-crossing",
                             "robust-radius"]
    for name, spec in FIGURES.items():
        fn, caption = spec
        assert fn.__name__ == "fig_" + name.replace("-", "_")
        assert caption and spec.summary and "\n" not in spec.summary


def test_every_figure_builds(built):
    from matplotlib.figure import Figure

    for name, fig in built.items():
        assert isinstance(fig, Figure), name
        assert fig.axes, name


def _collections(fig, prefix):
    return [c for ax in fig.axes for c in ax.collections if (c.get_gid() or "").startswith(prefix)]


def _lines(fig, prefix):
    return [ln for ax in fig.axes for ln in ax.lines if (ln.get_gid() or "").startswith(prefix)]


def _interior_gob(g):
    gob = g.gap_over_bound
    return [gob[i] for i in interior(g)]


def _dots(fig, key=""):
    """Every dot of the gap overview, filled (informative) and hollow (uninformative), for gid suffix key."""
    return np.concatenate([c.get_offsets()[:, 0] for part in ("points|", "uninformative|")
                           for c in _collections(fig, part + key)])


def test_gap_overview_plots_every_interior_identity_point(built, results):
    fig = built["gap-overview"]
    gaps = [g for r in results for g in r["gaps"] if g.kind == "identity"]
    expected = [v for g in gaps for v in _interior_gob(g)]
    plotted = _dots(fig)
    assert len(plotted) == len(expected) == sum(len(interior(g)) for g in gaps)
    # the hollow dots are exactly the uninformative interior points
    hollow = [c.get_offsets()[:, 0] for c in _collections(fig, "uninformative|")]
    n_hollow = sum(len(h) for h in hollow)
    assert n_hollow == sum(len(interior(g)) - g.n_informative for g in gaps)
    assert max(plotted) == max(expected)
    # the zeros sit at the floor, below every positive value
    n_zero = sum(1 for v in expected if v == 0)
    assert n_zero > 0 and np.sum(plotted == plotted.min()) == n_zero
    assert sorted(plotted[plotted > plotted.min()]) == sorted(v for v in expected if v > 0)
    labels = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "kink" in labels and "n = " in labels


def test_gap_overview_groups_per_claim_dtype_device(built, results):
    fig = built["gap-overview"]
    for c in _collections(fig, "points|") + _collections(fig, "uninformative|"):
        part, claim, dtype, device = c.get_gid().split("|")
        gaps = [g for r in results for g in r["gaps"]
                if g.kind == "identity" and (g.claim, g.dtype, g.device) == (claim, dtype, device)]
        gob = [(g.gap_over_bound, set(g.informative_points()), interior(g)) for g in gaps]
        want = [v[i] for v, inf, idx in gob for i in idx if (i in inf) == (part == "points")]
        got = c.get_offsets()[:, 0]
        assert len(got) == len(want)
        assert sorted(got[got > got.min()]) == sorted(v for v in want if v > 0)


def test_gap_overview_shows_non_finite_gaps_at_the_ceiling(results):
    bad = Gap("input-gradient", "broken", "identity", [1.0, float("nan"), 2.0], [1.5, 1.0, 2.0], [0.0, 1e-16, 0.0],
              "float64", "cpu", 0, "mlp")
    recs = [dict(results[0], gaps=results[0]["gaps"] + [bad])] + results[1:]
    fig = FIGURES["gap-overview"].function(recs)
    x = _dots(fig, "input-gradient|float64|cpu")
    assert np.isfinite(x).all()
    assert np.sum(x == x.max()) == 2                                    # the infinite and the NaN gap
    assert "NaN" in " ".join(t.get_text() for t in fig.axes[0].get_xticklabels())


def test_confident_limit_lines_carry_the_saved_series(built, results):
    fig = built["confident-limit"]
    gaps = [g for r in results for g in r["gaps"] if g.claim == "confident-limit" and g.dtype == "float64"]
    lines = _lines(fig, "series|")
    assert len(lines) == 5 * len(gaps)
    for g in gaps:
        for name, values in g.extra["series"].items():
            ln = [x for x in lines if x.get_gid() == f"series|{name}|{g.arch}|{g.extra['point']}"]
            assert len(ln) == 1
            np.testing.assert_array_equal(ln[0].get_xdata(), g.extra["c"])
            v = np.asarray(values)
            y = np.asarray(ln[0].get_ydata(), dtype=float)
            np.testing.assert_array_equal(y[v > 0], v[v > 0])
            assert np.all(np.isnan(y[v <= 0]))


def test_emr_lines_and_limits_are_the_saved_values(built, results):
    fig = built["emr-limits"]
    gaps = {g.arch: g for r in results for g in r["gaps"] if g.claim == "emr-limits" and g.dtype == "float64"}
    emr = _lines(fig, "emr")
    assert len(emr) == min(3, len(gaps))
    for ax, ln in zip(fig.axes, emr):
        g = next(g for g in gaps.values() if list(ln.get_ydata()) == g.extra["emr"])
        np.testing.assert_array_equal(ln.get_xdata(), g.extra["T"])
        hot = [x for x in ax.lines if x.get_gid() == "hot"][0]
        cold = [x for x in ax.lines if x.get_gid() == "cold"][0]
        assert hot.get_ydata()[0] == g.extra["hot_limit"] and cold.get_ydata()[0] == g.extra["cold_limit"]


def test_emr_bands_are_the_saved_bounds_clipped_to_the_axes(built, results):
    """Each band is limit +- the saved bound, clipped to the axes (which the curve and the limits set, never
    the bands), drawn at every T where it leaves part of the axis uncovered; no band without a saved bound."""
    fig = built["emr-limits"]
    gaps = {g.arch: g for r in results for g in r["gaps"] if g.claim == "emr-limits" and g.dtype == "float64"}
    n_bands = 0
    for ax, ln in zip(fig.axes, _lines(fig, "emr")):
        g = next(g for g in gaps.values() if list(ln.get_ydata()) == g.extra["emr"])
        T, (bottom, top) = np.asarray(g.extra["T"]), ax.get_ylim()
        values = list(g.extra["emr"]) + [g.extra["hot_limit"], g.extra["cold_limit"]]
        assert bottom < min(values) and max(values) < top
        for side in ("hot", "cold"):
            polys = [c for c in ax.collections if c.get_gid() == f"{side}-band"]
            bound = g.extra[f"{side}_bound"]
            if bound is None:
                assert not polys
                continue
            n_bands += 1
            lim, b = g.extra[f"{side}_limit"], np.asarray(bound, dtype=float)
            lo, hi = np.clip(lim - b, bottom, top), np.clip(lim + b, bottom, top)
            says = ~((lo <= bottom) & (hi >= top))
            assert says.any() and len(polys) == 1
            ys: dict = {}
            for path in polys[0].get_paths():
                for x, y in path.vertices:
                    k = int(np.flatnonzero(T == x)[0])                 # every vertex sits at a saved T
                    ys.setdefault(k, set()).add(float(y))
            for k, at in ys.items():                                  # both edges there, and nothing else
                assert at == {float(lo[k]), float(hi[k])}, (side, k, at, lo[k], hi[k])
            assert set(np.flatnonzero(says)) <= set(ys)              # drawn wherever the bound says something
    assert n_bands >= 3


def test_gram_heatmaps_are_the_saved_matrices(built, results):
    fig = built["gram-unification"]
    g = next(g for r in results for g in r["gaps"]
             if g.claim == "gram-unification" and g.kind == "measurement" and g.dtype == "float64")
    images = {im.get_gid(): im for ax in fig.axes for im in ax.images}
    assert set(images) == {"matrix|G"} | {f"matrix|{n}" for n in g.extra["M"]}
    for name, M in [("G", g.extra["G"])] + list(g.extra["M"].items()):
        M = np.asarray(M)
        np.testing.assert_allclose(images[f"matrix|{name}"].get_array() * np.abs(M).max(), M, rtol=1e-15, atol=0)
        assert images[f"matrix|{name}"].norm.vmin == -1 and images[f"matrix|{name}"].norm.vmax == 1
    titles = " ".join(ax.get_title() for ax in fig.axes)
    for name, v in g.extra["inner"].items():
        assert f"{v:.4g}" in titles


def test_float_error_plots_every_interior_entry(built, results):
    fig = built["float-error"]
    gaps = [g for r in results for g in r["gaps"] if g.claim == "local-affine" and g.check == "float J vs exact J"]
    cols = _collections(fig, "entries|")
    assert sum(len(c.get_offsets()) for c in cols) == sum(len(interior(g)) for g in gaps)
    bounds = np.concatenate([c.get_offsets()[:, 0] for c in cols])
    assert max(bounds) == max(g.bound[i] for g in gaps for i in interior(g))
    errs = np.concatenate([c.get_offsets()[:, 1] for c in cols])
    true = []
    for g in gaps:
        err = g.abs_err
        true += [err[i] for i in interior(g)]
    assert max(errs) == max(true) and sum(errs == errs.min()) == sum(1 for e in true if e == 0)
    assert {tuple(c.get_gid().split("|")[1:]) for c in cols} == {(g.dtype, g.device) for g in gaps}


def test_slack_histograms_count_every_interior_point(built, results):
    from figures.plots.input_gradient_bounds import relative_slacks

    fig = built["input-gradient-bounds"]
    for claim in ("input-gradient-bounds", "margin-lower-bound"):
        gaps = [g for r in results for g in r["gaps"] if g.claim == claim]
        for link in {g.check for g in gaps}:
            rel = [v for g in gaps if g.check == link for v in relative_slacks(g)[0]]
            hist = [p for ax in fig.axes for p in ax.patches if p.get_gid() == f"hist|{claim}|{link}"]
            zeros = [p for ax in fig.axes for p in ax.patches if p.get_gid() == f"zeros|{claim}|{link}"]
            assert len(hist) == 1
            n_pos = sum(1 for v in rel if v > 0)
            assert n_pos and (not zeros) == (n_pos == len(rel))


def test_curvature_small_step_draws_every_h(built, results):
    fig = built["curvature-small-step"]
    hs = sorted({g.extra["h"] for r in results for g in r["gaps"] if g.claim == "curvature-small-step"})
    ratio = _lines(fig, "ratio|")
    assert {ln.get_gid() for ln in ratio} == {f"ratio|{r['run']['dtype']}|{r['run']['device']}" for r in results}
    for ln in ratio:
        assert list(ln.get_xdata()) == hs
    changed = _lines(fig, "changed")[0]
    f64 = [g for r in results for g in r["gaps"] if g.claim == "curvature-region-crossing" and g.dtype == "float64"]
    want = [np.mean([v for g in f64 if g.extra["h"] == h for v in g.pattern_changed]) for h in hs]
    np.testing.assert_allclose(changed.get_ydata(), want, rtol=0, atol=0)


def test_geometry_regions_tile_the_box(built):
    from figures.plots.geometry import BOX, teaching_network
    from theory.plane import regions_2d

    fig = built["geometry"]
    regions = regions_2d(teaching_network(), box=BOX)
    polys = [c for c in _collections(fig, "regions")]
    assert len(polys) == 2 and all(len(c.get_paths()) == len(regions) for c in polys)
    assert sum(r.area for r in regions) == (BOX[1] - BOX[0]) * (BOX[3] - BOX[2])


def test_a_figure_without_its_records_says_so(results):
    only_identity = [dict(r, gaps=[g for g in r["gaps"] if g.kind == "identity"]) for r in results]
    with pytest.raises(NoDataError, match="confident-limit"):
        FIGURES["confident-limit"].function(only_identity)


# ---- the command line ---------------------------------------------------------------------------
def _main(argv, capsys):
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.slow
def test_cli_builds_pdf_and_png_with_truetype_fonts(results_file, lab2_file, trained_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("REGFIGURES_USETEX", "0")
    code, out, err = _main(["--results", str(results_file), "--dynamics", str(lab2_file), "--trained", str(trained_file), "--out", str(tmp_path),
                            "--no-progress"], capsys)
    assert code == 0, err
    for name in FIGURES:
        pdf, png = tmp_path / f"{name}.pdf", tmp_path / f"{name}.png"
        assert pdf.stat().st_size > 1000 and png.stat().st_size > 1000
        assert str(pdf) in out and str(png) in out
        data = pdf.read_bytes()
        assert b"/FontFile2" in data or b"/TrueType" in data, name
        assert b"/Type1" not in data and b"/Type3" not in data, name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_only_one_and_format(results_file, tmp_path, capsys):
    code, out, _ = _main(["--results", str(results_file), "--out", str(tmp_path), "--only", "emr-limits",
                          "--format", "pdf", "--no-progress"], capsys)
    assert code == 0
    assert [p.name for p in tmp_path.iterdir()] == ["emr-limits.pdf"]


def test_cli_list(capsys):
    code, out, _ = _main(["--list"], capsys)
    assert code == 0
    lines = out.strip().splitlines()
    names = [ln.split()[0] for ln in lines if not ln.startswith(" ")]
    assert names == list(FIGURES)
    claims = [ln.split("claims:")[1].strip() for ln in lines if ln.startswith(" ")]
    assert claims == [", ".join(spec.claims) for spec in FIGURES.values()]


def test_cli_unknown_figure(capsys):
    code, _, err = _main(["--only", "nope"], capsys)
    assert code == 2
    assert "unknown figure 'nope'" in err and "curvature-small-step" in err


def test_module_entry_point_unknown_figure():
    proc = subprocess.run([sys.executable, "-m", "figures", "--only", "nope"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    assert "unknown figure 'nope'" in proc.stderr and "gap-overview" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_unknown_format(results_file, capsys):
    code, _, err = _main(["--results", str(results_file), "--format", "pdf,jpeg"], capsys)
    assert code == 2 and "jpeg" in err


def test_cli_missing_file(tmp_path, capsys):
    code, _, err = _main(["--results", str(tmp_path / "none.jsonl"), "--out", str(tmp_path)], capsys)
    assert code == 2
    assert "does not exist" in err and err.count("\n") == 1


def test_cli_incompatible_schema(results_file, tmp_path, capsys):
    old = tmp_path / "old.jsonl"
    rec = json.loads(results_file.read_text().splitlines()[0])
    rec["schema"] = "relu-regularizer-verification/results/0"
    old.write_text(json.dumps(rec) + "\n")
    code, _, err = _main(["--results", str(old), "--out", str(tmp_path)], capsys)
    assert code == 2
    assert "schema" in err and "not supported" in err and err.count("\n") == 1


@pytest.mark.parametrize("content", [b"this is not json\n{also not\n", b"\xff\xfe\x00garbage\x81\n",
                                     b'{"schema": "' + RESULTS_SCHEMA.encode() + b'", "gaps": [{"claim": 1}]}\n',
                                     b"[1, 2, 3]\n"],
                         ids=["not-json", "binary", "malformed-gap", "not-a-record"])
def test_cli_corrupt_file(tmp_path, capsys, content):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content)
    code, _, err = _main(["--results", str(bad), "--out", str(tmp_path), "--no-progress"], capsys)
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("error: ") and "Traceback" not in err


def test_cli_folder_as_results(tmp_path, capsys):
    code, _, err = _main(["--results", str(tmp_path), "--out", str(tmp_path)], capsys)
    assert code == 2 and "folder" in err


def test_cli_partial_last_line_is_skipped_with_a_warning(results_file, tmp_path, capsys):
    part = tmp_path / "partial.jsonl"
    text = results_file.read_text()
    last = text.splitlines()[-1]
    part.write_text(text + last[: len(last) // 2])
    code, out, err = _main(["--results", str(part), "--out", str(tmp_path / "o"), "--only", "confident-limit",
                            "--no-progress"], capsys)
    assert code == 0
    assert "warning:" in err and "partially written" in err
    assert (tmp_path / "o" / "confident-limit.png").exists()


def test_cli_geometry_needs_no_results(tmp_path, capsys, monkeypatch):
    def no_sweep(*a, **k):
        raise AssertionError("the geometry figure must not run a sweep")

    monkeypatch.setattr(cli, "_quick_sweep", no_sweep)
    code, out, _ = _main(["--only", "geometry", "--out", str(tmp_path), "--format", "png", "--no-progress"], capsys)
    assert code == 0 and (tmp_path / "geometry.png").exists()


def test_cli_only_takes_several_figures_and_names_every_unknown_one(results_file, tmp_path, capsys):
    code, out, _ = _main(["--results", str(results_file), "--out", str(tmp_path), "--only", "geometry", "emr-limits",
                          "geometry", "--format", "png", "--no-progress"], capsys)
    assert code == 0 and sorted(p.name for p in tmp_path.glob("*.png")) == ["emr-limits.png", "geometry.png"], out
    assert "2 figure(s) written" in out
    code, _, err = _main(["--only", "geometry", "nope", "nada"], capsys)
    assert code == 2 and "unknown figure 'nope', 'nada'" in err, err


def test_cli_without_results_runs_the_quick_sweep(results_file, tmp_path, capsys, monkeypatch):
    calls = []

    def fake_run_sweep(out, quick=True, **kw):
        calls.append((Path(out), quick))
        write_synthetic(out)

    import verify.jobs.sweep

    monkeypatch.setattr(verify.jobs.sweep, "run_sweep", fake_run_sweep)
    code, out, err = _main(["--out", str(tmp_path), "--only", "emr-limits", "--format", "png", "--no-progress"],
                           capsys)
    assert code == 0, err
    assert calls == [(tmp_path / "quick-sweep.jsonl", True)]


def test_cli_sweep_unavailable_is_a_clear_error(tmp_path, capsys, monkeypatch):
    import verify.jobs.sweep

    def broken(out, quick=True, **kw):
        raise ModuleNotFoundError("No module named 'verify.checkers'")

    monkeypatch.setattr(verify.jobs.sweep, "run_sweep", broken)
    code, _, err = _main(["--out", str(tmp_path), "--only", "emr-limits", "--no-progress"], capsys)
    assert code == 2 and "quick sweep" in err and "--results" in err


# ---- LaTeX, and the fallback to mathtext when the TeX toolchain fails --------------------------------
FAKE_TEX_ERROR = "! LaTeX Error: File `type1ec.sty' not found."


def _warnings(err):
    return [ln for ln in err.splitlines() if ln.startswith("warning: figure ")]


@pytest.mark.skipif(shutil.which("latex") is None, reason="needs a latex executable (LaTeX typesets the text)")
def test_every_figure_renders_with_latex(results_file, lab2_file, trained_file, tmp_path, capsys, monkeypatch):
    """With LaTeX on, every figure is written as PDF and PNG by LaTeX itself: no fallback to mathtext, and
    the PDFs embed TeX's Type 1 fonts (mathtext would embed TrueType)."""
    monkeypatch.setenv("REGFIGURES_USETEX", "1")
    code, out, err = _main(["--results", str(results_file), "--dynamics", str(lab2_file), "--trained", str(trained_file), "--out", str(tmp_path),
                            "--no-progress"], capsys)
    assert code == 0, err
    assert not _warnings(err) and "REGFIGURES_USETEX" not in err and "mathtext" not in out, err
    for name in FIGURES:
        pdf, png = tmp_path / f"{name}.pdf", tmp_path / f"{name}.png"
        assert pdf.stat().st_size > 1000 and png.stat().st_size > 1000, name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        data = pdf.read_bytes()
        assert b"/Type1" in data and b"/FontFile2" not in data, name


def test_latex_text_has_no_silently_wrong_characters(results, lab, trained, lab2):
    """LaTeX's default (OT1) text fonts typeset ``|``, ``<`` and ``>`` outside math as an em dash and inverted
    punctuation, without any error; so, built with LaTeX on, no figure text holds them outside ``$...$``
    (:func:`figures.style.text` puts them in math). Building draws nothing, so this needs no latex."""
    import re

    from matplotlib.text import Text

    wrong = []
    for name, spec in FIGURES.items():
        for t in spec.draw(_input(spec, results, lab, trained, lab2), tex=True).findobj(Text):
            outside = re.sub(r"(?<!\\)\$.*?(?<!\\)\$", "", t.get_text())
            if set(outside) & set("|<>"):
                wrong.append(f"{name}: {t.get_text()!r}")
    assert not wrong, "\n".join(wrong)


def _fail_latex(monkeypatch):
    """Make every LaTeX run fail as a TeX missing a package does (matplotlib's own error, raised where it runs
    latex); every text layout with LaTeX on runs it, so no cached result hides the failure."""
    from matplotlib.texmanager import TexManager

    def make_dvi(cls, tex, fontsize):
        raise RuntimeError(f"latex was not able to process the following string:\n{tex.encode('unicode_escape')!r}"
                           f"\n\nHere is the full command invocation and its output:\n\nlatex -interaction="
                           f"nonstopmode -halt-on-error -no-shell-escape file.tex\n\n{FAKE_TEX_ERROR}\n")

    monkeypatch.setattr(TexManager, "make_dvi", classmethod(make_dvi))
    monkeypatch.setenv("REGFIGURES_USETEX", "1")


@pytest.mark.slow
def test_a_tex_failure_draws_the_figure_with_mathtext(results_file, lab2_file, trained_file, tmp_path, capsys, monkeypatch):
    _fail_latex(monkeypatch)
    code, out, err = _main(["--results", str(results_file), "--dynamics", str(lab2_file), "--trained", str(trained_file), "--out", str(tmp_path),
                            "--no-progress"], capsys)
    assert code == 0, err
    warned = _warnings(err)
    assert len(warned) == len(FIGURES), err
    for name, line in zip(FIGURES, warned):
        assert line.startswith(f"warning: figure {name}: LaTeX failed (")
        assert "latex was not able to process" in line and FAKE_TEX_ERROR in line and "REGFIGURES_USETEX=0" in line
        pdf, png = tmp_path / f"{name}.pdf", tmp_path / f"{name}.png"
        assert pdf.stat().st_size > 1000 and png.stat().st_size > 1000, name
        assert str(pdf) in out and str(png) in out
        data = pdf.read_bytes()
        assert b"/FontFile2" in data and b"/Type1" not in data, name       # mathtext's TrueType fonts
    assert "Traceback" not in err
    assert "with mathtext, LaTeX having failed: " + ", ".join(FIGURES) in out


def test_usetex_0_never_runs_latex(results_file, tmp_path, capsys, monkeypatch):
    _fail_latex(monkeypatch)
    monkeypatch.setenv("REGFIGURES_USETEX", "0")
    code, out, err = _main(["--results", str(results_file), "--out", str(tmp_path), "--only", "confident-limit",
                            "--no-progress"], capsys)
    assert code == 0 and not _warnings(err) and (tmp_path / "confident-limit.png").exists()


def test_a_non_tex_error_still_fails_the_figure(results_file, tmp_path, capsys, monkeypatch):
    """LaTeX on (and failing), a figure that raises for another reason fails: no fallback hides the bug."""
    from figures.style import style, tex_error

    _fail_latex(monkeypatch)

    def broken(results, tex=None):
        with style(tex):
            raise ValueError("a bug in the figure, not a TeX problem")

    monkeypatch.setitem(FIGURES, "emr-limits", dataclasses.replace(FIGURES["emr-limits"], function=broken))
    code, out, err = _main(["--results", str(results_file), "--out", str(tmp_path), "--only", "emr-limits",
                            "--no-progress"], capsys)
    assert code == 1
    assert "FAILED: emr-limits" in out and "a bug in the figure" in err and "Traceback" in err
    assert not _warnings(err) and "mathtext" not in out
    assert not list(tmp_path.iterdir())
    # the classification itself: the same kinds of error are TeX problems only when raised in TeX's code
    assert tex_error(RuntimeError("latex was not able to process the following string:")) is None
    assert tex_error(FileNotFoundError("type1ec.sty")) is None


def test_tex_error_recognises_what_dviread_raises(tmp_path):
    """An error raised in matplotlib's TeX code is a TeX problem, whatever its kind (here dviread's ValueError)."""
    from matplotlib import dviread

    from figures.style import tex_error

    bad = tmp_path / "broken.dvi"
    bad.write_bytes(b"\xf7\x63not a dvi file")                     # pre opcode, dvi format 99
    with pytest.raises(ValueError, match="dvi format") as info:
        with dviread.Dvi(str(bad), 72) as dvi:
            list(dvi)
    assert tex_error(info.value) == "ValueError: Unknown dvi format 99"


@pytest.mark.skipif(shutil.which("latex") is None, reason="needs a latex executable")
def test_a_label_latex_rejects_falls_back_with_real_latex(tmp_path, capsys, monkeypatch):
    """With the real toolchain: a label that latex rejects (an undefined macro) makes the figure fall back."""
    from figures.style import figure, styled

    @styled
    def fig_rejected(results=None):
        fig = figure()
        fig.add_subplot().set_title(r"a \undefinedmacroforthetest b")
        return fig

    spec = dataclasses.replace(FIGURES["geometry"], name="rejected", function=fig_rejected)
    monkeypatch.setitem(FIGURES, "rejected", spec)
    monkeypatch.setenv("REGFIGURES_USETEX", "1")
    code, out, err = _main(["--only", "rejected", "--out", str(tmp_path), "--no-progress"], capsys)
    assert code == 0, err
    (line,) = _warnings(err)
    assert line.startswith("warning: figure rejected: LaTeX failed (") and "Undefined control sequence" in line
    assert (tmp_path / "rejected.pdf").stat().st_size > 1000 and (tmp_path / "rejected.png").stat().st_size > 1000


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="the fake latex is a shell script")
def test_module_entry_point_falls_back_when_latex_fails(tmp_path):
    """End to end: ``python -m figures`` with a ``latex`` on PATH that fails (and a fresh matplotlib cache, so
    that latex really runs) still writes the figure, warns once and exits 0."""
    fake = tmp_path / "bin" / "latex"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\necho \"{FAKE_TEX_ERROR.replace('`', chr(92) + '`')}\"\nexit 1\n")
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{fake.parent}{os.pathsep}{os.environ.get('PATH', '')}",
               MPLCONFIGDIR=str(tmp_path / "mplconfig"))
    env.pop("REGFIGURES_USETEX", None)                               # LaTeX on because a latex is on PATH
    proc = subprocess.run([sys.executable, "-m", "figures", "--only", "geometry", "--out", str(tmp_path / "out"),
                           "--no-progress"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (line,) = _warnings(proc.stderr)
    assert line.startswith("warning: figure geometry: LaTeX failed (") and FAKE_TEX_ERROR in line
    assert "REGFIGURES_USETEX=0" in line and "Traceback" not in proc.stderr
    assert (tmp_path / "out" / "geometry.pdf").stat().st_size > 1000
    assert (tmp_path / "out" / "geometry.png").stat().st_size > 1000


def test_import_changes_no_global_matplotlib_state():
    code = ("import matplotlib as mpl; before = dict(mpl.rcParams); import figures, figures.cli, figures.registry; "
            "import sys; sys.exit(0 if dict(mpl.rcParams) == before else 1)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=120).returncode == 0


def test_every_checkable_claim_has_a_figure():
    """Each claim can be found from its figure: every claim a checker covers is named by some figure."""
    from figures.registry import FIGURES, figures_of
    from theory.claims import CLAIMS

    for cid in CLAIMS:
        assert figures_of(cid), f"claim {cid} is shown by no figure"
    for spec in FIGURES.values():
        assert all(cid in CLAIMS for cid in spec.claims), spec.name
