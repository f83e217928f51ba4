"""Opening DuckDB files the way the pipeline needs them.

Extensions cannot be downloaded on a council's locked-down server (or here), so auto-install and
auto-load are switched off: a query that needs a missing extension fails at once instead of
waiting on a network timeout.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def connect(path: Path | str = ":memory:", *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(path), read_only=read_only, config=dict(CONFIG))


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    """First column of the first row; DuckDB 2.0 relations have no fetchone()."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None
