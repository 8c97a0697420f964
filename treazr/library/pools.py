"""The hashing workers of an import: threads (the default) or processes, behind one small interface.

Threads share one process: hashlib and zlib release the GIL on 1 MiB buffers, so they use every core
without copying results between processes. Processes are kept so the benchmark can measure both here.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from itertools import islice
from typing import Protocol

from treazr.errors import InvalidInput
from treazr.library.probe import Job, JobResult, ProbeOptions, run_job

__all__ = ["HashPool", "ProcessPool", "ThreadPool", "open_pool"]


class HashPool(Protocol):
    def __enter__(self) -> HashPool: ...

    def __exit__(self, *exc_info: object) -> None: ...

    def results(self) -> Iterator[JobResult]: ...


class ThreadPool:
    """Worker threads taking jobs from one shared iterator; results come back on a queue.

    Lighter than one future per file, which matters with tens of thousands of small ROMs.
    """

    def __init__(self, jobs: Iterable[Job], options: ProbeOptions, workers: int) -> None:
        self._jobs, self._options = iter(jobs), options
        self._lock = threading.Lock()
        self._results: queue.SimpleQueue[JobResult | BaseException | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._work, name=f"treazr-hash-{index}", daemon=True)
                         for index in range(workers)]

    def _next(self) -> Job | None:
        with self._lock:
            return next(self._jobs, None)

    def _work(self) -> None:
        while not self._stop.is_set() and (job := self._next()) is not None:
            try:
                self._results.put(run_job(job, self._options))
            except BaseException as error:  # a bug, not a bad file (those are failures): stop the import
                self._results.put(error)
                break
        self._results.put(None)

    def __enter__(self) -> ThreadPool:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()  # on Ctrl-C the workers finish the file they are reading, then stop
        for thread in self._threads:
            thread.join()

    def results(self) -> Iterator[JobResult]:
        running = len(self._threads)
        while running:
            item = self._results.get()
            if item is None:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item


def _ignore_interrupts() -> None:
    """Ctrl-C reaches the whole process group: the parent stops the import; workers just wind down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_many(jobs: list[Job], options: ProbeOptions) -> list[JobResult]:
    return [run_job(job, options) for job in jobs]


class ProcessPool:
    """Worker processes (forkserver: never a fork of a process that runs a database thread)."""

    _CHUNK = 16  # jobs per task: fewer round trips for small ROMs

    def __init__(self, jobs: Iterable[Job], options: ProbeOptions, workers: int) -> None:
        self._jobs, self._options, self._workers = iter(jobs), options, workers
        self._executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"),
                                             initializer=_ignore_interrupts)

    def __enter__(self) -> ProcessPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _submit(self, running: set[Future[list[JobResult]]]) -> bool:
        chunk = list(islice(self._jobs, self._CHUNK))
        if chunk:
            running.add(self._executor.submit(_run_many, chunk, self._options))
        return bool(chunk)

    def results(self) -> Iterator[JobResult]:
        running: set[Future[list[JobResult]]] = set()
        while len(running) < self._workers * 2 and self._submit(running):
            pass
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                self._submit(running)
                yield from future.result()


def open_pool(kind: str, jobs: Iterable[Job], options: ProbeOptions, workers: int) -> HashPool:
    if kind == "threads":
        return ThreadPool(jobs, options, workers)
    if kind == "processes":
        return ProcessPool(jobs, options, workers)
    raise InvalidInput(f"hashing must be 'threads' or 'processes', not {kind!r}")
