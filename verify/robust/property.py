"""Deciding a VNNLIB property on an ONNX network: :func:`verify_vnnlib`, in the result format of VNN-COMP.

The property (:mod:`verify.robust.vnnlib`) asks whether some X in the input box [lo, hi] makes some disjunct
(a conjunction of linear constraints C Y + c <= 0) hold at Y = f(X). With the property's *margin*

    m(X) = min_k max_i (C_ki f(X) + c_ki)        (<= 0 exactly where some disjunct holds),

the answer is ``sat`` iff min over the box of m is <= 0. It is decided in three steps, each cheaper than the next:

1. bounds: interval and linear bounds of every C_ki f over the box (:meth:`verify.robust.plnet.PLNet.bounds`);
   when every disjunct has a row whose lower bound is > 0, no X satisfies the property: ``unsat``;
2. an attack: projected signed-gradient descent on m in the box (the float64 model, from the box's centre
   and from seeded random starts), every point with m <= 0 checked as a witness;
3. a mixed-integer program over the network's exact encoding on the box (:mod:`verify.robust.encoding`):
   the point X, a binary per candidate disjunct, and t with t >= C_ki f + c_ki for the chosen disjunct's
   rows (big-M from the bounds for the others), t <= 0, solved by HiGHS; infeasible: ``unsat``; a point:
   checked as a witness, and if the check fails the program is solved again for the least t (the most
   violating point).

A *witness* is a point of the model's float type inside the box (checked exactly against the file's rational
bounds) at which the property holds both for the float model and, in rational arithmetic, for the exact
network (:func:`verify.robust.checks.exact_logits`): ``sat`` is printed only then. ``unsat`` rests on
the float64 bound propagation (step 1) or on HiGHS' proof that the program is infeasible (step 3), up to their
floating-point tolerances (:data:`verify.robust.milp.HIGHS_OPTIONS`), as every robust answer of
:func:`~verify.robust.decide.robust_at` does. When time runs out the status is ``timeout`` (``unknown`` when the
search stopped for another reason), with the bounds reached on min m: ``margin_lower`` (bounds, or the
program's dual bound) and ``margin_upper`` (the least m the attack met, in floats).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from verify.errors import VerifyError

__all__ = ["verify_vnnlib", "decide_property", "decide_cases", "VnnResult", "VNN_STATUSES"]

#: The first line of every result, as VNN-COMP writes it.
VNN_STATUSES = ("sat", "unsat", "unknown", "timeout")


@dataclass
class VnnResult:
    """One property's answer. ``status`` one of :data:`VNN_STATUSES`; ``witness`` the counterexample X
    (flattened, in the model's float values) and ``outputs`` the float model's Y there (sat only);
    ``checks`` the witness checks (``in_box``, ``float``, ``exact``); ``margin_lower`` / ``margin_upper`` the
    bounds reached on min m over the box; ``method`` what decided (bounds, attack, milp); ``class_change`` the
    class y when the property is "not robustly of class y" (else None); ``notes`` what the answer rests on."""

    status: str
    witness: list | None = None
    outputs: list | None = None
    checks: dict = field(default_factory=dict)
    margin_lower: float = -math.inf
    margin_upper: float = math.inf
    method: str = ""
    class_change: int | None = None
    seconds: float = 0.0
    notes: list = field(default_factory=list)

    def result_text(self) -> str:
        """The VNN-COMP result file: the status line and, for sat, ``((X_0 v) ... (Y_0 v) ...)``."""
        if self.status != "sat":
            return self.status + "\n"
        pairs = [f"(X_{i} {float(v)!r})" for i, v in enumerate(self.witness)] + \
                [f"(Y_{j} {float(v)!r})" for j, v in enumerate(self.outputs)]
        return "sat\n(" + "\n ".join(pairs) + ")\n"

    def report(self) -> str:
        """The result text followed by comment lines (``;``) with the bounds, the method and the notes."""
        lines = [f"; {self.status} by {self.method or '-'} in {self.seconds:.2f} s",
                 f"; min over the box of the property margin m in [{self.margin_lower:.9g}, {self.margin_upper:.9g}]"
                 + (" (m <= 0: the property holds)" if self.status == "sat" else "")]
        if self.class_change is not None:
            lines.append(f"; the property is a class change from class {self.class_change}")
        lines += [f"; note: {n}" for n in self.notes]
        return self.result_text() + "\n".join(lines) + "\n"

    def save(self, path):
        """Write :meth:`result_text` to ``path`` (the competition's results file)."""
        Path(path).write_text(self.result_text())

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("margin_lower", "margin_upper"):
            v = d[k]
            d[k] = float(v) if math.isfinite(v) else ("inf" if v > 0 else "-inf")
        return d


class PropertyShapeError(VerifyError, ValueError):
    """A property whose X or Y count does not match the network."""


def verify_vnnlib(onnx_path, vnnlib_path, *, timeout: float = 60.0, seed: int = 0, restarts: int = 10,
                  steps: int = 100) -> VnnResult:
    """Decide the VNNLIB property at ``vnnlib_path`` on the ONNX network at ``onnx_path`` (module docstring)
    within ``timeout`` seconds: a :class:`VnnResult`. Reads with :func:`verify.robust.onnx_read.read_onnx` and
    :func:`verify.robust.vnnlib.read_vnnlib` (their errors name the operator or the construct outside the
    fragment); the attack runs ``restarts`` seeded starts (``seed``) of ``steps`` steps."""
    from verify.robust.onnx_read import read_onnx
    from verify.robust.vnnlib import read_vnnlib_cases

    model, in_shape = read_onnx(onnx_path)
    cases = read_vnnlib_cases(vnnlib_path)
    if len(cases) == 1:
        return decide_property(model, in_shape, cases[0], timeout=timeout, seed=seed, restarts=restarts, steps=steps)
    return decide_cases(model, in_shape, cases, timeout=timeout, seed=seed, restarts=restarts, steps=steps)


def decide_cases(model, in_shape, cases, *, timeout: float = 60.0, seed: int = 0, restarts: int = 10,
                 steps: int = 100) -> VnnResult:
    """A property over several input boxes (:func:`verify.robust.vnnlib.parse_vnnlib_cases`): each box decided in
    turn by :func:`decide_property`, with the time left shared equally among the boxes still open. ``sat`` at the
    first box with a checked witness (the property holds there); ``unsat`` when every box is unsat; otherwise
    ``timeout`` (or ``unknown``) with the bounds reached: the least lower and the least upper bound on the
    margin over the boxes. The notes say what each box gave."""
    t0 = time.perf_counter()
    res = VnnResult("unsat", method="cases")
    res.margin_lower, methods = math.inf, set()
    for k, prop in enumerate(cases):
        left = (timeout - (time.perf_counter() - t0)) / (len(cases) - k)
        if left <= 1e-3:
            res.notes.append(f"boxes {k + 1}-{len(cases)} of {len(cases)}: no time left")
            res.status, res.margin_lower = "timeout", -math.inf
            break
        r = decide_property(model, in_shape, prop, timeout=left, seed=seed, restarts=restarts, steps=steps)
        methods.add(r.method)
        res.notes.append(f"box {k + 1} of {len(cases)}: {r.status} by {r.method} in {r.seconds:.2f} s")
        res.margin_lower = min(res.margin_lower, r.margin_lower)
        res.margin_upper = min(res.margin_upper, r.margin_upper)
        if r.status == "sat":
            res.status, res.witness, res.outputs, res.checks = "sat", r.witness, r.outputs, r.checks
            res.class_change = r.class_change
            res.notes += r.notes
            break
        if r.status != "unsat":
            res.status = r.status if res.status in ("unsat", "unknown") else res.status
    res.method = f"cases ({', '.join(sorted(methods))})"
    res.seconds = round(time.perf_counter() - t0, 6)
    return res


def _rows(prop):
    """(C (r, K), c (r,), disjunct of each row) stacking every disjunct's constraints."""
    C = np.array([[float(v) for v in con.coef] for conj in prop.disjuncts for con in conj], dtype=np.float64)
    c = np.array([float(con.const) for conj in prop.disjuncts for con in conj], dtype=np.float64)
    of = np.array([k for k, conj in enumerate(prop.disjuncts) for _ in conj])
    return C.reshape(-1, prop.n_out), c, of


def _margin(vals, c, of, n_disj):
    """m per point from the stacked row values (B, r)."""
    v = vals + c
    return np.min([v[:, of == k].max(1) for k in range(n_disj)], axis=0)


def decide_property(model, in_shape, prop, *, timeout: float = 60.0, seed: int = 0, restarts: int = 10,
                    steps: int = 100) -> VnnResult:
    """:func:`verify_vnnlib` on a torch model in the theory (eval mode, inputs of ``in_shape``) and a parsed
    :class:`~verify.robust.vnnlib.Property`."""
    import torch

    from verify.robust.inputs import exact_of
    from verify.robust.solvers import load_milp

    t0 = time.perf_counter()
    load_milp()
    D = math.prod(in_shape)
    exact, pl = exact_of(model, tuple(in_shape))
    if prop.n_in != D or prop.n_out != pl.K:
        raise PropertyShapeError(f"the property has {prop.n_in} inputs X_i and {prop.n_out} outputs Y_j, the network "
                                 f"{D} inputs and {pl.K} outputs")
    dtype = next(model.parameters()).dtype
    res = VnnResult("unknown", class_change=prop.class_change())
    lo = np.array([float(v) for v in prop.lo])
    hi = np.array([float(v) for v in prop.hi])
    C, c, of = _rows(prop)
    nd = len(prop.disjuncts)

    def finish(status, method):
        res.status, res.method, res.seconds = status, method, round(time.perf_counter() - t0, 6)
        return res

    def witness(z):
        """z as a point of the model's type in the box, and whether the property holds there (float and exact)."""
        w = torch.as_tensor(np.clip(z, lo, hi), dtype=torch.float64).to(dtype)
        for i in range(D):
            up, down = torch.tensor(math.inf, dtype=dtype), torch.tensor(-math.inf, dtype=dtype)
            for _ in range(4):
                if Fraction(float(w[i])) < prop.lo[i]:
                    w[i] = torch.nextafter(w[i], up)
                elif Fraction(float(w[i])) > prop.hi[i]:
                    w[i] = torch.nextafter(w[i], down)
        wf = w.to(torch.float64).numpy()
        with torch.no_grad():
            fy = model(w.reshape((1,) + tuple(in_shape))).reshape(-1)
        from verify.robust.checks import exact_logits

        chk = {"in_box": prop.in_box(wf), "float": prop.holds([float(v) for v in fy]),
               "exact": prop.holds(exact_logits(exact, wf))}
        if all(chk.values()):
            res.witness, res.outputs, res.checks = [float(v) for v in wf], [float(v) for v in fy], chk
            res.margin_upper = min(res.margin_upper, float(_margin((C @ fy.double().numpy())[None], c, of, nd)[0]))
            return True
        res.checks = chk
        return False

    # 1. bounds
    _, _, (dl, dh) = pl.bounds(lo, hi, diff_rows=C)
    res.margin_lower = float(_margin(dl[None], c, of, nd)[0])
    if res.margin_lower > 0:
        res.notes.append("interval and linear bounds over the box prove that no disjunct can hold (float64 "
                         "bounds, up to rounding)")
        return finish("unsat", "bounds")
    # 2. the attack
    if _attack(pl, lo, hi, C, c, of, nd, res, witness, seed, restarts, steps, t0 + 0.2 * timeout):
        res.notes.append("the witness is checked: in the box (exact rationals), and the property holds there in "
                         "the float model and in rational arithmetic on the exact network")
        return finish("sat", "attack")
    # 3. the program
    return _program(pl, lo, hi, C, c, of, nd, dl, dh, res, witness, finish, t0 + timeout)


def _attack(pl, lo, hi, C, c, of, nd, res, witness, seed, restarts, steps, deadline) -> bool:
    """Signed-gradient descent on m in the box on the float64 image of the network; True when a witness passed."""
    rng = np.random.default_rng(seed)
    span = hi - lo
    for r in range(restarts):
        z = (lo + hi) / 2 if r == 0 else lo + rng.random(lo.size) * span
        step = 0.25 * span
        for _ in range(steps):
            if time.perf_counter() > deadline:
                return False
            vals, pat = pl.forward(z[None])
            v = C @ vals[pl.output][0] + c
            per = [np.nonzero(of == k)[0] for k in range(nd)]
            best = [rows[np.argmax(v[rows])] for rows in per]
            k = int(np.argmin([v[i] for i in best]))
            m = float(v[best[k]])
            res.margin_upper = min(res.margin_upper, m)
            if m <= 0 and witness(z):
                return True
            reg = pl.region({q: p[0] for q, p in pat.items()})
            g = C[best[k]] @ reg.J                    # the gradient of the active row of m
            if not np.any(g):
                break
            z = np.clip(z - step * np.sign(g), lo, hi)
            step *= 0.93
    return False


def _program(pl, lo, hi, C, c, of, nd, dl, dh, res, witness, finish, deadline):
    from verify.robust.encoding import Encoding, encode_network, network_width, solve
    from verify.robust.milp import HIGHS_OPTIONS

    cand = [k for k in range(nd) if not np.any(dl[of == k] + c[of == k] > 0)]
    L, H = pl.bounds(lo, hi)
    tlo = float(_margin(dl[None], c, of, nd)[0])
    width = network_width(pl) + 1 + nd
    enc = Encoding(width)
    for i in range(pl.D):
        enc.var(lo[i], hi[i])
    tv = enc.var(min(tlo, 0.0), 0.0)
    E, _, L, H, st = encode_network(pl, enc, L, H)
    F, fm = E[pl.output]
    betas = []
    one = np.zeros(width)
    for k in cand:
        bv = enc.var(0.0, 1.0, integer=True) if len(cand) > 1 else None
        if bv is not None:
            betas.append((k, bv))
            one[bv] = 1.0
        for i in np.nonzero(of == k)[0]:
            row = C[i] @ F
            row[tv] -= 1.0
            Mk = max(dh[i] + c[i] - tlo, 0.0) if bv is not None else 0.0
            if bv is not None:
                row[bv] += Mk                             # C_i f + c_i - t <= M (1 - beta_k)
            enc.add(row, -np.inf, Mk - c[i] - C[i] @ fm)
    if betas:
        enc.add(one, 1.0, 1.0)
    res.notes.append(f"MILP: {int(enc.integ[:enc.nv].sum())} binaries, {st['unstable']} unstable units over the box, "
                     f"{len(cand)} of {nd} disjuncts possible by the bounds")
    for phase in ("feasible", "least margin"):
        left = deadline - time.perf_counter()
        if left <= 1e-3:
            res.notes.append("no time left for the program")
            return finish("timeout", "milp")
        obj = np.zeros(width)
        if phase != "feasible":
            obj[tv] = 1.0
        r = solve(enc, obj, relax=False, opts={"presolve": True, **HIGHS_OPTIONS}, deadline=deadline)
        dual = getattr(r, "mip_dual_bound", None)
        if r.status == 2:
            res.margin_lower = max(res.margin_lower, 0.0)
            res.notes.append("HiGHS proves the program infeasible: no point of the box makes a disjunct hold (up to "
                             "its feasibility tolerances)")
            return finish("unsat", "milp")
        if phase != "feasible" and dual is not None and math.isfinite(dual):
            res.margin_lower = max(res.margin_lower, float(dual))
        if r.x is None:
            res.notes.append(f"the program stopped without a point ({r.message})")
            return finish("timeout" if "time" in str(r.message).lower() else "unknown", "milp")
        z = r.x[:pl.D].copy()
        if witness(z):
            res.notes.append("the witness is checked: in the box (exact rationals), and the property holds there in "
                             "the float model and in rational arithmetic on the exact network")
            return finish("sat", "milp")
        res.notes.append(f"the program's point ({phase}) did not pass the witness checks {res.checks}")
    return finish("unknown", "milp")
