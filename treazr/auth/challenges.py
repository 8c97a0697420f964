"""Single-use sign-in challenges, held in memory: bound to the key that asked, short-lived.

Every key gets a challenge, known or not, so the answer never tells whether an account exists; an
unknown key simply never verifies. Challenges die with the process, which only means a sign-in that
was in flight during a restart has to click again.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

from treazr.auth.keys import b64url, rfc3339, signed_message, verify_signature

__all__ = ["Challenge", "ChallengeStore"]


@dataclass(frozen=True)
class Challenge:
    challenge_id: str
    nonce: str
    public_key: bytes
    expires_at: float

    def payload(self) -> dict[str, str]:
        return {"challenge_id": self.challenge_id, "nonce": self.nonce, "expires_at": rfc3339(self.expires_at)}


class ChallengeStore:
    """Issues challenges and consumes them exactly once."""

    def __init__(self, ttl_s: float, max_pending: int = 20_000) -> None:
        self.ttl_s = ttl_s
        self.max_pending = max_pending
        self._pending: dict[str, Challenge] = {}
        self._lock = threading.Lock()

    def issue(self, public_key: bytes, now: float | None = None) -> Challenge:
        now = time.time() if now is None else now
        challenge = Challenge(b64url(secrets.token_bytes(16)), b64url(secrets.token_bytes(32)), public_key,
                              now + self.ttl_s)
        with self._lock:
            if len(self._pending) >= self.max_pending:
                self._prune(now)
            if len(self._pending) >= self.max_pending:
                # Rate limits make this unreachable in practice; dropping the oldest keeps memory bounded.
                self._pending.pop(next(iter(self._pending)))
            self._pending[challenge.challenge_id] = challenge
        return challenge

    def consume(self, challenge_id: str, public_key: bytes, signature: bytes, origin: str,
                now: float | None = None) -> bool:
        """True when the challenge exists, is fresh, belongs to this key and the signature is right.

        The challenge is used up by the attempt whatever the outcome, so nothing can be retried or replayed.
        """
        now = time.time() if now is None else now
        with self._lock:
            challenge = self._pending.pop(challenge_id, None) if isinstance(challenge_id, str) else None
        if challenge is None or challenge.expires_at <= now:
            return False
        if not secrets.compare_digest(challenge.public_key, public_key):
            return False
        message = signed_message(origin, challenge.challenge_id, challenge.nonce)
        return verify_signature(public_key, message, signature)

    def _prune(self, now: float) -> None:
        for key in [k for k, c in self._pending.items() if c.expires_at <= now]:
            del self._pending[key]

    def __len__(self) -> int:
        return len(self._pending)
