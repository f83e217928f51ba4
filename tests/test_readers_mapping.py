from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from sources.column_maps import choose_map, load_maps
from sources.errors import ExtractError
from sources.mapping import apply_map
from sources.parsing import infer_date_format
from sources.readers import detect_encoding, open_source
from tests.builders.police_map import POLICE_HEADER, police_csv

ROW = ("OCC1,MISPER,01/02/2026 10:30,01/02/2026 08:00,02/02/2026 09:15,,N,,NOM1,Zoë,Smith,"
       "03/04/2012,Female,W1,IC1,zx47qp")


def _map_and_read(path: Path, maps_dir: Path, kind: str = "police"):
    maps = load_maps([maps_dir])
    source = open_source(path)
    cmap, header_row = choose_map(source.peek(), kind, maps, path.name)
    return source, apply_map(source.read(header_row), cmap, path.name)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1"])
def test_csv_in_each_encoding_reads_the_same_name(tmp_path, police_map_dir, encoding):
    path = tmp_path / "police.csv"
    path.write_bytes(police_csv([ROW]).encode(encoding))
    source, mapped = _map_and_read(path, police_map_dir)
    assert mapped.frame["first_name"].tolist() == ["ZOE"]
    assert mapped.frame["first_name_raw"].tolist() == ["Zoë"]
    expected = {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig"}.get(encoding, "cp1252")
    assert source.encoding == expected


def test_windows_1252_only_bytes_are_not_taken_for_utf8():
    assert detect_encoding("Renée".encode("cp1252"), "f.csv") == "cp1252"
    assert detect_encoding("Renée".encode(), "f.csv") == "utf-8"


def test_semicolon_delimiter_and_title_rows_are_found(tmp_path, police_map_dir):
    text = "Police extract;;\nProduced 2026-10-31;;\n\n" + police_csv(
        [ROW.replace(",", ";")], POLICE_HEADER.replace(",", ";"))
    path = tmp_path / "police.csv"
    path.write_text(text)
    source, mapped = _map_and_read(path, police_map_dir)
    assert source.delimiter == ";"
    assert mapped.frame.index.tolist() == [5]   # row number in the file as received


def test_values_are_parsed_and_raw_text_kept(tmp_path, police_map_dir):
    path = tmp_path / "police.csv"
    path.write_text(police_csv([ROW]))
    _, mapped = _map_and_read(path, police_map_dir)
    row = mapped.frame.iloc[0]
    assert row["reported_at"] == pd.Timestamp("2026-02-01 10:30")
    assert row["dob"] == pd.Timestamp("2012-04-03")
    assert row["sex"] == "F" and row["sex_raw"] == "Female"
    assert row["ethnicity"] == "WBRI" and row["ethnicity_observed"] == "IC1"
    assert row["postcode"] == "ZX4 7QP" and row["postcode_raw"] == "zx47qp"
    assert row["role"] == "VICTIM"
    assert bool(row["cse_flag"]) is False
    assert pd.isna(row["suspect_count"])           # blank stays unknown, never 0


def test_unknown_codes_and_bad_dates_become_null_beside_their_raw_text(tmp_path, police_map_dir):
    bad = ROW.replace("Female", "Robot").replace("03/04/2012", "31/02/2012")
    path = tmp_path / "police.csv"
    path.write_text(police_csv([bad]))
    _, mapped = _map_and_read(path, police_map_dir)
    row = mapped.frame.iloc[0]
    assert pd.isna(row["sex"]) and row["sex_raw"] == "Robot"
    assert pd.isna(row["dob"]) and row["dob_raw"] == "31/02/2012"


def test_blank_rows_are_counted_not_loaded(tmp_path, police_map_dir):
    path = tmp_path / "police.csv"
    path.write_text(police_csv([ROW, ",,,,,,,,,,,,,,,", "", ROW.replace("OCC1", "OCC2")]))
    _, mapped = _map_and_read(path, police_map_dir)
    assert mapped.rows_in == 2 and mapped.blank_rows == 2
    assert mapped.frame.index.tolist() == [2, 5]


def test_xlsx_with_title_rows_and_real_dates(tmp_path, police_map_dir):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Occurrences"
    sheet.append(["Invented Constabulary - missing and crime extract"])
    sheet.merge_cells("A1:D1")
    sheet.append([])
    header = POLICE_HEADER.split(",")
    sheet.append(header)
    values = ROW.split(",")
    values[header.index("DOB")] = pd.Timestamp("2012-04-03").to_pydatetime()
    sheet.append(values)
    path = tmp_path / "police.xlsx"
    book.save(path)
    source, mapped = _map_and_read(path, police_map_dir)
    assert source.sheet == "Occurrences"
    assert mapped.frame.index.tolist() == [4]
    assert mapped.frame["dob"].iloc[0] == pd.Timestamp("2012-04-03")


def test_parquet_is_read_as_text(tmp_path, police_map_dir):
    header = POLICE_HEADER.split(",")
    frame = pd.DataFrame([ROW.split(",")], columns=header)
    frame["Suspects"] = [3]
    path = tmp_path / "police.parquet"
    frame.to_parquet(path)
    _, mapped = _map_and_read(path, police_map_dir)
    assert mapped.frame["suspect_count"].tolist() == [3]


def test_missing_required_column_is_a_file_error_naming_it(tmp_path, police_map_dir):
    header = POLICE_HEADER.replace("Nominal,", "")
    row = ROW.replace("NOM1,", "")
    path = tmp_path / "police.csv"
    path.write_text(police_csv([row], header))
    with pytest.raises(ExtractError) as err:
        _map_and_read(path, police_map_dir)
    assert "police.csv" in str(err.value) and "'Nominal'" in str(err.value)


def test_a_file_for_another_kind_is_recognised(tmp_path, police_map_dir):
    path = tmp_path / "police.csv"
    path.write_text(police_csv([ROW]))
    with pytest.raises(ExtractError) as err:
        _map_and_read(path, police_map_dir, kind="yot")
    assert "looks like a 'police' extract" in str(err.value)
    assert "Zo" not in str(err.value)    # no personal values in messages


def test_ambiguous_day_month_order_is_an_error_not_a_guess():
    with pytest.raises(ExtractError) as err:
        infer_date_format(pd.Series(["01/02/2012", "03/04/2011"]), "DOB", "f.csv")
    assert "'DOB'" in str(err.value)
    assert infer_date_format(pd.Series(["13/02/2012", "03/04/2011"]), "DOB", "f") == "%d/%m/%Y"
    assert infer_date_format(pd.Series(["02/13/2012"]), "DOB", "f") == "%m/%d/%Y"
    assert infer_date_format(pd.Series(["20120213"]), "DOB", "f") == "%Y%m%d"


def test_shipped_maps_give_cin_factor_codes_their_census_meaning():
    """A supplier map that takes CIN census factor codes must mean by each what the census
    does (the census map, from the specification): 6A is a child's physical disability, not
    CSE, and counting it as CSE would put disabled children in the published tables."""
    maps = load_maps()
    census = maps["cin_census"].columns["factors"].codes
    checked = 0
    for name, cmap in maps.items():
        rule = cmap.columns.get("factors")
        if name == "cin_census" or rule is None or not rule.codes:
            continue
        for code, meaning in rule.codes.items():
            if code in census and census[code] != "OTHER":
                assert meaning == census[code], (name, code, meaning)
                checked += 1
            elif code in census:
                assert meaning in ("OTHER", census[code]), (name, code, meaning)
    assert checked >= 10
