"""Sphinx configuration of the documentation site.

Build it from the top folder, offline, with warnings as errors and every cross-reference checked::

    python -m sphinx -W --keep-going -n -b html docs docs/_build/html
"""

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path[:0] = [str(ROOT), str(DOCS / "_ext")]
os.environ.setdefault("MPLBACKEND", "Agg")

from theory import __version__  # noqa: E402

project = "relu-regularizer-verification"
author = "The relu-regularizer-verification authors"
copyright = "the relu-regularizer-verification authors (MIT)"
release = version = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx-mathjax-offline",  # MathJax served from the site itself: no CDN, works offline
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "rrv_docs",  # docs/_ext: the claims, CLI, API and regularizer-map pages, generated at build time
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# the generated fragments that pages include (not pages themselves)
exclude_patterns = ["_build", "tutorials/GALLERY_HEADER.rst", "generated/claims/table.md", "generated/regmap-*.md",
                    "generated/regularizers.md", "generated/cli.rst", "generated/api/index.rst",
                    "generated/api/toc.rst"]
templates_path = []

html_theme = "furo"
html_title = "relu-regularizer-verification"
html_static_path = []

myst_enable_extensions = ["dollarmath", "amsmath", "deflist", "colon_fence"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]

autosummary_generate = False  # the pages are written by docs/_ext/rrv_docs.py from each module's __all__
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"exclude-members": "__init__, __new__"}
add_module_names = False

# sphinx-gallery: the tutorials in docs/tutorials/plot_*.py run at every build; a failing one fails the build.
sphinx_gallery_conf = {
    "examples_dirs": ["tutorials"],
    "gallery_dirs": ["auto_tutorials"],
    "filename_pattern": r"/plot_",
    "abort_on_example_error": True,
    "image_scrapers": ("matplotlib",),
    "download_all_examples": True,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "plot_gallery": "True",
    "show_memory": False,
    "reference_url": {},
    # sphinx-gallery skips a tutorial whose source has not changed since its last run in docs/auto_tutorials;
    # RRV_DOCS_RERUN=1 (the test suite's build) runs every one again
    "run_stale_examples": os.environ.get("RRV_DOCS_RERUN") == "1",
}

# External names in signatures and docstrings: there is no intersphinx (the build is offline), so nitpicky
# mode cannot resolve them. Only names outside the project are listed; a project name never is.
_EXTERNAL = (
    r"torch(\..*)?", r"nn(\..*)?", r"np(\..*)?", r"numpy(\..*)?", r"sympy(\..*)?", r"sp\..*", r"flint(\..*)?",
    r"matplotlib(\..*)?", r"mpl(\..*)?", r"plt\..*", r"scipy(\..*)?", r"dask(\..*)?", r"distributed(\..*)?",
    r"argparse(\..*)?", r"pathlib(\..*)?", r"collections(\..*)?", r"concurrent(\..*)?", r"fractions(\..*)?",
    r"typing(\..*)?", r"numbers(\..*)?", r"dataclasses(\..*)?", r"enum(\..*)?", r"io(\..*)?", r"os(\..*)?",
    r"re(\..*)?", r"types(\..*)?", r"random(\..*)?", r"json(\..*)?", r"decimal(\..*)?", r"tqdm(\..*)?", r"sklearn(\..*)?", r"tueplots(\..*)?",
    r"Tensor", r"Module", r"Figure", r"Axes", r"Path", r"Fraction", r"Rational", r"Matrix", r"Expr", r"Symbol",
    r"ndarray", r"ArgumentParser", r"Namespace", r"Callable", r"Iterable", r"Iterator", r"Sequence",
    r"Mapping", r"Any", r"Generator", r"TextIO", r"IO", r"Executor", r"Future", r"dtype", r"device",
    r"fmpq", r"fmpq_mat", r"fmpz", r"Client", r"Basic", r"ScriptModule", r"Generator",
)
# builtin generics that autodoc cuts apart in a dataclass signature with a default factory (list[tuple[str, ...)
_EXTERNAL += (r"(list|dict|tuple|set)\[.*",)
nitpick_ignore_regex = [(role, name) for role in ("py:class", "py:obj", "py:mod", "py:func", "py:meth", "py:data",
                                                  "py:exc", "py:attr") for name in _EXTERNAL]
