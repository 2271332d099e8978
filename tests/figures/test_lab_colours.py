"""One objective -> colour map (figures.style.OBJECTIVE_COLOURS) in every panel of every lab figure, captions
that name the colours drawn, the margin-dynamics comparisons in the caption file rather than on the axes, and
the slides' style (``--style slides``)."""

from __future__ import annotations

import re

import matplotlib
import pytest

matplotlib.use("Agg")

from matplotlib.colors import to_hex  # noqa: E402

from figures import FIGURES, cli  # noqa: E402
from figures.plots.lab_data import ROLE_LABELS  # noqa: E402
from figures.style import NEUTRAL, OBJECTIVE_COLOURS, OKABE_ITO, SLIDES, colour_name  # noqa: E402

LAB = ("margin-dynamics", "layer-spectra", "confidence-concentration")
ROLE_OF_COLOUR = {to_hex(c): r for r, c in OBJECTIVE_COLOURS.items()}
ROLE_OF_LABEL = {v: k for k, v in ROLE_LABELS.items()}


@pytest.fixture(scope="module")
def drawn(lab, trained_file, tmp_path_factory):
    from figures.cli import load_results

    from .synthetic import write_synthetic

    sweep = load_results(write_synthetic(tmp_path_factory.mktemp("sweep") / "s.jsonl"))
    out = {name: FIGURES[name].draw(lab, tex=False) for name in LAB}
    out["trained-crossing"] = FIGURES["trained-crossing"].draw(load_results(trained_file) + sweep, tex=False)
    return out


def _artists(fig):
    """(what, gid, label, colour hex) of every line, filled collection and text of the figure."""
    out = []
    for ax in fig.axes:
        for ln in ax.lines:
            out.append(("line", ln.get_gid() or "", ln.get_label(), to_hex(ln.get_color())))
        for coll in ax.collections:
            for fc in coll.get_facecolors():
                out.append(("collection", coll.get_gid() or "", coll.get_label(), to_hex(fc)))
        for t in ax.texts:
            out.append(("text", t.get_gid() or "", t.get_text(), to_hex(t.get_color())))
    for t in fig.texts + [x for x in (fig._suptitle, fig._supxlabel) if x is not None]:
        out.append(("text", t.get_gid() or "", t.get_text(), to_hex(t.get_color())))
    return out


def test_the_map_gives_every_lab_objective_its_own_colour():
    from verify.dynamics.lab import ROLES2

    assert set(OBJECTIVE_COLOURS) == set(ROLES2)
    assert len({to_hex(c) for c in OBJECTIVE_COLOURS.values()}) == len(OBJECTIVE_COLOURS)
    assert not {to_hex(c) for c in OBJECTIVE_COLOURS.values()} & {to_hex(c) for c in NEUTRAL.values()}


@pytest.mark.parametrize("name", LAB + ("trained-crossing",))
def test_an_objectives_colour_means_that_objective_in_every_panel(drawn, name):
    """A line (or violin) in an objective's colour belongs to that objective (its gid or its legend label names
    it), and an objective's line has its colour; no text is written in an objective's colour."""
    seen = 0
    for what, gid, label, colour in _artists(drawn[name]):
        role = ROLE_OF_COLOUR.get(colour)
        parts = gid.split("|")
        named = [r for r in OBJECTIVE_COLOURS if r in parts] + ([ROLE_OF_LABEL[label]] if label in ROLE_OF_LABEL else [])
        if what == "text":
            assert role is None, f"{name}: text {label!r} in the colour of {role}"
            continue
        if role is not None:
            assert named == [role] * len(named) and named, f"{name}: {what} {gid or label!r} in {role}'s colour"
            seen += 1
        if label in ROLE_OF_LABEL:                     # a legend entry of an objective: exactly its colour
            assert colour == to_hex(OBJECTIVE_COLOURS[ROLE_OF_LABEL[label]]), f"{name}: {label!r} drawn in {colour}"
        for r in named:                                 # a part of an objective's drawing: its colour or a neutral one
            assert role in (None, r), f"{name}: {gid or label!r} of {r} drawn in {role}'s colour"
    assert seen or name == "trained-crossing"


_WORDS = sorted({"red", "gray", "grey", *(colour_name(c) for c in list(OKABE_ITO.values()) + list(NEUTRAL.values())
                                            + list(OBJECTIVE_COLOURS.values()))}, key=len, reverse=True)


