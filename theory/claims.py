"""The registry of claims: one id per claim, used by the proof, the checker, the test and the figure.

The ids, statements and provenance tags follow ``SPEC.md`` of the project specification.
Provenance tags:

- ``abstract``: a seed paper's abstract says this in words; the formal version is ours.
- ``definition``: a regularizer's definition as its original paper and public code compute it.
- ``derived``: true mathematics that follows from the setting. It is *not* evidence that any paper
  states it in this form.

>>> CLAIMS["input-gradient"].tag
'derived'
>>> sorted({c.kind for c in CLAIMS.values()})
['empirical', 'identity', 'inequality', 'limit', 'measurement']

Each claim lists the regularizers it concerns (``Claim.regularizers``, canonical ids such as ``R-IG``);
:func:`claims_about` answers the other way round:

>>> [c.id for c in claims_about("input-gradient")][:3]
['input-gradient', 'input-gradient-bounds', 'hessian-trace-weighted-cross-lipschitz']
"""

from __future__ import annotations

from dataclasses import dataclass

from theory.errors import UnknownNameError

__all__ = ["Claim", "CLAIMS", "REGULARIZERS", "REGULARIZER_ALIASES", "plain_name", "claim", "claim_ids", "claims_about",
           "regularizer_id", "claims_by_regularizer"]

_GUO = "Guo et al., TPAMI 2021 (seeds 000, 003)"
_LIU = "Liu & Chan, BMVC 2022 (seed 001)"
_WEN = "Wen, Li & Jia, ICML 2020 (seed 002)"


@dataclass(frozen=True)
class Claim:
    """One claim of the specification.

    ``kind`` is how it can be established:

    - ``identity``: an equation, proved symbolically and checked numerically as a gap;
    - ``inequality``: checked with its slack;
    - ``limit``: an asymptotic statement, proved with series or limits;
    - ``measurement``: a quantity the toolkit measures and reports (no true/false verdict by itself);
    - ``empirical``: a statement about training dynamics, established only by experiment.

    ``regularizers`` are the canonical ids (``R-IG``, ``R-JAC``, ``R-CL``, ``R-CURE``, ``R-EMR``) of the
    regularizers whose value, gradient or behaviour the claim is about; empty for claims about the setting
    itself (the network, the margin) that name no regularizer.
    """

    id: str
    statement: str
    tag: str
    source: str
    kind: str
    assumptions: str = ""
    regularizers: tuple[str, ...] = ()


def _c(id, statement, tag, source, kind, assumptions="", regs=()):
    return Claim(id, statement, tag, source, kind, assumptions, tuple(regs))


_INTERIOR = "x in the interior of its activation region (no zero pre-activation, no tied max)"

