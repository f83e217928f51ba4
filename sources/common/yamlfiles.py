"""Reading YAML files: the packaged catalogues, code tables, kinds and the home's maps and settings.

One run reads the same packaged documents dozens of times (every settings check, suite and
catalogue resolution), and the pure-Python parser takes tens of milliseconds for the larger
ones, so a parsed document is kept per file and handed out as a fresh copy (callers merge
overrides into what they get). A file that changes on disk (a partnership edits its map between
runs of a long-lived worker) is parsed again: the cache is keyed on its size and modification
time. The C parser is used where PyYAML was built with it; both are the safe loader.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str) -> Any:
    """Safe-load a YAML string (raises yaml.YAMLError with its problem mark)."""
    return yaml.load(text, Loader=Loader)  # noqa: S506 - a safe loader


def yaml_problem(exc: yaml.YAMLError) -> str:
    """Where and what a YAML error is, for a message that names the file: " line L, column C:
    not valid YAML (problem)"."""
    mark = getattr(exc, "problem_mark", None)
    where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or type(exc).__name__
    return f"{where}: not valid YAML ({problem})"


def read_yaml(path: Path | str, encoding: str = "utf-8") -> Any:
    """The parsed document at `path`, a copy the caller may change."""
    path = Path(path)
    stat = path.stat()
    return copy.deepcopy(_parsed(path.resolve(), stat.st_mtime_ns, stat.st_size, encoding))


@lru_cache(maxsize=512)
def _parsed(path: Path, mtime_ns: int, size: int, encoding: str) -> Any:
    return parse_yaml(path.read_text(encoding=encoding))
