"""A catalogue of bad agency extracts, each with its exact outcome.

Every case goes through the public steps a nightly run uses (receive -> plan -> new build ->
ingest) and ends either in a file-level rejection whose message names the file and says what to do,
or in a load where the quarantined rows, rules and columns are exactly as stated. For every file
that loads, rows in == rows loaded + rows quarantined, and the build holds exactly the loaded rows.
All names, identifiers and addresses are invented.
"""

from __future__ import annotations

import io
import textwrap
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from flows import steps
from flows.home import Home
from sources.column_maps import choose_map, load_maps
from sources.mapping import apply_map
from sources.readers import open_source
from sources.standardise import upn_check_letter
from warehouse.db import connect
from warehouse.exports import guard_cell

DAY = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
RUN_DATE = date(2026, 4, 1)        # the extract date the rules are checked against
RECEIVE_AT_ONCE = "\ninbox: {settle_seconds: 0}\n"

MAP = """
name: bad_inputs_rms
kind: police
supplier: Invented records system used by the bad-input tests
formats: {date: "%d/%m/%Y", datetime: "%d/%m/%Y %H:%M"}
columns:
  record_id: Ref
  occurrence_type: {column: Type, codes: {MISPER: MISSING, CRIME: CRIME}}
  reported_at: Reported
  missing_since: Last Seen
  found_at: Found
  suspect_count: Suspects
  person_ref: Nominal
  first_name: Forename
  last_name: Surname
  dob: DOB
  sex: {column: Sex, translate: sex.mfu}
  postcode: Postcode
  address: Address
  nhs_number: NHS
  upn: UPN
"""
HEADER = ["Ref", "Type", "Reported", "Last Seen", "Found", "Suspects", "Nominal", "Forename",
          "Surname", "DOB", "Sex", "Postcode", "Address", "NHS", "UPN"]


