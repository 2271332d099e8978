"""``python -m figures`` (or ``regfigures``): rebuild every figure from saved results.

Each figure is written as PDF (vector, fonts embedded) and PNG (200 dpi, for slides) into ``--out``
(default ``figures/out/``). The sweep's figures read ``--results``; without it a quick sweep is run first
(:func:`verify.jobs.sweep.run_sweep`) and its results are plotted. The training lab's figures
(``margin-dynamics``, ``layer-spectra``, ``confidence-concentration``) read ``--dynamics`` (a file of
``python -m verify dynamics``, with the verdicts it saved beside it); without it they read
``<out>/quick-dynamics.jsonl``, and the quick lab (``python -m verify dynamics``, its defaults) is run into
it first, or finished there (``--resume``), when it is missing or unfinished. ``--venue NAME`` sizes every
figure to a venue's columns and font sizes, taken from tueplots (:func:`figures.style.venue`). The exit
code is 0 when every requested figure was written, 1 when one could not be drawn, and 2 for a usage
error (unknown figure, format or venue, a missing, unreadable or incompatible results file).

Before anything is computed for lack of a results file, one line (:func:`announce`) says what runs, about
how long (:data:`QUICK_SECONDS`, measured) and how to avoid it. ``--style slides``: every figure 16:9 at
20-pt text, the lab figures' verdict text in ``NAME.caption.txt`` (:func:`write_caption`), where
margin-dynamics' comparisons always go. ``--model``, ``--point``, ``--direction``: the geometry figure's.

Text is typeset with LaTeX when a ``latex`` executable is on PATH (unless ``REGFIGURES_USETEX=0``),
else with mathtext (:func:`figures.style.usetex`). A figure on which the TeX toolchain fails (a
partial TeX installation: a missing package or font; :func:`figures.style.tex_error`) is drawn again
with mathtext and still written, with one warning line that names it, the cause and
``REGFIGURES_USETEX=0``; any other error fails the figure.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import traceback
from pathlib import Path

from .loading import load_lab_results, load_results
from .options import QUICK_SECONDS, announce, compute_plan, geometry_options, write_caption

__all__ = ["QUICK_SECONDS", "announce", "compute_plan", "geometry_options", "write_caption", "main", "build_parser", "load_results", "load_lab_results", "save_figure", "render", "FORMATS",
           "QUICK_LAB"]

#: The output formats ``--format`` accepts.
FORMATS = ("pdf", "png", "svg")
DEFAULT_OUT = Path("figures") / "out"
#: Where the lab's figures look for (and, without --dynamics, run) the quick lab, inside --out.
QUICK_LAB = "quick-dynamics.jsonl"
#: Where the trained-crossing figure looks for (and, without --trained, makes) the checks of the lab's checkpoints.
QUICK_TRAINED = "quick-trained.jsonl"

_EPILOG = """\
examples:
  python -m figures                              quick sweep (and quick lab), then every figure into figures/out/
  python -m figures --results results/verify.jsonl
  python -m figures --results results/verify.jsonl --only curvature-small-step --format pdf
  python -m figures --results results/verify.jsonl --only gap-overview emr-limits   two figures
  python -m figures --list                       the figures and what each shows
  python -m figures --only geometry --format png --dpi 150 --out docs   the README picture
  python -m figures --only geometry --model my_net.pt --point=-1/2,1/3 --direction 1,0   your own 2-D network
  python -m figures --dynamics results/dynamics.jsonl --only margin-dynamics layer-spectra
  python -m figures --venue icml2024             every figure at ICML 2024's column widths and font sizes
                                                 (needs tueplots: pip install -e ".[figures]")
  python -m figures --style slides --dynamics results/dynamics.jsonl --only margin-dynamics   a 16:9 slide

