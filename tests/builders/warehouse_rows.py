"""Hand-built staging, linkage and meta rows in an in-memory warehouse, for the indicator,
mart, publication and return tests: each row is written with its columns named."""

from __future__ import annotations

from datetime import date, datetime

from sources.kinds import get_kind
from warehouse.db import connect
from warehouse.indicators import derive_indicator_events
from warehouse.schema import create_schema

P_START, P_END = date(2025, 4, 1), date(2026, 3, 31)


def new_warehouse():
    con = connect()
    create_schema(con)
    return con


def insert(con, table: str, row: dict) -> None:
    """One row of `table`, its columns named (so a schema change fails here, not silently)."""
    names = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    con.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(row.values()))


def add_person(con, source: str, ref: str, *, dob=None, sex=None, ethnicity=None,
               disability=None, kind: str | None = None, extract_id: str = "x1") -> str:
    key = f"{source}:{ref}"
    insert(con, "staging.person_record", {
        "record_key": key, "source": source, "kind": kind or source, "person_ref": ref,
        "extract_id": extract_id, "event_rows": 1, "dob": dob, "sex": sex,
        "ethnicity": ethnicity, "disability": disability})
    return key


def add_event(con, kind: str, record_id: str, person_ref: str, *, source: str | None = None,
              **columns) -> str:
    source = source or kind
    known = get_kind(kind).event_columns
    unknown = set(columns) - set(known)
    assert not unknown, f"test uses unknown {kind} columns {unknown}"
    insert(con, f"staging.{kind}", {
        "record_key": f"{source}:{record_id}", "source": source, "record_id": record_id,
        "person_key": f"{source}:{person_ref}", "extract_id": "x1", "row_number": 1, **columns})
    return f"{source}:{record_id}"


def link(con, pairs: dict[str, str]) -> None:
    """linkage.person as the linkage package would leave it: record_key -> person_id."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS linkage.person "
        "(record_key VARCHAR PRIMARY KEY, person_id VARCHAR, cluster_size INTEGER)"
    )
    sizes: dict[str, int] = {}
    for pid in pairs.values():
        sizes[pid] = sizes.get(pid, 0) + 1
    for record_key, pid in pairs.items():
        insert(con, "linkage.person",
               {"record_key": record_key, "person_id": pid, "cluster_size": sizes[pid]})


def add_extract(con, extract_id: str, kind: str, received: datetime, *, source: str | None = None,
                map_name: str = "map", file_name: str = "file.csv",
                archive_path: str = "archive", rows_in: int = 1, rows_loaded: int = 1,
                rows_quarantined: int = 0) -> None:
    """One meta.extract row: a file received from `source` (the kind unless named)."""
    insert(con, "meta.extract", {
        "extract_id": extract_id, "source": source or kind, "kind": kind, "map_name": map_name,
        "file_name": file_name, "archive_path": archive_path, "received_at": received,
        "rows_in": rows_in, "rows_loaded": rows_loaded, "rows_quarantined": rows_quarantined})


def derive(con, **kwargs):
    return derive_indicator_events(con, period_start=P_START, period_end=P_END, **kwargs)
