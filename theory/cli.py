"""``python -m theory`` (or ``regtheory``): the exact half of the toolkit on the command line.

Subcommands (each has its own ``--help``):

- ``prove [CLAIM ...]``: prove the claims symbolically and print one line per claim;
- ``explain CLAIM [--latex] [--sympy]``: print one claim's derivation, as text or a LaTeX document;
  ``explain --regularizer R-IG`` lists the claims about one regularizer, ``explain --list`` every claim
  grouped by regularizer;
- ``region``: walk through the exact activation region of a point of a small 2-D network;
- ``bench``: time the exact linearization of an MNIST-sized MLP and the proofs, against their goals.

Exit codes: 0 success; 1 a proof failed (or the region demo's point lies on a kink); 2 a usage error
(unknown claim id, malformed number).

>>> main(["prove", "no-such-claim"])
2
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction

from .teaching import demo_network  # the older 2-4-3 network of ``region --network demo-2-4-3``

NETWORK_NAMES = ("teaching", "demo-2-4-3")

__all__ = ["main", "build_parser", "status", "format_table", "demo_network"]

_EPILOG = """\
examples:
  python -m theory prove                         prove every claim, one line each
  python -m theory prove input-gradient gram-unification
  python -m theory explain hessian-gauss-newton  the derivation, step by step
  python -m theory explain input-gradient --latex > proof.tex   (pdflatex proof.tex)
  python -m theory explain --regularizer R-IG    the claims about one regularizer, one line each
  python -m theory explain --list                every claim, grouped by regularizer
  python -m theory region                        the teaching network, as the geometry figure draws it
  python -m theory region --network demo-2-4-3 --point "1/2,-1" --direction "1,0"
  python -m theory region --model my_net.pt --point=-1/2,1/3
  python -m theory bench
"""


# ------------------------------------------------------------------------------------------ helpers
def _claims():
    from .claims import CLAIMS

    return CLAIMS


def _check_ids(ids) -> str | None:
    """An error message for the unknown ids among ``ids``, or None."""
    known = _claims()
    bad = [i for i in ids if i not in known]
    if not bad:
        return None
    return (f"unknown claim id{'s' if len(bad) > 1 else ''} {', '.join(repr(b) for b in bad)}; "
            f"known ids: {', '.join(known)}")


def _prove_all():
    try:
        from .prove import prove_all
    except ModuleNotFoundError as exc:
        if exc.name in ("theory.prove", "theory.proofs"):
            raise SystemExit(f"error: the symbolic proofs are not available ({exc}); theory/prove.py is missing")
        raise
    return prove_all


def _min_slack(proof):
    slack = getattr(proof, "slack", None)
    if not slack:
        return None
    return min(slack.values())


def status(proof) -> str:
    """The verdict column: PROVED, FAILED, REPORTED (an inequality checked on instances) or EMPIRICAL."""
    if proof.holds is False:
        return "FAILED"
    if proof.holds is None:
        return "EMPIRICAL (not a theorem)"
    slack = _min_slack(proof)
    if proof.kind == "inequality":
        shown = "" if slack is None else f", min slack {slack}"
        if str(proof.method).startswith("symbolic"):
            return f"PROVED (symbolic, standard norm facts cited{shown} on instances)"
        return f"REPORTED (inequality checked on instances{shown})"
    return "PROVED" if slack is None else f"PROVED (min slack {slack})"


def _short(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 1] + "…"


def _headline(scope: str) -> str:
    """A scope's first clause (up to its first '; ' or ': '), for the table; the rest is in :func:`format_scopes`."""
    return str(scope).split("; ")[0].split(": ")[0]


def format_scopes(proofs, width: int = 100) -> str:
    """Each proof's whole scope, wrapped: what was proved for general sizes, and what only on instances.

    >>> from types import SimpleNamespace as P
    >>> print(format_scopes([P(claim="a", scope="general K; cross-checked for K <= 4")]))
    Scope of each proof:
      a: general K; cross-checked for K <= 4
    """
    import textwrap

    lines = ["Scope of each proof:"]
    for p in proofs:
        lines += textwrap.wrap(f"{p.claim}: {' '.join(str(p.scope).split())}", width, initial_indent="  ",
                               subsequent_indent="      ")
    return "\n".join(lines)


