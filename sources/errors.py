"""Errors a user can cause with a file, worded for the person who has to fix it."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path


class ExtractError(Exception):
    """A whole file cannot be used. The message names the file, says what is wrong and what to do.

    It never carries a personal value from the file: only file names, column names and row numbers.
    """

    def __init__(self, file_name: str, problem: str, action: str):
        self.file_name = file_name
        self.problem = problem
        self.action = action
        super().__init__(f"{file_name}: {problem}. {action}")

    def naming(self, file_name: str) -> ExtractError:
        """The same error about the file as the supplier named it (readers see the archive copy,
        which is named by its checksum)."""
        return ExtractError(file_name, self.problem, self.action)


DISK_FULL = "no space left on the disk holding"


def disk_full(path: Path, doing: str, needed: int | None = None) -> OSError:
    """An ENOSPC worded for the operator: where, what for, how much was needed and is free."""
    try:
        free = shutil.disk_usage(path).free
    except OSError:
        free = None
    need = f"; it needs {_size(needed)}" if needed is not None else ""
    have = f" and {_size(free)} is free" if free is not None else ""
    return OSError(errno.ENOSPC, f"{DISK_FULL} {path} while {doing}"
                   f"{need}{have}. Free some space there and run again; nothing was lost",
                   str(path))


def _size(count: int) -> str:
    return f"{count / (1 << 20):,.1f} MB"
