"""The regularizers: their definitions computed as training code does (:mod:`.definitions`, re-exported
here), their derived closed forms on a region (:mod:`.closed_forms`), and the check of a user's own
implementation (:mod:`.implementation`, :func:`verify.check_implementation`).

>>> from verify.regularizers import input_gradient, conventions
>>> sorted(conventions("R-IG"))
['dtak-rrr', 'mean', 'ross-doshi-velez', 'sum']
"""

from verify.regularizers.definitions import (
                                             CONVENTIONS,
                                             KinkWarning,
                                             conventions,
                                             cross_lipschitz,
                                             cure_direction,
                                             curvature,
                                             effective_margin,
                                             emr,
                                             hessian,
                                             hessian_diagonal,
                                             hessian_trace,
                                             input_gradient,
                                             jacobian,
                                             logit_jacobian,
                                             loss_gradient,
                                             softmax_jacobian,
                                             unchecked,
)

__all__ = ["CONVENTIONS", "conventions", "loss_gradient", "logit_jacobian", "input_gradient", "jacobian",
           "cross_lipschitz", "cure_direction", "curvature", "hessian", "hessian_diagonal", "hessian_trace",
           "effective_margin", "emr", "softmax_jacobian", "unchecked", "KinkWarning"]
