import os
import stat
from datetime import UTC, datetime
from pathlib import Path

from flows.home import Home
from sources.archive import Ledger, current_extracts, receive_inbox, sha256_of
from sources.column_maps import ColumnMap
from sources.feeds import FeedTable

# Column maps that fit the tiny files below: column `x` makes a police extract, `y` a school one.
MAPS = {
    "some_map": ColumnMap(name="some_map", kind="police", supplier="", path=Path("some_map"),
                          columns={}, detect=("x",)),
    "school_map": ColumnMap(name="school_map", kind="school", supplier="",
                            path=Path("school_map"), columns={}, detect=("y",)),
}
FULL = FeedTable()                                  # police: full refresh (its kind's default)


def _receive(root: Path, now: datetime | None = None, feeds: FeedTable = FULL):
    home = Home(root)
    return receive_inbox(home.root, home.inbox, home.raw, Ledger(home.ledger), feeds, MAPS,
                         now).receipts


def _receipts(root: Path):
    return Ledger(Home(root).ledger).receipts()


def _drop(home: Path, source: str, name: str, text: str) -> Path:
    folder = Home(home).inbox / source
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_files_are_archived_by_hash_read_only_and_removed_from_inbox(tmp_path):
    path = _drop(tmp_path, "police", "extract.csv", "x,b\n1,2\n")
    digest = sha256_of(path)
    (receipt,) = _receive(tmp_path, datetime(2026, 11, 1, tzinfo=UTC))
    archived = tmp_path / receipt.archive_path
    assert archived.name == f"{digest}.csv" and archived.parent.name == "2026-11-01"
    # the ledger records the copy relative to the home, as ledgers always have
    assert archived.parent.parent.parent == Home(tmp_path).raw
    assert not Path(receipt.archive_path).is_absolute()
    assert archived.read_text() == "x,b\n1,2\n"
    assert not stat.S_IMODE(os.stat(archived).st_mode) & 0o222   # nobody can write to it
    assert not path.exists()
    assert receipt.status == "accepted" and not receipt.duplicate
    assert (receipt.kind, receipt.map_name) == ("police", "some_map")


def test_same_file_twice_is_a_duplicate_and_not_counted_again(tmp_path):
    _drop(tmp_path, "police", "a.csv", "x\n1\n")
    _receive(tmp_path, datetime(2026, 11, 1, tzinfo=UTC))
    _drop(tmp_path, "police", "a-resent.csv", "x\n1\n")
    (again,) = _receive(tmp_path, datetime(2026, 11, 2, tzinfo=UTC))
    assert again.duplicate and again.status == "duplicate"
    assert len(current_extracts(_receipts(tmp_path), FULL)) == 1


def test_full_refresh_uses_the_latest_delivery_incremental_uses_all(tmp_path):
    _drop(tmp_path, "police", "oct.csv", "x\n1\n")
    _drop(tmp_path, "school", "aut.csv", "y\n1\n")
    _receive(tmp_path, datetime(2026, 10, 1, tzinfo=UTC))
    _drop(tmp_path, "police", "nov.csv", "x\n2\n")
    _drop(tmp_path, "school", "spr.csv", "y\n2\n")
    _receive(tmp_path, datetime(2026, 11, 1, tzinfo=UTC))
    feeds = FeedTable()
    assert feeds.feed("school").refresh == "incremental" and feeds.feed("police").refresh == "full"
    chosen = current_extracts(_receipts(tmp_path), feeds)
    assert [(r.source, r.file_name) for r in chosen] == [
        ("police", "nov.csv"), ("school", "aut.csv"), ("school", "spr.csv")]


def test_rejected_files_are_archived_but_never_used(tmp_path):
    _drop(tmp_path, "police", "good.csv", "x\n1\n")
    _receive(tmp_path, datetime(2026, 10, 1, tzinfo=UTC))
    _drop(tmp_path, "police", "broken.csv", "z\n2\n")        # fits no police map
    (bad,) = _receive(tmp_path, datetime(2026, 11, 1, tzinfo=UTC))
    assert bad.status == "rejected" and (tmp_path / bad.archive_path).exists()
    assert bad.problem.startswith("broken.csv: ") and bad.map_name == ""
    chosen = current_extracts(_receipts(tmp_path), FULL)
    assert [r.file_name for r in chosen] == ["good.csv"]


def test_unknown_folder_is_rejected_unless_declared_as_a_feed(tmp_path):
    _drop(tmp_path, "police_north", "a.csv", "x\n1\n")
    (bad,) = _receive(tmp_path, datetime(2026, 10, 1, tzinfo=UTC))
    assert bad.status == "rejected"
    assert bad.problem.startswith("inbox folder 'police_north' is not a known extract kind; "
                                  "use one of police, school, social_care, yot")
    assert "declare it under `feeds:`" in bad.problem
    feeds = FeedTable.from_settings({"police_north": {"kind": "police", "map": "some_map"}})
    assert feeds.feed("police_north").kind == "police" and feeds.feed("yot").kind == "yot"
    _drop(tmp_path, "police_north", "b.csv", "x\n2\n")
    (good,) = _receive(tmp_path, datetime(2026, 10, 2, tzinfo=UTC), feeds)
    assert (good.status, good.kind, good.map_name) == ("accepted", "police", "some_map")
    assert [r.file_name for r in current_extracts(_receipts(tmp_path), feeds)] == ["b.csv"]


def test_ledger_has_no_file_contents(tmp_path):
    _drop(tmp_path, "police", "a.csv", "x\nInventedName\n")
    _receive(tmp_path)
    assert "InventedName" not in Home(tmp_path).ledger.read_text()


def test_receipt_announces_its_checkpoints_only_to_an_installed_hook(tmp_path):
    from sources.common import checkpoints

    seen: list[str] = []
    _drop(tmp_path, "police", "a.csv", "x\n1\n")
    checkpoints.install(seen.append)
    try:
        _receive(tmp_path, datetime(2026, 10, 1, tzinfo=UTC))
    finally:
        checkpoints.uninstall(seen.append)
    assert seen == ["archive-copy", "ledger-append"]
    assert not checkpoints.installed()
    _drop(tmp_path, "police", "b.csv", "x\n2\n")
    _receive(tmp_path, datetime(2026, 10, 2, tzinfo=UTC))       # no hook: nothing to tell
    assert seen == ["archive-copy", "ledger-append"]
    assert len(_receipts(tmp_path)) == 2                        # each append whole either way