Without --results, --dynamics or --trained the figures that need them compute them first (a quick sweep,
the quick lab, the checks of its checkpoints: minutes); the command says so, and for how long, before it
starts. A lab figure's verdicts and comparisons go to NAME.caption.txt beside it.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m figures`` (what ``--help`` prints)."""
    p = argparse.ArgumentParser(
        prog="python -m figures",
        description="Rebuild every figure of the paper from saved results (the JSON-lines files written by "
                    "`python -m verify` and by the training lab, `python -m verify dynamics`), as PDF for the paper "
                    "and PNG for slides, optionally sized for a venue. The figures only plot saved values and "
                    "verdicts; they compute no claim.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", metavar="FILE", help="results file to plot (default: run a quick sweep first and "
                                                      "plot its results)")
    p.add_argument("--trained", metavar="FILE",
                   help="checks of the lab's checkpoints (python -m verify --trained) for the trained-crossing figure, "
                        f"which sets them beside the sweep's (default: OUT/{QUICK_TRAINED}, made first from the lab's "
                        "results when it is missing or unfinished)")
    p.add_argument("--dynamics", metavar="FILE",
                   help="training-lab results (python -m verify dynamics; its verdicts beside it) for the lab's figures "
                        f"(default: OUT/{QUICK_LAB}, running the quick lab into it first when it is missing or unfinished)")
    p.add_argument("--venue", metavar="NAME",
                   help="size every figure to this venue's column widths and font sizes, from tueplots (e.g. icml2024, "
                        "neurips2024, iclr2024; needs the 'figures' extra)")
    p.add_argument("--style", choices=("paper", "slides"), default="paper",
                   help="paper (default: the paper's sizes, or --venue's) or slides: every figure 12.8 x 7.2 in (16:9) "
                        "at 20-pt text, its verdict text left to the caption file (NAME.caption.txt)")
    p.add_argument("--out", metavar="DIR", default=str(DEFAULT_OUT), help=f"output folder (default {DEFAULT_OUT}/)")
    p.add_argument("--only", metavar="NAME", nargs="+", help="build only these figures (see --list)")
    p.add_argument("--list", action="store_true", help="list the figures with a one-line caption each, and exit")
    p.add_argument("--format", default="pdf,png", metavar="FMT[,FMT]",
                   help=f"comma-separated output formats among {', '.join(FORMATS)} (default pdf,png)")
    p.add_argument("--dpi", type=int, default=None, metavar="N", help="resolution of the PNGs (default 200)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")
    g = p.add_argument_group("the geometry figure's network (with --only geometry; default: the teaching network "
                             "at the point and direction that python -m theory region prints)")
    g.add_argument("--model", metavar="FILE",
                   help="your own small network: a file of torch.save(model), an nn.Module with 2 inputs, loaded on "
                        "the CPU (weights_only=False: only files you trust) and converted exactly (theory.from_torch)")
    g.add_argument("--point", metavar="X1,X2", help="the highlighted point x, comma-separated rationals (default "
                                                    "-3/20,1/4; --point=-1,2 when it starts with a minus)")
    g.add_argument("--direction", metavar="Z1,Z2", help="the direction z of the exit x + t* z (default 4/5,-3/5)")
    return p


def _fail(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def _quick_sweep(out_dir: Path) -> Path:
    """Run the quick sweep into ``out_dir/quick-sweep.jsonl`` (replacing an earlier one) and return its path."""
    try:
        from verify.jobs.sweep import run_sweep
    except ImportError as exc:
        raise RuntimeError(f"cannot run the quick sweep: verify.jobs.sweep is not available ({exc}); "
                           f"pass --results FILE written by `python -m verify`") from None
    path = out_dir / "quick-sweep.jsonl"
    out_dir.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    print(f"no --results given: running a quick sweep into {path}", file=sys.stderr)
    try:
        run_sweep(path, quick=True)
    except ImportError as exc:
        raise RuntimeError(f"cannot run the quick sweep: {exc}; pass --results FILE written by "
                           f"`python -m verify`") from None
    return path


def _quick_trained(out_dir: Path, lab_path: Path) -> Path:
    """Check every claim on the checkpoints of the lab run ``lab_path`` into ``out_dir/QUICK_TRAINED``
    (``python -m verify --trained LAB --out ... --resume``: only the missing checks run); its report goes to
    stderr. Return the path."""
    import contextlib

    from verify.cli import main as verify_main

    path = out_dir / QUICK_TRAINED
    print(f"no --trained given: checking the claims on the checkpoints of {lab_path} into {path} "
          f"(python -m verify --trained {lab_path} --out {path} --resume)", file=sys.stderr)
    with contextlib.redirect_stdout(sys.stderr):
        code = verify_main(["--trained", str(lab_path), "--out", str(path), "--resume", "--no-progress"])
    if code == 2 or not path.is_file():
        raise RuntimeError(f"the checks of the lab's checkpoints could not run into {path} (the error above); pass "
                           f"--trained FILE written by python -m verify --trained")
    return path


def _quick_lab(out_dir: Path, progress: bool = True) -> Path:
    """Run the quick training lab (``python -m verify dynamics`` with its defaults) into ``out_dir/QUICK_LAB``,
    resuming what is there (nothing to do when it is finished: the lab then only judges it again); return
    its path. Its report goes to stderr."""
    try:
        from verify.cli.dynamics import main as lab_main
    except ImportError as exc:
        raise RuntimeError(f"cannot run the quick training lab: verify.dynamics is not available ({exc}); pass "
                           f"--dynamics FILE written by `python -m verify dynamics`") from None
    path = out_dir / QUICK_LAB
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"no --dynamics given: {'finishing' if path.exists() else 'running'} the quick training lab in {path} "
          f"(python -m verify dynamics --out {path} --resume; minutes when it has runs left)", file=sys.stderr)
    with contextlib.redirect_stdout(sys.stderr):
        code = lab_main(["--out", str(path), "--resume"] + ([] if progress else ["--no-progress"]))
    if code == 2:
        raise RuntimeError(f"the quick training lab could not run in {path} (the error above); delete the file to "
                           f"run it afresh, or pass --dynamics FILE")
    if code != 0:
        print("warning: a run of the quick training lab failed or diverged; its seeds are missing from the lab's "
              "figures", file=sys.stderr)
    return path


