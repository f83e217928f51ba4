"""The Annex A workbook reader (issue 11, part 3): two councils' wordings of the same lists give the
same events, the looked-after list's return-interview answers reach the kind, and a renamed
sheet or header refuses the workbook whole, naming the file, the sheet and what was expected.
Synthetic workbooks only (sources.synth.statutory), a dozen children each."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from expectations.validate import validate_extract
from flows import steps
from flows.home import Home
from sources.column_maps import load_maps
from sources.errors import ExtractError
from sources.extract import check_extract, read_extract
from sources.readers import ReadLimits
from sources.statutory.annex_a import is_annex_a
from sources.synth.statutory import write_annex_a

MAPS = load_maps()
DAY = datetime(2025, 4, 10, 6, 0, tzinfo=UTC)
COLUMNS = ["event_type", "start_at", "end_at", "sex", "dob", "disability", "placement_type",
           "primary_need", "cp_category", "rhi_offered", "rhi_accepted", "person_ref"]


def _read(path: Path, **kw):
    return read_extract(path, "social_care", MAPS, path.name, **kw)


def _events(path: Path):
    frame = _read(path).mapped.frame[COLUMNS]
    return frame.sort_values(COLUMNS[:4]).reset_index(drop=True)


def _book(tmp_path: Path, style: str = "ofsted") -> Path:
    return write_annex_a(tmp_path / f"annex_a_{style}.xlsx", 12, 2025, style=style)


def _edit(path: Path, change) -> Path:
    book = load_workbook(path)
    change(book)
    book.save(path)
    return path


def _refused(path: Path) -> str:
    with pytest.raises(ExtractError) as err:
        _read(path)
    return str(err.value)


def test_two_councils_wordings_give_the_same_events(tmp_path):
    ofsted = _events(_book(tmp_path, "ofsted"))       # lettered labels, Excel dates
    plain = _events(_book(tmp_path, "plain"))         # words and codes, text dates, title row
    assert ofsted.equals(plain)
    assert set(ofsted["event_type"]) == {"CONTACT", "REFERRAL", "ASSESSMENT", "S47_ENQUIRY",
                                         "CP_CONFERENCE", "CIN_PLAN", "CP_PLAN", "LAC_EPISODE",
                                         "PLACEMENT", "CARE_LEAVER", "ADOPTION"}
    assert ofsted["sex"].isin(["M", "F"]).all() and ofsted["start_at"].notna().all()
    assert (ofsted["disability"] == "N").all()
    by_type = ofsted.groupby("event_type")
    assert set(by_type.get_group("CIN_PLAN")["primary_need"]) == {"N1"}
    assert set(by_type.get_group("CP_PLAN")["cp_category"]) == {"SAB"}
    assert set(by_type.get_group("PLACEMENT")["placement_type"]) <= {
        "FOSTER", "RESIDENTIAL", "SEMI_INDEPENDENT", "INDEPENDENT"}
    assert set(by_type.get_group("CARE_LEAVER")["placement_type"]) == {"BED_AND_BREAKFAST"}


def test_the_looked_after_lists_return_interview_answers_reach_the_kind(tmp_path):
    frame = _read(_book(tmp_path)).mapped.frame
    looked_after = frame[frame["event_type"] == "LAC_EPISODE"]
    assert looked_after["rhi_offered"].all()
    assert sorted(looked_after["rhi_accepted"].tolist()) == [False, False, True, True]
    assert frame.loc[frame["event_type"] != "LAC_EPISODE", "rhi_offered"].isna().all()


def test_a_workbook_is_annex_a_by_its_sheet_names_never_by_one_title():
    assert is_annex_a(["Cover", "List 3 - Referrals"]) and is_annex_a(["list 08"])
    assert is_annex_a(["Contacts", "Referrals"])
    assert not is_annex_a(["Referrals"]) and not is_annex_a(["Pupils", "List of schools"])


def test_the_lists_are_in_the_header_and_a_bad_date_quarantines_only_its_row(tmp_path):
    path = _book(tmp_path)
    chosen = check_extract(path, "social_care", MAPS, path.name)
    assert chosen.cmap.name == "annex_a"
    assert chosen.header["lists"]["8 Children looked after"] == "List 8 - Children Looked After"
    assert chosen.header["not_loaded"] == ["List 2 - Early Help", "List 11 - Adopters"]
    _edit(path, lambda b: b["List 3 - Referrals"].cell(4, 5, "31/02/2025"))
    extract = _read(path)
    result = validate_extract(extract.mapped, date(2025, 4, 5), "social_care.annex_a")
    (row,) = result.quarantined_rows
    assert extract.mapped.frame.at[row, "record_id"] == "List 3 - Referrals row 4#REFERRAL"


def test_a_renamed_sheet_is_still_told_by_its_headers(tmp_path):
    path = _edit(_book(tmp_path), lambda b: setattr(b["List 7 - Child Protection"], "title",
                                                    "Sheet7"))
    frame = _read(path).mapped.frame
    assert (frame["record_id"].str.startswith("Sheet7 row ")
            == (frame["event_type"] == "CP_PLAN")).all()


def test_a_renamed_sheet_whose_headers_match_no_list_is_refused_saying_what_was_expected(
        tmp_path):
    def rename(book):
        sheet = book["List 8 - Children Looked After"]
        sheet.title = "Sheet8"
        sheet.cell(1, 4, "Started")                    # 'Date Started to be Looked After'
    message = _refused(_edit(_book(tmp_path), rename))
    assert message.startswith("annex_a_ofsted.xlsx: sheet 'Sheet8' is none of the Annex A "
                              "lists: its name and its headers match no list's patterns. The "
                              "lists not found are list 8 (Children looked after): a sheet "
                              "named like /")
    assert "LACStart /.*date (the child )?started to be looked after/" in message


def test_a_renamed_header_is_refused_naming_the_file_sheet_list_and_row(tmp_path):
    path = _edit(_book(tmp_path, "plain"), lambda b: b["Referrals"].cell(2, 5, "When"))
    assert _refused(path).startswith(
        "annex_a_plain.xlsx: sheet 'Referrals' (list 3 (Referrals)), row 2: no header matches "
        "ReferralDate (expected one matching /.*date of (the )?referral/ or "
        "/.*referral date/)")


def test_a_header_matching_two_columns_is_refused(tmp_path):
    path = _edit(_book(tmp_path),
                 lambda b: b["List 1 - Contacts"].cell(1, 6, "Date of contact (first)"))
    assert ("sheet 'List 1 - Contacts' (list 1 (Contacts)), row 1: the headers 'Date of "
            "Contact' and 'Date of contact (first)' both match ContactDate") in _refused(path)


def test_a_workbook_over_the_cell_limit_is_refused_before_it_is_read(tmp_path):
    with pytest.raises(ExtractError) as err:
        _read(_book(tmp_path), limits=ReadLimits(max_cells=50))
    assert str(err.value).startswith("annex_a_ofsted.xlsx: a sheet reaches row ")


def test_a_workbook_in_the_inbox_is_received_with_its_lists_and_loads_every_row(tmp_path):
    home = Home(tmp_path / "home").ensure()
    home.settings_file.write_text("inbox: {settle_seconds: 0}\n")
    (home.inbox / "social_care").mkdir(parents=True, exist_ok=True)
    write_annex_a(home.inbox / "social_care" / "annex_a_2025.xlsx", 12, 2025)
    (receipt,) = steps.receive(home, now=DAY).receipts
    assert receipt.status == "accepted" and receipt.map_name == "annex_a"
    assert receipt.header["lists"]["3 Referrals"] == "List 3 - Referrals"
    build = steps.new_build(home, "r1", as_of=DAY.date())
    outcome = steps.ingest_extract(build, home, receipt, 0, DAY.date())
    assert outcome.status == "loaded"
    assert (outcome.rows_in, outcome.rows_loaded, outcome.rows_quarantined) == (69, 69, 0)
