"""Ed25519 public keys, signatures and the exact bytes a browser signs, plus small shared helpers.

The signed message is the UTF-8 of ``treazr-auth-v1|<origin>|<challenge_id>|<nonce>``, where origin
is what the browser calls ``location.origin`` and nonce is the base64url text the server sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from datetime import UTC, datetime

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from treazr.errors import InvalidInput

__all__ = [
    "PROTOCOL",
    "b64url",
    "b64url_decode",
    "new_token",
    "parse_public_key",
    "parse_signature",
    "rfc3339",
    "signed_message",
    "token_hash",
    "verify_signature",
]

PROTOCOL = "treazr-auth-v1"


def b64url(data: bytes) -> str:
    """base64url without padding, as the protocol sends it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, what: str) -> bytes:
    """Decode base64url with or without padding; anything else is one clear InvalidInput."""
    if not isinstance(text, str) or len(text) > 512:
        raise InvalidInput(f"{what} must be base64url text")
    stripped = text.rstrip("=")
    try:
        return base64.b64decode(stripped + "=" * (-len(stripped) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{what} is not valid base64url") from None


def parse_public_key(text: str) -> bytes:
    raw = b64url_decode(text, "public_key")
    if len(raw) != 32:
        raise InvalidInput("public_key must be 32 bytes (an Ed25519 public key)")
    return raw


def parse_signature(text: str) -> bytes:
    raw = b64url_decode(text, "signature")
    if len(raw) != 64:
        raise InvalidInput("signature must be 64 bytes (an Ed25519 signature)")
    return raw


def signed_message(origin: str, challenge_id: str, nonce: str) -> bytes:
    return f"{PROTOCOL}|{origin}|{challenge_id}|{nonce}".encode()


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True only for a valid Ed25519 signature of ``message`` by ``public_key``."""
    try:
        VerifyKey(public_key).verify(message, signature)
    except (BadSignatureError, ValueError, TypeError):
        # ValueError/TypeError: a 32-byte string that is not a valid curve point
        return False
    return True


def new_token() -> tuple[str, bytes]:
    """A fresh 32-byte secret as base64url text, and the digest that is stored instead of it."""
    token = b64url(secrets.token_bytes(32))
    return token, token_hash(token)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii", "replace")).digest()


def rfc3339(timestamp: float) -> str:
    """Unix seconds -> ``2026-11-22T02:31:00Z`` (the form stored in the auth tables)."""
    return datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
