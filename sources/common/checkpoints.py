"""Named points inside a run where an installed hook is told the run has got that far.

A run is only crash-safe if it is safe at *every* instant: halfway through copying a file into
the archive, halfway through appending a ledger line, with a DuckDB transaction open on a build.
The product marks those instants here and does nothing else with them: with no hook installed
(always, outside the crash tests) `reached` is a loop over an empty list. The crash tests install
a hook in the process they start, which pauses or is killed at the point it is waiting for.

Points: receive, archive-copy (half the file copied), ledger-append / runlog-append /
decision-append (half a JSON line written), new-build, ingest, ingest-write (rows loaded,
transaction open), person-records, link, link-<stage> (each stage of linkage.pipeline.STAGES as
it starts), derive, derive-write (marts written, publication not), pseudonymise, export,
publish, lineage-write (transaction open), swap (staging link made, not renamed), swapped
(renamed, ledger not yet written).
"""

from __future__ import annotations

import os
from collections.abc import Callable

Hook = Callable[[str], None]

_hooks: list[Hook] = []


def install(hook: Hook) -> None:
    _hooks.append(hook)


def uninstall(hook: Hook) -> None:
    if hook in _hooks:
        _hooks.remove(hook)


def installed() -> bool:
    """Whether anything listens (so a caller can make a point of an instant that is otherwise
    never observable, such as half a write on disk)."""
    return bool(_hooks)


def reached(name: str) -> None:
    for hook in list(_hooks):
        hook(name)


def write_in_two(fd: int, data: bytes, name: str) -> None:
    """os.write all of `data`; with a hook installed, in two fsynced halves with the point
    `name` between them, so a kill there leaves exactly the torn write a crash could leave."""
    if installed() and len(data) > 1:
        half = len(data) // 2
        write_all(fd, data[:half])
        os.fsync(fd)
        reached(name)
        data = data[half:]
    write_all(fd, data)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
