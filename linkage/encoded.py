"""Linkage on encodings (`joinedup encode`, sources/encoding/): the feature columns encoded
records carry and the settings they are linked by.

An encoded record has no clear name, date of birth or address, only Bloom filters of them
(`<role>_bf`), keyed HMACs of its identifiers (`<role>_hmac`) and of its blocking keys
(`block_<name>`). The engine links them with the same Fellegi-Sunter model, EM and clustering
as clear records; only the comparisons and blocking rules differ, and those are data
(linkage/encoded.yaml, laid over settings.yaml). A run is encoded when its records carry
encodings; clear records must then be encoded with the same schema before they are linked
(flows/link_files.py), since a clear name cannot be compared with a Bloom filter.

The Dice coefficient of two filters is counted in DuckDB over BIT strings (a bitwise AND and a
bit count per pair, both vectorised), with each filter's own count of ones kept as a feature so
that only the intersection is counted per pair. Nothing here depends on how the filters were
hardened: levels are Dice thresholds, and EM learns what each is worth.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import duckdb

from sources.encoding.schema import EncodingSchema

PROFILE_PATH = Path(__file__).with_name("encoded.yaml")
# the columns of linkage.feature an encoded filter adds beside itself: its count of ones, a
# 64-bit hash of it (what blocking joins on: joining on 256-byte strings was ten times slower)
# and the frequency of that exact filter. Blocking on bands of the filters (32- or 64-bit
# slices, locality-sensitive hashing), which filters made with per-record noise would share,
# made 4.7M to 13.9M candidate pairs per rule at 100,000 synthetic records (short values such
# as postcodes leave most slices alike), against 8,000 to 65,000 on identical filters.
ONES_SUFFIX, KEY_SUFFIX, TF_SUFFIX = "_ones", "_key", "_tf"
# Term frequencies are counted per filter by a GROUP BY joined back, not by window functions,
# which carried every wide filter through one sort per column (6 s of 10 at 100,000 records).
ENCODED_FEATURES_SQL = """
CREATE OR REPLACE TABLE linkage.feature AS
WITH i AS (
    SELECT record_key, {keys} FROM linkage_input
){frequencies}
SELECT f.*, {columns}
FROM linkage.feature f JOIN i USING (record_key){joins}
ORDER BY f.rid
"""
# An encoded run judges households by the filters, since the dates of birth (and so the share
# of children) cannot be read: records sharing a home with another forename and another date of
# birth (linkage/households.py). Not the surname as well, as in the clear: names salted by the
# date of birth (the default hardening) never agree between children born on different days,
# so no brother or sister would be seen, the vetoes would stand down, and twins would merge.
SIBLING_PAIRS_SQL = """
SELECT count(*) FROM linkage.feature a
JOIN linkage.feature b ON a.address_bf_key = b.address_bf_key
     AND a.postcode_bf_key = b.postcode_bf_key AND a.rid < b.rid
WHERE a.first_name_bf_key <> b.first_name_bf_key AND a.dob_bf_key <> b.dob_bf_key
"""


class MixedRecordsError(ValueError):
    """Clear and encoded records in one run: the clear ones must be encoded first."""


@cache
def input_columns() -> dict[str, str]:
    """The encoded columns linkage reads, with their DuckDB types, from the partnership's
    encoding schema (sources/encoding/encoding.yaml): the layout every encoded file keeps."""
    schema = EncodingSchema.defaults()
    return {**{f"{role}_bf": "BLOB" for role in schema.bloom},
            **{f"{role}_hmac": "VARCHAR" for role in schema.exact},
            **{f"block_{name}": "VARCHAR" for name in schema.blocking}}


def features_sql() -> str:
    """ENCODED_FEATURES_SQL for the schema's columns: each filter as a BIT string with its
    count of ones, key and term frequency (of a value encoded identically); identifiers and
    blocking keys as they are."""
    keys, frequencies, columns, joins = [], [], [], []
    for column, kind in input_columns().items():
        if kind != "BLOB":
            keys.append(f"nullif(trim({column}), '') AS {column}")
            columns.append(f"i.{column}")
            continue
        key, tf = f"{column}{KEY_SUFFIX}", f"tf_{column}"
        keys += [column, f"CASE WHEN {column} IS NOT NULL THEN hash({column}) END AS {key}"]
        frequencies.append(f"{tf} AS (SELECT {key}, count(*) / sum(count(*)) OVER () AS tf "
                           f"FROM i WHERE {key} IS NOT NULL GROUP BY {key})")
        columns += [f"i.{column}::BIT AS {column}",
                    f"bit_count(i.{column}::BIT)::INTEGER AS {column}{ONES_SUFFIX}",
                    f"i.{key}", f"{tf}.tf AS {column}{TF_SUFFIX}"]
        joins.append(f"LEFT JOIN {tf} USING ({key})")
    return ENCODED_FEATURES_SQL.format(
        keys=", ".join(keys), columns=",\n    ".join(columns),
        frequencies="".join(f",\n{f}" for f in frequencies), joins="\n" + "\n".join(joins))


def add_encoded_features(con: duckdb.DuckDBPyConnection) -> None:
    """Add the encoded features to linkage.feature (read from the view linkage_input)."""
    con.execute(features_sql())


def is_encoded(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether the records of `table` (a quoted name) are encodings; refuses a mixture, in
    which clear records would be compared with nothing."""
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {table}").fetchall()}
    filters = [c for c, kind in input_columns().items() if kind == "BLOB" and c in present]
    if not filters:
        return False
    encoded_rows = " OR ".join(f"{c} IS NOT NULL" for c in filters)
    clear = [c for c in ("first_name", "last_name", "dob", "postcode", "address") if c in present]
    clear_rows = " OR ".join(f"{c} IS NOT NULL" for c in clear) or "false"
    encoded, mixed = con.execute(
        f"SELECT count(*) FILTER (WHERE {encoded_rows}), "
        f"count(*) FILTER (WHERE ({clear_rows}) AND NOT ({encoded_rows})) FROM {table}"
    ).fetchall()[0]
    if encoded and mixed:
        raise MixedRecordsError(
            f"{mixed} records are in the clear beside {encoded} encoded ones: encode them with "
            "the partnership's schema and secret before linking (docs/privacy.md)")
    return bool(encoded)
