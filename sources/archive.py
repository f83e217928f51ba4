"""The immutable archive of every file received, and the ledger that records it.

A file is copied into `lake/raw/<source>/<received date>/<sha256><ext>` and checked against its
hash before anything else reads it, so a later failure can never lose an extract. The ledger is an
append-only JSON-lines file beside the archive: it outlives every warehouse build, and the nightly
build chooses its inputs from it, so `rebuild` needs nothing but the lake.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from sources.crashpoints import pause_point, selected, write_in_two
from sources.readers import SUPPORTED

CHUNK = 1 << 20
PARTIAL = ".part"

log = logging.getLogger("joinedup")


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


def append_jsonl(path: Path, entry: dict | list[dict], point: str = "ledger-append") -> None:
    """Append one JSON line (or one per entry of a list, in one write) and fsync it.

    A crash (or full disk) mid-append can leave the last line cut short. If that fragment were
    left unterminated, the next entry would be glued onto it and lost with it, so a file that
    does not end in a newline gets one first: the fragment becomes one unreadable line that
    `read_jsonl` skips, and every later entry stays whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = entry if isinstance(entry, list) else [entry]
    data = "".join(json.dumps(e, sort_keys=True, default=str) + "\n"
                   for e in entries).encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        write_in_two(fd, data, point)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_jsonl(path: Path) -> list[dict]:
    """Every whole entry; lines cut short by a crash are skipped with a warning (which names
    the file and line numbers, never the content)."""
    if not path.exists():
        return []
    out, torn = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace")
                                  .splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            torn.append(number)
            continue
        if isinstance(entry, dict):
            out.append(entry)
        else:
            torn.append(number)
    if torn:
        log.warning("%s: skipped %d unreadable line(s) (%s), left by a run that was killed "
                    "while writing", path.name, len(torn), ", ".join(map(str, torn[:5])))
    return out


class Ledger:
    """Append-only record of receipts and per-run outcomes (no personal data: names of files,
    hashes, counts)."""

    def __init__(self, home: Path):
        self.home = home
        self.path = home / "lake" / "ledger.jsonl"

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


# (source, archived path, name as delivered) -> (kind, map, problem)
Checker = Callable[[str, Path, str], tuple[str, str, str]]


def archive_file(home: Path, source: str, path: Path, ledger: Ledger, check: Checker,
                 now: datetime | None = None) -> Receipt:
    """Copy one inbox file into the lake (once per distinct content), check it can be read as
    its feed's kind, and record both in the ledger."""
    now = now or datetime.now(UTC)
    digest = sha256_of(path)
    duplicate = digest in ledger.known_hashes()
    day = now.strftime("%Y-%m-%d")
    relative = Path("lake") / "raw" / source / day / f"{digest}{path.suffix.lower()}"
    if duplicate:
        earlier = next(r for r in ledger.receipts() if r.sha256 == digest)
        relative = Path(earlier.archive_path)
    else:
        target = home / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + PARTIAL)
        _copy_durably(path, tmp)
        if sha256_of(tmp) != digest:
            tmp.unlink()
            raise OSError(f"{path.name}: the archive copy does not match the file; "
                          "nothing was archived")
        os.chmod(tmp, 0o440)
        os.replace(tmp, target)
    kind, map_name, problem = check(source, home / relative, path.name)
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
    The crash tests stop it halfway (point `archive-copy`)."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with source.open("rb") as fh:
            _copy_bytes(fh, fd, os.fstat(fh.fileno()).st_size // 2)
            if selected("archive-copy"):
                os.fsync(fd)
                pause_point("archive-copy")
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


def remove_partial_copies(home: Path) -> list[Path]:
    """Archive copies cut short by a killed run (`*.part`, never in the ledger); call it holding
    the run lock. The inbox still holds each such file, so the next receipt copies it again."""
    removed = []
    raw = home / "lake" / "raw"
    if raw.exists():
        for path in sorted(raw.rglob(f"*{PARTIAL}")):
            path.unlink()
            removed.append(path)
    return removed


def receive_inbox(home: Path, check: Checker, now: datetime | None = None) -> list[Receipt]:
    """Archive every file in the inbox, then remove it from the inbox.

    The inbox copy is removed only after the archive copy is verified, so a crash in between
    leaves the file in the inbox to be received (as a duplicate, harmlessly) next time.
    """
    ledger = Ledger(home)
    receipts = []
    for source, path in inbox_files(home / "inbox"):
        receipts.append(archive_file(home, source, path, ledger, check, now))
        path.unlink()
    return receipts


def current_extracts(receipts: list[Receipt], refresh: Callable[[str], str],
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
        if refresh(source) == "full":
            last_day = max(Path(r.archive_path).parent.name for r in mine)
            mine = [r for r in mine if Path(r.archive_path).parent.name == last_day]
        chosen.extend(mine)
    return chosen
