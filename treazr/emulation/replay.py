"""Input recording and replay: what each port held on each frame, from power-on or from a state.

Cores are deterministic, so the input alone reproduces a session. A recording stores only changes:
``events`` is a list of ``[frame, port, mask]`` or ``[frame, port, mask, [axes]]`` meaning "from
``frame`` on (counted from the start of the recording, 0 = the first frame run), ``port`` holds
``mask``" (RETRO_DEVICE_ID_JOYPAD_* bits) "and the analog ``axes``" (left x, left y, right x, right y,
-32768..32767; absent means centred). The file is JSON::

    {"format": "treazr-input", "version": 1, "frames": 600, "core": "mGBA", "core_version": "0.10.1",
     "start": "power-on" | "state", "state": "<base64 of the state, when start is state>",
     "events": [[0, 0, 16], [30, 0, 0], [42, 0, 0, [0, 32767]]]}

Hand-written input files may give only ``events`` (and ``frames``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from treazr.atomic import atomic_write
from treazr.errors import InvalidContent

__all__ = ["FORMAT", "InputEvent", "InputHost", "InputLog", "InputRecorder", "play"]

FORMAT = "treazr-input"
VERSION = 1
MAX_PORTS = 8


class InputHost(Protocol):
    """What replay needs of a core host (``CoreHost`` has it)."""

    def set_input(self, port: int, buttons_mask: int, axes: Sequence[int] = ()) -> None: ...
    def run_frames(self, count: int) -> None: ...


class InputEvent(NamedTuple):
    frame: int
    port: int
    mask: int
    axes: tuple[int, ...] = ()  # trailing centred axes are dropped: () is a stick at rest


def _event(frame: int, port: int, mask: int, axes: Sequence[int] = ()) -> InputEvent:
    held = list(axes[:4])
    while held and held[-1] == 0:
        held.pop()
    return InputEvent(frame, port, mask, tuple(held))


@dataclass
class InputLog:
    events: list[InputEvent] = field(default_factory=list)
    frames: int = 0
    core: str = ""
    core_version: str = ""
    state: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "format": FORMAT, "version": VERSION, "frames": self.frames, "core": self.core,
            "core_version": self.core_version, "start": "state" if self.state is not None else "power-on",
            "events": [[*event[:3], list(event.axes)] if event.axes else list(event[:3]) for event in self.events]}
        if self.state is not None:
            payload["state"] = base64.b64encode(self.state).decode("ascii")
        return payload

    def save(self, path: Path) -> None:
        atomic_write(path, json.dumps(self.to_json(), separators=(",", ":")).encode())

    @classmethod
    def from_json(cls, payload: Any, name: str = "input") -> InputLog:
        if not isinstance(payload, dict) or payload.get("format", FORMAT) != FORMAT:
            raise InvalidContent(f"{name} is not a Treazr input recording")
        if int(payload.get("version", VERSION)) > VERSION:
            raise InvalidContent(f"{name} was recorded by a newer Treazr (version {payload['version']})")
        try:
            events = sorted(_event(int(f), int(p), int(m), [int(a) for a in rest[0]] if rest else ())
                            for f, p, m, *rest in payload.get("events", []))
            state = base64.b64decode(payload["state"], validate=True) if payload.get("state") else None
            frames = int(payload.get("frames", 0))
        except (TypeError, ValueError, binascii.Error) as error:
            raise InvalidContent(f"{name} has malformed events or state: {error}") from error
        for frame, port, mask, axes in events:
            if (frame < 0 or not 0 <= port < MAX_PORTS or not 0 <= mask <= 0xFFFF
                    or not all(-0x8000 <= axis <= 0x7FFF for axis in axes)):
                raise InvalidContent(f"{name} has an impossible event [{frame}, {port}, {mask}, {list(axes)}]")
        return cls(events=events, frames=max(frames, 0), core=str(payload.get("core", "")),
                   core_version=str(payload.get("core_version", "")), state=state)

    @classmethod
    def load(cls, path: Path) -> InputLog:
        try:
            payload = json.loads(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InvalidContent(f"cannot read the input file {path.name}: {error}") from error
        return cls.from_json(payload, path.name)


class InputRecorder:
    """Collects input changes as they are applied; frames count from when the recorder started."""

    def __init__(self, core: str = "", core_version: str = "", state: bytes | None = None) -> None:
        self.log = InputLog(core=core, core_version=core_version, state=state)
        self._held: dict[int, tuple[int, tuple[int, ...]]] = {}

    def set_input(self, frame: int, port: int, mask: int, axes: Sequence[int] = ()) -> None:
        """Note that ``port`` holds ``mask`` and ``axes`` from ``frame`` on (only a change is stored)."""
        event = _event(frame, port, mask, axes)
        if self._held.get(port, (0, ())) == (mask, event.axes):
            return
        self._held[port] = (mask, event.axes)
        events = self.log.events
        # a second change within one frame replaces the first: only what the frame saw matters
        if events and events[-1].frame == frame and events[-1].port == port:
            events.pop()
        events.append(event)

    def finish(self, frames: int) -> InputLog:
        self.log.frames = frames
        return self.log


def play(host: InputHost, log: InputLog, frames: int | None = None,
         on_frame: Callable[[int], None] | None = None) -> int:
    """Run ``frames`` frames (default: the recording's length) applying the recorded input.

    Without ``on_frame`` the frames between input changes run as one native batch. The caller
    loads ``log.state`` first when the recording started from a state. Returns the frames run.
    """
    total = log.frames if frames is None else frames
    events = [e for e in log.events if e[0] < total]
    done, index = 0, 0
    while done < total:
        while index < len(events) and events[index].frame <= done:
            host.set_input(events[index].port, events[index].mask, events[index].axes)
            index += 1
        until = events[index][0] if index < len(events) else total
        if on_frame is None:
            host.run_frames(until - done)
            done = until
        else:
            host.run_frames(1)
            on_frame(done)
            done += 1
    return done