def format_table(proofs, scope_width: int = 60) -> str:
    """The ``prove`` table: claim | tag | kind | scope | status | seconds.

    >>> from types import SimpleNamespace as P
    >>> print(format_table([P(claim="a", tag="derived", kind="identity", scope="general K", holds=True,
    ...                       slack=None, seconds=0.5)]))
    claim  tag      kind      scope      status  seconds
    -----  -------  --------  ---------  ------  -------
    a      derived  identity  general K  PROVED     0.50
    """
    header = ("claim", "tag", "kind", "scope", "status", "seconds")
    rows = [(p.claim, p.tag, p.kind, _short(_headline(p.scope), scope_width), status(p), f"{p.seconds:.2f}")
            for p in proofs]
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]

    def line(r):
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths)] + [r[-1].rjust(widths[-1])]
        return "  ".join(cells).rstrip()

    return "\n".join([line(header), line(tuple("-" * w for w in widths))] + [line(r) for r in rows])


def _parse_rationals(text: str) -> list[Fraction]:
    try:
        values = [Fraction(part.strip()) for part in text.split(",")]
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated rationals such as \"1/2,-1\" or \"0.25,3\", got {text!r}") from None
    return values


# ---------------------------------------------------------------------------------------- commands
def _cmd_prove(args) -> int:
    ids = args.claims or list(_claims())
    err = _check_ids(ids)
    if err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    prove_all = _prove_all()
    from tqdm import tqdm

    proofs = []
    bar = tqdm(ids, desc="proving", unit="claim", file=sys.stderr, disable=args.no_progress or not sys.stderr.isatty())
    for cid in bar:
        bar.set_postfix_str(cid)
        proofs.extend(prove_all([cid]))
    print(format_table(proofs))
    if args.scopes or args.claims:
        print("\n" + format_scopes(proofs))
    failed = [p.claim for p in proofs if p.holds is False]
    total = sum(p.seconds for p in proofs)
    print(f"\n{len(proofs)} claims: {sum(p.holds is True for p in proofs)} hold, {len(failed)} failed, "
          f"{sum(p.holds is None for p in proofs)} empirical; {total:.1f} s"
          + ("" if args.scopes or args.claims else " (the scope column is each scope's first clause: --scopes "
                                                    "prints them whole)"))
    if failed:
        print(f"FAILED: {', '.join(failed)} (run `python -m theory explain ID` for the failing step)")
    example = (failed or [p.claim for p in proofs] or ["input-gradient"])[0]
    print(f"next: python -m theory explain {example}   (one claim's derivation, step by step; any ID of the table)")
    return 1 if failed else 0


def _claim_line(c, width: int = 100) -> str:
    """One claim on one line: its id, then its statement cut to fit ``width`` (ASCII ``...`` where cut)."""
    head = f"  {c.id:<39} "
    text = " ".join(c.statement.split())
    room = width - len(head)
    return head + (text if len(text) <= room else text[:room - 3].rstrip() + "...")


def _regularizer_lines(rid: str, claims) -> list[str]:
    from .claims import REGULARIZERS

    head = (f"{rid}: {REGULARIZERS[rid]}" if rid in REGULARIZERS
            else "no regularizer (claims about the setting: the network, the margin, training)")
    head = head if len(head) <= 100 else head[:97].rstrip() + "..."
    return [head] + ([_claim_line(c) for c in claims] or ["  (no claim)"])


def _cmd_explain(args) -> int:
    from .claims import claims_about, claims_by_regularizer, regularizer_id
    from .errors import UnknownNameError

    listing = args.list or args.regularizer is not None
    if listing and args.claim is not None:
        print("error: give a claim id, or --list / --regularizer, not both", file=sys.stderr)
        return 2
    if listing and (args.latex or args.sympy):
        print("error: --latex and --sympy apply to one claim's derivation, not to a listing", file=sys.stderr)
        return 2
    if args.list:
        groups = claims_by_regularizer()
        print("\n\n".join("\n".join(_regularizer_lines(rid, cs)) for rid, cs in groups.items()))
        return 0
    if args.regularizer is not None:
        try:
            rid = regularizer_id(args.regularizer)
        except UnknownNameError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print("\n".join(_regularizer_lines(rid, claims_about(rid))))
        return 0
    if args.claim is None:
        print("error: give a claim id (e.g. input-gradient), or --list, or --regularizer R-IG", file=sys.stderr)
        return 2
    err = _check_ids([args.claim])
    if err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    (proof,) = _prove_all()([args.claim])
    print(proof.latex(sympy=args.sympy) if args.latex else proof.text(sympy=args.sympy))
    return 1 if proof.holds is False else 0


