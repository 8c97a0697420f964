from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlite_utils import Migrations

from treazr.composition import MIGRATION_SETS
from treazr.db import Database
from treazr.errors import TooSlow


def _counter_migrations() -> Migrations:
    migrations = Migrations("test")

    @migrations()
    def m001_counter(db):  # type: ignore[no-untyped-def]
        db.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")

    @migrations()
    def m002_label(db):  # type: ignore[no-untyped-def]
        db.execute("ALTER TABLE counter ADD COLUMN label TEXT")

    return migrations


@pytest.fixture
def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    database = Database(tmp_path / "t.db").open([_counter_migrations()])
    yield database
    database.close()


def test_wal_mode_and_migrations_are_recorded(db: Database) -> None:
    assert db.query_one("PRAGMA journal_mode") == {"journal_mode": "wal"}
    names = [r["name"] for r in db.query("SELECT name FROM _sqlite_migrations ORDER BY rowid")]
    assert names == ["m001_counter", "m002_label"]
    columns = [r["name"] for r in db.query("PRAGMA table_info(counter)")]
    assert columns == ["id", "n", "label"]


def test_a_write_that_raises_is_rolled_back_whole(db: Database) -> None:
    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO counter (n) VALUES (1)")
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        db.write(half_then_fail)
    assert db.query("SELECT * FROM counter") == []
    db.execute("INSERT INTO counter (n) VALUES (?)", (5,))
    assert db.query("SELECT n FROM counter") == [{"n": 5}]


def test_writes_from_many_threads_all_land_through_the_one_writer(db: Database) -> None:
    def worker() -> None:
        for _ in range(50):
            db.execute("INSERT INTO counter (n) VALUES (1)")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert db.query_one("SELECT sum(n) AS total FROM counter") == {"total": 400}


async def test_async_reads_see_committed_writes(db: Database) -> None:
    await db.aexecute("INSERT INTO counter (n, label) VALUES (?, ?)", (7, "seven"))
    assert await db.aquery_one("SELECT n, label FROM counter") == {"n": 7, "label": "seven"}
    await db.close_async_reader()


_RUNAWAY = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000000000) "
            "SELECT count(*) AS c FROM n")


async def test_a_runaway_read_is_stopped_at_its_time_limit_and_the_reader_goes_on(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db", read_limit_s=0.2).open([_counter_migrations()])
    try:
        with pytest.raises(TooSlow, match=r"longer than 0\.2 s"):
            await db.aquery(_RUNAWAY)
        await db.aexecute("INSERT INTO counter (n) VALUES (3)")
        assert await db.aquery("SELECT n FROM counter") == [{"n": 3}]
    finally:
        await db.close_async_reader()
        db.close()


async def test_reads_that_fail_hand_their_reader_back(db: Database) -> None:
    async def fail_often() -> None:
        # more failures than there are readers: a reader lost on each would leave a later read waiting
        for _ in range(8):
            # CPython's sqlite3 reports a bind overflow with the connection's last error when it has one
            with pytest.raises((OverflowError, sqlite3.OperationalError)):
                await db.aquery("SELECT n FROM counter WHERE n = ?", (2**63,))
            with pytest.raises(sqlite3.OperationalError):
                await db.aquery("SELECT no_such_column FROM counter")

    await asyncio.wait_for(fail_often(), 30)
    assert await asyncio.wait_for(db.aquery("SELECT count(*) AS c FROM counter"), 10) == [{"c": 0}]
    await db.close_async_reader()


async def test_sign_in_reads_are_answered_while_every_shared_reader_is_busy(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db", read_limit_s=60).open([_counter_migrations()])
    try:
        await db.aexecute("INSERT INTO counter (n) VALUES (9)")
        heavy = [asyncio.create_task(db.aquery(_RUNAWAY)) for _ in range(4)]
        await asyncio.sleep(0.05)
        assert await db.aquery_one("SELECT n FROM counter", lane="signin") == {"n": 9}
        assert not any(task.done() for task in heavy)  # the sign-in read did not wait for them
        # a cancelled read (the asker went away) stops its statement; the shared readers answer again
        for task in heavy:
            task.cancel()
        await asyncio.gather(*heavy, return_exceptions=True)
        assert await db.aquery_one("SELECT n FROM counter") == {"n": 9}
    finally:
        await db.close_async_reader()
        db.close()


def test_backup_is_a_consistent_copy_taken_while_writing(db: Database, tmp_path: Path) -> None:
    db.write(lambda conn: conn.executemany("INSERT INTO counter (n) VALUES (?)", [(i,) for i in range(1000)]))
    stop = threading.Event()

    def keep_writing() -> None:
        while not stop.is_set():
            db.execute("INSERT INTO counter (n) VALUES (0)")

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        db.backup(tmp_path / "copy.db")
    finally:
        stop.set()
        writer.join()
    copy = sqlite3.connect(tmp_path / "copy.db")
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("SELECT sum(n) FROM counter").fetchone() == (sum(range(1000)),)
    finally:
        copy.close()


def test_every_application_migration_applies_to_an_empty_database(tmp_path: Path) -> None:
    database = Database(tmp_path / "app.db").open(MIGRATION_SETS)
    try:
        applied = database.query("SELECT migration_set, name FROM _sqlite_migrations ORDER BY rowid")
        expected = [(m.name, mig.name) for m in MIGRATION_SETS for mig in m._migrations]
        assert [(r["migration_set"], r["name"]) for r in applied] == expected
        assert database.check()
    finally:
        database.close()
    # applying again is a no-op: nothing pending
    database = Database(tmp_path / "app.db").open(MIGRATION_SETS)
    try:
        assert len(database.query("SELECT * FROM _sqlite_migrations")) == len(applied)
    finally:
        database.close()
