"""Incremental linking: compare only the records that are new or changed since the last
publication, with the records they can pair with, and carry everything else.

Why: a nightly delivery changes about one record in a hundred, and relinking every record
spends nearly all its time re-scoring pairs whose records did not change. Here a record is
changed when its linkage features (the standardised names, dates, residence and identifiers;
not the term frequencies, which move a little whenever anyone is added) differ from the last
publication's. The pairs this run makes are those blocking finds with a new or changed record
on one side, in the whole blocks such a record is in (so block sizes, and the placeholder
guard, are those of a full run); they are scored with the last full run's model. The scored
pairs of the last publication between two unchanged records are carried as they were, and the
clustering, its guard (whose check pairs re-score any pair of a component the carried pairs
lack) and the stable ids run over the lot as in a full run.

A full relink (a new model fitted by EM) is due when the settings or the feature columns
changed, and on a schedule (flows.steps decides; the last full relink is recorded in
linkage.relink_state).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date

import duckdb
import pandas as pd

from linkage.blocking import build_candidates, feature_columns
from linkage.comparisons import NULL_LEVEL
from linkage.context import LinkageRun
from linkage.engine import InProcessPairs
from linkage.features import build_features, input_select_sql, quoted_table
from linkage.id_chains import resolve_id_chains
from linkage.model import Model
from linkage.rules import (
    CONFLICT_RULE,
    DETERMINISTIC_PREFIX,
    REVIEW_MATCH_RULE,
    REVIEW_NON_MATCH_RULE,
)
from linkage.settings import check_identifier, load_settings

DECIDED_RULES = [REVIEW_MATCH_RULE, REVIEW_NON_MATCH_RULE]
# the term-frequency feature columns (features.sql) and the column each counts
TERM_FREQUENCIES = {"fn_tf": "fn", "ln_tf": "ln", "dob_tf": "dob", "pc_tf": "postcode"}
STATE_DDL = ("CREATE OR REPLACE TABLE linkage.relink_state (settings_fingerprint VARCHAR, "
             "feature_columns VARCHAR[], full_relink_on DATE, mode VARCHAR)")


def settings_fingerprint(overrides: dict | None) -> str:
    """What the model depends on besides the data: the settings as resolved from the packaged
    file and the partnership's overrides."""
    text = json.dumps(load_settings(overrides), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def compared_columns(columns: dict[str, str]) -> list[str]:
    """The feature columns whose change makes a record changed: all but the run's own row id
    and the term frequencies."""
    return [c for c in columns if c != "rid" and not c.endswith("_tf")]


def write_state(con: duckdb.DuckDBPyConnection, fingerprint: str, full_relink_on: date,
                mode: str) -> None:
    con.execute(STATE_DDL)
    con.execute("INSERT INTO linkage.relink_state VALUES (?, ?, ?, ?)",
                [fingerprint, compared_columns(feature_columns(con)), full_relink_on, mode])


def read_state(con: duckdb.DuckDBPyConnection, alias: str) -> dict | None:
    """The relink state of the attached publication `alias`, or None if it has none (it was
    published before incremental linking, or holds no linkage)."""
    check_identifier(alias, "attached database")
    present = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = "
        "'linkage' AND table_name IN ('relink_state', 'pair', 'model', 'feature')",
        [alias]).fetchall()[0][0]
    if present < 4:
        return None
    row = con.execute(f"SELECT settings_fingerprint, feature_columns, full_relink_on "
                      f"FROM {alias}.linkage.relink_state").fetchall()
    if not row:
        return None
    fingerprint, columns, full_on = row[0]
    return {"settings_fingerprint": fingerprint, "feature_columns": list(columns),
            "full_relink_on": full_on}


def carried_model(table: pd.DataFrame) -> Model:
    """The last full run's model, as linkage.model recorded it."""
    levels = table[(table["comparison"] != "_prior") & (table["level"] != NULL_LEVEL)]
    m: dict[str, dict[int, float]] = {}
    u: dict[str, dict[int, float]] = {}
    u_random: dict[str, dict[int, float]] = {}
    for row in levels.itertuples():
        m.setdefault(row.comparison, {})[int(row.level)] = float(row.m)
        u.setdefault(row.comparison, {})[int(row.level)] = float(row.u)
        u_random.setdefault(row.comparison, {})[int(row.level)] = float(row.u_random)
    prior = table[(table["comparison"] == "_prior") & (table["label"] == "lambda")]
    lam = table[(table["comparison"] == "_prior") & (table["label"] == "lambda_candidates")]
    u_source = str(table["u_source"].iloc[0])
    model = Model(m=m, u=u, u_random=u_random, m_source=str(table["m_source"].iloc[0]),
                  u_source=u_source, lambda_candidates=float(lam["m"].iloc[0]))
    if u_source != "em":
        model.lambda_random = float(prior["m"].iloc[0])
    return model


