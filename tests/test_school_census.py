"""The termly school census reader (issue 11, part 4): pupils on roll with their names and
addresses, absence from the pupils' totals before 2025 and summed from the session rows from
2025, exclusions with their reasons, and a set that does not hold together refused whole with
its files and rows named. Synthetic pupils only (sources.synth.statutory)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from expectations.validate import validate_extract
from flows import steps
from flows.home import Home
from sources.column_maps import load_maps
from sources.errors import ExtractError
from sources.extract import read_extract
from sources.synth.statutory import write_school_census

MAPS = load_maps()
DAY = datetime(2025, 4, 10, 6, 0, tzinfo=UTC)
ABSENCE = ["sessions_possible", "sessions_authorised_absence", "sessions_unauthorised_absence"]


def _read(path: Path):
    return read_extract(path, "school", MAPS, path.name)


def _attendance(path: Path):
    frame = _read(path).mapped.frame
    return frame[frame["record_type"] == "ATTENDANCE"]


def _refused(path: Path) -> str:
    with pytest.raises(ExtractError) as err:
        _read(path)
    return str(err.value)


def test_absence_from_2025_is_summed_from_the_session_rows_and_matches_the_old_totals(tmp_path):
    totals = _attendance(write_school_census(tmp_path / "2024", 10, 2024))    # pupil totals
    summed = _attendance(write_school_census(tmp_path / "2025", 10, 2025))    # session rows
    assert "termlysessionsauthorised" not in (tmp_path / "2025" / "2025_spr_pupilonroll.csv"
                                              ).read_text().splitlines()[0]
    assert totals[ABSENCE].reset_index(drop=True).equals(summed[ABSENCE].reset_index(drop=True))
    # I, M authorised and G, N unauthorised; B (approved activity) is no absence
    assert summed["sessions_authorised_absence"].tolist()[:3] == [4, 5, 5]
    assert summed["sessions_unauthorised_absence"].tolist()[:4] == [0, 0, 2, 3]
    assert summed["academic_year"].eq("2024/25").all() and summed["term"].eq("SPR").all()


def test_pupils_carry_names_upn_sex_and_address_for_linkage(tmp_path):
    frame = _attendance(write_school_census(tmp_path / "sc", 6, 2019))   # 'gender', FIXD era
    assert frame["first_name"].notna().all() and frame["last_name"].notna().all()
    assert frame["upn"].notna().all() and frame["sex"].isin(["M", "F"]).all()
    assert frame["postcode"].eq("ZZ9 9ZZ").all() and frame["address"].notna().all()
    assert set(frame["school_type"]) == {"PRIMARY", "SECONDARY"}


def test_exclusions_keep_their_category_and_reason_and_an_unknown_reason_quarantines(tmp_path):
    folder = write_school_census(tmp_path / "sc", 14, 2025)
    table = folder / "2025_spr_termlyexclusionsonroll.csv"
    table.write_text(table.read_text().replace(",SUSP,OW", ",SUSP,SB"))     # a code LIIA rejects
    extract = _read(folder)
    frame = extract.mapped.frame
    exclusions = frame[frame["record_type"] == "EXCLUSION"]
    assert exclusions[["exclusion_category", "exclusion_reason"]].values.tolist()[:3] == [
        ["FIXED", "PP"], ["FIXED", "PD"], ["PERMANENT", "SM"]]
    result = validate_extract(extract.mapped, date(2025, 4, 5), "school.school_census")
    (row,) = result.quarantined_rows
    assert frame.at[row, "record_id"] == "2025_spr_termlyexclusionsonroll.csv row 5#EXC"


def test_a_census_without_its_header_table_is_refused(tmp_path):
    folder = write_school_census(tmp_path / "census_spr", 4, 2025)
    (folder / "2025_spr_schoolcensus.csv").unlink()
    assert _refused(folder).startswith("census_spr: the school census set has no schoolcensus "
                                       "table (a file with the columns term, year, lea, "
                                       "estab), so none of its tables was loaded")


def test_rows_for_a_pupil_not_on_roll_are_refused_naming_the_rows(tmp_path):
    folder = write_school_census(tmp_path / "census_spr", 4, 2025)
    roll = folder / "2025_spr_pupilonroll.csv"
    lines = roll.read_text().splitlines()
    roll.write_text("\n".join(lines[:2] + lines[3:]) + "\n")
    message = _refused(folder)
    assert "addresses rows name a pupil not on roll (2025_spr_addresses.csv row 3)" in message
    assert "Synthetic" not in message


def test_a_census_in_the_inbox_is_received_whole_and_loads_every_row(tmp_path):
    home = Home(tmp_path / "home").ensure()
    home.settings_file.write_text("inbox: {settle_seconds: 0}\n")
    folder = write_school_census(home.inbox / "school" / "census_2025_spr", 8, 2025)
    # tables the reader does not use are recorded and left: pupils who left, and the summer
    # half-term sessions (which must not count towards this term's absence)
    (folder / "2025_spr_pupilnolongeronroll.csv").write_text(
        "pupilnolongeronrolltableid,upn,surname,forename,dob,leavingdate\n")
    (folder / "2025_spr_summerhalfterm2sessiondetails.csv").write_text(
        "summerhalfterm2sessiondetailstableid,pupilonrolltableid,sessions,attendancereason\n"
        "1,1000,40,G\n")
    (receipt,) = steps.receive(home, now=DAY).receipts
    assert receipt.status == "accepted" and receipt.map_name == "school_census"
    assert receipt.header["term"] == "SPR" and len(receipt.files) == 7
    assert receipt.header["not_read"] == ["2025_spr_pupilnolongeronroll.csv",
                                          "2025_spr_summerhalfterm2sessiondetails.csv"]
    build = steps.new_build(home, "r1", as_of=DAY.date())
    outcome = steps.ingest_extract(build, home, receipt, 0, DAY.date())
    assert outcome.status == "loaded"
    assert (outcome.rows_in, outcome.rows_loaded, outcome.rows_quarantined) == (10, 10, 0)
