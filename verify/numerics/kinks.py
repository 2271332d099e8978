"""Kinks decided for real: :func:`redecide_kinks`, for the points a float pass leaves in doubt.

A float pass certifies the side of a half-space of the region (a rectifier's pre-activation u, or a
max unit's winner minus one competitor) when |u~| > e, its forward rounding bound
(:meth:`verify.numerics.engine.Engine.forward_bound`): the exact value then has the float sign. Where
|u~| <= e the float pattern is in doubt there: in float32 that is common on trained networks (the
bound of a 784-input unit is about 800 u times the sizes summed), and a float pass alone cannot tell a
real kink (exact u = 0) from a point merely close to one. Since float weights and inputs are exact
dyadic rationals, the same network can decide it:

1. **float64**: the same layer descriptions compiled in float64 (weights and input converted exactly),
   with their own float64 forward bound e64. With s the orientation the model-dtype pattern gives
   (the float sign of u, or winner minus competitor), sigma = s u; sigma64 > e64 certifies sigma > 0
   (the model-dtype side is the exact side), sigma64 < -e64 certifies sigma < 0 (the model-dtype pass
   put the point on the wrong side). Skipped for a float64 model, whose pass it would repeat.
2. **exact** (:class:`theory.network.Network`, python-flint rationals), for the half-spaces still in
   doubt: sigma > 0 right, sigma = 0 a real kink, sigma < 0 wrong. Skipped, leaving them undecided,
   when the exact network's dense layer matrices would exceed :data:`EXACT_MAX_ENTRIES` entries.

Units that are structurally constant on the region (a tie of identical affine functions) are not
kinks, as in :mod:`theory.region`, and are never in doubt. Each point gets one decision, a code:

- ``""``: not in doubt: the model-dtype pass certifies every side itself;
- ``"float64"``, ``"exact"``: **recovered**: in doubt, and every doubtful side is certified right (by
  float64 alone, or with the exact engine): the model-dtype pattern is the exact pattern, so the point is
  not a kink, and J with its bound holds there;
- ``"kink"``: a **real kink**: some unit's exact sigma is 0;
- ``"wrong"``: no real kink, but some side is certified wrong: the model-dtype pass rounded the pattern
  to another region's (its J is that region's, not the exact J at x). With the model at hand (as
  :func:`verify.numerics.linearize.linearize` passes it), the model's own forward pass, the one autograd
  differentiates, is read at the doubtful units too (through its torch.fx graph, the same calls on the
  same batch): where it falls on another side than the certified one (an eval BatchNorm, computed from
  the running statistics, rounds differently from the folded scale and shift), the point is wrong too;
- ``"undecided"``: none of these, and some side could not be decided (exact stage too large);
- ``"float-tie"``: every side certified right, but the float pass lands exactly on a kink (u~ = 0, or a
  tied max) at a doubtful unit (:attr:`~verify.numerics.linearize.Linearization.at_kink`). The closed form's J is
  the certified one, but autograd through the model differentiates at a float kink, where the side it
  takes is a convention of each operation and of each derivative order: torch.abs has derivative 0 at 0,
  maxout's amax shares the gradient among tied entries, and a per-channel PReLU's second derivative (in
  double backprop) takes the other side than its first (measured, torch 2.13). So it is not judged.

When several apply, the first of kink, wrong, undecided, float-tie is the point's code. These four are
not judged: they are what :attr:`verify.numerics.linearize.Linearization.on_kink` flags.

The pass that autograd differentiates is read, not assumed: the recovered points are confirmed against
the model's own eager forward pass on the batch (:func:`redecide_kinks`, given the model), and for
``torch.func.vmap(jacrev)`` against the vmapped pass (:func:`confirm_own_pass` with ``mode="vmap"``, as
the jacrev check and the benchmark do). A check that differentiates the model in yet another way relies
on it selecting the float pattern of one of these (a sign that differed would show as a failing check,
never as a pass).

>>> import torch
>>> from verify import linearize
>>> m = torch.nn.Sequential(torch.nn.Linear(2, 1, bias=False), torch.nn.ReLU(), torch.nn.Linear(1, 2, bias=False))
>>> with torch.no_grad():
...     _ = m[0].weight.copy_(torch.tensor([[1.0, -1.0]])); _ = m[2].weight.copy_(torch.tensor([[1.0], [-1.0]]))
>>> x = torch.tensor([[1.0, 1.0], [1.0, 1.0 - 2.0 ** -24], [3.0, 1.0]])   # u = 0, u = 2^-24, u = 2
>>> d = redecide_kinks(linearize(m, x))
>>> d.codes                       # 0 exactly: a real kink; 2^-24 is certified positive in float64
['kink', 'float64', '']
>>> d.counts()["recovered"], d.on_kink.tolist()
(1, [True, False, False])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from theory.region import pattern_at
from theory.tangents import probe_direction, unit_tangents_columns
from verify.numerics.kink_sides import (
    dense_entries,
    engine64,
    exact_network,
    float_tie_sides,
    identical_side,
    own_disagrees,
    own_sources,
    side_sigmas,
)
from verify.numerics.kink_units import NOT_JUDGED_WHAT, SIDE_STATES, by_layer, collect, kink_lines, record_sides
from verify.results.gap import KINK_DECISIONS, NOT_JUDGED

__all__ = ["KinkDecision", "redecide_kinks", "confirm_own_pass", "combine_codes", "dense_entries",
           "EXACT_MAX_ENTRIES", "RECOVERED", "NOT_JUDGED", "CODES"]

#: The exact stage runs when the exact network's dense layer matrices (theory builds a dense rational
#: matrix per affine layer, BatchNorm and convolution included) hold at most this many entries: about
#: 15 s to build on one core, once per network (a 784-256-256-10 MLP has 0.27 M entries).
EXACT_MAX_ENTRIES = 2_000_000

#: Points evaluated together in the exact stage (one rational product per layer for each chunk of them).
EXACT_CHUNK = 64

#: Every decision code (defined with the record, :data:`verify.results.gap.KINK_DECISIONS`), and those of the points
#: that are not judged (the Linearization's ``on_kink``).
CODES = KINK_DECISIONS
#: The codes of points in doubt whose pattern was certified right: judged.
RECOVERED = ("float64", "exact")

_PRIORITY = {"kink": 6, "wrong": 5, "undecided": 4, "float-tie": 3, "exact": 2, "float64": 1, "": 0}


def combine_codes(*codes) -> list:
    """Elementwise, the decision of a check that reads several points at once (e.g. x and x + h z): the
    first of kink, wrong, undecided, float-tie among them, else recovered if any was, else ``""``.

    >>> combine_codes(["", "float64", "kink"], ["exact", "", "float64"])
    ['exact', 'float64', 'kink']
    """
    lists = [list(c) for c in codes]
    if len({len(c) for c in lists}) > 1:
        raise ValueError(f"combine_codes: the code lists have different lengths {[len(c) for c in lists]}")
    return [max(col, key=_PRIORITY.__getitem__) for col in zip(*lists)]


@dataclass
class KinkDecision:
    """The decision of every point of a batch (see the module docstring).

    ``codes``: one code per point; ``dtype``: the dtype of the pass that was in doubt; ``sides``: per point,
    how many sides (units, or max competitors) were in doubt; ``lower``: per nonlinear node, (B, m_k) float64
    certified lower bounds on the exact sigma of every side (0 where not certified positive), which the kink
    distance uses; ``exact_skipped``: why the exact stage did not run, when it was needed and did not.
    """

    codes: list
    dtype: str
    sides: list = field(default_factory=list)
    lower: list = field(default_factory=list, repr=False)
    exact_skipped: str | None = None
    units: list = field(default_factory=list, repr=False)
    identical: list = field(default_factory=list, repr=False)

    def kinked_units(self, what=NOT_JUDGED_WHAT) -> list:
        """The :class:`~verify.numerics.kink_units.KinkedUnit` records (layer, unit, position, kind, points)
        whose ``what`` is among ``what`` (default: those that leave a point unjudged: ``"kink"``, ``"wrong"``,
        ``"undecided"``, ``"float-tie"``; ``"identical"``: the exact ties of identical pieces, not kinks),
        most points first."""
        what = (what,) if isinstance(what, str) else tuple(what)
        return [u for u in self.units if u.what in what]

    def kinked_layers(self, what=NOT_JUDGED_WHAT) -> dict:
        """Per layer, of :meth:`kinked_units`: its kind, module name, number of units, the points and the
        points per ``what`` (:func:`verify.numerics.kink_units.by_layer`)."""
        return by_layer(self.units, (what,) if isinstance(what, str) else tuple(what))

    def lines(self) -> list[str]:
        """Where the unjudged points' kinks are, per layer (kind, module, units, points, the first units), and,
        when every point is unjudged, what helps (:func:`verify.numerics.kink_units.kink_lines`); empty when
        none is."""
        return kink_lines(self.units, len(self.codes), self.dtype)

    def _mask(self, keep) -> torch.Tensor:
        return torch.tensor([c in keep for c in self.codes], dtype=torch.bool)

    @property
    def doubt(self) -> torch.Tensor:
        """(B,) bool, CPU: within rounding of a kink in the model's dtype (decided again)."""
        return torch.tensor([c != "" for c in self.codes], dtype=torch.bool)

    @property
    def recovered(self) -> torch.Tensor:
        """(B,) bool, CPU: in doubt, and the model-dtype pattern certified exact."""
        return self._mask(RECOVERED)

    @property
    def on_kink(self) -> torch.Tensor:
        """(B,) bool, CPU: not judged: a real kink, a wrong model-dtype pattern, undecided, or a float tie."""
        return self._mask(NOT_JUDGED)

    def counts(self) -> dict:
        """Points per outcome: in_doubt, recovered (= float64 + exact), float64, exact, kink, wrong, undecided,
        float-tie."""
        n = {c: self.codes.count(c) for c in CODES[1:]}
        return {"points": len(self.codes), "in_doubt": sum(n.values()), "recovered": n["float64"] + n["exact"], **n}

    def summary(self) -> str:
        """One line: how many points were in doubt and what each became.

        >>> KinkDecision(["", "float64", "kink"], "float32").summary()
        '2 of 3 points within float32 rounding of a kink: 1 recovered (1 by float64, 0 exactly), 1 real kink, 0 float32 pattern wrong, 0 undecided'
        """
        c = self.counts()
        if not c["in_doubt"]:
            return f"none of {c['points']} points within {self.dtype} rounding of a kink"
        s = (f"{c['in_doubt']} of {c['points']} points within {self.dtype} rounding of a kink: {c['recovered']} "
             f"recovered ({c['float64']} by float64, {c['exact']} exactly), {c['kink']} real kink"
             f"{'s' if c['kink'] != 1 else ''}, {c['wrong']} {self.dtype} pattern wrong, {c['undecided']} undecided")
        s += f" ({self.exact_skipped})" if c["undecided"] and self.exact_skipped else ""
        return s + (f", {c['float-tie']} exactly on a kink in {self.dtype} though not exactly (autograd's side "
                    f"there is a convention)" if c["float-tie"] else "")


