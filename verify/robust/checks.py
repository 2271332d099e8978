"""The exact checks behind the radius: witnesses, the region certificate, the opening attack and the
bounds-only lower bound (helpers of :mod:`verify.robust.radius`).

- a *witness* is a point where the float model (in its own dtype) and the exact engine (rational
  arithmetic, :mod:`theory.network`) both put a class strictly above y; its distance from x, computed
  exactly and rounded up, is then a proved upper bound on the radius (:class:`Checker`, :func:`find_witness`);
- the *certificate* of x's region (exact, :func:`certificate`): rho_p >= min(min_j gamma_j, r_p(x)), with
  gamma_j = (f_y - f_j) / ||w_y - w_j||_q (q the dual norm of p) and r_p the distance to the region's
  boundary, exact when min_j gamma_j <= r_p(x); and min(gamma_O / max_j ||w_y - w_j||_q, r_p(x)), the bound
  of claim ``margin-lower-bound``;
- :func:`attack`: DeepFool's steps on the exact local affine map, then a bisection, for a first witness;
- :func:`bounds_lower`: the largest l-inf box that interval and linear bounds alone prove free of any
  class change.

>>> from fractions import Fraction
>>> strict_rival([Fraction(1), Fraction(3), Fraction(3)], 0), strict_rival([3, 1], 0)
(1, None)
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

__all__ = ["Checker", "find_witness", "certificate", "attack", "bounds_lower", "exact_logits", "strict_rival",
           "distance_up"]


def _q(v: float) -> Fraction:
    return Fraction(float(v))


def exact_logits(exact, z: np.ndarray) -> list:
    """f(z) in rationals (Fractions), z read exactly."""
    vals = exact.values(exact.read_input([float(v) for v in z]))
    return [Fraction(int(q.p), int(q.q)) for q in vals[exact.output].entries()]


def strict_rival(f, y: int):
    """The strongest class j != y if f_j > f_y strictly, else None (f any sequence of comparable numbers)."""
    j = max((k for k in range(len(f)) if k != y), key=lambda k: f[k])
    return j if f[j] > f[y] else None


def _up(v: float) -> float:
    return math.nextafter(v, math.inf)


def _down(v: float) -> float:
    return max(math.nextafter(v, -math.inf), 0.0)


def _sqrt_up(q: Fraction) -> float:
    s = math.sqrt(float(q))
    while Fraction(s) ** 2 < q:
        s = _up(s)
    return s


def _sqrt_down(q: Fraction) -> float:
    s = math.sqrt(float(q))
    while s > 0 and Fraction(s) ** 2 > q:
        s = _down(s)
    return s


def distance_up(w: np.ndarray, x: np.ndarray, norm: str) -> float:
    """||w - x||_p computed exactly and rounded up."""
    d = [abs(_q(a) - _q(b)) for a, b in zip(w, x)]
    if norm == "inf":
        m = max(d) if d else Fraction(0)
        f = float(m)
        return f if Fraction(f) >= m else _up(f)
    return _sqrt_up(sum((v * v for v in d), Fraction(0)))


# ---- the cheap attack that opens the search ------------------------------------------------------------

def attack(pl, x, y, norm, domain, steps: int = 60, overshoot: float = 0.02):
    """DeepFool's steps on the exact local affine map of the float64 network, then a bisection along the
    segment from x: a point where another class is strictly above y, or None."""
    z = x.copy()
    found = None
    for _ in range(steps):
        vals, pat = pl.forward(z[None])
        f = vals[pl.output][0]
        if strict_rival(f, y) is not None:
            found = z
            break
        J = pl.output_jacobian({k: p[0] for k, p in pat.items()})
        best = None
        for j in range(pl.K):
            if j == y:
                continue
            g = J[j] - J[y]
            dn = np.abs(g).sum() if norm == "inf" else np.linalg.norm(g)
            if dn == 0:
                continue
            gap = f[y] - f[j]
            if best is None or gap / dn < best[0]:
                best = (gap / dn, g, dn, gap)
        if best is None:
            return None
        _, g, dn, gap = best
        step = (gap / dn) * np.sign(g) if norm == "inf" else (gap / dn ** 2) * g
        z = z + (1 + overshoot) * step + 1e-12 * (np.sign(step) if norm == "inf" else step / max(np.linalg.norm(step), 1e-300))
        if domain is not None:
            z = np.clip(z, domain[0], domain[1])
    if found is None:
        return None
    lo_s, hi_s = 0.0, 1.0
    for _ in range(40):
        s = (lo_s + hi_s) / 2
        if strict_rival(pl.logits((x + s * (found - x))[None])[0], y) is not None:
            hi_s = s
        else:
            lo_s = s
    return x + hi_s * (found - x)


# ---- a cheap proved lower bound: the largest box that the bounds alone prove -------------------------------

def bounds_lower(pl, x, y, hi: float, domain, steps: int = 24) -> float:
    """The largest eps in [0, hi] (by bisection) for which the interval and linear bounds over the l-inf box
    of radius eps prove that no class reaches f_y: then rho_inf > eps (and rho_2 >= rho_inf). 0 if none."""
    R = pl.rival_rows(y)

    def proves(e):
        lo, up = pl.linf_box(x, e, domain)
        return bool(np.all(pl.bounds(lo, up, diff_rows=R)[2][1] < 0))

    if not math.isfinite(hi) or hi <= 0:
        return 0.0
    if proves(hi):
        return hi
    a, b = 0.0, hi
    for _ in range(steps):
        m = (a + b) / 2
        if proves(m):
            a = m
        else:
            b = m
    return a


# ---- witnesses ------------------------------------------------------------------------------------------

class Checker:
    """The checks of a candidate witness: rounded to the model's dtype and domain, classified by the float
    model and exactly."""
    def __init__(self, exact, float_logits, x, y, norm, dtype, domain):
        self.exact, self.float_logits, self.x, self.y, self.norm = exact, float_logits, x, y, norm
        self.dtype, self.domain = dtype, domain

    def cast(self, w: np.ndarray) -> np.ndarray:
        """w rounded to the model's dtype (the float model evaluates exactly that point), clipped to the domain."""
        import torch

        if self.domain is not None:
            w = np.clip(w, self.domain[0], self.domain[1])
        if self.dtype is None:
            return np.asarray(w, dtype=np.float64)
        return torch.as_tensor(w, dtype=torch.float64).to(self.dtype).to(torch.float64).numpy()

    def check(self, w: np.ndarray) -> dict:
        ff = self.float_logits(w[None])[0]
        jf = strict_rival(ff, self.y)
        fe = exact_logits(self.exact, w)
        je = strict_rival(fe, self.y)
        return {"float": jf is not None, "exact": je is not None, "float_class": int(np.argmax(ff)),
                "exact_margin": float(max(fe[k] for k in range(len(fe)) if k != self.y) - fe[self.y])}


