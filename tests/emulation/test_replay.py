"""Input recording and replay: a recording reproduces the same frames, from power-on or from a state."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.emulation.subprocesses import treazr, treazr_run
from treazr.emulation.replay import InputEvent as E
from treazr.emulation.replay import InputLog, InputRecorder, play
from treazr.errors import InvalidContent

UP, DOWN, START, A, RIGHT = 1 << 4, 1 << 5, 1 << 3, 1 << 8, 1 << 7


class _Counting:
    """Notes what a replay asks of a host (set_input and how many frames per native call)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int] | tuple[str, int, int, tuple[int, ...]]] = []

    def set_input(self, port: int, buttons_mask: int, axes: Sequence[int] = ()) -> None:
        self.calls.append(("input", port, buttons_mask, *([tuple(axes)] if axes else [])))

    def run_frames(self, count: int) -> None:
        self.calls.append(("run", count, 0))


def test_recorder_keeps_only_changes_and_the_last_change_within_a_frame() -> None:
    recorder = InputRecorder("Core", "1.0")
    for frame, port, mask in [(0, 0, 0), (3, 0, UP), (3, 0, DOWN), (5, 1, A), (6, 1, A), (9, 0, 0)]:
        recorder.set_input(frame, port, mask)
    log = recorder.finish(12)
    assert log.events == [E(3, 0, DOWN), E(5, 1, A), E(9, 0, 0)]
    assert log.frames == 12


def test_recorder_notes_stick_moves_and_a_stick_at_rest_as_no_axes() -> None:
    recorder = InputRecorder()
    for frame, axes in [(0, (0, 0, 0, 0)), (2, (0, 32767)), (2, (0, 32767, 0, 0)), (4, (-5, 0)), (6, ())]:
        recorder.set_input(frame, 0, 0, axes)
    assert recorder.finish(8).events == [E(2, 0, 0, (0, 32767)), E(4, 0, 0, (-5,)), E(6, 0, 0)]


def test_play_batches_frames_between_changes() -> None:
    host = _Counting()
    log = InputLog(events=[E(0, 0, UP), E(10, 1, A), E(10, 0, 0, (0, -900)), E(25, 0, DOWN)], frames=40)
    assert play(host, log) == 40
    assert host.calls == [("input", 0, UP), ("run", 10, 0), ("input", 1, A), ("input", 0, 0, (0, -900)),
                          ("run", 15, 0), ("input", 0, DOWN), ("run", 15, 0)]


def test_log_round_trips_through_its_file(tmp_path: Path) -> None:
    log = InputLog(events=[E(0, 0, UP), E(7, 1, A, (12, -32768, 0, 32767))], frames=20, core="Nestopia",
                   core_version="1.52.0", state=b"\x00state\xff")
    log.save(tmp_path / "input.json")
    again = InputLog.load(tmp_path / "input.json")
    assert again == log
    saved = json.loads((tmp_path / "input.json").read_text())
    assert saved["start"] == "state"
    assert saved["events"] == [[0, 0, UP], [7, 1, A, [12, -32768, 0, 32767]]]


@pytest.mark.parametrize("text", ["not json", '{"format": "other"}', '{"events": [[0, 9, 1]]}',
                                  '{"events": [[0, 0, 70000]]}', '{"events": [["x", 0, 1]]}', '{"state": "%%%"}',
                                  '{"events": [[0, 0, 1, [40000]]]}', '{"events": [[0, 0, 1, 5]]}',
                                  '{"version": 99}'])
def test_malformed_recordings_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(InvalidContent):
        InputLog.load(path)


def test_recording_replays_to_identical_frames_on_nestopia(tmp_path: Path, roms: Path) -> None:
    data, played, recorded = tmp_path / "data", tmp_path / "played.json", tmp_path / "recorded.json"
    rom = str(roms / "nes/test_buttons.nes")
    played.write_text(json.dumps({"events": [[30, 0, A], [40, 0, 0], [60, 0, START], [70, 0, 0], [90, 0, RIGHT],
                                             [95, 0, 0], [120, 0, UP | A], [130, 0, 0]]}))
    first = treazr_run(data, rom, "--core", "nestopia", "--frames", "200", "--input", str(played), "--record",
                       str(recorded), "--frame-hashes")
    again = treazr_run(data, rom, "--core", "nestopia", "--frames", "200", "--input", str(recorded),
                       "--frame-hashes")
    assert again["frame_hashes"] == first["frame_hashes"]
    idle = treazr_run(data, rom, "--core", "nestopia", "--frames", "200", "--frame-hashes")
    assert idle["frame_hashes"][-1] != first["frame_hashes"][-1]  # the buttons did show on screen


def test_recording_from_a_state_carries_the_state(tmp_path: Path) -> None:
    data, state, recorded = tmp_path / "data", tmp_path / "s.state", tmp_path / "rec.json"
    treazr_run(data, "--frames", "50", "--save-state", str(state))
    inputs = tmp_path / "in.json"
    inputs.write_text(json.dumps({"events": [[0, 0, UP], [20, 1, DOWN], [35, 0, 0]]}))
    first = treazr_run(data, "--frames", "60", "--state", str(state), "--input", str(inputs), "--record",
                       str(recorded), "--frame-hashes")
    assert json.loads(recorded.read_text())["start"] == "state"
    replayed = treazr_run(data, "--frames", "60", "--input", str(recorded), "--frame-hashes")  # no --state needed
    assert replayed["frame_hashes"] == first["frame_hashes"]


def test_a_broken_input_file_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    done = treazr(tmp_path / "data", "run", "--frames", "5", "--input", str(bad))
    assert done.returncode == 1 and "cannot read the input file bad.json" in done.stderr
