"""Where the units of the sweep and of the lab run: in this process, in local worker processes, or on a
Dask cluster. One choice, for both commands (``--jobs N``, ``--dask ADDRESS``).

:func:`make_executor` is a context manager that gives a :class:`concurrent.futures.Executor`, or None
for "in this process, one unit after the other"; :func:`verify.jobs.runner.drive` takes either. Whatever
runs the units, the driver alone writes the results file, so ``--resume`` and ``merge`` work the same.

- ``jobs=N`` (N > 1): a ``ProcessPoolExecutor`` of N worker processes started by ``spawn`` (a fresh
  interpreter each, so no torch state is inherited);
- ``dask="local:N"``: a Dask ``LocalCluster`` of N worker processes of one thread each, on this machine;
- ``dask=ADDRESS`` (``tcp://host:8786``): the workers of a running Dask scheduler (``dask scheduler``,
  ``dask worker``, or a ``dask_jobqueue.SLURMCluster``), through ``Client(ADDRESS).get_executor()``;
- ``dask=FILE.json``: the same, the address read from the scheduler file that ``dask scheduler
  --scheduler-file FILE.json`` writes (convenient on a batch system).

Dask comes with the extra ``cluster`` (``pip install -e ".[cluster]"``); without it ``--dask`` says so.
Each unit runs alone in its worker process with one intra-op torch thread (:func:`verify.jobs.runner.drive`),
so a worker started with several threads runs its units one at a time: start workers with
``--nthreads 1`` and as many processes as cores (or one per GPU).

>>> with make_executor() as ex:
...     print(ex)
None
>>> with make_executor(jobs=1) as ex:
...     print(ex)
None
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from verify.errors import MissingExtraError, VerifyError

__all__ = ["add_executor_arguments", "make_executor", "parse_dask", "ClusterError", "CLUSTER_EXTRA"]

#: What to install for ``--dask``.
CLUSTER_EXTRA = 'pip install -e ".[cluster]"'


class ClusterError(VerifyError, ValueError):
    """A cluster that cannot be used: Dask missing, a bad ``--dask`` value, a scheduler that does not answer.
    The message is one line that says what was expected and what was got."""


def parse_dask(value: str) -> tuple[str, object]:
    """``("local", N)`` for ``local:N``, ``("file", path)`` for a scheduler file (``*.json``), else
    ``("address", value)``.

    >>> parse_dask("local:2"), parse_dask("tcp://10.0.0.1:8786"), parse_dask("sched.json")
    (('local', 2), ('address', 'tcp://10.0.0.1:8786'), ('file', 'sched.json'))
    """
    if not isinstance(value, str) or not value.strip():
        raise ClusterError(f"--dask: expected local:N, a scheduler address (tcp://HOST:PORT) or a scheduler file "
                           f"(FILE.json), got {value!r}")
    value = value.strip()
    if value.startswith("local"):
        _, sep, n = value.partition(":")
        try:
            workers = int(n) if sep else -1
        except ValueError:
            workers = -1
        if workers < 1:
            raise ClusterError(f"--dask {value}: expected local:N with N >= 1 worker processes, e.g. local:4")
        return "local", workers
    if value.endswith(".json"):
        return "file", value
    return "address", value


def _dask():
    try:
        import distributed
    except ImportError:
        raise MissingExtraError("dask[distributed]", "cluster", "--dask (Dask's distributed scheduler)") from None
    return distributed


def _note(msg: str) -> None:
    print(f"note: {msg}", file=sys.stderr, flush=True)


def _check_workers(client) -> None:
    """Say how many workers there are, and when a worker has more than one thread (its units then wait
    for each other: torch's thread count and precision flags are process-wide)."""
    info = client.scheduler_info()
    workers = info.get("workers", {})
    if not workers:
        _note(f"no Dask worker has joined the scheduler at {client.scheduler.address} yet; the units wait for one")
        return
    threads = sorted({w.get("nthreads", 1) for w in workers.values()})
    _note(f"running the units on {len(workers)} Dask worker(s) of the scheduler at {client.scheduler.address}")
    if max(threads) > 1:
        _note(f"some Dask workers have {max(threads)} threads; each runs one unit at a time (torch's settings are "
              f"process-wide), so start workers with --nthreads 1 and more processes (--nworkers N)")


def add_executor_arguments(parser, *, what: str, jobs_help: str, writes: str = "--out") -> None:
    """The ``--jobs N`` / ``--dask ADDRESS`` pair (mutually exclusive) of a command that runs ``what`` (units,
    runs, checks): one wording for every command, with its own default in ``jobs_help`` and what the driver
    process still writes in ``writes``. :func:`make_executor` checks the values."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=int, metavar="N", help=jobs_help)
    where.add_argument("--dask", metavar="ADDRESS",
                       help=f"run the {what} on a Dask cluster: local:N (a LocalCluster of N workers), a scheduler "
                            f"address tcp://HOST:PORT, or a scheduler file FILE.json; this process still writes "
                            f"{writes} (needs pip install -e \".[cluster]\")")


@contextlib.contextmanager
def make_executor(jobs: int | None = None, dask: str | None = None, *, connect_timeout: float = 30.0):
    """The executor of ``--jobs N`` or ``--dask VALUE`` (see the module docstring), closed on exit; None
    (the units run in this process) when neither asks for more than one worker.

    Raises :class:`ClusterError` for both given, ``jobs < 1``, a bad ``--dask`` value, Dask not installed,
    or a scheduler that does not answer within ``connect_timeout`` seconds.
    """
    if jobs is not None and dask is not None:
        raise ClusterError("--jobs and --dask exclude each other: --jobs N runs N local processes, --dask runs the "
                           "units on a Dask cluster (local:N for N local Dask workers)")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ClusterError(f"--jobs must be at least 1, got {jobs}")
    if dask is None:
        if not jobs or jobs == 1:
            yield None
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"))
        ok = False
        try:
            yield pool
            ok = True
        finally:
            pool.shutdown(wait=ok, cancel_futures=True)
        return

    kind, what = parse_dask(dask)
    distributed = _dask()
    import logging

    cluster = None
    try:
        if kind == "local":
            cluster = distributed.LocalCluster(n_workers=what, threads_per_worker=1, processes=True,
                                               dashboard_address=None, silence_logs=logging.ERROR)
            client = distributed.Client(cluster)
        elif kind == "file":
            if not Path(what).is_file():
                raise ClusterError(f"--dask {what}: no such scheduler file (dask scheduler --scheduler-file {what} "
                                   f"writes it)")
            client = distributed.Client(scheduler_file=what, timeout=connect_timeout)
        else:
            client = distributed.Client(what, timeout=connect_timeout)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        one = " ".join(str(exc).split()) or type(exc).__name__
        raise ClusterError(f"--dask {dask}: no Dask scheduler answered ({one})") from None
    ok = False
    try:
        _check_workers(client)
        ex = client.get_executor(pure=False)
        try:
            yield ex
            ok = True
        finally:
            ex.shutdown(wait=ok)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

