"""Selecting saved values from the training lab's results; no claim is computed here.

The lab (``python -m verify dynamics``) writes one JSON line per run and epoch (read by
:func:`verify.dynamics.lab.read_dynamics`) and its verdicts beside them, in ``<stem>.verdicts.json``
(:func:`verify.dynamics.report.write_verdicts`). The lab's figures read both through :class:`LabResults`:
the records arranged by :func:`verify.dynamics.lab.run_table` (role -> seed -> per-epoch metrics), and the
saved verdict of each claim, which a figure names and never recomputes. A verdicts file written for other
records (another run's settings) is not used: the figure then says that the verdict is not in the results.

>>> lab = lab_results([])
Traceback (most recent call last):
...
figures.errors.NoDataError: the lab results hold no records
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from ..style import fs
from .sweep_data import NoDataError, finite

__all__ = ["LabResults", "lab_results", "load_lab", "role_rows", "metric", "require_roles", "epsilon_roles",
           "verdict_line", "comparison_line", "seed_median", "MISSING_VERDICT", "ROLE_LABELS", "eps_label",
           "lab_notes", "pct", "summary_of", "as_lab", "require_round2", "final_metrics",
           "attack_settings_line"]

#: What a figure says when the results carry no usable verdict of its claim.
MISSING_VERDICT = "no saved verdict (python -m verify dynamics report FILE writes it)"

#: How the figures name the lab's roles.
ROLE_LABELS = {"ce": "ce", "ce+emr": "ce+EMR", "at(eps2)": r"AT($\epsilon_2$)", "at(eps2)+emr": r"AT($\epsilon_2$)+EMR",
               "at(eps1)": r"AT($\epsilon_1$)", "at(eps3)": r"AT($\epsilon_3$)",
               "trades(eps2)": r"TRADES($\epsilon_2$)", "trades(eps2)+emr": r"TRADES($\epsilon_2$)+EMR",
               "mart(eps2)": r"MART($\epsilon_2$)", "mart(eps2)+emr": r"MART($\epsilon_2$)+EMR",
               "trades(eps3)": r"TRADES($\epsilon_3$)", "at(eps2)+emr-official": r"AT($\epsilon_2$)+EMR official",
               "ce+emr(x10)": r"ce+EMR($\times$10)", "ce+emr(x100)": r"ce+EMR($\times$100)",
               "at(eps2)+emr(x10)": r"AT($\epsilon_2$)+EMR($\times$10)",
               "at(eps2)+emr(x100)": r"AT($\epsilon_2$)+EMR($\times$100)"}


@dataclass(frozen=True)
class LabResults:
    """A lab's records (``table``: :func:`verify.dynamics.lab.run_table`) and its saved verdicts by claim id
    (``verdicts``: the dicts of :meth:`verify.dynamics.verdicts.ClaimVerdict.to_dict`; empty when none were
    saved for these records, and ``verdict_note`` says why)."""

    records: list
    table: dict
    verdicts: dict
    verdict_note: str = ""
    path: str | None = None

    @property
    def settings(self):
        return self.table["settings"]

    @property
    def data(self) -> str:
        return str(self.table["config"]["data"])

    @property
    def epochs(self) -> int:
        return int(self.settings.epochs)

    def seeds(self, role: str) -> list[int]:
        return sorted(self.table["runs"].get(role, {}))

    def describe(self) -> str:
        """data set, seeds, architecture, epochs, dtype and device: what the figure's numbers come from."""
        cfg, s = self.table["config"], self.settings
        n = max((len(v) for v in self.table["runs"].values()), default=0)
        return (f"data set {self.data}, {n} seed{'s' if n != 1 else ''}, {s.arch}, {s.epochs} epochs, "
                f"{cfg.get('dtype', '?')} on {cfg.get('device', '?')}")


def _lab_key(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k != "shard"}


def lab_results(records, verdicts: dict | None = None, *, path=None, verdict_note: str = "") -> LabResults:
    """A :class:`LabResults` of lab records (and a verdicts file's body, ``{"config", "verdicts": [...]}``,
    used only when its config is the records')."""
    from verify.dynamics.lab import run_table
    from verify.results.records import ResultsError

    records = list(records)
    if not records:
        raise NoDataError("the lab results hold no records")
    try:
        table = run_table(records)
    except (KeyError, TypeError) as exc:
        raise ResultsError(f"a lab results record lacks {exc}: not a record of python -m verify dynamics") from None
    by_claim, note = {}, verdict_note
    if verdicts is not None:
        if _lab_key(verdicts.get("config") or {}) != _lab_key(table["config"]):
            note = "no saved verdict (the verdicts file beside the results is another run's)"
        else:
            by_claim = {v["claim"]: v for v in verdicts.get("verdicts", [])}
    return LabResults(records, table, by_claim, note or ("" if by_claim else MISSING_VERDICT),
                      str(path) if path is not None else None)


