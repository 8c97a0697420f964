from __future__ import annotations

import pytest
from nacl.signing import SigningKey

from treazr.auth.keys import (
    b64url,
    b64url_decode,
    parse_public_key,
    parse_signature,
    rfc3339,
    signed_message,
    token_hash,
    verify_signature,
)
from treazr.errors import InvalidInput


def test_base64url_round_trips_and_accepts_padding_or_none() -> None:
    for size in (1, 2, 3, 31, 32, 64):
        raw = bytes(range(size))
        text = b64url(raw)
        assert "=" not in text and "+" not in text and "/" not in text
        assert b64url_decode(text, "x") == raw
        assert b64url_decode(text + "=" * (-len(text) % 4), "x") == raw


@pytest.mark.parametrize("bad", ["***", "a", 12, None, "A" * 600])
def test_bad_base64url_is_one_clear_invalid_input(bad: object) -> None:
    with pytest.raises(InvalidInput):
        b64url_decode(bad, "public_key")  # type: ignore[arg-type]


def test_key_and_signature_lengths_are_enforced() -> None:
    with pytest.raises(InvalidInput, match="32 bytes"):
        parse_public_key(b64url(b"\x01" * 31))
    with pytest.raises(InvalidInput, match="64 bytes"):
        parse_signature(b64url(b"\x01" * 65))
    assert parse_public_key(b64url(b"\x02" * 32)) == b"\x02" * 32


def test_signature_verifies_only_the_exact_message_and_key() -> None:
    key = SigningKey.generate()
    message = signed_message("https://treazr.home:8443", "cid", "nonce")
    assert message == b"treazr-auth-v1|https://treazr.home:8443|cid|nonce"
    signature = key.sign(message).signature
    public = bytes(key.verify_key)
    assert verify_signature(public, message, signature)
    assert not verify_signature(public, message + b"x", signature)
    assert not verify_signature(bytes(SigningKey.generate().verify_key), message, signature)
    assert not verify_signature(public, message, bytes(64))
    # 32 bytes that are not a point on the curve must fail, not raise
    assert not verify_signature(b"\xff" * 32, message, signature)


def test_token_hash_and_timestamps() -> None:
    assert token_hash("abc") == token_hash("abc") != token_hash("abd")
    assert len(token_hash("abc")) == 32
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
