"""Every identity claim on the networks the training lab trained (``python -m verify --trained [DIR]``).

The sweep checks the claims on *random* networks at *random* inputs. Here the networks are the lab's
checkpoints (``python -m verify dynamics`` writes one per run and epoch in ``<results stem>.ckpt/``), and
the inputs are the first points of the lab's own evaluation set, drawn from that data set's test split:
the data each network was trained for, with their true labels.

Each checkpoint is checked like a sweep unit (:func:`verify.checkers.run_checks`), in float64 and
float32, and written as a sweep record (the sweep's table, ``merge``, figures and notes read it). By
default two checkpoints per run: epoch 0 (the same network before training: random weights, the same
inputs) and the last epoch (the trained network), so the table can say, claim by claim, what training
changed: the informative share, the kinks and the region crossings.

A lab network trained in float64 and checked in float32 is rounded to float32 first (a nearby network,
not the saved one; the record says so); float32 weights convert to float64 exactly.

curvature-region-crossing says that at CURE's step sizes (h of 1 to 3) the pattern-change term dominates.
:func:`crossing_curves` gives, per data set and objective, the fraction of points whose region changes
and the share of R-CURE due to the change against h, and against the per-input step h / sqrt(D) (z has
unit l2 norm, so each of the D inputs moves by h / sqrt(D) on average in the root-mean-square sense), so
that data sets of different D compare.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import torch

from verify.errors import VerifyError

__all__ = ["TRAINED_RESULTS", "INITIAL_ROLE", "TrainedError", "find_runs", "plan", "run_unit", "run_trained", "parse_epochs",
           "stage_of", "crossing_curves", "format_crossings", "format_comparison"]

#: Where ``python -m verify --trained`` writes by default (beside the sweep's results, never over them).
TRAINED_RESULTS = "results/trained.jsonl"

#: The role of an epoch-0 check: the weights every objective of a seed starts from.
INITIAL_ROLE = "every objective"

_EPOCH_FILE = re.compile(r"epoch-(\d{3,})\.pt$")
_SEED = re.compile(r"-s(\d+)$")


def _check_id(run: str, epoch: int) -> str:
    """The network id of one checkpoint's check: ``<run id>@<epoch, 3 digits>``."""
    return f"{run}@{epoch:03d}"


def _unit_key(unit: dict) -> tuple:
    return _check_id(unit["run"], unit["epoch"]), unit["dtype"]


class TrainedError(VerifyError, ValueError):
    """No checkpoints where asked, or a checkpoint folder that is not a lab run's."""


def _default_source() -> Path:
    from verify.dynamics.lab import DYNAMICS_RESULTS

    return Path(DYNAMICS_RESULTS)


def find_runs(source: str | Path | None = None) -> list[dict]:
    """The lab runs under ``source``: a lab results file (its ``.ckpt`` folder beside it), a ``.ckpt`` folder,
    or one run's folder. Each run: {"id", "folder", "epochs" (the epochs with a checkpoint, ascending),
    "config" (the lab's config: data, settings, dtype ...), "objective", "role", "seed"}."""
    from verify.dynamics.lab import checkpoint_dir
    from verify.dynamics.train import Objective

    src = Path(source) if source is not None else _default_source()
    if src.suffix == ".jsonl" or (src.is_file() and not src.is_dir()):
        folder = checkpoint_dir(src)
        if not folder.is_dir():
            hint = ("run `python -m verify dynamics` first (it trains the quick lab and keeps its checkpoints)"
                    if source is None else f"run `python -m verify dynamics --out {src}` to make it")
            raise TrainedError(f"no lab checkpoints in {folder} (the checkpoint folder of {src}); {hint}")
    elif src.is_dir():
        folder = src
    else:
        raise TrainedError(f"no such lab results file or checkpoint folder: {src}; run `python -m verify dynamics` "
                           f"to make one")
    run_dirs = [folder] if (folder / "state.pt").is_file() else sorted(p for p in folder.iterdir() if p.is_dir())
    runs = []
    for d in run_dirs:
        state = d / "state.pt"
        epochs = sorted(int(m.group(1)) for p in d.iterdir() if (m := _EPOCH_FILE.match(p.name)))
        if not state.is_file() or not epochs:
            continue
        try:
            st = torch.load(state, map_location="cpu", weights_only=False)
        except Exception as exc:                        # a torn or foreign file: say which
            raise TrainedError(f"{state} is not a lab checkpoint ({type(exc).__name__}: {exc})") from exc
        if not isinstance(st, dict) or "config" not in st or "objective" not in st:
            raise TrainedError(f"{state} is not a lab checkpoint (no config and objective in it)")
        obj = Objective.from_dict(st["objective"])
        m = _SEED.search(d.name)                        # the lab names a run <data>-<arch>-<objective>-s<seed>
        seed = int(m.group(1)) if m else 0
        runs.append({"id": d.name, "folder": str(d), "epochs": epochs, "config": st["config"],
                     "objective": st["objective"], "role": _role_of(obj, st["config"]), "seed": seed})
    if not runs:
        raise TrainedError(f"{folder} holds no lab run (a folder per run with state.pt and epoch-NNN.pt); "
                           f"run `python -m verify dynamics` to make one")
    return runs


