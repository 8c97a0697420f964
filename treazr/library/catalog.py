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


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _file_values(probe: Probe) -> dict[str, Any]:
    bare = probe.headerless
    return {"size": probe.size, "mtime_ns": probe.mtime_ns, "container": probe.container,
            "container_size": probe.container_size, "crc32": probe.hashes.crc32, "md5": probe.hashes.md5,
            "sha1": probe.hashes.sha1, "sha256": probe.hashes.sha256,
            "headerless_crc32": bare.crc32 if bare else None, "headerless_md5": bare.md5 if bare else None,
            "headerless_sha1": bare.sha1 if bare else None,
            "info": json.dumps({"platform": probe.header.platform, **probe.header.info}, sort_keys=True),
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


def _find_or_create_game(conn: sqlite3.Connection, probe: Probe, group_game: int | None) -> int:
    if group_game is not None:
        return group_game
    same = conn.execute("SELECT game_id FROM files WHERE sha256 = ? LIMIT 1", (probe.hashes.sha256,)).fetchone()
    if same:
        return int(same["game_id"])
    dat_name = _dat_name(conn, probe)
    platform = probe.header.platform
    if dat_name:
        known = conn.execute("SELECT id FROM games WHERE platform = ? AND dat_name = ? LIMIT 1",
                             (platform, dat_name)).fetchone()
        if known:
            return int(known["id"])
    name = parse_name(dat_name or _display_name(probe))
    now = _now()
    cursor = conn.execute(
        "INSERT INTO games (platform, title, region, languages, revision, tags, dat_name, header_title,"
        " added_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (platform, name.title, name.region, name.languages, name.revision, json.dumps(list(name.tags)),
         dat_name, probe.header.title, now, now))
    return int(cursor.lastrowid or 0)


def _update_file(conn: sqlite3.Connection, file_id: int, probe: Probe, extra: dict[str, Any]) -> None:
    values = {**_file_values(probe), **extra, "updated_at": _now()}
    if probe.store_path:
        values["store_path"] = probe.store_path
    assignments = ", ".join(f"{column} = :{column}" for column in values)
    conn.execute(f"UPDATE files SET {assignments} WHERE id = :id", {**values, "id": file_id})


def _moved_from(conn: sqlite3.Connection, probe: Probe, state: ApplyState) -> dict[str, Any] | None:
    """A known file with the same content that is no longer where it was: this probe is that file, moved."""
    rows = conn.execute("SELECT id, path, container, missing FROM files WHERE sha256 = ?",
                        (probe.hashes.sha256,)).fetchall()
    for row in rows:
        gone_from = row["container"] or row["path"]
        if row["missing"] or row["path"] in state.vanished or not os.path.exists(gone_from):
            return dict(row)
    return None


def _apply_probe(conn: sqlite3.Connection, probe: Probe, state: ApplyState, group_game: int | None) -> int:
    """Record one probe; returns its game id."""
    existing = conn.execute("SELECT id, game_id, sha256 FROM files WHERE path = ?", (probe.path,)).fetchone()
    if existing is not None:
        game_id = int(existing["game_id"])
        if existing["sha256"] != probe.hashes.sha256:
            game_id = _find_or_create_game(conn, probe, group_game)
        _update_file(conn, existing["id"], probe, {"game_id": game_id, "verify_error": None})
        state.updated += 1
        return game_id
    moved = _moved_from(conn, probe, state)
    if moved is not None:
        state.vanished.discard(moved["path"])
        _update_file(conn, moved["id"], probe, {"path": probe.path})
        state.updated += 1
        row = conn.execute("SELECT game_id FROM files WHERE id = ?", (moved["id"],)).fetchone()
        return int(row["game_id"])
    game_id = _find_or_create_game(conn, probe, group_game)
    values = {**_file_values(probe), "game_id": game_id, "path": probe.path, "store_path": probe.store_path,
              "added_at": _now(), "updated_at": _now()}
    columns = ", ".join(values)
    conn.execute(f"INSERT INTO files ({columns}) VALUES ({', '.join(':' + c for c in values)})", values)
    state.added += 1
    return game_id


def apply_results(conn: sqlite3.Connection, results: list[JobResult], state: ApplyState) -> None:
    """Record a batch of hashing results in one transaction."""
    for result in results:
        group_game: int | None = None
        for probe in sorted(result.probes, key=lambda p: -p.size):
            game_id = _apply_probe(conn, probe, state, group_game)
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
