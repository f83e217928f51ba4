"""The immutable archive of every file received, and the ledger that records it.

A file is copied into the archive folder as `<source>/<received date>/<sha256><ext>` and checked
against its hash before anything else reads it, so a later failure can never lose an extract. The
ledger is an append-only JSON-lines file beside the archive: it outlives every warehouse build,
and the nightly build chooses its inputs from it, so `rebuild` needs nothing but the archive and
the ledger. Flows hands every path in (see flows.home); receipts record the archive path relative
to the home directory, so a home can be moved whole.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import stat
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from sources.column_maps import ColumnMap
from sources.common import checkpoints
from sources.common.jsonl import append_jsonl, read_jsonl
from sources.common.names import is_shown, shown_name
from sources.errors import ExtractError, disk_full
from sources.extract import check_extract
from sources.feeds import FeedTable
from sources.inbox import InboxEntry, set_files, survey, waiting_problem
from sources.readers import DEFAULT_LIMITS, ReadLimits, file_suffix
from sources.statutory.sets import MANIFEST

CHUNK = 1 << 20
PARTIAL = ".part"
ARCHIVE_SUFFIX = re.compile(r"(\.[a-z0-9]{1,8}){1,2}")


@dataclass(frozen=True)
class Receipt:
    sha256: str
    source: str
    file_name: str
    size: int
    received_at: str          # ISO timestamp, UTC
    archive_path: str         # relative to the home directory
    duplicate: bool           # the same bytes were received before
    kind: str = ""            # extract kind the file was checked as
    map_name: str = ""        # column map that fits it
    status: str = "accepted"  # accepted | rejected (file-level problem) | duplicate
    problem: str = ""         # why it was rejected, for the person who has to fix it
    header: dict = field(default_factory=dict)   # what a statutory return says about itself
                                                 # (LA, collection year, software; no person)
    files: list = field(default_factory=list)    # a set: [{name, sha256, size}] of each file


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


class Ledger:
    """Append-only record of receipts and per-run outcomes (no personal data: names of files,
    hashes, counts)."""

    def __init__(self, path: Path):
        self.path = path

    def append(self, entry: dict) -> None:
        append_jsonl(self.path, entry, "ledger-append")

    def entries(self) -> list[dict]:
        return read_jsonl(self.path)

    def receipts(self) -> list[Receipt]:
        """Every receipt; a name recorded raw before names were escaped (a ledger written by an
        earlier version) is escaped as it is read, so it cannot fail every later run again."""
        fields = Receipt.__dataclass_fields__
        return [Receipt(**{k: _shown(k, e[k]) for k in fields if k in e})
                for e in self.entries() if e.get("event") == "received"]

    def known_hashes(self) -> set[str]:
        return {r.sha256 for r in self.receipts()}

    def unusable_hashes(self) -> set[str]:
        """Files that passed the receipt check but could not be ingested by a run (a truncated
        CSV, say): later runs never choose them again."""
        return {e["extract_id"] for e in self.entries()
                if e.get("event") == "outcome" and e.get("status") == "rejected"}


def _shown(field_name: str, value):
    if field_name in ("file_name", "source") and not is_shown(value):
        return shown_name(value)
    return value


@dataclass(frozen=True)
class ReceiptCheck:
    kind: str
    map_name: str = ""
    problem: str = ""
    header: dict = field(default_factory=dict)


def check_receipt(feeds: FeedTable, maps: dict[str, ColumnMap], source: str, path: Path,
                  file_name: str, limits: ReadLimits = DEFAULT_LIMITS) -> ReceiptCheck:
    """A file at receipt: its feed's kind is known, the file opens and some column map of that
    kind fits it (with what a statutory return's header says)."""
    feed = feeds.feed(source)
    problem = feeds.kind_problem(source)
    if problem:
        return ReceiptCheck(feed.kind, problem=problem)
    try:
        chosen = check_extract(path, feed.kind, maps, file_name, feed.map_name, limits)
    except ExtractError as exc:
        return ReceiptCheck(feed.kind, problem=str(exc.naming(file_name)))
    return ReceiptCheck(feed.kind, chosen.cmap.name, header=chosen.header)


def archive_file(root: Path, raw: Path, entry: InboxEntry, ledger: Ledger,
                 feeds: FeedTable, maps: dict[str, ColumnMap], now: datetime | None = None,
                 limits: ReadLimits = DEFAULT_LIMITS) -> Receipt | None:
    """Copy one inbox file into the archive `raw` (once per distinct content), check it can be
    read as its feed's kind, and record both in the ledger (paths relative to `root`).

    The copy is hashed as it is made, so the checksum is of exactly the bytes archived; a file
    that changed while it was copied (still being written) is not archived: None."""
    now = now or datetime.now(UTC)
    source, name = entry.source, shown_name(entry.path.name)
    folder = raw / source / now.strftime("%Y-%m-%d")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{uuid.uuid4().hex}{PARTIAL}"
    try:
        copied = _copy_durably(entry.path, tmp)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise disk_full(folder, f"archiving {entry.name}",
                            entry.path.lstat().st_size) from None
        raise
    if copied is None:
        tmp.unlink()
        return None
    digest, size = copied.sha256, copied.size
    duplicate = digest in ledger.known_hashes()
    relative = (folder / f"{digest}{_archive_suffix(name)}").relative_to(root)
    if duplicate:
        tmp.unlink()
        earlier = next(r for r in ledger.receipts() if r.sha256 == digest)
        relative = Path(earlier.archive_path)
    else:
        target = root / relative
        if sha256_of(tmp) != digest:
            tmp.unlink()
            raise OSError(f"{name}: the archive copy does not match the file; "
                          "nothing was archived")
        os.chmod(tmp, 0o440)
        os.replace(tmp, target)
    check = check_receipt(feeds, maps, source, root / relative, name, limits)
    status = "duplicate" if duplicate else ("rejected" if check.problem else "accepted")
    receipt = Receipt(
        sha256=digest, source=source, file_name=name, size=size,
        received_at=now.isoformat(timespec="seconds"), archive_path=str(relative),
        duplicate=duplicate, kind=check.kind, map_name=check.map_name, status=status,
        problem=check.problem, header=check.header,
    )
    ledger.append({"event": "received", **asdict(receipt)})
    if copied.unchanged(entry.path):
        entry.path.unlink()
    return receipt


def archive_set(root: Path, raw: Path, entry: InboxEntry, ledger: Ledger,
                feeds: FeedTable, maps: dict[str, ColumnMap], now: datetime | None = None,
                limits: ReadLimits = DEFAULT_LIMITS) -> Receipt | None:
    """Archive a folder delivered as one set (an SSDA903 return) as one extract: each file is
    copied and hashed as `archive_file` does, into `<sha256 of the set>/` with a manifest of
    the names delivered; the set's checksum is of its files' names and checksums, so the same
    return sent again is a duplicate. Received whole or not at all: None when any file changed
    while it was copied (nothing of the set is archived then)."""
    now = now or datetime.now(UTC)
    source, name = entry.source, shown_name(entry.path.name)
    folder = raw / source / now.strftime("%Y-%m-%d")
    folder.mkdir(parents=True, exist_ok=True)
    copies: list[tuple[Path, Path, _Copied, str]] = []    # (inbox file, temp copy, copy, name)
    try:
        for member in set_files(entry.path):
            tmp = folder / f"{uuid.uuid4().hex}{PARTIAL}"
            copied = _copy_durably(Path(member.path), tmp)
            if copied is None:
                tmp.unlink()
                _discard(copies)
                return None
            copies.append((Path(member.path), tmp, copied, shown_name(member.name)))
    except OSError as exc:
        _discard(copies)
        if exc.errno == errno.ENOSPC:
            raise disk_full(folder, f"archiving {entry.name}") from None
        raise
    files = [{"name": n, "sha256": c.sha256, "size": c.size} for _, _, c, n in copies]
    digest = hashlib.sha256("".join(f"{f['name']}\0{f['sha256']}\n" for f in
                                    sorted(files, key=lambda f: f["name"])).encode()).hexdigest()
    duplicate = digest in ledger.known_hashes()
    relative = (folder / digest).relative_to(root)
    if duplicate:
        _discard(copies)
        relative = Path(next(r for r in ledger.receipts() if r.sha256 == digest).archive_path)
    else:
        target = root / relative
        target.mkdir(exist_ok=True)
        manifest = []
        for _, tmp, copied, member_name in copies:
            archive_name = f"{copied.sha256}{_archive_suffix(member_name)}"
            os.chmod(tmp, 0o440)
            os.replace(tmp, target / archive_name)
            manifest.append({"name": member_name, "archive_name": archive_name})
        (target / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    check = check_receipt(feeds, maps, source, root / relative, name, limits)
    status = "duplicate" if duplicate else ("rejected" if check.problem else "accepted")
    receipt = Receipt(
        sha256=digest, source=source, file_name=name, size=sum(f["size"] for f in files),
        received_at=now.isoformat(timespec="seconds"), archive_path=str(relative),
        duplicate=duplicate, kind=check.kind, map_name=check.map_name, status=status,
        problem=check.problem, header=check.header, files=files,
    )
    ledger.append({"event": "received", **asdict(receipt)})
    if all(c.unchanged(inbox_file) for inbox_file, _, c, _ in copies):
        for inbox_file, _, _, _ in copies:
            inbox_file.unlink()
        with contextlib.suppress(OSError):     # a hidden or partial file left beside them
            entry.path.rmdir()
    return receipt


def _discard(copies) -> None:
    for _, tmp, _, _ in copies:
        tmp.unlink(missing_ok=True)


def _archive_suffix(name: str) -> str:
    """The suffix the readers choose by (`.csv.gz` whole); anything odd in it is dropped, so an
    archive name is always `<sha256>` and a plain suffix."""
    suffix = file_suffix(name)
    return suffix if ARCHIVE_SUFFIX.fullmatch(suffix) else ""


@dataclass(frozen=True)
class _Copied:
    sha256: str
    size: int
    stat_key: tuple      # (inode, size, mtime) of the inbox file as copied

    def unchanged(self, path: Path) -> bool:
        """Whether the inbox file is still the one archived (else it stays for the next run)."""
        try:
            return _stat_key(path.lstat()) == self.stat_key
        except FileNotFoundError:
            return False


def _stat_key(info: os.stat_result) -> tuple:
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def _copy_durably(source: Path, target: Path) -> _Copied | None:
    """Copy, hash and fsync, so the inbox copy is only ever removed once the archive copy is on
    disk; None when the file changed during the copy. The source is opened without following
    a link (one swapped in after the survey is refused by the kernel). With a checkpoint hook
    installed, the first half is fsynced and point `archive-copy` reached before the rest."""
    src = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    digest = hashlib.sha256()
    try:
        with os.fdopen(src, "rb", closefd=False) as fh:
            before = os.fstat(src)
            if not stat.S_ISREG(before.st_mode):
                return None
            size = _copy_bytes(fh, fd, before.st_size // 2, digest)
            if checkpoints.installed():
                os.fsync(fd)
                checkpoints.reached("archive-copy")
            size += _copy_bytes(fh, fd, None, digest)
            after = os.fstat(src)
        os.fsync(fd)
    finally:
        os.close(fd)
        os.close(src)
    if _stat_key(after) != _stat_key(before) or size != after.st_size:
        return None
    return _Copied(digest.hexdigest(), size, _stat_key(after))


def _copy_bytes(fh, fd: int, limit: int | None, digest) -> int:
    left, copied = limit, 0
    while left is None or left > 0:
        block = fh.read(CHUNK if left is None else min(CHUNK, left))
        if not block:
            return copied
        digest.update(block)
        view = memoryview(block)
        while view:
            view = view[os.write(fd, view):]
        copied += len(block)
        if left is not None:
            left -= len(block)
    return copied


def remove_partial_copies(raw: Path) -> list[Path]:
    """Archive copies cut short by a killed run (`*.part`, never in the ledger); call it holding
    the run lock. The inbox still holds each such file, so the next receipt copies it again."""
    removed = []
    if raw.exists():
        for path in sorted(raw.rglob(f"*{PARTIAL}")):
            path.unlink()
            removed.append(path)
    return removed


@dataclass(frozen=True)
class InboxRules:
    """How a run receives (settings `inbox.*`): the settle time and the readers' limits."""

    settle_seconds: float = 0
    limits: ReadLimits = DEFAULT_LIMITS


@dataclass
class Receiving:
    """What one receipt did with every inbox entry (sources.inbox)."""

    receipts: list[Receipt] = field(default_factory=list)
    refused: list[InboxEntry] = field(default_factory=list)
    waiting: list[InboxEntry] = field(default_factory=list)
    ignored: list[InboxEntry] = field(default_factory=list)


def receive_inbox(root: Path, inbox: Path, raw: Path, ledger: Ledger, feeds: FeedTable,
                  maps: dict[str, ColumnMap], now: datetime | None = None,
                  rules: InboxRules = InboxRules()) -> Receiving:
    """Archive every settled file in the feeds' folders into `raw`, then remove it from the
    inbox; record every entry refused or left waiting in the ledger too.

    The inbox copy is removed only after the archive copy is verified, so a crash in between
    leaves the file in the inbox to be received (as a duplicate, harmlessly) next time.
    """
    now = now or datetime.now(UTC)
    done = Receiving()
    for entry in survey(inbox, rules.settle_seconds, takes_sets=feeds.takes_sets):
        if entry.state == "receive":
            archive = archive_set if entry.path.is_dir() else archive_file
            receipt = archive(root, raw, entry, ledger, feeds, maps, now, rules.limits)
            if receipt is not None:
                done.receipts.append(receipt)
                continue
            entry = replace(entry, state="waiting", problem=waiting_problem(
                entry.name, "it changed while it was being archived"))
        getattr(done, entry.state).append(entry)
    left = done.refused + done.waiting
    if left:
        ledger.append([{"event": e.state, "source": e.source, "file_name": e.name,
                        "problem": e.problem, "at": now.isoformat(timespec="seconds")}
                       for e in left])
    return done


def current_extracts(receipts: list[Receipt], feeds: FeedTable,
                     unusable: set[str] | frozenset[str] = frozenset()) -> list[Receipt]:
    """The accepted extracts a build uses, oldest first.

    A full-refresh feed's newest delivery (the accepted files received on its latest day)
    replaces everything before it, and a feed whose deliveries fold the earlier ones (the CSC
    API payload) uses its newest file alone; an incremental feed's files all count, later ones
    superseding earlier rows with the same record id when loaded in this order. Files in
    `unusable` (failed ingestion) are passed over, so a broken re-delivery never hides the last
    good one.
    """
    accepted = [r for r in receipts if r.status == "accepted" and r.sha256 not in unusable]
    chosen = []
    for source in sorted({r.source for r in accepted}):
        mine = sorted((r for r in accepted if r.source == source),
                      key=lambda r: (r.received_at, r.file_name))
        if any(r.header.get("folds_earlier") for r in mine):
            mine = mine[-1:]        # it holds every earlier delivery (sources.statutory.csc_api)
        elif feeds.feed(source).refresh == "full":
            last_day = max(Path(r.archive_path).parent.name for r in mine)
            mine = [r for r in mine if Path(r.archive_path).parent.name == last_day]
        chosen.extend(mine)
    return chosen


def earlier_deliveries(receipts: list[Receipt], receipt: Receipt,
                       unusable: set[str] | frozenset[str] = frozenset()) -> list[Receipt]:
    """The accepted deliveries of the receipt's feed received before it, oldest first, for a
    format whose deliveries are deltas of one another (its reader folds them)."""
    if not receipt.header.get("folds_earlier"):
        return []
    here = (receipt.received_at, receipt.file_name)
    return sorted((r for r in receipts if r.source == receipt.source and r.status == "accepted"
                   and r.sha256 not in unusable and r.header.get("folds_earlier")
                   and (r.received_at, r.file_name) < here),
                  key=lambda r: (r.received_at, r.file_name))