def _role_of(obj, config: dict) -> str:
    from verify.dynamics.lab import roles
    from verify.dynamics.settings import LabSettings

    for role, o in roles(LabSettings.from_dict(config["settings"])).items():
        if o.id == obj.id:
            return role
    return obj.id


def parse_epochs(text: str) -> str:
    """``--epochs``: ``first,last`` (the default), ``last``, ``all``, or epoch numbers ``0,5,20`` (``last``
    may be among them)."""
    text = text.strip().replace(" ", "")
    if text in ("all", "last", "first,last", "0,last"):
        return text
    parts = text.split(",")
    if not parts or not all(p == "last" or p.isdigit() for p in parts):
        raise ValueError(f"--epochs must be first,last, last, all or epoch numbers like 0,10,last; got {text!r}")
    return text


def _select(epochs: list[int], spec: str) -> list[int]:
    if spec == "all":
        return list(epochs)
    want = set()
    for p in spec.split(","):
        if p == "last":
            want.add(epochs[-1])
        elif p == "first":
            want.add(epochs[0])
        else:
            want.add(int(p))
    return [e for e in epochs if e in want]


def plan(runs: list[dict], *, epochs: str = "first,last", points: int = 32, dtypes=("float64", "float32"),
         device: str = "cpu", claims=None) -> list[dict]:
    """One unit per run, selected epoch and dtype (plain dicts, as the runner takes them). The lab's paired
    runs of one seed start from the same weights (:func:`verify.dynamics.train.build_model` is seeded by the
    seed alone), so epoch 0 is checked once per data set, architecture and seed, under the role
    :data:`INITIAL_ROLE`."""
    units, initial = [], set()
    for run in runs:
        chosen = _select(run["epochs"], epochs)
        cfg = run["config"]
        init_key = (cfg["data"], cfg["settings"]["arch"], cfg.get("dtype"), run["seed"])
        if 0 in chosen and init_key in initial:
            chosen.remove(0)                # paired runs share their epoch-0 weights: check them once
        initial.add(init_key)
        for epoch in chosen:
            for dtype in dtypes:
                units.append({"id": f"{_check_id(run['id'], epoch)}/{dtype}", "run": run["id"], "folder": run["folder"],
                              "epoch": epoch, "last": epoch == run["epochs"][-1] and epoch > 0,
                              "dtype": dtype, "device": device, "points": points,
                              "role": INITIAL_ROLE if epoch == 0 else run["role"],
                              "seed": run["seed"], "objective": run["objective"], "config": run["config"],
                              "claims": list(claims) if claims else None})
    for i, u in enumerate(units):
        u["index"] = i
    return units


def stage_of(network: dict) -> str:
    """'initial' (epoch 0: random weights), 'trained' (the run's last epoch) or 'during'."""
    return "initial" if network.get("epoch") == 0 else ("trained" if network.get("last") else "during")


