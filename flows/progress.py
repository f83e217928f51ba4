"""Progress of the long commands (`run`, `demo`, `return`, `rebuild`, `synth`), told at stage
boundaries: a rich progress bar on a terminal, one log line per stage otherwise (CI, cron, a
redirected stderr), where a redrawn bar would only litter the log.

It is `joinedup link`'s approach (a transient rich bar on stderr, only when stderr is a
terminal) shared by every command. The code that knows the stages calls `stage(name)` and knows
nothing of terminals: with no display open (under Prefect's scheduler, in tests) it does
nothing. Stage names are fixed words, feed names and counts: never a value from a record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

log = logging.getLogger("joinedup.progress")

# Before the nightly run's first stage, Prefect imports and starts its temporary server (tens
# of seconds on a busy machine): the command line reports it as a stage of its own.
START_FLOW = "start Prefect"
# The stages the nightly run passes to `stage` (flows.nightly's `at`), in order.
NIGHTLY_STAGES = ("receive", "new-build", "ingest", "person-records", "link", "derive",
                  "pseudonymise", "analysts", "publish")
RUN_STAGES = (START_FLOW, *NIGHTLY_STAGES)

StageHook = Callable[[str], None]

_open: list[StageDisplay] = []


def stage(name: str, total: int | None = None) -> None:
    """A stage starts; `total` revises the number of stages when a command learns it late."""
    for display in list(_open):
        display.start_stage(name, total)


def bar(console: Console) -> Progress:
    """The one look of every command's progress bar."""
    return Progress(SpinnerColumn(), TextColumn("{task.description:<40}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True)


class StageDisplay:
    """One command's stages: a bar when `console` is a terminal, else a log line each."""

    def __init__(self, command: str, total: int | None, console: Console) -> None:
        self.command = command
        self.total = total
        self.started = 0
        self.console = console
        self.progress = bar(console) if console.is_terminal else None
        self.task = None

    def start_stage(self, name: str, total: int | None = None) -> None:
        if total is not None:
            self.total = total
        self.started += 1
        if self.progress is not None:
            self.progress.update(self.task, completed=self.started - 1, total=self.total,
                                 description=f"{self.command}: {name}")
            return
        of = f" of {self.total}" if self.total else ""
        log.info("%s: stage %d%s: %s", self.command, self.started, of, name)

    def finish(self, seconds: float) -> None:
        if self.progress is None:
            log.info("%s: %d stages done in %.1f s", self.command, self.started, seconds)


@contextmanager
def showing(command: str, console: Console, total: int | None = None) -> Iterator[StageDisplay]:
    """Show the stages `stage` reports while the block runs. On a terminal, log records go
    through the bar's console, so they print above the bar instead of breaking it."""
    display = StageDisplay(command, total, console)
    swapped: list[logging.Handler] = []
    root = logging.getLogger()
    if display.progress is not None:
        display.task = display.progress.add_task(command, total=total)
        swapped = [h for h in root.handlers if type(h) is logging.StreamHandler]
        for handler in swapped:
            root.removeHandler(handler)
        rich_handler = RichHandler(console=console, show_path=False, show_time=False)
        if swapped:
            root.addHandler(rich_handler)
        display.progress.start()
    _open.append(display)
    start = time.perf_counter()
    try:
        yield display
    finally:
        _open.remove(display)
        if display.progress is not None:
            display.progress.stop()
            if swapped:
                root.removeHandler(rich_handler)
                for handler in swapped:
                    root.addHandler(handler)
        display.finish(time.perf_counter() - start)
