"""Build-and-swap publication of the warehouse file.

DuckDB allows one writer or many readers on a file, never both, so the nightly run never writes
the published file: it builds a new one, and once the build is complete and checked, makes it the
published file with a single atomic rename. Analysts holding the old file open keep reading the
old copy (its inode lives on) and see the new build when they reconnect; a run that fails before
the rename leaves yesterday's publication untouched.
"""

from __future__ import annotations

import os
from pathlib import Path


def publish_build(build: Path, live: Path, keep: int = 7) -> Path:
    """Make `build` the published warehouse, keeping the last `keep` builds for rollback.

    The build stays in the builds folder as a hard link, so rolling back is another link and
    rename, and no copy of the data is made.
    """
    wal = build.with_name(build.name + ".wal")
    if wal.exists():
        raise RuntimeError(f"{build.name} was not closed cleanly (a WAL file remains); "
                           "not publishing it")
    live.parent.mkdir(parents=True, exist_ok=True)
    staging = live.with_name(f".{live.name}.{build.stem}.tmp")
    if staging.exists():
        staging.unlink()
    os.link(build, staging)
    os.replace(staging, live)
    _fsync_dir(live.parent)
    prune_builds(build.parent, keep, protect=build)
    return live


def prune_builds(builds: Path, keep: int, protect: Path) -> list[Path]:
    """Remove all but the newest `keep` builds (names sort by run id, i.e. by time)."""
    files = sorted(builds.glob("*.duckdb"))
    removed = []
    for path in files[: max(0, len(files) - keep)]:
        if path != protect:
            path.unlink()
            removed.append(path)
    return removed


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
