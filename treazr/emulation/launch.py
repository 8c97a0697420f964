"""Building a :class:`~treazr.emulation.worker.WorkerSpec` for one player's session of one game.

The session manager (``treazr.streaming``) calls :func:`session_spec` and hands the result to
``WorkerHandle.start``: it places the save RAM file, picks the Continue state when this core version
can load it, and fills the limits and encoder settings from the settings.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from treazr.emulation.saves import record_flush, save_ram_path
from treazr.emulation.states import CONTINUE_SLOT, StateInfo, continue_state_path, save_state
from treazr.emulation.worker import WorkerHandle, WorkerSpec
from treazr.errors import CoreError
from treazr.settings import Settings

if TYPE_CHECKING:
    from treazr.emulation.registry import CoreInfo
    from treazr.services import Services

__all__ = ["end_session", "session_spec", "video_settings"]

log = logging.getLogger("treazr.sessions")


def video_settings(settings: Settings) -> dict[str, Any]:
    """Encoder settings for ``WorkerSpec.video`` from ``[streaming]``."""
    streaming = settings.streaming
    return {"chroma": "420" if streaming.chroma == "420" else "444", "bitrate_kbps": streaming.video_bitrate_kbps,
            "audio_bitrate_kbps": streaming.audio_bitrate_kbps}


def session_spec(services: Services, *, user_id: int, game_id: int, core: CoreInfo, content_path: str | None,
                 resume: bool = True, video: dict[str, Any] | None = None, options: dict[str, str] | None = None,
                 ports: int = 2) -> WorkerSpec:
    """The spec of a play session: ``video=None`` streams raw frames (tests); pass
    ``video_settings(settings)`` for H.264 + Opus."""
    emulation = services.settings.emulation
    registry = services.cores
    state = continue_state_path(services, user_id, game_id) if resume else None
    registry.bios_dir.mkdir(parents=True, exist_ok=True)
    return WorkerSpec(core_path=core.path, content_path=content_path, system_dir=str(registry.bios_dir),
                      save_ram_path=str(save_ram_path(services.data, user_id, game_id)), state_path=state,
                      options=dict(options or {}), realtime=True, video=video, ports=ports,
                      saveram_flush_s=emulation.saveram_flush_s, hang_timeout_s=emulation.hang_timeout_s,
                      save_dir=str(services.data.saves / str(user_id)), temp_dir=str(services.data.tmp))


async def end_session(services: Services, handle: WorkerHandle, *, user_id: int, game_id: int,
                      save_continue: bool = True) -> StateInfo | None:
    """End a play session the careful way: write the Continue state (when the core can), stop the
    worker (it flushes save RAM as it exits) and record the save. Returns the Continue state."""
    state = None
    if save_continue and handle.running:
        try:
            state = await save_state(services, handle, user_id, game_id, CONTINUE_SLOT)
        except CoreError as error:  # a core without save states, or one that died just now
            log.warning("no Continue state for game %s: %s", game_id, error)
    await handle.stop()
    await asyncio.to_thread(record_flush, services, user_id, game_id, handle.core_name)
    return state
