"""Join the results files of a lab's shards: ``python -m verify dynamics merge FILE ... --out FILE``."""

from __future__ import annotations

from pathlib import Path

from verify.dynamics.lab import config_key, read_dynamics
from verify.results.records import ResultsError

__all__ = ["merge_dynamics"]


def merge_dynamics(paths, out: str | Path) -> int:
    """Join the results files of a lab's shards into ``out`` (a new file); records of the same run and epoch
    are written once. Returns the number of records written."""
    from verify.results.records import write_record

    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists; merge writes a new file")
    seen, keep, cfg = set(), [], None
    for p in paths:
        for rec in read_dynamics(p):
            key = config_key(rec["run"]["lab"])
            if cfg is None:
                cfg = key
            elif key != cfg:
                raise ResultsError(f"{p} comes from a lab run with other settings; merge joins shards of one run")
            k = (rec["run"]["id"], rec["epoch"], rec.get("status"))
            if k not in seen:
                seen.add(k)
                keep.append(rec)
    for rec in keep:
        write_record(out, rec)
    return len(keep)
