"""A small published home for the quarterly return, report and analyst tests, and the publish
tables of a quarter computed independently of the return, to compare it with."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path

from tests.builders.cohorts import build_missing_cohort
from tests.builders.warehouse_rows import add_extract, add_person, insert, link
from warehouse.db import connect
from warehouse.indicators import derive_indicator_events
from warehouse.marts import build_marts
from warehouse.publish import publish_tables
from warehouse.returns import COMPUTED_TABLES, RETURN_TABLES
from warehouse.schema import create_schema

AS_OF = date(2026, 3, 31)


def make_home(tmp_path: Path, partnership: str = "=HYPERLINK(\"x\")") -> Path:
    """A home whose published warehouse holds the missing cohort, twelve school-only children,
    one police extract and the run that published it (as of AS_OF)."""
    home = tmp_path / "home"
    (home / "warehouse").mkdir(parents=True)
    (home / "joinedup.yaml").write_text(f"partnership: {{name: '{partnership}'}}\n")
    con = connect(home / "warehouse" / "joinedup.duckdb")
    create_schema(con)
    build_missing_cohort(con)
    for i in range(12):     # enough school-only children for some unsuppressed cells
        add_person(con, "school", f"q{i}", dob=date(2012, 1, 1), sex="F")
    link(con, {f"school:q{i}": f"Q{i}" for i in range(12)})
    add_extract(con, "x1", "police", datetime(2026, 4, 2), file_name="-police.csv",
                archive_path="a", rows_in=10, rows_loaded=10)
    insert(con, "meta.run", {
        "run_id": "run-1", "code_version": "test", "started_at": datetime(2026, 4, 2),
        "finished_at": datetime(2026, 4, 2), "as_of": AS_OF, "period_start": date(2025, 4, 1),
        "period_end": AS_OF, "settings_json": "{}"})
    con.close()
    return home


def expected_tables(home: Path, tmp_path: Path, period) -> dict:
    """The publish tables for the quarter, computed independently in another copy (the sheets
    computed for the return alone, such as the trend, are checked on their own)."""
    return expected_quarter_tables(home, tmp_path, [period])[period]


def expected_quarter_tables(home: Path, tmp_path: Path, periods: list) -> dict:
    """period -> its publish tables, each quarter computed in turn in one copy of the
    warehouse (one copy, not one per quarter: the trend test checks eight)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    copy = tmp_path / "check.duckdb"
    shutil.copyfile(home / "warehouse" / "joinedup.duckdb", copy)
    con = connect(copy)
    out: dict = {}
    try:
        for period in periods:
            derive_indicator_events(con, period_start=period[0], period_end=period[1])
            build_marts(con, as_of=period[1], period_start=period[0], period_end=period[1])
            publish_tables(con, as_of=period[1], period_start=period[0], period_end=period[1])
            out[period] = {}
            for _sheet, table, _title in RETURN_TABLES:
                if table in COMPUTED_TABLES:
                    continue
                result = con.execute(f"SELECT * FROM publish.{table} WHERE period_start = ?",
                                     [period[0]])
                out[period][table] = ([d[0] for d in result.description], result.fetchall())
    finally:
        con.close()
    return out
