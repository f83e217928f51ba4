"""Loading validated extract rows into the staging tables of a warehouse build.

Event columns go to `staging.<kind>`; identifying columns go to a working table and are folded
into one `staging.person_record` per (source, person_ref) once every extract is in, so that
identifying data lives in one table only.
"""

from __future__ import annotations

import json

import duckdb
import pandas as pd

from sources.common.sqlfiles import SqlFiles
from sources.kinds import Kind
from warehouse.schema import person_aliases, person_raw, person_values

SQL = SqlFiles.beside(__file__)
ORDER_STRIDE = 10_000_000  # rows per extract in the ordering key


def _person_row_columns() -> dict[str, str]:
    return {**person_values(), **{f"{name}_raw": "VARCHAR" for name in person_raw()}}


def person_row_sql() -> str:
    columns = ",\n    ".join(f"{name} {ddl}" for name, ddl in _person_row_columns().items())
    return SQL.filled("load/person_row.sql", person_row_columns=columns)


def person_record_sql() -> str:
    """The fold of staging.person_row into staging.person_record, its columns from the YAML."""
    sep = ",\n        "
    aliases = person_aliases()
    seen = {column: f"seen_{column}" for column in aliases.values()}
    record_values = [*_person_row_columns(),
                     *(f"list_filter({seen[column]}, lambda x: x IS DISTINCT FROM {column}) "
                       f"AS {alias}" for alias, column in aliases.items())]
    return SQL.filled(
        "load/person_record.sql",
        latest_values=sep.join(f"arg_max({c}, ord) AS {c}" for c in _person_row_columns()),
        seen_values=sep.join(f"list_distinct(list({c}) FILTER (WHERE {c} IS NOT NULL)) AS {s}"
                             for c, s in seen.items()),
        record_values=",\n    ".join(record_values))


def start_loading(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(person_row_sql())


def _cast(name: str, ddl_type: str) -> str:
    return f'CAST("{name}" AS {ddl_type}) AS "{name}"'


def load_rows(con: duckdb.DuckDBPyConnection, kind: Kind, source: str, extract_id: str,
              extract_seq: int, good: pd.DataFrame) -> int:
    """Insert one extract's validated rows; they supersede rows with the same record id (a
    later incremental delivery, or a same-day correction of a full-refresh feed)."""
    if good.empty:
        return 0
    frame = good.copy()
    order_col = kind.event_date if kind.event_date in frame else None
    sort_cols = ([order_col] if order_col else []) + ["__row"]
    frame["__row"] = frame.index.astype("int64")
    frame = frame.sort_values(sort_cols, kind="stable", na_position="first")
    frame["ord"] = extract_seq * ORDER_STRIDE + pd.RangeIndex(len(frame)).to_numpy()
    frame["source"] = source
    frame["extract_id"] = extract_id
    frame["record_key"] = source + ":" + frame["record_id"].astype(str)
    frame["person_key"] = source + ":" + frame["person_ref"].astype(str)

    events = {"record_key": "VARCHAR", "source": "VARCHAR", "record_id": "VARCHAR",
              "person_key": "VARCHAR", "extract_id": "VARCHAR", "row_number": "INTEGER"}
    frame["row_number"] = frame["__row"]
    for col in kind.event_columns.values():
        if col.name != "record_id":
            events[col.name] = col.duckdb_type
            if col.name not in frame:
                frame[col.name] = None
    persons = {"source": "VARCHAR", "kind": "VARCHAR", "person_ref": "VARCHAR",
               "record_key": "VARCHAR", "extract_id": "VARCHAR", "ord": "BIGINT"}
    frame["kind"] = kind.name
    for name, ddl_type in _person_row_columns().items():
        persons[name] = ddl_type
        if name not in frame:
            frame[name] = None

    con.register("incoming", frame)
    try:
        con.execute(f"DELETE FROM staging.{kind.name} WHERE record_key IN "
                    "(SELECT record_key FROM incoming)")
        con.execute("DELETE FROM staging.person_row WHERE record_key IN "
                    "(SELECT record_key FROM incoming)")
        event_select = ", ".join(_cast(n, t) for n, t in events.items())
        con.execute(f"INSERT INTO staging.{kind.name} BY NAME SELECT {event_select} FROM incoming")
        person_select = ", ".join(_cast(n, t) for n, t in persons.items())
        con.execute(f"INSERT INTO staging.person_row BY NAME SELECT {person_select} FROM incoming")
    finally:
        con.unregister("incoming")
    return len(frame)


def finish_loading(con: duckdb.DuckDBPyConnection) -> int:
    con.execute(person_record_sql())
    con.execute("DROP TABLE staging.person_row")
    return con.execute("SELECT count(*) FROM staging.person_record").fetchall()[0][0]


def load_quarantine(con: duckdb.DuckDBPyConnection, *, extract_id: str, source: str,
                    file_name: str, failures: pd.DataFrame, raw_rows: pd.DataFrame,
                    supplier_columns: dict[str, str]) -> None:
    """Record every failed (row, rule) and the full raw row so it can be corrected."""
    if failures.empty:
        return
    frame = failures.copy()
    frame["extract_id"] = extract_id
    frame["source"] = source
    frame["file_name"] = file_name
    frame["supplier_column"] = frame["column_name"].map(supplier_columns)
    con.register("failures", frame)
    con.execute("""INSERT INTO quarantine.row_failure BY NAME
        SELECT extract_id, source, file_name, CAST(row_number AS INTEGER) AS row_number,
               column_name, supplier_column, rule, value FROM failures""")
    con.unregister("failures")
    rows = raw_rows.loc[sorted(set(frame["row_number"]))]
    data = pd.DataFrame({
        "extract_id": extract_id,
        "row_number": rows.index.astype(int),
        "row_json": [json.dumps({k: (None if pd.isna(v) else str(v)) for k, v in r.items()})
                     for r in rows.to_dict(orient="records")],
    })
    con.register("row_data", data)
    con.execute("INSERT INTO quarantine.row_data BY NAME SELECT * FROM row_data")
    con.unregister("row_data")
