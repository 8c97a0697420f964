"""Running cores in child processes for tests: one emulator session per process, and a core that
crashes must not take pytest with it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

__all__ = ["REPO", "host_script", "treazr", "treazr_run"]


def treazr(data_dir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``treazr --data-dir DATA ARGS...`` in a child process (stopped by its own pid on timeout)."""
    return subprocess.run([sys.executable, "-m", "treazr", "--data-dir", str(data_dir), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, check=False)


def treazr_run(data_dir: Path, *args: str) -> dict[str, Any]:
    """``treazr run ARGS... --json``, which must succeed; its report."""
    done = treazr(data_dir, "run", *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout[done.stdout.index("{"):])


def host_script(code: str, timeout: float = 120) -> Any:
    """Run Python ``code`` in a child; it prints one JSON value as its last line, which is returned."""
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
