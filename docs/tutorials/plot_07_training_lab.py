"""
A training lab: watch margin and confidence change
==================================================

Three claims of ``SPEC.md`` are about what *training* does (``standard-training-small-margin``,
``layer-smoothing``, ``confidence-concentration``), so they are judged by experiment: the training lab
trains paired networks (same seed, same initial weights, same mini-batches, different objective) and
judges each comparison by a sign test over the seeds (``SPEC.md``, "The verdict rule").

This page runs a **toy** version of the lab on scikit-learn's handwritten digits (bundled with
scikit-learn, nothing is downloaded): two seeds, four epochs, a small evaluation set, and no exact
radius. It shows what the lab measures and how its report reads; it is **not a verdict run**. The real
one is ``python -m verify dynamics``: more seeds (their number is printed below) and the data set's
fixed settings.
"""

# %%
# A small configuration
# ---------------------
#
# :func:`verify.dynamics.lab.lab_config` builds the configuration; its settings are the data set's
# fixed ones (:func:`verify.dynamics.settings.settings_for`), which we shrink with
# ``dataclasses.replace``: fewer epochs, a smaller evaluation set, fewer points for the layer spectra,
# and the exact-radius measures switched off. Two empirical claims are asked for, which decides the
# runs: plain training ``ce``, ``ce+emr``, adversarial training at two budgets and ``at(eps)+emr``.

import dataclasses
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt

from verify.dynamics.lab import lab_config, plan, read_dynamics, run_lab, run_table
from verify.dynamics.report import format_report, judge_all
from verify.dynamics.settings import QUICK_SEEDS, settings_for
from verify.dynamics.statistics import sign_test
from verify.dynamics.verdicts import ALPHA

settings = dataclasses.replace(settings_for("digits"), epochs=4, n_eval=64, n_spectra=8,
                               radius_points=0, radius_l2_points=0)
config = lab_config("digits", seeds=2, claims=["standard-training-small-margin", "confidence-concentration"],
                    settings=settings)
units = plan(config)
print(f"{len(units)} runs: " + ", ".join(u["id"] for u in units))
print(f"architecture {settings.arch}, {settings.epochs} epochs, eps grid {settings.eps_grid}, "
      f"lambda(emr) = {settings.lam['emr']}, {settings.n_eval} evaluation points")

# %%
# Train
# -----
#
# :func:`verify.dynamics.lab.run_lab` trains every run and appends one JSON record per run and epoch
# (epoch 0 is the initial network) to the results file; here it goes to a temporary folder.

workdir = tempfile.TemporaryDirectory()          # removed when the page is done
out = Path(workdir.name) / "lab.jsonl"
start = time.perf_counter()
result = run_lab(out, config, progress=False)
print(f"trained {len(units)} runs in {time.perf_counter() - start:.1f} s; failures: {result.failures}")
assert not result.failures
records = read_dynamics(out)
table = run_table(records)

# %%
# Margin and confidence, epoch by epoch
# -------------------------------------
#
# Each record holds the lab's measures over the evaluation points, summarised by quantiles. We plot the
# median effective margin ``gamma(x)`` and the median softmax confidence for every run (one line per
# seed).

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
colours = dict(zip(table["runs"], plt.rcParams["axes.prop_cycle"].by_key()["color"]))
for role, seeds in table["runs"].items():
    for seed, epochs in seeds.items():
        es = [e for e, m in enumerate(epochs) if m is not None]
        kw = dict(color=colours[role], marker="o", ms=3, label=role if seed == 0 else None, ls="-" if seed == 0 else "--")
        ax1.plot(es, [epochs[e]["effective_margin"]["median"] for e in es], **kw)
        ax2.plot(es, [epochs[e]["confidence"]["median"] for e in es], **kw)
ax1.set_title(r"median effective margin $\gamma(x)$")
ax2.set_title("median confidence max$_k$ p$_k$")
for ax in (ax1, ax2):
    ax.set_xlabel("epoch")
ax2.legend(fontsize=8)
fig.suptitle("toy lab run on digits: solid seed 0, dashed seed 1")
plt.show()

# %%
# The lab's report
# ----------------
#
# :func:`verify.dynamics.report.judge_all` applies the verdict rule to the records; each comparison
# line gives its effect (the median over seeds of the ratio B/A, with a bootstrap interval), how many
# seeds went for and against it, and the sign test's p-value.

table, verdicts = judge_all(records)
print(format_report(table, verdicts))

# %%
# Why every verdict here is INCONCLUSIVE
# --------------------------------------
#
# The rule: a comparison is SUPPORTED when the one-sided sign test over the seeds gives p < 0.05,
# CONTRADICTED when the opposite direction does, INCONCLUSIVE otherwise. With ``n`` seeds the smallest
# possible p-value is that of all ``n`` seeds agreeing, ``2^-n``. We compute it:

print(f"seeds of this toy run: {config['seeds']}; of the lab's quick run: {QUICK_SEEDS}")
for n in (config["seeds"], QUICK_SEEDS):
    print(f"{n} seeds, all agreeing: p = {sign_test(n, 0)}  ->  {'can' if sign_test(n, 0) < ALPHA else 'cannot'} "
          f"reach p < {ALPHA}")
fewest = next(n for n in range(1, 20) if sign_test(n, 0) < ALPHA)
print(f"fewest seeds that can give a verdict: {fewest}")

# %%
# So with two seeds no comparison can reach the level, however large its effect, and a claim, which
# needs all its comparisons SUPPORTED (or one CONTRADICTED), stays INCONCLUSIVE. That is the rule doing
# its job: two seeds are not evidence. The effects printed above show which way the toy runs lean; a
# verdict needs the full lab run.

assert sign_test(config["seeds"], 0) >= ALPHA
assert all(c.verdict == "INCONCLUSIVE" for v in verdicts for c in v.comparisons)
assert all(v.verdict == "INCONCLUSIVE" for v in verdicts)
