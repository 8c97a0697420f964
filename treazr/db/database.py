"""One SQLite file in WAL mode, one writer thread, readers on their own connections.

Every write goes through :meth:`Database.write` (or :meth:`Database.write_async` from the event loop):
a callable that receives the writer's connection and runs inside one transaction on the writer
thread. Reads use :meth:`Database.query` (a connection per calling thread) or, in the web app,
:meth:`Database.aquery` (aiosqlite, so the event loop never blocks on disk).
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import sqlite_utils

__all__ = ["Database", "Row"]

T = TypeVar("T")
Row = dict[str, Any]
_STOP = object()


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")


def _dict_factory(cursor: sqlite3.Cursor, row: Sequence[Any]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


class Database:
    """The application's database file. Open it with :meth:`open`, close it with :meth:`close`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._async_reader: aiosqlite.Connection | None = None
        self._async_lock: asyncio.Lock | None = None

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
        """Close the aiosqlite reader (it belongs to the event loop that opened it)."""
        if self._async_reader is not None:
            await self._async_reader.close()
            self._async_reader = None
        self._async_lock = None

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
                future.set_exception(error)
            else:
                future.set_result(result)
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

    async def aquery(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Row]:
        conn = await self._areader()
        async with conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())  # type: ignore[arg-type]

    async def aquery_one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Row | None:
        rows = await self.aquery(sql, params)
        return rows[0] if rows else None

    async def _areader(self) -> aiosqlite.Connection:
        if self._async_reader is None:
            if self._async_lock is None:
                self._async_lock = asyncio.Lock()
            async with self._async_lock:
                if self._async_reader is None:
                    conn = await aiosqlite.connect(self.path, isolation_level=None)
                    await conn.execute("PRAGMA foreign_keys=ON")
                    await conn.execute("PRAGMA busy_timeout=10000")
                    conn.row_factory = _dict_factory  # type: ignore[assignment]
                    self._async_reader = conn
        return self._async_reader

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

    def check(self) -> bool:
        """True when the file answers a query and passes SQLite's quick check."""
        try:
            row = self._reader().execute("PRAGMA quick_check").fetchone()
        except sqlite3.Error:
            return False
        return bool(row) and next(iter(row.values())) == "ok"
