"""Playing together: who holds which controller port, and the chat's limits.

Ports belong to *people*, not to sockets: a page reload, a reconnect or a hand-off to another device
keeps them. The session's owner starts with every port; the owner (or an admin) assigns, swaps and
frees them. A person who leaves keeps their ports for :data:`PORT_GRACE_S`; after that, or after
:data:`PLAYER_IDLE_S` without input, their ports are freed (the owner's never are: it is their game).
Everyone else watches: input from a viewer without the port it names is ignored and counted.
"""

from __future__ import annotations

import time
import unicodedata
from collections import deque
from dataclasses import dataclass, field

from treazr.errors import InvalidInput, PermissionDenied

__all__ = [
    "CHAT_BURST",
    "CHAT_HISTORY",
    "CHAT_MAX_CHARS",
    "CHAT_REFILL_S",
    "PLAYER_IDLE_S",
    "PORT_GRACE_S",
    "SPECTATOR_IDLE_S",
    "ChatLimiter",
    "PortChange",
    "PortTable",
    "clean_chat",
]

PORT_GRACE_S = 60.0  # a player who left keeps their ports this long (a reload, a reconnect, a new device)
PLAYER_IDLE_S = 300.0  # a (non-owner) player who sent no input this long gives their ports back
SPECTATOR_IDLE_S = 1800.0  # a viewer who did nothing but watch (no input, chat or command) this long is closed
CHAT_MAX_CHARS = 200
CHAT_BURST = 5  # messages at once...
CHAT_REFILL_S = 2.0  # ...then one more every this many seconds
CHAT_HISTORY = 50  # messages a newcomer is shown


@dataclass(frozen=True)
class PortChange:
    """One port that changed hands (``None``: nobody holds it)."""

    port: int
    before: int | None
    after: int | None


@dataclass
class PortTable:
    """Port -> the user holding it, plus when each absent holder left (for the grace period)."""

    count: int
    owner_id: int
    holders: list[int | None] = field(default_factory=list)
    away_since: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.holders:
            self.holders = [self.owner_id] * self.count

    def of(self, user_id: int) -> list[int]:
        return [port for port, holder in enumerate(self.holders) if holder == user_id]

    def _check(self, port: int) -> None:
        if not 0 <= port < self.count:
            raise InvalidInput(f"port {port + 1} does not exist; this game has {self.count}")

    def assign(self, port: int, user_id: int | None) -> list[PortChange]:
        self._check(port)
        before = self.holders[port]
        if before == user_id:
            return []
        self.holders[port] = user_id
        return [PortChange(port, before, user_id)]

    def swap(self, first: int, second: int) -> list[PortChange]:
        self._check(first)
        self._check(second)
        a, b = self.holders[first], self.holders[second]
        if a == b:
            return []
        self.holders[first], self.holders[second] = b, a
        return [PortChange(first, a, b), PortChange(second, b, a)]

    def release(self, port: int, user_id: int, may_control: bool) -> list[PortChange]:
        """Free a port: its holder may give it up, the owner or an admin may free any."""
        self._check(port)
        if not may_control and self.holders[port] != user_id:
            raise PermissionDenied("only its holder or the game's owner can free this port")
        return self.assign(port, None)

    # -- presence -------------------------------------------------------------------------------
    def arrived(self, user_id: int) -> None:
        self.away_since.pop(user_id, None)

    def left(self, user_id: int, now: float) -> None:
        if self.of(user_id):
            self.away_since.setdefault(user_id, now)

    def expire(self, now: float, idle_players: set[int]) -> list[PortChange]:
        """Free the ports of people away longer than the grace period, and of idle players."""
        gone = {user for user, since in self.away_since.items() if now - since >= PORT_GRACE_S}
        changes: list[PortChange] = []
        for user in (gone | idle_players) - {self.owner_id}:
            for port in self.of(user):
                changes += self.assign(port, None)
            self.away_since.pop(user, None)
        for user in gone & {self.owner_id}:
            self.away_since.pop(user, None)
        return changes


def clean_chat(text: object) -> str:
    """A chat message as it will be shown: control characters out, spaces collapsed, length checked."""
    if not isinstance(text, str):
        raise InvalidInput("a chat message must be text")
    kept = "".join(" " if unicodedata.category(c).startswith("C") else c for c in text)
    message = " ".join(kept.split())
    if not message:
        raise InvalidInput("a chat message cannot be empty")
    if len(message) > CHAT_MAX_CHARS:
        raise InvalidInput(f"a chat message can be at most {CHAT_MAX_CHARS} characters ({len(message)} sent)")
    return message


class ChatLimiter:
    """A token bucket per person: :data:`CHAT_BURST` messages at once, one more every :data:`CHAT_REFILL_S`."""

    def __init__(self) -> None:
        self._buckets: dict[int, tuple[float, float]] = {}  # user -> (tokens, at)
        self.history: deque[dict[str, object]] = deque(maxlen=CHAT_HISTORY)

    def allow(self, user_id: int, now: float | None = None) -> float:
        """0 when the person may send now, else the seconds until they may."""
        now = time.monotonic() if now is None else now
        tokens, at = self._buckets.get(user_id, (float(CHAT_BURST), now))
        tokens = min(float(CHAT_BURST), tokens + (now - at) / CHAT_REFILL_S)
        if tokens < 1.0:
            self._buckets[user_id] = (tokens, now)
            return (1.0 - tokens) * CHAT_REFILL_S
        self._buckets[user_id] = (tokens - 1.0, now)
        return 0.0
