from __future__ import annotations

from nacl.signing import SigningKey

from treazr.auth.challenges import ChallengeStore
from treazr.auth.keys import signed_message

ORIGIN = "https://192.168.1.20:8443"


def _sign(key: SigningKey, challenge_id: str, nonce: str, origin: str = ORIGIN) -> bytes:
    return key.sign(signed_message(origin, challenge_id, nonce)).signature


def test_a_challenge_verifies_once_for_its_own_key_and_origin() -> None:
    store = ChallengeStore(ttl_s=60)
    key = SigningKey.generate()
    public = bytes(key.verify_key)
    challenge = store.issue(public, now=1000)
    signature = _sign(key, challenge.challenge_id, challenge.nonce)
    assert store.consume(challenge.challenge_id, public, signature, ORIGIN, now=1001)
    assert not store.consume(challenge.challenge_id, public, signature, ORIGIN, now=1002)  # replay


def test_expired_wrong_key_wrong_origin_and_altered_all_fail_and_use_up_the_challenge() -> None:
    store = ChallengeStore(ttl_s=60)
    key, other = SigningKey.generate(), SigningKey.generate()
    public = bytes(key.verify_key)

    expired = store.issue(public, now=1000)
    assert not store.consume(expired.challenge_id, public, _sign(key, expired.challenge_id, expired.nonce),
                             ORIGIN, now=1060)

    bound = store.issue(public, now=1000)  # asked for by `key`, answered by `other`
    assert not store.consume(bound.challenge_id, bytes(other.verify_key),
                             _sign(other, bound.challenge_id, bound.nonce), ORIGIN, now=1001)

    wrong_origin = store.issue(public, now=1000)
    signature = _sign(key, wrong_origin.challenge_id, wrong_origin.nonce, "https://evil.example")
    assert not store.consume(wrong_origin.challenge_id, public, signature, ORIGIN, now=1001)
    # the failed attempt spent it: even the right signature is refused now
    assert not store.consume(wrong_origin.challenge_id, public,
                             _sign(key, wrong_origin.challenge_id, wrong_origin.nonce), ORIGIN, now=1001)

    altered = store.issue(public, now=1000)
    signature = bytearray(_sign(key, altered.challenge_id, altered.nonce))
    signature[0] ^= 1
    assert not store.consume(altered.challenge_id, public, bytes(signature), ORIGIN, now=1001)
    assert len(store) == 0


def test_pending_challenges_stay_bounded() -> None:
    store = ChallengeStore(ttl_s=60, max_pending=10)
    for i in range(25):
        store.issue(bytes([i]) * 32, now=1000)
    assert len(store) == 10
    payload = store.issue(b"\x01" * 32, now=1000).payload()
    assert set(payload) == {"challenge_id", "nonce", "expires_at"}
    assert payload["expires_at"] == "1970-01-01T00:17:40Z"
