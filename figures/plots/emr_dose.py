"""Figure ``emr-dose``: the effect of EMR against its weight lambda_EMR, in standard and adversarial training.

Claim ``standard-training-small-margin``, round 2 (SPEC.md, "Round 2"; ``python -m verify dynamics --round 2``):
the dose-response of EMR, outside the claim's verdict. At the last epoch E, for each dose lambda_EMR =
lambda_0, 10 lambda_0, 100 lambda_0 (lambda_0 the lab's fixed weight), the saved comparisons (4)-(7): the
median effective margin gamma and AutoAttack's robust accuracy at the middle budget eps_2, ``ce`` against
``ce+emr`` at that dose (standard training, left column) and ``at(eps2)`` against ``at(eps2)+emr`` (adversarial
training, middle column). Each point is the saved effect, the median over the seeds of B/A, with its bootstrap
95 % interval as the bar; the dashed line at 1 is "no effect". Above each point, the saved Holm-corrected result
of the dose (helps, hurts or neither; Holm over the three doses). The right column is the official EMR
configuration (convention ``emr-official``, lambda 3, T 40) against ``at(eps2)``: its loss is scaled otherwise
(the batch mean of the per-example terms divided by the batch size once more), so its lambda is not on the
lambda axis; it is drawn apart, on the same effect axis, with its saved sign-test verdict.

Everything drawn is read from the saved verdict (``sub_verdicts["dose-response"]``); nothing is recomputed.
"""

from __future__ import annotations

import math

from ..style import DOUBLE, NEUTRAL, colour_name, figure, fs, styled, text
from .lab_data import (
    as_lab,
    attack_settings_line,
    comparison_line,
    eps_label,
    final_metrics,
    lab_notes,
    require_round2,
    verdict_line,
)
from .sweep_data import NoDataError

__all__ = ["fig_emr_dose", "CAPTION", "SUMMARY", "CLAIM", "COMPARISONS", "MEASURES", "FAMILIES"]

#: The claim whose saved dose-response this figure shows.
CLAIM = "standard-training-small-margin"

#: One line for ``--list``: what to see.
SUMMARY = "effect B/A of EMR (gamma, AutoAttack robust accuracy) against lambda_EMR, standard and adversarial, Holm per dose"

#: The two measures (rows): key, row label.
MEASURES = (("gamma", r"effective margin $\gamma$"), ("robust", "AutoAttack rob. acc."))
#: The two trainings (columns): key, column title.
FAMILIES = (("standard", "standard training\nce vs ce+EMR"), ("adversarial", "adversarial training\n"
                                                                            r"AT($\epsilon_2$) vs AT($\epsilon_2$)+EMR"))
#: The saved dose-response comparison (its number in the claim's list) of each (measure, training).
COMPARISONS = {("gamma", "standard"): "(4)", ("robust", "standard"): "(5)", ("gamma", "adversarial"): "(6)",
               ("robust", "adversarial"): "(7)"}

_INK = NEUTRAL["black"]
_OFFICIAL = NEUTRAL["dark grey"]

#: The figure's caption.
CAPTION = ("The effect of EMR at the last epoch against its weight lambda_EMR (log axis: lambda_0, 10 lambda_0, "
           "100 lambda_0), for the median effective margin gamma (top) and AutoAttack's robust accuracy at eps_2 "
           "(bottom), in standard training (ce against ce+EMR, left) and adversarial training (AT(eps_2) against "
           "AT(eps_2)+EMR, middle): each point the saved effect, the median over the seeds of B/A, its bar the "
           "bootstrap 95 % interval, the dashed line B/A = 1 (no effect); above each point the saved Holm-corrected "
           "result of its dose (Holm over the three doses; filled: helps or hurts, open: neither). Right, in "
           f"{colour_name(_OFFICIAL)}: the official EMR configuration (convention emr-official, lambda = 3, T = 40) "
           "against AT(eps_2), with its sign-test verdict; its loss has its own scale, so it is drawn apart, not on "
           "the lambda axis. The dose-response lies outside the claim's verdict, which the title gives with the data "
           "set; every comparison, dose by dose, is in the notes.")