def run_unit(unit: dict) -> dict:
    """Check every claim on one checkpoint in one dtype, at the first ``points`` evaluation points of its data
    set (true labels); return its results record (the sweep's format, with the run in ``network``)."""
    from verify.checkers import run_checks
    from verify.dynamics.lab import eval_set, load_data
    from verify.dynamics.settings import LabSettings
    from verify.results.provenance import precision_flags, run_facts
    from verify.results.records import network_record

    path = Path(unit["folder"]) / f"epoch-{unit['epoch']:03d}.pt"
    model = torch.load(path, map_location="cpu", weights_only=False)
    model.eval()
    own = {p.dtype for p in model.parameters()}
    dtype = getattr(torch, unit["dtype"])
    conversion = ("own" if own == {dtype} else
                  "exact" if own <= {torch.float32} and dtype == torch.float64 else "rounded")
    model = model.to(dtype=dtype, device=unit["device"])
    cfg = unit["config"]
    s = LabSettings.from_dict(cfg["settings"])
    ds = load_data(cfg["data"])
    x, y = eval_set(ds, s, dtype, unit["device"])
    x, y = x[:unit["points"]], y[:unit["points"]]
    gen = torch.Generator().manual_seed(10_000 * unit["seed"] + unit["epoch"])
    t0 = time.perf_counter()
    gaps = run_checks(model, x, y, claims=unit["claims"], seed=unit["seed"], arch=cfg["settings"]["arch"],
                      generator=gen)
    facts = run_facts(unit["dtype"], unit["device"], unit["seed"], precision_flags(unit["device"]))
    facts["trained"] = {"points": unit["points"], "checkpoint": str(path), "conversion": conversion}
    facts["seconds"] = round(time.perf_counter() - t0, 3)
    with torch.no_grad():
        acc = float((model(x).argmax(-1) == y).double().mean())
    network = {"id": _check_id(unit["run"], unit["epoch"]), "index": unit["index"], "device": unit["device"],
               "arch": cfg["settings"]["arch"], "data": cfg["data"], "D": int(math.prod(ds.in_shape)),
               "role": unit["role"], "objective": unit["objective"], "seed": unit["seed"], "epoch": unit["epoch"],
               "last": unit["last"], "trained": True, "accuracy": acc}
    return network_record(network, facts, gaps)


def _key(rec: dict) -> tuple:
    return rec["network"]["id"], rec["run"]["dtype"]


def run_trained(source=None, out: str | Path = TRAINED_RESULTS, *, epochs: str = "first,last", points: int = 32,
                dtypes=("float64", "float32"), device: str = "cpu", claims=None, resume: bool = False,
                executor=None, progress: bool = True) -> tuple[list[dict], list]:
    """Check the checkpoints under ``source`` (see :func:`find_runs`), appending one record per unit to
    ``out``; with ``resume`` the units already in ``out`` are kept. Returns (every record of ``out`` for
    this plan, with Gap objects; the units that failed); :class:`~verify.results.report.CheckReport` of the
    records reports them.

    >>> import tempfile, pathlib
    >>> from verify.dynamics.lab import lab_config, run_lab
    >>> from verify.results.report import CheckReport
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = run_lab(d / "lab.jsonl", lab_config("synthetic", seeds=1, epochs=2, claims=["confidence-concentration"]),
    ...             progress=False)
    >>> records, failed = run_trained(d / "lab.jsonl", d / "trained.jsonl", points=4, dtypes=("float64",),
    ...                               claims=["input-gradient"], progress=False)
    >>> len(records), failed, CheckReport(records).ok
    (3, [], True)
    """
    from verify.jobs.runner import drive
    from verify.results.gap import Gap
    from verify.results.records import drop_cut_lines, finished_records, keep_previous, read_results

    if points < 1:
        raise ValueError(f"--points must be at least 1, got {points}")
    runs = find_runs(source)
    units = plan(runs, epochs=epochs, points=points, dtypes=dtypes, device=device, claims=claims)
    if not units:
        raise TrainedError(f"--epochs {epochs} selects no checkpoint of the {len(runs)} run(s) found")
    out = Path(out)
    done = {}
    if resume and out.exists():
        drop_cut_lines(out)
        done = {_key(r): r for r in finished_records(read_results, out)}
        print(f"resuming: {sum(_unit_key(u) in done for u in units)} "
              f"of {len(units)} checkpoint checks already in {out}")
    elif not resume:
        keep_previous(out)
    todo = [u for u in units if _unit_key(u) not in done]
    res = drive(todo, run_unit, out, executor=executor, progress=progress, desc="checkpoints", unit_name="ckpt",
                label=lambda u: u["id"])
    for rec in res.records:
        rec["gaps"] = [Gap.from_dict(g) for g in rec["gaps"]]
    wanted = {_unit_key(u) for u in units}
    records = [r for r in done.values() if _key(r) in wanted] + res.records
    records.sort(key=lambda r: r["network"]["index"])
    return records, res.failures


# ---- what training changed -----------------------------------------------------------------------------

