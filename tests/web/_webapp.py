"""Helpers for the web app's tests: an app on imported test ROMs, and the family signed in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from litestar.testing import AsyncTestClient

from tests.support.identity import Identity, sign_up
from tests.support.roms import rom_count
from treazr.library.scanner import import_paths
from treazr.services import Services

__all__ = ["Family", "game_id", "import_roms", "sign_up_family"]


@dataclass
class Family:
    admin: Identity
    ada: Identity  # a member
    bob: Identity  # another member
    kid: Identity  # a child


def import_roms(services: Services, roms: Path) -> None:
    report = import_paths(services, [roms])
    assert report.added == rom_count(roms), report.as_json()  # SHA1SUMS is reported as not a ROM


def game_id(services: Services, title_part: str) -> int:
    row = services.db.query_one("SELECT id FROM games WHERE title LIKE ? ORDER BY id", (f"%{title_part}%",))
    assert row is not None, title_part
    return int(row["id"])


async def sign_up_family(client: AsyncTestClient, services: Services) -> Family:
    return Family(await sign_up(client, services, "Mum", role="admin"), await sign_up(client, services, "Ada"),
                  await sign_up(client, services, "Bob"), await sign_up(client, services, "Kim", role="child"))
