"""Fuzzed headers: random bodies behind every platform's magic, truncations and odd names only ever give
a Header or one InvalidContent reason, never another exception (Hypothesis, a few hundred cases)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from treazr.errors import InvalidContent
from treazr.library.headers import _GB_LOGO, HEAD_SIZE, Header, identify
from treazr.library.platforms import PLATFORMS

FUZZ = settings(max_examples=300, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


def _with(magic: bytes, at: int, body: bytes) -> bytes:
    head = bytearray(body.ljust(at + len(magic), b"\0"))
    head[at:at + len(magic)] = magic
    return bytes(head)


MAGICS = [(b"NES\x1a", 0), (b"\x80\x37\x12\x40", 0), (b"\x37\x80\x40\x12", 0), (_GB_LOGO, 0x104),
          (b"SEGA", 0x100), (b"TMR SEGA", 0x7FF0), (b"TMR SEGA", 0x1FF0), (b"\x96", 0xB2)]

heads = st.one_of(
    st.binary(max_size=4096),
    st.tuples(st.sampled_from(MAGICS), st.binary(max_size=0x8100)).map(lambda m: _with(m[0][0], m[0][1], m[1])),
)
names = st.one_of(st.text(max_size=40), st.sampled_from(["a.nes", "b.sfc", "c.gb", "d.gba", "e.md", "f.sms", "g.pce",
                                                          "h.z64", "i.a26", ".nes", "nes", "x.NES", "y.bin"]))


@FUZZ
@given(name=names, head=heads, cut=st.integers(min_value=0, max_value=64),
       folder=st.one_of(st.none(), st.sampled_from(sorted(PLATFORMS))),
       forced=st.one_of(st.none(), st.sampled_from([*sorted(PLATFORMS), "nope"])))
def test_identify_gives_a_header_or_one_clear_reason(name: str, head: bytes, cut: int, folder: str | None,
                                                     forced: str | None) -> None:
    truncated = head[:max(len(head) - cut, 0)]
    bigger = truncated.ljust(HEAD_SIZE, b"\xff")  # the scanner reads the first HEAD_SIZE bytes of a bigger file
    for size, start in ((len(truncated), truncated), (HEAD_SIZE + 1 + cut * 4096, bigger)):
        try:
            header = identify(name, size, start, folder=folder, forced=forced)
        except InvalidContent as error:
            assert str(error)  # a reason the person can read
        else:
            assert isinstance(header, Header) and header.platform in PLATFORMS
