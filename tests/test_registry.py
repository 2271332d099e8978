"""One claim, one name, everywhere: every claim of ``theory.claims.CLAIMS`` has a proof, a numeric checker,
a test and a ``paper_notes.md`` entry, all under its id.

- proof: the id is a key of ``theory.prove.PROVERS``;
- checker: the id is a key of ``verify.checkers.CHECKERS`` (not required for claims of kind
  ``empirical``, which are established by experiment). A missing ``verify.checkers`` module is a
  failure, not a skip: the checkers are a requirement;
- test: the id, or its snake_case form, appears in a file under ``tests/`` (other than this one);
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
def _test_texts() -> str:
    me = Path(__file__).resolve()
    texts = []
    for path in sorted(TESTS.rglob("*")):
        if path.is_file() and path.resolve() != me and "__pycache__" not in path.parts and \
                path.suffix in (".py", ".json", ".jsonl", ".toml", ".yaml", ".yml", ".txt", ".md", ".csv"):
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(texts)


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


@pytest.mark.parametrize("claim_id", IDS)
def test_claim_has_a_test(claim_id):
    snake = claim_id.replace("-", "_")
    text = _test_texts()
    assert claim_id in text or snake in text, \
        f"{claim_id}: neither {claim_id!r} nor {snake!r} appears in any file under tests/"


@pytest.mark.parametrize("claim_id", IDS)
def test_claim_has_paper_notes(claim_id):
    assert NOTES.exists(), f"{NOTES.name} does not exist; it needs a '## {claim_id}' entry per claim"
    heading = re.compile(rf"^##[ \t]+{re.escape(claim_id)}(?![\w-])", re.MULTILINE)
    assert heading.search(NOTES.read_text(encoding="utf-8")), f"{NOTES.name}: no heading '## {claim_id}'"