def _nhs(nine: str) -> str:
    total = sum(int(d) * w for d, w in zip(nine, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    return nine + str(0 if check == 11 else check)


NHS_OK = _nhs("401023213")
UPN_BODY = "801234567890"
UPN_OK = upn_check_letter(UPN_BODY) + UPN_BODY


def row(n: int, **changes: str) -> dict[str, str]:
    values = {
        "Ref": f"OCC{n}", "Type": "MISPER", "Reported": "01/03/2026 10:00",
        "Last Seen": "01/03/2026 08:00", "Found": "01/03/2026 20:00", "Suspects": "",
        "Nominal": f"NOM{n}", "Forename": "Quilla", "Surname": "Fennimore-Oak",
        "DOB": "03/04/2012", "Sex": "F", "Postcode": "ZX1 1AA", "Address": "1 Nowhere Row",
        "NHS": NHS_OK, "UPN": UPN_OK,
    }
    values.update(changes)
    return values


def csv_text(rows: list[dict], header: list[str] = HEADER, sep: str = ",") -> str:
    frame = pd.DataFrame(rows, columns=header)
    return frame.to_csv(index=False, sep=sep, lineterminator="\r\n")


@dataclass
class Outcome:
    receipt: steps.Receipt
    ingest: steps.ExtractOutcome | None = None
    failures: list[tuple] = field(default_factory=list)   # (row, column, rule, value)
    staged: pd.DataFrame | None = None                     # staging.police + person rows

    @property
    def message(self) -> str:
        return self.receipt.problem or (self.ingest.problem if self.ingest else "")

    def rules(self) -> set[tuple[int, str, str]]:
        return {(r, c, rule) for r, c, rule, _ in self.failures}


def _home(tmp_path: Path, maps: dict[str, str] | None = None, feeds: str = "") -> Home:
    home = Home(tmp_path / "home").ensure()
    home.maps.mkdir(exist_ok=True)
    for name, text in {"bad_inputs_rms": MAP, **(maps or {})}.items():
        (home.maps / f"{name}.yaml").write_text(textwrap.dedent(text))
    # the files are written just before they are received: no settle time
    (home.root / "joinedup.yaml").write_text(textwrap.dedent(feeds) + RECEIVE_AT_ONCE)
    return home


def deliver(tmp_path: Path, name: str, data: bytes | str, *, folder: str = "police",
            encoding: str = "utf-8", maps: dict[str, str] | None = None, feeds: str = "",
            home: Home | None = None, now: datetime = DAY) -> Outcome:
    """Drop one file in the inbox and run it through receipt and (if accepted) ingestion."""
    home = home or _home(tmp_path, maps, feeds)
    target = home.inbox / folder
    target.mkdir(parents=True, exist_ok=True)
    (target / name).write_bytes(data.encode(encoding) if isinstance(data, str) else data)
    (receipt,) = steps.receive(home, now=now).receipts
    out = Outcome(receipt=receipt)
    if receipt.status != "accepted":
        return out
    run_id = f"run{len(list(home.builds.glob('*.duckdb')))}"
    build = steps.new_build(home, run_id, as_of=date(2026, 3, 31))
    out.ingest = steps.ingest_extract(build, home, receipt, 1, RUN_DATE)
    con = connect(build, read_only=True)
    try:
        out.failures = [tuple(r) for r in con.execute(
            "SELECT row_number, column_name, rule, value FROM quarantine.row_failure "
            "ORDER BY row_number, column_name, rule").fetchall()]
        if out.ingest.status == "loaded":
            table = get_kind_table(receipt.kind)
            out.staged = con.execute(
                f"SELECT e.*, p.first_name, p.first_name_raw, p.last_name, p.dob, p.dob_raw, "
                f"p.postcode, p.postcode_raw, p.nhs_number, p.upn, p.sex, p.sex_raw "
                f"FROM staging.{table} e JOIN staging.person_row p USING (record_key) "
                f"ORDER BY e.row_number").df()
            o = out.ingest
            assert o.rows_in == o.rows_loaded + o.rows_quarantined
            assert len(out.staged) == o.rows_loaded
            quarantined_rows = con.execute(
                "SELECT count(DISTINCT row_number) FROM quarantine.row_data").fetchall()[0][0]
            assert quarantined_rows == o.rows_quarantined
    finally:
        con.close()
    return out


def get_kind_table(kind: str) -> str:
    return kind


def loaded(out: Outcome, rows_in: int, quarantined: int = 0, blank: int = 0) -> None:
    assert out.receipt.status == "accepted", out.message
    assert out.ingest.status == "loaded", out.message
    assert (out.ingest.rows_in, out.ingest.rows_quarantined, out.ingest.blank_rows) == \
        (rows_in, quarantined, blank)


def rejected(out: Outcome, file_name: str, *phrases: str, at: str = "receipt") -> None:
    if at == "receipt":
        assert out.receipt.status == "rejected", out
    else:
        assert out.receipt.status == "accepted" and out.ingest.status == "rejected", out
    assert out.message.startswith(f"{file_name}: "), out.message
    assert out.receipt.sha256 not in out.message
    for phrase in phrases:
        assert phrase in out.message, out.message


# --- encodings -------------------------------------------------------------------------------

def test_01_windows_1252_with_smart_quotes_and_accents(tmp_path):
    text = csv_text([row(1, Forename="Zoë", Surname="O\u2019Quirke")])
    out = deliver(tmp_path, "cp1252.csv", text, encoding="cp1252")
    loaded(out, 1)
    assert out.staged.at[0, "first_name_raw"] == "Zoë"
    assert out.staged.at[0, "last_name"] == "OQUIRKE"


def test_02_latin_1_accented_names_decode(tmp_path):
    out = deliver(tmp_path, "latin1.csv", csv_text([row(1, Forename="Inès")]), encoding="latin-1")
    loaded(out, 1)
    assert out.staged.at[0, "first_name_raw"] == "Inès"
    assert out.staged.at[0, "first_name"] == "INES"


def test_03_utf8_with_byte_order_mark_finds_the_first_heading(tmp_path):
    out = deliver(tmp_path, "bom.csv", csv_text([row(1)]), encoding="utf-8-sig")
    loaded(out, 1)
    assert out.staged.at[0, "record_id"] == "OCC1"


def test_04_utf16_with_byte_order_mark(tmp_path):
    out = deliver(tmp_path, "utf16.csv", csv_text([row(1), row(2)]), encoding="utf-16")
    loaded(out, 2)


def test_05_utf16_without_byte_order_mark_is_detected(tmp_path):
    out = deliver(tmp_path, "utf16le.csv", csv_text([row(1, Forename="Zoë")]),
                  encoding="utf-16-le")
    loaded(out, 1)
    assert out.staged.at[0, "first_name_raw"] == "Zoë"


def test_06_binary_file_named_csv_is_rejected(tmp_path):
    out = deliver(tmp_path, "export.csv", b"PK\x03\x04\x00\x00\x08\x00" + bytes(range(256)) * 4)
    rejected(out, "export.csv", "binary data", "send CSV text, XLSX or Parquet")


# --- broken files ----------------------------------------------------------------------------

def test_07_empty_file_is_rejected(tmp_path):
    out = deliver(tmp_path, "empty.csv", b"")
    rejected(out, "empty.csv", "the file is empty", "Ask the supplier to re-send it")


def test_08_whitespace_only_file_is_rejected(tmp_path):
    out = deliver(tmp_path, "blank.csv", "\r\n  \r\n\r\n")
    rejected(out, "blank.csv", "the file is empty")


def test_09_header_only_is_rejected_and_never_replaces_the_feed(tmp_path):
    out = deliver(tmp_path, "header_only.csv", csv_text([]))
    rejected(out, "header_only.csv", "column headings but no data rows",
             "cannot replace the previous one", at="ingest")


def test_10_truncated_file_with_an_unbalanced_quote_is_rejected(tmp_path):
    text = csv_text([row(1)]) + 'OCC2,MISPER,"01/03/2026 10:00\r\n'
    out = deliver(tmp_path, "truncated.csv", text)
    rejected(out, "truncated.csv", "the CSV cannot be parsed", "truncated file", at="ingest")


def test_11_row_cut_short_is_quarantined_for_its_missing_values(tmp_path):
    text = csv_text([row(1)]) + "OCC2,MISPER,01/03/2026 10:00,01/03\r\n"
    out = deliver(tmp_path, "cut.csv", text)
    loaded(out, 2, quarantined=1)
    assert out.rules() == {
        (3, "missing_since", "missing_since must be a date and time in the map's format"),
        (3, "person_ref", "person_ref is required"),
        (3, "first_name", "first_name is required"),
        (3, "last_name", "last_name is required"),
    }


def test_12_blank_rows_are_counted_and_not_loaded(tmp_path):
    text = csv_text([row(1)]) + ",,,,,,,,,,,,,,\r\n\r\n" + csv_text([row(2)]).split("\r\n", 1)[1]
    out = deliver(tmp_path, "gaps.csv", text)
    loaded(out, 2, blank=2)
    assert list(out.staged["row_number"]) == [2, 5]


# --- columns and kinds -----------------------------------------------------------------------

def test_13_missing_required_column_is_rejected_naming_it(tmp_path):
    rows = [{k: v for k, v in row(1).items() if k != "Reported"}]
    out = deliver(tmp_path, "no_reported.csv",
                  csv_text(rows, [h for h in HEADER if h != "Reported"]))
    rejected(out, "no_reported.csv", "required columns are missing", "'Reported'",
             "add a column map for this layout")


def test_14_missing_optional_column_loads_as_absent(tmp_path):
    header = [h for h in HEADER if h != "Suspects"]
    out = deliver(tmp_path, "no_suspects.csv", csv_text([row(1)], header))
    loaded(out, 1)
    assert out.staged["suspect_count"].isna().all()


def test_15_extra_unknown_columns_are_ignored_and_noted(tmp_path):
    path = tmp_path / "extra.csv"
    path.write_text(csv_text([row(1, Notes="x", Officer="PC 0")], [*HEADER, "Notes", "Officer"]))
    source = open_source(path)
    maps = load_maps([_home(tmp_path).maps])
    cmap, header_row = choose_map(source.peek(), "police", maps, path.name)
    mapped = apply_map(source.read(header_row), cmap, path.name)
    assert mapped.extra_columns == ["Notes", "Officer"]
    assert "2 column(s) not in map 'bad_inputs_rms' were ignored: 'Notes', 'Officer'" \
        in mapped.notes
    assert "Notes_raw" not in mapped.frame and mapped.rows_in == 1


def test_16_police_file_in_the_school_folder_is_rejected_as_the_wrong_kind(tmp_path):
    out = deliver(tmp_path, "rms.csv", csv_text([row(1)]), folder="school")
    rejected(out, "rms.csv", "looks like a 'police' extract", "not 'school'",
             "Move it to inbox/police/")


def test_17_unknown_inbox_folder_is_rejected(tmp_path):
    out = deliver(tmp_path, "rms.csv", csv_text([row(1)]), folder="health")
    assert out.receipt.status == "rejected"
    assert "'health' is not a known extract kind" in out.receipt.problem


def test_18_title_lines_above_the_header_in_a_csv(tmp_path):
    text = "Occurrences export\r\nRun 01/03/2026\r\n\r\n" + csv_text([row(1), row(2)])
    out = deliver(tmp_path, "titled.csv", text)
    loaded(out, 2)
    assert list(out.staged["row_number"]) == [5, 6]    # row numbers as in the file


# --- rows ------------------------------------------------------------------------------------

def test_19_duplicate_record_ids_quarantine_every_copy(tmp_path):
    out = deliver(tmp_path, "dupes.csv", csv_text([row(1), row(2), row(1, Nominal="NOM9")]))
    loaded(out, 3, quarantined=2)
    assert out.failures == [(2, "record_id", "record_id must be unique in the file", "OCC1"),
                            (4, "record_id", "record_id must be unique in the file", "OCC1")]


def test_20_impossible_date_31_february(tmp_path):
    out = deliver(tmp_path, "feb.csv", csv_text([row(1), row(2, DOB="31/02/2012")]))
    loaded(out, 2, quarantined=1)
    assert out.failures == [(3, "dob", "dob must be a date in the map's format", "31/02/2012")]


def test_21_future_event_date(tmp_path):
    out = deliver(tmp_path, "future.csv", csv_text([row(1, Reported="02/04/2027 10:00")]))
    loaded(out, 1, quarantined=1)
    assert out.failures == [(2, "reported_at", "reported_at must not be after the extract date "
                             "or more than 30 years before it", "02/04/2027 10:00")]


def test_22_adult_in_a_childrens_feed_is_quarantined(tmp_path):
    out = deliver(tmp_path, "adult.csv", csv_text([row(1, DOB="31/03/2001")]))   # 25 and a day
    loaded(out, 1, quarantined=1)
    ((number, column, rule, value),) = out.failures
    assert (number, column, value) == (2, "dob", "31/03/2001")
    assert rule.startswith("dob must be plausible for a child or care leaver (aged 0 to 25")


def test_23_care_leaver_aged_exactly_25_is_loaded(tmp_path):
    out = deliver(tmp_path, "leaver.csv", csv_text([row(1, DOB="01/04/2001")]))
    loaded(out, 1)


def test_24_dob_after_the_event_is_quarantined(tmp_path):
    out = deliver(tmp_path, "unborn.csv", csv_text([row(1, DOB="05/03/2026")]))
    loaded(out, 1, quarantined=1)
    assert out.failures == [(2, "dob", "dob must not be after reported_at (a child cannot "
                             "appear before birth)", "05/03/2026")]


def test_25_invalid_code(tmp_path):
    out = deliver(tmp_path, "codes.csv", csv_text([row(1, Type="BURGLARY")]))
    loaded(out, 1, quarantined=1)
    assert out.failures == [(2, "occurrence_type",
                             "occurrence_type must be a code in the map's code list", "BURGLARY")]


def test_26_sex_code_from_an_earlier_years_code_list(tmp_path):
    # CIN census GenderCurrent 1/2 (to 2023-24) sent to a map using the 2024-25 M/F/U list
    out = deliver(tmp_path, "old_codes.csv", csv_text([row(1, Sex="2"), row(2, Sex="M")]))
    loaded(out, 2, quarantined=1)
    assert out.failures == [(2, "sex", "sex must be a code in the map's code list", "2")]


def test_27_found_before_missing_and_negative_counts(tmp_path):
    out = deliver(tmp_path, "order.csv", csv_text([
        row(1, Found="28/02/2026 20:00"), row(2, Suspects="-1")]))
    loaded(out, 2, quarantined=2)
    assert out.rules() == {(2, "found_at", "found_at must not be before missing_since"),
                           (3, "suspect_count", "suspect_count must be at least 0")}


def test_28_required_value_blank_or_placeholder(tmp_path):
    out = deliver(tmp_path, "blanks.csv", csv_text([row(1, Surname=""), row(2, Nominal="N/A")]))
    loaded(out, 2, quarantined=2)
    assert out.rules() == {(2, "last_name", "last_name is required"),
                           (3, "person_ref", "person_ref is required")}


def test_29_ambiguous_day_month_order_without_a_format_is_rejected_naming_the_column(tmp_path):
    no_formats = MAP.replace('formats: {date: "%d/%m/%Y", datetime: "%d/%m/%Y %H:%M"}\n', "")
    no_formats = no_formats.replace("name: bad_inputs_rms", "name: bad_inputs_rms")
    out = deliver(tmp_path, "ambiguous.csv", csv_text([row(1, DOB="03/04/2012")]),
                  maps={"bad_inputs_rms": no_formats})
    rejected(out, "ambiguous.csv", "the date format of column", "dd/mm/yyyy or mm/dd/yyyy",
             "State it in the column map", at="ingest")


def test_30_day_first_dates_are_inferred_when_unambiguous(tmp_path):
    no_formats = MAP.replace('formats: {date: "%d/%m/%Y", datetime: "%d/%m/%Y %H:%M"}\n', "")
    rows = [row(1, DOB="03/04/2012", Reported="15/03/2026 10:00", **{
                "Last Seen": "15/03/2026 08:00", "Found": "15/03/2026 20:00"}),
            row(2, DOB="25/12/2011", Reported="16/03/2026 10:00", **{
                "Last Seen": "16/03/2026 08:00", "Found": "16/03/2026 20:00"})]
    out = deliver(tmp_path, "dayfirst.csv", csv_text(rows), maps={"bad_inputs_rms": no_formats})
    loaded(out, 2)
    assert list(out.staged["dob"].dt.strftime("%Y-%m-%d")) == ["2012-04-03", "2011-12-25"]


def test_31_formula_like_values_in_text_columns_are_quarantined(tmp_path):
    formulas = {"Ref": "+cmd|' /C calc'!A0", "Forename": '=HYPERLINK("http://x.invalid","y")',
                "Surname": "@SUM(A1:A9)", "Nominal": "-2+3", "Address": "=1+1"}
    out = deliver(tmp_path, "formulas.csv", csv_text([row(1, **formulas), row(2)]))
    loaded(out, 2, quarantined=1)
    rule = ("formula_like_value: {} must not start like a spreadsheet formula "
            "(=, @, or + / - other than a plain number)")
    assert out.failures == [
        (2, "address", rule.format("address"), "=1+1"),
        (2, "first_name", rule.format("first_name"), formulas["Forename"]),
        (2, "last_name", rule.format("last_name"), "@SUM(A1:A9)"),
        (2, "person_ref", rule.format("person_ref"), "-2+3"),
        (2, "record_id", rule.format("record_id"), formulas["Ref"]),
    ]
    assert list(out.staged["record_id"]) == ["OCC2"]
    for value in formulas.values():             # and any that reach an export are defused
        assert guard_cell(value) == "'" + value


def test_31b_hyphens_negative_numbers_and_signed_ids_are_not_formulas(tmp_path):
    out = deliver(tmp_path, "hyphens.csv", csv_text([
        row(1, Surname="Fennimore-Oak", Forename="Anne-Marie", Address="12-14 Quillon Row"),
        row(2, Nominal="-4102", Ref="+77", Surname="O'Varrick-Lunn"),
        row(3, Suspects="-1")]))
    loaded(out, 3, quarantined=1)
    assert out.failures == [(4, "suspect_count", "suspect_count must be at least 0", "-1")]
    assert list(out.staged["last_name"]) == ["FENNIMORE-OAK", "OVARRICK-LUNN"]
    assert list(out.staged["person_key"]) == ["police:NOM1", "police:-4102"]


def test_31c_formula_after_a_tab_or_line_break_is_caught(tmp_path):
    out = deliver(tmp_path, "hidden.csv", csv_text([
        row(1, Address="\t=1+1"), row(2, Address="1 Nowhere Row\r\n=HYPERLINK(\"x\")"),
        row(3, Surname="\t-Quell")]))
    loaded(out, 3, quarantined=3)
    assert out.rules() == {
        (2, "address", "formula_like_value: address must not start like a spreadsheet formula "
                       "(=, @, or + / - other than a plain number)"),
        (3, "address", "formula_like_value: address must not start like a spreadsheet formula "
                       "(=, @, or + / - other than a plain number)"),
        (4, "last_name", "formula_like_value: last_name must not start like a spreadsheet "
                         "formula (=, @, or + / - other than a plain number)"),
    }


def test_32_a_one_megabyte_cell_is_kept_whole(tmp_path):
    huge = "Lorem ipsum " * (1_000_000 // 12)
    out = deliver(tmp_path, "huge.csv", csv_text([row(1, Address=huge), row(2)]))
    loaded(out, 2)
    assert out.staged.at[0, "record_id"] == "OCC1"


def test_33_resubmitted_identical_file_is_a_duplicate_and_not_counted_twice(tmp_path):
    first = deliver(tmp_path, "march.csv", csv_text([row(1), row(2)]))
    loaded(first, 2)
    home = Home(tmp_path / "home")
    again = deliver(tmp_path, "march_again.csv", csv_text([row(1), row(2)]), home=home,
                    now=DAY + timedelta(days=1))
    assert again.receipt.status == "duplicate" and again.receipt.duplicate
    assert again.receipt.archive_path == first.receipt.archive_path
    assert [r.file_name for r in steps.plan_extracts(home)] == ["march.csv"]


# --- identifiers (warn: value emptied, row kept) ---------------------------------------------

def test_34_bad_nhs_number_upn_and_postcode_warn_and_keep_the_row(tmp_path):
    bad_nhs = NHS_OK[:9] + str((int(NHS_OK[9]) + 1) % 10)
    bad_upn = ("B" if UPN_OK[0] != "B" else "C") + UPN_BODY
    out = deliver(tmp_path, "ids.csv", csv_text([
        row(1, NHS=bad_nhs), row(2, UPN=bad_upn), row(3, Postcode="ZX1"), row(4)]))
    loaded(out, 4)
    assert out.ingest.warnings == 3 and out.failures == []
    staged = out.staged.set_index("record_id")
    assert pd.isna(staged.at["OCC1", "nhs_number"]) and staged.at["OCC4", "nhs_number"] == NHS_OK
    assert pd.isna(staged.at["OCC2", "upn"]) and staged.at["OCC4", "upn"] == UPN_OK
    assert pd.isna(staged.at["OCC3", "postcode"]) and staged.at["OCC3", "postcode_raw"] == "ZX1"


# --- delimiters ------------------------------------------------------------------------------

@pytest.mark.parametrize(("sep", "name"), [(";", "semicolon.csv"), ("\t", "tabs.tsv"),
                                           ("|", "pipes.txt")])
def test_35_other_delimiters_are_sniffed(tmp_path, sep, name):
    out = deliver(tmp_path, name, csv_text([row(1, Address="1, Nowhere Row"), row(2)], sep=sep))
    loaded(out, 2)


# --- spreadsheets and Parquet ----------------------------------------------------------------

def _workbook(rows: list[dict], *, sheet: str = "Sheet1", title_rows: int = 4) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    ws = book.active
    ws.title = sheet
    if title_rows:
        ws["A1"] = "Occurrences involving children - invented test export"
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=6)
        ws["A2"] = "Produced 01/03/2026"
    ws.append([]) if not title_rows else None
    for i, name in enumerate(HEADER, start=1):
        ws.cell(row=title_rows + 1, column=i, value=name)
    for r, values in enumerate(rows, start=title_rows + 2):
        for i, name in enumerate(HEADER, start=1):
            value = values[name]
            if name == "DOB" and value == "03/04/2012":
                value = datetime(2012, 4, 3)               # a real Excel date cell
            ws.cell(row=r, column=i, value=value or None)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_36_xlsx_with_header_on_row_5_under_a_merged_title(tmp_path):
    out = deliver(tmp_path, "rms.xlsx", _workbook([row(1), row(2, DOB="25/12/2011")]))
    loaded(out, 2)
    assert list(out.staged["row_number"]) == [6, 7]
    assert list(out.staged["dob"].dt.strftime("%Y-%m-%d")) == ["2012-04-03", "2011-12-25"]


XLSX_MAP = MAP.replace("name: bad_inputs_rms", "name: bad_inputs_xlsx").replace(
    "formats:", "file: {sheet: Extract}\nformats:")
XLSX_FEED = "feeds:\n  police: {kind: police, map: bad_inputs_xlsx}\n"


def test_37_xlsx_without_the_sheet_the_map_names_is_rejected(tmp_path):
    out = deliver(tmp_path, "rms.xlsx", _workbook([row(1)], sheet="Summary"),
                  maps={"bad_inputs_xlsx": XLSX_MAP}, feeds=XLSX_FEED)
    rejected(out, "rms.xlsx", "the workbook has no sheet 'Extract' (it has: Summary)",
             "Correct `file.sheet` in the column map")


def test_38_xlsx_named_sheet_is_read(tmp_path):
    out = deliver(tmp_path, "rms.xlsx", _workbook([row(1)], sheet="Extract"),
                  maps={"bad_inputs_xlsx": XLSX_MAP}, feeds=XLSX_FEED)
    loaded(out, 1)


def test_39_damaged_xlsx_is_rejected(tmp_path):
    whole = _workbook([row(1)])
    out = deliver(tmp_path, "damaged.xlsx", whole[: len(whole) // 2])
    rejected(out, "damaged.xlsx", "the workbook cannot be opened", "not damaged")


def test_40_zip_that_is_not_a_workbook_is_rejected(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("readme.txt", "not a workbook")
    out = deliver(tmp_path, "notabook.xlsx", buffer.getvalue())
    rejected(out, "notabook.xlsx", "the workbook cannot be opened")


def test_41_parquet_with_typed_columns(tmp_path):
    frame = pd.DataFrame([row(1), row(2, Suspects="2")])
    frame["DOB"] = [date(2012, 4, 3), date(2011, 12, 25)]
    frame["Reported"] = pd.to_datetime(["2026-03-01 10:00", "2026-03-02 11:30"])
    frame["Suspects"] = pd.array([None, 2], dtype="Int64")
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    out = deliver(tmp_path, "rms.parquet", buffer.getvalue())
    loaded(out, 2)
    assert list(out.staged["dob"].dt.strftime("%Y-%m-%d")) == ["2012-04-03", "2011-12-25"]
    assert out.staged["suspect_count"].tolist()[1] == 2
    assert str(out.staged.at[1, "reported_at"]) == "2026-03-02 11:30:00"


def test_42_damaged_parquet_is_rejected(tmp_path):
    out = deliver(tmp_path, "rms.parquet", b"PAR1" + b"\x00" * 64)
    rejected(out, "rms.parquet", "the Parquet file cannot be read", "re-export")


def test_43_unsupported_file_type_is_named_by_the_check(tmp_path):
    from flows.cli_sources import check_file

    path = tmp_path / "rms.pdf"
    path.write_bytes(b"%PDF-1.4")
    report = check_file(path, "police", load_maps([_home(tmp_path).maps]))
    assert report.rejected
    assert report.problem == ("rms.pdf: files of type '.pdf' cannot be read. "
                              "Send the extract as CSV, XLSX or Parquet.")


# --- code normalisation ----------------------------------------------------------------------

ETHNICITY_MAP = MAP.replace("name: bad_inputs_rms", "name: bad_inputs_words").replace(
    "  sex: {column: Sex, translate: sex.mfu}\n",
    "  sex: {column: Sex, translate: sex.words}\n"
    "  ethnicity: {column: Ethnicity, translate: ethnicity.free_text}\n")


def test_44_free_text_ethnicity_keeps_refused_not_known_and_not_recorded_apart(tmp_path):
    answers = ["White British", "  black african ", "Prefer not to say", "Unknown", "",
               "Not Known", "Mixed"]
    rows = [row(i, Ethnicity=a, Sex="Unknown" if i == 1 else "Female")
            for i, a in enumerate(answers, start=1)]
    out = deliver(tmp_path, "words.csv", csv_text(rows, [*HEADER, "Ethnicity"]),
                  maps={"bad_inputs_words": ETHNICITY_MAP})
    loaded(out, 7, quarantined=1)
    assert out.failures == [(8, "ethnicity", "ethnicity must be a code in the map's code list",
                             "Mixed")]                      # ambiguous: never guessed
    con = connect(next((tmp_path / "home" / "warehouse" / "builds").glob("*.duckdb")),
                  read_only=True)
    try:
        got = con.execute("SELECT ethnicity, ethnicity_raw FROM staging.person_row "
                          "ORDER BY record_key").fetchall()
        sexes = con.execute("SELECT sex FROM staging.person_row ORDER BY record_key").fetchall()
    finally:
        con.close()
    assert got == [("WBRI", "White British"), ("BAFR", "black african"),
                   ("REFU", "Prefer not to say"), ("NOBT", "Unknown"), (None, None),
                   ("NOBT", "Not Known")]
    assert sexes[0] == ("U",)          # 'Unknown' is an answer the sex code list knows


# --- code lists valid by date ----------------------------------------------------------------

def _sex_map(rule: str) -> dict[str, str]:
    text = MAP.replace("  sex: {column: Sex, translate: sex.mfu}\n", f"  sex: {rule}\n")
    return {"bad_inputs_rms": text}


def _on(n: int, day: str, **changes: str) -> dict[str, str]:
    """A missing-person row whose report, last seen and found times all fall on `day`."""
    return row(n, Reported=f"{day} 10:00", **{"Last Seen": f"{day} 08:00",
                                              "Found": f"{day} 20:00"}, **changes)


def test_45_sex_code_from_a_list_that_ended_before_the_event_is_quarantined(tmp_path):
    # CIN GenderCurrent (0/1/2/9) ended with the 2023-24 return; a 2026 report cannot use it
    out = deliver(tmp_path, "gender_current.csv", csv_text([
        _on(1, "01/03/2026", Sex="2"), _on(2, "15/03/2024", Sex="1")]),
        maps=_sex_map("{column: Sex, translate: sex.cin_gender_current}"))
    loaded(out, 2, quarantined=1)
    assert out.failures == [(2, "sex", "code_not_valid_for_date: sex code is from "
                             "sex.cin_gender_current (valid to 2024-03-31), which ended before "
                             "the row's reported_at", "2")]
    assert list(out.staged["sex"]) == ["M"]
    con = connect(next((tmp_path / "home" / "warehouse" / "builds").glob("*.duckdb")),
                  read_only=True)
    try:
        where = con.execute("SELECT file_name, row_number, supplier_column, value "
                            "FROM quarantine.row_failure").fetchall()
    finally:
        con.close()
    assert where == [("gender_current.csv", 2, "Sex", "2")]


def test_46_per_code_dates_accept_each_code_in_its_own_years(tmp_path):
    # sex.cin_any_year: 0/1/2/9 to 2024-03-31, M/F/U from 2024-04-01; a history recoded to
    # M/F/U is valid at the extract date, so old events with F load
    out = deliver(tmp_path, "any_year.csv", csv_text([
        _on(1, "10/06/2023", Sex="2"),
        _on(2, "10/06/2023", Sex="F"),
        _on(3, "01/03/2026", Sex="F"),
        _on(4, "01/03/2026", Sex="9"),
        row(5, Sex="1", Reported="31/03/2024 23:30", **{"Last Seen": "31/03/2024 20:00",
                                                        "Found": "31/03/2024 23:45"}),
        _on(6, "01/04/2024", Sex="1"),
    ]), maps=_sex_map("{column: Sex, translate: sex.cin_any_year}"))
    loaded(out, 6, quarantined=2)
    rule = ("code_not_valid_for_date: sex code is from sex.cin_any_year (codes 0, 1, 2, 9 "
            "valid to 2024-03-31), which ended before the row's reported_at")
    assert out.failures == [(5, "sex", rule, "9"), (7, "sex", rule, "1")]
    assert list(out.staged["record_id"]) == ["OCC1", "OCC2", "OCC3", "OCC5"]
    assert list(out.staged["sex"]) == ["F", "F", "F", "M"]


def test_47_inline_codes_in_the_map_carry_no_dates(tmp_path):
    # the documented way to accept the old numeric codes after checking with the supplier
    out = deliver(tmp_path, "inline.csv", csv_text([_on(1, "01/03/2026", Sex="2")]),
                  maps=_sex_map('{column: Sex, codes: {"1": M, "2": F}}'))
    loaded(out, 1)
    assert list(out.staged["sex"]) == ["F"]


def test_48_police_16_plus_1_code_after_the_2011_switch_is_quarantined(tmp_path):
    rms = MAP.replace("  sex: {column: Sex, translate: sex.mfu}\n",
                      "  sex: {column: Sex, translate: sex.mfu}\n"
                      "  ethnicity: {column: SDE, translate: ethnicity.police_sde_16plus1}\n")
    out = deliver(tmp_path, "old_sde.csv", csv_text(
        [_on(1, "01/03/2026", SDE="O1"), _on(2, "01/03/2026", SDE="")], [*HEADER, "SDE"]),
        maps={"bad_inputs_rms": rms})
    loaded(out, 2, quarantined=1)
    assert out.failures == [(2, "ethnicity", "code_not_valid_for_date: ethnicity code is from "
                             "ethnicity.police_sde_16plus1 (valid to 2011-03-31), which ended "
                             "before the row's reported_at", "O1")]
