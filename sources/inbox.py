"""What is waiting in the inbox, every entry accounted for before anything is read.

A delivery can be anything a supplier's system or an operator leaves: a file in a feed's folder
(received), but also a file dropped directly in `inbox/`, a folder of files (an SSDA903 set), a
symbolic link (following one copied a file from outside the home into the lake for good), a
pipe, or a file still being written (a run that read one lost 163 of 429 rows and deleted the
inbox copy under the writer). `survey` sorts every entry into one of four states without opening
any of them, so a run can say of each what it did and why:

- `receive`: a regular file in a feed's folder that has not changed for the settle time, or a
  folder of such files in a feed that takes sets (one delivery, received whole);
- `waiting`: written within the settle time, left for the next run;
- `refused`: left where it is, with a message saying what to do (a ledger entry every run);
- `ignored`: hidden files, Office lock files and partial downloads, which are not deliveries.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sources.common.names import shown_name

# names a transfer or an editor uses while it is still writing
IGNORED_PREFIXES = (".", "~$")
IGNORED_SUFFIXES = (".part", ".partial", ".filepart", ".crdownload", ".tmp")


@dataclass(frozen=True)
class InboxEntry:
    source: str          # the feed folder ("" for an entry directly in inbox/), shown escaped
    path: Path
    name: str            # the entry's path inside inbox/, shown escaped (sources.common.names)
    state: str           # receive | waiting | refused | ignored
    problem: str = ""    # for waiting and refused entries: what happened and what to do


def survey(inbox: Path, settle_seconds: float = 0, clock=time.time,
           takes_sets: Callable[[str], bool] = lambda source: False) -> list[InboxEntry]:
    """Every entry of the inbox and of each feed folder, in a stable order; links are never
    followed and nothing is opened. A folder inside a feed whose kind `takes_sets` is one
    entry, the delivery of all its files."""
    found: list[InboxEntry] = []
    if not inbox.is_dir():
        return found
    now = clock()
    for top in _sorted_entries(inbox):
        name = shown_name(top.name)
        if _ignored(top.name):
            found.append(InboxEntry("", Path(top.path), name, "ignored"))
        elif top.is_dir(follow_symlinks=False):
            try:
                entries = _sorted_entries(Path(top.path))
            except OSError as exc:
                found.append(InboxEntry(name, Path(top.path), name, "refused",
                                        _unreadable_problem(name, exc)))
                continue
            for entry in entries:
                found.append(_feed_entry(name, entry, settle_seconds, now, takes_sets(name)))
        else:
            found.append(InboxEntry("", Path(top.path), name, "refused",
                                    _top_level_problem(name, top)))
    return found


def _sorted_entries(folder: Path) -> list[os.DirEntry]:
    with os.scandir(folder) as entries:
        return sorted(entries, key=lambda e: os.fsencode(e.name))


def _ignored(name: str) -> bool:
    return name.startswith(IGNORED_PREFIXES) or name.lower().endswith(IGNORED_SUFFIXES)


def _top_level_problem(name: str, entry: os.DirEntry) -> str:
    if entry.is_symlink():
        return _link_problem(name)
    if not entry.is_file(follow_symlinks=False):
        return _special_problem(name)
    return (f"{name}: the file is directly in inbox/, not in a feed's folder, so its kind is "
            "unknown; it was left there. Move it into inbox/<kind>/ (police, school, "
            "social_care, yot) or a folder declared under `feeds:` in joinedup.yaml")


def _feed_entry(source: str, entry: os.DirEntry, settle_seconds: float,
                now: float, takes_sets: bool = False) -> InboxEntry:
    name = f"{source}/{shown_name(entry.name)}"
    path = Path(entry.path)
    if _ignored(entry.name):
        return InboxEntry(source, path, name, "ignored")
    if entry.is_symlink():
        return InboxEntry(source, path, name, "refused", _link_problem(name))
    if entry.is_dir(follow_symlinks=False):
        if takes_sets:
            return _set_entry(source, path, name, settle_seconds, now)
        return InboxEntry(source, path, name, "refused", _folder_problem(name, source, path))
    return _file_entry(source, entry, path, name, settle_seconds, now)


def _file_entry(source: str, entry: os.DirEntry, path: Path, name: str,
                settle_seconds: float, now: float) -> InboxEntry:
    info = entry.stat(follow_symlinks=False)
    if not stat.S_ISREG(info.st_mode):
        return InboxEntry(source, path, name, "refused", _special_problem(name))
    if not os.access(path, os.R_OK):
        return InboxEntry(source, path, name, "refused",
                          _unreadable_problem(name, PermissionError(13, "Permission denied")))
    age = now - info.st_mtime
    if settle_seconds > 0 and age < settle_seconds:     # 0: a writer that renames into place
        return InboxEntry(source, path, name, "waiting", waiting_problem(
            name, f"it was written {max(age, 0):.0f} s ago, within the settle time "
                  f"(inbox.settle_seconds: {settle_seconds:g})"))
    return InboxEntry(source, path, name, "receive")


def set_files(folder: Path) -> list[os.DirEntry]:
    """The files a set delivers: its entries less the hidden, lock and partial ones."""
    return [e for e in _sorted_entries(folder) if not _ignored(e.name)]


def _set_entry(source: str, path: Path, name: str, settle_seconds: float,
               now: float) -> InboxEntry:
    """A folder delivered as one set: received only when every entry in it is a settled,
    readable regular file; otherwise the whole folder is refused or left waiting, so that a set
    is never received in part."""
    try:
        entries = set_files(path)
    except OSError as exc:
        return InboxEntry(source, path, name, "refused", _unreadable_problem(name, exc))
    if not entries:
        return InboxEntry(source, path, name, "refused", f"{name}: an empty folder, so there "
                          "is nothing to receive; it was left there. Remove it or put the "
                          "return's files in it")
    for entry in entries:
        shown = f"{name}/{shown_name(entry.name)}"
        if entry.is_symlink():
            part = InboxEntry(source, path, shown, "refused", _link_problem(shown))
        elif entry.is_dir(follow_symlinks=False):
            part = InboxEntry(source, path, shown, "refused", f"{shown}: a folder inside a set, "
                              "which is one folder of files")
        else:
            part = _file_entry(source, entry, Path(entry.path), shown, settle_seconds, now)
        if part.state == "waiting":
            return InboxEntry(source, path, name, "waiting", waiting_problem(
                name, f"its file {shown_name(entry.name)} was written within the settle "
                      "time; the set is received whole once every file has settled"))
        if part.state != "receive":
            return InboxEntry(source, path, name, "refused",
                              f"{name}: the set was not received, none of it was read and it "
                              f"was left there, because of one entry. {part.problem}")
    return InboxEntry(source, path, name, "receive")


def waiting_problem(name: str, why: str) -> str:
    return (f"{name}: {why}, so it may still be being written; it was left in the inbox for "
            "the next run. Nothing to do unless it stays there")


def _link_problem(name: str) -> str:
    return (f"{name}: a symbolic link; links are never followed (the file it points to may lie "
            "outside the home), so it was left there. Copy the file itself into the feed's "
            "folder and remove the link")


def _unreadable_problem(name: str, exc: OSError) -> str:
    return (f"{name}: cannot be read ({exc.strerror or type(exc).__name__}), so it was left "
            "there. Give the pipeline's user read access to it")


def _special_problem(name: str) -> str:
    return (f"{name}: not a regular file (a pipe, socket or device), so it cannot be an "
            "extract; it was left there. Remove it")


def _folder_problem(name: str, source: str, path: Path) -> str:
    try:
        count = sum(1 for _ in os.scandir(path))
    except OSError:
        count = 0
    entries = "1 entry" if count == 1 else f"{count} entries"
    return (f"{name}: a folder ({entries}) inside a feed's folder; only a feed that takes "
            "sets of files (social_care for an SSDA903 return, school for a termly "
            "census) reads a folder as one "
            f"delivery, so nothing in it was read and it was left there. Send each extract as "
            f"one CSV, XLSX or Parquet file in inbox/{source}/")
