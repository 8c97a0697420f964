from __future__ import annotations

import time

from treazr.auth.invites import issue_invite, redeem_invite
from treazr.auth.keys import token_hash
from treazr.auth.sessions import end_session, lookup_session, start_session
from treazr.auth.users import create_user, revoke_device
from treazr.services import Services


def _signed_in(services: Services, now: float) -> tuple[str, int, int]:
    def setup(conn):  # type: ignore[no-untyped-def]
        user = create_user(conn, "Ada", "member")
        device = redeem_invite(conn, issue_invite(conn, user["id"], 24).token, b"\x03" * 32, "Phone")
        token, session_id = start_session(conn, user["id"], device["id"], 30, now=now)
        return token, session_id, device["id"]

    return services.db.write(setup)


async def test_session_is_found_by_token_only_and_slides(services: Services) -> None:
    start = time.time() - 5 * 86400
    token, session_id, _ = _signed_in(services, start)
    assert services.db.query("SELECT token_hash FROM web_sessions")[0]["token_hash"] == token_hash(token)
    assert await lookup_session(services.db, "wrong" + token, 30) is None
    assert await lookup_session(services.db, "", 30) is None
    info = await lookup_session(services.db, token, 30)
    assert info is not None and info.session_id == session_id and info.name == "Ada" and info.refreshed
    later = services.db.query("SELECT expires_at FROM web_sessions")[0]["expires_at"]
    assert later > time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 30 * 86400))
    again = await lookup_session(services.db, token, 30)
    assert again is not None and not again.refreshed  # touched at most once a minute
    await services.db.close_async_reader()


async def test_expired_ended_and_revoked_sessions_are_gone(services: Services) -> None:
    token, session_id, device_id = _signed_in(services, time.time() - 31 * 86400)
    assert await lookup_session(services.db, token, 30) is None  # expired
    services.db.execute("UPDATE web_sessions SET expires_at = '2999-01-01T00:00:00Z'")
    assert await lookup_session(services.db, token, 30) is not None
    assert services.db.write(lambda conn: end_session(conn, session_id)) == {session_id}
    assert services.db.write(lambda conn: end_session(conn, session_id)) == set()
    assert await lookup_session(services.db, token, 30) is None
    services.db.execute("UPDATE web_sessions SET ended_at = NULL")
    services.db.write(lambda conn: revoke_device(conn, device_id))
    services.db.execute("UPDATE web_sessions SET ended_at = NULL")  # even a session left open by mistake
    assert await lookup_session(services.db, token, 30) is None  # dies with its revoked device
    await services.db.close_async_reader()


async def test_sessions_ended_by_another_process_are_published(services: Services) -> None:
    import asyncio

    from treazr.auth.sessions import watch_ended_sessions

    _, session_id, device_id = _signed_in(services, time.time())
    published: list[set[int]] = []
    watcher = asyncio.create_task(watch_ended_sessions(services.db, published.append, interval_s=0.05))
    try:
        # a separate connection, as `treazr users revoke` in a terminal would use
        other = services.db.__class__(services.data.database).open()
        try:
            other.write(lambda conn: revoke_device(conn, device_id))
        finally:
            other.close()
        for _ in range(400):
            if published:
                break
            await asyncio.sleep(0.025)
        assert published == [{session_id}]
        await asyncio.sleep(0.2)
        assert published == [{session_id}]  # published once, not on every poll
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await services.db.close_async_reader()
