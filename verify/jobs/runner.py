"""One runner for the sweep and the training lab: a plan of units, an executor, and a driver that alone
writes the results file.

A *unit* is a plain dict (a network and dtype of the sweep; a training run of the lab). ``work(unit)``
computes its results records, with no side effect on the results file. The driver hands the units to
an executor, takes the records as they come back and appends them to the results file, one JSON line
each, flushed at once (:func:`verify.results.records.write_record`): so ``--resume`` and ``merge`` work whatever ran
the units, and an interrupted run keeps every unit that had finished.

- ``executor=None`` runs the units one after the other in this process (the default everywhere);
- any :class:`concurrent.futures.Executor` (a ``ProcessPoolExecutor``, a Dask client's
  ``get_executor()``: :func:`verify.jobs.executors.make_executor`) runs them where it runs them; the driver
  still writes, in the order the units finish.

Wherever it runs, a unit runs alone in its process (a lock, for workers with several threads) with one
intra-op torch thread: torch's thread count and its precision flags are process-wide, and a fixed
thread count keeps the numbers the same whether the units share a process or each has its own (a
parallel reduction's rounding can depend on how many threads split it).

A unit that raises is reported by its id with the worker's message (:class:`UnitFailure`), and the
other units go on. The file-level helpers the commands share are in :mod:`verify.results.records`: the
previous results file is kept aside (:func:`~verify.results.records.keep_previous`), and a resumed file
loses its cut-off lines (:func:`~verify.results.records.drop_cut_lines`).

>>> import tempfile, pathlib, json
>>> out = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
>>> res = drive([{"id": "a", "n": 1}, {"id": "b", "n": 2}], lambda u: [{"id": u["id"], "sq": u["n"] ** 2}],
...             out, progress=False)
>>> [json.loads(line)["sq"] for line in out.read_text().splitlines()], res.failures
([1, 4], [])
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, field
from typing import Callable, Iterable

__all__ = ["drive", "DriveResult", "UnitFailure"]


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


def _tty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class _UnitLines:
    """One line per finished unit on stdout, for a run whose stdout is not a terminal (a log file, a pipe),
    where the progress bar does not show: ``[k/N] desc: UNIT done (S s in all, about R s left)``."""

    def __init__(self, total, desc, unit_name, unit_id, label):
        import time

        self.total, self.desc, self.unit_name, self.unit_id, self.label = total, desc, unit_name, unit_id, label
        self.t0, self.n, self.clock = time.perf_counter(), 0, time.perf_counter

    def done(self, unit):
        self.n += 1
        spent = self.clock() - self.t0
        left = spent / self.n * (self.total - self.n)
        name = self.label(unit) if self.label is not None else self.unit_id(unit)
        tail = f", about {left:.0f} s left" if self.n < self.total else ""
        print(f"[{self.n}/{self.total}] {self.desc}: {self.unit_name} {name} done ({spent:.0f} s in all{tail})",
              flush=True)


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
    terminal (stderr); when stdout is not a terminal (a log file), each finished unit prints one line there.
    """
    from tqdm.auto import tqdm

    from verify.results.records import write_record

    units = list(units)
    work = _Alone(work)
    result = DriveResult()
    bar = tqdm(total=len(units), desc=desc, unit=unit_name, file=sys.stderr, dynamic_ncols=True,
               disable=not progress or not sys.stderr.isatty())
    lines = _UnitLines(len(units), desc, unit_name, unit_id, label) if progress and not _tty(sys.stdout) else None

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
        if lines is not None:
            lines.done(unit)

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


