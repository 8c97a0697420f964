"""Fuzzed worker-protocol frames: garbage from a broken or hostile peer is one ProtocolError, never
another exception, whatever the type byte, length or payload (Hypothesis)."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from treazr.emulation.protocol import ProtocolError, decode_frame, split_frame

FUZZ = settings(max_examples=300, deadline=None, database=None, derandomize=True)


@FUZZ
@given(kind=st.integers(min_value=0, max_value=255), payload=st.binary(max_size=256))
def test_any_payload_of_any_type(kind: int, payload: bytes) -> None:
    try:
        decode_frame(kind, payload)
    except ProtocolError as error:
        assert str(error)


@FUZZ
@given(length=st.integers(min_value=0, max_value=2**32 - 1), rest=st.binary(max_size=64))
def test_any_frame_length(length: int, rest: bytes) -> None:
    try:
        _kind, payload = split_frame(struct.pack(">I", length) + rest)
    except ProtocolError as error:
        assert str(error)
    else:
        assert len(payload) + 1 == length