def _dose_response(lab) -> dict:
    v = lab.verdicts.get(CLAIM)
    if not v:
        raise NoDataError(f"emr-dose reads the saved verdict of {CLAIM}: {lab.verdict_note}")
    dr = (v.get("sub_verdicts") or {}).get("dose-response")
    if not dr or not dr.get("comparisons"):
        raise NoDataError(f"the saved verdict of {CLAIM} holds no dose-response (its runs lack the EMR doses; "
                          "python -m verify dynamics --round 2 trains them)")
    return dr


def _entries(dr: dict, number: str) -> tuple[str, list]:
    for label, entries in dr["comparisons"].items():
        if label.startswith(number + " "):
            return label, entries
    return "", []


def _official(dr: dict, measure: str) -> dict | None:
    for c in dr.get("official", []):
        if (measure == "gamma") == c["name"].startswith("gamma"):
            return c
    return None


def _effect_text(c: dict) -> str:
    if c.get("effect") is None:
        return "B/A n/a" + (f" ({c['note']})" if c.get("note") else "")
    lo, hi = c["interval"]
    return f"B/A {c['effect']:.3g} [{lo:.3g}, {hi:.3g}]"


def _point(ax, x, c: dict, gid: str, colour: str, filled: bool, label: str):
    """The effect of comparison ``c`` at ``x`` with its interval and ``label`` above it; the y values drawn."""
    if c.get("effect") is None:
        ax.text(x, 0.03, "no ratio", transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=fs(5.8),
                color=colour, gid=f"no-effect|{gid}")
        return []
    lo, hi = c["interval"]
    ax.plot([x, x], [lo, hi], color=colour, lw=1.0, solid_capstyle="butt", gid=f"interval|{gid}")
    ax.plot([x], [c["effect"]], ls="none", marker="o", ms=4.0, color=colour, mec=colour,
            mfc=colour if filled else "white", mew=1.0, gid=f"effect|{gid}", zorder=3)
    ax.annotate(label, (x, hi), xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                fontsize=fs(5.8), color=colour, gid=f"result|{gid}",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.4, "alpha": 0.85})
    return [lo, hi, c["effect"]]