def format_comparison(records: list[dict], reference: list[dict] | None = None) -> str:
    """Claim by claim, the informative share (of interior points), the kink share and the crossing share (of
    all points), at epoch 0 (the same networks before training), after training, and (``reference``, when
    given) on the sweep's random networks."""
    from verify.results.summary import summarize

    groups = [("initial", [r for r in records if stage_of(r["network"]) == "initial"]),
              ("trained", [r for r in records if stage_of(r["network"]) == "trained"])]
    if reference:
        groups.append(("sweep", reference))
    groups = [(name, summarize(recs)) for name, recs in groups if recs]
    if len(groups) < 2:
        return ""
    claims = list(dict.fromkeys(r.claim for name, rows in groups if name != "sweep" for r in rows))
    by = {name: {r.claim: r for r in rows} for name, rows in groups}
    pct = lambda a, b: f"{100 * a / b:.0f}%" if b else "-"
    w = 9
    names = "".join(f"{n:>{w}}" for n, _ in groups)
    lines = ["what training changed, claim by claim: the share of interior points that are informative, and of "
             "all points those on a kink and those whose step crossed a region boundary",
             f"  {'':<38}{'informative':^{w * len(groups)}} | {'kinks':^{w * len(groups)}} | "
             f"{'crossings':^{w * len(groups)}}",
             f"  {'claim':<38}{names} | {names} | {names}"]
    for c in claims:
        rows = [by[n].get(c) for n, _ in groups]
        cols = [[pct(r.informative, r.checked) if r else "-" for r in rows],
                [pct(r.kinks, r.points) if r else "-" for r in rows],
                [pct(r.crossings, r.points) if r else "-" for r in rows]]
        lines.append(f"  {c:<38}" + " | ".join("".join(f"{v:>{w}}" for v in col) for col in cols))
    return "\n".join(lines)


def crossing_curves(records: list[dict]) -> list[dict]:
    """The region-crossing curve of each (data set, objective, stage) group: per CURE step h, the fraction of
    points off kinks whose region changed between x and x + h z, the mean share of R-CURE due to the change,
    and the per-input step h / sqrt(D). Each: {"data", "D", "role", "stage", "points", "h": [...],
    "per_input": [...], "changed": [...], "share": [...]}."""
    from verify.results.summary import crossing_by_h

    groups: dict[tuple, list] = {}
    for r in records:
        net = r["network"]
        groups.setdefault((net.get("data"), net.get("D"), net.get("role"), stage_of(net)), []).append(r)
    out = []
    for (data, D, role, stage), recs in groups.items():
        curve = crossing_by_h(recs)
        if not curve:
            continue
        curve.pop("exit_times"), curve.pop("dtypes")
        hs = sorted(curve)
        out.append({"data": data, "D": D, "role": role, "stage": stage, "h": hs,
                    "per_input": [h / math.sqrt(D) for h in hs],
                    "points": max(curve[h]["n"] for h in hs),
                    "changed": [curve[h]["changed"] for h in hs], "share": [curve[h]["share"] for h in hs]})
    order = {"initial": 0, "trained": 1, "during": 2}
    out.sort(key=lambda c: (str(c["data"]), order[c["stage"]], str(c["role"])))
    return out


def format_crossings(curves: list[dict]) -> str:
    """The curves of :func:`crossing_curves` as a table: one row of region-changed fractions and one of
    R-CURE shares per group, under the h and h / sqrt(D) rows of its data set."""
    if not curves:
        return ""
    lines = ["curvature-region-crossing on the lab's networks (points off kinks): the share of R-CURE due to the "
             "pattern change, against the CURE step h and the per-input step h/sqrt(D)"]
    cell = lambda v: f"{v:>7.2f}" if v is not None else "      -"
    for data in dict.fromkeys(c["data"] for c in curves):
        cs = [c for c in curves if c["data"] == data and c["stage"] != "during"]
        if not cs:
            continue
        c0 = cs[0]
        lines += ["", f"  {data} (D = {c0['D']})",
                  f"  {'h':<42}" + "".join(f"{h:>7.0e}" for h in c0["h"]),
                  f"  {'h/sqrt(D)':<42}" + "".join(f"{h:>7.0e}" for h in c0["per_input"])]
        for c in cs:
            name = f"{c['role']} ({c['stage']}, {c['points']} pts)"
            lines.append(f"  {('share ' + name)[:42]:<42}" + "".join(cell(v) for v in c["share"]))
        for c in cs:
            name = f"{c['role']} ({c['stage']})"
            lines.append(f"  {('changed ' + name)[:42]:<42}" + "".join(cell(v) for v in c["changed"]))
    return "\n".join(lines)
