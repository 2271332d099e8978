"""The main job: every checkable claim on many random networks, in float64 and float32.

One *unit of work* is (network index, dtype, device). For each, the sweep builds the network from
its seeded description, draws inputs (some placed on or near kinks, so kinks are seen, not
avoided), runs every checker (:func:`verify.checkers.run_checks`) and appends one JSON line to the
results file at once, so an interrupted sweep keeps every finished unit and ``resume`` continues it.
Shards (``shard=(i, n)``) take every n-th unit and can run as separate jobs; :func:`~verify.results.merge.merge` joins
their files (:func:`verify.results.merge.merge`).
"""

from __future__ import annotations

import functools
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from verify.errors import resolve_device
from verify.jobs.runner import drive
from verify.results.gap import Gap
from verify.results.merge import unit_key
from verify.results.provenance import precision_flags, run_facts
from verify.results.records import (
    ResultsError,
    drop_cut_lines,
    keep_previous,
    network_record,
    read_results,
)

__all__ = ["SweepConfig", "SweepRecords", "unit_id", "plan", "run_sweep", "default_device", "QUICK", "FULL",
           "ARCHS"]

#: The architectures a sweep draws its networks from.
ARCHS = ("mlp", "cnn", "resnet", "maxout")

#: The quick sweep: sized to finish in under 2 minutes on a 2-core CPU.
QUICK = {"networks": 24, "points": 16}
#: The full sweep (``--full``): more networks and points.
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
    from verify.jobs.networks import draw_spec

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


def _done_keys(path: Path, config: SweepConfig) -> set:
    from verify.results.records import finished_records

    records = finished_records(read_results, path)
    keys = set()
    for rec in records:
        if rec["run"].get("sweep") != config.to_dict():
            raise ResultsError(f"{path} was written by a sweep with other settings ({rec['run'].get('sweep')}); "
                               f"use another --out file, or the same settings to resume")
        keys.add(unit_key(rec["network"]["index"], rec["run"]["dtype"], rec["network"]["device"]))
    return keys


def run_unit(unit: dict, config: SweepConfig) -> dict:
    """Run every checker on one network in one dtype; return its results record."""
    from verify.checkers import run_checks
    from verify.jobs.networks import draw_inputs

    spec = unit["spec"]
    dtype = getattr(torch, unit["dtype"])
    model = spec.build(dtype=dtype, device=unit["device"])
    gen = torch.Generator().manual_seed(spec.seed * 1000 + unit["index"])
    x, y = draw_inputs(model, spec, config.points, generator=gen)
    x, y = x.to(unit["device"]), y.to(unit["device"])
    t0 = time.perf_counter()
    gaps = run_checks(model, x, y, claims=config.claims, seed=spec.seed, arch=spec.id, generator=gen)
    facts = run_facts(unit["dtype"], unit["device"], spec.seed, precision_flags(unit["device"]))
    facts["sweep"] = config.to_dict()
    if unit.get("shard"):
        facts["shard"] = unit["shard"]
    facts["seconds"] = round(time.perf_counter() - t0, 3)
    network = dict(spec.to_dict(), id=spec.id, index=unit["index"], device=unit["device"])
    return network_record(network, facts, gaps)


class SweepRecords(list):
    """The records a sweep wrote (a list, in the order written), and ``failures``: the units that raised
    (:class:`verify.jobs.runner.UnitFailure`, each naming its unit and the worker's message)."""

    def __init__(self, records=(), failures=()):
        super().__init__(records)
        self.failures = list(failures)

    def report(self):
        """The :class:`~verify.results.report.CheckReport` of these records (``.ok``, ``.table()``, ``.text()``)."""
        from verify.results.report import CheckReport

        return CheckReport(self)


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

    ``executor`` (:func:`verify.jobs.executors.make_executor`: local processes, a Dask cluster) runs the units
    elsewhere; this process alone writes ``out``, and the records equal those of a run in this process
    but for the run facts (time, seconds, host). A unit that raises is reported on stderr with its id and
    message, the others go on, and it is absent from ``out``, so ``resume`` runs it again.

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "sweep.jsonl"
    >>> config = SweepConfig(networks=2, points=4, claims=("input-gradient",), device="cpu")
    >>> records = run_sweep(out, config=config, progress=False)
    >>> len(records), records.failures, records.report().ok
    (4, [], True)
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
        n_done = sum(unit_key(u["index"], u["dtype"], u["device"]) in done for u in planned)
        print(f"resuming: {n_done} of {len(planned)} units already in {out}; running the other {len(planned) - n_done}")
        dropped = drop_cut_lines(out) if out.exists() else 0
        if dropped:
            print(f"note: dropped {'the cut-off last line' if dropped == 1 else f'{dropped} cut-off lines'} of "
                  f"{out} (an interrupted write); {'its unit runs' if dropped == 1 else 'their units run'} again")
    units = [u for u in planned if unit_key(u["index"], u["dtype"], u["device"]) not in done]
    res = drive(units, functools.partial(run_unit, config=config), out, executor=executor, progress=progress,
                desc="networks", unit_name="net", unit_id=unit_id, label=lambda unit: f"{unit['spec'].id} {unit['dtype']}")
    for rec in res.records:
        rec["gaps"] = [Gap.from_dict(g) for g in rec["gaps"]]
    return SweepRecords(res.records, res.failures)


