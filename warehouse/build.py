"""A warehouse build's life: created, extracts recorded, a period derived and published, lineage
written, then swapped in (warehouse.swap) or removed.

The nightly run and the quarterly return both publish periods through `publish_period`, so a
quarter's return is computed by exactly the functions that made the nightly tables.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from sources.common.checkpoints import reached
from sources.kinds import Kind
from warehouse import load
from warehouse.db import connect
from warehouse.schema import create_schema

META_RUN_INSERT = """
INSERT INTO meta.run (run_id, code_version, started_at, finished_at, as_of, period_start,
                      period_end, settings_json)
VALUES ($run_id, $code_version, $started_at, NULL, $as_of, $period_start, $period_end,
        $settings_json)
"""
META_EXTRACT_INSERT = """
INSERT INTO meta.extract (extract_id, source, kind, map_name, file_name, archive_path,
                          received_at, rows_in, rows_loaded, rows_quarantined)
VALUES ($extract_id, $source, $kind, $map_name, $file_name, $archive_path, $received_at,
        $rows_in, $rows_loaded, $rows_quarantined)
"""
LINEAGE_TABLES = """
SELECT schema_name, table_name FROM duckdb_tables()
WHERE database_name = current_database() AND schema_name IN ('publish', 'mart')
ORDER BY ALL
"""
LINEAGE_INSERT = """
INSERT INTO meta.lineage (table_schema, table_name, run_id, row_count, extract_ids, recorded_at)
VALUES ($schema, $table, $run_id, $row_count, $extract_ids, $recorded_at)
"""


@dataclass(frozen=True)
class RunRecord:
    """meta.run: one row per build, naming the settings it was made with."""

    run_id: str
    code_version: str
    as_of: date
    period_start: date
    period_end: date
    settings_json: str
    started_at: datetime | None = None


@dataclass(frozen=True)
class ExtractRecord:
    """meta.extract: one archived file loaded into the build (counts, never values)."""

    extract_id: str
    source: str
    kind: str
    map_name: str
    file_name: str
    archive_path: str
    received_at: datetime
    rows_in: int
    rows_loaded: int = 0
    rows_quarantined: int = 0


def create_build(path: Path, run: RunRecord) -> Path:
    """A new build file with every table, owner-readable only; refuses to overwrite."""
    if path.exists():
        raise FileExistsError(f"build {path.name} already exists")
    path.parent.mkdir(parents=True, exist_ok=True)
    con = connect(path)
    try:
        create_schema(con)
        load.start_loading(con)
        started = run.started_at or datetime.now(UTC).replace(tzinfo=None)
        con.execute(META_RUN_INSERT, {**asdict(run), "started_at": started})
    finally:
        con.close()
    path.chmod(0o600)
    return path


def carry_published_history(path: Path, live: Path, returns_dir: Path | None = None) -> int:
    """Copy the published warehouse's history of publications, and the quarterly returns'
    (`returns_dir`), into a new build, so that the build's publications are chosen and checked
    against every one already made (the build itself starts empty). Returns the rows carried."""
    from warehouse.publication_history import carry_history
    from warehouse.publish import ensure_publish_tables

    if not live.exists():
        return 0
    con = connect(path)
    try:
        ensure_publish_tables(con)
        return carry_history(str(live), con, returns_dir)
    finally:
        con.close()


def record_extract(path: Path, extract: ExtractRecord, kind: Kind, seq: int, good: pd.DataFrame,
                   failures: pd.DataFrame, raw_rows: pd.DataFrame,
                   supplier_columns: dict[str, str]) -> int:
    """Load one validated extract (good rows, quarantined rows with their raw values, and its
    meta.extract row) in one transaction: an extract is in the build whole or not at all.
    `seq` orders the run's extracts, and a later one's rows supersede an earlier one's with the
    same record id whatever the feed's refresh: an incremental feed's next delivery, or a
    full-refresh feed's same-day correction (which used to fail every later run with a duplicate
    `record_key` until the feed was delivered again on another day)."""
    con = connect(path)
    try:
        con.execute("BEGIN TRANSACTION")
        loaded = load.load_rows(con, kind, extract.source, extract.extract_id, seq, good)
        reached("ingest-write")
        load.load_quarantine(con, extract_id=extract.extract_id, source=extract.source,
                             file_name=extract.file_name, failures=failures, raw_rows=raw_rows,
                             supplier_columns=supplier_columns)
        con.execute(META_EXTRACT_INSERT, {**asdict(extract), "rows_loaded": loaded,
                                          "received_at": extract.received_at.replace(
                                              tzinfo=None)})
        con.execute("COMMIT")
    finally:
        con.close()
    return loaded


def finish_staging(path: Path) -> int:
    """Fold the loaded person rows into staging.person_record; returns its row count."""
    con = connect(path)
    try:
        return load.finish_loading(con)
    finally:
        con.close()


def publish_period(con: duckdb.DuckDBPyConnection, period_start: date, period_end: date,
                   catalogue: Any) -> dict:
    """Derive the period's indicator events and marts and publish its suppressed tables, with
    one resolved catalogue (warehouse.settings.Settings) for all three."""
    from warehouse.indicators import derive_indicator_events
    from warehouse.marts import build_marts
    from warehouse.publish import publish_tables

    summary = {
        "indicators": derive_indicator_events(con, period_start=period_start,
                                              period_end=period_end, settings=catalogue),
        "marts": build_marts(con, as_of=period_end, period_start=period_start,
                             period_end=period_end, settings=catalogue),
    }
    reached("derive-write")
    summary["publication"] = publish_tables(con, as_of=period_end, period_start=period_start,
                                            period_end=period_end, settings=catalogue)
    return summary


def derive_and_publish(path: Path, period_start: date, period_end: date, catalogue: Any) -> dict:
    """The nightly build's period, then the build marked finished."""
    con = connect(path)
    try:
        summary = publish_period(con, period_start, period_end, catalogue)
        con.execute("UPDATE meta.run SET finished_at = ?",
                    [datetime.now(UTC).replace(tzinfo=None)])
        con.execute("CHECKPOINT")
        return summary
    finally:
        con.close()


def record_lineage(path: Path, run_id: str) -> int:
    """meta.lineage: for every table in the publish and mart schemas, the run and the extracts
    (sha256) it came from. Every loaded extract feeds linkage, so every table lists them all."""
    con = connect(path)
    try:
        extracts = [e for (e,) in con.execute(
            "SELECT extract_id FROM meta.extract ORDER BY extract_id").fetchall()]
        tables = con.execute(LINEAGE_TABLES).fetchall()
        now = datetime.now(UTC).replace(tzinfo=None)
        con.execute("BEGIN TRANSACTION")
        con.execute("DELETE FROM meta.lineage")
        for schema, table in tables:
            count = con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchall()[0][0]
            con.execute(LINEAGE_INSERT, {"schema": schema, "table": table, "run_id": run_id,
                                         "row_count": count, "extract_ids": extracts,
                                         "recorded_at": now})
        reached("lineage-write")
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
        return len(tables)
    finally:
        con.close()


def latest_run(con: duckdb.DuckDBPyConnection) -> tuple[str, date] | None:
    """(run_id, as_of) of the build's newest meta.run row."""
    rows = con.execute(
        "SELECT run_id, as_of FROM meta.run ORDER BY started_at DESC LIMIT 1").fetchall()
    return (rows[0][0], rows[0][1]) if rows else None


def remove_build(path: Path) -> None:
    """A build that will never be published, with its write-ahead log."""
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".wal").unlink(missing_ok=True)


def settings_json(document: dict) -> str:
    return json.dumps(document, sort_keys=True, default=str)
