"""CSV files of the published tables, for people who open them in a spreadsheet.

Only the `publish` schema is exported, so only suppressed text counts leave the warehouse. Any
cell starting with a character a spreadsheet reads as a formula is prefixed with an apostrophe
(CSV / formula injection), whatever the table holds.
"""

from __future__ import annotations

import csv
import logging
from datetime import date, datetime
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def guard_cell(value: object) -> str:
    """Text of one CSV cell, defused if a spreadsheet would evaluate it."""
    if value is None:
        return ""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def published_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'publish' AND table_type = 'BASE TABLE' ORDER BY table_name"
    ).fetchall()
    return [r[0] for r in rows]


def write_guarded_csv(path: Path, columns: list, rows: list) -> None:
    """A CSV for people: every cell defused against formula injection (guard_cell)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([guard_cell(c) for c in columns])
        writer.writerows([guard_cell(v) for v in row] for row in rows)


def export_csv(con: duckdb.DuckDBPyConnection, out_dir: Path | str) -> list[Path]:
    """One UTF-8 CSV per publish table (header row, rows in a stable order); returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for table in published_tables(con):
        # table names come from the warehouse catalogue, quoted as identifiers
        result = con.execute(f'SELECT * FROM publish."{table}" ORDER BY ALL')
        columns = [d[0] for d in result.description]
        rows = result.fetchall()
        path = out / f"{table}.csv"
        write_guarded_csv(path, columns, rows)
        paths.append(path)
        log.info("exported publish.%s: %d rows", table, len(rows))
    return paths