class FullRelinkNeeded(Exception):
    """The last publication's features are not this run's (another code version or other
    compared columns), so its pairs cannot be carried: relink in full."""


class IncrementalPairs(InProcessPairs):
    """The stages of an incremental run, against the last publication attached to the run's
    connection as `alias` (read only)."""

    def __init__(self, alias: str = "previous", full_relink_on: date | None = None) -> None:
        self.alias = check_identifier(alias, "attached database")
        self.full_relink_on = full_relink_on      # of the model it carries
        self.changed = 0
        self.carried = 0

    def features(self, con: duckdb.DuckDBPyConnection, source_table: str,
                 extras: list[str], encoded: bool = False) -> int:
        """Features made only for the records whose linkage input changed; the others' are the
        last publication's, with the row ids and term frequencies of this run's records."""
        prev = self.alias
        table = quoted_table(source_table)
        now = input_select_sql(con, table, extras, encoded)
        try:
            then = input_select_sql(con, f"{prev}.{table}", extras, encoded)
        except duckdb.Error:
            raise FullRelinkNeeded("the last publication has no person records") from None
        con.execute(f"CREATE OR REPLACE TEMP TABLE linkage_input_now AS {now}")
        columns = [row[0] for row in con.execute("DESCRIBE linkage_input_now").fetchall()]
        same = " AND ".join(f"n.{c} IS NOT DISTINCT FROM p.{c}" for c in columns)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE linkage_input_changed AS SELECT n.* FROM "
            f"linkage_input_now n ANTI JOIN ({then}) p ON {same}")
        build_features(con, "linkage_input_changed", extras, encoded)
        made = [row[0] for row in con.execute("DESCRIBE linkage.feature").fetchall()]
        previous = [row[0] for row in con.execute(
            f"DESCRIBE {prev}.linkage.feature").fetchall()]
        tf = [c for c in made if c.endswith("_tf")]
        if previous != made or set(tf) - set(TERM_FREQUENCIES):
            raise FullRelinkNeeded("the last publication's linkage features differ")
        kept = [c for c in made if c != "rid" and c not in tf]
        listed = ", ".join(kept)
        # term frequencies as counts per value joined back (features.sql's windows give the
        # same numbers, ten times slower)
        select, counts, joins = [], [], []
        for column in made:
            if column == "rid":
                select.append("(row_number() OVER (ORDER BY e.record_key) - 1)::INTEGER AS rid")
            elif column in tf:
                of = TERM_FREQUENCIES[column]
                counts.append(f"{column} AS (SELECT {of} AS v, count(*) / (SELECT count({of}) "
                              f"FROM every) AS tf FROM every WHERE {of} IS NOT NULL GROUP BY 1)")
                joins.append(f"LEFT JOIN {column} ON {column}.v = e.{of}")
                select.append(f"{column}.tf AS {column}")
            else:
                select.append(f"e.{column}")
        con.execute(
            f"CREATE OR REPLACE TABLE linkage.feature AS WITH every AS ("
            f"SELECT {listed} FROM linkage.feature UNION ALL "
            f"SELECT {', '.join('p.' + c for c in kept)} FROM {prev}.linkage.feature p "
            "SEMI JOIN linkage_input_now n ON n.record_key = p.record_key "
            "ANTI JOIN linkage_input_changed c ON c.record_key = p.record_key)"
            + "".join(f", {c}" for c in counts)
            + f" SELECT {', '.join(select)} FROM every e {' '.join(joins)} ORDER BY rid")
        n_records, n_input = con.execute(
            "SELECT (SELECT count(*) FROM linkage.feature), "
            "(SELECT count(*) FROM linkage_input_now)").fetchall()[0]
        for temp in ("linkage_input_now", "linkage_input_changed"):
            con.execute(f"DROP TABLE {temp}")
        if n_records != n_input:       # a record the last publication held no features for
            raise FullRelinkNeeded("the last publication's features miss some records")
        con.execute(f"CREATE OR REPLACE TEMP VIEW linkage_input AS {now}")
        # a new record can join two UPNs of a child whose other records did not change: the
        # chains are resolved over every record, and those whose UPN moves count as changed
        resolve_id_chains(con)
        return int(n_records)

    def candidates(self, run: LinkageRun) -> dict:
        con, prev = run.con, self.alias
        columns = compared_columns(feature_columns(con))
        previous = {row[0]: row[1] for row in con.execute(
            f"DESCRIBE {prev}.linkage.feature").fetchall()}
        if compared_columns(previous) != columns:
            raise FullRelinkNeeded("the last publication's linkage features differ")
        now = ", ".join(f"f.{c}" for c in columns)
        then = ", ".join(f"p.{c}" for c in columns)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE linkage_changed AS SELECT f.rid FROM linkage.feature f "
            f"LEFT JOIN {prev}.linkage.feature p USING (record_key) "
            f"WHERE p.record_key IS NULL OR hash({now}) <> hash({then})")
        self.changed = con.execute("SELECT count(*) FROM linkage_changed").fetchall()[0][0]
        found = build_candidates(con, run.settings, touching="linkage_changed")
        # the pairs reviewers decided are scored again, not carried: the last publication holds
        # them as decided, and the decision log must record the model's own verdict
        con.execute(
            "INSERT INTO linkage_candidate SELECT DISTINCT least(fl.rid, fr.rid), "
            "greatest(fl.rid, fr.rid), (list_position($rules, p.blocking_rule) - 1)::SMALLINT "
            f"FROM {prev}.linkage.pair p "
            "JOIN linkage.feature fl ON fl.record_key = p.record_key_l "
            "JOIN linkage.feature fr ON fr.record_key = p.record_key_r "
            "WHERE list_contains($decided, p.match_rule) "
            "AND list_contains($rules, p.blocking_rule) AND NOT EXISTS (SELECT 1 FROM "
            "linkage_candidate c WHERE c.rid_l = least(fl.rid, fr.rid) "
            "AND c.rid_r = greatest(fl.rid, fr.rid))",
            {"rules": [rule["name"] for rule in run.settings["blocking"]["rules"]],
             "decided": DECIDED_RULES})
        return {**found, "changed_records": int(self.changed)}

    def compare(self, run: LinkageRun) -> None:
        run.gamma_into("linkage_candidate", "linkage_gamma")

    def model(self, run: LinkageRun, n_records: int, n_candidates: int) -> Model:
        return carried_model(run.con.execute(
            f"SELECT * FROM {self.alias}.linkage.model").df())

    def score(self, run: LinkageRun, decisions: pd.DataFrame | None) -> None:
        con = run.con
        con.execute("DROP TABLE IF EXISTS linkage_scored")
        run.score_pairs_into("linkage_scored", gamma_table="linkage_gamma")
        con.execute("DROP TABLE linkage_gamma")
        rules = [rule["name"] for rule in run.settings["blocking"]["rules"]]
        scored = {row[0] for row in con.execute("DESCRIBE linkage_scored").fetchall()}
        kept = {row[0] for row in con.execute(
            f"DESCRIBE {self.alias}.linkage.pair").fetchall()}
        carried = sorted((scored & kept) - {"rid_l", "rid_r"})
        before = con.execute("SELECT count(*) FROM linkage_scored").fetchall()[0][0]
        con.execute(
            "INSERT INTO linkage_scored BY NAME SELECT least(fl.rid, fr.rid) AS rid_l, "
            "greatest(fl.rid, fr.rid) AS rid_r, "
            "(list_position($rules, p.blocking_rule) - 1)::SMALLINT AS rule_no, "
            "CASE WHEN p.match_rule LIKE $det THEN substr(p.match_rule, $cut) END AS det_rule, "
            f"p.match_rule = $conflict AS strong_conflict, "
            f"{', '.join('p.' + c for c in carried)} "
            f"FROM {self.alias}.linkage.pair p "
            "JOIN linkage.feature fl ON fl.record_key = p.record_key_l "
            "JOIN linkage.feature fr ON fr.record_key = p.record_key_r "
            # candidates only: the guard's check pairs and reviewers' extra pairs are made again
            "WHERE list_contains($rules, p.blocking_rule) "
            "AND NOT list_contains($decided, p.match_rule) "
            "AND fl.rid NOT IN (SELECT rid FROM linkage_changed) "
            "AND fr.rid NOT IN (SELECT rid FROM linkage_changed)",
            {"rules": rules, "det": DETERMINISTIC_PREFIX + "%",
             "cut": len(DETERMINISTIC_PREFIX) + 1, "conflict": CONFLICT_RULE,
             "decided": DECIDED_RULES})
        after = con.execute("SELECT count(*) FROM linkage_scored").fetchall()[0][0]
        self.carried = after - before

    def complete_components(self, run: LinkageRun, scored_table: str, n_records: int) -> int:
        return 0           # the guard's check pairs score what a component's pairs lack

    def close(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute("DROP TABLE IF EXISTS linkage_changed")
