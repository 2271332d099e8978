"""Reading numbers exactly: every input becomes a python-flint rational (``fmpq``).

Floats (Python, numpy, torch; float16 to float64) are dyadic rationals, and are read as the exact
rational they are, never rounded. NaN, infinities and non-numbers raise specific errors.

>>> rational(0.1) == rational("3602879701896397/36028797018963968")
True
>>> rational("1/3") + rational(2, 3)
1
>>> to_sympy(rational(-3, 4))
-3/4
"""

from __future__ import annotations

import math
import numbers
from fractions import Fraction
from typing import Any

import flint
import sympy
from sympy.polys.matrices import DomainMatrix

from .errors import NonFiniteError, ShapeError

__all__ = ["NonFiniteError", "rational", "vector", "matrix", "to_sympy", "to_sympy_matrix",
           "to_domain_matrix", "as_numpy", "flat_entries"]


def as_numpy(value: Any):
    """A numpy view of a torch tensor or array-like, or None if ``value`` is not array-like."""
    import numpy as np

    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, without importing torch
        if value.is_complex():
            raise TypeError(f"expected real numbers, got a complex tensor of dtype {value.dtype}")
        return value.detach().cpu().double().numpy()
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"expected real numbers, got an array of dtype {value.dtype}")
        return value
    return None


def rational(value: Any, den: Any = None, *, what: str = "value") -> flint.fmpq:
    """The exact rational of ``value`` (or of ``value / den``)."""
    if den is not None:
        return rational(value, what=what) / rational(den, what=what)
    if isinstance(value, flint.fmpq):
        return value
    if isinstance(value, bool):
        raise TypeError(f"{what}: expected a number, got a bool ({value!r})")
    if isinstance(value, (int, flint.fmpz)):
        return flint.fmpq(int(value))
    if isinstance(value, Fraction):
        return flint.fmpq(value.numerator, value.denominator)
    if isinstance(value, sympy.Basic):
        if value.is_Rational:
            return flint.fmpq(int(value.p), int(value.q))
        if value.is_Float:
            if not value.is_finite:
                raise NonFiniteError(f"{what}: expected a finite number, got {value}")
            r = sympy.Rational(value)
            return flint.fmpq(int(r.p), int(r.q))
        raise TypeError(f"{what}: expected a rational number, got the sympy expression {value}")
    if isinstance(value, str):
        try:
            f = Fraction(value.strip())
        except (ValueError, ZeroDivisionError):
            raise TypeError(f"{what}: expected a number, got the string {value!r}") from None
        return flint.fmpq(f.numerator, f.denominator)
    if isinstance(value, numbers.Integral):
        return flint.fmpq(int(value))
    if isinstance(value, numbers.Real):
        v = float(value)
        if not math.isfinite(v):
            raise NonFiniteError(f"{what}: expected a finite number, got {v}")
        n, d = v.as_integer_ratio()
        return flint.fmpq(n, d)
    arr = as_numpy(value)
    if arr is not None and arr.ndim == 0:
        return rational(arr.item(), what=what)
    raise TypeError(f"{what}: expected a number (int, Fraction, sympy Rational, float or decimal string), "
                    f"got {type(value).__name__} {value!r}")


def flat_entries(values: Any, what: str) -> tuple[list, tuple[int, ...]]:
    """Flatten a nested sequence, sympy Matrix, numpy array or torch tensor: (entries, shape)."""
    import numpy as np

    arr = as_numpy(values)
    if arr is not None:
        if arr.dtype.kind == "f":
            bad = ~np.isfinite(arr)
            if bad.any():
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                raise NonFiniteError(f"{what}: expected finite numbers, got {arr[idx]} at index {idx}")
        return arr.ravel().tolist(), tuple(arr.shape)
    if isinstance(values, sympy.MatrixBase):
        return list(values), tuple(values.shape)
    if isinstance(values, (list, tuple)):
        if not values:
            return [], (0,)
        if isinstance(values[0], (list, tuple)) or as_numpy(values[0]) is not None and as_numpy(values[0]).ndim:
            parts = [flat_entries(v, what) for v in values]
            shapes = {p[1] for p in parts}
            if len(shapes) != 1:
                raise ShapeError(f"{what}: ragged nested sequence (row shapes {sorted(shapes)})")
            return [e for p in parts for e in p[0]], (len(values),) + parts[0][1]
        return list(values), (len(values),)
    raise TypeError(f"{what}: expected a sequence, array, tensor or sympy Matrix of numbers, "
                    f"got {type(values).__name__}")


def matrix(values: Any, shape: tuple[int, int] | None = None, *, what: str = "matrix") -> flint.fmpq_mat:
    """An exact ``fmpq_mat`` from any array-like; ``shape`` reshapes (row-major) and checks the size."""
    entries, src_shape = flat_entries(values, what)
    if shape is None:
        if len(src_shape) == 1:
            shape = (src_shape[0], 1)
        elif len(src_shape) == 2:
            shape = src_shape
        else:
            raise ShapeError(f"{what}: expected a 1-D or 2-D array, got shape {src_shape}")
    if len(entries) != shape[0] * shape[1]:
        raise ShapeError(f"{what}: expected {shape[0] * shape[1]} numbers (shape {shape}), "
                         f"got {len(entries)} (shape {src_shape})")
    q = None
    if all(type(e) is float for e in entries):     # floats: each one's exact ratio, without rational()'s dispatch
        fq = flint.fmpq
        try:
            q = [fq(*e.as_integer_ratio()) for e in entries]
        except (ValueError, OverflowError):        # a nan or inf: rational() names it
            q = None
    if q is None:
        q = [rational(e, what=what) for e in entries]
    return flint.fmpq_mat(shape[0], shape[1], q)


def vector(values: Any, n: int | None = None, *, what: str = "vector") -> flint.fmpq_mat:
    """An exact column vector (n x 1)."""
    entries, shp = flat_entries(values, what)
    if n is not None and len(entries) != n:
        raise ShapeError(f"{what}: expected {n} numbers, got shape {shp}")
    return matrix(entries, (len(entries), 1), what=what)


def to_sympy(q: flint.fmpq) -> sympy.Rational:
    """The python-flint rational ``q`` as a sympy Rational (exactly)."""
    return sympy.Rational(int(q.p), int(q.q))


def to_sympy_matrix(m: flint.fmpq_mat) -> sympy.Matrix:
    """A sympy Matrix of Rationals (through DomainMatrix, which converts flint entries in bulk)."""
    if m.nrows() == 0 or m.ncols() == 0:
        return sympy.zeros(m.nrows(), m.ncols())
    return to_domain_matrix(m).to_Matrix()


def to_domain_matrix(m: flint.fmpq_mat) -> DomainMatrix:
    """Wrap as a sympy ``DomainMatrix`` over QQ (flint-backed, no copy of the entries' arithmetic)."""
    from sympy import QQ
    from sympy.polys.matrices._dfm import DFM

    return DomainMatrix.from_rep(DFM(m, (m.nrows(), m.ncols()), QQ))
