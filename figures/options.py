"""What the figures command decides before it draws: the geometry figure's network, point and direction
(``--model``, ``--point``, ``--direction``), what must be computed for lack of a results file and how long
that takes (said before it starts), and the caption files of the lab figures."""

from __future__ import annotations

from pathlib import Path

__all__ = ["QUICK_SECONDS", "compute_plan", "announce", "geometry_options", "write_caption"]

#: Where the lab's figures look for the quick lab, inside --out (as :data:`figures.cli.QUICK_LAB`).
QUICK_LAB = "quick-dynamics.jsonl"

#: How long each computation that the figures command runs for lack of saved results takes, in seconds:
#: measured with the defaults (python -m verify; python -m verify dynamics; python -m verify --trained LAB),
#: one after the other, on a 2-core CPU shared with other work (load average 2.3 to 3.5), torch 2.13 CPU,
#: 2026-12-07; an idle machine is faster.
QUICK_SECONDS = {"sweep": 43, "lab": 212, "trained": 99}
_QUICK_WHAT = {"sweep": "the quick sweep (python -m verify)", "lab": "the quick training lab (python -m verify dynamics)",
               "trained": "the checks of the lab's checkpoints (python -m verify --trained)"}


def compute_plan(args, chosen) -> list[str]:
    """What must be computed before the ``chosen`` figures can be drawn, for lack of ``--results``,
    ``--dynamics``, ``--trained``: a list of keys of :data:`QUICK_SECONDS`, in the order they run."""
    sources = {s.reads for s in chosen if s.needs_results}
    plan = []
    if ("sweep" in sources or "trained" in sources) and not args.results:
        plan.append("sweep")
    if ("lab" in sources or ("trained" in sources and not args.trained)) and not args.dynamics:
        plan.append("lab")
    if "trained" in sources and not args.trained:
        plan.append("trained")
    return plan


def announce(plan, out_dir: Path) -> str:
    """The line said before anything is computed: what runs, about how long it takes, and how to avoid it."""
    parts = []
    for key in plan:
        sec = QUICK_SECONDS.get(key)
        parts.append(_QUICK_WHAT[key] + ("" if sec is None else f", about {sec:.0f} s"))
    total = [QUICK_SECONDS.get(k) for k in plan]
    whole = f"about {sum(total):.0f} s on a 2-core CPU in all" if None not in total else "minutes on a 2-core CPU"
    lab_note = (f" (the lab resumes or reuses {out_dir / QUICK_LAB} when it is there)" if "lab" in plan else "")
    return (f"note: these figures need results that were not given, so this first computes {'; then '.join(parts)}: "
            f"{whole}{lab_note}. To draw from saved results instead, pass --results FILE --dynamics FILE --trained "
            f"FILE (written by python -m verify, python -m verify dynamics and python -m verify --trained), e.g. "
            f"python -m figures --results results/verify.jsonl --dynamics results/dynamics.jsonl --trained "
            f"results/trained.jsonl")


def _pair(text: str, what: str):
    """Two rationals from "a,b" (a ValueError with a one-line message otherwise)."""
    from fractions import Fraction

    try:
        values = [Fraction(v.strip()) for v in text.split(",")]
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"--{what} expects two comma-separated rationals such as \"1/2,-1\", got {text!r}") from None
    if len(values) != 2:
        raise ValueError(f"--{what} expects two numbers (a point of the plane), got {len(values)} in {text!r}")
    return tuple(str(v) for v in values)


def geometry_options(args, chosen):
    """The keywords of the geometry figure from ``--model``, ``--point``, ``--direction`` (empty when none is
    given); a ValueError with a one-line message when they are given for other figures or are unusable."""
    given = [f"--{k}" for k in ("model", "point", "direction") if getattr(args, k) is not None]
    if not given:
        return {}
    others = [s.name for s in chosen if s.name != "geometry"]
    if others:
        raise ValueError(f"{', '.join(given)} set the geometry figure's network and point; they do not apply to "
                         f"{', '.join(others)}: add --only geometry")
    from fractions import Fraction

    from theory.teaching import TEACHING_DIRECTION, TEACHING_POINT, ModelFileError, load_model

    kwargs = {"point": _pair(args.point, "point") if args.point else TEACHING_POINT,
              "direction": _pair(args.direction, "direction") if args.direction else TEACHING_DIRECTION}
    if not any(Fraction(v) for v in kwargs["direction"]):
        raise ValueError("--direction must be non-zero")
    if args.model:
        try:
            kwargs["network"] = load_model(args.model)
        except ModelFileError as exc:
            raise ValueError(str(exc)) from None
    from theory.errors import KinkError
    from theory.region import linearize
    from theory.teaching import teaching_network

    try:
        linearize(kwargs.get("network") or teaching_network(), list(kwargs["point"]))
    except KinkError:
        raise ValueError(f"the point {','.join(kwargs['point'])} lies on a kink of the network (a zero "
                         f"pre-activation): its region is not one polygon; choose another --point") from None
    return kwargs


def write_caption(fig, spec, out_dir: Path) -> list[Path]:
    """When the figure kept text for its caption (``fig.caption_notes``: the lab figures' verdicts and
    comparisons), write the caption and that text to ``out_dir/NAME.caption.txt``; return its path (or none)."""
    import textwrap

    notes = getattr(fig, "caption_notes", None)
    if not notes:
        return []
    path = out_dir / f"{spec.name}.caption.txt"
    body = [textwrap.fill(spec.caption, 100), ""] + [textwrap.fill(" ".join(n.split("\n")), 100,
                                                                    subsequent_indent="    ") for n in notes]
    path.write_text("\n".join(body) + "\n", encoding="utf-8")
    return [path]
