"""The web process's play sessions: the registry and the life cycle (start, rejoin, end, idle timeout).

One :class:`SessionManager` per app, started and stopped by the app's lifespan. A user has at most
one session per game: starting a game that already runs for that user rejoins it (a page reload,
another device). Game 0 is the demo core, which needs no ROM. The rules of the people in a session
(joining, ports, chat) are the session's own (:mod:`treazr.streaming.sessions`); the manager writes the
events they return to the play history.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import sqlite3
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from treazr.atomic import sweep_interrupted_writes
from treazr.auth.grants import can_see_game
from treazr.auth.sessions import AuthUser
from treazr.emulation.registry import CoreInfo
from treazr.emulation.worker import WorkerHandle, WorkerSpec
from treazr.errors import Conflict, CoreCrashed, InvalidContent, NotFound, TreazrError
from treazr.library.refusals import clear_refusal, mark_refused
from treazr.library.repository import ContentFile, acontent_file
from treazr.saves.save_ram import record_flush
from treazr.saves.session_end import end_play, why
from treazr.saves.states import CONTINUE_SLOT, get_state, save_state
from treazr.services import Services
from treazr.streaming import history
from treazr.streaming.away import AwayEndings
from treazr.streaming.launch import keep_policy, session_spec, video_settings
from treazr.streaming.metrics import StreamMetrics
from treazr.streaming.protocol import control
from treazr.streaming.rights import recheck_viewers
from treazr.streaming.sessions import PlayEvent, PlaySession, SessionInfo
from treazr.streaming.viewers import Viewer

__all__ = ["DEMO_GAME_ID", "SessionManager"]

log = logging.getLogger("treazr.play")

DEMO_GAME_ID = 0
DEMO_CORE_ID = "treazr_demo"
HOUSEKEEPING_S = 1.0


class SessionManager:
    def __init__(self, services: Services, registry: CollectorRegistry) -> None:
        self.services = services
        self.metrics = StreamMetrics(registry)
        self.sessions: dict[str, PlaySession] = {}
        self._starting: dict[tuple[int, int], asyncio.Future[PlaySession]] = {}
        self._housekeeping: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._unrecorded: dict[int, tuple[int, str]] = {}  # ended sessions whose row could not be closed yet
        self.away = AwayEndings()

    # -- app lifespan -------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        ended = await history.close_leftover_sessions(self.services.db)
        if ended:
            log.info("marked %d play sessions of an earlier run as ended", ended)
        data = self.services.data
        # only this server's workers write saves and states, and none runs yet: every temporary file there is
        # a leftover; covers may be in the making by a CLI import, so only old ones of those
        swept = await asyncio.to_thread(sweep_interrupted_writes, [data.states, data.saves], older_than_s=0)
        swept += await asyncio.to_thread(sweep_interrupted_writes, [data.thumbnails], also=(".*.shot",))
        if swept:
            log.info("removed %d temporary files that interrupted writes left behind", len(swept))
        self._unsubscribe = self.services.revocations.subscribe(self._revoked_threadsafe)
        self._housekeeping = asyncio.create_task(self._housekeep(), name="treazr-play-housekeeping")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
        await asyncio.gather(*(self.end(s, "the server is stopping") for s in list(self.sessions.values())),
                             return_exceptions=True)

    # -- queries ------------------------------------------------------------------------------
    def get(self, token: str) -> PlaySession:
        session = self.sessions.get(token)
        if session is None or session.ended.is_set():
            raise NotFound("this game is not running any more")
        return session

    def visible_to(self, user: AuthUser) -> list[PlaySession]:
        """Sessions a user may see in lists: their own, or everyone's for an admin."""
        return [s for s in self.live() if s.may_control(user)]

    def live(self) -> list[PlaySession]:
        return [s for s in self.sessions.values() if not s.ended.is_set()]

    def no_room_for(self, session: PlaySession, user: AuthUser) -> str:
        """Why this person may not open another viewer now ("" when they may): fair shares of sockets."""
        limits = self.services.settings.streaming
        if sum(s.open_viewers(user.user_id) for s in self.sessions.values()) >= limits.max_viewers_per_user:
            return (f"You have {limits.max_viewers_per_user} games open already, the most one person may; "
                    "close one of those tabs or screens first.")
        watching = session.open_viewers()
        if user.user_id != session.info.owner_id and watching >= limits.max_viewers_per_session:
            return f"{watching} people are watching this game already, the most it allows; try again later."
        return ""

    async def check_may_watch(self, user: AuthUser, session: PlaySession) -> None:
        """Anyone who may see the game may watch its sessions (children: granted games only, checked
        again on every call, so a grant taken back shuts the door at once)."""
        await self.check_may_play(user, session.info.game_id)

    async def joinable_by(self, user: AuthUser) -> list[PlaySession]:
        """Running sessions this user may watch and join: any game they may see, anyone's session."""
        out = []
        for session in self.live():
            try:
                await self.check_may_watch(user, session)
            except NotFound:
                continue
            out.append(session)
        return out

    async def check_may_play(self, user: AuthUser, game_id: int) -> None:
        if game_id != DEMO_GAME_ID and not await can_see_game(self.services.db, user, game_id):
            raise NotFound(f"there is no game {game_id}")  # children must not learn what exists

    # -- starting -----------------------------------------------------------------------------
    async def start_session(self, user: AuthUser, game_id: int, *, slot: int | None = None,
                            chroma: str = "444") -> tuple[PlaySession, bool]:
        """The user's running session of this game (rejoined), or a new one; ``(session, created)``."""
        await self.check_may_play(user, game_id)
        for session in self.sessions.values():
            if (session.info.owner_id, session.info.game_id) == (user.user_id, game_id) and not session.ended.is_set():
                if slot is not None:
                    raise Conflict("this game is already running; load the state from the player instead")
                return session, False
        key = (user.user_id, game_id)
        if key in self._starting:
            return await asyncio.shield(self._starting[key]), False
        told = await self._end_unwatched(user)
        self._check_room(user)
        future: asyncio.Future[PlaySession] = asyncio.get_running_loop().create_future()
        self._starting[key] = future
        try:
            session = await self._launch(user, game_id, slot, chroma, told)
            future.set_result(session)
            return session, True
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved here; joiners re-raise it
            raise
        finally:
            del self._starting[key]

    def _check_room(self, user: AuthUser) -> None:
        """Fair shares: the server's game slots, and at most a few of them for any one person."""
        limits = self.services.settings.emulation
        running = self.live()
        taken = len(running) + len(self._starting)
        mine = sorted((s for s in running if s.info.owner_id == user.user_id), key=lambda s: s.info.started_at)
        my_taken = len(mine) + sum(1 for owner_id, _ in self._starting if owner_id == user.user_id)
        if taken >= limits.max_sessions:
            message = f"{taken} games are running, the most this server allows; end one first"
        elif my_taken >= limits.max_sessions_per_user:
            message = f"You already have {my_taken} games running, the most one person may; end one first"
        else:
            return
        if not mine:  # none of the running games is this person's to end
            raise Conflict(message)
        oldest = mine[0].info
        raise Conflict(f"{message} (your oldest is {oldest.title})",
                       oldest_session={"token": oldest.token, "title": oldest.title})

    async def _end_unwatched(self, user: AuthUser) -> str | None:
        """Someone starting another game ends their games that nobody watches and nobody else plays,
        each with its Continue state; what happened is told to the player of the new game."""
        told = []
        now = time.monotonic()
        for session in list(self.sessions.values()):
            if session.info.owner_id != user.user_id or not session.forgotten(now):
                continue
            warning = await self.end(session, f"{user.name} started another game")
            told.append(f"{session.info.title} was not being watched, so it was {self._how_ended(warning)}.")
            self.away.record(user.user_id, session.info, "you started another game", warning)
        return " ".join(told) or None

    @staticmethod
    def _how_ended(warning: str | None) -> str:
        return f"ended ({warning})" if warning else "saved and ended (Continue picks it up)"

    async def _launch(self, user: AuthUser, game_id: int, slot: int | None, chroma: str,
                      told: str | None) -> PlaySession:
        title, platform, core, content = await self._resolve(game_id)
        video = video_settings(self.services.settings)
        if self.services.settings.streaming.chroma == "auto":
            video["chroma"] = "444" if chroma == "444" else "420"
        spec = await session_spec(self.services, user_id=user.user_id, game_id=game_id, core=core,
                                  content_path=str(content.path) if content else None, resume=slot is None,
                                  video=video)
        spec.content_sha1 = content.sha1 if content else None
        label = "Your Continue state"
        if slot is not None:
            spec.state_path = (await get_state(self.services.db, user.user_id, game_id, slot)).path  # NotFound: empty
            label = "Your Continue state" if slot == CONTINUE_SLOT else f"Your state in slot {slot}"
        worker, notice = await self._start_worker(spec, game_id, core, label)
        loaded = bool(spec.state_path) and bool((worker.info.get("state") or {}).get("loaded"))
        started_from = "new" if not loaded else "continue" if slot in (None, CONTINUE_SLOT) else f"slot {slot}"
        token = secrets.token_urlsafe(12)
        try:
            session_id = await history.insert_session(self.services.db, token=token, user_id=user.user_id,
                                                      game_id=game_id, core=worker.core_name,
                                                      started_from=started_from, device_id=user.device_id)
        except BaseException:
            await worker.stop()
            raise
        info = SessionInfo(id=session_id, token=token, owner_id=user.user_id, owner_name=user.name, game_id=game_id,
                           title=title, platform=platform, core=worker.core_name, ports=spec.ports,
                           started_from=started_from, notice=" ".join(filter(None, [told, notice])) or None)
        services = self.services
        session = PlaySession(info, worker, self.metrics.for_session(str(session_id)),
                              on_save_ram=lambda: record_flush(services.db, services.data, user.user_id, game_id,
                                                               worker.core_name))
        self.sessions[token] = session
        self.away.forget(user.user_id, game_id)
        session.start()
        log.info("session %s: %s started %s (%s) from %s", session_id, user.name, title, worker.core_name, started_from)
        return session

    async def _start_worker(self, spec: WorkerSpec, game_id: int, core: CoreInfo,
                            label: str) -> tuple[WorkerHandle, str | None]:
        """Start the worker; a saved state never keeps a player out of their game.

        A state that does not fit is skipped by the worker itself (it answers why); one that makes the core
        crash is skipped by starting again without it. Either way the game starts from the beginning, the
        state file is kept, and the returned notice says so. Content the core refuses marks the game not
        playable with the core's reason (cleared by the next start that works).
        """
        notice = None
        try:
            try:
                worker = await WorkerHandle.start(spec)
            except CoreCrashed as error:
                if not spec.state_path:
                    raise
                log.warning("game %s: the core crashed loading %s; starting without it: %s", game_id, spec.state_path,
                            error)
                spec.state_path = None
                notice = f"{label} made the core stop ({error})"
                worker = await WorkerHandle.start(spec)
        except (InvalidContent, CoreCrashed) as error:
            if game_id != DEMO_GAME_ID:
                await mark_refused(self.services.db, game_id, f"{core.name} {core.version}", str(error))
            raise
        state = worker.info.get("state") or {}
        if spec.state_path and not state.get("loaded"):
            notice = f"{label} could not be loaded: {state.get('reason') or 'the core refused it'}"
        if game_id != DEMO_GAME_ID:
            await clear_refusal(self.services.db, game_id)
        if notice:
            notice += ". Starting from the beginning; the state is kept."
        if aside := worker.info.get("save_ram_set_aside"):
            notice = " ".join(filter(None, [notice, (
                f"Your battery save could not be used ({aside['reason']}), so the game started with an empty "
                f"save; the file is kept on the server as {aside['kept_as']}.")]))
        return worker, notice

    async def _resolve(self, game_id: int) -> tuple[str, str, CoreInfo, ContentFile | None]:
        """Title, platform, core and content file of a game (the demo core for game 0)."""
        registry = self.services.cores
        if game_id == DEMO_GAME_ID:
            return "Treazr Demo", "demo", registry.core(DEMO_CORE_ID), None
        game = await self.services.db.aquery_one("SELECT id, title, platform FROM games WHERE id = ?", [game_id])
        if game is None:
            raise NotFound(f"there is no game {game_id}")
        try:
            content = await acontent_file(self.services.db, self.services.data.content, game_id)
        except NotFound:
            raise NotFound(f"the files of {game['title']} are missing; rescan the library or re-import them") from None
        core = registry.require_core(str(game["platform"]))
        return str(game["title"]), str(game["platform"]), core, content

    # -- ending -------------------------------------------------------------------------------
    async def end(self, session: PlaySession, reason: str, *, save_continue: bool = True) -> str | None:
        """Write the Continue state (when the worker still runs), stop the worker, close every viewer.

        Ending always ends: a Continue state or a history row that cannot be written (a full disk) is
        logged, and the returned warning says what was not saved; a session row that could not be closed
        is closed by housekeeping once the database can be written again.
        """
        if self.sessions.get(session.info.token) is not session:
            return None
        del self.sessions[session.info.token]
        session.end_reason = session.end_reason or reason  # before the worker stops: its pump must not say why
        info = session.info
        if session.point_task is not None:  # a save point in flight is written (or fails) before the end's own
            await asyncio.gather(session.point_task, return_exceptions=True)
        ended = await end_play(self.services.db, self.services.data, session.worker, user_id=info.owner_id,
                               game_id=info.game_id, save_continue=save_continue,
                               keep=keep_policy(self.services.settings))
        if ended.continue_state is not None:
            await self.record(session, [PlayEvent("state_saved", info.owner_id, None,
                                                  {"slot": CONTINUE_SLOT, "reason": reason})])
        warning = ended.warning
        session.broadcast(control("ended", reason=reason, warning=warning))
        await session.stop(reason)
        await self.record(session, session.close_viewers(reason))  # their handlers' leave() then logs nothing
        session.metrics.remove()
        await self._mark_ended(session.info.id, session.info.game_id, session.end_reason or reason)
        log.info("session %s ended: %s", session.info.id, reason)
        return warning

    async def _mark_ended(self, session_id: int, game_id: int, reason: str) -> None:
        try:
            await history.mark_ended(self.services.db, session_id, game_id, reason)
        except (sqlite3.Error, OSError) as error:
            log.error("session %s: could not record its end (%s); will try again", session_id, why(error))
            self._unrecorded[session_id] = (game_id, reason)
        else:
            self._unrecorded.pop(session_id, None)

    def end_soon(self, session: PlaySession, reason: str) -> None:
        """End a session from inside one of its own viewers' handlers (which ending closes)."""
        task = asyncio.create_task(self._end_quietly(session, reason))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _end_quietly(self, session: PlaySession, reason: str) -> None:
        await self.end(session, reason)

    # -- viewers ------------------------------------------------------------------------------
    async def join(self, session: PlaySession, viewer: Viewer) -> None:
        await self.record(session, session.join(viewer))

    async def leave(self, session: PlaySession, viewer: Viewer) -> None:
        await self.record(session, session.leave(viewer))

    async def record(self, session: PlaySession, events: list[PlayEvent]) -> None:
        """Write a session's events to the play history; a database that cannot be written (a full disk)
        costs the rows, never the game. A player leaving or handing the game over makes a save point."""
        if any(event.kind in ("left", "handed_off") for event in events):
            self.save_point_soon(session, "a player left" if events[-1].kind == "left" else "the game moved")
        for event in events:
            try:
                await history.log_event(self.services.db, session.info.id, event.kind, user_id=event.user_id,
                                        game_id=session.info.game_id, device_id=event.device_id, **event.detail)
            except (sqlite3.Error, OSError) as error:
                log.error("session %s: could not record %s: %s", session.info.id, event.kind, why(error))

    # -- save points ----------------------------------------------------------------------------
    def save_point_soon(self, session: PlaySession, reason: str) -> None:
        """Write a save point (the Continue state; the one before is kept) unless one is being written, the
        game has not moved since the last, or it is ending."""
        if (session.ended.is_set() or session.point_task is not None or not session.worker.running
                or self.sessions.get(session.info.token) is not session or session.played_since_point() == 0):
            return
        session.point_task = asyncio.create_task(self._save_point(session, reason),
                                                 name=f"treazr-save-point-{session.info.id}")

    async def _save_point(self, session: PlaySession, reason: str) -> None:
        info = session.info
        frames = session.frames_seen
        try:
            await save_state(self.services.db, self.services.data, session.worker, info.owner_id, info.game_id,
                             CONTINUE_SLOT, origin="save_point", keep=keep_policy(self.services.settings))
        except (TreazrError, sqlite3.Error, OSError) as error:
            if not session.ended.is_set() and session.worker.running:
                log.warning("session %s: could not write a save point: %s", info.id, why(error))
                session.broadcast(control("save_status", ok=False,
                                          message=f"Your progress could not be saved: {why(error)}"))
        else:
            session.point_frames = frames
            await self.record(session, [PlayEvent("state_saved", info.owner_id, None,
                                                  {"slot": CONTINUE_SLOT, "reason": f"save point: {reason}"})])
        finally:
            session.point_task = None

    # -- housekeeping -------------------------------------------------------------------------
    async def _housekeep(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            try:
                await self.housekeep_once(time.monotonic())
            except Exception:  # housekeeping must survive one bad session
                log.exception("play housekeeping failed")

    async def housekeep_once(self, now: float) -> None:
        idle_s = self.services.settings.emulation.idle_timeout_min * 60
        for session_id, (game_id, reason) in list(self._unrecorded.items()):
            await self._mark_ended(session_id, game_id, reason)
        for session in list(self.sessions.values()):
            if session.ended.is_set():
                await self.end(session, session.end_reason or "the game stopped", save_continue=False)
                continue
            if session.unwatched_for(now) >= idle_s:
                warning = await self.end(session, "nobody was watching")
                self.away.record(session.info.owner_id, session.info,
                                 f"nobody watched it for {idle_s / 60:g} minutes", warning)
                continue
            session.sleep_if_never_opened(now)
            if session.played_since_point() >= self.services.settings.emulation.save_point_min * 60:
                self.save_point_soon(session, "a few minutes of play")
            await self.record(session, session.sweep_viewers(now))
        await recheck_viewers(self)  # last: a slow read here never holds up the idle checks above

    def _revoked_threadsafe(self, sign_in_sessions: set[int]) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._revoked, sign_in_sessions)

    def _revoked(self, sign_in_sessions: set[int]) -> None:
        for session in list(self.sessions.values()):
            session.sign_out(sign_in_sessions)
