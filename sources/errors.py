"""Errors a user can cause with a file, worded for the person who has to fix it."""

from __future__ import annotations


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
