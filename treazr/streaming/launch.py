"""Building a :class:`~treazr.emulation.worker.WorkerSpec` for one player's session of one game.

The session manager calls :func:`session_spec` and hands the result to ``WorkerHandle.start``: it places
the save RAM file, picks the Continue state when there is one (the worker decides whether it fits), and
fills the limits and encoder settings from the settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from treazr.emulation.registry import core_options
from treazr.emulation.spec import WorkerSpec
from treazr.saves.save_ram import save_ram_path
from treazr.saves.states import continue_state_path
from treazr.saves.versions import Keep
from treazr.settings import Settings

if TYPE_CHECKING:
    from treazr.emulation.registry import CoreInfo
    from treazr.services import Services

__all__ = ["keep_policy", "session_spec", "video_settings"]


def keep_policy(settings: Settings) -> Keep:
    """How many earlier versions of each state are kept, and how long (``[emulation]``)."""
    emulation = settings.emulation
    return Keep(save_points=emulation.save_points_kept, per_slot=emulation.state_versions_kept,
                max_age_days=emulation.state_versions_days)


def video_settings(settings: Settings) -> dict[str, Any]:
    """Encoder settings for ``WorkerSpec.video`` from ``[streaming]``."""
    streaming = settings.streaming
    return {"chroma": "420" if streaming.chroma == "420" else "444", "bitrate_kbps": streaming.video_bitrate_kbps,
            "audio_bitrate_kbps": streaming.audio_bitrate_kbps}


async def session_spec(services: Services, *, user_id: int, game_id: int, core: CoreInfo, content_path: str | None,
                       resume: bool = True, video: dict[str, Any] | None = None,
                       options: dict[str, str] | None = None, ports: int = 2) -> WorkerSpec:
    """The spec of a play session: ``video=None`` streams raw frames (tests); pass
    ``video_settings(settings)`` for H.264 + Opus. The core runs with the options its manifests set, then
    ``options``."""
    emulation = services.settings.emulation
    state = await continue_state_path(services.db, user_id, game_id) if resume else None
    bios_dir = services.cores.bios_dir
    bios_dir.mkdir(parents=True, exist_ok=True)
    return WorkerSpec(core_path=core.path, content_path=content_path, system_dir=str(bios_dir),
                      save_ram_path=str(save_ram_path(services.data, user_id, game_id)), state_path=state,
                      options={**core_options(services.cores.manifests, core.id), **(options or {})},
                      realtime=True, video=video, ports=ports, saveram_flush_s=emulation.saveram_flush_s,
                      hang_timeout_s=emulation.hang_timeout_s, save_dir=str(services.data.saves / str(user_id)),
                      temp_dir=str(services.data.tmp))
