"""Every delivered file accounted for, messages instead of tracebacks, bounded cost on hostile
files (issue 16, items 2, 3 and 7). Receiving and reading are tested directly; the command
line only where the message is its job, and a real run only for SIGTERM. Invented data only."""

from __future__ import annotations

import errno
import gzip
import io
import json
import os
import sys
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows import steps
from flows.cli import app
from flows.home import Home
from sources.archive import Ledger
from sources.column_maps import load_maps
from sources.errors import ExtractError
from sources.readers import open_source
from tests.builders.police_map import police_csv, write_map
from warehouse import swap
from warehouse.db import connect

DAY = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
ROW = ("OCC{n},MISPER,01/03/2026 10:00,01/03/2026 08:00,01/03/2026 20:00,,,,NOM{n},Zorbelia,"
       "Quenthorpe,03/04/2012,{sex},W1,IC1,ZX1 1AA")
GOOD = police_csv([ROW.format(n=1, sex="Female"), ROW.format(n=2, sex="Female")])
AT_ONCE = "inbox: {settle_seconds: 0}\n"


def _home(tmp_path: Path, settings: str = AT_ONCE) -> Home:
    home = Home(tmp_path / "home").ensure()
    write_map(home.maps)
    home.settings_file.write_text(settings)
    return home


