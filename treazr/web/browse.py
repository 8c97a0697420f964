"""The library as the web app shows it: the library's reads (:mod:`treazr.library.browse`) told which
platforms the emulation registry can play, and each game given its links.

The reads themselves (visibility, filters, sorts, pages, counts) are the library's; play history
(recently played, Continue) is :mod:`treazr.streaming.playtime`'s.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from treazr.auth.grants import HasRole
from treazr.db import Row
from treazr.library import browse
from treazr.library.listing import GameQuery
from treazr.services import Services
from treazr.streaming import playtime

__all__ = ["continue_row", "game_detail", "list_games", "playable_platforms", "visible_or_404"]

_PLAYABLE_TTL_S = 30.0
_playable_cache: dict[int, tuple[float, frozenset[str], dict[str, str]]] = {}

# ``treazr.web.routes.saves`` still imports the library's visibility check under its old name
visible_or_404 = browse.visible_game


async def playable_platforms(services: Services) -> tuple[frozenset[str], dict[str, str]]:
    """Platforms with a usable core (and BIOS), and why each other one is not, cached for a few seconds."""
    cached = _playable_cache.get(id(services))
    if cached and time.monotonic() - cached[0] < _PLAYABLE_TTL_S:
        return cached[1], cached[2]

    def read() -> tuple[frozenset[str], dict[str, str]]:
        statuses = services.cores.platforms()  # the first call probes cores in child processes; BIOS md5s
        return (frozenset(p.platform for p in statuses if p.playable),
                {p.platform: p.reason for p in statuses if not p.playable})

    playable, reasons = await asyncio.to_thread(read)
    _playable_cache[id(services)] = (time.monotonic(), playable, reasons)
    return playable, reasons


async def _registry(services: Services) -> Any:
    """The core registry; discovering it probes cores in child processes, so the first time runs in a thread."""
    if "cores" in services.__dict__:
        return services.cores
    return await asyncio.to_thread(lambda: services.cores)


def _links(row: Row) -> Row:
    row["cover_url"] = f"/api/games/{row['id']}/cover" if row.pop("has_cover", None) else None
    row["url"] = f"/games/{row['id']}"
    return row


async def list_games(services: Services, user: HasRole, query: GameQuery) -> dict[str, Any]:
    """One page of the games ``user`` may see, with the total for the pager."""
    playable, _ = await playable_platforms(services)
    last_played = await playtime.last_session_starts(services.db, user.user_id) if query.sort == "recent" else None
    listing = await browse.list_page(services.db, user, query, playable=playable, thumbnails=services.data.thumbnails,
                                     last_played=last_played)
    for row in listing["games"]:
        _links(row)
    return listing


async def continue_row(services: Services, user: HasRole) -> list[Row]:
    """The games ``user`` played last, newest first, marking those with a Continue state."""
    playable, _ = await playable_platforms(services)
    rows = await playtime.continue_row(services.db, user, playable=playable, thumbnails=services.data.thumbnails)
    return [_links(row) for row in rows]


async def game_detail(services: Services, user: HasRole, game_id: int) -> Row:
    """Everything the game page shows that is not the player's own saves, and the core that runs it."""
    game = await browse.visible_game(services.db, user, game_id)  # first: NotFound before anything else is read
    (playable, reasons), registry = await asyncio.gather(playable_platforms(services), _registry(services))
    detail = _links(await browse.game_detail(services.db, user, game, thumbnails=services.data.thumbnails,
                                             playable=playable, reasons=reasons))
    core = registry.core_for(detail["platform"])
    has_core = detail["platform"] in playable
    detail["core"] = {"id": core.id, "name": core.name, "version": core.version} if core and has_core else None
    return detail
