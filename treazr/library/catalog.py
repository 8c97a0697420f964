"""Writing scan results into ``games`` and ``files``; every function here runs on the database writer.

The rules: a path seen before keeps its row; a new path whose content matches a vanished or missing
file is that file moved (it keeps its id, game, saves and history); content already in the library is
the same game in another place; otherwise a DAT match or the file name makes a new game.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from treazr.library.dat import match_dat
from treazr.library.naming import parse_name
from treazr.library.probe import JobResult, Probe

__all__ = ["ApplyState", "apply_results", "mark_vanished"]


@dataclass
class ApplyState:
    """What the writer needs to know across batches of one import."""

    vanished: set[str] = field(default_factory=set)  # known paths under the roots that the walk did not find
    added: int = 0
    updated: int = 0
    game_ids: list[int] = field(default_factory=list)  # the game of every file added or updated, in order
    now: str = ""  # one timestamp per batch
    has_dats: bool = False  # no DAT loaded: skip the hash look-ups (most libraries, and a fast path)
    by_sha256: dict[str, list[dict[str, Any]]] | None = None  # every file by content, loaded by the first batch

    def contents(self, conn: sqlite3.Connection) -> dict[str, list[dict[str, Any]]]:
        if self.by_sha256 is None:
            self.by_sha256 = {}
            for row in conn.execute("SELECT id, game_id, path, container, missing, sha256 FROM files"):
                self.by_sha256.setdefault(row["sha256"], []).append(row)
        return self.by_sha256


_FILE_COLUMNS = ("game_id", "path", "size", "mtime_ns", "container", "container_size", "crc32", "md5", "sha1", "sha256",
                 "headerless_crc32", "headerless_md5", "headerless_sha1", "store_path", "missing", "info", "added_at",
                 "updated_at")
_INSERT_FILE = (f"INSERT INTO files ({', '.join(_FILE_COLUMNS)}) "
                f"VALUES ({', '.join(':' + column for column in _FILE_COLUMNS)})")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _file_values(probe: Probe) -> dict[str, Any]:
    bare = probe.headerless
    return {"size": probe.size, "mtime_ns": probe.mtime_ns, "container": probe.container,
            "container_size": probe.container_size, "crc32": probe.hashes.crc32, "md5": probe.hashes.md5,
            "sha1": probe.hashes.sha1, "sha256": probe.hashes.sha256,
            "headerless_crc32": bare.crc32 if bare else None, "headerless_md5": bare.md5 if bare else None,
            "headerless_sha1": bare.sha1 if bare else None,
            "info": json.dumps({"platform": probe.header.platform, **probe.header.info}),
            "missing": 0}


def _dat_name(conn: sqlite3.Connection, probe: Probe) -> str | None:
    bare = probe.headerless
    sha1s = [probe.hashes.sha1] + ([bare.sha1] if bare else [])
    md5s = [probe.hashes.md5] + ([bare.md5] if bare else [])
    crcs = [(probe.hashes.crc32, probe.size)] + ([(bare.crc32, bare.size)] if bare else [])
    return match_dat(conn, sha1s, md5s, crcs)


def _display_name(probe: Probe) -> str:
    """Archives are usually named after the game; the member name is the fallback."""
    if probe.container:
        return os.path.basename(probe.container)
    return probe.name


def _find_or_create_game(conn: sqlite3.Connection, probe: Probe, group_game: int | None,
                         same: list[Any] | None, state: ApplyState) -> int:
    """The game of the same content elsewhere, of the same DAT entry, or a new one."""
    if group_game is not None:
        return group_game
    if same is None:
        same = state.contents(conn).get(probe.hashes.sha256 or "", [])
    if same:
        return int(same[0]["game_id"])
    dat_name = _dat_name(conn, probe) if state.has_dats else None
    platform = probe.header.platform
    if dat_name:
        known = conn.execute("SELECT id FROM games WHERE platform = ? AND dat_name = ? LIMIT 1",
                             (platform, dat_name)).fetchone()
        if known:
            return int(known["id"])
    name = parse_name(dat_name or _display_name(probe))
    now = state.now
    cursor = conn.execute(
        "INSERT INTO games (platform, title, region, languages, revision, tags, dat_name, header_title,"
        " added_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (platform, name.title, name.region, name.languages, name.revision,
         json.dumps(list(name.tags)) if name.tags else "[]",
         dat_name, probe.header.title, now, now))
    return int(cursor.lastrowid or 0)


def _update_file(conn: sqlite3.Connection, file_id: int, probe: Probe, extra: dict[str, Any], now: str) -> None:
    values = {**_file_values(probe), **extra, "updated_at": now}
    if probe.store_path:
        values["store_path"] = probe.store_path
    assignments = ", ".join(f"{column} = :{column}" for column in values)
    conn.execute(f"UPDATE files SET {assignments} WHERE id = :id", {**values, "id": file_id})


def _moved_from(rows: list[Any], state: ApplyState) -> dict[str, Any] | None:
    """A known file with the same content that is no longer where it was: this probe is that file, moved."""
    for row in rows:
        gone_from = row["container"] or row["path"]
        if row["missing"] or row["path"] in state.vanished or not os.path.exists(gone_from):
            return row
    return None


def _rows_where_in(conn: sqlite3.Connection, column: str, values: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for start in range(0, len(values), 500):
        chunk = values[start:start + 500]
        rows += conn.execute(f"SELECT id, game_id, path, container, missing, sha256 FROM files WHERE {column} IN "
                             f"({', '.join('?' * len(chunk))})", chunk).fetchall()
    return rows


def _look_up_batch(conn: sqlite3.Connection, results: list[JobResult], state: ApplyState) -> dict[str, Any]:
    """The rows of the batch's paths, by path; and the files of its contents that another import (a second
    CLI run, a web upload) committed after this import loaded ``contents``, added to it: without this,
    two imports of the same content at the same moment would each create a game for it. Runs inside the
    writer's transaction, so it sees every commit; two queries a batch rather than two a file."""
    contents = state.contents(conn)
    probes = [probe for result in results for probe in result.probes]
    unseen = sorted({probe.hashes.sha256 or "" for probe in probes} - contents.keys())
    for row in _rows_where_in(conn, "sha256", unseen):
        contents.setdefault(row["sha256"], []).append(row)
    # looked up even for paths the walk did not know: another import (a web upload) may have added it since
    return {row["path"]: row for row in _rows_where_in(conn, "path", [probe.path for probe in probes])}


