"""The repository's own specification and release metadata: SPEC.md carries every claim id and the
sections the code cites, no tracked file points outside the repository, and the versions agree."""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import subprocess
from pathlib import Path

import pytest

from theory.claims import CLAIMS

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "SPEC.md"
DIST = "relu-regularizer-verification"

#: Section names that docstrings and notes cite as (SPEC.md, "...").
CITED_SECTIONS = ["Regularizer definitions", "Peer conventions", "Empirical claims", "Runs", "Measures",
                  "The verdict rule"]

_LIST_OR_HEADING = re.compile(r"^\s*(#{1,6}\s|[-*+]\s|\d+\.\s)")


def _spec_lines() -> list[str]:
    return SPEC.read_text(encoding="utf-8").splitlines()


def _pyproject_version() -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    m = re.search(r'^version\s*=\s*"([^"]+)"', text, re.M)
    assert m, "pyproject.toml has no version line"
    return m.group(1)


@pytest.mark.parametrize("claim_id", list(CLAIMS))
def test_every_claim_id_is_a_heading_or_list_entry(claim_id):
    word = re.compile(r"(?<![\w-])" + re.escape(claim_id) + r"(?![\w-])")
    assert any(_LIST_OR_HEADING.match(line) and word.search(line) for line in _spec_lines()), (
        f"claim {claim_id!r} of theory/claims.py is not a heading or list entry of SPEC.md")


@pytest.mark.parametrize("section", CITED_SECTIONS)
def test_cited_section_is_a_heading(section):
    headings = [line for line in _spec_lines() if line.startswith("#")]
    assert any(section in h for h in headings), f"SPEC.md has no heading containing {section!r}"


def _tracked_text_files():
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout (or git missing)")
    for name in out.decode().split("\0"):
        path = ROOT / name
        if not name or not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            yield name, data.decode("utf-8")
        except UnicodeDecodeError:
            continue


def test_no_tracked_file_points_outside_the_repository():
    # Built from pieces, so that this file does not match itself.
    forbidden = ["CLAIMS" + ".md", "shared" + "/"]
    up = re.compile(r"[\w./-]*\.\." + r"/[\w./-]*")  # a path with a parent step, from its first segment
    found = []
    for name, text in _tracked_text_files():
        for n, line in enumerate(text.splitlines(), 1):
            found += [f"{name}:{n}: {s!r}" for s in forbidden if s in line]
            for m in up.finditer(line):
                target = ((ROOT / name).parent / m.group(0)).resolve()
                if not target.is_relative_to(ROOT):
                    found.append(f"{name}:{n}: {m.group(0)!r} leaves the repository")
    assert not found, "tracked files refer to files outside the repository:\n" + "\n".join(found)


def test_citation_version_is_the_pyproject_version():
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    version = _pyproject_version()
    assert cff["cff-version"] == "1.2.0"
    assert str(cff["version"]) == version
    assert str(cff["preferred-citation"]["version"]) == version
    assert cff["license"] == "MIT"


def test_changelog_has_a_section_for_the_version():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(r"^## " + re.escape(_pyproject_version()) + r"\b", changelog, re.M)


@pytest.mark.parametrize("package", ["theory", "verify", "figures"])
def test_package_version_is_the_installed_distribution(package):
    module = importlib.import_module(package)
    assert "__version__" in module.__all__
    try:
        expected = importlib.metadata.version(DIST)
    except importlib.metadata.PackageNotFoundError:
        expected = "0+unknown"
    assert module.__version__ == expected
