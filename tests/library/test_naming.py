from __future__ import annotations

import pytest

from treazr.library.naming import parse_name


@pytest.mark.parametrize(("name", "title", "region", "languages", "revision", "tags"), [
    ("Super Mario Bros. (World).nes", "Super Mario Bros", "World", "", "", ()),
    ("Sonic the Hedgehog (Europe) (En,Fr,De) (Rev 1).md", "Sonic the Hedgehog", "Europe", "En,Fr,De", "Rev 1", ()),
    ("Legend of Zelda, The - A Link to the Past (USA) [!].sfc", "The Legend of Zelda - A Link to the Past",
     "USA", "", "", ("!",)),
    ("Tetris (JU) (V1.1) [!].gb", "Tetris", "Japan, USA", "", "V1.1", ("!",)),
    ("my_homebrew_game.gba", "my homebrew game", "", "", "", ()),
    ("Game (USA, Europe) (Beta).zip", "Game", "USA, Europe", "", "", ("Beta",)),
])
def test_parse_name(name: str, title: str, region: str, languages: str, revision: str,
                    tags: tuple[str, ...]) -> None:
    info = parse_name(name)
    assert (info.title, info.region, info.languages, info.revision, info.tags) == (
        title, region, languages, revision, tags)
