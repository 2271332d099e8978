"""The documentation site, built once per test run by its one command (``tests.docs.helpers.BUILD``)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.docs.helpers import BUILD, ROOT, sphinx_missing


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """The output folder of ``python -m sphinx -W --keep-going -n -b html docs OUT``, run in a subprocess from
    the top folder (the tutorials run as part of it); skipped when the ``docs`` extra is not installed."""
    why = sphinx_missing()
    if why:
        pytest.skip(f"the documentation is not built: {why}")
    out = tmp_path_factory.mktemp("site") / "html"
    t0 = time.perf_counter()
    env = dict(os.environ, RRV_DOCS_RERUN="1")          # every tutorial runs, even one built before
    run = subprocess.run(BUILD + [str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    seconds = time.perf_counter() - t0
    return out, run, seconds
