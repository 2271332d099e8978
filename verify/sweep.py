"""The main job: every checkable claim on many random networks, in float64 and float32.

One *unit of work* is (network index, dtype, device). For each, the sweep builds the network from
its seeded description, draws inputs (some placed on or near kinks, so kinks are seen, not
avoided), runs every checker (:func:`verify.checkers.run_checks`) and appends one JSON line to the
results file at once, so an interrupted sweep keeps every finished unit and ``resume`` continues it.
Shards (``shard=(i, n)``) take every n-th unit and can run as separate jobs; :func:`merge` joins
their files.
"""

from __future__ import annotations

import platform
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import torch

from .errors import resolve_device

from .gap import Gap, ResultsError, network_record, read_results, write_record

__all__ = ["SweepConfig", "plan", "run_sweep", "merge", "summarize", "vacuous_summary", "ClaimSummary", "default_device",
           "run_facts", "keep_previous", "crossing_summary", "QUICK", "ARCHS"]

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
    from .networks import draw_spec

    i_shard, n_shard = shard
    if not (n_shard >= 1 and 0 <= i_shard < n_shard):
        raise ValueError(f"shard must be i/n with 0 <= i < n, got {i_shard}/{n_shard}")
    rng = random.Random(config.seed)
    units = []
    for k in range(config.networks):
        spec = draw_spec(rng, size=config.size, arch=ARCHS[k % len(ARCHS)])
        for dtype in config.dtypes:
            units.append({"index": k, "dtype": dtype, "device": config.device, "spec": spec})
    return [u for j, u in enumerate(units) if j % n_shard == i_shard]


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
    dtype, seed, flags and time."""
    dev = torch.device(device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else _cpu_name()
    return {"torch": torch.__version__, "python": platform.python_version(), "device": dev.type,
            "device_name": name, "cpu_capability": torch.backends.cpu.get_cpu_capability(), "dtype": dtype,
            "seed": seed, "flags": flags or {}, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}


def _done_keys(path: Path, config: SweepConfig) -> set:
    if not path.exists():
        return set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            records = read_results(path)
        except ResultsError as exc:
            if "holds no complete record" in str(exc):     # only cut lines so far: nothing finished
                return set()
            raise                                           # another schema, or not a results file
    keys = set()
    for rec in records:
        if rec["run"].get("sweep") != config.to_dict():
            raise ResultsError(f"{path} was written by a sweep with other settings ({rec['run'].get('sweep')}); "
                               f"use another --out file, or the same settings to resume")
        keys.add(_key(rec["network"]["index"], rec["run"]["dtype"], rec["network"]["device"]))
    return keys


def _end_line(path: Path) -> None:
    """If ``path`` does not end with a newline (a write was cut off), end its last line, so the next
    record starts a line of its own instead of being glued to the cut one (and lost with it)."""
    with open(path, "rb+") as fh:
        fh.seek(-1, 2)
        if fh.read(1) == b"\n":
            return
        fh.write(b"\n")
    warnings.warn(f"{path}: its last line was cut off (an interrupted write); it is skipped and its unit "
                  f"runs again", stacklevel=3)


def keep_previous(out: Path) -> None:
    """Move an existing, non-empty results file aside under a time-stamped name, so nothing is lost."""
    out = Path(out)
    if not (out.exists() and out.stat().st_size):
        return
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(out.stat().st_mtime))
    kept, n = out.with_name(f"{out.stem}.{stamp}{out.suffix}"), 1
    while kept.exists():                        # two runs within a second: never overwrite a kept file
        kept, n = out.with_name(f"{out.stem}.{stamp}-{n}{out.suffix}"), n + 1
    out.rename(kept)
    print(f"note: kept the previous results as {kept}")


def run_unit(unit: dict, config: SweepConfig) -> dict:
    """Run every checker on one network in one dtype; return its results record."""
    from .checkers import run_checks
    from .networks import draw_inputs

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
    facts["seconds"] = round(time.perf_counter() - t0, 3)
    network = dict(spec.to_dict(), id=spec.id, index=unit["index"], device=unit["device"])
    return network_record(network, facts, gaps)


def _flags(device: str) -> dict:
    flags = {"deterministic": torch.are_deterministic_algorithms_enabled()}
    if torch.device(device).type == "cuda":
        flags.update({"tf32_matmul_during_checks": False, "tf32_cudnn_during_checks": False})
    return flags


def run_sweep(out: str | Path, *, config: SweepConfig | None = None, quick: bool = True,
              shard: tuple[int, int] = (0, 1), resume: bool = False, progress: bool = True) -> list[dict]:
    """Run a sweep, appending one line per finished unit to ``out``; return the records of this run.

    Without ``resume`` an existing ``out`` is not mixed with the new sweep: it is kept, renamed with
    its modification time (``verify.20260101-120000.jsonl``), and a note says so.
    """
    from tqdm.auto import tqdm

    config = config or SweepConfig(**(QUICK if quick else FULL), size="quick" if quick else "full")
    out = Path(out)
    if not resume:
        keep_previous(out)
    done = _done_keys(out, config) if resume else set()
    if resume and out.exists() and out.stat().st_size:
        _end_line(out)
    units = [u for u in plan(config, shard) if _key(u["index"], u["dtype"], u["device"]) not in done]
    records = []
    bar = tqdm(units, desc="networks", unit="net", disable=not progress, dynamic_ncols=True)
    for unit in bar:
        bar.set_postfix_str(f"{unit['spec'].id} {unit['dtype']}")
        rec = run_unit(unit, config)
        write_record(out, rec)
        rec["gaps"] = [Gap.from_dict(g) for g in rec["gaps"]]
        records.append(rec)
    return records


def merge(paths: Sequence[str | Path], out: str | Path) -> int:
    """Join shard files of one sweep into ``out``; duplicates are dropped, other sweeps refused.

    Returns the number of records written.
    """
    seen, config, keep = set(), None, []
    out = Path(out)
    if out.exists() and out.stat().st_size:
        raise FileExistsError(f"{out} exists; merge writes a new file")
    for p in paths:
        for rec in read_results(p):
            cfg = rec["run"].get("sweep")
            if config is None:
                config = cfg
            elif cfg is not None and dict(cfg, device=None) != dict(config, device=None):
                raise ResultsError(f"{p} comes from a sweep with other settings ({cfg} vs {config})")
            key = _key(rec["network"]["index"], rec["run"]["dtype"], rec["network"]["device"])
            if key in seen:
                continue
            seen.add(key)
            rec["gaps"] = [g.to_dict() for g in rec["gaps"]]
            keep.append(rec)
    for rec in keep:                                        # every file checked first: no partial output
        write_record(out, rec)
    return len(keep)


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


def crossing_summary(records: Iterable[dict]) -> str:
    """The curvature-region-crossing report against h: for the points off kinks, the fraction whose
    activation region changed between x and x + h z, and the mean share of R-CURE due to the change.

    Empty when the records hold no such measurement.
    """
    import math

    frac: dict[float, list] = {}
    share: dict[float, list] = {}
    for rec in records:
        for g in rec["gaps"]:
            if g.claim != "curvature-region-crossing" or g.check != "pattern-change share":
                continue
            h = float(g.extra["h"])
            idx = g._interior()
            changed = g.pattern_changed or [False] * g.n_points
            sh = g.extra.get("share", [])
            frac.setdefault(h, []).extend(changed[i] for i in idx)
            share.setdefault(h, []).extend(sh[i] for i in idx if i < len(sh) and sh[i] is not None
                                           and math.isfinite(sh[i]))
    if not frac:
        return ""
    hs = sorted(frac)
    cell = lambda v: f"{v:>7.2f}"
    lines = ["curvature-region-crossing, points off kinks (both dtypes), against the CURE step h:",
             "  h                 " + "".join(f"{h:>7.0e}" for h in hs),
             "  region changed    " + "".join(cell(sum(frac[h]) / len(frac[h])) if frac[h] else "      -" for h in hs),
             "  share of R-CURE   " + "".join(cell(sum(share[h]) / len(share[h])) if share.get(h) else "      -"
                                             for h in hs)]
    return "\n".join(lines)


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


