"""Treazr: a self-hosted retro-game console for the home."""

import os
from importlib.metadata import PackageNotFoundError, version

# Treazr never calls BLAS, but numpy's OpenBLAS starts a thread per CPU at import in every process (the
# server and each emulation worker): about 0.1 s of CPU per worker start, and a thread that spins before
# it sleeps. Set before numpy is imported; a value set by the user wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

try:
    __version__ = version("treazr")
except PackageNotFoundError:  # frozen executable without metadata
    __version__ = "0.1.0"

__all__ = ["__version__"]
