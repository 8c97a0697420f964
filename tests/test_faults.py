"""The fault trials of ``benchmarks/faults_bench.py`` in their quick form, run by the suite: a
``treazr import`` killed mid-way, a server killed (with its workers) while it writes states and battery
saves, and a full disk under a playing server. Each must lose nothing, corrupt nothing, print no
traceback and leave no temporary file behind."""

from __future__ import annotations

import importlib.util
import os
import random
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("faults_bench", REPO / "benchmarks" / "faults_bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("faults_bench", module)
    spec.loader.exec_module(module)
    return module


def _clean(counts: Counter[str]) -> dict[str, int]:
    return {key: counts[key] for key in ("lost", "corrupt", "crashes", "tracebacks", "leftovers")}


NOTHING = {"lost": 0, "corrupt": 0, "crashes": 0, "tracebacks": 0, "leftovers": 0}


def test_an_import_killed_at_random_moments_loses_nothing_and_a_rerun_completes(tmp_path: Path) -> None:
    bench = _bench()
    rng = random.Random(7)
    files = bench._nes_files(tmp_path / "roms", 120, rng)
    for n in range(2):  # once reading in place, once copying into the store
        counts = bench.import_trial(tmp_path, n, rng, tmp_path / "roms", len(files))
        assert counts["trials"] == 1 and _clean(counts) == NOTHING, counts


def test_a_server_killed_while_saving_states_keeps_every_confirmed_state_whole(tmp_path: Path) -> None:
    bench = _bench()
    rng = random.Random(8)
    for n in range(2):  # the web process alone, then with its workers
        counts = bench.server_trial(tmp_path, n, rng)
        assert counts["trials"] == 1 and _clean(counts) == NOTHING, counts


def test_a_full_disk_under_a_playing_server_is_one_clear_error_and_nothing_is_lost(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    counts = _bench().disk_trial(tmp_path, 0)
    assert counts["trials"] == 1 and _clean(counts) == NOTHING, counts
