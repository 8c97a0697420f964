"""What importing ``treazr`` does to the process (``treazr/__init__.py``)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.emulation.subprocesses import REPO


def test_numpy_starts_no_blas_threads_in_a_treazr_process() -> None:
    """Every worker imports numpy; OpenBLAS would add a thread per CPU to each, for nothing."""
    env = {key: value for key, value in os.environ.items() if key != "OPENBLAS_NUM_THREADS"}
    code = "import os, treazr, numpy; print(len(os.listdir('/proc/self/task')))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    assert int(done.stdout) == 1, "numpy started threads beside the main thread"


def test_a_blas_setting_of_the_user_is_kept() -> None:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}
    code = "import os, treazr; print(os.environ['OPENBLAS_NUM_THREADS'])"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "2"
