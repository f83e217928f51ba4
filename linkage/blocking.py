"""Candidate pairs: the union of the blocking rules in settings.yaml, generated in DuckDB.

Each rule is a list of keys; two records are a candidate pair under the rule when they share a
value of every key. A key can be a list column (any element may meet any element: alias
surnames, nickname groups) or a list of alternative columns (dob against the day-month swapped
dob). Rules are data; the SQL is built here from feature column names, which are checked against
linkage.feature, never from free text. Pairs are integer ids (rid_l < rid_r) so the union and
its de-duplication stay cheap at a million records.
"""

from __future__ import annotations

from collections.abc import Iterator

import duckdb

from linkage.settings import check_identifier


def feature_columns(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return {row[0]: row[1] for row in con.execute("DESCRIBE linkage.feature").fetchall()}


def _key_expression(key: str | list[str], columns: dict[str, str]) -> tuple[str, bool]:
    """SQL for one key and whether it yields a list to unnest."""
    alternatives = key if isinstance(key, list) else [key]
    for column in alternatives:
        check_identifier(column, "blocking key")
        if column not in columns:
            raise ValueError(f"linkage settings: blocking key {column} is not a feature column")
    if len(alternatives) == 1:
        column = alternatives[0]
        return column, columns[column].endswith("[]")
    parts = [c if columns[c].endswith("[]") else f"[{c}]" for c in alternatives]
    return "list_concat(" + ", ".join(parts) + ")", True


def rule_keys_sql(rule: dict, columns: dict[str, str],
                  partition: tuple[int, int] | None = None,
                  touching: str | None = None) -> tuple[str, list[str]]:
    """Query giving (rid, k0, k1, ..., block_n) for one rule, and the key column names.

    partition (part, parts): only the key values that hash to `part` of `parts`. Records sharing
    a key value share its hash, so each block is whole in one partition (its block_n exact) and
    each pair of the rule is made in exactly one partition (linkage.partitioned).
    touching: a table of rids; only the blocks one of them is in, whole (block_n exact)."""
    exprs = [_key_expression(key, columns) for key in rule["keys"]]
    names = [f"k{i}" for i in range(len(exprs))]
    ctes = ["s0 AS (SELECT rid, " + ", ".join(
        f"{expr} AS {name}" for (expr, _), name in zip(exprs, names, strict=True))
        + " FROM linkage.feature)"]
    step = 0
    for i, (_, is_list) in enumerate(exprs):
        if is_list:
            cols = ", ".join(f"unnest({n}) AS {n}" if n == names[i] else n for n in names)
            ctes.append(f"s{step + 1} AS (SELECT rid, {cols} FROM s{step})")
            step += 1
    not_null = " AND ".join(f"{n} IS NOT NULL" for n in names)
    if partition is not None:
        part, parts = (int(v) for v in partition)
        not_null += f" AND hash({', '.join(names)}) % {parts} = {part}"
    key_list = ", ".join(names)
    source = f"s{step}"
    if touching is not None:
        check_identifier(touching, "table")
        on = " AND ".join(f"a.{n} = t.{n}" for n in names)
        ctes.append(f"touched AS (SELECT DISTINCT {key_list} FROM s{step} "
                    f"WHERE rid IN (SELECT rid FROM {touching}))")
        ctes.append(f"in_touched AS (SELECT a.* FROM s{step} a SEMI JOIN touched t ON {on})")
        source = "in_touched"
    ctes.append(f"keys AS (SELECT DISTINCT rid, {key_list} FROM {source} WHERE {not_null})")
    query = ("WITH " + ",\n".join(ctes) + f"\nSELECT *, count(*) OVER (PARTITION BY {key_list})"
             " AS block_n FROM keys")
    return query, names


def pairs_from_keys_sql(keys_table: str, names: list[str], touching: str | None = None) -> str:
    """FROM and WHERE of the record pairs (a.rid < b.rid) sharing every key of a rule's keys
    table, leaving out blocks bigger than the parameter $max_block. touching: a table of rids;
    only pairs with at least one of them (an incremental run's new and changed records)."""
    on = " AND ".join(f"a.{n} = b.{n}" for n in names)
    sql = (f"FROM {keys_table} a JOIN {keys_table} b ON {on} AND a.rid < b.rid "
           "WHERE a.block_n <= $max_block")
    if touching is not None:
        check_identifier(touching, "table")
        sql += (f" AND (a.rid IN (SELECT rid FROM {touching}) "
                f"OR b.rid IN (SELECT rid FROM {touching}))")
    return sql


def rule_max_block(rule: dict, settings: dict) -> int:
    """The largest block a rule pairs: its own `max_block_size`, else blocking.max_block_size.
    Rules on names alone set a small one: a rare name is evidence enough to compare two records
    that share nothing else, a common one ("JOHN SMITH") would make millions of pairs."""
    return int(rule.get("max_block_size", settings["blocking"]["max_block_size"]))


def each_rule_keys(con: duckdb.DuckDBPyConnection, settings: dict,
                   partition: tuple[int, int] | None = None,
                   touching: str | None = None) -> Iterator[tuple[int, list[str], int, int]]:
    """For each blocking rule in turn, the temp table linkage_block_keys holds its keys
    (rule_keys_sql) while the caller makes its pairs (pairs_from_keys_sql): yields (rule_no,
    key names, largest block paired, over-size blocks skipped)."""
    columns = feature_columns(con)
    for rule_no, rule in enumerate(settings["blocking"]["rules"]):
        keys_sql, names = rule_keys_sql(rule, columns, partition, touching)
        max_block = rule_max_block(rule, settings)
        con.execute(f"CREATE OR REPLACE TEMP TABLE linkage_block_keys AS {keys_sql}")
        oversized = con.execute(
            f"SELECT count(*) FROM (SELECT DISTINCT {', '.join(names)} FROM linkage_block_keys "
            "WHERE block_n > $max_block)", {"max_block": max_block}).fetchall()[0][0]
        yield rule_no, names, max_block, int(oversized)
    con.execute("DROP TABLE IF EXISTS linkage_block_keys")


def build_candidates(con: duckdb.DuckDBPyConnection, settings: dict,
                     touching: str | None = None) -> dict:
    """Create temp table linkage_candidate(rid_l, rid_r, rule_no); returns counts. touching:
    only the pairs with a record of that table (pairs_from_keys_sql)."""
    con.execute("CREATE OR REPLACE TEMP TABLE linkage_candidate_raw "
                "(rid_l INTEGER, rid_r INTEGER, rule_no SMALLINT)")
    oversized_blocks = 0
    for rule_no, names, max_block, oversized in each_rule_keys(con, settings,
                                                               touching=touching):
        con.execute(
            "INSERT INTO linkage_candidate_raw SELECT DISTINCT a.rid, b.rid, $rule_no "
            + pairs_from_keys_sql("linkage_block_keys", names, touching),
            {"rule_no": rule_no, "max_block": max_block},
        )
        oversized_blocks += oversized
    con.execute("CREATE OR REPLACE TEMP TABLE linkage_candidate AS SELECT rid_l, rid_r, "
                "min(rule_no)::SMALLINT AS rule_no FROM linkage_candidate_raw "
                "GROUP BY rid_l, rid_r")
    con.execute("DROP TABLE linkage_candidate_raw")
    by_rule = dict(con.execute("SELECT rule_no, count(*) FROM linkage_candidate GROUP BY rule_no")
                   .fetchall())
    names = [rule["name"] for rule in settings["blocking"]["rules"]]
    return {
        "candidate_pairs": sum(by_rule.values()),
        "pairs_first_found_by_rule": {names[i]: by_rule.get(i, 0) for i in range(len(names))},
        "oversized_blocks_skipped": oversized_blocks,
    }
