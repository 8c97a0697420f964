"""Play history: your own sessions and play time, and the household overview for admins.

Everything is derived from the append-only ``play_events`` log (:mod:`treazr.streaming.playtime`).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.datastructures import State
from litestar.params import FromQuery
from litestar.response import Template

from treazr.streaming.playtime import games_played, household, user_sessions
from treazr.web.routes._common import user_and_services
from treazr.web.security import admin_only, current_user

__all__ = ["ROUTES", "my_history"]


async def my_history(request: Request[Any, Any, State], limit: int = 100) -> dict[str, Any]:
    user, services = user_and_services(request)
    games = await games_played(services.db, user.user_id)
    return {"sessions": await user_sessions(services.db, user.user_id, limit), "games": games,
            "total_seconds": round(sum(g["seconds"] for g in games), 1)}


@get("/api/history")
async def history_api(request: Request[Any, Any, State], limit: FromQuery[int] = 100) -> dict[str, Any]:
    """Any signed-in user: their own play sessions (newest first) and play time per game."""
    return await my_history(request, max(1, min(limit, 1000)))


@get("/api/admin/history", guards=[admin_only])
async def household_api(request: Request[Any, Any, State], limit: FromQuery[int] = 100) -> dict[str, Any]:
    """Admins: everyone's play time, and the household's recent sessions."""
    _, services = user_and_services(request)
    return {"people": await household(services.db),
            "sessions": await user_sessions(services.db, None, max(1, min(limit, 1000)))}


@get("/history")
async def history_page(request: Request[Any, Any, State]) -> Template:
    """Any signed-in user: the page of their own play history."""
    return Template(template_name="history.html", context={"me": current_user(request), "nav": "history",
                                                           **await my_history(request)})


ROUTES: list[Any] = [history_api, household_api, history_page]
