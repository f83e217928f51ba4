"""`joinedup sources check`: how a file maps and what would be quarantined, loading nothing and
printing no personal value. All data here is invented."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.home import Home
from sources.errors import ExtractError
from tests.builders.police_map import POLICE_HEADER, write_map

ROW = ("OCC{n},MISPER,01/02/2026 10:30,01/02/2026 08:00,02/02/2026 09:15,,N,,NOM{n},Zorbelia,"
       "Quenthorpe,03/04/2012,F,W1,IC1,ZX4 7QP")


def _home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home")
    write_map(home.maps)
    return home


def _check(tmp_path: Path, text: str, *args: str, name: str = "rms.csv"):
    home = _home(tmp_path)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["sources", "check", str(path), "--home", str(home.root),
                                      "--as-of", "2026-10-31", *args])
    return home, result


def test_check_shows_the_mapping_and_quarantine_counts_without_values(tmp_path):
    rows = [ROW.format(n=1),
            ROW.format(n=2).replace("03/04/2012", "31/02/2012"),      # row 3: impossible dob
            None,                                                    # row 4: blank
            ROW.format(n=4).replace("ZX4 7QP", "NOT A CODE"),         # row 5: postcode warns
            ROW.format(n=5).replace("03/04/2012", "03/04/1970")]     # row 6: an adult
    lines = ["," * 16 if r is None else r + ",x" for r in rows]
    text = "\n".join([POLICE_HEADER + ",Notes", *lines]) + "\n"
    home, result = _check(tmp_path, text, "--kind", "police")
    out = result.output
    assert result.exit_code == 0, out
    assert "map:     test_police_rms" in out
    assert "header:  row 1" in out
    assert "encoding utf-8" in out and "delimiter ','" in out
    assert "dob                              <- DOB" in out
    assert "columns ignored (not in the map): 'Notes'" in out
    assert "4 data rows, 1 blank rows" in out
    assert "would load 2 rows and quarantine 2" in out
    assert "dob ['DOB']: dob must be a date in the map's format (rows 3)" in out
    assert "plausible for a child" in out and "(rows 6)" in out
    assert "postcode ['Postcode']: postcode must be a UK postcode (rows 5)" in out
    for value in ("Zorbelia", "Quenthorpe", "31/02/2012", "1970", "ZX4", "NOT A CODE", "NOM"):
        assert value not in out
    assert not (home.root / "lake").exists() and not (home.root / "warehouse").exists()


def test_check_of_a_file_of_another_kind_exits_non_zero_naming_the_file(tmp_path):
    _, result = _check(tmp_path, POLICE_HEADER + "\n" + ROW.format(n=1) + "\n",
                       "--kind", "school", name="pupils.csv")
    assert result.exit_code == 1
    assert result.output.startswith("REJECTED pupils.csv: this looks like a 'police' extract")
    assert "Move it to inbox/police/" in result.output


def test_check_reports_missing_required_columns_and_unknown_maps(tmp_path):
    header = POLICE_HEADER.replace("Occurrence Ref,", "Ref,")
    _, result = _check(tmp_path, header + "\n" + ROW.format(n=1) + "\n", "--kind", "police")
    assert result.exit_code == 1
    assert "required columns are missing" in result.output and "'Occurrence Ref'" in result.output
    _, result = _check(tmp_path, POLICE_HEADER + "\n", "--kind", "police", "--map", "nope")
    assert result.exit_code == 1
    assert "there is no column map named 'nope'" in result.output
    _, result = _check(tmp_path, POLICE_HEADER + "\n", "--kind", "weather")
    assert result.exit_code == 1 and "'weather' is not an extract kind" in result.output


def test_every_shipped_map_is_chosen_for_its_own_headings_and_no_other():
    from sources.column_maps import choose_map, load_maps

    maps = load_maps()
    for cmap in maps.values():
        header = sorted({c for rule in cmap.columns.values() for c in rule.supplier_columns})
        if cmap.file.get("format"):
            # a statutory return's map is chosen by the file's format, never by a CSV's headings
            with pytest.raises(ExtractError, match="required columns are missing"):
                choose_map([header], cmap.kind, maps, "sample.csv")
            continue
        chosen, row = choose_map([header], cmap.kind, maps, "sample.csv")
        assert (chosen.name, row) == (cmap.name, 1)