#: Every claim of the specification, by id, in the specification's order.
CLAIMS: dict[str, Claim] = {c.id: c for c in [
    _c("local-affine",
       "On the activation region R(x), f(x') = J x' + b exactly, and J equals autodiff's Jacobian at interior points.",
       "derived", _GUO, "identity", _INTERIOR),
    _c("input-gradient",
       "grad_x L(x, y) = J^T (p - e_y) = sum_{j != y} p_j (w_j - w_y).",
       "derived", _GUO, "identity", _INTERIOR, regs=("R-IG",)),
    _c("hessian-gauss-newton",
       "hess_x L = J^T S(p) J; it does not depend on y, is PSD, has rank <= K-1; "
       "lambda_max(S) <= max_i 2 p_i (1 - p_i) <= 1/2; tr S = 1 - |p|^2.",
       "derived", _GUO, "identity", _INTERIOR, regs=("R-CURE",)),
    _c("cross-lipschitz-centered-jacobian",
       "sum_{l,m} |w_l - w_m|^2 = 2K |C J|_F^2 = 2K |J|_F^2 - 2 |J^T 1|^2 <= 2K |J|_F^2, "
       "with equality iff sum_k w_k = 0.",
       "derived", _GUO, "identity", "any differentiable f", regs=("R-CL", "R-JAC")),
    _c("input-gradient-bounds",
       "IG = |J^T (p - e)|^2 satisfies (a) IG <= |p-e|^2 |CJ|_2^2 <= |p-e|^2 CL/(2K) <= |p-e|^2 |J|_F^2 and "
       "(b) IG <= (1 - p_y) sum_{j != y} p_j |w_j - w_y|^2 <= (1 - p_y) CL/2.",
       "derived", _GUO, "inequality", _INTERIOR, regs=("R-IG", "R-JAC", "R-CL")),
    _c("hessian-trace-weighted-cross-lipschitz",
       "tr hess_x L = <G, S> = 1/2 sum_{l,m} p_l p_m |w_l - w_m|^2 = E_{yhat ~ p} |grad_x L(x, yhat)|^2.",
       "derived", _GUO, "identity", _INTERIOR, regs=("R-CL", "R-IG")),
    _c("curvature-soft-label-gradient",
       "If x + h z is in R(x): grad L(x + h z) - grad L(x) = J^T (p(x + h z) - p(x)); CURE is the input "
       "gradient at x + h z of the cross-entropy against the soft label p(x).",
       "derived", _GUO, "identity", "x and x + h z in the same activation region",
       regs=("R-CURE", "R-IG")),
    _c("curvature-small-step",
       "R-CURE = h^2 |H z|^2 + O(h^3), with H = J^T S J.",
       "derived", _GUO, "limit", _INTERIOR, regs=("R-CURE",)),
    _c("curvature-region-crossing",
       "When x + h z leaves R(x), R-CURE gains the term (J' - J)^T (p' - e_y); measured against h "
       "with exact exit times, the crossing fraction and the pattern-change share of R-CURE.",
       "derived", _GUO, "measurement", "x in the interior of its region; x + h z anywhere",
       regs=("R-CURE",)),
    _c("gram-unification",
       "Every regularizer is <G, M> for a K x K weighting M: R-JAC: I; R-CL: 2K C; R-IG: (p-e)(p-e)^T; "
       "tr H: S; R-EMR: pt pt^T; softmax Jacobian: S^2; small-h R-CURE = h^2 z^T J^T S G S J z.",
       "derived", _GUO, "identity", _INTERIOR, regs=("R-IG", "R-JAC", "R-CL", "R-CURE", "R-EMR")),
    _c("confident-limit",
       "Scaling the logits by c -> oo at a correctly classified x: R-IG, tr H and small-h R-CURE -> 0 "
       "exponentially in c, while R-JAC and R-CL grow as c^2.",
       "derived", _GUO, "limit", "x correctly classified with a unique largest logit",
       regs=("R-IG", "R-JAC", "R-CL", "R-CURE")),
    _c("euler-homogeneous",
       "For a bias-free piecewise-linear network, f(x) = J(x) x exactly.",
       "derived", _LIU, "identity", "no biases (BatchNorm shifts count as biases); " + _INTERIOR),
    _c("effective-margin",
       "gamma(x) = (f_y - f_j) / |w_y - w_j| is the exact distance to the local decision hyperplane "
       "between y and the strongest other class j; it is invariant to logit scaling; if gamma <= r(x) "
       "it is the exact distance to the decision boundary between y and j.",
       "derived", _LIU, "identity", _INTERIOR, regs=("R-EMR",)),
    _c("cross-entropy-scale-variance",
       "Scaling the logits by c leaves gamma unchanged while CE -> 0 and |grad CE| -> 0 (input and "
       "parameters): the loss can fall by growing the effective weight norm without growing the margin.",
       "abstract", _LIU, "limit", "x correctly classified with a unique largest logit", regs=("R-EMR",)),
    _c("emr-limits",
       "As T -> oo, R-EMR -> |J^T 1|^2 / K^2; as T -> 0, R-EMR -> |w_yhat|^2 for the predicted class.",
       "derived", _LIU + "; from the official code", "limit", "unique largest logit for T -> 0",
       regs=("R-EMR", "R-CL", "R-JAC")),
    _c("standard-training-small-margin",
       "Under plain cross-entropy training the effective weight norm keeps growing while the effective "
       "margin stalls; adding EMR gives larger effective margins and more robustness.",
       "abstract", _LIU, "empirical", regs=("R-EMR",)),
    _c("margin-lower-bound",
       "Within the region, dist to the decision boundary >= min(gamma_O / max_{j != y} |w_y - w_j|, r(x)); "
       "max_j |w_y - w_j| <= sqrt(2) |J|_2 <= sqrt(2) prod_l |J_l|_2.",
       "derived", _WEN, "inequality", _INTERIOR, regs=("R-JAC",)),
    _c("layer-smoothing",
       "Adversarial training (or the regularizers) shrinks the singular values of the layer Jacobians "
       "J_l(x) for most layers, across the whole spectrum.",
       "abstract", _WEN, "empirical", regs=("R-IG", "R-JAC", "R-CL", "R-CURE", "R-EMR")),
    _c("confidence-concentration",
       "As epsilon grows, clean accuracy falls and output margins and softmax confidences shift toward 0: "
       "samples concentrate near the decision boundaries.",
       "abstract", _WEN, "empirical"),
]}