@styled
def fig_emr_dose(results):
    """Two rows (gamma; AutoAttack robust accuracy at eps_2) by three columns (standard, adversarial, the
    official arm): the saved effect B/A with its interval against lambda_EMR."""
    lab = as_lab(results)
    require_round2(lab, "emr-dose")
    dr = _dose_response(lab)
    s = lab.settings
    lam0 = float(s.lam["emr"])
    doses = [float(d) for d in dr["doses"]]
    xs = [lam0 * d for d in doses]
    fig = figure(DOUBLE, 3.3)
    axes = fig.subplots(2, 3, sharey="row", gridspec_kw={"width_ratios": [1.0, 1.0, 0.36]})
    notes = []
    for i, (measure, row_label) in enumerate(MEASURES):
        ys = [1.0]
        for j, (family, title) in enumerate(FAMILIES):
            ax = axes[i, j]
            label, entries = _entries(dr, COMPARISONS[(measure, family)])
            by_dose = {float(e["dose"]): e for e in entries}
            ax.axhline(1.0, color=NEUTRAL["grey"], lw=0.7, ls="--", zorder=0, gid=f"reference|{measure}|{family}")
            trend = [(x, by_dose[d]["comparison"]["effect"]) for x, d in zip(xs, doses)
                     if d in by_dose and by_dose[d]["comparison"].get("effect") is not None]
            if len(trend) > 1:
                ax.plot(*zip(*trend), color=NEUTRAL["light grey"], lw=0.7, zorder=1, gid=f"trend|{measure}|{family}")
            for x, d in zip(xs, doses):
                e = by_dose.get(d)
                if e is None:
                    continue
                ys += _point(ax, x, e["comparison"], f"{measure}|{family}|x{d:g}", _INK,
                             e["result"] in ("helps", "hurts"), e["result"])
            if not entries:
                ax.text(0.5, 0.5, "not in the saved verdict", transform=ax.transAxes, ha="center", va="center",
                        fontsize=fs(6), color=NEUTRAL["dark grey"], gid=f"missing|{measure}|{family}")
            else:
                notes.append(text(f"{label}: " + "; ".join(
                    f"x{e['dose']:g} (lambda {lam0 * e['dose']:.3g}) {e['result']} (for/against "
                    f"{e['comparison']['n_for']}/{e['comparison']['n_against']}, p_Holm {e['p_for_holm']:.3g} for, "
                    f"{e['p_against_holm']:.3g} against, {_effect_text(e['comparison'])})" for e in entries)))
            ax.set_xscale("log")
            ax.set_xticks(xs)
            ax.set_xticklabels([r"$\lambda_0$" if d == 1 else f"${d:g}\\lambda_0$" for d in doses])
            ax.minorticks_off()
            ax.set_xlim(xs[0] / 2.2, xs[-1] * 2.2)
            if i == 0:
                ax.set_title(title, fontsize=fs(7.5))
            else:
                ax.set_xlabel(r"$\lambda_{\mathrm{EMR}}$" + f" ($\\lambda_0$ = {lam0:.3g}, T = {s.T:g})")
            if j == 0:
                at = f"\n($\\epsilon_2$ = {eps_label(s.middle_eps)})" if measure == "robust" else ""
                ax.set_ylabel(f"{row_label}{at}\neffect B/A", fontsize=fs(7))
        ax = axes[i, 2]                               # the official arm: its own scale, drawn apart
        ax.axhline(1.0, color=NEUTRAL["grey"], lw=0.7, ls="--", zorder=0, gid=f"reference|{measure}|official")
        c = _official(dr, measure)
        if c is not None:
            ys += _point(ax, 0.0, c, f"{measure}|official", _OFFICIAL, c["verdict"] != "INCONCLUSIVE",
                         c["verdict"].lower())
            notes.append(text(f"official arm: {comparison_line(c)}, {_effect_text(c)}"))
        ax.set_xlim(-1, 1)
        ax.set_xticks([0.0])
        ax.set_xticklabels(["official\n" r"$\lambda$=3, T=40"], fontsize=fs(6))
        ax.tick_params(axis="y", labelleft=False)
        if i == 0:
            ax.set_title("official EMR\n(own scale)", fontsize=fs(7.5))
        finite = [y for y in ys if math.isfinite(y)]
        lo, hi = min(finite), max(finite)
        span = (hi - lo) or 0.1
        axes[i, 0].set_ylim(lo - 0.08 * span, hi + 0.22 * span)
    eps2 = repr(float(s.middle_eps))
    st = next((m["autoattack"][eps2] for m in final_metrics(lab, "at(eps2)").values()
               if eps2 in (m.get("autoattack") or {})), None)
    seeds = len(final_metrics(lab, "ce"))
    notes.append(text(
        f"epoch E = {lab.epochs}; {seeds} seeds; lambda_0 = {lam0:.3g} (the lab's lambda_EMR), T = {s.T:g}; doses "
        f"{', '.join(f'x{d:g}' for d in doses)}, Holm over the doses; AT = PGD-{s.train_steps} adversarial training "
        f"at eps_2 = {s.middle_eps:.4g} (l-inf); official arm: convention emr-official (lambda (1/B^2) sum_i "
        "||J_i^T p~_i||^2), lambda = 3, T = 40, its own scale (not on the lambda axis); robust accuracy: "
        + (f"{attack_settings_line(st['settings'])} on {st['n']} evaluation points" if st else
           f"AutoAttack at eps {eps_label(s.middle_eps)}")))
    head, rest = verdict_line(lab, CLAIM).split("\n", 1)
    lab_notes(fig, text(f"{head} (the dose-response of EMR lies outside the verdict)\n{rest}"), notes)
    return fig