def redecide_kinks(lin, *, model=None, exact_max_entries: int = EXACT_MAX_ENTRIES) -> KinkDecision:
    """Decide again every point of ``lin`` (a :class:`verify.numerics.linearize.Linearization`) within its dtype's
    rounding of a kink: in float64, then exactly (see the module docstring). ``model``: the torch model
    ``lin`` linearizes (default: the one :func:`verify.numerics.linearize.linearize` recorded), whose own forward
    pass is read at the doubtful units of the points recovered; None with a Linearization built otherwise.
    Returns a :class:`KinkDecision`.

    Cost: one float64 forward pass with bounds over the points in doubt; the exact stage builds the exact
    network once per model (cached) and evaluates it at all the points still in doubt in float64 together
    (:meth:`theory.network.Network.values_columns`, one rational matrix product per layer); at an exact tie
    the two sides' derivatives along one fixed input direction, for all tied points together
    (:func:`theory.tangents.unit_tangents_columns`), tell different pieces apart (a real kink) without
    pushing each unit back to the input, which only equal derivatives still need; one forward pass of the
    model through its torch.fx graph when a point is recovered.
    """
    model = getattr(lin, "_model", None) if model is None else model
    eng, rec = lin.engine, lin._rec
    B = lin.B
    table = lin._table
    lower, doubt = [], []
    for slack, err, const, _ in table:
        d = (slack <= err) & ~const
        doubt.append(d)
        lower.append(torch.where(d | const, torch.zeros_like(slack), (slack - err).clamp_min(0)))
    any_doubt = torch.zeros(B, dtype=torch.bool, device=lin.device)
    for d in doubt:
        if d.shape[1]:
            any_doubt |= d.any(1)
    codes = [""] * B
    sides = [0] * B
    rows = any_doubt.nonzero().squeeze(1)
    dtype = str(lin.dtype).replace("torch.", "")
    if not len(rows):
        return KinkDecision(codes, dtype, sides, lower)
    # state per doubtful side: 1 right, -1 wrong, 2 kink, 0 open; stage: which stage decided each point
    state = [torch.zeros(len(rows), t.shape[1], dtype=torch.int8, device=lin.device) for t in doubt]
    dsub = [t[rows] for t in doubt]
    srcs = [eng.nodes[k].src[0] for k in eng.nonlinear]
    keys = []
    x64 = rec.vals[0][rows].to(torch.float64)
    if lin.dtype != torch.float64:
        e64 = engine64(eng)
        r64 = e64.forward(x64)
        fb = e64.forward_bound(r64)
        for i, (k, s) in enumerate(zip(eng.nonlinear, srcs)):
            sig, err, key = side_sigmas(eng, k, rec, rows, r64.vals[s], fb[s])
            keys.append(key)
            ok, bad = dsub[i] & (sig > err), dsub[i] & (sig < -err)
            state[i][ok], state[i][bad] = 1, -1
            lo = lower[i][rows]
            lo[ok] = (sig - err)[ok]
            lower[i][rows] = lo
    else:
        for i, (k, s) in enumerate(zip(eng.nonlinear, srcs)):
            keys.append(side_sigmas(eng, k, rec, rows, rec.vals[s][rows], lin._fb[s][rows])[2])
    open_pts = torch.zeros(len(rows), dtype=torch.bool, device=lin.device)
    for d, st in zip(dsub, state):
        if d.shape[1]:
            open_pts |= (d & (st == 0)).any(1)
    exact_used = set()
    skipped = None
    if bool(open_pts.any()):
        net, skipped = exact_network(eng, exact_max_entries)
        if net is not None:
            pts = open_pts.nonzero().squeeze(1).tolist()
            exact_used.update(pts)
            xvs = [net.read_input(x64[j].cpu().numpy()) for j in pts]
            tied = {}                               # point -> [(node i, side c)] with an exact tie
            # EXACT_CHUNK points at a time: one product per layer, the rational values of a chunk in memory
            vals_all = (v for a in range(0, len(xvs), EXACT_CHUNK) for v in net.values_columns(xvs[a:a + EXACT_CHUNK]))
            for j, xv, vals in zip(pts, xvs, vals_all):
                for i, (k, s) in enumerate(zip(eng.nonlinear, srcs)):
                    cols = (dsub[i][j] & (state[i][j] == 0)).nonzero().squeeze(1).tolist()
                    if not cols:
                        continue
                    u = vals[s].entries()
                    plus, minus = keys[i][0][j].tolist(), keys[i][1][j].tolist()
                    rect = eng.nodes[k].kind == "rect"
                    for c in cols:
                        sig = u[plus[c]] * int(minus[c]) if rect else u[plus[c]] - u[minus[c]]
                        if sig > 0:
                            state[i][j, c] = 1
                            lower[i][rows[j], c] = float(sig) * (1 - 2.0 ** -50)
                        elif sig < 0:
                            state[i][j, c] = -1
                        else:       # an exact tie: a kink unless both sides are the same affine piece
                            tied.setdefault(j, (xv, vals, []))[2].append((i, c))
            if tied:
                pats = {j: pattern_at(net, vals)[0] for j, (_, vals, _) in tied.items()}
                z, plist = probe_direction(net.n_in), list(pats.values())
                tans = (t for a in range(0, len(plist), EXACT_CHUNK)
                        for t in unit_tangents_columns(net, plist[a:a + EXACT_CHUNK], z))
                for (j, (xv, vals, sides_)), tan in zip(tied.items(), tans):
                    for i, c in sides_:
                        k, s = eng.nonlinear[i], srcs[i]
                        rect = eng.nodes[k].kind == "rect"
                        plus, minus = int(keys[i][0][j, c]), int(keys[i][1][j, c])
                        same = identical_side(net, xv, vals, pats[j], s, plus, None if rect else minus, tan)
                        state[i][j, c] = 3 if same else 2
                        if same:
                            lower[i][rows[j], c] = math.inf     # never binds: no kink on this side
    marks: dict = {}
    for i, k in enumerate(eng.nonlinear):
        for v, what in SIDE_STATES.items():
            record_sides(marks, eng, k, dsub[i] & (state[i] == v), what, rows.tolist())
    for j, p in enumerate(rows.tolist()):
        st = torch.cat([s_[j][d[j]] for s_, d in zip(state, dsub)])
        sides[p] = int(st.numel())
        if bool((st == 2).any()):
            codes[p] = "kink"
        elif bool((st == -1).any()):
            codes[p] = "wrong"
        elif bool((st == 0).any()):
            codes[p] = "undecided"
        else:
            codes[p] = "exact" if j in exact_used else "float64"
    identical = []                                  # the sides certified ties of identical pieces: not kinks
    if any(bool((st == 3).any()) for st in state):
        for i, d in enumerate(doubt):
            t = torch.zeros_like(d)
            t[rows] = dsub[i] & (state[i] == 3)
            identical.append(t)
    dec = KinkDecision(codes, dtype, sides, lower, skipped, collect(eng, marks), identical)
    return confirm_own_pass(lin, dec, model)


