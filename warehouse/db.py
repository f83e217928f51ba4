"""Opening DuckDB files the way the pipeline needs them.

Extensions cannot be downloaded on a council's locked-down server (or here), so auto-install and
auto-load are switched off: a query that needs a missing extension fails at once instead of
waiting on a network timeout.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def connect(path: Path | str = ":memory:", *, read_only: bool = False,
            memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """`memory_limit` (DuckDB's, e.g. '2GB'): beyond it DuckDB spills to a temporary folder
    beside the database file instead of growing, which keeps a million-record linkage inside a
    small server's memory. None leaves DuckDB's default (80% of the machine's memory)."""
    config = dict(CONFIG)
    if memory_limit:
        config["memory_limit"] = memory_limit
    return duckdb.connect(str(path), read_only=read_only, config=config)


def connect_sealed(path: Path | str) -> duckdb.DuckDBPyConnection:
    """`path` read-only, with every other file out of reach: no ATTACH, no reading or writing
    files (read_csv, COPY, glob), and the setting locked so a query cannot lift it. An analyst's
    SQL then sees the analysts' file and nothing of the linkage zone beside it, even when run
    as the pipeline's own user."""
    config = {**CONFIG, "enable_external_access": False, "lock_configuration": True}
    return duckdb.connect(str(path), read_only=True, config=config)


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    """First column of the first row; DuckDB 2.0 relations have no fetchone()."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None