def _cmd_region(args) -> int:
    from .teaching import NETWORKS, ModelFileError, load_model, region_walkthrough

    if args.model is not None:
        if args.network is not None or args.slope is not None:
            print("error: --model takes the network from the file; --network and --slope choose a built-in one",
                  file=sys.stderr)
            return 2
        try:
            net = load_model(args.model)
        except ModelFileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        _, x0, z0 = NETWORKS["teaching"]
    else:
        make, x0, z0 = NETWORKS[args.network or "teaching"]
        net = make(Fraction(1, 10) if args.slope is None else args.slope)
    x = args.point if args.point is not None else [Fraction(v) for v in x0]
    z = args.direction if args.direction is not None else [Fraction(v) for v in z0]
    if len(x) != 2 or len(z) != 2:
        print(f"error: the network has 2 inputs; got a point of {len(x)} and a direction of {len(z)} numbers",
              file=sys.stderr)
        return 2
    if not any(z):
        print("error: the direction must be non-zero", file=sys.stderr)
        return 2
    text, code = region_walkthrough(net, x, z)
    print(text)
    return code


def _cmd_bench(args) -> int:
    from .bench import PROVE_GOAL_S, linearize_benchmark, prove_benchmark

    results = linearize_benchmark(runs=args.runs)
    rows = [(r.name, f"{r.seconds:.3f}", "" if r.goal is None else f"< {r.goal:g} s", r.verdict, r.detail)
            for r in results]
    missing = False
    if not args.skip_prove:
        try:
            res, _ = prove_benchmark()
            results.append(res)
            rows.append((res.name, f"{res.seconds:.3f}", f"< {res.goal:g} s", res.verdict, res.detail))
        except ModuleNotFoundError as exc:
            if exc.name not in ("theory.prove", "theory.proofs"):
                raise
            missing = True
            rows.append(("prove_all() over every claim", "-", f"< {PROVE_GOAL_S:g} s", "MISSING", str(exc)))
    header = ("benchmark", "seconds", "goal", "verdict", "")
    widths = [max(len(row[i]) for row in rows + [header]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths[:-1]) + ("",)] + rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 1 if missing or any(r.verdict == "MISS" for r in results) else 0