def load_lab(path) -> LabResults:
    """The lab results file ``path`` (:func:`verify.dynamics.lab.read_dynamics`) with the verdicts saved
    beside it, if any. A :class:`verify.results.records.ResultsError` with one line when the file cannot be read."""
    from verify.dynamics.lab import read_dynamics
    from verify.dynamics.report import verdicts_path
    from verify.results.records import ResultsError

    path = Path(path)
    if path.is_dir():
        raise ResultsError(f"lab results file {str(path)!r} is a folder, not a file")
    records = read_dynamics(path)
    vp = verdicts_path(path)
    body, note = None, ""
    if vp.is_file():
        try:
            body = json.loads(vp.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            note = f"no saved verdict ({vp.name} is unreadable: {type(exc).__name__})"
    try:
        return lab_results(records, body, path=path, verdict_note=note)
    except NoDataError as exc:
        raise ResultsError(f"{path}: {exc}") from None


def as_lab(results) -> LabResults:
    """``results`` as :class:`LabResults` (read from a file or records when it is not one already);
    :class:`~figures.errors.NoDataError` when there are none."""
    if isinstance(results, LabResults):
        return results
    if results is None:
        raise NoDataError("the lab figures need lab results (python -m verify dynamics; --dynamics FILE)")
    return lab_results(results)


def require_roles(lab: LabResults, roles, what: str) -> None:
    """A :class:`NoDataError` naming every role of ``roles`` that the lab results lack (none of its runs, or
    none that reached the last epoch)."""
    E = lab.epochs
    missing = [r for r in roles
               if not any(rows and len(rows) > E and rows[E] is not None for rows in lab.table["runs"].get(r, {}).values())]
    if missing:
        have = ", ".join(lab.table["runs"]) or "none"
        raise NoDataError(f"the lab results hold no finished {', '.join(missing)} run(s), which {what} needs "
                          f"(roles in the results: {have}); run python -m verify dynamics with its claim")


def require_round2(lab: LabResults, what: str) -> None:
    """A :class:`NoDataError` when ``lab`` holds a round-1 lab's results: ``what`` needs round 2's (TRADES, MART,
    the EMR doses, AutoAttack; ``python -m verify dynamics --round 2``)."""
    if lab.table["config"].get("round", 1) != 2:
        raise NoDataError(f"{what} needs the results of round 2 (python -m verify dynamics --round 2: AutoAttack, "
                          f"the EMR doses, TRADES and MART); these are round 1's")


def final_metrics(lab: LabResults, role: str) -> dict:
    """seed -> the metrics of ``role``'s run at the last epoch, for the seeds whose run reached it."""
    E = lab.epochs
    return {seed: rows[E] for seed, rows in role_rows(lab, role).items()
            if rows and len(rows) > E and rows[E] is not None}


def attack_settings_line(st: dict, each_eps: str = "") -> str:
    """One saved attack's settings (an ``autoattack`` entry's ``settings`` or ``pgd_settings``) in words: a
    robustness number is never drawn without them. With ``each_eps`` (e.g. ``"each row's"``) the budget is
    named so, and PGD's step as a multiple of it, for settings that hold at every budget of a figure.

    >>> st = {"attack": "pgd", "norm": "inf", "eps": 0.1, "steps": 10, "step_size": 0.025, "restarts": 1,
    ...       "random_start": True}
    >>> attack_settings_line(st)
    'PGD-10 (l-inf, eps 0.1, step 0.025, 1 restart(s), random start)'
    >>> attack_settings_line(st, "each row's")
    "PGD-10 (l-inf, each row's eps, step 0.25 eps, 1 restart(s), random start)"
    """
    eps = f"{each_eps} eps" if each_eps else f"eps {float(st.get('eps', float('nan'))):.4g}"
    if st.get("attack") == "pgd":
        step = f"{st['step_size'] / st['eps']:.4g} eps" if each_eps and st.get("eps") else f"{st['step_size']:.4g}"
        return (f"PGD-{st['steps']} (l-{st['norm']}, {eps}, step {step}, "
                f"{st['restarts']} restart(s){', random start' if st.get('random_start') else ''})")
    extra = [f"APGD {st['apgd_iterations']} iterations, {st['apgd_restarts']} restart(s)"] if "apgd_iterations" in st else []
    if "target_classes" in st:
        extra.append(f"{st['target_classes']} target classes")
    if "fab_t_iterations" in st:
        extra.append(f"FAB-T {st['fab_t_iterations']} iterations")
    if "square_queries" in st:
        extra.append(f"Square {st['square_queries']} queries")
    return (f"AutoAttack {st.get('version', '?')} ({st.get('package', '?')}: {', '.join(st.get('attacks', []))}; "
            f"l-{st.get('norm', '?')}, {eps}; " + ", ".join(extra) + f"; seed {st.get('seed', '?')})")


def role_rows(lab: LabResults, role: str) -> dict:
    """seed -> the list of per-epoch metrics (None where missing) of ``role``."""
    return lab.table["runs"].get(role, {})


def metric(m: dict | None, *path, what: str = "") -> float:
    """The value at ``m[path[0]][path[1]]...`` as a float; NaN where ``m`` is None (a missing epoch). A saved
    epoch that lacks the metric raises a :class:`NoDataError` naming it (results of an older lab?)."""
    if m is None:
        return math.nan
    v = m
    for k in path:
        if not isinstance(v, dict) or k not in v:
            raise NoDataError(f"the lab results lack the metric {'/'.join(map(str, path))}"
                              + (f" ({what})" if what else "") + "; were they written by an older lab?")
        v = v[k]
    return float(v) if v is not None else math.nan


def summary_of(m: dict, key: str, what: str = "") -> dict:
    """The saved summary (n, mean, quantiles) of the per-point measure ``key`` in the metrics ``m``; a
    :class:`NoDataError` naming it when ``m`` lacks it."""
    v = m.get(key)
    if not isinstance(v, dict) or "median" not in v:
        raise NoDataError(f"the lab results lack the metric {key}" + (f" ({what})" if what else "")
                          + "; were they written by an older lab?")
    return v


def seed_median(values) -> float:
    """The median of the finite values (NaN if none): the line drawn over the seeds."""
    vs = sorted(v for v in values if finite(v))
    if not vs:
        return math.nan
    n = len(vs)
    return vs[n // 2] if n % 2 else 0.5 * (vs[n // 2 - 1] + vs[n // 2])


def epsilon_roles(lab: LabResults) -> list[tuple[float, str]]:
    """(eps, role) of the adversarial-training budgets: (0, ``ce``) then ``at(eps1..3)`` (PGD at eps = 0 is the
    clean point: ``at(0)`` is ``ce``)."""
    return [(0.0, "ce")] + [(float(e), f"at(eps{i + 1})") for i, e in enumerate(lab.settings.eps_grid)]


def verdict_line(lab: LabResults, claim: str) -> str:
    """Two lines: ``claim: VERDICT`` (or why there is none), and what the numbers come from
    (:meth:`LabResults.describe`)."""
    v = lab.verdicts.get(claim)
    head = f"{claim}: {v['verdict']}" if v else f"{claim}: {lab.verdict_note}"
    return f"{head}\n{lab.describe()}"


def comparison_line(c: dict) -> str:
    """One saved comparison: its name, verdict and seeds for/against (``for`` = A < B held)."""
    missing = f", {c['n_missing']} missing" if c.get("n_missing") else ""
    return f"{c['name']}: {c['verdict']} ({c['n_for']} for, {c['n_against']} against{missing})"


def pct() -> str:
    """A percent sign for the current text renderer (LaTeX reads a bare ``%`` as a comment)."""
    import matplotlib as mpl

    return r"\%" if mpl.rcParams["text.usetex"] else "%"


def eps_label(e: float) -> str:
    """A budget as the fraction it was written as when that is a fraction of a grey-level scale (a power of
    two from 8 on, or 255: 1/32, 8/255), else 3 significant digits.

    >>> eps_label(0.0), eps_label(1 / 32), eps_label(8 / 255), eps_label(0.3), eps_label(0.2)
    ('0', '1/32', '8/255', '0.3', '0.2')
    """
    from fractions import Fraction

    if e == 0:
        return "0"
    f = Fraction(e).limit_denominator(256)
    q = f.denominator
    if f.numerator < 10 and (q == 255 or (q >= 8 and q & (q - 1) == 0)) and abs(float(f) - e) <= 1e-12 * abs(e):
        return f"{f.numerator}/{q}"
    return f"{e:.3g}"


def lab_notes(fig, header: str, lines: list[str], draw_notes: bool = True) -> None:
    """The figure's title (``header``: the claim's verdict and the data set) and, under the panels, its
    notes, each wrapped to the figure's width; constrained layout makes room for both, and the figure grows
    by their height (at the font sizes in force, a venue's included), so that the panels keep the height
    the figure was made with. The notes are not drawn with ``draw_notes=False``, nor in the slides' style
    (``--style slides``, where only the title's first line is): they are kept, with the title, in
    ``fig.caption_notes``, which the command line writes beside the figure (``NAME.caption.txt``)."""
    import textwrap

    from ..style import current_venue

    fig.caption_notes = [header] + list(lines)
    v = current_venue()
    slides = v is not None and bool(v.aspect)
    if slides:
        header, draw_notes = header.split("\n")[0], False
    head = fs(7.5)
    fig.suptitle(header, fontsize=head, x=0.01, ha="left", multialignment="left")
    grow = (header.count("\n") + 1) * head * 1.25 / 72 + 0.05
    if lines and draw_notes:
        size = fs(6.2)
        chars = max(40, int(fig.get_figwidth() * 72 / (0.56 * size)))   # DejaVu Sans: ~0.55 em a character
        wrapped = [w for ln in lines for w in textwrap.wrap(ln, chars, subsequent_indent="    ")]
        fig.supxlabel("\n".join(wrapped), fontsize=size, x=0.01, ha="left", multialignment="left", color="0.2")
        grow += len(wrapped) * size * 1.25 / 72 + 0.05
    if slides:                                     # the slide keeps its 16:9
        return
    w, h = fig.get_size_inches()
    fig.set_size_inches(w, h + grow)
