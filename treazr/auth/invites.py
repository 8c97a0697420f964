"""Invites: one-time links that let a person add a browser (a device) to their account.

The token is 32 random bytes, shown once (in the URL's fragment, so it never reaches server logs or
a Referer header) and stored only as its SHA-256.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from treazr.auth import audit
from treazr.auth.keys import new_token, rfc3339, token_hash
from treazr.auth.users import get_user, validate_label
from treazr.errors import AuthenticationError, Conflict

__all__ = ["INVALID_INVITE", "Invite", "cancel_pending", "invite_url", "issue_invite", "redeem_invite"]

INVALID_INVITE = ("This invite link does not work any more: it was already used, it has expired, or it was "
                  "mistyped. Ask whoever runs Treazr for a new one.")


@dataclass(frozen=True)
class Invite:
    token: str
    user_id: int
    user_name: str
    role: str
    expires_at: str

    def url(self, base_url: str) -> str:
        return invite_url(base_url, self.token)


def invite_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/invite#{token}"


def issue_invite(conn: sqlite3.Connection, user_id: int, ttl_hours: float, *, actor_id: int | None = None,
                 address: str = "", now: float | None = None, keep: int | None = None) -> Invite:
    """A new invite for ``user_id``; with ``keep``, their unused invites beyond the newest ``keep``
    (this one included) are cancelled, so nobody can pile up live links."""
    now = time.time() if now is None else now
    user = get_user(conn, user_id)
    token, digest = new_token()
    expires_at = rfc3339(now + ttl_hours * 3600)
    conn.execute("INSERT INTO invites (user_id, token_hash, created_at, expires_at, created_by) VALUES (?,?,?,?,?)",
                 (user_id, digest, rfc3339(now), expires_at, actor_id))
    if keep is not None:
        cancel_pending(conn, user_id, now=now, keep_newest=keep)
    audit.record(conn, "invite", user_id=user_id, actor_id=actor_id, address=address,
                 detail={"expires_at": expires_at}, now=now)
    return Invite(token, user["id"], user["name"], user["role"], expires_at)


def cancel_pending(conn: sqlite3.Connection, user_id: int, *, now: float, keep_newest: int = 0) -> int:
    """Cancel ``user_id``'s unused, unexpired invites but the newest ``keep_newest``; returns how many."""
    pending = [row["id"] for row in conn.execute(
        "SELECT id FROM invites WHERE user_id = ? AND used_at IS NULL AND cancelled_at IS NULL AND expires_at > ?"
        " ORDER BY id DESC", (user_id, rfc3339(now)))]
    stale = pending[keep_newest:]
    conn.executemany("UPDATE invites SET cancelled_at = ? WHERE id = ?", [(rfc3339(now), i) for i in stale])
    return len(stale)


def redeem_invite(conn: sqlite3.Connection, token: str, public_key: bytes, label: str, *, address: str = "",
                  now: float | None = None) -> dict[str, Any]:
    """Use up the invite and add ``public_key`` as a device of its user; returns the new device row.

    Call it inside the same transaction that starts the session, after the key's signature checked out.
    """
    now = time.time() if now is None else now
    label = validate_label(label)
    invite = conn.execute(
        "SELECT id, user_id FROM invites WHERE token_hash = ? AND used_at IS NULL AND cancelled_at IS NULL "
        "AND expires_at > ?", (token_hash(token) if isinstance(token, str) else b"", rfc3339(now))).fetchone()
    if invite is None:
        raise AuthenticationError(INVALID_INVITE)
    if conn.execute("SELECT 1 FROM devices WHERE public_key = ?", (public_key,)).fetchone():
        raise Conflict("This browser is already signed up; sign in instead.")
    device_id = conn.execute(
        "INSERT INTO devices (user_id, public_key, label, created_at, last_seen_at) VALUES (?,?,?,?,?)",
        (invite["user_id"], public_key, label, rfc3339(now), rfc3339(now))).lastrowid
    conn.execute("UPDATE invites SET used_at = ?, device_id = ? WHERE id = ?", (rfc3339(now), device_id, invite["id"]))
    audit.record(conn, "enroll", user_id=invite["user_id"], device_id=device_id, address=address,
                 detail={"label": label}, now=now)
    row = conn.execute("SELECT id, user_id, label FROM devices WHERE id = ?", (device_id,)).fetchone()
    return dict(row)
