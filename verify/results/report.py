"""The report of a set of checks: :class:`CheckReport`, what :func:`verify.check_model`, the sweep, the merge
and the trained-network check return or print.

A report holds results records (each ``{"schema", "run", "network", "gaps"}``, its gaps as
:class:`~verify.results.gap.Gap`) and answers the questions a user asks of them: did anything fail
(:attr:`CheckReport.ok`), the per-claim table (:meth:`CheckReport.table`, as the command line prints it),
the whole printed report (:meth:`CheckReport.text`: the table, the blocks under it, a diagnosis per failure
and the verdict line) and the records themselves (``CheckReport.records``, :attr:`CheckReport.gaps`),
which :meth:`CheckReport.save` writes as a results file.
"""

from __future__ import annotations

from pathlib import Path

from verify.results.summary import crossing_summary, format_table, kink_summary, summarize, vacuous_summary

__all__ = ["CheckReport", "status_by_dtype", "verdict_line"]


def verdict_line(records, rows, failing, vacuous) -> str:
    """The last words of a report: what failed, or that nothing failed, or that nothing could be checked."""
    if failing:
        return f"{len(failing)} claim(s) FAIL."
    if not any(r.checked for r in rows):
        gaps = [g for rec in records for g in rec["gaps"]]
        if any(g.kind != "measurement" for g in gaps):
            return "No claim was checked: every point was on a kink or outside the claims' assumptions."
        if gaps:
            return "No claim was checked: the claims run are measurements only (reported above), with no verdict."
        return "No claim was checked: the results hold no checks."
    unchecked = [r.claim for r in rows if not r.checked and r.kind != "measurement"]
    return ("No claim fails." + (" Some checks were vacuous (above)." if vacuous else
                                 " Every checked claim holds within its bound at informative points.")
            + (f" Not checked (every point on a kink or outside the claim's assumptions): {', '.join(unchecked)}."
               if unchecked else ""))


def status_by_dtype(records) -> str:
    """The claims whose status differs between the dtypes of the records (the table's status is over all of
    them), one line each; empty when there is one dtype or none differs."""
    dtypes = sorted({rec["run"].get("dtype") for rec in records}, key=lambda d: (d != "float64", str(d)))
    if len(dtypes) < 2:
        return ""
    status = {d: {r.claim: r.status for r in summarize([rec for rec in records if rec["run"].get("dtype") == d])}
              for d in dtypes}
    claims = [r.claim for r in summarize(records)]
    lines = [f"  {c}: " + ", ".join(f"{d} {status[d].get(c, 'n/a')}" for d in dtypes) for c in claims
             if len({status[d].get(c) for d in dtypes}) > 1]
    if not lines:
        return ""
    return "claims whose status differs between the dtypes (the table's status is over all of them):\n" + "\n".join(lines)


class CheckReport:
    """The checks of one or more networks: ``records`` (results records, gaps as Gap), the ``notes`` said
    about the run (conversions, the kink re-decision), and the ``seconds`` it took (None: not timed).

    >>> CheckReport([]).ok, CheckReport([]).text().splitlines()[-1]
    (True, '0 network runs. No claim was checked: the results hold no checks.')
    """

    def __init__(self, records, *, notes=(), seconds: float | None = None, diagnoses=()):
        self.records = list(records)
        self.notes = list(notes)
        self.seconds = seconds
        self.diagnoses = list(diagnoses)      # extra lines said after the verdict (e.g. where every point tied)

    @property
    def gaps(self) -> list:
        """Every :class:`~verify.results.gap.Gap` of every record, in order."""
        return [g for rec in self.records for g in rec["gaps"]]

    def summary(self) -> list:
        """One :class:`~verify.results.summary.ClaimSummary` per claim (:func:`~verify.results.summary.summarize`)."""
        return summarize(self.records)

    @property
    def ok(self) -> bool:
        """True when no claim fails (a vacuous or unchecked claim is not a failure: :meth:`text` says so)."""
        return not any(r.status == "FAILS" for r in self.summary())

    @property
    def failing(self) -> list[str]:
        """The ids of the claims that fail."""
        return [r.claim for r in self.summary() if r.status == "FAILS"]

    def table(self) -> str:
        """The per-claim table, as ``python -m verify`` prints it."""
        return format_table(self.summary())

    def text(self, out: str | Path | None = None, seconds: float | None = None) -> str:
        """The whole report as the command line prints it: the table, the region-crossing, kink and vacuous
        blocks, the claims whose status differs between dtypes, a diagnosis of each failure (three at most per
        claim) and the verdict line (naming ``out`` as where the results are, and the run's ``seconds``)."""
        rows = self.summary()
        parts = [format_table(rows)]
        for block in (crossing_summary(self.records), kink_summary(self.records), vacuous_summary(rows),
                      status_by_dtype(self.records)):
            if block:
                parts.append("\n" + block)
        failing = [r for r in rows if r.status == "FAILS"]
        for r in failing:
            for g in r.failures[:3]:
                parts.append("\n" + g.diagnosis())
        recs = self.records
        n_net = len({(r["network"].get("index"), r["run"]["dtype"], r["network"].get("device")) for r in recs})
        seconds = self.seconds if seconds is None else seconds
        timing = f" in {seconds:.1f} s" if seconds is not None else ""
        where = f"; results in {out}" if out else ""
        parts.append(f"\n{n_net} network runs{timing}{where}. " + verdict_line(recs, rows, failing, vacuous_summary(rows)))
        parts += self.diagnoses
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        status = "ok" if self.ok else f"FAILS: {', '.join(self.failing)}"
        return f"<CheckReport: {len(self.records)} record(s), {len(self.gaps)} check(s), {status}>"

    def save(self, path: str | Path) -> Path:
        """Write the records as a results file (JSON lines, :func:`~verify.results.records.read_results` reads
        it back); an earlier file at ``path`` is kept aside under a time-stamped name. Returns the path."""
        from verify.results.records import keep_previous, network_record, write_record

        path = Path(path)
        keep_previous(path)
        for rec in self.records:
            write_record(path, network_record(rec["network"], rec["run"], rec["gaps"]))
        return path
