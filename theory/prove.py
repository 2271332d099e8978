"""Symbolic proofs of the claims, one prover per claim id of :mod:`theory.claims`.

Each prover derives both sides of its claim from the definitions with sympy (gradients and Hessians come
out of ``diff`` of the cross-entropy of an affine piece) and decides ``lhs - rhs == 0`` exactly, for general
K and D where the index algebra of :mod:`theory.proofs` can, otherwise for explicit sizes that its
``scope`` states. Inequalities also report their minimum slack on exact rational instances; empirical
claims return ``holds=None`` and say that they are established by experiment.

>>> prove("input-gradient").holds
True
>>> prove("input-gradient").method
'symbolic (general K, D)'
>>> prove("layer-smoothing").holds is None
True
>>> prove("no-such-claim")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
theory.errors.UnknownNameError: unknown claim id 'no-such-claim'; known ids: local-affine, ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from theory.claims import CLAIMS
from theory.errors import UnknownNameError
from theory.proofs import Proof, guo2021connections, liu2022margin, wen2020robustness

__all__ = ["Proof", "PROVERS", "prove", "prove_all"]

_BY_MODULE: dict[str, Callable[[], Proof]] = {
    **guo2021connections.PROVERS, **liu2022margin.PROVERS, **wen2020robustness.PROVERS}

#: claim id -> prover, in the order of the claim registry (ids without a prover are left out, and a test
#: fails on them).
PROVERS: dict[str, Callable[[], Proof]] = {cid: _BY_MODULE[cid] for cid in CLAIMS if cid in _BY_MODULE}


def _unknown(claim_id: str) -> UnknownNameError:
    known = ", ".join(PROVERS)
    if claim_id in CLAIMS:
        return UnknownNameError(f"claim {claim_id!r} has no prover; claims with provers: {known}")
    return UnknownNameError(f"unknown claim id {claim_id!r}; known ids: {known}")


def prove(claim_id: str) -> Proof:
    """Run the prover of one claim and return its :class:`~theory.proofs.Proof`.

    Raises :class:`~theory.errors.UnknownNameError` naming the known ids when ``claim_id`` is not a claim with a prover.
    """
    if claim_id not in PROVERS:
        raise _unknown(claim_id)
    return PROVERS[claim_id]()


def prove_all(ids: Iterable[str] | None = None) -> list[Proof]:
    """Run the provers of ``ids`` (default: every claim) and return the proofs in claim-registry order."""
    wanted = list(PROVERS) if ids is None else list(ids)
    for claim_id in wanted:
        if claim_id not in PROVERS:
            raise _unknown(claim_id)
    return [PROVERS[cid]() for cid in PROVERS if cid in set(wanted)]
