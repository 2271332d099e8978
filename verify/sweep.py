"""The main job: every checkable claim on many random networks, in float64 and float32.

One *unit of work* is (network index, dtype, device). For each, the sweep builds the network from
its seeded description, draws inputs (some placed on or near kinks, so kinks are seen, not
avoided), runs every checker (:func:`verify.checkers.run_checks`) and appends one JSON line to the
results file at once, so an interrupted sweep keeps every finished unit and ``resume`` continues it.
Shards (``shard=(i, n)``) take every n-th unit and can run as separate jobs; :func:`merge` joins
their files.
"""

from __future__ import annotations

import functools
import platform
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import torch

from verify.errors import resolve_device

from verify.gap import Gap, ResultsError, network_record, read_results, write_record
from verify.runner import drive, drop_cut_lines, keep_previous

__all__ = ["SweepConfig", "SweepRecords", "unit_id", "plan", "run_sweep", "merge", "merge_files", "MergeResult",
           "summarize", "vacuous_summary", "ClaimSummary", "default_device", "run_facts", "keep_previous",
           "crossing_summary", "crossing_by_h", "kink_summary", "QUICK", "ARCHS"]

ARCHS = ("mlp", "cnn", "resnet", "maxout")

#: The quick sweep: sized to finish in under 2 minutes on a 2-core CPU.
QUICK = {"networks": 24, "points": 16}
FULL = {"networks": 200, "points": 32}


def default_device() -> str:
    """The sweep's device when none is named: CUDA when available, else CPU (see ``resolve_device``)."""
    return str(resolve_device(None))


@dataclass(frozen=True)
class SweepConfig:
    """What a sweep runs; two files can be merged only if their configs agree."""

    networks: int = QUICK["networks"]
    points: int = QUICK["points"]
    size: str = "quick"
    dtypes: tuple = ("float64", "float32")
    device: str = field(default_factory=default_device)
    seed: int = 0
    claims: tuple | None = None

    def to_dict(self) -> dict:
        return {"networks": self.networks, "points": self.points, "size": self.size, "dtypes": list(self.dtypes),
                "device": self.device, "seed": self.seed, "claims": list(self.claims) if self.claims else None}


def plan(config: SweepConfig, shard: tuple[int, int] = (0, 1)) -> list[dict]:
    """The units of work of a sweep (or of one shard of it), in order; each carries its NetSpec."""
    from verify.networks import draw_spec

    i_shard, n_shard = shard
    if not (n_shard >= 1 and 0 <= i_shard < n_shard):
        raise ValueError(f"shard must be i/n with 0 <= i < n, got {i_shard}/{n_shard}")
    rng = random.Random(config.seed)
    units = []
    for k in range(config.networks):
        spec = draw_spec(rng, size=config.size, arch=ARCHS[k % len(ARCHS)])
        for dtype in config.dtypes:
            units.append({"index": k, "dtype": dtype, "device": config.device, "spec": spec})
    return [dict(u, shard=f"{i_shard}/{n_shard}") for j, u in enumerate(units) if j % n_shard == i_shard]


def _shard_of(config: dict, index: int, dtype: str, n_shard: int) -> int:
    """The shard (of ``n_shard``) that runs the unit (index, dtype) of a sweep: :func:`plan` deals the
    units out in turn, network by network and dtype by dtype."""
    dtypes = list(config["dtypes"])
    return (int(index) * len(dtypes) + dtypes.index(dtype)) % n_shard


def _key(index, dtype, device) -> tuple:
    return (int(index), str(dtype), str(device))


