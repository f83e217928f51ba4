"""The immutable archive of every file received, and the ledger that records it.

A file is copied into the archive folder as `<source>/<received date>/<sha256><ext>` and checked
against its hash before anything else reads it, so a later failure can never lose an extract. The
ledger is an append-only JSON-lines file beside the archive: it outlives every warehouse build,
and the nightly build chooses its inputs from it, so `rebuild` needs nothing but the archive and
the ledger. Flows hands every path in (see flows.home); receipts record the archive path relative
to the home directory, so a home can be moved whole.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from sources.column_maps import ColumnMap
from sources.common import checkpoints
from sources.common.jsonl import append_jsonl, read_jsonl
from sources.errors import ExtractError
from sources.extract import check_extract
from sources.feeds import FeedTable
from sources.readers import SUPPORTED

CHUNK = 1 << 20
PARTIAL = ".part"


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
        fields = Receipt.__dataclass_fields__
        return [Receipt(**{k: e[k] for k in fields if k in e}) for e in self.entries()
                if e.get("event") == "received"]

    def known_hashes(self) -> set[str]:
        return {r.sha256 for r in self.receipts()}

    def unusable_hashes(self) -> set[str]:
        """Files that passed the receipt check but could not be ingested by a run (a truncated
        CSV, say): later runs never choose them again."""
        return {e["extract_id"] for e in self.entries()
                if e.get("event") == "outcome" and e.get("status") == "rejected"}


def inbox_files(inbox: Path) -> list[tuple[str, Path]]:
    """(source, path) for every extract waiting in inbox/<source>/, in a stable order.

    Hidden files, Office lock files (~$...) and partial downloads are left alone.
    """
    found = []
    if not inbox.exists():
        return found
    for folder in sorted(p for p in inbox.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(folder.iterdir()):
            if (path.is_file() and not path.name.startswith((".", "~$"))
                    and path.suffix.lower() in SUPPORTED):
                found.append((folder.name, path))
    return found


def check_receipt(feeds: FeedTable, maps: dict[str, ColumnMap], source: str, path: Path,
                  file_name: str) -> tuple[str, str, str]:
    """(kind, map, problem) for a file at receipt: its feed's kind is known, the file opens and
    some column map of that kind fits it."""
    feed = feeds.feed(source)
    problem = feeds.kind_problem(source)
    if problem:
        return feed.kind, "", problem
    try:
        chosen = check_extract(path, feed.kind, maps, file_name, feed.map_name)
    except ExtractError as exc:
        return feed.kind, "", str(exc.naming(file_name))
    return feed.kind, chosen.cmap.name, ""


def archive_file(root: Path, raw: Path, source: str, path: Path, ledger: Ledger,
                 feeds: FeedTable, maps: dict[str, ColumnMap],
                 now: datetime | None = None) -> Receipt:
    """Copy one inbox file into the archive `raw` (once per distinct content), check it can be
    read as its feed's kind, and record both in the ledger (paths relative to `root`)."""
    now = now or datetime.now(UTC)
    digest = sha256_of(path)
    duplicate = digest in ledger.known_hashes()
    day = now.strftime("%Y-%m-%d")
    relative = (raw / source / day / f"{digest}{path.suffix.lower()}").relative_to(root)
    if duplicate:
        earlier = next(r for r in ledger.receipts() if r.sha256 == digest)
        relative = Path(earlier.archive_path)
    else:
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + PARTIAL)
        _copy_durably(path, tmp)
        if sha256_of(tmp) != digest:
            tmp.unlink()
            raise OSError(f"{path.name}: the archive copy does not match the file; "
                          "nothing was archived")
        os.chmod(tmp, 0o440)
        os.replace(tmp, target)
    kind, map_name, problem = check_receipt(feeds, maps, source, root / relative, path.name)
    status = "duplicate" if duplicate else ("rejected" if problem else "accepted")
    receipt = Receipt(
        sha256=digest, source=source, file_name=path.name, size=path.stat().st_size,
        received_at=now.isoformat(timespec="seconds"), archive_path=str(relative),
        duplicate=duplicate, kind=kind, map_name=map_name, status=status, problem=problem,
    )
    ledger.append({"event": "received", **asdict(receipt)})
    return receipt


def _copy_durably(source: Path, target: Path) -> None:
    """Copy and fsync, so the inbox copy is only ever removed once the archive copy is on disk.
    With a checkpoint hook installed, the first half is fsynced and point `archive-copy`
    reached before the rest is copied."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with source.open("rb") as fh:
            _copy_bytes(fh, fd, os.fstat(fh.fileno()).st_size // 2)
            if checkpoints.installed():
                os.fsync(fd)
                checkpoints.reached("archive-copy")
            _copy_bytes(fh, fd, None)
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_bytes(fh, fd: int, limit: int | None) -> None:
    left = limit
    while left is None or left > 0:
        block = fh.read(CHUNK if left is None else min(CHUNK, left))
        if not block:
            return
        view = memoryview(block)
        while view:
            view = view[os.write(fd, view):]
        if left is not None:
            left -= len(block)


def remove_partial_copies(raw: Path) -> list[Path]:
    """Archive copies cut short by a killed run (`*.part`, never in the ledger); call it holding
    the run lock. The inbox still holds each such file, so the next receipt copies it again."""
    removed = []
    if raw.exists():
        for path in sorted(raw.rglob(f"*{PARTIAL}")):
            path.unlink()
            removed.append(path)
    return removed


def receive_inbox(root: Path, inbox: Path, raw: Path, ledger: Ledger, feeds: FeedTable,
                  maps: dict[str, ColumnMap], now: datetime | None = None) -> list[Receipt]:
    """Archive every file in the inbox into `raw`, then remove it from the inbox.

    The inbox copy is removed only after the archive copy is verified, so a crash in between
    leaves the file in the inbox to be received (as a duplicate, harmlessly) next time.
    """
    receipts = []
    for source, path in inbox_files(inbox):
        receipts.append(archive_file(root, raw, source, path, ledger, feeds, maps, now))
        path.unlink()
    return receipts


def current_extracts(receipts: list[Receipt], feeds: FeedTable,
                     unusable: set[str] | frozenset[str] = frozenset()) -> list[Receipt]:
    """The accepted extracts a build uses, oldest first.

    A full-refresh feed's newest delivery (the accepted files received on its latest day)
    replaces everything before it; an incremental feed's files all count, later ones superseding
    earlier rows with the same record id when loaded in this order. Files in `unusable` (failed
    ingestion) are passed over, so a broken re-delivery never hides the last good one.
    """
    accepted = [r for r in receipts if r.status == "accepted" and r.sha256 not in unusable]
    chosen = []
    for source in sorted({r.source for r in accepted}):
        mine = sorted((r for r in accepted if r.source == source),
                      key=lambda r: (r.received_at, r.file_name))
        if feeds.feed(source).refresh == "full":
            last_day = max(Path(r.archive_path).parent.name for r in mine)
            mine = [r for r in mine if Path(r.archive_path).parent.name == last_day]
        chosen.extend(mine)
    return chosen
