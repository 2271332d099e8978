"""One canonical id per regularizer, and the names every place that takes a regularizer accepts.

The ids are those of the specification: ``R-IG`` (input gradient, double backprop), ``R-JAC`` (Jacobian),
``R-CL`` (cross-Lipschitz), ``R-CURE`` (curvature) and ``R-EMR`` (effective margin). Each also answers to
its plain names (:data:`ALIASES`: ``ig``, ``input-gradient``, ``input_gradient``, ``Input Gradient``, ...;
case, ``-``, ``_`` and spaces are ignored). :func:`regularizer_id` turns any of them into the id;
:func:`lab_key` into the short key the training lab records (``ig``, ``jac``, ``cl``, ``cure``, ``emr``).
Output always names a regularizer by its id.

>>> regularizer_id("input_gradient"), lab_key("R-CURE"), lab_key("cross-lipschitz")
('R-IG', 'cure', 'cl')
"""

from __future__ import annotations

from theory.claims import REGULARIZER_ALIASES, plain_name
from theory.claims import regularizer_id as _theory_regularizer_id
from verify.errors import UnknownNameError

__all__ = ["SUPPORTED", "ALIASES", "regularizer_id", "lab_key", "plain_name", "DEFENSES", "DEFENSE_ALIASES",
           "defense_key"]

#: The canonical ids, in the specification's order.
SUPPORTED = ("R-IG", "R-JAC", "R-CL", "R-CURE", "R-EMR")


#: The plain names of each regularizer (besides its id): compared after :func:`plain_name` (case, ``-``, ``_``
#: and spaces ignored), so ``input-gradient``, ``input_gradient`` and ``Input Gradient`` are one name. The one
#: table is the claim registry's (:data:`theory.claims.REGULARIZER_ALIASES`), so the exact side and the float
#: side accept the same names.
ALIASES = REGULARIZER_ALIASES




def regularizer_id(name: str) -> str:
    """The id (``R-IG``, ...) of a regularizer named by its id or a plain name, in any case, with ``-``,
    ``_`` or spaces (``input_gradient`` -> ``R-IG``; see :data:`ALIASES`).

    >>> regularizer_id("input_gradient"), regularizer_id("Cross-Lipschitz"), regularizer_id("r_emr")
    ('R-IG', 'R-CL', 'R-EMR')
    """
    try:
        return _theory_regularizer_id(name)          # the registry's lookup: one table, one comparison
    except UnknownNameError:
        known = "; ".join(f"{rid} ({', '.join(names)})" for rid, names in ALIASES.items())
        raise UnknownNameError(f"unknown regularizer {name!r}; supported: {', '.join(SUPPORTED)}, or their plain "
                               f"names: {known}") from None


def lab_key(name: str) -> str:
    """The training lab's short key (its first alias: ``ig``, ``jac``, ``cl``, ``cure``, ``emr``) of a
    regularizer named any way :func:`regularizer_id` accepts; the lab records and prints its objectives
    with these keys (``ce+ig``, ``at(eps)+emr``)."""
    return ALIASES[regularizer_id(name)][0]


#: The training lab's adversarial defenses (the inner attack and the loss of one training loop), by key:
#: ``at`` (PGD adversarial training, Madry et al.), ``trades`` (Zhang et al. 2019), ``mart`` (Wang et al. 2020).
DEFENSES = ("at", "trades", "mart")

#: The plain names of each defense (compared after :func:`plain_name`).
DEFENSE_ALIASES = {
    "at": ("adversarial-training", "pgd-at", "madry"),
    "trades": (),
    "mart": (),
}

_DEFENSE_BY_PLAIN = {plain_name(n): key for key, names in DEFENSE_ALIASES.items() for n in (key,) + names}


def defense_key(name: str) -> str:
    """The lab's key (``at``, ``trades``, ``mart``) of a defense named by its key or a plain name.

    >>> defense_key("TRADES"), defense_key("pgd_at")
    ('trades', 'at')
    """
    if not isinstance(name, str):
        raise TypeError(f"defense must be a name (str), got {type(name).__name__}")
    try:
        return _DEFENSE_BY_PLAIN[plain_name(name)]
    except KeyError:
        known = "; ".join(f"{k} ({', '.join(v)})" if v else k for k, v in DEFENSE_ALIASES.items())
        raise UnknownNameError(f"unknown defense {name!r}; supported: {known}") from None
