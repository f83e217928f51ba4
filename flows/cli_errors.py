"""Failures a person causes or can fix, as one message and an exit code, never a traceback.

A second `joinedup run` on a home printed a traceback of some 190 lines to say another run
holds the lock, `rollback` during a run one of 47; Ctrl-C or SIGTERM mid-run printed one in some
trials and recorded the run as `failed`; a full disk showed only DuckDB's or Python's words.
Commands run their work inside `plain_failures`, which turns each of these into what happened
and what to do. Prefect logs a failed task's or flow's traceback itself, so for these errors
the traceback is dropped from its log records too (the message and error class stay).
SIGTERM is turned into `Interrupted`, a KeyboardInterrupt, so it unwinds the run exactly as
Ctrl-C does (inside a flow, Prefect's own TerminationSignal does the same): the run's build is
removed and its ledger entry says `interrupted`.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from flows.cli_options import stderr_console

INTERRUPTED_EXIT = 130
# what Prefect says when its temporary (ephemeral) API server did not answer in time
EPHEMERAL_TIMEOUT = "Timed out while attempting to connect to ephemeral Prefect API server"
# the loggers Prefect reports a failed or crashed run through, with its traceback
PREFECT_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs", "prefect.flow_engine",
                       "prefect.task_engine", "prefect.engine")


class Interrupted(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM)."""


def _on_sigterm(signum, frame):
    raise Interrupted("SIGTERM")


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno == errno.ENOSPC
    import duckdb  # loaded already by anything that could have failed

    return isinstance(exc, duckdb.IOException) and "No space left on device" in str(exc)


def plain_message(exc: BaseException, where: Path | None = None) -> tuple[str, int] | None:
    """(message, exit code) for an error a person can act on; None for a fault in the code."""
    from flows.settings import SettingsError
    from sources.column_maps import MapError
    from warehouse.analysts import AnalystsZoneError
    from warehouse.swap import RunInProgressError

    if isinstance(exc, KeyboardInterrupt) or type(exc).__name__ == "TerminationSignal":
        return ("interrupted: the run stopped before publishing; its build was removed, the "
                "published warehouse is unchanged and the run ledger says `interrupted`. Run "
                "again when ready", INTERRUPTED_EXIT)
    if isinstance(exc, RuntimeError) and EPHEMERAL_TIMEOUT in str(exc):
        return ("Prefect's temporary server did not start in time (is the machine very busy?). "
                "Nothing was changed. Run again, raise "
                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS (now "
                f"{os.environ.get('PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS', '20')} s), "
                "or start a Prefect server (`prefect server start --host 127.0.0.1`) and set "
                "PREFECT_API_URL", 1)
    if isinstance(exc, RunInProgressError | SettingsError | MapError | AnalystsZoneError):
        return str(exc), 2 if isinstance(exc, SettingsError | MapError) else 1
    if is_disk_full(exc):
        from sources.errors import DISK_FULL, disk_full

        if isinstance(exc, OSError) and DISK_FULL in (exc.strerror or ""):
            return exc.strerror, 1              # already says where and how much
        written = getattr(exc, "filename", None)
        home = where or Path.cwd()
        return disk_full(home, f"writing {written}" if written else "running").strerror, 1
    return None


class _NoTracebackFor(logging.Filter):
    """Drops the traceback from log records of the errors `plain_message` explains."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None \
                and plain_message(record.exc_info[1]) is not None:
            record.exc_info = None
            record.exc_text = None
        return True


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises `Interrupted` while the block runs (from the main thread only, where
    Python delivers signals), so it unwinds like Ctrl-C instead of killing the process
    outright; the handler before is put back afterwards."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main else None
    try:
        yield
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


@contextmanager
def plain_failures(where: Path | None = None) -> Iterator[None]:
    """Run a command's work; a failure `plain_message` knows ends it with that message."""
    quiet = _NoTracebackFor()
    loggers = [logging.getLogger(name) for name in PREFECT_RUN_LOGGERS]
    for logger in loggers:
        logger.addFilter(quiet)
    try:
        with sigterm_interrupts():
            yield
    except BaseException as exc:  # noqa: BLE001 - sorted into plain messages and faults here
        known = None if isinstance(exc, typer.Exit | SystemExit) else plain_message(exc, where)
        if known is None:
            raise
        message, code = known
        stderr_console.print(message, markup=False, highlight=False, style="red",
                             soft_wrap=True)
        raise typer.Exit(code) from None
    finally:
        for logger in loggers:
            logger.removeFilter(quiet)


def refuse_if_running(home) -> None:
    """RunInProgressError now, before Prefect loads, if another run or rollback holds the lock
    (the run takes the lock itself again; this only spares the operator Prefect's traceback)."""
    from warehouse.swap import run_lock

    with run_lock(home.run_lock):
        pass
