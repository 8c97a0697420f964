"""One SQLite file in WAL mode, one writer thread, readers on their own connections.

Every write goes through :meth:`Database.write` (or :meth:`Database.write_async` from the event loop):
a callable that receives the writer's connection and runs inside one transaction on the writer
thread. Reads use :meth:`Database.query` (a connection per calling thread) or, in the web app,
:meth:`Database.aquery` (aiosqlite, so the event loop never blocks on disk).

The web app's reads share a few aiosqlite connections, and each statement has a time limit: one
person's heavy read cannot hold up everyone else's. Sign-in lookups have a connection of their own
(``lane="signin"``), so a busy library never slows down who-is-asking.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite
import sqlite_utils

from treazr.errors import TooSlow

__all__ = ["Database", "Lane", "Row"]

T = TypeVar("T")
Row = dict[str, Any]
Lane = Literal["shared", "signin"]
_STOP = object()
_LANE_SIZES: dict[Lane, int] = {"shared": 3, "signin": 1}
_PROGRESS_EVERY = 2000  # SQLite VM instructions between looks at the clock


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")


def _dict_factory(cursor: sqlite3.Cursor, row: Sequence[Any]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


class Database:
    """The application's database file. Open it with :meth:`open`, close it with :meth:`close`."""

    def __init__(self, path: Path, read_limit_s: float = 2.0) -> None:
        self.path = Path(path)
        self.read_limit_s = read_limit_s
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._lanes: dict[Lane, _AsyncReaders] = {}

    # -- life cycle -------------------------------------------------------------------------
    def open(self, migration_sets: Iterable[sqlite_utils.Migrations] = ()) -> Database:
        """Create the file if needed, apply pending migrations, start the writer thread."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        _configure(conn)
        db = sqlite_utils.Database(conn)
        for migrations in migration_sets:
            migrations.apply(db)
        conn.row_factory = _dict_factory
        self._writer = threading.Thread(target=self._write_loop, args=(conn,), name="treazr-db-writer",
                                        daemon=True)
        self._writer.start()
        return self

    def close(self) -> None:
        """Finish queued writes, then close every connection."""
        if self._writer is not None:
            self._jobs.put(_STOP)
            self._writer.join()
            self._writer = None
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        self._local = threading.local()

    async def close_async_reader(self) -> None:
        """Close the aiosqlite readers (they belong to the event loop that opened them)."""
        lanes, self._lanes = self._lanes, {}
        for lane in lanes.values():
            await lane.close()

    # -- writes -----------------------------------------------------------------------------
    def _write_loop(self, conn: sqlite3.Connection) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                break
            fn, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except BaseException as error:
                _roll_back(conn)  # a COMMIT refused (a full disk) leaves its transaction open
                future.set_exception(error)
            else:
                future.set_result(result)
        with contextlib.suppress(sqlite3.Error):  # a full disk at close: the statistics can wait
            conn.execute("PRAGMA optimize")
        conn.close()

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> Future[T]:
        """Queue ``fn`` for the writer; it runs in one transaction (rolled back if it raises)."""
        if self._writer is None:
            raise RuntimeError("database is not open")
        future: Future[T] = Future()
        self._jobs.put((fn, future))
        return future

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self.submit(fn).result()

    async def write_async(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.wrap_future(self.submit(fn))

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """One write statement; returns ``lastrowid``."""
        return self.write(lambda conn: conn.execute(sql, params).lastrowid or 0)

    async def aexecute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        return await self.write_async(lambda conn: conn.execute(sql, params).lastrowid or 0)

    # -- reads ------------------------------------------------------------------------------
    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            _configure(conn)
            conn.row_factory = _dict_factory
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Row]:
        return list(self._reader().execute(sql, params).fetchall())

    def query_one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Row | None:
        row: Row | None = self._reader().execute(sql, params).fetchone()
        return row

    async def aquery(self, sql: str, params: Sequence[Any] | dict[str, Any] = (), *,
                     lane: Lane = "shared") -> list[Row]:
        """Rows from one of the event loop's readers; a statement over the time limit raises :class:`TooSlow`."""
        readers = self._lanes.get(lane)
        if readers is None:
            readers = self._lanes[lane] = _AsyncReaders(self.path, _LANE_SIZES[lane])
        return await readers.query(sql, params, self.read_limit_s)

    async def aquery_one(self, sql: str, params: Sequence[Any] | dict[str, Any] = (), *,
                         lane: Lane = "shared") -> Row | None:
        rows = await self.aquery(sql, params, lane=lane)
        return rows[0] if rows else None

    # -- maintenance ------------------------------------------------------------------------
    def backup(self, target: Path) -> None:
        """A consistent copy while the server runs (SQLite's online backup API)."""
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        destination = sqlite3.connect(partial)
        try:
            self._reader().backup(destination)
        finally:
            destination.close()
        partial.replace(target)

    def alive(self) -> bool:
        """True while the writer thread runs; costs no disk read (for ``/healthz``)."""
        return self._writer is not None and self._writer.is_alive()

    def check(self) -> bool:
        """True when the file answers a query and passes SQLite's quick check."""
        try:
            row = self._reader().execute("PRAGMA quick_check").fetchone()
        except sqlite3.Error:
            return False
        return bool(row) and next(iter(row.values())) == "ok"