#: The regularizers by their definitions (provenance tag ``definition``).
REGULARIZERS: dict[str, str] = {
    "R-IG": "|grad_x L(x, y)|^2 (double backprop; Drucker & LeCun 1991; Ross & Doshi-Velez 2018)",
    "R-JAC": "|J(x)|_F^2 of the logits (Jakubovitz & Giryes 2018; Hoffman et al. 2019)",
    "R-CL": "sum_{l,m} |w_l - w_m|^2 of the logits (Hein & Andriushchenko 2017)",
    "R-CURE": "|grad L(x + h z) - grad L(x)|^2, z = sign(grad L)/|sign(grad L)| (Moosavi-Dezfooli et al. 2019)",
    "R-EMR": "|J^T pt|^2, pt = softmax(f/T) held constant (Liu & Chan 2022, as coded)",
}


def claim(claim_id: str) -> Claim:
    """Look up a claim by id, with a helpful error for an unknown one."""
    try:
        return CLAIMS[claim_id]
    except KeyError:
        raise UnknownNameError(
            f"unknown claim id {claim_id!r}; known ids: {', '.join(CLAIMS)}") from None


def claim_ids(kind: str | None = None) -> list[str]:
    """All claim ids in specification order, optionally only those of one kind."""
    return [c.id for c in CLAIMS.values() if kind is None or c.kind == kind]


#: The plain names each regularizer answers to besides its id; the numeric side reads this table too
#: (``verify.regularizers.names.ALIASES``). Names are compared after
#: ``plain_name`` (case, ``-``, ``_`` and spaces ignored), so ``input_gradient`` and ``Input Gradient`` match.
REGULARIZER_ALIASES: dict[str, tuple[str, ...]] = {
    "R-IG": ("ig", "input-gradient", "input-gradient-norm", "input-gradient-regularization"),
    "R-JAC": ("jac", "jacobian", "jacobian-norm", "jacobian-regularization"),
    "R-CL": ("cl", "cross-lipschitz", "cross-lipschitz-regularization"),
    "R-CURE": ("cure", "curvature", "curvature-regularization"),
    "R-EMR": ("emr", "effective-margin", "effective-margin-regularization"),
}


def plain_name(name: str) -> str:
    """``name`` lower-cased without ``-``, ``_`` and spaces: the form in which two names are compared."""
    return "".join(ch for ch in name.lower() if ch not in "-_ \t")


_BY_PLAIN = {plain_name(n): rid for rid, names in REGULARIZER_ALIASES.items() for n in (rid,) + names}


def regularizer_id(name: str) -> str:
    """The canonical id (``R-IG``, ...) of a regularizer named by its id or a plain name (``input-gradient``,
    ``ig``, ``Cross Lipschitz``; case, ``-``, ``_`` and spaces ignored), with a helpful error otherwise.

    >>> regularizer_id("input_gradient"), regularizer_id("r-cure")
    ('R-IG', 'R-CURE')
    """
    if not isinstance(name, str):
        raise TypeError(f"regularizer must be a name (str), got {type(name).__name__}")
    try:
        return _BY_PLAIN[plain_name(name)]
    except KeyError:
        known = "; ".join(f"{rid} ({', '.join(names)})" for rid, names in REGULARIZER_ALIASES.items())
        raise UnknownNameError(f"unknown regularizer {name!r}; known: {', '.join(REGULARIZERS)}, or their plain "
                               f"names: {known}") from None


def claims_about(regularizer: str) -> list[Claim]:
    """The claims that concern one regularizer (by id or plain name), in specification order.

    >>> [c.id for c in claims_about("R-EMR")]  # doctest: +NORMALIZE_WHITESPACE
    ['gram-unification', 'effective-margin', 'cross-entropy-scale-variance', 'emr-limits',
     'standard-training-small-margin', 'layer-smoothing']
    """
    rid = regularizer_id(regularizer)
    return [c for c in CLAIMS.values() if rid in c.regularizers]


def claims_by_regularizer() -> dict[str, list[Claim]]:
    """Every claim grouped by regularizer: ``{id: claims}`` in the order of :data:`REGULARIZERS`, then
    ``"none"`` for the claims that concern no regularizer (the setting: the network, the margin, training).
    A claim about several regularizers is listed under each."""
    out = {rid: claims_about(rid) for rid in REGULARIZERS}
    out["none"] = [c for c in CLAIMS.values() if not c.regularizers]
    return out
