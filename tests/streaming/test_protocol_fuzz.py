"""Fuzzed WebSocket messages: any bytes, any text and any JSON shaped like a command are either accepted
(with their fields checked) or refused with one Malformed reason, never another exception (Hypothesis)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from treazr.streaming.protocol import CLIENT_COMMANDS, Malformed, parse_client_text, parse_hello, parse_input

FUZZ = settings(max_examples=300, deadline=None, database=None, derandomize=True)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
commands = st.fixed_dictionaries(
    {"type": st.sampled_from([*sorted(CLIENT_COMMANDS), "hello", "nope"])},
    optional={key: json_values for key in ("slot", "port", "ports", "user_id", "text", "t", "protocol", "device")})


@FUZZ
@given(st.binary(max_size=64))
def test_binary_input_messages(data: bytes) -> None:
    try:
        message = parse_input(data)
    except Malformed as error:
        assert str(error)
    else:
        assert 0 <= message.port <= 255 and len(message.axes) <= 4


@FUZZ
@given(st.one_of(st.text(max_size=200), commands.map(json.dumps)))
def test_text_commands_and_hellos(text: str) -> None:
    for parse in (parse_client_text, parse_hello):
        try:
            parsed = parse(text)
        except Malformed as error:
            assert str(error)
        else:
            assert parsed is not None
    try:
        command = parse_client_text(text)
    except Malformed:
        return
    if command["type"] in ("save_state", "load_state"):
        assert command["slot"] in range(11)
    if command["type"] == "swap_ports":
        assert all(isinstance(port, int) for port in command["ports"])
