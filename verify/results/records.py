"""The results files: JSON lines, one record per network (or lab run), written atomically line by line.

:func:`write_record` appends one line and syncs it; :func:`read_results` reads a sweep's file back with its
gaps as :class:`verify.results.gap.Gap`; :func:`json_lines` is the one loop that reads any of the toolkit's
JSON-lines files, skipping (with a warning) a line cut off by an interrupted write. :func:`keep_previous`
moves an earlier file aside under a time-stamped name, :func:`drop_cut_lines` trims a cut-off last line
before a resumed run appends, and :func:`finished_records` reads what a resumed run may skip.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable

from verify.errors import VerifyError
from verify.results.gap import RESULTS_SCHEMA, Gap

__all__ = ["ResultsError", "network_record", "write_record", "read_results", "json_lines", "drop_cut_lines",
           "keep_previous", "finished_records"]


class ResultsError(VerifyError, ValueError):
    """A results file is missing, unreadable, or written by an incompatible version."""


def network_record(network: dict, run: dict, gaps: Iterable[Gap]) -> dict:
    """One results line: the network description, the run facts, and its gaps."""
    return {"schema": RESULTS_SCHEMA, "run": run, "network": network, "gaps": [g.to_dict() for g in gaps]}


def write_record(path: str | os.PathLike, record: dict) -> None:
    """Append one record as one JSON line and flush it to disk, so an interrupted sweep keeps it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, allow_nan=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_results(path: str | os.PathLike) -> list[dict]:
    """Read a results file: a list of records, with their ``gaps`` turned back into :class:`Gap`.

    A line that is not complete JSON (an interrupted write) is skipped with a warning. A missing file,
    a file with no valid record, or a record of another schema raises :class:`ResultsError`.
    """
    path = Path(path)
    if not path.exists():
        raise ResultsError(f"results file {str(path)!r} does not exist; run `python -m verify` to make one")
    if not path.is_file():
        raise ResultsError(f"results path {str(path)!r} is not a file")
    from verify.results.records import json_lines

    records = []
    for lineno, rec in json_lines(path, "results"):
        if not isinstance(rec, dict) or "schema" not in rec:
            raise ResultsError(f"{path}:{lineno}: not a results record (no 'schema' field)")
        if rec["schema"] != RESULTS_SCHEMA:
            raise ResultsError(f"{path}:{lineno}: results schema {rec['schema']!r} is not supported; "
                               f"this version reads {RESULTS_SCHEMA!r}. Re-run `python -m verify`.")
        try:
            rec["gaps"] = [Gap.from_dict(g) for g in rec.get("gaps", [])]
        except (TypeError, ValueError) as exc:
            raise ResultsError(f"{path}:{lineno}: a gap record is malformed: {exc}") from None
        records.append(rec)
    if not records:
        raise ResultsError(f"results file {str(path)!r} holds no complete record")
    return records


def drop_cut_lines(path: Path) -> int:
    """Rewrite ``path`` without its cut-off lines (an interrupted write leaves a last line that is not
    complete JSON; a file resumed by an earlier version can hold such a line further up). The new file
    is written beside the old one and moved over it (``os.replace``), so an interruption here loses
    nothing. A complete last line without its newline gets one. Returns the number of lines dropped."""
    path = Path(path)
    raw = path.read_bytes()
    if not raw:
        return 0
    keep, dropped = [], 0
    for line in raw.splitlines(keepends=True):
        if not line.strip():
            continue
        try:
            json.loads(line)
        except ValueError:                              # JSONDecodeError, or bytes that are not UTF-8
            dropped += 1
            continue
        keep.append(line if line.endswith(b"\n") else line + b"\n")
    new = b"".join(keep)
    if new == raw:
        return 0
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(new)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dropped


def keep_previous(out: str | os.PathLike) -> Path | None:
    """Move an existing, non-empty results file aside under a time-stamped name, so nothing is lost;
    return the new name (None when there was nothing to keep)."""
    out = Path(out)
    if not (out.exists() and out.stat().st_size):
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(out.stat().st_mtime))
    kept, n = out.with_name(f"{out.stem}.{stamp}{out.suffix}"), 1
    while kept.exists():                        # two runs within a second: never overwrite a kept file
        kept, n = out.with_name(f"{out.stem}.{stamp}-{n}{out.suffix}"), n + 1
    out.rename(kept)
    print(f"note: kept the previous results as {kept}")
    return kept


def json_lines(path: str | os.PathLike, what: str = "results"):
    """Yield (line number, object) for each complete JSON line of ``path``; a line that is not complete JSON
    (an interrupted write) is skipped with a warning, and a file that is not UTF-8 text is refused."""
    import warnings

    from verify.results.records import ResultsError

    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise ResultsError(f"{what} file {str(path)!r} is not a text (UTF-8 JSON lines) file") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError:
            warnings.warn(f"{path}:{lineno}: skipped a partially written or corrupt line", stacklevel=3)


def finished_records(read: Callable, path: str | os.PathLike) -> list:
    """``read(path)`` for resuming: [] for a missing or empty file, or one that holds only cut-off lines;
    the warnings about cut lines are left to the resume message."""
    import warnings

    from verify.results.records import ResultsError

    path = Path(path)
    if not (path.exists() and path.stat().st_size):
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return read(path)
        except ResultsError as exc:
            if "holds no complete record" in str(exc):     # only cut lines so far: nothing finished
                return []
            raise
