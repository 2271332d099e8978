"""The documentation site builds with its one command, warnings as errors and every cross-reference checked,
and it shows every tutorial of docs/tutorials/ in its gallery."""

from __future__ import annotations

import re

import pytest

from tests.docs.helpers import DOCS

pytestmark = pytest.mark.slow

TUTORIALS = sorted(p.name for p in (DOCS / "tutorials").glob("plot_*.py"))


def test_the_site_builds_without_a_warning(built_site, capsys):
    out, run, seconds = built_site
    tail = "\n".join((run.stdout + run.stderr).splitlines()[-40:])
    assert run.returncode == 0, f"the documentation build failed (exit {run.returncode}):\n{tail}"
    assert (out / "index.html").is_file()
    with capsys.disabled():
        print(f"\ndocumentation site built in {seconds:.1f} s (python -m sphinx -W --keep-going -n -b html docs OUT)")


def test_every_claim_has_its_page_and_the_maths_loads_offline(built_site):
    from theory.claims import CLAIMS

    out, run, _ = built_site
    assert run.returncode == 0
    for cid in CLAIMS:
        page = (out / "generated" / "claims" / f"{cid}.html").read_text(encoding="utf-8")
        assert cid in page and CLAIMS[cid].tag in page
    concepts = (out / "concepts.html").read_text(encoding="utf-8")
    src = re.search(r'<script[^>]+src="([^"]*tex-chtml[^"]*)"', concepts)
    assert src and not src[1].startswith(("http:", "https:", "//")), "MathJax must come from the site itself"
    assert (out / src[1]).is_file()
    assert "<svg" in concepts and all(f"generated/claims/{cid}.html" in concepts for cid in ("gram-unification",))


def test_the_cli_page_is_each_parser_s_help(built_site):
    import theory.cli

    out, run, _ = built_site
    assert run.returncode == 0
    page = (out / "cli.html").read_text(encoding="utf-8")
    for command in ("python -m theory prove", "python -m verify dynamics", "python -m verify radius", "python -m figures"):
        assert command in page
    description = theory.cli.build_parser().description.split(":")[0]
    assert description in page


@pytest.mark.parametrize("tutorial", TUTORIALS or [None])
def test_every_tutorial_is_in_the_gallery(built_site, tutorial):
    out, run, _ = built_site
    assert run.returncode == 0
    if tutorial is None:
        pytest.skip("docs/tutorials/ has no plot_*.py yet")
    index = (out / "auto_tutorials" / "index.html").read_text(encoding="utf-8")
    stem = tutorial[:-3]
    assert f"{stem}.html" in index, f"{tutorial} is not listed in the gallery's index"
    assert (out / "auto_tutorials" / f"{stem}.html").is_file()
    downloads = list(out.rglob(f"{stem}.ipynb")) + list(out.rglob(f"{stem}.py"))
    assert {p.suffix for p in downloads} >= {".ipynb", ".py"}, f"{tutorial} is not downloadable as .py and .ipynb"


def test_the_build_executes_every_tutorial(built_site):
    """The test build runs every tutorial (none skipped as already run), so a tutorial that stopped working
    fails the suite."""
    from pathlib import Path

    out, run, _ = built_site
    assert run.returncode == 0
    n = len(list((Path(__file__).parents[2] / "docs" / "tutorials").glob("plot_*.py")))
    text = run.stdout + run.stderr
    assert f"executed {n} out of {n} files" in text, text[-2000:]