def _margin_point(chk: Checker, pl, reg, rival: int, mu: float):
    """The nearest point to x of the pattern's closed region where f_rival - f_y >= mu (an LP for l-inf,
    a least-distance problem for l2), or None."""
    from verify.robust.search import ldp

    x, y, D = chk.x, chk.y, pl.D
    G, h = -reg.A, reg.A @ x - reg.c                               # A (x + d) <= c
    if chk.domain is not None:
        G = np.vstack([G, np.eye(D), -np.eye(D)])
        h = np.concatenate([h, chk.domain[0] - x, x - chk.domain[1]])
    g, e = reg.J[rival] - reg.J[y], reg.b[rival] - reg.b[y]
    G, h = np.vstack([G, g[None]]), np.append(h, mu - (g @ x + e))
    if chk.norm == "2":
        try:
            r = ldp(G, h)
        except RuntimeError:
            return None
        return None if r is None else x + r.d
    from scipy.optimize import linprog

    # variables (d, t): min t, -G d <= -h, d - t <= 0, -d - t <= 0
    A_ub = np.vstack([np.hstack([-G, np.zeros((G.shape[0], 1))]), np.hstack([np.eye(D), -np.ones((D, 1))]),
                      np.hstack([-np.eye(D), -np.ones((D, 1))])])
    b_ub = np.concatenate([-h, np.zeros(2 * D)])
    c = np.zeros(D + 1)
    c[D] = 1.0
    res = linprog(c, A_ub=A_ub, b_ub=b_ub, bounds=[(None, None)] * D + [(0, None)], method="highs")
    return x + res.x[:D] if res.status == 0 else None


