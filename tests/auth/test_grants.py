from __future__ import annotations

import pytest

from treazr.auth.grants import can_see_game, game_visibility_sql, list_grants, set_grants
from treazr.auth.users import create_user
from treazr.errors import InvalidInput
from treazr.services import Services
from treazr.web.security import AuthUser


def _game(services: Services, platform: str, title: str) -> int:
    return services.db.execute("INSERT INTO games (platform, title, added_at, updated_at) VALUES (?, ?, '', '')",
                               (platform, title))


def _collections(services: Services) -> None:
    """The web app's collections tables (treazr/library/shelf_schema.py); made here only if that set has not landed."""
    if not services.db.query("SELECT 1 FROM sqlite_master WHERE name = 'collections'"):
        services.db.execute("CREATE TABLE collections (id INTEGER PRIMARY KEY, name TEXT, created_at TEXT)")
        services.db.execute("CREATE TABLE collection_games (collection_id INTEGER, game_id INTEGER, added_at TEXT)")


def _person(services: Services, name: str, role: str) -> AuthUser:
    user_id = services.db.write(lambda conn: create_user(conn, name, role))["id"]
    return AuthUser(user_id, name, role, 0, 0)


async def test_children_see_only_granted_platforms_adults_see_everything(services: Services) -> None:
    mario, sonic = _game(services, "nes", "Mario"), _game(services, "md", "Sonic")
    kid, other_kid = _person(services, "Kid", "child"), _person(services, "Other", "child")
    adult = _person(services, "Mum", "member")
    services.db.write(lambda conn: set_grants(conn, kid.user_id, ["nes", "nes"], []))
    assert await can_see_game(services.db, kid, mario)
    assert not await can_see_game(services.db, kid, sonic)
    assert not await can_see_game(services.db, other_kid, mario)  # grants are per child
    assert await can_see_game(services.db, adult, sonic)
    assert not await can_see_game(services.db, adult, 9999)  # no such game
    where, params = game_visibility_sql(kid, "g", with_collections=False)
    titles = services.db.query(f"SELECT title FROM games g WHERE {where} ORDER BY title", params)
    assert titles == [{"title": "Mario"}]
    await services.db.close_async_reader()


async def test_collection_grants_once_collections_exist(services: Services) -> None:
    zelda, tetris = _game(services, "nes", "Zelda"), _game(services, "gb", "Tetris")
    kid = _person(services, "Kid", "child")
    _collections(services)
    services.db.execute("INSERT INTO collections (id, name, created_at) VALUES (7, 'Puzzles', '')")
    services.db.execute("INSERT INTO collection_games (collection_id, game_id, added_at) VALUES (7, ?, '')", (tetris,))
    with pytest.raises(InvalidInput, match="no collection"):
        services.db.write(lambda conn: set_grants(conn, kid.user_id, [], [8]))
    services.db.write(lambda conn: set_grants(conn, kid.user_id, [], [7]))
    assert await can_see_game(services.db, kid, tetris)
    assert not await can_see_game(services.db, kid, zelda)
    assert services.db.write(lambda conn: list_grants(conn, kid.user_id)) == {"platforms": [], "collections": [7]}
    await services.db.close_async_reader()


def test_grants_are_for_children_and_validated(services: Services) -> None:
    adult, kid = _person(services, "Mum", "member"), _person(services, "Kid", "child")
    with pytest.raises(InvalidInput, match="not a child"):
        services.db.write(lambda conn: set_grants(conn, adult.user_id, ["nes"], []))
    for platforms, collections in ((["nes; DROP"], []), ([3], []), ([], ["x"]), ([], [True])):
        with pytest.raises(InvalidInput):
            services.db.write(lambda conn, p=platforms, c=collections: set_grants(conn, kid.user_id, p, c))
    _collections(services)
    services.db.execute("INSERT INTO collections (id, name, created_at) VALUES (1, 'Party', '')")
    services.db.write(lambda conn: set_grants(conn, kid.user_id, ["snes"], [1]))
    services.db.write(lambda conn: set_grants(conn, kid.user_id, ["gb"], []))  # replaces, not adds
    assert services.db.write(lambda conn: list_grants(conn, kid.user_id)) == {"platforms": ["gb"], "collections": []}