def save_figure(fig, out_dir: Path, name: str, formats, dpi: int | None = None,
                tex: bool | None = None, venue=None) -> list[Path]:
    """Write ``fig`` as ``out_dir/name.<fmt>`` for each format (inside the figure style, with the ``tex`` and
    the ``venue`` the figure was drawn with; ``tex=None``: :func:`figures.style.usetex`); return the paths."""
    from .style import DPI, style

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    with style(tex, venue):
        for fmt in formats:
            path = out_dir / f"{name}.{fmt}"
            meta = {"pdf": {"CreationDate": None, "Creator": "regfigures"}, "png": {"Software": "regfigures"},
                    "svg": {"Date": None}}.get(fmt)
            fig.savefig(path, format=fmt, dpi=dpi or DPI, metadata=meta)
            paths.append(path)
    return paths


def _tex_warning(name: str, cause: str) -> str:
    return (f"warning: figure {name}: LaTeX failed ({cause}); drawing it with mathtext instead "
            f"(REGFIGURES_USETEX=0 uses mathtext without trying LaTeX)")


def render(spec, results, out_dir: Path, formats, dpi: int | None = None,
           on_tex_error=None, venue=None) -> tuple[list[Path], str | None]:
    """Draw the figure ``spec`` of ``results`` (sized for ``venue``) and write it (:func:`save_figure`);
    return the paths and ``None``. When LaTeX typesets the text and the TeX toolchain fails on this figure, call
    ``on_tex_error(cause)`` with the one-line cause (:func:`figures.style.tex_error`), draw and write the
    figure again with mathtext, and return the paths and the cause. Any other error (:class:`NoDataError`
    included) propagates, and so does an error of the mathtext drawing."""
    from .style import tex_error, usetex

    tex = usetex()
    try:
        fig = spec.draw(results, tex=tex, venue=venue)
        return save_figure(fig, out_dir, spec.name, formats, dpi, tex=tex, venue=venue) + \
            write_caption(fig, spec, out_dir), None
    except Exception as exc:
        cause = tex_error(exc) if tex else None
        if cause is None:
            raise
    if on_tex_error is not None:
        on_tex_error(cause)
    fig = spec.draw(results, tex=False, venue=venue)
    return save_figure(fig, out_dir, spec.name, formats, dpi, tex=False, venue=venue) + \
        write_caption(fig, spec, out_dir), cause


