"""``treazr users``: add family members, make invite links, list them, revoke devices."""

from __future__ import annotations

from typing import Any

import click

from treazr.auth.bootstrap import invite_base_urls
from treazr.auth.invites import Invite, issue_invite
from treazr.auth.qr import qr_terminal
from treazr.auth.users import ROLES, create_user, get_user, list_users, revoke_device, revoke_user
from treazr.cli import CliContext, pass_cli
from treazr.errors import NotFound
from treazr.services import Services

__all__ = ["COMMANDS"]


def _show_invite(cli: CliContext, services: Services, invite: Invite) -> None:
    url = invite.url(invite_base_urls(services.settings)[0])
    payload = {"user": {"id": invite.user_id, "name": invite.user_name, "role": invite.role}, "url": url,
               "expires_at": invite.expires_at}

    def human() -> None:
        click.echo(f"Invite for {invite.user_name} ({invite.role}), works once until {invite.expires_at}:")
        click.echo(f"    {url}")
        click.echo(qr_terminal(url))

    cli.emit(payload, human)


@click.group("users")
def users_group() -> None:
    """Add, invite, list and revoke family members and their devices."""


@users_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="member", show_default=True,
              help="admin: manages everything; member: plays and uploads; child: sees only what is granted.")
@pass_cli
def users_add(cli: CliContext, name: str, role: str) -> None:
    """Add a family member and print their invite link (and QR code)."""
    with cli.services() as services:
        ttl = services.settings.auth.invite_ttl_hours

        def add(conn: Any) -> Invite:
            user = create_user(conn, name, role)
            return issue_invite(conn, user["id"], ttl)

        _show_invite(cli, services, services.db.write(add))


@users_group.command("invite")
@click.argument("name")
@pass_cli
def users_invite(cli: CliContext, name: str) -> None:
    """A new invite link for NAME: to add another device, or to get back in after losing one."""
    with cli.services() as services:
        ttl = services.settings.auth.invite_ttl_hours
        invite = services.db.write(lambda conn: issue_invite(
            conn, get_user(conn, name)["id"], ttl, keep=services.settings.auth.invites_per_user))
        _show_invite(cli, services, invite)


@users_group.command("list")
@pass_cli
def users_list(cli: CliContext) -> None:
    """List users and their devices."""
    with cli.services() as services:
        listed = services.db.write(list_users)

    def human() -> None:
        if not listed:
            click.echo("No users yet. Add one with: treazr users add NAME")
        for user in listed:
            live = [d for d in user["devices"] if d["revoked_at"] is None]
            click.echo(f"{user['name']} ({user['role']}), {len(live)} device(s)")
            for device in user["devices"]:
                state = f"revoked {device['revoked_at']}" if device["revoked_at"] else \
                    f"last seen {device['last_seen_at'] or 'never'}"
                click.echo(f"    #{device['id']} {device['label']}: {state}")

    cli.emit({"users": listed}, human)


@users_group.command("revoke")
@click.argument("name")
@click.option("--device", "device_id", type=int, help="Revoke only this device (its # in `treazr users list`).")
@pass_cli
def users_revoke(cli: CliContext, name: str, device_id: int | None) -> None:
    """Revoke NAME's devices (all, or one with --device); they are signed out at once."""
    with cli.services() as services:

        def revoke(conn: Any) -> set[int]:
            user = get_user(conn, name)
            if device_id is None:
                return revoke_user(conn, user["id"])
            try:
                return revoke_device(conn, device_id, owner_id=user["id"])
            except NotFound:
                raise NotFound(f"{user['name']} has no device #{device_id}") from None

        ended = services.db.write(revoke)
    what = f"device #{device_id} of {name}" if device_id is not None else f"every device of {name}"
    cli.emit({"revoked": what, "ended_sessions": len(ended)},
             lambda: click.echo(f"Revoked {what}; {len(ended)} sign-in session(s) ended."))


COMMANDS = [users_group]
