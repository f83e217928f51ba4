"""The crash tests' checkpoint hook: stop a real run at a named point so it can be killed there.

Installed (by tests/crash_launcher.py) in the `joinedup` processes a crash test starts;
the product only announces its points (sources.common.checkpoints). Configured by environment:

- `JOINEDUP_PAUSE_BEFORE=a,b`: at each listed point print `JOINEDUP-PAUSED <point> pid=<pid>`
  to stderr and wait until the point's name appears as a line of the file named by
  `JOINEDUP_RESUME_FILE` (or `JOINEDUP_PAUSE_SECONDS`, default 300, pass), so the test can
  copy the home (or SIGKILL the process) while it is stopped there.
- Every point passed prints `JOINEDUP-AT <point>`, so a test can tell which steps a run went
  through before it was killed.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from sources.common import checkpoints

PAUSE_ENV = "JOINEDUP_PAUSE_BEFORE"
RESUME_ENV = "JOINEDUP_RESUME_FILE"
SECONDS_ENV = "JOINEDUP_PAUSE_SECONDS"
PAUSE_MARKER = "JOINEDUP-PAUSED"
TRACE_MARKER = "JOINEDUP-AT"


def _say(text: str) -> None:
    print(text, file=sys.__stderr__, flush=True)


def pause_points() -> set[str]:
    return {p.strip() for p in os.environ.get(PAUSE_ENV, "").split(",") if p.strip()}


def pause_at(point: str) -> None:
    """The hook: trace every point, and wait at the selected ones until told to go on."""
    _say(f"{TRACE_MARKER} {point}")
    if point not in pause_points():
        return
    _say(f"{PAUSE_MARKER} {point} pid={os.getpid()}")
    resume = os.environ.get(RESUME_ENV)
    deadline = time.monotonic() + float(os.environ.get(SECONDS_ENV, "300"))
    while time.monotonic() < deadline:
        if resume and Path(resume).exists() and point in Path(resume).read_text().split():
            return
        time.sleep(0.1)


def install() -> None:
    checkpoints.install(pause_at)
