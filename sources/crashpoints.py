"""Named points inside the nightly run where the crash-safety tests stop or kill a real run.

A run is only crash-safe if it is safe at *every* instant, including halfway through copying a
file into the archive, halfway through appending a ledger line, or with a DuckDB transaction
open on the build. The tests cannot hit those instants by timing alone, so the code marks them
here. Every function is a no-op (one dict lookup) unless the test environment variables are
set; they live in `sources` because the archive, the warehouse swap and the flows all use them.

- `JOINEDUP_PAUSE_BEFORE=a,b`: at each listed point print `JOINEDUP-PAUSED <point> pid=<pid>`
  to stderr and wait until the point's name appears as a line of the file named by
  `JOINEDUP_RESUME_FILE` (or `JOINEDUP_PAUSE_SECONDS`, default 300, pass), so the test can
  copy the home (or SIGKILL the process) while it is stopped there.
- With it set, every point passed prints `JOINEDUP-AT <point>`, so a test can tell which
  steps a run went through before it was killed.

Points: receive, archive-copy (half the file copied), ledger-append / runlog-append /
decision-append (half a JSON line written), new-build, ingest, ingest-write (rows loaded,
transaction open), person-records, link, link-<stage> (each stage of linkage.pipeline.STAGES as
it starts), derive, derive-write (marts written, publication not), pseudonymise, export,
publish, lineage-write (transaction open), swap (staging link made, not renamed), swapped
(renamed, ledger not yet written).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

PAUSE_ENV = "JOINEDUP_PAUSE_BEFORE"
RESUME_ENV = "JOINEDUP_RESUME_FILE"
SECONDS_ENV = "JOINEDUP_PAUSE_SECONDS"
PAUSE_MARKER = "JOINEDUP-PAUSED"
TRACE_MARKER = "JOINEDUP-AT"


def active() -> bool:
    return bool(os.environ.get(PAUSE_ENV))


def selected(point: str) -> bool:
    """Whether a test asked to stop or kill at `point` (so a caller can split a write)."""
    if not active():
        return False
    return point in _pause_points()


def _pause_points() -> set[str]:
    return {p.strip() for p in os.environ.get(PAUSE_ENV, "").split(",") if p.strip()}


def _say(text: str) -> None:
    print(text, file=sys.__stderr__, flush=True)


def pause_point(point: str) -> None:
    if not active():
        return
    _say(f"{TRACE_MARKER} {point}")
    if point not in _pause_points():
        return
    _say(f"{PAUSE_MARKER} {point} pid={os.getpid()}")
    resume = os.environ.get(RESUME_ENV)
    deadline = time.monotonic() + float(os.environ.get(SECONDS_ENV, "300"))
    while time.monotonic() < deadline:
        if resume and Path(resume).exists() and point in Path(resume).read_text().split():
            return
        time.sleep(0.1)


def write_in_two(fd: int, data: bytes, point: str) -> None:
    """os.write all of `data`; when a test selected `point`, in two halves with the point
    between them, so a kill there leaves exactly the torn write a crash could leave."""
    if selected(point) and len(data) > 1:
        half = len(data) // 2
        _write_all(fd, data[:half])
        os.fsync(fd)
        pause_point(point)
        data = data[half:]
    _write_all(fd, data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