def _colour_words(text: str) -> set[str]:
    found = set()
    for w in _WORDS:
        pattern = rf"\b{re.escape(w)}s?\b"
        if re.search(pattern, text):
            found.add(w)
            text = re.sub(pattern, " ", text)
    return found


@pytest.mark.parametrize("name", LAB + ("trained-crossing",))
def test_captions_name_only_colours_that_are_drawn(drawn, name):
    fig = drawn[name]
    drawn_names = set()
    for *_, colour in _artists(fig):
        try:
            drawn_names.add(colour_name(colour))
        except LookupError:                 # UnknownNameError: a colour with no caption name
            pass
    drawn_names |= {n.split()[-1] for n in drawn_names}       # "dark grey" is also "grey"
    text = " ".join([FIGURES[name].caption] + list(getattr(fig, "caption_notes", [])))
    words = _colour_words(text)
    assert words <= drawn_names, f"{name}: the caption names {sorted(words - drawn_names)}, not drawn"


def test_confidence_concentration_names_the_colour_of_its_dots(drawn):
    fig = drawn["confidence-concentration"]
    dots = {to_hex(ln.get_color()) for ax in fig.axes for ln in ax.lines if ln.get_gid().startswith("seed-median")}
    assert len(dots) == 1
    assert f"{colour_name(dots.pop())} dots: the seeds' medians" in " ".join(fig.caption_notes)


def test_margin_dynamics_leaves_its_comparisons_to_the_caption(drawn, lab_file):
    import json

    fig = drawn["margin-dynamics"]
    assert fig._supxlabel is None                      # nothing under the panels
    body = json.loads(lab_file.with_name("lab.verdicts.json").read_text())
    v = next(v for v in body["verdicts"] if v["claim"] == "standard-training-small-margin")
    notes = " ".join(" ".join(fig.caption_notes).split())
    for c in v["comparisons"]:
        assert f"{' '.join(c['name'].split())}: {c['verdict']}" in notes
    # the panels fill the figure: the axes take most of its height
    fig.draw_without_rendering()
    top = max(ax.get_position().y1 for ax in fig.axes)
    bottom = min(ax.get_position().y0 for ax in fig.axes)
    assert top - bottom > 0.6                          # 0.47 when the comparisons were printed under them


def test_the_caption_file_is_written_beside_the_figure(lab_file, tmp_path, capsys):
    code = cli.main(["--dynamics", str(lab_file), "--only", "margin-dynamics", "--out", str(tmp_path), "--format",
                     "png", "--dpi", "40", "--no-progress"])
    capsys.readouterr()
    assert code == 0
    text = (tmp_path / "margin-dynamics.caption.txt").read_text()
    assert text.startswith(FIGURES["margin-dynamics"].caption[:40]) and "standard-training-small-margin:" in text


def test_slides_style_draws_large_at_legible_fonts(lab, tmp_path, capsys):
    paper = FIGURES["margin-dynamics"].draw(lab, tex=False)
    slide = FIGURES["margin-dynamics"].draw(lab, tex=False, venue=SLIDES)
    w, h = slide.get_size_inches()
    assert w / h == pytest.approx(16 / 9) and w > 1.5 * paper.get_size_inches()[0]
    assert slide._suptitle.get_fontsize() > 2 * paper._suptitle.get_fontsize()
    paper.draw_without_rendering()
    slide.draw_without_rendering()
    size = lambda f: f.axes[-1].xaxis.get_ticklabels()[0].get_fontsize()  # noqa: E731
    assert size(slide) >= 16 > size(paper)
    assert slide._supxlabel is None and "\n" not in slide._suptitle.get_text()
    code = cli.main(["--style", "slides", "--only", "geometry", "--out", str(tmp_path), "--format", "png", "--dpi",
                     "30", "--no-progress"])
    capsys.readouterr()
    import matplotlib.image

    assert code == 0
    hpx, wpx = matplotlib.image.imread(tmp_path / "geometry.png").shape[:2]
    assert (wpx, hpx) == (round(12.8 * 30), round(7.2 * 30))
    assert cli.main(["--style", "slides", "--venue", "icml2024", "--only", "geometry"]) == 2
    assert "choose one" in capsys.readouterr().err