def main(argv=None) -> int:
    """``python -m figures ARGS``: draw the figures asked for; the exit code (0 every figure written, 1 one
    could not be drawn, 2 a usage error)."""
    args = build_parser().parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    from .registry import FIGURES, NoDataError

    if args.list:
        width = max(len(n) for n in FIGURES)
        for name, spec in FIGURES.items():
            print(f"{name:<{width}}  {spec.summary}")
            print(f"{'':<{width}}  claims: {', '.join(spec.claims)}")
        return 0
    formats = [f.strip().lower().lstrip(".") for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        return _fail(f"unknown output format {', '.join(bad) or repr(args.format)}; choose among {', '.join(FORMATS)}")
    if args.dpi is not None and not 10 <= args.dpi <= 1200:
        return _fail(f"--dpi must be between 10 and 1200, got {args.dpi}")
    unknown = [n for n in args.only or [] if n not in FIGURES]
    if unknown:
        return _fail(f"unknown figure {', '.join(map(repr, unknown))}; the figures are: {', '.join(FIGURES)}")
    chosen = [FIGURES[n] for n in dict.fromkeys(args.only)] if args.only else list(FIGURES.values())
    try:
        geo_kwargs = geometry_options(args, chosen)
    except ValueError as exc:
        return _fail(str(exc))
    if geo_kwargs:
        import dataclasses
        import functools

        chosen = [dataclasses.replace(s, function=functools.partial(s.function, **geo_kwargs)) for s in chosen]
    out_dir = Path(args.out)
    venue = None
    if args.style == "slides":
        if args.venue:
            return _fail("--style slides and --venue NAME both size the figures; choose one")
        from .style import SLIDES

        venue = SLIDES
    if args.venue:
        from verify.errors import MissingExtraError

        from .style import VenueError
        from .style import venue as find_venue

        try:
            venue = find_venue(args.venue)
        except (VenueError, MissingExtraError) as exc:
            return _fail(str(exc))

    from verify.results.records import ResultsError

    plan = compute_plan(args, chosen)
    said = []

    def before_computing():                          # once, before the first computation (after the given files)
        if plan and not said:
            said.append(True)
            print(announce(plan, out_dir), file=sys.stderr, flush=True)
    data: dict = {"sweep": [], "lab": None, "trained": []}
    sources = {s.reads for s in chosen if s.needs_results}
    if "sweep" in sources or "trained" in sources:          # the trained networks are drawn beside the sweep's
        try:
            if not args.results:
                before_computing()
            path = Path(args.results) if args.results else _quick_sweep(out_dir)
            data["sweep"] = load_results(path)
        except ResultsError as exc:
            return _fail(str(exc))
        except RuntimeError as exc:
            return _fail(str(exc))
        print(f"plotting {len(data['sweep'])} results record(s) from {path}", file=sys.stderr)
    if "lab" in sources:
        try:
            if not args.dynamics:
                before_computing()
            lab_path = Path(args.dynamics) if args.dynamics else _quick_lab(out_dir, progress=not args.no_progress)
            data["lab"] = load_lab_results(lab_path)
        except (ResultsError, RuntimeError) as exc:
            return _fail(str(exc))
        print(f"plotting {len(data['lab'].records)} lab record(s) from {lab_path}"
              + (f" ({data['lab'].verdict_note})" if data["lab"].verdict_note else ""), file=sys.stderr)
    if "trained" in sources:
        try:
            if args.trained:
                trained_path = Path(args.trained)
            else:
                before_computing()
                lab_path = Path(args.dynamics) if args.dynamics else _quick_lab(out_dir, progress=not args.no_progress)
                trained_path = _quick_trained(out_dir, lab_path)
            trained = load_results(trained_path)
        except (ResultsError, RuntimeError) as exc:
            return _fail(str(exc))
        if not any(r.get("network", {}).get("trained") for r in trained):
            return _fail(f"{trained_path} holds no check of a lab checkpoint (write it with python -m verify --trained)")
        data["trained"] = trained + data["sweep"]
        print(f"plotting {len(trained)} checkpoint check(s) from {trained_path}", file=sys.stderr)
    if venue is not None and venue.aspect:
        print(f"slides: every figure {venue.double:.4g} x {venue.double / venue.aspect:.4g} in, "
              f"{venue.fonts.get('font.size', 0):g} pt text; verdicts in NAME.caption.txt", file=sys.stderr)
    elif venue is not None:
        print(f"sizing for {venue.name} (tueplots): column {venue.single:.4g} in, text width {venue.double:.4g} in, "
              f"{venue.fonts.get('font.size', 0):g} pt text", file=sys.stderr)

    from tqdm.auto import tqdm

    t_all = time.perf_counter()
    skipped, failed, mathtext = [], [], []
    bar = tqdm(chosen, desc="figures", unit="fig", disable=args.no_progress or not sys.stderr.isatty(), file=sys.stderr,
               dynamic_ncols=True)
    for spec in bar:
        bar.set_postfix_str(spec.name)
        t0 = time.perf_counter()
        try:
            paths, tex_cause = render(spec, data[spec.reads] if spec.needs_results else None, out_dir, formats,
                                      args.dpi, venue=venue, on_tex_error=lambda cause, n=spec.name:
                                      tqdm.write(_tex_warning(n, cause), file=sys.stderr))
        except NoDataError as exc:
            skipped.append(spec.name)
            tqdm.write(f"skipped {spec.name}: {exc}", file=sys.stderr)
            continue
        except Exception:  # one broken figure must not stop the others
            failed.append(spec.name)
            tqdm.write(f"error: figure {spec.name} could not be drawn:\n{traceback.format_exc()}", file=sys.stderr)
            continue
        if tex_cause is not None:
            mathtext.append(spec.name)
        tqdm.write(f"{spec.name}: {', '.join(str(p) for p in paths)}  ({time.perf_counter() - t0:.1f} s)")
    bar.close()
    n_ok = len(chosen) - len(skipped) - len(failed)
    print(f"{n_ok} figure(s) written to {out_dir}/ in {time.perf_counter() - t_all:.1f} s"
          + (f"; with mathtext, LaTeX having failed: {', '.join(mathtext)}" if mathtext else "")
          + (f"; skipped (no data): {', '.join(skipped)}" if skipped else "")
          + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    if failed or (args.only and skipped):
        return 1
    return 0
