import os
import stat
from datetime import UTC, datetime
from pathlib import Path

from sources.archive import Ledger, current_extracts, receive_inbox, sha256_of


def _ok(source: str, path: Path, file_name: str):
    return source, "some_map", ""


def _drop(home: Path, source: str, name: str, text: str) -> Path:
    folder = home / "inbox" / source
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_files_are_archived_by_hash_read_only_and_removed_from_inbox(tmp_path):
    path = _drop(tmp_path, "police", "extract.csv", "a,b\n1,2\n")
    digest = sha256_of(path)
    (receipt,) = receive_inbox(tmp_path, _ok, datetime(2026, 11, 1, tzinfo=UTC))
    archived = tmp_path / receipt.archive_path
    assert archived.name == f"{digest}.csv" and archived.parent.name == "2026-11-01"
    assert archived.read_text() == "a,b\n1,2\n"
    assert not stat.S_IMODE(os.stat(archived).st_mode) & 0o222   # nobody can write to it
    assert not path.exists()
    assert receipt.status == "accepted" and not receipt.duplicate


def test_same_file_twice_is_a_duplicate_and_not_counted_again(tmp_path):
    _drop(tmp_path, "police", "a.csv", "x\n1\n")
    receive_inbox(tmp_path, _ok, datetime(2026, 11, 1, tzinfo=UTC))
    _drop(tmp_path, "police", "a-resent.csv", "x\n1\n")
    (again,) = receive_inbox(tmp_path, _ok, datetime(2026, 11, 2, tzinfo=UTC))
    assert again.duplicate and again.status == "duplicate"
    receipts = Ledger(tmp_path).receipts()
    assert len(current_extracts(receipts, lambda s: "full")) == 1


def test_full_refresh_uses_the_latest_delivery_incremental_uses_all(tmp_path):
    _drop(tmp_path, "police", "oct.csv", "x\n1\n")
    _drop(tmp_path, "school", "aut.csv", "y\n1\n")
    receive_inbox(tmp_path, _ok, datetime(2026, 10, 1, tzinfo=UTC))
    _drop(tmp_path, "police", "nov.csv", "x\n2\n")
    _drop(tmp_path, "school", "spr.csv", "y\n2\n")
    receive_inbox(tmp_path, _ok, datetime(2026, 11, 1, tzinfo=UTC))
    chosen = current_extracts(Ledger(tmp_path).receipts(),
                              lambda s: "incremental" if s == "school" else "full")
    assert [(r.source, r.file_name) for r in chosen] == [
        ("police", "nov.csv"), ("school", "aut.csv"), ("school", "spr.csv")]


def test_rejected_files_are_archived_but_never_used(tmp_path):
    _drop(tmp_path, "police", "good.csv", "x\n1\n")
    receive_inbox(tmp_path, _ok, datetime(2026, 10, 1, tzinfo=UTC))
    _drop(tmp_path, "police", "broken.csv", "x\n2\n")
    (bad,) = receive_inbox(tmp_path, lambda s, p, n: (s, "", "cannot read"),
                           datetime(2026, 11, 1, tzinfo=UTC))
    assert bad.status == "rejected" and (tmp_path / bad.archive_path).exists()
    chosen = current_extracts(Ledger(tmp_path).receipts(), lambda s: "full")
    assert [r.file_name for r in chosen] == ["good.csv"]


def test_ledger_has_no_file_contents(tmp_path):
    _drop(tmp_path, "police", "a.csv", "name\nInventedName\n")
    receive_inbox(tmp_path, _ok)
    assert "InventedName" not in (tmp_path / "lake" / "ledger.jsonl").read_text()
