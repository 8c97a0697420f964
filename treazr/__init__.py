"""Treazr: a self-hosted retro-game console for the home."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("treazr")
except PackageNotFoundError:  # frozen executable without metadata
    __version__ = "0.1.0"

__all__ = ["__version__"]
