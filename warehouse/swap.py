"""Build-and-swap publication of the warehouse file.

DuckDB allows one writer or many readers on a file, never both, so the nightly run never writes
the published file: it builds a new one, and once the build is complete and checked, makes it the
published file with a single atomic rename. Analysts holding the old file open keep reading the
old copy (its inode lives on) and see the new build when they reconnect; a run that fails before
the rename leaves yesterday's publication untouched.

Crash safety: the published file is only ever replaced by `os.replace` of a complete, closed
build, so a run killed at any moment (SIGKILL included) leaves either yesterday's file or the new
one, never a half-written one. What a killed run can leave behind is its own build file (and WAL)
and perhaps a staging hard link; `remove_orphans` clears them at the start of the next run, under
the run lock, which the kernel releases when the process dies.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sources.common.checkpoints import reached


class RunInProgressError(RuntimeError):
    """Another run (or rollback) holds the home's run lock."""


@contextmanager
def run_lock(lock_file: Path) -> Iterator[None]:
    """One run or rollback at a time per home. An flock dies with its process, so a killed run
    never leaves a stale lock."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunInProgressError(
                f"another Joined Up run is using {lock_file.parent}; wait for it to finish "
                "(nothing was changed)") from None
        yield
    finally:
        os.close(fd)


def publish_build(build: Path, live: Path, keep: int = 7) -> Path:
    """Make `build` the published warehouse, keeping the last `keep` builds for rollback.

    The build stays in the builds folder as a hard link, so rolling back is another link and
    rename, and no copy of the data is made. Checkpoint `swap` is reached between making the
    staging link and the rename, `swapped` just after it (sources.common.checkpoints).
    """
    wal = build.with_name(build.name + ".wal")
    if wal.exists():
        raise RuntimeError(f"{build.name} was not closed cleanly (a WAL file remains); "
                           "not publishing it")
    _swap_in(build, live)
    prune_builds(build.parent, keep, protect=build, live=live)
    return live


def restore_build(build: Path, live: Path) -> Path:
    """Publish a kept build again (rollback): the same atomic link-and-rename, no pruning."""
    if not build.is_file():
        raise FileNotFoundError(f"{build} is not a kept build")
    return _swap_in(build, live)


def _swap_in(build: Path, live: Path) -> Path:
    live.parent.mkdir(parents=True, exist_ok=True)
    staging = live.with_name(f".{live.name}.{build.stem}.tmp")
    if staging.exists():
        staging.unlink()
    os.link(build, staging)
    reached("swap")
    os.replace(staging, live)
    reached("swapped")
    fsync_dir(live.parent)
    return live


def is_live(build: Path, live: Path) -> bool:
    """Whether `build` is the published file (they are hard links to one inode)."""
    try:
        return os.path.samefile(build, live)
    except FileNotFoundError:
        return False


def kept_builds(builds: Path) -> list[Path]:
    """The builds kept for rollback, oldest first (names sort by run id, i.e. by time)."""
    return sorted(builds.glob("*.duckdb"))


def live_build(builds: Path, live: Path) -> Path | None:
    for path in kept_builds(builds):
        if is_live(path, live):
            return path
    return None


def prune_builds(builds: Path, keep: int, protect: Path, live: Path) -> list[Path]:
    """Remove all but the newest `keep` builds (names sort by run id, i.e. by time); never the
    one being published nor the one currently published."""
    files = kept_builds(builds)
    removed = []
    for path in files[: max(0, len(files) - max(1, keep))]:
        if path != protect and not is_live(path, live):
            path.unlink()
            removed.append(path)
    return removed


def remove_orphans(builds: Path, live: Path, unfinished: set[str]) -> list[Path]:
    """Remove what killed runs left behind: builds of runs in `unfinished` (started, never
    published) unless published after all, any WAL without a finished build beside it, and
    staging links next to the published file. Call it holding the run lock."""
    removed: list[Path] = []
    for path in sorted(builds.glob("*.duckdb")):
        if path.stem in unfinished and not is_live(path, live):
            path.unlink()
            removed.append(path)
    for wal in sorted(builds.glob("*.duckdb.wal")):
        db = wal.with_name(wal.name[: -len(".wal")])
        if not db.exists() or db.stem in unfinished:
            wal.unlink()
            removed.append(wal)
    for staging in sorted(live.parent.glob(f".{live.name}.*.tmp")):
        staging.unlink()
        removed.append(staging)
    if removed:
        fsync_dir(builds)
    return removed


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in `path` durable (the folder's entry, not only the file)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
