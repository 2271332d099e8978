"""Join the shard files of one sweep (``python -m verify merge``): :func:`merge_files` and :func:`merge`.

A sweep run as separate jobs (``--shard i/n``) writes one file per shard; merging them drops duplicates,
refuses files of another sweep, and says which units or shards are missing.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from verify.results.records import ResultsError, read_results, write_record

__all__ = ["MergeResult", "merge_files", "merge", "unit_key", "shard_of"]


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
            key = unit_key(rec["network"]["index"], rec["run"]["dtype"], rec["network"]["device"])
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
        hit = {shard_of(config, k, dt, n) for k, dt in missing}
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


def shard_of(config: dict, index: int, dtype: str, n_shard: int) -> int:
    """The shard (of ``n_shard``) that runs the unit (index, dtype) of a sweep: :func:`verify.jobs.sweep.plan` deals the
    units out in turn, network by network and dtype by dtype."""
    dtypes = list(config["dtypes"])
    return (int(index) * len(dtypes) + dtypes.index(dtype)) % n_shard


def unit_key(index, dtype, device) -> tuple:
    """The key that names one unit of a sweep (network index, dtype, device) across its shards."""
    return (int(index), str(dtype), str(device))
