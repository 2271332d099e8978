"""One runner for the sweep and the training lab: a plan of units, an executor, and a driver that alone
writes the results file.

A *unit* is a plain dict (a network and dtype of the sweep; a training run of the lab). ``work(unit)``
computes its results records, with no side effect on the results file. The driver hands the units to
an executor, takes the records as they come back and appends them to the results file, one JSON line
each, flushed at once (:func:`verify.gap.write_record`): so ``--resume`` and ``merge`` work whatever ran
the units, and an interrupted run keeps every unit that had finished.

- ``executor=None`` runs the units one after the other in this process (the default everywhere);
- any :class:`concurrent.futures.Executor` (a ``ProcessPoolExecutor``, a Dask client's
  ``get_executor()``: :func:`verify.executors.make_executor`) runs them where it runs them; the driver
  still writes, in the order the units finish.

Wherever it runs, a unit runs alone in its process (a lock, for workers with several threads) with one
intra-op torch thread: torch's thread count and its precision flags are process-wide, and a fixed
thread count keeps the numbers the same whether the units share a process or each has its own (a
parallel reduction's rounding can depend on how many threads split it).

A unit that raises is reported by its id with the worker's message (:class:`UnitFailure`), and the
other units go on. The file-level helpers the two commands share live here too: the previous results
file is kept aside (:func:`keep_previous`), and a resumed file loses its cut-off lines
(:func:`drop_cut_lines`).

>>> import tempfile, pathlib, json
>>> out = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
>>> res = drive([{"id": "a", "n": 1}, {"id": "b", "n": 2}], lambda u: [{"id": u["id"], "sq": u["n"] ** 2}],
...             out, progress=False)
>>> [json.loads(line)["sq"] for line in out.read_text().splitlines()], res.failures
([1, 4], [])
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

__all__ = ["drive", "DriveResult", "UnitFailure", "keep_previous", "drop_cut_lines", "json_lines", "finished_records"]


@dataclass(frozen=True)
class UnitFailure:
    """A unit that raised: its id, the exception's type and message, and the traceback's last lines."""

    unit: str
    error: str
    message: str
    where: str = ""

    def __str__(self) -> str:
        return f"{self.unit}: {self.error}: {self.message}"


@dataclass
class DriveResult:
    """What :func:`drive` did: the records it wrote (in the order written) and the units that failed."""

    records: list = field(default_factory=list)
    failures: list = field(default_factory=list)


_UNIT_LOCK = threading.Lock()


class _Alone:
    """``work`` run alone in its process (one unit at a time) with one intra-op torch thread, restored after;
    picklable when ``work`` is, so it travels to worker processes and Dask workers."""

    def __init__(self, work: Callable[[dict], object]):
        self.work = work

    def __call__(self, unit: dict):
        import torch

        with _UNIT_LOCK:
            n = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                return self.work(unit)
            finally:
                torch.set_num_threads(n)


def _as_records(result) -> list:
    if result is None:
        return []
    return [result] if isinstance(result, dict) else list(result)


def _failure(unit_id: str, exc: BaseException) -> UnitFailure:
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return UnitFailure(unit_id, type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "", "".join(tb[-3:]))


def drive(units: Iterable[dict], work: Callable[[dict], object], out: str | os.PathLike, *,
          executor: Executor | None = None, keep: Callable[[dict], bool] | None = None,
          unit_id: Callable[[dict], str] = lambda u: str(u.get("id")), progress: bool = True,
          desc: str = "units", unit_name: str = "unit", label: Callable[[dict], str] | None = None,
          catch: tuple = (Exception,)) -> DriveResult:
    """Run ``work`` on every unit and append each record it returns to ``out`` (this process alone writes).

    ``work(unit)`` returns a record (a dict), a list of records, or None. ``keep(record)`` filters the
    records before they are written (the lab drops the epochs that a resumed file already holds). An
    exception of a type in ``catch`` raised by a unit (on a worker: its message as the worker raised it; a
    worker that died: the executor's error) is recorded as a :class:`UnitFailure` naming the unit
    (``unit_id``), printed on stderr at once, and the other units go on; anything else (KeyboardInterrupt)
    stops the run, with every finished unit already on disk. With an executor, ``work`` and the units must
    pickle (a module-level function, or a ``functools.partial`` of one). The progress bar shows only on a
    terminal.
    """
    from tqdm.auto import tqdm

    from verify.gap import write_record

    units = list(units)
    work = _Alone(work)
    result = DriveResult()
    bar = tqdm(total=len(units), desc=desc, unit=unit_name, file=sys.stderr, dynamic_ncols=True,
               disable=not progress or not sys.stderr.isatty())

    def take(unit, fetch):
        try:
            records = _as_records(fetch())
        except catch as exc:                                   # noqa: PERF203 - one unit's failure is data
            fail = _failure(unit_id(unit), exc)
            result.failures.append(fail)
            tqdm.write(f"error: {fail}; the other {unit_name}s go on", file=sys.stderr)
            return
        finally:
            bar.update(1)
        for rec in records:
            if keep is None or keep(rec):
                write_record(out, rec)
                result.records.append(rec)

    try:
        if executor is None:
            for unit in units:
                if label is not None:
                    bar.set_postfix_str(label(unit))
                take(unit, lambda: work(unit))
        else:
            futures = {executor.submit(work, unit): unit for unit in units}
            for fut in as_completed(futures):
                # dropped once taken: a cluster then forgets its result, and does not compute it again when
                # the worker that holds it is lost
                take(futures.pop(fut), fut.result)
                del fut
    finally:
        bar.close()
    return result


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

    from verify.gap import ResultsError

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

    from verify.gap import ResultsError

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