def confirm_own_pass(lin, decision: KinkDecision, model=None, *, mode: str = "batch") -> KinkDecision:
    """``decision`` with its recovered points checked against a float pass of the model itself, the one that
    autograd (or torch.func) differentiates: a point whose doubtful sides fall elsewhere in that pass becomes
    ``"wrong"``, and one that sits exactly on a kink in it (or in the engine's pass), ``"float-tie"``.

    ``mode``: how that pass evaluates the batch ``lin.x``: ``"batch"`` (eager, the whole batch at once, as
    the definitions' autograd does), ``"vmap"`` (one example at a time under ``torch.func.vmap``, as
    ``vmap(jacrev)`` and ``vmap(hessian)`` do) or ``"each"`` (eager, one example per call). ``model`` None:
    the engine's own pass stands in for it (only the ties are checked). Returns a new decision.
    """
    if mode not in ("batch", "vmap", "each"):
        raise ValueError(f"confirm_own_pass: mode must be 'batch', 'vmap' or 'each', got {mode!r}")
    picked = [i for i, c in enumerate(decision.codes) if c in RECOVERED]
    if not picked:
        return decision
    eng, rec, table = lin.engine, lin._rec, lin._table
    rows = torch.tensor(picked, device=lin.device)
    dsub = [((slack <= err) & ~const)[rows] for slack, err, const, _ in table]
    if decision.identical:                          # a tie of identical pieces: either side is the same map
        dsub = [d & ~same[rows] for d, same in zip(dsub, decision.identical)]
    own = {}
    if model is not None:
        own = own_sources(model, rec.vals[0].reshape((lin.B,) + tuple(eng.in_shape)), eng, mode)
        # where the model's pass computed the very same values as the engine's, it selects the same sides
        own = {k: t for k, t in own.items()
               if not torch.equal(t[rows].to(lin.dtype), rec.vals[eng.nodes[k].src[0]][rows])}
    off = torch.zeros(len(rows), dtype=torch.bool, device=lin.device)
    lower = [t.clone() for t in decision.lower]
    bads = []
    for i, k in enumerate(eng.nonlinear):
        bad = torch.zeros_like(dsub[i])
        if k in own and dsub[i].shape[1]:
            s = eng.nodes[k].src[0]
            bad = dsub[i] & own_disagrees(eng, k, rec, rows, own[k].to(rec.vals[s].dtype), s)
            off |= bad.any(1)
            lo = lower[i][rows]
            lo[bad] = 0
            lower[i][rows] = lo
        bads.append(bad)
    ties = float_tie_sides(eng, rec, table, rows, dsub, own)
    tie = torch.zeros(len(rows), dtype=torch.bool, device=lin.device)
    for t in ties:
        if t.shape[1]:
            tie |= t.any(1)
    codes = list(decision.codes)
    for j, p in enumerate(picked):
        if bool(off[j]):
            codes[p] = "wrong"
        elif bool(tie[j]):
            codes[p] = "float-tie"
    marks: dict = {}
    for i, k in enumerate(eng.nonlinear):
        record_sides(marks, eng, k, bads[i] & off.unsqueeze(1), "wrong", picked)
        record_sides(marks, eng, k, ties[i] & (tie & ~off).unsqueeze(1), "float-tie", picked)
    for i in range(len(lower)):                     # a point no longer recovered has no certified distance
        gone = torch.tensor([codes[p] not in RECOVERED for p in picked], device=lin.device)
        lo = lower[i][rows]
        lo[gone] = 0
        lower[i][rows] = lo
    return KinkDecision(codes, decision.dtype, list(decision.sides), lower, decision.exact_skipped,
                        collect(eng, marks, decision.units), decision.identical)