def _cpu_name() -> str:
    """The processor's model name (from /proc/cpuinfo where there is one), else what ``platform`` says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_facts(dtype: str, device: str, seed: int, flags: dict | None = None) -> dict:
    """What a results line records about the run: versions, the device by name, the CPU kernels torch
    uses (``cpu_capability``: rounding, and so kink and crossing counts, can differ between them), the
    dtype, seed, flags, the host that ran it, torch's intra-op thread count and the time."""
    dev = torch.device(device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else _cpu_name()
    return {"torch": torch.__version__, "python": platform.python_version(), "device": dev.type,
            "device_name": name, "cpu_capability": torch.backends.cpu.get_cpu_capability(), "dtype": dtype,
            "seed": seed, "flags": flags or {}, "host": platform.node(), "threads": torch.get_num_threads(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S")}


def _done_keys(path: Path, config: SweepConfig) -> set:
    from verify.runner import finished_records

    records = finished_records(read_results, path)
    keys = set()
    for rec in records:
        if rec["run"].get("sweep") != config.to_dict():
            raise ResultsError(f"{path} was written by a sweep with other settings ({rec['run'].get('sweep')}); "
                               f"use another --out file, or the same settings to resume")
        keys.add(_key(rec["network"]["index"], rec["run"]["dtype"], rec["network"]["device"]))
    return keys


_drop_cut_lines = drop_cut_lines      # the names this module has always used
keep_previous = keep_previous


def run_unit(unit: dict, config: SweepConfig) -> dict:
    """Run every checker on one network in one dtype; return its results record."""
    from verify.checkers import run_checks
    from verify.networks import draw_inputs

    spec = unit["spec"]
    dtype = getattr(torch, unit["dtype"])
    model = spec.build(dtype=dtype, device=unit["device"])
    gen = torch.Generator().manual_seed(spec.seed * 1000 + unit["index"])
    x, y = draw_inputs(model, spec, config.points, generator=gen)
    x, y = x.to(unit["device"]), y.to(unit["device"])
    t0 = time.perf_counter()
    gaps = run_checks(model, x, y, claims=config.claims, seed=spec.seed, arch=spec.id, generator=gen)
    facts = run_facts(unit["dtype"], unit["device"], spec.seed, _flags(unit["device"]))
    facts["sweep"] = config.to_dict()
    if unit.get("shard"):
        facts["shard"] = unit["shard"]
    facts["seconds"] = round(time.perf_counter() - t0, 3)
    network = dict(spec.to_dict(), id=spec.id, index=unit["index"], device=unit["device"])
    return network_record(network, facts, gaps)


def _flags(device: str) -> dict:
    """The precision flags the checks run under, as :func:`verify.linearize.precision_guard` reports them
    (it is entered here as the checks enter it; it sets them and restores them after): whether
    deterministic algorithms are on, and on CUDA the TF32 and cuDNN states during the checks (read back
    from torch inside the guard) and outside them; on CPU the oneDNN fp32 matmul precision."""
    from verify.linearize import precision_guard

    dev = torch.device(device)
    with precision_guard(dev) as guard:
        flags = {"deterministic": torch.are_deterministic_algorithms_enabled(),
                 **{k: v for k, v in guard.items() if k != "device"}}        # the device is in the run facts
        if dev.type == "cuda":
            flags.update(tf32_matmul_during_checks=bool(torch.backends.cuda.matmul.allow_tf32),
                         tf32_cudnn_during_checks=bool(torch.backends.cudnn.allow_tf32),
                         cudnn_during_checks=bool(torch.backends.cudnn.enabled))
    return {k: v if isinstance(v, (bool, int, float, type(None))) else str(v) for k, v in flags.items()}


class SweepRecords(list):
    """The records a sweep wrote (a list, in the order written), and ``failures``: the units that raised
    (:class:`verify.runner.UnitFailure`, each naming its unit and the worker's message)."""

    def __init__(self, records=(), failures=()):
        super().__init__(records)
        self.failures = list(failures)


def unit_id(unit: dict) -> str:
    """A sweep unit's name in messages: ``net 3 (cnn-1x8x8-c4-relu-k3, float32)``."""
    return f"net {unit['index']} ({unit['spec'].id}, {unit['dtype']})"


def run_sweep(out: str | Path, *, config: SweepConfig | None = None, quick: bool = True,
              shard: tuple[int, int] = (0, 1), resume: bool = False, progress: bool = True,
              executor=None) -> SweepRecords:
    """Run a sweep, appending one line per finished unit to ``out``; return the records of this run
    (:class:`SweepRecords`: a list, with the units that failed in ``.failures``).

    Without ``resume`` an existing ``out`` is not mixed with the new sweep: it is kept, renamed with
    its modification time (``verify.20260101-120000.jsonl``), and a note says so. With ``resume`` the
    units already in ``out`` are kept and a line says how many of the plan's units that is; a cut-off
    line (an interrupted write) is dropped from the file (rewritten atomically) and its unit runs again.

    ``executor`` (:func:`verify.executors.make_executor`: local processes, a Dask cluster) runs the units
    elsewhere; this process alone writes ``out``, and the records equal those of a run in this process
    but for the run facts (time, seconds, host). A unit that raises is reported on stderr with its id and
    message, the others go on, and it is absent from ``out``, so ``resume`` runs it again.
    """
    config = config or SweepConfig(**(QUICK if quick else FULL), size="quick" if quick else "full")
    out = Path(out)
    if not resume:
        keep_previous(out)
    planned = plan(config, shard)
    done = set()
    if resume:
        if out.exists() and out.stat().st_size:
            done = _done_keys(out, config)
        n_done = sum(_key(u["index"], u["dtype"], u["device"]) in done for u in planned)
        print(f"resuming: {n_done} of {len(planned)} units already in {out}; running the other {len(planned) - n_done}")
        dropped = _drop_cut_lines(out) if out.exists() else 0
        if dropped:
            print(f"note: dropped {'the cut-off last line' if dropped == 1 else f'{dropped} cut-off lines'} of "
                  f"{out} (an interrupted write); {'its unit runs' if dropped == 1 else 'their units run'} again")
    units = [u for u in planned if _key(u["index"], u["dtype"], u["device"]) not in done]
    res = drive(units, functools.partial(run_unit, config=config), out, executor=executor, progress=progress,
                desc="networks", unit_name="net", unit_id=unit_id, label=lambda unit: f"{unit['spec'].id} {unit['dtype']}")
    for rec in res.records:
        rec["gaps"] = [Gap.from_dict(g) for g in rec["gaps"]]
    return SweepRecords(res.records, res.failures)


@dataclass
class MergeResult:
    """What :func:`merge_files` did: the records written (their gaps as :class:`Gap`), the duplicates it
    dropped, the files given more than once, how much of the sweep the files cover, and the lines of the
    files that were skipped (cut off by an interrupted write: the warnings of :func:`read_results`)."""

    records: list
    duplicates: int = 0
    repeated: list = field(default_factory=list)
    expected: int | None = None
    missing: list = field(default_factory=list)
    shards_absent: list = field(default_factory=list)
    shards_incomplete: list = field(default_factory=list)
    skipped: list = field(default_factory=list)

    @property
    def written(self) -> int:
        return len(self.records)

    def coverage_note(self) -> str:
        """One line saying how many of the sweep's units are here and which are missing; empty when the
        files hold the whole sweep (or come from runs that are not sweeps, such as ``--model``)."""
        if self.expected is None or not self.missing:
            return ""
        found = self.expected - len(self.missing)
        why = []
        if self.shards_absent:
            s = self.shards_absent
            why.append(f"shard{'s' if len(s) > 1 else ''} {_and(s)} {'are' if len(s) > 1 else 'is'} not among "
                       f"them (not run, or not given?)")
        if self.shards_incomplete:
            s = self.shards_incomplete
            why.append(f"shard{'s' if len(s) > 1 else ''} {_and(s)} {'were' if len(s) > 1 else 'was'} cut short "
                       f"(finish {'them' if len(s) > 1 else 'it'} with --resume)")
        return (f"note: {found} of {self.expected} units of the sweep are in these files; the rest are missing"
                + (": " + "; ".join(why) if why else " (a shard not run?)"))


def _and(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def merge_files(paths: Sequence[str | Path], out: str | Path) -> MergeResult:
    """Join shard files of one sweep into ``out``; duplicates are dropped, other sweeps refused, and
    nothing is written unless every file is accepted. See :class:`MergeResult` for what is returned."""
    seen, config, keep, duplicates, first = set(), None, [], 0, True
    out = Path(out)
    if out.exists() and out.stat().st_size:
        raise FileExistsError(f"{out} exists; merge writes a new file")
    resolved = [Path(p).resolve() for p in paths]
    repeated = sorted({str(p) for p, r in zip(paths, resolved) if resolved.count(r) > 1})
    shards: dict[str, set] = {}                             # device -> the shard labels its records carry
    skipped = []
    for p in paths:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            records = read_results(p)
        skipped += [str(w.message) for w in caught]
        for rec in records:
            cfg = rec["run"].get("sweep")
            if first:
                config, first = cfg, False
            elif (cfg is None) != (config is None):
                raise ResultsError(f"{p} mixes a sweep with a run that is not one (e.g. --model); merge joins "
                                   f"the shards of one sweep")
            elif cfg is not None and dict(cfg, device=None) != dict(config, device=None):
                raise ResultsError(f"{p} comes from a sweep with other settings ({cfg} vs {config})")
            key = _key(rec["network"]["index"], rec["run"]["dtype"], rec["network"]["device"])
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            shards.setdefault(key[2], set()).add(rec["run"].get("shard"))
            keep.append(rec)
    for rec in keep:                                        # every file checked first: no partial output
        write_record(out, dict(rec, gaps=[g.to_dict() for g in rec["gaps"]]))
    result = MergeResult(keep, duplicates, repeated, skipped=skipped)
    if config is None:
        return result
    devices = sorted(shards)
    result.expected = config["networks"] * len(config["dtypes"]) * len(devices)
    result.missing = [(k, dt, dev) for dev in devices for k in range(config["networks"]) for dt in config["dtypes"]
                      if (k, dt, dev) not in seen]
    for dev in devices:                                     # name the shards, where the records say theirs
        labels, missing = shards[dev], [(k, dt) for k, dt, d in result.missing if d == dev]
        if not missing or None in labels or len({lab.split("/")[1] for lab in labels}) != 1:
            continue
        n = int(next(iter(labels)).split("/")[1])
        hit = {_shard_of(config, k, dt, n) for k, dt in missing}
        present = {int(lab.split("/")[0]) for lab in labels}
        on = f" on {dev}" if len(devices) > 1 else ""
        result.shards_absent += [f"{i}/{n}{on}" for i in sorted(hit - present)]
        result.shards_incomplete += [f"{i}/{n}{on}" for i in sorted(hit & present)]
    return result


def merge(paths: Sequence[str | Path], out: str | Path) -> int:
    """Join shard files of one sweep into ``out``; duplicates are dropped, other sweeps refused.

    Returns the number of records written (:func:`merge_files` returns what was merged and what is missing).
    """
    result = merge_files(paths, out)
    for message in result.skipped:
        warnings.warn(message, stacklevel=2)
    return result.written


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
        point (see :class:`verify.gap.Gap`); VACUOUS if it passed only where its bound was too wide
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
            row = rows.setdefault(g.claim, ClaimSummary(g.claim, c.tag if c else "?", c.kind if c else g.kind))
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
    in float64 and then exactly (:mod:`verify.kinks`): recovered (by float64, exactly; of those, judged:
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


