"""One claim, one name, everywhere: every claim of ``theory.claims.CLAIMS`` has a proof, a numeric checker,
a test and a ``paper_notes.md`` entry, all under its id.

- proof: the id is a key of ``theory.prove.PROVERS``;
- checker: the id is a key of ``verify.checkers.CHECKERS`` (not required for claims of kind
  ``empirical``, which are established by experiment). A missing ``verify.checkers`` module is a
  failure, not a skip: the checkers are a requirement;
- test: a test function carries the marker ``claim(id)`` (on the function or on one of its parameters):
  for a claim with a checker, one under ``tests/theory/`` (the symbolic proof) and one under
  ``tests/verify/`` (the numeric check); for an empirical claim, one anywhere (what the toolkit says of it).
  Every id in a ``claim`` marker must be a claim id. ``python -m pytest --claim ID`` runs those tests;
- notes: ``paper_notes.md`` has a heading ``## <id>``.

These tests fail until every part exists; that is intended.
"""

from __future__ import annotations

import importlib
import re
from functools import lru_cache
from pathlib import Path

import pytest

from theory.claims import CLAIMS
from verify.jobs.notes import claim_tests, marked_claims

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
NOTES = ROOT / "paper_notes.md"
IDS = list(CLAIMS)


def _registry(module: str, name: str):
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        pytest.fail(f"{module} does not exist ({exc}); it must define {name}, keyed by claim id")
    if not hasattr(mod, name):
        pytest.fail(f"{module} has no {name}; it must define {name}, keyed by claim id")
    return getattr(mod, name)


@lru_cache(maxsize=1)
def _claim_tests() -> dict[str, list[tuple[str, str]]]:
    """claim id -> [(area, test)] for every test marked with it; area is the folder under tests/."""
    found: dict[str, list[tuple[str, str]]] = {}
    for cid, names in claim_tests(ROOT, skip=[__file__]).items():
        for name in names:
            parts = Path(name.split("::")[0]).parts          # tests/<area>/test_x.py or tests/test_x.py
            found.setdefault(cid, []).append((parts[1] if len(parts) > 2 else ".", name))
    return found


def test_registry_is_not_empty():
    assert len(IDS) >= 19 and len(set(IDS)) == len(IDS)


@pytest.mark.parametrize("claim_id", IDS)
def test_claim_has_a_proof(claim_id):
    provers = _registry("theory.prove", "PROVERS")
    assert claim_id in provers, f"{claim_id}: no proof in theory.prove.PROVERS"


@pytest.mark.parametrize("claim_id", IDS)
def test_claim_has_a_checker(claim_id):
    checkers = _registry("verify.checkers", "CHECKERS")
    if CLAIMS[claim_id].kind == "empirical" and claim_id not in checkers:
        return  # an empirical claim is established by experiment; a checker is optional
    assert claim_id in checkers, f"{claim_id}: no numeric checker in verify.checkers.CHECKERS"


def test_claim_markers_name_claims():
    unknown = sorted(set(_claim_tests()) - set(IDS))
    assert not unknown, f"claim markers with unknown ids: {unknown}"


@pytest.mark.parametrize("claim_id", IDS)
def test_claim_has_a_test(claim_id):
    tests = _claim_tests().get(claim_id, [])
    areas = {area for area, _ in tests}
    need = {"theory", "verify"} if CLAIMS[claim_id].kind != "empirical" else set()
    assert tests and need <= areas, \
        f"{claim_id}: tests marked claim({claim_id!r}) in {sorted(areas) or 'no folder'}; needed in " \
        f"{sorted(need) or 'any folder'} ({tests})"


@pytest.mark.parametrize("claim_id", IDS)
def test_claim_has_paper_notes(claim_id):
    assert NOTES.exists(), f"{NOTES.name} does not exist; it needs a '## {claim_id}' entry per claim"
    heading = re.compile(rf"^##[ \t]+{re.escape(claim_id)}(?![\w-])", re.MULTILINE)
    assert heading.search(NOTES.read_text(encoding="utf-8")), f"{NOTES.name}: no heading '## {claim_id}'"


def test_claim_markers_are_read_from_functions_and_parameters():
    @pytest.mark.claim("a", "b")
    @pytest.mark.parametrize("v", [pytest.param(1, marks=pytest.mark.claim("c")), 2])
    def test_fake(v):
        pass

    def test_unmarked():
        pass

    assert sorted(marked_claims(test_fake)) == ["a", "b", "c"] and marked_claims(test_unmarked) == []


@pytest.mark.slow
def test_claim_option_selects_the_marked_tests():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-p", "no:cacheprovider",
                          "--claim", "gram-unification", "tests/verify/test_closed_forms.py"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    listed = [line for line in out.stdout.splitlines() if "::" in line]
    assert listed == ["tests/verify/test_closed_forms.py::test_gram_unification_matrices_reproduce_the_forms"], out.stdout