def _apply_probe(conn: sqlite3.Connection, probe: Probe, state: ApplyState, group_game: int | None,
                 known: dict[str, Any]) -> int:
    """Record one probe; returns its game id."""
    contents = state.contents(conn)
    sha256 = probe.hashes.sha256 or ""
    existing = known.get(probe.path)
    if existing is not None:
        game_id = int(existing["game_id"])
        if existing["sha256"] != sha256:
            old = contents.get(existing["sha256"], [])
            old[:] = [row for row in old if row["id"] != existing["id"]]
            game_id = _find_or_create_game(conn, probe, group_game, None, state)
            contents.setdefault(sha256, []).append({**existing, "game_id": game_id, "path": probe.path,
                                                    "container": probe.container, "missing": 0, "sha256": sha256})
        _update_file(conn, existing["id"], probe, {"game_id": game_id, "verify_error": None}, state.now)
        state.updated += 1
        return game_id
    same = contents.get(sha256, [])
    moved = _moved_from(same, state)
    if moved is not None:
        state.vanished.discard(moved["path"])
        _update_file(conn, moved["id"], probe, {"path": probe.path}, state.now)
        moved.update(path=probe.path, container=probe.container, missing=0)
        state.updated += 1
        return int(moved["game_id"])
    game_id = _find_or_create_game(conn, probe, group_game, same, state)
    values = {**_file_values(probe), "game_id": game_id, "path": probe.path, "store_path": probe.store_path,
              "added_at": state.now, "updated_at": state.now}
    file_id = conn.execute(_INSERT_FILE, values).lastrowid
    contents.setdefault(sha256, []).append({"id": file_id, "game_id": game_id, "path": probe.path,
                                            "container": probe.container, "missing": 0, "sha256": sha256})
    state.added += 1
    return game_id


def apply_results(conn: sqlite3.Connection, results: list[JobResult], state: ApplyState) -> None:
    """Record a batch of hashing results in one transaction.

    The titles of the batch's new games go into the full-text index in one statement at the end (see
    schema m005): the flag row that turns the per-game trigger off lives only inside this transaction.
    """
    state.now = _now()
    state.has_dats = conn.execute("SELECT 1 FROM dat_entries LIMIT 1").fetchone() is not None
    conn.execute("INSERT INTO games_fts_deferred (id) VALUES (1)")
    newest = conn.execute("SELECT COALESCE(MAX(id), 0) AS id FROM games").fetchone()["id"]
    _apply_batch(conn, results, state)
    # single writer: every game above ``newest`` was inserted by this transaction, none is indexed yet
    conn.execute("INSERT INTO games_fts (rowid, title) SELECT id, title FROM games WHERE id > ?", (newest,))
    conn.execute("DELETE FROM games_fts_deferred")


def _apply_batch(conn: sqlite3.Connection, results: list[JobResult], state: ApplyState) -> None:
    known = _look_up_batch(conn, results, state)
    for result in results:
        group_game: int | None = None
        for probe in sorted(result.probes, key=lambda p: -p.size):
            game_id = _apply_probe(conn, probe, state, group_game, known)
            state.game_ids.append(game_id)
            if probe.container:
                group_game = game_id  # the ROMs of one archive are one (multi-file) game
        if result.members is not None:
            present = set(result.members)
            for row in conn.execute("SELECT path FROM files WHERE container = ? AND missing = 0",
                                    (result.job.path,)).fetchall():
                if row["path"] not in present:
                    state.vanished.add(row["path"])


def mark_vanished(conn: sqlite3.Connection, state: ApplyState) -> int:
    """Mark every known file the scan did not find as missing (never deleted); returns how many are missing."""
    paths = sorted(state.vanished)
    now = _now()
    for start in range(0, len(paths), 500):
        chunk = paths[start:start + 500]
        conn.execute(f"UPDATE files SET missing = 1, updated_at = ? WHERE missing = 0 AND path IN "
                     f"({', '.join('?' * len(chunk))})", (now, *chunk))
    return len(paths)