class _Deadline:
    """When the statement running on one connection must stop (read by SQLite's progress handler)."""

    def __init__(self) -> None:
        self.at = float("inf")

    def passed(self) -> int:
        return 1 if time.monotonic() > self.at else 0


class _AsyncReaders:
    """A few aiosqlite connections handed out one statement at a time, each with its own deadline."""

    def __init__(self, path: Path, size: int) -> None:
        self._path = path
        self._size = size
        self._opened = 0
        self._idle: asyncio.Queue[tuple[aiosqlite.Connection, _Deadline]] = asyncio.Queue()
        self._all: list[aiosqlite.Connection] = []
        self._settling: set[asyncio.Task[None]] = set()

    async def _take(self) -> tuple[aiosqlite.Connection, _Deadline]:
        if self._idle.empty() and self._opened < self._size:
            self._opened += 1
            try:
                conn = await aiosqlite.connect(self._path, isolation_level=None)
            except BaseException:
                self._opened -= 1
                raise
            self._all.append(conn)
            await conn.execute("PRAGMA foreign_keys=ON")
            await conn.execute("PRAGMA busy_timeout=10000")
            conn.row_factory = _dict_factory  # type: ignore[assignment]
            deadline = _Deadline()
            await conn.set_progress_handler(deadline.passed, _PROGRESS_EVERY)
            return conn, deadline
        return await self._idle.get()

    async def query(self, sql: str, params: Sequence[Any] | dict[str, Any], limit_s: float) -> list[Row]:
        conn, deadline = await self._take()
        deadline.at = time.monotonic() + limit_s
        try:
            async with conn.execute(sql, params) as cursor:
                rows = list(await cursor.fetchall())
        except asyncio.CancelledError:
            # the asker is gone (a closed tab): stop the statement, and lend the connection out again
            # only once its thread has finished with it
            deadline.at = float("-inf")
            self._settling.add(task := asyncio.create_task(self._settle(conn, deadline)))
            task.add_done_callback(self._settling.discard)
            raise
        except BaseException as error:
            # any failure (a bad parameter such as an integer past 64 bits included) hands the
            # connection back; a lost one would leave the next asker waiting for ever
            self._give_back(conn, deadline)
            if isinstance(error, sqlite3.OperationalError) and str(error) == "interrupted":
                raise TooSlow(f"the library took longer than {limit_s:g} s to answer; "
                              "try a shorter search or a narrower filter") from None
            raise
        self._give_back(conn, deadline)
        return rows  # type: ignore[return-value]

    def _give_back(self, conn: aiosqlite.Connection, deadline: _Deadline) -> None:
        deadline.at = float("inf")
        self._idle.put_nowait((conn, deadline))

    async def _settle(self, conn: aiosqlite.Connection, deadline: _Deadline) -> None:
        with contextlib.suppress(sqlite3.Error):
            await conn.execute("SELECT 1")  # queued behind the interrupted statement
        self._give_back(conn, deadline)

    async def close(self) -> None:
        await asyncio.gather(*self._settling, return_exceptions=True)
        for conn in self._all:
            await conn.close()
        self._all.clear()


def _roll_back(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
