"""The immutable archive of every file received, and the ledger that records it.

A file is copied into `lake/raw/<source>/<received date>/<sha256><ext>` and checked against its
hash before anything else reads it, so a later failure can never lose an extract. The ledger is an
append-only JSON-lines file beside the archive: it outlives every warehouse build, and the nightly
build chooses its inputs from it, so `rebuild` needs nothing but the lake.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from sources.readers import SUPPORTED

CHUNK = 1 << 20


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

    def __init__(self, home: Path):
        self.home = home
        self.path = home / "lake" / "ledger.jsonl"

    def append(self, entry: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(entry, sort_keys=True, default=str)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def entries(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

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
        tmp = target.with_name(target.name + ".part")
        shutil.copyfile(path, tmp)
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
