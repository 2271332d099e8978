"""The README's taste in Python runs as written, and prints what the README says it prints."""

from __future__ import annotations

import contextlib
import io
import re

from tests.docs.helpers import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_taste_runs_and_prints_what_the_readme_says():
    section = README.split("## A taste", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S)[1]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md (A taste)", "exec"), {"__name__": "readme_taste"})
    printed = out.getvalue()
    assert printed.splitlines()[-1] == "no claim fails: True"
    assert "5*sqrt(2)/4" in printed and "5*sqrt(2)/4" in section   # the distance the prose names
    assert re.search(r"^euler-homogeneous .* REPORTED$", printed, re.M)  # the prose says why it is REPORTED
    assert len(code.strip().splitlines()) <= 20


def test_every_relative_link_of_the_readme_exists():
    links = re.findall(r"\]\(((?!https?:)[^)#]+)\)", README)
    assert len(links) >= 15, links
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, f"the README links to files that do not exist: {missing}"


def _bash_blocks(text: str) -> list[str]:
    section = text.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_the_two_commands_are_the_same_in_the_readme_the_site_and_ci():
    readme = _bash_blocks(README)
    assert len(readme) == 2
    site = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    assert ':start-after: "## The two commands"' in site and "```{include} ../README.md" in site  # not a copy
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    test_command = readme[1].split(" && ", 1)[1]          # after the torch pin, which .ci/run makes first
    assert ci[-1] == test_command and ".[test,docs]" in test_command
