"""The quarterly return: quarters, the workbook and CSVs equal the publish tables, guarded
against formula injection, and a quarter the data does not cover is refused."""

from __future__ import annotations

import csv
import logging
import re
from datetime import date

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from flows.home import Home
from flows.steps import write_return
from tests.builders.return_home import expected_quarter_tables, expected_tables, make_home
from warehouse.returns import (
    COMPUTED_TABLES,
    RETURN_TABLES,
    ReturnError,
    last_complete_quarter,
    parse_quarter,
)
from warehouse.trend import COMPARABLE, PARTIAL
from warehouse.workbook import header_row, layout, shown_columns, unnamed_columns


def test_quarters():
    assert parse_quarter("2026Q3") == (date(2026, 7, 1), date(2026, 9, 30))
    assert parse_quarter("2025q4") == (date(2025, 10, 1), date(2025, 12, 31))
    assert parse_quarter("2026Q1") == (date(2026, 1, 1), date(2026, 3, 31))
    assert last_complete_quarter(date(2026, 11, 25)) == "2026Q3"
    assert last_complete_quarter(date(2026, 1, 1)) == "2025Q4"
    with pytest.raises(ReturnError):
        parse_quarter("2026-07")


def _text(v) -> str:
    return v.isoformat() if isinstance(v, date) else ("" if v is None else str(v))


def _same(cell, published) -> bool:
    """A workbook cell holds the published text, or the number that text spells."""
    if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        return float(str(published)) == float(cell)
    return _text(cell) == _text(published)


@pytest.fixture(scope="module")
def q1_return(tmp_path_factory):
    """One return (2026Q1: the test's records start in 2025Q2, so the trend has gaps) that the
    workbook and trend tests both read; each return recomputes eight quarters."""
    tmp_path = tmp_path_factory.mktemp("return")
    home = make_home(tmp_path)
    return home, tmp_path, write_return(Home(home), "2026Q1")


@pytest.mark.slow            # each return recomputes eight quarters for the trend
def test_return_workbook_and_csv_equal_the_publish_tables(q1_return):
    home, tmp_path, result = q1_return
    assert result.period_start == date(2026, 1, 1) and result.period_end == date(2026, 3, 31)
    expected = expected_tables(home, tmp_path, (result.period_start, result.period_end))
    wb = load_workbook(result.workbook)
    assert wb.sheetnames == ["Cover"] + [s for s, _t, _d in RETURN_TABLES]
    header = header_row()
    for sheet, table, _title in RETURN_TABLES:
        if table in COMPUTED_TABLES:
            continue
        columns, rows = expected[table]
        assert unnamed_columns(table, columns) == [], table   # every column has a heading
        shown = shown_columns(table, columns)
        values = list(wb[sheet].iter_rows(values_only=True))
        assert list(values[header - 1]) == [heading for _i, heading in shown]
        got = sorted((tuple(r) for r in values[header:]), key=lambda r: tuple(map(_text, r)))
        want = sorted(([row[i] for i, _h in shown] for row in rows),
                      key=lambda r: tuple(map(_text, r)))
        assert len(got) == len(want), sheet
        for g, w in zip(got, want, strict=True):
            assert all(_same(a, b) for a, b in zip(g, w, strict=True)), (sheet, g, w)
        with (result.csv_dir / f"{table}.csv").open(newline="", encoding="utf-8") as fh:
            reader = list(csv.reader(fh))
        assert reader[0] == columns                  # the CSV files keep the machine names
        assert sorted(tuple(r) for r in reader[1:]) == sorted(
            tuple(_text(v) for v in r) for r in rows), table
    cover = dict(wb["Cover"].iter_rows(min_row=header + 1, values_only=True))
    assert cover["Quarter"] == "2026Q1" and cover["Run id (published warehouse)"] == "run-1"
    assert cover["Partnership"].startswith("'=")          # formula defused
    assert "counts 1 to 4" in cover["Suppression rule"]
    feed_rows = [k for k in cover if k.startswith("Feed ")]
    assert feed_rows and "2026-04-02" in cover[feed_rows[0]]
    assert not any("rows loaded" in str(v) for v in cover.values())   # a count could be small
    for path in result.csv_dir.glob("*.csv"):
        for row in csv.reader(path.open(encoding="utf-8")):
            assert not any(c.startswith(("=", "+", "@")) for c in row), path
    for ws in wb.worksheets:
        for row in ws.iter_rows(values_only=True):
            assert not any(isinstance(c, str) and c.startswith(("=", "+", "@")) for c in row)
    assert not list((home / "warehouse" / "tmp").glob("return-*"))   # the copy is gone


