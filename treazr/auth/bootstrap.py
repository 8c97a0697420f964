"""The first start: when nobody can sign in yet, ``treazr serve`` prints a one-time admin invite.

"Nobody can sign in" means no admin has a live device. The invite goes to the existing device-less
admin (a restart before the link was used makes a fresh link) or to a new user called "admin".
"""

from __future__ import annotations

import sqlite3
from typing import Any

from treazr.auth.invites import Invite, issue_invite
from treazr.auth.tls import lan_addresses
from treazr.auth.users import create_user
from treazr.services import Services
from treazr.settings import Settings

__all__ = ["first_start_lines", "invite_base_urls", "needs_first_admin"]

_ADMIN_NAME = "admin"


def needs_first_admin(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT 1 AS yes FROM devices d JOIN users u ON u.id = d.user_id "
                       "WHERE u.role = 'admin' AND d.revoked_at IS NULL LIMIT 1").fetchone()
    return row is None


def _first_admin_invite(conn: sqlite3.Connection, ttl_hours: int) -> Invite | None:
    if not needs_first_admin(conn):
        return None
    admin = conn.execute("SELECT id FROM users WHERE role = 'admin' ORDER BY id LIMIT 1").fetchone()
    user_id = admin["id"] if admin else None
    if user_id is None:
        taken = conn.execute("SELECT 1 FROM users WHERE name = ?", (_ADMIN_NAME,)).fetchone()
        user_id = create_user(conn, _ADMIN_NAME if not taken else "first admin", "admin")["id"]
    return issue_invite(conn, user_id, ttl_hours, keep=1)  # this start's link only: the last one stops working


def invite_base_urls(settings: Settings, scheme: str | None = None) -> list[str]:
    """Where people reach this server: the public URL, or this machine's LAN addresses, then localhost."""
    server = settings.server
    if server.public_url:
        return [server.public_url.rstrip("/")]
    scheme = scheme or ("http" if server.tls == "off" else "https")
    default_port = {"https": 443, "http": 80}[scheme]
    port = "" if server.port == default_port else f":{server.port}"
    hosts: list[str] = []
    if server.host in ("0.0.0.0", "::"):
        hosts += [str(a) if a.version == 4 else f"[{a}]"
                  for a in sorted(lan_addresses(), key=lambda a: (a.version, str(a)))]
        hosts.append("localhost")
    else:
        hosts.append(f"[{server.host}]" if ":" in server.host else server.host)
    return [f"{scheme}://{host}{port}" for host in hosts]


def first_start_lines(services: Services, plan: Any) -> list[str]:
    """Lines for the terminal: the one-time admin invite, or nothing once an admin can sign in."""
    ttl = services.settings.auth.invite_ttl_hours
    invite = services.db.write(lambda conn: _first_admin_invite(conn, ttl))
    if invite is None:
        return []
    urls = invite_base_urls(services.settings, plan.scheme)
    lines = ["", f"No one can sign in yet. Open this one-time link in the browser of the person who will run "
                 f"Treazr (account '{invite.user_name}', admin; it works once, for {ttl} h):"]
    lines += [f"    {invite.url(base)}" for base in urls[:3]]
    if plan.scheme == "https":
        lines.append(f"Your browser will warn about the certificate at first: see {urls[0]}/certificate")
    return lines
