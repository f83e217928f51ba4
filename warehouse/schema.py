"""Creating the warehouse tables.

Fixed tables are SQL files in `warehouse/schema/`; what the extract kinds define is generated
from their YAML so that it stays the single definition: the staging table of each kind from its
columns, and staging.person_record's value columns from sources/kinds/_person.yaml (filled into
the `{{person_record_columns}}` placeholder of 20_staging.sql).
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from sources.common.sqlfiles import SqlFiles
from sources.kinds import Kind, load_kinds, load_person_columns

SCHEMA = SqlFiles(Path(__file__).parent / "schema")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")

# Columns every staging.<kind> table starts with, before the kind's own event columns.
EVENT_KEY_COLUMNS = {
    "record_key": "VARCHAR PRIMARY KEY",  # '<source>:<record_id>'
    "source": "VARCHAR NOT NULL",
    "record_id": "VARCHAR NOT NULL",
    "person_key": "VARCHAR NOT NULL",  # staging.person_record.record_key
    "extract_id": "VARCHAR NOT NULL",
    "row_number": "INTEGER NOT NULL",
}


def _checked(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"sources/kinds/_person.yaml: {name!r} is not a usable column name")
    return name


def person_values() -> dict[str, str]:
    """The person record's values (every person column but its key), with their DuckDB type."""
    return {_checked(c.name): c.duckdb_type for c in load_person_columns().values() if not c.key}


def person_raw() -> list[str]:
    """The person columns whose supplier text is kept as <name>_raw."""
    return [_checked(c.name) for c in load_person_columns().values() if c.keep_raw]


def person_aliases() -> dict[str, str]:
    """Alias list column -> the person column whose other values it holds."""
    return {_checked(c.aliases): _checked(c.name) for c in load_person_columns().values()
            if c.aliases}


def person_record_columns() -> dict[str, str]:
    """staging.person_record's columns after its key: the values, the alias lists, then the
    raw text kept beside some values."""
    values = person_values()
    return {**values,
            **{alias: f"{values[column]}[]" for alias, column in person_aliases().items()},
            **{f"{name}_raw": "VARCHAR" for name in person_raw()}}


def staging_table_sql(kind: Kind) -> str:
    columns = dict(EVENT_KEY_COLUMNS)
    for col in kind.event_columns.values():
        if col.name != "record_id":
            columns[col.name] = col.duckdb_type
    body = ",\n    ".join(f"{name} {ddl}" for name, ddl in columns.items())
    return f"CREATE TABLE staging.{kind.name} (\n    {body}\n);"


def _schema_fills() -> dict[str, dict[str, str]]:
    columns = ",\n    ".join(f"{name} {ddl}" for name, ddl in person_record_columns().items())
    return {"20_staging.sql": {"person_record_columns": columns}}


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    fills = _schema_fills()
    for path in sorted(SCHEMA.directory.glob("*.sql")):
        con.execute(SCHEMA.filled(path.name, **fills.get(path.name, {})))
    for kind in load_kinds().values():
        con.execute(staging_table_sql(kind))
