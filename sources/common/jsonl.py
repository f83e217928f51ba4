"""Append-only JSON-lines files (the receipt ledger, the run ledger, reviewers' decisions) that
survive a run killed in the middle of a write."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from sources.common.checkpoints import write_in_two

log = logging.getLogger("joinedup")


def append_jsonl(path: Path, entry: dict | list[dict], point: str = "ledger-append") -> None:
    """Append one JSON line (or one per entry of a list, in one write) and fsync it.

    A crash (or full disk) mid-append can leave the last line cut short. If that fragment were
    left unterminated, the next entry would be glued onto it and lost with it, so a file that
    does not end in a newline gets one first: the fragment becomes one unreadable line that
    `read_jsonl` skips, and every later entry stays whole. `point` names the checkpoint between
    the two halves of the write (see sources.common.checkpoints)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = entry if isinstance(entry, list) else [entry]
    data = "".join(json.dumps(e, sort_keys=True, default=str) + "\n"
                   for e in entries).encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        write_in_two(fd, data, point)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_jsonl(path: Path) -> list[dict]:
    """Every whole entry; lines cut short by a crash are skipped with a warning (which names
    the file and line numbers, never the content)."""
    if not path.exists():
        return []
    out, torn = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace")
                                  .splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            torn.append(number)
            continue
        if isinstance(entry, dict):
            out.append(entry)
        else:
            torn.append(number)
    if torn:
        log.warning("%s: skipped %d unreadable line(s) (%s), left by a run that was killed "
                    "while writing", path.name, len(torn), ", ".join(map(str, torn[:5])))
    return out
