"""The one-file executable's program ends with its bootloader, and takes its unpacked files with it.

PyInstaller's one-file bootloader unpacks the bundle into ``$TMPDIR/_MEI*``, runs the program as its
child and removes the folder when the child exits. Killing the bootloader (``kill -9``, an OOM kill,
a supervisor other than systemd that signals only the process it started) used to leave the child
serving from an unpack folder no one would remove. So the program started by the bootloader asks Linux
for a SIGTERM when its parent dies (``PR_SET_PDEATHSIG``), stops as it does on any SIGTERM, and on the
way out removes the unpack folder itself if the bootloader is no longer there to do it.

Nothing happens outside the frozen executable, nor in the executable's own children (emulation workers
started from ``sys.executable`` reuse the unpacked files; their parent is the program, not a bootloader).
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import shutil
import signal
import sys
from pathlib import Path
from types import FrameType

__all__ = ["die_with_parent", "tie_to_bootloader"]

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_UNPACKED = "_PYI_APPLICATION_HOME_DIR"  # set by the bootloader for the program it starts, inherited below


def _started_by_bootloader(parent: int) -> bool:
    """The parent runs this same executable and is not itself an unpacked program (it is the bootloader)."""
    try:
        same_file = os.path.samefile(f"/proc/{parent}/exe", sys.executable)
        parent_env = Path(f"/proc/{parent}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return same_file and not any(entry.startswith(_UNPACKED.encode() + b"=") for entry in parent_env)


def _stop(signum: int, frame: FrameType | None) -> None:
    del frame
    raise SystemExit(128 + signum)  # unwinds through finally blocks and atexit, unlike the default action


def _ask_for_signal_at_parent_death(signum: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        log.warning("cannot ask to be stopped with the parent process: %s", os.strerror(ctypes.get_errno()))


def die_with_parent(parent: int) -> None:
    """In a forked helper child (``treazr run``'s core): be killed outright when ``parent`` dies, even in
    the middle of a core's C code that never returns to Python."""
    if not sys.platform.startswith("linux"):
        return
    _ask_for_signal_at_parent_death(signal.SIGKILL)
    if os.getppid() != parent:  # it died before the request above was in place
        os._exit(1)


def tie_to_bootloader() -> None:
    """Call first thing in the frozen entry point; does nothing elsewhere."""
    unpacked = getattr(sys, "_MEIPASS", None)
    if not getattr(sys, "frozen", False) or unpacked is None or not sys.platform.startswith("linux"):
        return
    bootloader = os.getppid()
    if not _started_by_bootloader(bootloader):
        return
    _ask_for_signal_at_parent_death(signal.SIGTERM)
    # The server installs its own SIGTERM handler (a clean shutdown); every other command stops like this.
    signal.signal(signal.SIGTERM, _stop)

    def remove_unpacked() -> None:
        if os.getppid() != bootloader:  # adopted by init: the bootloader is gone and will not clean up
            shutil.rmtree(unpacked, ignore_errors=True)

    atexit.register(remove_unpacked)
    if os.getppid() != bootloader:  # it died before the request above was in place
        os.kill(os.getpid(), signal.SIGTERM)
