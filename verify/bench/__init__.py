"""Benchmarks, each printing ratios measured side by side in one run: the closed-form Jacobian and Hessian
against torch.func (:mod:`.linearize`, ``python -m verify.bench``), one training step of every objective
(:mod:`.training`, ``python -m verify.bench --training``), the exact radius against the network's size
(:mod:`.radius`, ``python -m verify.bench.radius``) and the whole training lab against another version of
the code, with both versions' numbers compared (:mod:`.lab`, ``python -m verify.bench.lab``)."""

import sys

__all__ = ["main"]


def main(argv=None) -> int:
    """``python -m verify.bench [--training] [options]``: the linearization benchmark, or with ``--training``
    the training-step benchmark (each with its own ``--help``)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--training" in argv:
        from verify.bench import training

        return training.main([a for a in argv if a != "--training"])
    from verify.bench import linearize

    return linearize.main(argv)
