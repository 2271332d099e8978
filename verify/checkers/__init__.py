"""One numeric checker per claim: ``CHECKERS[claim_id](ctx) -> list[Gap]``, and :func:`run_checks`.

Every claim of :data:`theory.claims.CLAIMS` whose kind is identity, inequality, limit or measurement
has a checker here, in the module of its paper:

- :mod:`.guo2021connections`: local-affine, input-gradient, hessian-gauss-newton,
  curvature-soft-label-gradient, curvature-small-step, curvature-region-crossing (its ``CHECKERS`` holds
  the paper's eleven claims), and :mod:`.guo2021cross_lipschitz`: cross-lipschitz-centered-jacobian,
  input-gradient-bounds, hessian-trace-weighted-cross-lipschitz, gram-unification, confident-limit;
- :mod:`.liu2022margin`: euler-homogeneous, effective-margin, cross-entropy-scale-variance, emr-limits;
- :mod:`.wen2020robustness`: margin-lower-bound.

The empirical claims (training dynamics) have no checker here.
"""

from __future__ import annotations

import contextlib

import torch

from theory.claims import CLAIMS
from verify.checkers.common import CheckContext
from verify.checkers.guo2021connections import CHECKERS as _GUO
from verify.checkers.liu2022margin import CHECKERS as _LIU
from verify.checkers.wen2020robustness import CHECKERS as _WEN
from verify.errors import UnknownNameError

__all__ = ["CHECKERS", "CheckContext", "run_checks", "make_context"]

#: claim id -> checker, in the order of the claim registry.
CHECKERS = {cid: {**_GUO, **_LIU, **_WEN}[cid] for cid in CLAIMS if cid in {**_GUO, **_LIU, **_WEN}}


def make_context(model, x, y, *, seed: int, arch: str, generator=None, exact=None) -> CheckContext:
    """The one :class:`CheckContext` of a batch: the linearization is computed here, once."""
    from verify.errors import check_labels
    from verify.numerics.linearize import linearize

    lin = linearize(model, x)
    y = check_labels(y, x.shape[0], lin.K).to(x.device)
    return CheckContext(model, x.detach(), y, lin, seed, arch, x.dtype, x.device, generator, exact)


@contextlib.contextmanager
def _cpu_threads(device, n):
    """On CPU, run with ``n`` intra-op threads (restored after). The checks are thousands of tiny tensor
    ops; on a loaded machine extra threads mostly wait for each other (measured: 0.07 s with one thread
    vs 1-100 s with two on a loaded 2-core box)."""
    if n is None or torch.device(device).type != "cpu":
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def run_checks(model, x, y, *, claims=None, seed: int, arch: str, generator: torch.Generator | None = None,
               exact: bool | None = None, threads: int | None = 1) -> list:
    """Run the checkers of ``claims`` (default: all) on one batch; return their Gaps.

    ``exact``: compare the float J with the exact J of the theory engine (None: only when the network
    is small, D K <= 5000). Unknown claim ids raise :class:`~verify.errors.UnknownNameError` listing the checkable ids. TF32 is off
    on CUDA while checking; on CPU the checks run with ``threads`` intra-op threads (None: unchanged).
    """
    from verify.numerics.precision import precision_guard

    ids = list(CHECKERS) if claims is None else list(claims)
    bad = [c for c in ids if c not in CHECKERS]
    if bad:
        why = {c: "empirical claim, established by experiment" for c in bad if c in CLAIMS}
        raise UnknownNameError(f"no checker for {', '.join(repr(c) for c in bad)}"
                       + (f" ({'; '.join(f'{k}: {v}' for k, v in why.items())})" if why else "")
                       + f"; checkable claim ids: {', '.join(CHECKERS)}")
    with precision_guard(x.device), _cpu_threads(x.device, threads):
        ctx = make_context(model, x, y, seed=seed, arch=arch, generator=generator, exact=exact)
        gaps = []
        for cid in ids:
            gaps += CHECKERS[cid](ctx)
    return gaps