@pytest.mark.slow            # reads the module's one return
def test_workbook_is_ready_to_send(q1_return):
    """Plain headings, fitted widths, frozen header rows, numbers as numbers and symbols as
    text, the partnership, the period and the key on every sheet, labels instead of ids."""
    _home, _tmp, result = q1_return
    wb = load_workbook(result.workbook)
    header = header_row()
    for ws in wb.worksheets:
        about = ws.cell(2, 1).value
        assert "HYPERLINK" in about and "1 January 2026 to 31 March 2026" in about, ws.title
        key = ws.cell(3, 1).value
        assert "c = suppressed" in key and ": = not available" in key and "z =" in key
        assert ws.freeze_panes == f"A{header + 1}", ws.title
        headings = [c.value for c in ws[header]]
        assert all(h and "_" not in h for h in headings), (ws.title, headings)
        for j in range(1, len(headings) + 1):
            assert ws.column_dimensions[get_column_letter(j)].width >= 8, (ws.title, j)
        labels = {"Cover"} | {h for _s, t, _d in RETURN_TABLES
                              for c, h in (layout()["columns"][t] or {}).items()
                              if c in layout()["text"]}
        for row in ws.iter_rows(min_row=header + 1, values_only=True):
            for heading, v in zip(headings, row, strict=True):
                assert not (isinstance(v, str) and re.fullmatch(r"-?\d+(\.\d+)?", v)
                            and ws.title not in labels and heading not in labels), (ws.title, v)
                assert "episodes_type_" not in str(v) and "children_at_least_" not in str(v)
    t9 = list(wb["Table9_indicators"].iter_rows(min_row=header, values_only=True))
    assert t9[0][:2] == ("Indicators (k)", "Children with k or more indicators")
    assert [r[0] for r in t9[1:]][-1] == "7+" and all(isinstance(r[0], str) for r in t9[1:])
    assert all(isinstance(r[1], int) or r[1] == "c" for r in t9[1:])
    decimals = [c for ws in wb.worksheets for row in ws.iter_rows(min_row=header + 1)
                for c in row if c.number_format == "#,##0.0"]
    assert decimals and all(isinstance(c.value, (int, float)) for c in decimals)
    measures = {r[1] for r in wb["Missing_episodes"].iter_rows(min_row=header + 1,
                                                               values_only=True)}
    assert "Episodes away from placement without authorisation" in measures


@pytest.mark.slow            # reads the module's one return
def test_trend_sheet_repeats_each_quarters_own_publication(q1_return):
    """Every trend value is what that quarter's own publication prints (Table 9's "k or more"
    and the missing-episode measures), and quarters before a feed's records are ':' with a
    note, never a zero."""
    home, tmp_path, result = q1_return
    body = [dict(r) for r in csv.DictReader(
        (result.csv_dir / "trend.csv").open(newline="", encoding="utf-8"))]
    sheet = list(load_workbook(result.workbook)["Trend"].iter_rows(min_row=header_row(),
                                                                    values_only=True))
    assert len(sheet) == len(body) + 1
    quarters = list(dict.fromkeys(r["quarter"] for r in body))
    assert quarters == sorted(quarters) and len(quarters) == 8 and quarters[-1] == "2026Q1"
    assert [str(r[0]) for r in sheet[1:]] == [r["quarter"] for r in body]
    assert [_text(r[3]) for r in sheet[1:]] == [r["value"] for r in body]
    published = expected_quarter_tables(home, tmp_path / "trend",
                                        [parse_quarter(q) for q in quarters])
    checked = gaps = 0
    for quarter in quarters:
        tables = published[parse_quarter(quarter)]
        cols, rows = tables["table9_indicators"]
        t9 = {r[cols.index("k")]: r[cols.index("children_at_least_k")] for r in rows}
        cols, rows = tables["missing_episodes"]
        missing = {f"missing_{r[cols.index('measure')]}_{r[cols.index('feed')].lower()}":
                   r[cols.index("value")] for r in rows}
        for row in (r for r in body if r["quarter"] == quarter):
            if row["value"] == ":":
                assert "records start" in row["note"] and row["comparable"] == "", row
                gaps += 1
                continue
            if row["measure"].startswith("children_at_least_"):
                want = t9[int(row["measure"].split("_")[3])]
            else:
                want = missing[row["measure"]]
            assert str(row["value"]) == str(want), (quarter, row["measure"])
            assert row["comparable"] in (COMPARABLE, PARTIAL)
            checked += 1
    assert {r["measure"] for r in body} >= {f"children_at_least_{k}_indicators"
                                            for k in (1, 2, 3)}
    assert checked >= 8 and gaps >= 1


def test_quarter_after_the_data_is_refused(tmp_path):
    home = make_home(tmp_path, "Kestrelford")
    with pytest.raises(ReturnError, match="after the published warehouse"):
        write_return(Home(home), "2026Q2")
    with pytest.raises(ReturnError, match="not found"):
        write_return(Home(tmp_path / "nowhere"), "2025Q2")


@pytest.mark.slow            # each return recomputes eight quarters for the trend
def test_return_cli(tmp_path, caplog):
    """The command writes the return and, off a terminal, logs one line per stage."""
    from typer.testing import CliRunner

    from flows.cli import app

    home = make_home(tmp_path, "Kestrelford")
    with caplog.at_level(logging.INFO, logger="joinedup.progress"):
        out = CliRunner().invoke(app, ["return", "--home", str(home), "--quarter", "2025Q3"])
    assert out.exit_code == 0, out.output
    stages = [r.getMessage() for r in caplog.records if r.name == "joinedup.progress"]
    assert stages[0] == "return: stage 1 of 12: copy the published warehouse"
    assert "return: stage 12 of 12: report" in stages and len(stages) == 13   # + "done in"
    assert (home / "exports" / "returns" / "2025Q3" / "return_2025Q3.xlsx").exists()
    bad = CliRunner().invoke(app, ["return", "--home", str(home), "--quarter", "2026Q3"])
    assert bad.exit_code == 1


def test_quarterly_flow_signature():
    import inspect

    from flows.quarterly import quarterly_return

    assert quarterly_return.name == "quarterly-return"
    params = inspect.signature(quarterly_return.fn).parameters
    assert list(params) == ["home", "quarter"] and params["quarter"].default is None
