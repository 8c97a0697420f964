from __future__ import annotations

from pathlib import Path

import pytest

from tests.library import romgen
from tests.support.roms import platform_counts, rom_count
from treazr.errors import NotFound
from treazr.library.listing import fts_query
from treazr.library.repository import acontent_path, content_path, count_games, get_game, list_games, stats
from treazr.library.scanner import import_paths
from treazr.services import Services


def test_list_search_get_and_stats(services: Services, roms: Path) -> None:
    import_paths(services, [roms])
    titles = [game["title"] for game in list_games(services.db)]
    count = rom_count(roms)
    assert titles == sorted(titles, key=str.lower) and len(titles) == count
    nes = list_games(services.db, platform="nes", playable={"nes"})
    assert len(nes) == 5 and all(game["playable"] is True for game in nes)
    assert all(game["playable"] is False for game in list_games(services.db, platform="gba", playable={"nes"}))
    assert [game["title"] for game in list_games(services.db, search="cpu instr")] == ["cpu instrs"]
    assert count_games(services.db, search='nes" OR "') == 0  # quotes cannot break out of the FTS query
    game = get_game(services.db, nes[0]["id"])
    assert game["files"][0]["info"]["platform"] == "nes" and game["files"][0]["sha1"]
    with pytest.raises(NotFound):
        get_game(services.db, 999_999)
    figures = stats(services.db)
    assert (figures["games"], figures["files"], figures["missing_files"]) == (count, count, 0)
    assert {row["platform"]: row["games"] for row in figures["platforms"]} == platform_counts(roms)
    assert figures["last_import"]["status"] == "done"


def test_fts_query_is_prefix_words() -> None:
    assert fts_query('zel "lin') == '"zel"* "lin"*'
    assert fts_query("  ") == ""


def test_a_search_uses_its_first_ten_words(services: Services, roms: Path) -> None:
    import_paths(services, [roms])
    essay = "cpu instrs " + " ".join(f"word{i}" for i in range(2000))
    assert fts_query(essay).count("*") == 10
    assert list_games(services.db, search="cpu instrs " + "zzz " * 2000) == []  # the 3rd word still counts
    assert [game["title"] for game in list_games(services.db, search=" ".join(["cpu"] * 2000))] == ["cpu instrs"]


def test_a_missing_file_still_plays_from_its_content_store_copy(services: Services, tmp_path: Path) -> None:
    original = romgen.write(tmp_path / "roms" / "gb" / "Kept.gb", romgen.gb("KEPT"))
    romgen.write(tmp_path / "roms" / "gb" / "Lost.gb", romgen.gb("LOST"))
    import_paths(services, [tmp_path / "roms" / "gb" / "Kept.gb"], copy=True)  # only this one is copied
    import_paths(services, [tmp_path / "roms"])
    games = {row["path"]: row["game_id"] for row in services.db.query("SELECT path, game_id FROM files")}
    kept, lost = games[str(original)], games[str(tmp_path / "roms" / "gb" / "Lost.gb")]
    stored = content_path(services.db, services.data.content, kept)
    assert stored.is_relative_to(services.data.content) and stored.read_bytes() == original.read_bytes()
    original.unlink()
    (tmp_path / "roms" / "gb" / "Lost.gb").unlink()
    assert import_paths(services, [tmp_path / "roms"]).missing == 2
    assert content_path(services.db, services.data.content, kept) == stored
    with pytest.raises(NotFound, match="missing"):
        content_path(services.db, services.data.content, lost)  # no store copy: nothing to play
    stored.unlink()
    with pytest.raises(NotFound):
        content_path(services.db, services.data.content, kept)


async def test_content_path_for_the_web_app(services: Services, tmp_path: Path) -> None:
    original = romgen.write(tmp_path / "roms" / "gba" / "Here.gba", romgen.gba("HERE"))
    import_paths(services, [tmp_path / "roms"])
    game = services.db.query_one("SELECT game_id FROM files")
    assert game is not None
    try:
        assert await acontent_path(services.db, services.data.content, game["game_id"]) == original
        with pytest.raises(NotFound):
            await acontent_path(services.db, services.data.content, 999_999)
    finally:
        await services.db.close_async_reader()
