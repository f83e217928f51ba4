"""Creating the warehouse tables.

Fixed tables are SQL files in `warehouse/schema/`; the staging table of each extract kind is
created from its canonical specification so that the YAML stays the single definition.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from sources.kinds import Kind, load_kinds

SCHEMA_DIR = Path(__file__).parent / "schema"

# Columns every staging.<kind> table starts with, before the kind's own event columns.
EVENT_KEY_COLUMNS = {
    "record_key": "VARCHAR PRIMARY KEY",  # '<source>:<record_id>'
    "source": "VARCHAR NOT NULL",
    "record_id": "VARCHAR NOT NULL",
    "person_key": "VARCHAR NOT NULL",  # staging.person_record.record_key
    "extract_id": "VARCHAR NOT NULL",
    "row_number": "INTEGER NOT NULL",
}


def staging_table_sql(kind: Kind) -> str:
    columns = dict(EVENT_KEY_COLUMNS)
    for col in kind.event_columns.values():
        if col.name != "record_id":
            columns[col.name] = col.duckdb_type
    body = ",\n    ".join(f"{name} {ddl}" for name, ddl in columns.items())
    return f"CREATE TABLE staging.{kind.name} (\n    {body}\n);"


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    for path in sorted(SCHEMA_DIR.glob("*.sql")):
        con.execute(path.read_text())
    for kind in load_kinds().values():
        con.execute(staging_table_sql(kind))