# ------------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m theory`` and its commands (prove, explain, region, bench)."""
    p = argparse.ArgumentParser(
        prog="python -m theory",
        description="The exact theory of robustness regularizers on piecewise-linear networks: symbolic proofs "
                    "of every claim, their derivations, an exact activation-region walkthrough, and benchmarks. "
                    "All results are exact (rationals and sympy expressions), never floats.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    pr = sub.add_parser(
        "prove", help="prove claims symbolically and print a table",
        description="Prove each claim with sympy (identities: lhs - rhs simplifies to 0, for general sizes where "
                    "sympy can, otherwise for every size up to a stated bound) and print one line per claim: "
                    "claim | tag | kind | scope | status | seconds. Status is PROVED, FAILED, REPORTED (an "
                    "inequality checked on exact instances, with its minimum slack) or EMPIRICAL (a statement about "
                    "training, not a theorem). Exit code 1 when any proof fails, 2 for an unknown claim id.")
    pr.add_argument("claims", nargs="*", metavar="CLAIM", help="claim ids (default: all, in specification order)")
    pr.add_argument("--scopes", action="store_true",
                    help="print each proof's whole scope under the table (what holds for general sizes, what was "
                         "checked only on instances); the default when claim ids are given")
    pr.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")
    pr.set_defaults(func=_cmd_prove)

    ex = sub.add_parser(
        "explain", help="print one claim's derivation, or which claims concern a regularizer",
        description="Prove one claim and print its derivation for people: the statement, the assumptions, the "
                    "method and scope, a short proof sketch, then every step as a displayed equation in the "
                    "usual notation (J, p, e_y, S(p) = diag(p) - p p^T, G = J J^T) with a one-line reason and "
                    "what decided it ([checked: lhs - rhs == 0]: sympy reduced the difference of the two sides "
                    "to 0), and the verdict. The raw sympy expressions are shown only with --sympy. With "
                    "--regularizer or --list, print which claims concern each regularizer instead.",
        epilog="examples:\n  python -m theory explain hessian-gauss-newton\n"
               "  python -m theory explain gram-unification --latex > gram.tex\n"
               "  python -m theory explain --regularizer input-gradient\n  python -m theory explain --list\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ex.add_argument("claim", metavar="CLAIM", nargs="?", default=None,
                    help="a claim id, e.g. input-gradient (python -m theory explain --list shows them all)")
    ex.add_argument("--latex", action="store_true",
                    help="print the derivation as a complete LaTeX document (article, amsmath) that compiles on "
                         "its own")
    ex.add_argument("--sympy", action="store_true",
                    help="also show each step's raw sympy form: the expression the check decided")
    ex.add_argument("--regularizer", metavar="R", default=None,
                    help="list the claims about one regularizer, one line each: an id (R-IG, R-JAC, R-CL, R-CURE, "
                         "R-EMR) or a plain name (input-gradient, ig, cross-lipschitz, curvature, ...)")
    ex.add_argument("--list", action="store_true", help="list every claim, grouped by the regularizers it concerns")
    ex.set_defaults(func=_cmd_explain)

    rg = sub.add_parser(
        "region", help="walk through the exact activation region of a point of a small 2-D network",
        description="For a small network on the plane (default: the teaching 2-6-6-3 leaky-ReLU network with "
                    "rational weights at x = (-3/20, 1/4), z = (4/5, -3/5), the network and point that "
                    "`python -m figures --only geometry` draws), print the network, the point's activation "
                    "pattern, the exact local affine map f(x') = J x' + b, the region as half-spaces A x' <= c, "
                    "the exact exit time along a direction, and the exact distance to the region's boundary "
                    "(a square root, and its decimal value).")
    rg.add_argument("--network", choices=sorted(NETWORK_NAMES), default=None,
                    help="a built-in network: teaching (the default, the geometry figure's) or demo-2-4-3 (a "
                         "2-4-3 network, default point 1/2,-1 and direction 1,0)")
    rg.add_argument("--model", metavar="FILE", default=None,
                    help="your own network instead: a file of torch.save(model) (an nn.Module with 2 inputs, "
                         "loaded on the CPU with weights_only=False, so only files you trust), converted exactly "
                         "(theory.from_torch)")
    rg.add_argument("--point", type=_parse_rationals, default=None, metavar="X1,X2",
                    help='the point, as comma-separated rationals (default "-3/20,1/4", the figure\'s; write '
                         '--point=-1,2 when it starts with a minus)')
    rg.add_argument("--direction", type=_parse_rationals, default=None, metavar="Z1,Z2",
                    help='the direction of the exit time (default "4/5,-3/5"; --direction=-1,1/3 when it starts '
                         'with a minus)')
    rg.add_argument("--slope", type=Fraction, default=None, metavar="A",
                    help="the rectifier slope a of a built-in network: 0 ReLU, 1/10 leaky (default), -1 absolute value")
    rg.set_defaults(func=_cmd_region)

    bn = sub.add_parser(
        "bench", help="time the exact linearization and the proofs against their goals",
        description="Time (a) the exact linearization of a 784-256-256-10 leaky-ReLU MLP with float32 weights "
                    "(torch.manual_seed(0), default init) read exactly, at one input: conversion from torch once, "
                    "then the median of --runs runs of the pattern, J and b (goal < 1 s) and of the same with the "
                    "region's half-spaces; (b) prove_all() over every claim (goal < 60 s). Exit code 1 on a MISS.")
    bn.add_argument("--runs", type=int, default=5, help="runs per timing, the median is reported (default 5)")
    bn.add_argument("--skip-prove", action="store_true", help="time only the linearization")
    bn.set_defaults(func=_cmd_bench)
    return p


def main(argv=None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