def find_witness(chk: Checker, pl, z, rival, pattern, radius):
    """A point just beyond the solver's tie point z that both checks accept: the nearest point of the
    solver's region (its pattern) where f_rival - f_y >= mu, for growing margins mu; failing that, z
    pushed along the steepest ascent of f_rival - f_y, or along the ray from x, by growing amounts.
    Returns (point, checks): the first point that passes, else the last one tried."""
    x = chk.x
    last = None

    def tried(w):
        nonlocal last
        w = chk.cast(w)
        res = chk.check(w)
        last = (w, res)
        return res["float"] and res["exact"]

    if pattern is not None and rival is not None:
        reg = pl.region(pattern)
        fscale = max(1.0, float(np.max(np.abs(reg.J @ z + reg.b))))
        for k in (12, 10, 8, 7, 6, 5, 4, 3):
            w = _margin_point(chk, pl, reg, rival, fscale * 10.0 ** -k)
            if w is not None and tried(w):
                return last
        g = reg.J[rival] - reg.J[chk.y]
        dirs = [np.sign(g) if chk.norm == "inf" else g / np.linalg.norm(g)] if np.any(g != 0) else []
    else:
        dirs = []
    base = max(radius, 1e-12 * max(1.0, float(np.max(np.abs(x))) if x.size else 1.0))
    for tau in (0.0, 1e-12, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2):
        cands = [z + tau * base * d for d in dirs] + [x + (1 + tau) * (z - x)]
        for w in cands[-1:] if tau == 0 else cands:
            if tried(w):
                return last
    return last if last is not None else (None, {"float": False, "exact": False})


# ---- the certificate of x's own region --------------------------------------------------------------------

def certificate(exact, x: np.ndarray, y: int, norm: str) -> dict:
    """The lower bound on the radius that the exact region of ``x`` proves (0 when x lies on a kink)."""
    from theory.layers import KinkError
    from theory.region import linearize

    try:
        reg = linearize(exact, [float(v) for v in x])
    except KinkError as exc:
        return {"lower": 0.0, "exact": False, "margin_lower_bound": 0.0,
                "note": f"x lies on a kink ({str(exc).split(';')[0]}): its region proves nothing"}
    A, _, _ = reg._halfspaces
    D = A.ncols()
    Ae = [Fraction(int(q.p), int(q.q)) for q in A.entries()]
    sl = [Fraction(int(q.p), int(q.q)) for q in reg.slacks()]
    J = reg.jacobian_fmpq
    K = J.nrows()
    Je = [Fraction(int(q.p), int(q.q)) for q in J.entries()]
    f = [Fraction(int(q.p), int(q.q)) for q in reg._vals[exact.output].entries()]
    sq = norm == "2"

    def size(vec):                          # ||v||_2^2 for l2 (squares compared), ||v||_1 for l-inf
        return sum((v * v for v in vec), Fraction(0)) if sq else sum((abs(v) for v in vec), Fraction(0))

    r = None
    for i in range(len(sl)):
        n = size(Ae[i * D:(i + 1) * D])
        if n == 0:
            continue
        d = sl[i] * sl[i] / n if sq else sl[i] / n
        r = d if r is None or d < r else r
    gam, omax = None, Fraction(0)
    for j in range(K):
        if j == y:
            continue
        w = [Je[y * D + t] - Je[j * D + t] for t in range(D)]
        n = size(w)
        omax = max(omax, n)
        gap = f[y] - f[j]
        if n == 0:
            continue
        g = gap * gap / n if sq else gap / n
        gam = g if gam is None or g < gam else gam
    go = f[y] - max(f[j] for j in range(K) if j != y)
    mlb = (go * go / omax if sq else go / omax) if omax > 0 else None
    inf = math.inf

    def out(v):
        if v is None:
            return inf
        return _sqrt_down(v) if sq else _down(float(v)) if Fraction(float(v)) > v else float(v)

    lower = min(v for v in (gam, r) if v is not None) if (gam is not None or r is not None) else None
    return {"lower": out(lower), "exact": gam is not None and (r is None or gam <= r),
            "margin_lower_bound": out(min(v for v in (mlb, r) if v is not None) if (mlb is not None or r is not None)
                                      else None),
            "gamma": out(gam), "r": out(r)}
