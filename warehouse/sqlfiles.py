"""Reading the warehouse's `.sql` files and setting the DuckDB variables they read.

SQL stays in files so reviewers read queries as SQL; values reach it only through
`SET VARIABLE ... = ?` parameters, never by pasting text into a statement.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

SQL_DIR = Path(__file__).parent / "sql"
_VARIABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@cache
def read_sql(relative: str) -> str:
    return (SQL_DIR / relative).read_text()


def run_sql(con: duckdb.DuckDBPyConnection, relative: str) -> None:
    """Run a file of DDL / DML statements (no result wanted)."""
    con.execute(read_sql(relative))


def _variable_value(value: Any) -> Any:
    # Floats become decimals so that a threshold such as 12.3% compares exactly.
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, (list, tuple)):
        return [_variable_value(v) for v in value]
    return value


def set_variables(con: duckdb.DuckDBPyConnection, values: dict[str, Any]) -> None:
    """SET VARIABLE for each name; names come from our own catalogue and are checked."""
    for name, value in values.items():
        if not _VARIABLE_NAME.match(name):
            raise ValueError(f"not a usable variable name: {name!r}")
        con.execute(f"SET VARIABLE {name} = ?", [_variable_value(value)])


def reset_variables(con: duckdb.DuckDBPyConnection, names: list[str]) -> None:
    for name in names:
        if not _VARIABLE_NAME.match(name):
            raise ValueError(f"not a usable variable name: {name!r}")
        con.execute(f"RESET VARIABLE {name}")


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchall()
    return rows[0][0] > 0
