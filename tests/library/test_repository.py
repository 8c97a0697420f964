from __future__ import annotations

from pathlib import Path

import pytest

from treazr.errors import NotFound
from treazr.library.repository import count_games, fts_query, get_game, list_games, stats
from treazr.library.scanner import import_paths
from treazr.services import Services


def test_list_search_get_and_stats(services: Services, roms: Path) -> None:
    import_paths(services, [roms])
    titles = [game["title"] for game in list_games(services.db)]
    assert titles == sorted(titles, key=str.lower) and len(titles) == 12
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
    assert (figures["games"], figures["files"], figures["missing_files"]) == (12, 12, 0)
    assert {row["platform"]: row["games"] for row in figures["platforms"]} == {
        "gb": 2, "gba": 3, "nes": 5, "pce": 1, "snes": 1}
    assert figures["last_import"]["status"] == "done"


def test_fts_query_is_prefix_words() -> None:
    assert fts_query('zel "lin') == '"zel"* "lin"*'
    assert fts_query("  ") == ""
