"""Preparing linkage.feature: the per-record values blocking and comparisons work on.

Everything row-wise runs in DuckDB (features.sql). Python is used only where DuckDB has no
function: phonetic codes (jellyfish), computed once per distinct name rather than per record, and
reading the nickname table.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import duckdb
import jellyfish
import pandas as pd
from nicknames import NickNamer

from linkage.encoded import add_encoded_features
from linkage.encoded import input_columns as encoded_input_columns
from linkage.id_chains import resolve_id_chains
from sources.common.sqlfiles import SqlFiles
from sources.kinds import load_person_columns

SQL = SqlFiles.beside(__file__)
NICKNAMES_PATH = Path(__file__).parent / "data" / "nicknames.csv"


def _input_columns() -> dict[str, str]:
    """The columns of staging.person_record that linkage reads, with the type it reads them as:
    the key, and the person columns sources/kinds/_person.yaml marks `linkage` (with their alias
    lists). A source table without one of them is read as if the column were all NULL."""
    columns = {"record_key": "VARCHAR", "source": "VARCHAR"}
    for column in load_person_columns().values():
        if column.linkage:
            columns[column.name] = column.duckdb_type
            if column.aliases:
                columns[column.aliases] = f"{column.duckdb_type}[]"
    return columns


# dob_precision is linkage's own: 'month' or 'year' for a partial date of birth (held as the
# first day of its period, linkage/dates.py), NULL for a full date.
INPUT_COLUMNS: dict[str, str] = {**_input_columns(), "dob_precision": "VARCHAR"}
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def quoted_table(name: str) -> str:
    """The table name is a parameter of run_linkage, so check it before it reaches SQL."""
    if not _TABLE_NAME.match(name):
        raise ValueError("source_table must be a plain [schema.]table name")
    return ".".join(f'"{part}"' for part in name.split("."))


def input_select_sql(con: duckdb.DuckDBPyConnection, table: str,
                     extras: list[str] | tuple[str, ...] = (), encoded: bool = False) -> str:
    """SELECT of the columns linkage reads from `table` (an already quoted name), typed;
    `encoded` records' encodings too (linkage.encoded)."""
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {table}").fetchall()}
    if "record_key" not in present:
        raise ValueError(f"{table} has no record_key column")
    columns = {**INPUT_COLUMNS, **(encoded_input_columns() if encoded else {}),
               **{e: "VARCHAR" for e in extras}}
    select = ",\n    ".join(
        f'CAST("{col}" AS {typ}) AS {col}' if col in present else f"CAST(NULL AS {typ}) AS {col}"
        for col, typ in columns.items()
    )
    return f"SELECT\n    {select}\nFROM {table}"


def create_input_view(con: duckdb.DuckDBPyConnection, source_table: str,
                      extras: list[str] | tuple[str, ...] = (), encoded: bool = False) -> None:
    table = quoted_table(source_table)
    con.execute("CREATE OR REPLACE TEMP VIEW linkage_input AS "
                + input_select_sql(con, table, extras, encoded))
    duplicates = con.execute(
        "SELECT count(*) - count(DISTINCT record_key), count(*) FILTER (record_key IS NULL) "
        "FROM linkage_input"
    ).fetchall()[0]
    if duplicates[0] or duplicates[1]:
        raise ValueError(
            f"{source_table}: record_key must be unique and not NULL "
            f"({duplicates[0]} duplicated, {duplicates[1]} NULL)"
        )


@cache
def nickname_table() -> pd.DataFrame:
    """Forename groups: this project's own (linkage/data/nicknames.csv: the names of England's
    children, with their transliterations) and the English nicknames of the `nicknames` package
    (one group per formal name, holding its nicknames). linkage/data/README.md gives both
    sources."""
    own = pd.read_csv(NICKNAMES_PATH, comment="#", dtype=str).rename(columns={"group": "grp"})
    english = pd.DataFrame(
        [(formal.upper(), nick.upper())
         for formal, nicks in NickNamer().nickname_lookup.items() for nick in nicks],
        columns=["grp", "name"])
    table = pd.concat([own, english])
    both = pd.concat([table, pd.DataFrame({"grp": table["grp"], "name": table["grp"]})])
    return both.drop_duplicates().sort_values(["name", "grp"]).reset_index(drop=True)


def phonetic_codes(names: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": names,
            "meta": [jellyfish.metaphone(n) or None for n in names],
            "nysiis": [jellyfish.nysiis(n) or None for n in names],
        }
    )


def build_features(con: duckdb.DuckDBPyConnection, source_table: str,
                   extras: list[str] | tuple[str, ...] = (), encoded: bool = False) -> int:
    """Create linkage.feature from the person records; returns the number of records.
    `extras` columns are carried into the features as they are, for generic comparisons;
    `encoded` records also carry their encodings' features (linkage.encoded)."""
    create_input_view(con, source_table, extras, encoded)
    nicknames = nickname_table()
    con.register("linkage_nickname_df", nicknames)
    con.execute("CREATE OR REPLACE TEMP TABLE linkage_nickname AS "
                "SELECT * FROM linkage_nickname_df")
    con.unregister("linkage_nickname_df")
    names = [
        row[0]
        for row in con.execute(
            "SELECT DISTINCT name FROM (SELECT nullif(trim(first_name), '') AS name "
            "FROM linkage_input UNION ALL SELECT nullif(trim(last_name), '') FROM linkage_input) "
            "WHERE name IS NOT NULL ORDER BY name"
        ).fetchall()
    ]
    con.register("linkage_phonetic_df", phonetic_codes(names))
    con.execute("CREATE OR REPLACE TEMP TABLE linkage_phonetic AS "
                "SELECT * FROM linkage_phonetic_df")
    con.unregister("linkage_phonetic_df")
    con.execute("CREATE SCHEMA IF NOT EXISTS linkage")
    con.execute(SQL.read("features.sql"))
    resolve_id_chains(con)
    if extras:
        carried = ", ".join(f"i.{e}" for e in extras)
        con.execute(f"CREATE OR REPLACE TABLE linkage.feature AS SELECT f.*, {carried} "
                    "FROM linkage.feature f JOIN linkage_input i USING (record_key) "
                    "ORDER BY f.rid")
    if encoded:
        add_encoded_features(con)
    return con.execute("SELECT count(*) FROM linkage.feature").fetchall()[0][0]


@cache
def feature_column_names() -> tuple[str, ...]:
    """The columns of linkage.feature (before any extras, with the encoded ones), read off
    features.sql run on no records: blocking keys, strong ids and tf columns in settings must be
    among them."""
    con = duckdb.connect(config={"autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    try:
        columns = ", ".join(f"{name} {ddl}" for name, ddl in
                            {**INPUT_COLUMNS, **encoded_input_columns()}.items())
        con.execute(f"CREATE TABLE empty_person_record ({columns})")
        build_features(con, "empty_person_record", encoded=True)
        return tuple(row[0] for row in con.execute("DESCRIBE linkage.feature").fetchall())
    finally:
        con.close()