def _drop(home: Home, relative: str, data: bytes | str) -> Path:
    path = home.inbox / os.fsdecode(relative.encode("utf-8", "surrogateescape"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def _ledger(home: Home, event: str) -> list[dict]:
    return [e for e in Ledger(home.ledger).entries() if e.get("event") == event]


def _lake_files(home: Home) -> list[Path]:
    return [p for p in home.raw.rglob("*") if p.is_file()] if home.raw.exists() else []


# --- item 2: every entry of the inbox is received, refused or left waiting -------------------

def test_a_file_directly_in_the_inbox_is_refused_with_a_ledger_entry_and_left(tmp_path):
    home = _home(tmp_path)
    loose = _drop(home, "rms_march.csv", GOOD)
    done = steps.receive(home, now=DAY)
    (refused,) = done.refused
    assert refused.problem.startswith("rms_march.csv: the file is directly in inbox/")
    assert "Move it into inbox/<kind>/" in refused.problem
    assert loose.exists() and not _lake_files(home)
    (entry,) = _ledger(home, "refused")
    assert entry["file_name"] == "rms_march.csv" and entry["problem"] == refused.problem


def test_a_folder_in_a_feed_that_takes_sets_is_received_whole_as_one_extract(tmp_path):
    home = _home(tmp_path)
    for table in ("header", "episodes", "uasc"):
        _drop(home, f"social_care/ssda903_2026/{table}.csv", "CHILD,SEX\n1,1\n")
    (receipt,) = steps.receive(home, now=DAY).receipts
    assert receipt.file_name == "ssda903_2026" and len(receipt.files) == 3
    assert receipt.status == "rejected"
    assert receipt.problem.startswith("ssda903_2026: episodes.csv is not one of the SSDA903 "
                                      "tables")
    assert not (home.inbox / "social_care" / "ssda903_2026").exists()
    assert sorted(p.name for p in (home.root / receipt.archive_path).iterdir())[-1] == \
        "manifest.json"


def test_a_folder_in_a_feed_that_takes_no_sets_is_refused_and_left(tmp_path):
    home = _home(tmp_path)
    _drop(home, "police/march/rms.csv", GOOD)
    (refused,) = steps.receive(home, now=DAY).refused
    assert refused.name == "police/march" and "(1 entry)" in refused.problem
    assert "only a feed that takes sets of files (social_care" in refused.problem
    assert (home.inbox / "police" / "march" / "rms.csv").exists()
    assert [e["file_name"] for e in _ledger(home, "refused")] == ["police/march"]


def test_a_nested_file_is_never_read(tmp_path):
    home = _home(tmp_path)
    _drop(home, "police/old/rms.csv", GOOD)
    done = steps.receive(home, now=DAY)
    assert done.receipts == [] and [e.name for e in done.refused] == ["police/old"]


def test_a_symlink_out_of_the_home_is_refused_and_never_followed(tmp_path):
    home = _home(tmp_path)
    outside = tmp_path / "elsewhere.csv"
    outside.write_text(GOOD)
    (home.inbox / "police").mkdir()
    (home.inbox / "police" / "rms.csv").symlink_to(outside)
    (home.inbox / "linked_feed").symlink_to(tmp_path, target_is_directory=True)
    done = steps.receive(home, now=DAY)
    assert done.receipts == []
    assert sorted(e.name for e in done.refused) == ["linked_feed", "police/rms.csv"]
    assert all("a symbolic link; links are never followed" in e.problem for e in done.refused)
    assert not _lake_files(home) and outside.read_text() == GOOD
    assert len(_ledger(home, "refused")) == 2


def test_a_cin_census_xml_file_without_children_is_rejected_and_archived(tmp_path):
    home = _home(tmp_path)
    _drop(home, "social_care/cin_census_2026.xml", "<Message><Header/></Message>")
    (receipt,) = steps.receive(home, now=DAY).receipts
    assert receipt.status == "rejected"
    assert receipt.problem.startswith("cin_census_2026.xml: the CIN census holds no children")
    assert (home.root / receipt.archive_path).exists()


def test_files_and_folders_the_pipeline_cannot_read_are_refused(tmp_path, monkeypatch):
    import sources.inbox as inbox

    home = _home(tmp_path)
    unreadable = _drop(home, "police/rms.csv", GOOD)
    _drop(home, "school/attendance.csv", GOOD)
    real_scandir = os.scandir

    def locked_school(path):
        if Path(path).name == "school":
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(inbox.os, "access", lambda path, mode: Path(path) != unreadable)
    monkeypatch.setattr(inbox.os, "scandir", locked_school)
    done = steps.receive(home, now=DAY)
    assert sorted(e.problem for e in done.refused) == [
        "police/rms.csv: cannot be read (Permission denied), so it was left there. Give the "
        "pipeline's user read access to it",
        "school: cannot be read (Permission denied), so it was left there. Give the pipeline's "
        "user read access to it"]
    assert unreadable.exists() and not done.receipts


def test_hidden_lock_and_partial_files_are_counted_as_ignored(tmp_path):
    home = _home(tmp_path)
    for name in ("police/.DS_Store", "police/~$rms.xlsx", "police/rms.csv.part"):
        _drop(home, name, "x")
    done = steps.receive(home, now=DAY)
    assert len(done.ignored) == 3 and not done.receipts and not done.refused


def test_the_run_summary_counts_refused_waiting_and_ignored_files():
    from rich.console import Console

    from flows.nightly import summary_markdown
    from flows.summary import print_summary

    summary = {"run_id": "r1", "as_of": "2026-03-31", "files_received": 2, "files_rejected": 1,
               "files_refused": 3, "files_waiting": 1, "files_ignored": 4, "extracts": [],
               "linkage": {}, "tables": {}, "exports": [], "person_records": 0,
               "warehouse": "w.duckdb"}
    assert ("2 files received, 1 rejected; in the inbox, 3 refused, 1 left for the next run "
            "and 4 ignored.") in summary_markdown(summary)
    console = Console(file=io.StringIO(), width=120)
    print_summary(summary, console)
    printed = console.file.getvalue()
    assert "inbox files refused" in printed and "inbox files ignored" in printed


# --- files still being written -----------------------------------------------------------------

def test_a_file_written_within_the_settle_time_waits_and_is_not_deleted(tmp_path):
    home = _home(tmp_path, "inbox: {settle_seconds: 600}\n")
    fresh = _drop(home, "police/rms.csv", GOOD)
    done = steps.receive(home, now=DAY)
    (waiting,) = done.waiting
    assert "within the settle time (inbox.settle_seconds: 600)" in waiting.problem
    assert "left in the inbox for the next run" in waiting.problem
    assert fresh.exists() and not done.receipts and not _lake_files(home)
    assert [e["file_name"] for e in _ledger(home, "waiting")] == ["police/rms.csv"]
    old = DAY.timestamp()                       # an mtime long past: settled
    os.utime(fresh, (old, old))
    (receipt,) = steps.receive(home, now=DAY).receipts
    assert receipt.status == "accepted" and not fresh.exists()


def test_a_file_growing_while_it_is_copied_is_left_whole_for_the_next_run(tmp_path):
    from sources.common import checkpoints

    home = _home(tmp_path)
    growing = _drop(home, "police/rms.csv", GOOD)

    def writer_adds_a_row(point: str) -> None:
        if point == "archive-copy":
            with growing.open("a") as fh:
                fh.write(ROW.format(n=3, sex="Male") + "\n")

    checkpoints.install(writer_adds_a_row)
    try:
        done = steps.receive(home, now=DAY)
    finally:
        checkpoints.uninstall(writer_adds_a_row)
    (waiting,) = done.waiting
    assert "it changed while it was being archived" in waiting.problem
    assert growing.exists() and growing.read_text().count("OCC") == 3
    assert not done.receipts and not _lake_files(home)         # no partial copy left either


# --- file names of any bytes ---------------------------------------------------------------------

def test_names_that_are_not_utf8_or_hold_a_newline_are_escaped_everywhere(tmp_path, caplog):
    home = _home(tmp_path)
    _drop(home, "police/rms_\udce9t\udce9.csv", GOOD)            # Latin-1 bytes in the name
    _drop(home, "police/rms\nERROR forged line.csv", GOOD.replace("OCC1", "OCC7"))
    with caplog.at_level("INFO", logger="joinedup"):
        receipts = steps.receive(home, now=DAY).receipts
    assert sorted(r.file_name for r in receipts) == ["rms\\x0aERROR forged line.csv",
                                                      "rms_\\xe9t\\xe9.csv"]
    assert all(r.status == "accepted" for r in receipts)
    assert "\n" not in Home(home.root).ledger.read_text().strip("\n").replace("}\n{", "")
    build = steps.new_build(home, "run1", as_of=date(2026, 3, 31))
    outcomes = [steps.ingest_extract(build, home, r, seq, date(2026, 4, 1))
                for seq, r in enumerate(receipts, start=1)]
    assert [o.status for o in outcomes] == ["loaded", "loaded"]      # Data Docs written too
    assert not any("\n" in record.getMessage() for record in caplog.records)


def test_a_raw_name_in_an_older_ledger_is_escaped_when_read(tmp_path):
    home = _home(tmp_path)
    _drop(home, "police/rms.csv", GOOD)
    (receipt,) = steps.receive(home, now=DAY).receipts
    entries = Ledger(home.ledger).entries()
    entries[0]["file_name"] = "rms_\udce9\n.csv"        # as a ledger written before this change
    home.ledger.write_text("".join(json.dumps(e) + "\n" for e in entries))
    (planned,) = steps.plan_extracts(home)
    assert planned.file_name == "rms_\\xe9\\x0a.csv"
    build = steps.new_build(home, "run1", as_of=date(2026, 3, 31))
    assert steps.ingest_extract(build, home, planned, 1, date(2026, 4, 1)).status == "loaded"


# --- a delivery that fails never blocks later runs ---------------------------------------------

def test_a_same_day_correction_supersedes_the_rows_it_corrects(tmp_path):
    home = _home(tmp_path)
    _drop(home, "police/rms.csv", GOOD)
    steps.receive(home, now=DAY)
    _drop(home, "police/rms_corrected.csv",
          police_csv([ROW.format(n=1, sex="Female"), ROW.format(n=2, sex="Male")]))
    steps.receive(home, now=DAY.replace(hour=9))
    plan = steps.plan_extracts(home)
    assert [r.file_name for r in plan] == ["rms.csv", "rms_corrected.csv"]
    build = steps.new_build(home, "run1", as_of=date(2026, 3, 31))
    outcomes = [steps.ingest_extract(build, home, r, seq, date(2026, 4, 1))
                for seq, r in enumerate(plan, start=1)]
    assert [o.status for o in outcomes] == ["loaded", "loaded"]
    con = connect(build, read_only=True)
    try:
        rows = con.execute("SELECT record_key, sex FROM staging.person_row "
                           "ORDER BY record_key").fetchall()
    finally:
        con.close()
    assert rows == [("police:OCC1", "F"), ("police:OCC2", "M")]


def test_rows_the_warehouse_cannot_hold_reject_the_file_instead_of_the_run(tmp_path,
                                                                            monkeypatch):
    import duckdb

    from warehouse import build as build_life

    home = _home(tmp_path)
    _drop(home, "police/rms.csv", GOOD)
    (receipt,) = steps.receive(home, now=DAY).receipts
    build = steps.new_build(home, "run1", as_of=date(2026, 3, 31))

    def duplicate_key(*args, **kwargs):
        raise duckdb.ConstraintException('Duplicate key "record_key: police:OCC1"')

    monkeypatch.setattr(build_life, "record_extract", duplicate_key)
    outcome = steps.ingest_extract(build, home, receipt, 1, date(2026, 4, 1))
    assert outcome.status == "rejected"
    assert outcome.problem == ("rms.csv: its rows could not be loaded (ConstraintException); the "
                               "file was skipped and will not be used. Ask the supplier to "
                               "check the extract and send it again")
    steps.record_outcomes(home, "run1", [outcome])
    assert steps.plan_extracts(home) == []


# --- item 7: bounded cost on hostile files -----------------------------------------------------

def _workbook_parts() -> dict[str, bytes]:
    import openpyxl

    book = openpyxl.Workbook()
    for line in GOOD.splitlines():
        book.active.append(line.split(","))
    buffer = io.BytesIO()
    book.save(buffer)
    with zipfile.ZipFile(buffer) as z:
        return {n: z.read(n) for n in z.namelist()}


def _zip(parts: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return buffer.getvalue()


def test_a_workbook_expanding_past_the_limit_is_refused_before_it_is_expanded(tmp_path):
    parts = _workbook_parts()
    sheet = "xl/worksheets/sheet1.xml"
    parts[sheet] = parts[sheet].replace(b"<sheetData>", b"<sheetData>" + b" " * (3 << 20))
    home = _home(tmp_path, "inbox: {settle_seconds: 0, max_uncompressed_mb: 1}\n")
    _drop(home, "police/bomb.xlsx", _zip(parts))
    (receipt,) = steps.receive(home, now=DAY).receipts
    assert receipt.status == "rejected"
    assert receipt.problem.startswith("bomb.xlsx: the workbook declares more than 1 MB "
                                      "uncompressed (inbox.max_uncompressed_mb)")


def test_a_workbook_part_that_lies_about_its_size_is_still_bounded(tmp_path):
    from sources.readers import ReadLimits

    parts = _workbook_parts()
    sheet = "xl/worksheets/sheet1.xml"
    parts[sheet] = parts[sheet].replace(b"<sheetData>", b"<sheetData>" + b" " * (3 << 20))
    data = bytearray(_zip(parts))
    # rewrite the sheet's declared size in the central directory to 100 bytes
    offset = data.find(b"PK\x01\x02")
    while offset != -1:
        name_len = int.from_bytes(data[offset + 28:offset + 30], "little")
        if data[offset + 46:offset + 46 + name_len] == sheet.encode():
            data[offset + 24:offset + 28] = (100).to_bytes(4, "little")
        offset = data.find(b"PK\x01\x02", offset + 4)
    path = tmp_path / "liar.xlsx"
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as z:
        assert z.getinfo(sheet).file_size == 100
    with pytest.raises(ExtractError) as caught:
        open_source(path, limits=ReadLimits(max_bytes=1 << 20))
    assert "liar.xlsx: the workbook" in str(caught.value)


def test_a_sheet_with_a_cell_at_the_far_corner_is_refused_by_its_cell_count(tmp_path):
    parts = _workbook_parts()
    sheet = "xl/worksheets/sheet1.xml"
    parts[sheet] = parts[sheet].replace(
        b"</sheetData>", b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>')
    path = tmp_path / "corner.xlsx"
    path.write_bytes(_zip(parts))
    with pytest.raises(ExtractError) as caught:
        open_source(path)
    assert str(caught.value).startswith("corner.xlsx: a sheet reaches row 1,048,576 and column "
                                        "16,384, more than 20,000,000 cells (inbox.max_cells)")
    small = tmp_path / "small.xlsx"
    small.write_bytes(_zip(_workbook_parts()))
    assert open_source(small).peek()[1][0] == "OCC1"


def test_a_csv_gz_is_read_and_a_gzip_bomb_refused(tmp_path):
    home = _home(tmp_path, "inbox: {settle_seconds: 0, max_uncompressed_mb: 1}\n")
    _drop(home, "police/rms.csv.gz", gzip.compress(GOOD.encode()))
    _drop(home, "police/bomb.csv.gz", gzip.compress(GOOD.encode() + b" " * (3 << 20)))
    receipts = {r.file_name: r for r in steps.receive(home, now=DAY).receipts}
    assert receipts["rms.csv.gz"].status == "accepted"
    assert receipts["rms.csv.gz"].archive_path.endswith(".csv.gz")
    assert receipts["bomb.csv.gz"].problem.startswith(
        "bomb.csv.gz: the compressed file expands to more than 1 MB uncompressed")
    build = steps.new_build(home, "run1", as_of=date(2026, 3, 31))
    outcome = steps.ingest_extract(build, home, receipts["rms.csv.gz"], 1, date(2026, 4, 1))
    assert (outcome.status, outcome.rows_in) == ("loaded", 2)


# --- item 3: messages, never tracebacks -------------------------------------------------------

def test_a_broken_column_map_is_named_with_its_line(tmp_path):
    from sources.column_maps import MapError

    home = _home(tmp_path)
    (home.maps / "broken.yaml").write_text("name: broken\nkind: police\ncolumns: {a: [\n")
    with pytest.raises(MapError) as caught:
        load_maps([home.maps])
    assert str(caught.value).startswith(f"{home.maps / 'broken.yaml'} line 4, column 1: not "
                                        "valid YAML")
    (home.maps / "broken.yaml").write_text("name: broken\nsupplier: x\ncolumns: {}\n")
    with pytest.raises(MapError) as caught:
        load_maps([home.maps])
    assert str(caught.value) == (f"{home.maps / 'broken.yaml'} line 1: the map names no kind; "
                                 "add `kind:` with one of police, school, social_care, yot")
    (home.maps / "broken.yaml").write_text("name: broken\nsupplier: x\nkind: polce\n"
                                           "columns: {}\n")
    with pytest.raises(MapError, match="broken.yaml line 3: the map names kind 'polce'"):
        load_maps([home.maps])


def test_run_refuses_a_broken_map_or_unreadable_settings_with_a_message(tmp_path):
    home = _home(tmp_path)
    (home.maps / "nokind.yaml").write_text("name: nokind\ncolumns: {}\n")
    result = CliRunner().invoke(app, ["run", "--home", str(home.root)])
    assert result.exit_code == 2
    assert "nokind.yaml line 1: the map names no kind" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    (home.maps / "nokind.yaml").unlink()
    home.settings_file.unlink()
    home.settings_file.mkdir()
    result = CliRunner().invoke(app, ["run", "--home", str(home.root)])
    assert result.exit_code == 2 and "joinedup.yaml: cannot be read" in result.output


def test_a_second_run_and_a_rollback_while_the_lock_is_held_get_one_message(tmp_path):
    home = _home(tmp_path)
    for run_id in ("20260101T000000000000Z", "20260102T000000000000Z"):
        home.build(run_id).write_bytes(b"build")
    swap.publish_build(home.build("20260102T000000000000Z"), home.live)
    with swap.run_lock(home.run_lock):
        for command in ("run", "rollback"):
            result = CliRunner().invoke(app, [command, "--home", str(home.root)])
            assert result.exit_code == 1, result.output
            assert "another Joined Up run is using" in result.output
            assert "Traceback" not in result.output and "generator" not in result.output
            assert isinstance(result.exception, SystemExit)
    assert swap.live_build(home.builds, home.live).stem == "20260102T000000000000Z"


def test_a_full_disk_while_archiving_names_the_place_and_the_space_needed(tmp_path, monkeypatch):
    from flows.cli_errors import plain_message
    from sources import archive

    home = _home(tmp_path)
    delivered = _drop(home, "police/rms.csv", GOOD)

    def no_space(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(archive.os, "write", no_space)
    with pytest.raises(OSError) as caught:
        steps.receive(home, now=DAY)
    monkeypatch.undo()
    message, code = plain_message(caught.value)
    assert code == 1 and message.startswith(
        f"no space left on the disk holding {home.raw / 'police' / '2026-03-10'} while "
        "archiving police/rms.csv; it needs 0.0 MB and ")
    assert "Free some space there and run again; nothing was lost" in message
    assert delivered.exists() and not _lake_files(home)       # no partial copy left
    message, _ = plain_message(OSError(errno.ENOSPC, "No space left on device", "x.duckdb"),
                               home.root)
    assert message.startswith(f"no space left on the disk holding {home.root} while writing "
                              "x.duckdb")


def test_a_full_disk_anywhere_in_a_command_ends_with_one_message(tmp_path, capsys):
    import duckdb
    import typer

    from flows.cli_errors import plain_failures

    for failure in (OSError(errno.ENOSPC, "No space left on device", "w.duckdb"),
                    duckdb.IOException('IO Error: Could not write file "w.duckdb": No space '
                                       'left on device')):
        with pytest.raises(typer.Exit) as caught, plain_failures(tmp_path):
            raise failure
        assert caught.value.exit_code == 1
        printed = capsys.readouterr().err
        assert f"no space left on the disk holding {tmp_path} while " in printed
        assert "Traceback" not in printed
    with pytest.raises(ZeroDivisionError), plain_failures(tmp_path):   # a fault stays one
        raise ZeroDivisionError


def test_prefect_server_slow_to_start_ends_with_one_message(tmp_path, capsys):
    import typer

    import flows  # noqa: F401  (sets the longer start-up allowance unless one is set)
    from flows.cli_errors import EPHEMERAL_TIMEOUT, plain_failures

    assert float(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]) >= 60
    with pytest.raises(typer.Exit) as caught, plain_failures(tmp_path):
        raise RuntimeError(f"{EPHEMERAL_TIMEOUT}. stdout: ...")
    assert caught.value.exit_code == 1
    printed = capsys.readouterr().err
    assert "did not start in time" in printed and "PREFECT_API_URL" in printed
    assert "Traceback" not in printed


def test_ctrl_c_while_prefect_loads_ends_with_one_message(tmp_path, monkeypatch, capsys):
    """Ctrl-C in the seconds `joinedup run` spends importing Prefect, before any run exists."""
    import types

    import typer

    from flows import cli

    class Loading(types.ModuleType):
        def __getattr__(self, name):
            raise KeyboardInterrupt

    monkeypatch.setitem(sys.modules, "flows.nightly", Loading("flows.nightly"))
    home = _home(tmp_path, AT_ONCE)
    with pytest.raises(typer.Exit) as caught:
        cli._run(home.root, None)
    assert caught.value.exit_code == 130
    printed = capsys.readouterr().err
    assert "interrupted before the run started: nothing was changed" in printed
    assert "Traceback" not in printed and not home.ledger.exists()


def test_link_outputs_are_guarded_against_formula_injection(tmp_path):
    import duckdb

    from flows.link_files import LinkOutputs, write_outputs

    con = duckdb.connect()
    con.execute("CREATE SCHEMA linkage")
    con.execute("CREATE TABLE link_records AS SELECT * FROM (VALUES "
                "('=cmd|calc', '@SUM(A1)', 'k1'), ('src', '-2+3', 'k2')) t(source, record_id, "
                "record_key)")
    con.execute("CREATE TABLE linkage.person AS SELECT * FROM (VALUES ('k1', '+P1'), "
                "('k2', 'P2')) t(record_key, person_id)")
    con.execute("CREATE TABLE linkage.model AS SELECT 'name' AS comparison, -3.5 AS weight")
    out = tmp_path / "clusters.csv"
    write_outputs(con, LinkOutputs(out))
    assert out.read_text().splitlines() == ["source,record_id,person_id",
                                            "'=cmd|calc,'@SUM(A1),'+P1", "src,'-2+3,P2"]
    assert out.with_name("clusters.model.csv").read_text().splitlines()[1] == "name,-3.5"


def test_sigterm_and_ctrl_c_stop_a_run_cleanly(prefect_harness, tmp_path):
    """A real `joinedup run`, paused once its build exists (before the first ingest, so no time
    goes on validation) and sent SIGTERM, then another sent SIGINT (Ctrl-C): no traceback, the
    build removed, the run ledger says `interrupted`, nothing published."""
    import signal
    import time

    from flows import run_ledger
    from sources.synth import generate
    from tests.builders.crash_runs import Launcher
    from tests.crash_hook import PAUSE_ENV, PAUSE_MARKER

    home = Home(tmp_path / "home")
    generate(home.inbox, home.truth_records, home.population, children=200, seed=5,
             as_of=date(2026, 10, 31))
    home.settings_file.write_text(AT_ONCE)
    launcher = Launcher()
    printed, returncodes = {}, {}
    try:
        for stop in (signal.SIGTERM, signal.SIGINT):
            log = tmp_path / f"run-{stop.name}.log"
            log.write_text("")
            pid = launcher.start(["run", "--home", str(home.root), "--as-of", "2026-10-31"],
                                 {PAUSE_ENV: "ingest"}, log)
            deadline = time.monotonic() + 240
            while f"{PAUSE_MARKER} ingest" not in log.read_text(errors="replace"):
                assert launcher.ended() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "never reached ingest"
                time.sleep(0.1)
            assert len(list(home.builds.glob("*.duckdb"))) == 1       # the run's own build
            os.kill(pid, stop)
            returncodes[stop.name] = launcher.wait(timeout=120)
            printed[stop.name] = log.read_text(errors="replace")
    finally:
        launcher.close()
    for name, text in printed.items():
        assert returncodes[name] == 130, text[-3000:]
        assert "Traceback" not in text, text[-3000:]
        assert "interrupted: the run stopped before publishing" in text
    runs = run_ledger.runs(home)
    assert [(r["status"], r["step"]) for r in runs] == [("interrupted", "ingest")] * 2
    assert {r["error_class"] for r in runs} <= {"Interrupted", "TerminationSignal",
                                                 "KeyboardInterrupt"}
    assert list(home.builds.glob("*.duckdb")) == [] and not home.live.exists()


def test_sources_check_names_a_broken_map_and_escapes_a_file_name(tmp_path):
    home = _home(tmp_path)
    odd = tmp_path / "rms\nERROR forged.csv"
    odd.write_text(GOOD)
    result = CliRunner().invoke(app, ["sources", "check", str(odd), "--kind", "police",
                                      "--home", str(home.root)])
    assert result.exit_code == 0, result.output
    assert "rms\\x0aERROR forged.csv" in result.output
    assert not any(line.startswith("ERROR forged") for line in result.output.splitlines())
    (home.maps / "broken.yaml").write_text("name: broken\ncolumns: {}\n")
    result = CliRunner().invoke(app, ["sources", "check", str(odd), "--kind", "police",
                                      "--home", str(home.root)])
    assert result.exit_code == 2
    assert "broken.yaml line 1: the map names no kind" in result.output
