"""The Standard Safeguarding Dataset reader (issue 11, part 5): a folder of SSD tables becomes
social-care events carrying the child's names and linked identifiers, assessment factors in both
JSON forms become the catalogue's factors, missing episodes keep their return home interview
answers, and an extract that does not hold together is refused whole naming the file, row and
column. Synthetic extracts only (sources.synth.ssd)."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from expectations.validate import validate_extract
from flows import steps
from flows.home import Home
from sources.column_maps import load_maps
from sources.errors import ExtractError
from sources.extract import read_extract
from sources.statutory.ssd import factor_codes
from sources.synth.ssd import write_ssd
from warehouse.db import connect

MAPS = load_maps()
DAY = datetime(2026, 4, 10, 6, 0, tzinfo=UTC)


def _read(path: Path):
    return read_extract(path, "social_care", MAPS, path.name)


def _extract(tmp_path: Path, n: int = 12) -> tuple[Path, pd.DataFrame]:
    folder = write_ssd(tmp_path / "ssd_2026", n, truth_file=tmp_path / "truth.csv")
    return folder, pd.read_csv(tmp_path / "truth.csv", dtype=str, keep_default_na=False)


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _write(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)


def test_every_table_gives_its_events_with_the_childs_names_and_identifiers(tmp_path):
    folder, truth = _extract(tmp_path)
    extract = _read(folder)
    frame = extract.mapped.frame
    assert extract.cmap.name == "ssd"
    assert set(frame["event_type"]) == {"REFERRAL", "ASSESSMENT", "CP_PLAN", "LAC_EPISODE",
                                        "PLACEMENT", "MISSING"}
    assert frame["first_name"].notna().all() and frame["last_name"].notna().all()
    people = frame.drop_duplicates("person_ref").set_index("person_ref")
    truth = truth.set_index("person_id").rename_axis("person_ref")
    valid = truth[truth["ids_valid"] == "True"].index
    spoilt = truth[truth["ids_valid"] == "False"].index
    assert len(spoilt) and people.loc[valid, "upn"].to_dict() == truth.loc[valid, "upn"].to_dict()
    # an ended UPN is the former UPN; identifiers failing their check are kept raw, not used
    assert people["former_upn"].to_dict() == truth["former_upn"].to_dict()
    assert people.loc[spoilt, "upn"].isna().all() and people.loc[spoilt, "upn_raw"].notna().all()
    assert people.loc[spoilt, "nhs_number"].isna().all()
    assert people.loc[valid, "nhs_number"].to_dict() == truth.loc[valid, "nhs"].to_dict()
    assert people["postcode"].str.startswith("ZX").all()
    assert (people["la_child_id"] == people.index).all()
    result = validate_extract(extract.mapped, date(2026, 4, 5), "social_care.ssd")
    assert result.quarantined_rows == []
    assert result.warnings == {"DfE 1510: UPN invalid (wrong check letter at character 1) "
                               "(upn must be a UPN with a valid check letter)":
                               int((frame["person_ref"].isin(spoilt)).sum()),
                               "nhs_number must be an NHS number with a valid check digit":
                               int((frame["person_ref"].isin(spoilt)).sum())}


def test_factors_in_either_json_form_become_the_catalogue_factors(tmp_path):
    folder, truth = _extract(tmp_path)
    frame = _read(folder).mapped.frame
    assessments = frame[frame["event_type"] == "ASSESSMENT"].set_index("person_ref")
    raw = dict(zip(truth["person_id"], truth["factors"], strict=True))
    assert assessments["factors_raw"].fillna("").to_dict() == raw
    assert "CSE" in {f for codes in assessments["factors"].dropna() for f in codes}
    referrals = frame[frame["event_type"] == "REFERRAL"].set_index("person_ref")
    assert referrals["factors_raw"].equals(assessments["factors_raw"])
    assert factor_codes('["1A", "11A", "21"]', "w", "f") == ["1A", "11A"]
    assert factor_codes('{"11A": "Yes", "4A": "No", "13A": "yes"}', "w", "f") == ["11A", "13A"]


def test_missing_episodes_keep_their_type_and_return_home_interview(tmp_path):
    folder, _ = _extract(tmp_path)
    missing = _read(folder).mapped.frame.query("event_type == 'MISSING'")
    assert sorted(set(missing["missing_type"])) == ["AWAY", "MISSING"]
    gone = missing[missing["missing_type"] == "MISSING"]
    assert gone["rhi_offered"].eq(True).all() and gone["rhi_accepted"].eq(False).all()
    assert missing.loc[missing["missing_type"] == "AWAY", "rhi_offered"].isna().all()
    assert (gone["start_at"].dt.hour == 21).all()      # the start's time is kept


def _refused(path: Path) -> str:
    with pytest.raises(ExtractError) as err:
        _read(path)
    return str(err.value)


def test_an_extract_without_its_person_table_is_refused(tmp_path):
    folder, _ = _extract(tmp_path, 3)
    (folder / "ssd_person.csv").unlink()
    assert _refused(folder).startswith("ssd_2026: the SSD extract has no ssd_person table (a "
                                       "file with the column pers_person_id), so none of its "
                                       "tables was loaded")


def test_rows_for_a_person_the_extract_does_not_hold_are_refused_naming_the_rows(tmp_path):
    folder, _ = _extract(tmp_path, 3)
    rows = _rows(folder / "ssd_person.csv")
    _write(folder / "ssd_person.csv", rows[:1] + rows[2:])
    problem = _refused(folder)
    assert problem.startswith("ssd_2026: ssd_address rows name a person not in ssd_person "
                              "(ssd_address.csv row 2), so the extract was not loaded")
    assert "SSD000001" not in problem          # identifiers are never quoted


def test_a_person_twice_is_refused_naming_both_rows(tmp_path):
    folder, _ = _extract(tmp_path, 3)
    rows = _rows(folder / "ssd_person.csv")
    _write(folder / "ssd_person.csv", [*rows, rows[1]])
    assert ("ssd_person rows without a pers_person_id or sharing one (ssd_person.csv row 2, "
            "ssd_person.csv row 5)") in _refused(folder)


def test_factors_that_are_not_json_are_refused_naming_the_row_and_column(tmp_path):
    folder, _ = _extract(tmp_path, 3)
    rows = _rows(folder / "ssd_assessment_factors.csv")
    rows[2][2] = '["11A", "13A"'
    _write(folder / "ssd_assessment_factors.csv", rows)
    assert ("ssd_assessment_factors.csv row 3, column cinf_assessment_factors_json: not valid "
            "JSON") in _refused(folder)
    rows[2][2] = '"11A"'
    _write(folder / "ssd_assessment_factors.csv", rows)
    assert "JSON that is neither a list of factor codes nor an object" in _refused(folder)


def test_factors_of_an_assessment_the_extract_does_not_hold_are_refused(tmp_path):
    folder, _ = _extract(tmp_path, 3)
    rows = _rows(folder / "ssd_assessment_factors.csv")
    rows[1][1] = "AS999"
    _write(folder / "ssd_assessment_factors.csv", rows)
    assert ("ssd_assessment_factors rows name an assessment not in ssd_cin_assessments "
            "(ssd_assessment_factors.csv row 2)") in _refused(folder)


def test_a_file_that_is_no_ssd_table_is_refused_naming_it(tmp_path):
    folder, _ = _extract(tmp_path, 3)
    (folder / "notes.csv").write_text("a,b\n1,2\n")
    assert ("notes.csv is not one of the Standard Safeguarding Dataset tables"
            in _refused(folder))


def test_an_extract_is_received_whole_and_loads_every_row(tmp_path):
    home = Home(tmp_path / "home").ensure()
    home.settings_file.write_text("inbox: {settle_seconds: 0}\n")
    write_ssd(home.inbox / "social_care" / "ssd_2026", 6)
    (receipt,) = steps.receive(home, now=DAY).receipts
    assert receipt.status == "accepted" and receipt.map_name == "ssd"
    assert receipt.header["tables"]["ssd_person"] == "ssd_person.csv"
    assert receipt.header["not_read"] == ["ssd_cla_convictions.csv"]
    build = steps.new_build(home, "r1", as_of=DAY.date())
    outcome = steps.ingest_extract(build, home, receipt, 0, DAY.date())
    assert outcome.status == "loaded" and outcome.rows_quarantined == 0
    assert outcome.rows_in == outcome.rows_loaded
    steps.finish_staging(build)
    con = connect(build)
    try:
        people = con.execute("SELECT count(*), count(first_name), count(former_upn) "
                             "FROM staging.person_record").fetchone()
    finally:
        con.close()
    assert people == (6, 6, 6)


def test_tables_may_be_delivered_as_parquet(tmp_path):
    folder, _ = _extract(tmp_path, 6)
    csv_events = _read(folder).mapped.frame.set_index("record_id")
    for table in ("ssd_person", "ssd_missing"):
        frame = pd.read_csv(folder / f"{table}.csv", dtype=str)
        if table == "ssd_missing":      # typed as a case system's export would type it
            frame["miss_missing_episode_end_date"] = pd.to_datetime(
                frame["miss_missing_episode_end_date"])
        frame.to_parquet(folder / f"{table}.parquet", index=False)
        (folder / f"{table}.csv").unlink()
    parquet_events = _read(folder).mapped.frame.set_index("record_id")
    columns = ["event_type", "start_at", "end_at", "first_name", "upn", "missing_type",
               "rhi_offered"]
    assert parquet_events.loc[csv_events.index, columns].equals(csv_events[columns])


def test_two_files_of_one_table_are_refused(tmp_path):
    folder, _ = _extract(tmp_path, 3)
    (folder / "more_people.csv").write_bytes((folder / "ssd_person.csv").read_bytes())
    assert ("ssd_2026: more_people.csv and ssd_person.csv are both the ssd_person table"
            in _refused(folder))


def test_a_childs_upn_comes_from_the_send_table_when_no_linked_identifier_gives_one(tmp_path):
    folder, truth = _extract(tmp_path, 6)
    (folder / "ssd_linked_identifiers.csv").unlink()
    people = _read(folder).mapped.frame.drop_duplicates("person_ref").set_index("person_ref")
    valid = truth[truth["ids_valid"] == "True"].set_index("person_id")["upn"]
    assert people.loc[valid.index, "upn"].to_dict() == valid.to_dict()
    assert people["former_upn"].isna().all()       # an ended UPN is only a linked identifier
