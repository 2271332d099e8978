"""Summaries of a sweep's records: one row per claim (:func:`summarize`, :func:`format_table`), and the
blocks printed under the table (region crossings against the CURE step, kink re-decisions, vacuous checks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

__all__ = ["ClaimSummary", "summarize", "format_table", "crossing_by_h", "crossing_summary", "kink_summary",
           "vacuous_summary"]


@dataclass
class ClaimSummary:
    """One row of the console table."""

    claim: str
    tag: str
    kind: str
    networks: int = 0
    points: int = 0
    max_rel_gap: float = 0.0
    max_gap_over_bound: float = 0.0
    kinks: int = 0
    excluded: int = 0
    crossings: int = 0
    checked: int = 0
    informative: int = 0
    failures: list = field(default_factory=list)
    by_check: dict = field(default_factory=dict)

    @property
    def vacuous(self) -> list:
        """The sub-checks ``(check, dtype, h, c)`` that had interior points in the sweep but not one
        informative point: they passed without testing anything."""
        return [key for key, (inf, n) in self.by_check.items() if n and not inf]

    @property
    def status(self) -> str:
        """FAILS if any check fails; HOLDS if every check with a verdict holds at some informative
        point (see :class:`verify.results.gap.Gap`); VACUOUS if it passed only where its bound was too wide
        to see an error; REPORTED when the claim has only measurements; n/a when no point could be
        checked."""
        if self.failures:
            return "FAILS"
        if self.informative:
            return "HOLDS"
        if self.checked:
            return "VACUOUS"
        return "REPORTED" if self.points else "n/a"


def summarize(records: Iterable[dict]) -> list[ClaimSummary]:
    """Aggregate gaps by claim (in registry order)."""
    from theory.claims import CLAIMS

    rows: dict[str, ClaimSummary] = {}
    nets: dict[str, set] = {}
    for rec in records:
        for g in rec["gaps"]:
            c = CLAIMS.get(g.claim)
            row = rows.setdefault(g.claim, ClaimSummary(g.claim, c.tag if c else "user", c.kind if c else g.kind))
            nets.setdefault(g.claim, set()).add((rec["network"].get("index"), rec["run"].get("dtype"),
                                                 rec["network"].get("device")))
            row.points += g.n_points
            row.kinks += g.n_kinks
            row.excluded += g.n_excluded
            row.crossings += g.n_crossings
            if g.kind != "measurement" and g.n_points:
                row.checked += g.n_interior
                row.informative += g.n_informative
                key = (g.check, rec["run"].get("dtype"), g.extra.get("h"), g.extra.get("c"))
                stats = row.by_check.setdefault(key, [0, 0])
                stats[0] += g.n_informative
                stats[1] += g.n_interior
                row.max_rel_gap = max(row.max_rel_gap, g.max_rel_err)
                row.max_gap_over_bound = max(row.max_gap_over_bound, g.max_gap_over_bound)
                if not g.ok:
                    row.failures.append(g)
    for cid, row in rows.items():
        row.networks = len(nets[cid])
    order = {cid: i for i, cid in enumerate(CLAIMS)}
    return sorted(rows.values(), key=lambda r: order.get(r.claim, len(order)))


def crossing_by_h(records: Iterable[dict]) -> dict:
    """The curvature-region-crossing measurement against h, over the points off kinks of ``records``:
    {h: {"changed": fraction of points whose activation region changed between x and x + h z, "share":
    mean share of R-CURE due to the change (None when no share is finite), "n": points}}, and under the key
    ``"exit_times"`` the exact exit times t*(x, z) of those points (one per point and dtype, sorted).
    Empty when the records hold no such measurement."""
    import math

    frac: dict[float, list] = {}
    share: dict[float, list] = {}
    exits: dict[tuple, list] = {}                 # one list per (record, gap grid): the same t* at every h
    for r, rec in enumerate(records):
        for g in rec["gaps"]:
            if g.claim != "curvature-region-crossing" or g.check != "pattern-change share":
                continue
            h = float(g.extra["h"])
            idx = g._interior()
            t = g.extra.get("exit_time") or []
            exits.setdefault((r, g.dtype), [t[i] for i in idx if i < len(t) and t[i] is not None])
            changed = g.pattern_changed or [False] * g.n_points
            sh = g.extra.get("share", [])
            frac.setdefault(h, []).extend(changed[i] for i in idx)
            share.setdefault(h, []).extend(sh[i] for i in idx if i < len(sh) and sh[i] is not None
                                           and math.isfinite(sh[i]))
    if not frac:
        return {}
    out = {h: {"changed": sum(frac[h]) / len(frac[h]) if frac[h] else None,
               "share": sum(share[h]) / len(share[h]) if share.get(h) else None, "n": len(frac[h])}
           for h in sorted(frac)}
    out["exit_times"] = sorted(v for vs in exits.values() for v in vs)
    out["dtypes"] = sorted({dt for _, dt in exits}, key=lambda d: (d != "float64", d))
    return out


def crossing_summary(records: Iterable[dict]) -> str:
    """The curvature-region-crossing report against h (:func:`crossing_by_h`): for the points off kinks, the
    fraction whose activation region changed between x and x + h z, and the mean share of R-CURE due to
    the change.

    Empty when the records hold no such measurement.
    """
    curve = crossing_by_h(records)
    if not curve:
        return ""
    ts, dtypes = curve.pop("exit_times"), curve.pop("dtypes")
    hs = sorted(curve)
    cell = lambda v: f"{v:>7.2f}" if v is not None else "      -"
    lines = [f"curvature-region-crossing, points off kinks ({' and '.join(dtypes)}), against the CURE step h:",
             "  h                 " + "".join(f"{h:>7.0e}" for h in hs),
             "  region changed    " + "".join(cell(curve[h]["changed"]) for h in hs),
             "  share of R-CURE   " + "".join(cell(curve[h]["share"]) for h in hs)]
    if ts:
        q = lambda f: ts[min(len(ts) - 1, int(f * len(ts)))]
        lines.append(f"  exit time t*(x, z) over {len(ts)} points: median {q(0.5):.1e}, 10% {q(0.1):.1e}, "
                     f"90% {q(0.9):.1e}")
        lines.append("  (x + t z leaves the region of x at t = t*: the region changes at step h when h >= t*)")
    return "\n".join(lines)


def kink_summary(records: Iterable[dict]) -> str:
    """Per claim and dtype, what became of the points within rounding of a kink in their dtype, decided again
    in float64 and then exactly (:mod:`verify.numerics.kinks`): recovered (by float64, exactly; of those, judged:
    not excluded by the claim's other assumptions), and not judged: real kinks, float pattern wrong,
    undecided, exactly on a kink in float only (float tie). Counts are of the claims' points, as the table's.
    Empty when no point was in doubt.
    """
    cols = ("float64", "exact", "kink", "wrong", "undecided", "float-tie")
    counts: dict[tuple, list] = {}
    for rec in records:
        for g in rec["gaps"]:
            dec = g.kink_decision
            if not dec or not any(dec):
                continue
            row = counts.setdefault((g.claim, g.dtype), [0] * (len(cols) + 2))
            out = g.excluded or [False] * g.n_points
            row[0] += sum(c != "" for c in dec)
            row[1] += sum(c in ("float64", "exact") and not o for c, o in zip(dec, out))
            for i, c in enumerate(cols):
                row[2 + i] += g.n_decided(c)
    if not counts:
        return ""
    from theory.claims import CLAIMS

    order = {cid: i for i, cid in enumerate(CLAIMS)}
    keys = sorted(counts, key=lambda k: (order.get(k[0], len(order)), k[1] != "float64", k[1]))
    head = ["claim", "dtype", "in doubt", "recovered", "by float64", "exactly", "judged", "real kinks",
            "pattern wrong", "undecided", "float tie"]
    body = []
    for claim, dtype in keys:
        v = counts[(claim, dtype)]
        body.append([claim, dtype, str(v[0]), str(v[2] + v[3]), str(v[2]), str(v[3]), str(v[1])]
                    + [str(n) for n in v[4:]])
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    line = lambda cells: "  " + "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                                          for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join(["points within rounding of a kink in their dtype, decided again from the same network in "
                      "float64, then exactly:",
                      "(recovered: the pattern is certified, and judged unless another assumption of the claim "
                      "excludes the point; the last four columns are not judged: they are the table's kinks)",
                      line(head), line(["-" * w for w in widths])] + [line(b) for b in body])


def vacuous_summary(rows: list[ClaimSummary]) -> str:
    """One line per sub-check that passed only at uninformative points (empty when there is none)."""
    lines = []
    for r in rows:
        for check, dtype, h, c in r.vacuous:
            at = "".join(f", {k} = {v:.3g}" for k, v in (("h", h), ("c", c)) if v is not None)
            lines.append(f"  {r.claim}: {check} ({dtype}{at})")
    if not lines:
        return ""
    return ("checks whose error bound was at least half the size of the values at every interior point "
            "(a value off by a factor of 2 could pass there, so the pass tests little):\n" + "\n".join(lines))


def format_table(rows: list[ClaimSummary]) -> str:
    """The console table: claim | tag | networks | points | max rel gap | max gap/bound | informative |
    kinks | excluded | crossings | status (``informative``: interior points where a wrong value would
    have been caught, of all interior points checked)."""
    head = ["claim", "tag", "networks", "points", "max rel gap", "max gap/bound", "informative", "kinks",
            "excluded", "crossings", "status"]
    body = [[r.claim, r.tag, str(r.networks), str(r.points),
             f"{r.max_rel_gap:.1e}" if r.checked else "-",
             f"{r.max_gap_over_bound:.2g}" if r.checked else "-",
             f"{r.informative}/{r.checked}" if r.checked else "-",
             str(r.kinks), str(r.excluded), str(r.crossings), r.status] for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(b) for b in body])
