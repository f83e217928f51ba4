"""The SSDA903 reader (issue 11, part 2) and sets delivered as a folder (part 3): the CSV set and
the XML form give the same events, missing and away periods and placements feed the catalogue,
and a set that does not hold together is refused whole with its file and rows named.
Synthetic returns only (sources.synth.statutory)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows import steps
from flows.home import Home
from sources.archive import Ledger
from sources.column_maps import load_maps
from sources.errors import ExtractError
from sources.extract import read_extract
from sources.synth.statutory import write_ssda903_set, write_ssda903_xml
from warehouse.db import connect

MAPS = load_maps()
DAY = datetime(2025, 4, 10, 6, 0, tzinfo=UTC)
COLUMNS = ["event_type", "start_at", "end_at", "placement_type", "missing_type",
           "legal_status", "person_ref", "dob", "sex", "upn"]


def _read(path: Path):
    return read_extract(path, "social_care", MAPS, path.name)


def _events(path: Path):
    frame = _read(path).mapped.frame[COLUMNS]
    return frame.sort_values(COLUMNS[:6]).reset_index(drop=True)


@pytest.mark.parametrize("year", [2024, 2025])      # SEX 1/2, then M/F/U
def test_the_csv_set_and_the_xml_form_give_the_same_events(tmp_path, year):
    csv_set = _events(write_ssda903_set(tmp_path / "set", 9, year))
    xml = _events(write_ssda903_xml(tmp_path / "903.xml", 9, year))
    assert csv_set.equals(xml)
    assert set(csv_set["event_type"]) == {"LAC_EPISODE", "PLACEMENT", "MISSING"}
    assert csv_set["sex"].isin(["M", "F"]).all()        # SEX 1/2 before 2025, M/F from 2025


def test_missing_and_away_periods_and_unsupported_placements_are_mapped(tmp_path):
    frame = _read(write_ssda903_set(tmp_path / "set", 9, 2025)).mapped.frame
    missing = frame[frame["event_type"] == "MISSING"]
    assert sorted(set(missing["missing_type"])) == ["AWAY", "MISSING"]
    assert missing["end_at"].isna().sum() == (missing["missing_type"] == "AWAY").sum()
    places = frame.loc[frame["event_type"] == "PLACEMENT"]
    mapped = dict(zip(places["placement_type_raw"], places["placement_type"], strict=True))
    assert {k: mapped[k] for k in ("H5", "K3", "P2")} == {
        "H5": "SEMI_INDEPENDENT", "K3": "SEMI_INDEPENDENT", "P2": "INDEPENDENT"}


def _set(tmp_path: Path) -> Path:
    return write_ssda903_set(tmp_path / "ssda903_2025", 6, 2025)


def _refused(path: Path) -> str:
    with pytest.raises(ExtractError) as err:
        _read(path)
    return str(err.value)


def test_a_set_without_its_header_table_is_refused(tmp_path):
    folder = _set(tmp_path)
    (folder / "header.csv").unlink()
    assert _refused(folder).startswith("ssda903_2025: the SSDA903 set has no Header table (a "
                                       "file with the columns CHILD, SEX, DOB, ETHNIC, UPN, "
                                       "MOTHER, MC_DOB), so none of its tables was loaded")


def test_episodes_for_a_child_missing_from_the_header_are_refused_naming_the_rows(tmp_path):
    folder = _set(tmp_path)
    lines = (folder / "header.csv").read_text().splitlines()
    (folder / "header.csv").write_text("\n".join(lines[:1] + lines[2:]) + "\n")
    message = _refused(folder)
    assert ("Episodes rows name a CHILD that is not in the Header table (episodes.csv row 2, "
            "episodes.csv row 3)") in message
    assert "SYN" not in message                      # the identifier itself is never quoted


def test_a_child_twice_in_the_header_is_refused_naming_both_rows(tmp_path):
    folder = _set(tmp_path)
    lines = (folder / "header.csv").read_text().splitlines()
    (folder / "header.csv").write_text("\n".join([*lines, lines[3]]) + "\n")
    assert ("a CHILD appears more than once in the Header table (header.csv row 4, header.csv "
            "row 8); each child has one Header row") in _refused(folder)


def test_a_file_that_is_no_903_table_is_refused_naming_it(tmp_path):
    folder = _set(tmp_path)
    (folder / "notes.csv").write_text("TITLE,TEXT\na,b\n")
    assert _refused(folder).startswith("ssda903_2025: notes.csv is not one of the SSDA903 "
                                       "tables")


def test_a_truncated_903_xml_is_refused_naming_the_child(tmp_path):
    path = write_ssda903_xml(tmp_path / "903.xml", 4, 2025)
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"<CHILD>", data.index(b"<CHILD>") + 1) + 30])
    assert "(inside EXPSSDA903/CHILD[2]/HEADER[1]" in _refused(path)


def _home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home").ensure()
    home.settings_file.write_text("inbox: {settle_seconds: 0}\n")
    return home


def test_a_set_is_received_as_one_extract_with_each_file_checksum_and_loads_whole(tmp_path):
    home = _home(tmp_path)
    write_ssda903_set(home.inbox / "social_care" / "ssda903_2025", 6, 2025)
    (receipt,) = steps.receive(home, now=DAY).receipts
    assert receipt.status == "accepted" and receipt.map_name == "ssda903"
    assert [f["name"] for f in receipt.files] == ["episodes.csv", "header.csv", "missing.csv",
                                                  "uasc.csv"]
    assert all(len(f["sha256"]) == 64 for f in receipt.files)
    assert receipt.header["tables"]["Header"] == "header.csv"
    assert not (home.inbox / "social_care" / "ssda903_2025").exists()
    (entry,) = [e for e in Ledger(home.ledger).entries() if e.get("event") == "received"]
    assert entry["files"] == receipt.files
    build = steps.new_build(home, "r1", as_of=DAY.date())
    outcome = steps.ingest_extract(build, home, receipt, 0, DAY.date())
    assert outcome.status == "loaded"
    assert outcome.rows_in == outcome.rows_loaded + outcome.rows_quarantined
    assert outcome.rows_quarantined == 0
    con = connect(build)
    try:
        counts = dict(con.execute("SELECT event_type, count(*) FROM staging.social_care "
                                  "GROUP BY 1").fetchall())
    finally:
        con.close()
    assert counts == {"LAC_EPISODE": 12, "PLACEMENT": 12, "MISSING": 4}
    write_ssda903_set(home.inbox / "social_care" / "again", 6, 2025)
    os.rename(home.inbox / "social_care" / "again", home.inbox / "social_care" / "ssda903_2025")
    (again,) = steps.receive(home, now=DAY).receipts
    assert again.status == "duplicate" and again.sha256 == receipt.sha256


def test_a_set_that_fails_its_checks_is_rejected_at_ingest_and_loads_nothing(tmp_path):
    home = _home(tmp_path)
    folder = write_ssda903_set(home.inbox / "social_care" / "ssda903_2025", 6, 2025)
    lines = (folder / "header.csv").read_text().splitlines()
    (folder / "header.csv").write_text("\n".join([*lines, lines[2]]) + "\n")
    (receipt,) = steps.receive(home, now=DAY).receipts
    build = steps.new_build(home, "r1", as_of=DAY.date())
    outcome = steps.ingest_extract(build, home, receipt, 0, DAY.date())
    assert outcome.status == "rejected" and outcome.rows_loaded == 0
    assert outcome.problem.startswith("ssda903_2025: a CHILD appears more than once")


def test_a_set_with_a_file_still_being_written_waits_whole(tmp_path):
    home = _home(tmp_path)
    home.settings_file.write_text("inbox: {settle_seconds: 60}\n")
    folder = write_ssda903_set(home.inbox / "social_care" / "ssda903_2025", 3, 2025)
    old = time.time() - 3600
    for path in folder.iterdir():
        os.utime(path, (old, old))
    (folder / "missing.csv").touch()
    done = steps.receive(home)
    assert done.receipts == [] and [e.name for e in done.waiting] == ["social_care/ssda903_2025"]
    assert "its file missing.csv was written within the settle time" in done.waiting[0].problem
    assert len(list(folder.iterdir())) == 4


def test_a_set_holding_a_link_or_a_folder_is_refused_whole_and_left(tmp_path):
    home = _home(tmp_path)
    folder = write_ssda903_set(home.inbox / "social_care" / "ssda903_2025", 3, 2025)
    (folder / "elsewhere.csv").symlink_to(tmp_path / "outside.csv")
    (refused,) = steps.receive(home, now=DAY).refused
    assert refused.name == "social_care/ssda903_2025"
    assert "the set was not received, none of it was read" in refused.problem
    assert "ssda903_2025/elsewhere.csv: a symbolic link" in refused.problem
    assert (folder / "header.csv").exists() and not (home.raw / "social_care").exists()
    assert [e["file_name"] for e in Ledger(home.ledger).entries()
            if e.get("event") == "refused"] == ["social_care/ssda903_2025"]


EVERY_TABLE = {
    "reviews.csv": "CHILD,DOB,REVIEW,REVIEW_CODE\nSYN0000001,{dob},01/02/2025,PN1\n",
    "oc2.csv": ("CHILD,DOB,SDQ_SCORE,SDQ_REASON,CONVICTED,HEALTH_CHECK,IMMUNISATIONS,"
                "TEETH_CHECK,HEALTH_ASSESSMENT,SUBSTANCE_MISUSE,INTERVENTION_RECEIVED,"
                "INTERVENTION_OFFERED\nSYN0000001,{dob},12,,0,1,1,1,1,0,0,0\n"),
    "oc3.csv": "CHILD,DOB,IN_TOUCH,ACTIV,ACCOM\nSYN0000002,{dob},YES,F1,B1\n",
    "ad1.csv": ("CHILD,DOB,DATE_INT,DATE_MATCH,FOSTER_CARE,NB_ADOPTR,SEX_ADOPTR,LS_ADOPTR\n"
                "SYN0000003,{dob},01/01/2025,01/02/2025,0,1,F1,L0\n"),
    "placed.csv": ("CHILD,DOB,DATE_PLACED,DATE_PLACED_CEASED,REASON_PLACED_CEASED\n"
                   "SYN0000003,{dob},01/03/2025,,\n"),
    "prevperm.csv": "CHILD,DOB,PREV_PERM,LA_PERM,DATE_PERM\nSYN0000001,{dob},Z1,,\n",
    "sw.csv": ("CHILD,DOB,SW_ID,SW_DECOM,SW_DEC,SW_REASON\n"
               "SYN0000001,{dob},SW123,01/01/2025,,\n"),
    "dolo.csv": "CHILD,DOB,DOLO_START,DOLO_END\nSYN0000002,{dob},01/01/2025,\n",
}


def test_every_903_table_is_told_by_its_columns_and_checked_against_the_header(tmp_path):
    from sources.statutory.ssda903 import Ssda903SetSource

    folder = _set(tmp_path)
    for name, text in EVERY_TABLE.items():
        (folder / name).write_text(text.format(dob="01/01/2010"))
    source = Ssda903SetSource(folder)
    source.read()
    assert set(source.header.tables) == {"Header", "Episodes", "Missing", "UASC", "Reviews",
                                         "OC2", "OC3", "AD1", "PlacedAdoption", "PrevPerm",
                                         "SWEpisodes", "DoLo"}
    (folder / "oc3.csv").write_text(EVERY_TABLE["oc3.csv"].format(dob="01/01/2010")
                                    + "SYN0000002,01/01/2010,NO,F2,C1\n")
    assert ("a CHILD appears more than once in the OC3 table (oc3.csv row 2, oc3.csv row 3), "
            "which holds one row per child") in _refused(folder)


XML_CHILD = """<CHILD><HEADER><CHILDID>C1</CHILDID><SEX>F</SEX><DOB>01/01/2010</DOB>
<ETHNIC>WBRI</ETHNIC><UPN>UN1</UPN><MOTHER>0</MOTHER><IN_TOUCH>YES</IN_TOUCH><ACTIV>F1</ACTIV>
<ACCOM>B1</ACCOM><AREVIEW><REVIEW>01/02/2025</REVIEW><REVIEW_CODE>PN1</REVIEW_CODE></AREVIEW>
<AMISSING><MISSING>M</MISSING><MIS_START>02/02/2025</MIS_START><MIS_END>03/02/2025</MIS_END>
</AMISSING></HEADER><EPISODE><DECOM>01/01/2025</DECOM><RNE>S</RNE><LS>J1</LS><CIN>N1</CIN>
<PL>K3</PL><PLACE_PROVIDER>PR4</PLACE_PROVIDER></EPISODE></CHILD>"""


def test_the_903_xml_form_reads_blocks_nested_in_the_header(tmp_path):
    from sources.statutory.ssda903 import Ssda903XmlSource

    path = tmp_path / "903.xml"
    path.write_text(f"<EXPSSDA903>{XML_CHILD}</EXPSSDA903>")
    source = Ssda903XmlSource(path)
    frame = _read(path).mapped.frame.set_index("event_type")
    assert frame.at["PLACEMENT", "placement_type"] == "SEMI_INDEPENDENT"
    assert frame.at["LAC_EPISODE", "legal_status"] == "J1"
    assert frame.at["MISSING", "missing_type"] == "MISSING"
    assert frame.at["MISSING", "record_id"] == "CHILD[1]/HEADER[1]/AMISSING[1]#MISSING"
    source.read()
    assert {"Header", "Episodes", "Missing", "Reviews", "OC3"} <= set(source.header.tables)
    path.write_text(f"<EXPSSDA903>{XML_CHILD}{XML_CHILD}</EXPSSDA903>")
    assert ("a CHILD appears more than once in the Header table (CHILD[1]/HEADER[1], "
            "CHILD[2]/HEADER[1])") in _refused(path)
