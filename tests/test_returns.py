"""The quarterly return: quarters, the workbook and CSVs equal the publish tables, guarded
against formula injection, and a quarter the data does not cover is refused."""

from __future__ import annotations

import csv
from datetime import date

import pytest
from openpyxl import load_workbook

from flows.home import Home
from flows.steps import write_return
from tests.builders.return_home import expected_tables, make_home
from warehouse.returns import (
    COMPUTED_TABLES,
    RETURN_TABLES,
    ReturnError,
    last_complete_quarter,
    parse_quarter,
)


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


@pytest.mark.slow            # each return recomputes eight quarters for the trend
def test_return_workbook_and_csv_equal_the_publish_tables(tmp_path):
    home = make_home(tmp_path)
    result = write_return(Home(home), "2025Q2")
    assert result.period_start == date(2025, 4, 1) and result.period_end == date(2025, 6, 30)
    expected = expected_tables(home, tmp_path, (result.period_start, result.period_end))
    wb = load_workbook(result.workbook)
    assert wb.sheetnames == ["Cover"] + [s for s, _t, _d in RETURN_TABLES]
    for sheet, table, _title in RETURN_TABLES:
        if table in COMPUTED_TABLES:
            continue
        columns, rows = expected[table]
        values = list(wb[sheet].iter_rows(values_only=True))
        assert list(values[1]) == columns
        got = sorted(tuple(_text(v) for v in r) for r in values[2:])
        want = sorted(tuple(_text(v) for v in r) for r in rows)
        assert got == want, sheet
        with (result.csv_dir / f"{table}.csv").open(newline="", encoding="utf-8") as fh:
            reader = list(csv.reader(fh))
        assert reader[0] == columns
        assert sorted(tuple(r) for r in reader[1:]) == want, table
    cover = dict(wb["Cover"].iter_rows(min_row=2, values_only=True))
    assert cover["Quarter"] == "2025Q2" and cover["Run id (published warehouse)"] == "run-1"
    assert cover["Partnership"].startswith("'=")          # formula defused
    assert "counts 1 to 4" in cover["Suppression rule"]
    feed_rows = [k for k in cover if k.startswith("Feed ")]
    assert feed_rows and "2026-04-02" in cover[feed_rows[0]]
    for path in result.csv_dir.glob("*.csv"):
        for row in csv.reader(path.open(encoding="utf-8")):
            assert not any(c.startswith(("=", "+", "@")) for c in row), path
    for ws in wb.worksheets:
        for row in ws.iter_rows(values_only=True):
            assert not any(isinstance(c, str) and c.startswith(("=", "+", "@")) for c in row)
    assert not list((home / "warehouse" / "tmp").glob("return-*"))   # the copy is gone


@pytest.mark.slow            # each return recomputes eight quarters for the trend
def test_trend_sheet_repeats_each_quarters_own_publication(tmp_path):
    """Every trend value is what that quarter's own publication prints (Table 9's "k or more"
    and the missing-episode measures), and quarters before a feed's records are ':' with a
    note, never a zero."""
    home = make_home(tmp_path, "Kestrelford")
    result = write_return(Home(home), "2026Q1")        # the test's records start in 2025Q2
    sheet = list(load_workbook(result.workbook)["Trend"].iter_rows(values_only=True))
    ix = {c: i for i, c in enumerate(sheet[1])}
    body = [{c: r[i] for c, i in ix.items()} for r in sheet[2:]]
    quarters = list(dict.fromkeys(r["quarter"] for r in body))
    assert quarters == sorted(quarters) and len(quarters) == 8 and quarters[-1] == "2026Q1"
    with (result.csv_dir / "trend.csv").open(newline="", encoding="utf-8") as fh:
        assert len(list(csv.reader(fh))) == len(body) + 1
    checked = gaps = 0
    for quarter in quarters:
        period = parse_quarter(quarter)
        tables = expected_tables(home, tmp_path / quarter, period)
        cols, rows = tables["table9_indicators"]
        t9 = {r[cols.index("k")]: r[cols.index("children_at_least_k")] for r in rows}
        cols, rows = tables["missing_episodes"]
        missing = {f"missing_{r[cols.index('measure')]}_{r[cols.index('feed')].lower()}":
                   r[cols.index("value")] for r in rows}
        for row in (r for r in body if r["quarter"] == quarter):
            if row["value"] == ":":
                assert "records start" in row["note"], row
                gaps += 1
                continue
            if row["measure"].startswith("children_at_least_"):
                want = t9[int(row["measure"].split("_")[3])]
            else:
                want = missing[row["measure"]]
            assert str(row["value"]) == str(want), (quarter, row["measure"])
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
def test_return_cli(tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    home = make_home(tmp_path, "Kestrelford")
    out = CliRunner().invoke(app, ["return", "--home", str(home), "--quarter", "2025Q3"])
    assert out.exit_code == 0, out.output
    assert (home / "exports" / "returns" / "2025Q3" / "return_2025Q3.xlsx").exists()
    bad = CliRunner().invoke(app, ["return", "--home", str(home), "--quarter", "2026Q3"])
    assert bad.exit_code == 1


def test_quarterly_flow_signature():
    import inspect

    from flows.quarterly import quarterly_return

    assert quarterly_return.name == "quarterly-return"
    params = inspect.signature(quarterly_return.fn).parameters
    assert list(params) == ["home", "quarter"] and params["quarter"].default is None
