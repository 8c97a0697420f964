"""Rights follow changes at once: an open socket keeps only what its person may still do.

A role changed by an admin, a child's grant taken back, a game taken out of a granted collection or
a person removed reaches their open sockets within a second (the manager's housekeeping checks every
viewer), or at once when the change was made through the web (its route asks for a check). Someone
who may no longer see the game is told so and closed with ``CLOSE_NOT_FOUND``; someone whose role
changed keeps watching with the new role's rights, and their page is told (``rights``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from treazr.auth.sessions import AuthUser
from treazr.errors import NotFound
from treazr.streaming.protocol import CLOSE_NOT_FOUND, CLOSE_REVOKED, control

if TYPE_CHECKING:
    from treazr.streaming.manager import SessionManager
    from treazr.streaming.sessions import PlaySession
    from treazr.streaming.viewers import Viewer

__all__ = ["recheck_viewers"]

_ROLE_NAMES = {"admin": "an admin", "member": "a member", "child": "a child"}


async def recheck_viewers(manager: SessionManager, user_ids: set[int] | None = None) -> None:
    """Check the viewers of ``user_ids`` (everyone's when None) against their current role and grants."""
    watching = [(session, viewer) for session in list(manager.sessions.values()) if not session.ended.is_set()
                for viewer in list(session.viewers.values()) if user_ids is None or viewer.user_id in user_ids]
    if not watching:
        return
    ids = sorted({viewer.user_id for _, viewer in watching})
    rows = await manager.services.db.aquery(
        f"SELECT id, role FROM users WHERE id IN ({', '.join('?' * len(ids))})", ids)
    roles = {int(row["id"]): str(row["role"]) for row in rows}
    for session, viewer in watching:
        role = roles.get(viewer.user_id)
        if viewer.closed or viewer.id not in session.viewers:
            continue
        if role is None:  # the person was removed
            await _shut(manager, session, viewer, "signed_out", "You were signed out.", CLOSE_REVOKED)
            continue
        person = AuthUser(user_id=viewer.user_id, name=viewer.user_name, role=role, device_id=viewer.device_id,
                          session_id=viewer.sign_in_session)
        try:
            await manager.check_may_watch(person, session)
        except NotFound:
            await _shut(manager, session, viewer, "not_found", "You may no longer see this game.", CLOSE_NOT_FOUND)
            continue
        if role != viewer.role:
            before = session.may_control(viewer)
            viewer.role = role
            after = session.may_control(viewer)
            message = f"An admin made you {_ROLE_NAMES.get(role, role)}."
            if before != after:
                message += " You can now run this game." if after else " Only the player who started it runs it now."
            viewer.push_control(control("rights", control=after, role=role, message=message))


async def _shut(manager: SessionManager, session: PlaySession, viewer: Viewer, code: str, message: str,
                close_code: int) -> None:
    viewer.push_control(control("error", code=code, message=message, reload=True))
    viewer.close(close_code, code.replace("_", " "))
    await manager.leave(session, viewer)
