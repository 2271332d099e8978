"""
A figure for an ICML paper
==========================

The :mod:`figures` package draws every figure of the toolkit from saved results, in one style, and
can size it for a venue: ``python -m figures --venue icml2024`` on the command line, or
``style(venue=...)`` and ``FIGURES[name].draw(records, venue=...)`` from Python. The column widths
and font sizes come from ``tueplots``; a one-column figure gets the venue's column width and is saved
at exactly that size, so that it goes into the paper at 100 %.

Here we compute small fresh results (a two-network sweep of the CURE claims), draw the
``curvature-small-step`` figure sized for ICML 2024, and check its size against the venue.
"""

# %%
# The venue
# ---------
#
# :func:`figures.style.venue` reads a venue's page from tueplots (the optional ``figures`` extra).

import io
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from figures import FIGURES
from figures.style import style, venue, venues
from verify.jobs.sweep import SweepConfig, run_sweep

icml = venue("icml2024")
print(f"{len(venues())} venues known, e.g. {', '.join(v for v in venues() if v.startswith('icml'))}")
print(f"{icml.name}: {icml.columns} columns, column width {icml.single} in, text width {icml.double} in")
print("font sizes:", icml.fonts)

# %%
# Fresh results
# -------------
#
# A tiny sweep: two random networks, a few points each, only the two CURE claims, in float64 and
# float32. :func:`verify.jobs.sweep.run_sweep` writes the results file (here in a temporary folder)
# and returns its records, with the same table ``python -m verify`` prints.

workdir = tempfile.TemporaryDirectory()          # removed when the page is done
out = Path(workdir.name) / "verify.jsonl"
config = SweepConfig(networks=2, points=8, claims=("curvature-small-step", "curvature-region-crossing"),
                     device="cpu", seed=0)
records = run_sweep(out, config=config, progress=False)
print(records.report().table())

# %%
# The figure, sized for the venue
# -------------------------------
#
# ``FIGURES[name]`` has the figure's function, caption and a one-line summary. ``draw(..., venue=icml)``
# draws it at the venue's width; ``tex=False`` typesets with mathtext, so the page builds without LaTeX.

spec = FIGURES["curvature-small-step"]
print(spec.name, "-", spec.summary)
print("caption:", spec.caption)
fig = spec.draw(list(records), tex=False, venue=icml)
width, height = fig.get_size_inches()
print(f"figure size: {width:.4g} x {height:.4g} in; ICML column width {icml.single} in")
assert np.isclose(width, icml.single)

# %%
# Save it as the command line does, inside ``style(tex, venue)`` with the same arguments, and read the
# size back from the file: a PNG at ``dpi`` dots per inch is ``width x dpi`` pixels wide, because a venue
# figure is saved at its exact size, not cropped to a tight bounding box. (In a paper you would write the
# PDF to your figures folder; here it goes to memory.)

dpi = 200
buf = io.BytesIO()
with style(False, icml):
    fig.savefig(buf, format="png", dpi=dpi)
buf.seek(0)
image = plt.imread(buf)
print(f"saved PNG: {image.shape[1]} x {image.shape[0]} px at {dpi} dpi = "
      f"{image.shape[1] / dpi:.4g} x {image.shape[0] / dpi:.4g} in")
assert abs(image.shape[1] / dpi - icml.single) <= 1 / dpi

# %%
# The same figure at the default style's width, for comparison (a figure function returns a matplotlib
# ``Figure`` that is not registered with pyplot; we show the saved image).

default = spec.draw(list(records), tex=False)
print(f"default size: {default.get_size_inches()[0]:.4g} in wide; ICML: {width:.4g} in")

fig_show, ax = plt.subplots(figsize=(width * 1.6, height * 1.6))
ax.imshow(image)
ax.set_axis_off()
ax.set_title(f"{spec.name}, sized for {icml.name} ({width:.4g} in wide)", fontsize=9)
plt.show()
