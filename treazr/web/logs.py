"""Structured JSON logs: one object a line, on stderr and in ``logs/treazr.log`` of the data directory."""

from __future__ import annotations

import json
import logging
import logging.handlers
import time
from pathlib import Path
from typing import Any

__all__ = ["JsonFormatter", "configure_logging", "dropped_records"]

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


_dropped = 0


def dropped_records() -> int:
    """Log records a handler could not write (a full disk, a closed stderr) since the process started."""
    return _dropped


class _NeverRaise:
    """Logging never takes anything down with it: a record that cannot be written (the log's disk is
    full) is counted and dropped, instead of the standard library's "--- Logging error ---" and traceback
    on stderr. The other handler (stderr, or the file) still gets it."""

    def handleError(self, record: logging.LogRecord) -> None:
        global _dropped
        _dropped += 1


class _StreamHandler(_NeverRaise, logging.StreamHandler):
    pass


class _FileHandler(_NeverRaise, logging.handlers.RotatingFileHandler):
    pass


def configure_logging(level: str, log_dir: Path | None) -> None:
    """Send Treazr's and uvicorn's records, as JSON lines, to stderr and the data directory's log."""
    handlers: list[logging.Handler] = [_StreamHandler()]
    if log_dir is not None:
        handlers.append(_FileHandler(log_dir / "treazr.log", maxBytes=10 * 1024 * 1024, backupCount=3,
                                     encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(JsonFormatter())
    for name, logger_level in (("treazr", level.upper()), ("uvicorn", "WARNING"), ("uvicorn.error", "INFO")):
        logger = logging.getLogger(name)
        logger.setLevel(logger_level)
        logger.propagate = False
        for old in list(logger.handlers):
            logger.removeHandler(old)
            old.close()
        for handler in handlers:
            logger.addHandler(handler)
