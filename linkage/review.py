"""The clerical-review queue, and reviewers' decisions applied to a run.

The queue holds three kinds of pair: pairs the model is unsure about (probability in the review
band below the clustering threshold), pairs a veto or an identifier conflict overruled although
the model rated them highly (twins, or a mistyped UPN), and edges the clustering guard refused.
A refused edge that a reviewer had decided was a match is queued as `decision_conflict`: the
reviewer's own decisions contradict each other (A=B, B=C but A≠C) and only a person can say which
one is wrong.

Decisions (linkage/decisions.py) come back on the next run and override the model: a match is
scored 1 and a non-match 0 whatever the comparisons say, and a non-match is a cannot-link the
clustering never breaks. A decided pair that blocking did not propose is scored now, so that it
carries comparison levels like any other pair. linkage.decision records each applied decision
with the probability the model and rules had given the pair, so that decisions can serve as labels
for the model (see linkage/evaluate.py) even after they have overridden it.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from linkage.comparisons import Comparison, gamma_table_sql
from linkage.decisions import MATCH, NON_MATCH
from linkage.scoring import CONFLICT_RULE, score_pairs

REVIEW_MATCH_RULE = "review_match"
REVIEW_NON_MATCH_RULE = "review_non_match"
REVIEW_RULE_NO = -2      # rule_no of decided pairs that were not candidates
REASONS = ("decision_conflict", "guard_refused", "overruled", "uncertain")

REVIEW_SQL = """
CREATE OR REPLACE TABLE linkage.review AS
WITH flagged AS (
    SELECT rid_l, rid_r, 'uncertain' AS reason FROM linkage_scored
    WHERE match_probability >= $low AND match_probability < $threshold
      AND NOT list_contains($decided, match_rule)
    UNION ALL
    SELECT rid_l, rid_r, 'overruled' FROM linkage_scored
    WHERE list_contains($overrules, match_rule) AND model_probability >= $vetoed_above
    UNION ALL
    SELECT r.rid_l, r.rid_r,
           CASE WHEN s.match_rule = $review_match THEN 'decision_conflict'
                ELSE 'guard_refused' END
    FROM linkage_refused_df r JOIN linkage_scored s ON s.rid_l = r.rid_l AND s.rid_r = r.rid_r
)
SELECT fl.record_key AS record_key_l, fr.record_key AS record_key_r, f.reason,
       s.match_probability, s.model_probability, s.match_weight, s.match_rule,
       pl.person_id AS person_id_l, pr.person_id AS person_id_r
FROM (SELECT rid_l, rid_r, min(reason) AS reason FROM flagged GROUP BY ALL) f
JOIN linkage_scored s ON s.rid_l = f.rid_l AND s.rid_r = f.rid_r
JOIN linkage.feature fl ON fl.rid = f.rid_l
JOIN linkage.feature fr ON fr.rid = f.rid_r
JOIN linkage.person pl ON pl.record_key = fl.record_key
JOIN linkage.person pr ON pr.record_key = fr.record_key
ORDER BY record_key_l, record_key_r
"""

DECIDED_SQL = """
CREATE OR REPLACE TEMP TABLE linkage_decided AS
SELECT least(fl.rid, fr.rid) AS rid_l, greatest(fl.rid, fr.rid) AS rid_r, d.decision
FROM linkage_decision_df d
JOIN linkage.feature fl ON fl.record_key = d.record_key_l
JOIN linkage.feature fr ON fr.record_key = d.record_key_r
WHERE fl.rid <> fr.rid
"""

DECISION_LOG_SQL = """
CREATE OR REPLACE TEMP TABLE linkage_decision_log AS
SELECT d.rid_l, d.rid_r, d.decision, s.rule_no <> $review_rule_no AS candidate,
       s.match_probability AS probability_before, s.match_rule AS rule_before,
       s.match_probability >= $threshold AS linked_before
FROM linkage_decided d JOIN {scored} s ON s.rid_l = d.rid_l AND s.rid_r = d.rid_r
"""

OVERRIDE_SQL = """
UPDATE {scored} SET
    match_probability = CASE d.decision WHEN $match THEN 1.0 ELSE 0.0 END,
    match_rule = CASE d.decision WHEN $match THEN $review_match ELSE $review_non_match END
FROM linkage_decided d
WHERE {scored}.rid_l = d.rid_l AND {scored}.rid_r = d.rid_r
"""

DECISION_TABLE_SQL = """
CREATE OR REPLACE TABLE linkage.decision AS
SELECT fl.record_key AS record_key_l, fr.record_key AS record_key_r, g.decision, g.candidate,
       g.probability_before, g.rule_before, g.linked_before,
       (pl.person_id = pr.person_id) = (g.decision = $match) AS honoured
FROM linkage_decision_log g
JOIN linkage.feature fl ON fl.rid = g.rid_l
JOIN linkage.feature fr ON fr.rid = g.rid_r
JOIN linkage.person pl ON pl.record_key = fl.record_key
JOIN linkage.person pr ON pr.record_key = fr.record_key
ORDER BY record_key_l, record_key_r
"""

DECISION_LOG_DDL = """
CREATE OR REPLACE TEMP TABLE linkage_decision_log (rid_l INTEGER, rid_r INTEGER,
    decision VARCHAR, candidate BOOLEAN, probability_before DOUBLE, rule_before VARCHAR,
    linked_before BOOLEAN)
"""


def _decision_frame(decisions: pd.DataFrame | None) -> pd.DataFrame:
    """record_key_l < record_key_r, one known decision per pair (the last given wins)."""
    columns = ["record_key_l", "record_key_r", "decision"]
    if decisions is None or len(decisions) == 0:
        return pd.DataFrame(columns=columns, dtype="object")
    missing = set(columns) - set(decisions.columns)
    if missing:
        raise ValueError(f"decisions need columns {', '.join(columns)}; "
                         f"missing {', '.join(sorted(missing))}")
    frame = decisions[columns].astype(str).copy()
    frame["decision"] = frame["decision"].str.strip().str.lower().str.replace("-", "_")
    unknown = ~frame["decision"].isin([MATCH, NON_MATCH])
    if unknown.any():
        raise ValueError(f"decisions: {int(unknown.sum())} rows hold a decision other than "
                         f"'{MATCH}' or '{NON_MATCH}'")
    left = frame[["record_key_l", "record_key_r"]].min(axis=1)
    right = frame[["record_key_l", "record_key_r"]].max(axis=1)
    frame["record_key_l"], frame["record_key_r"] = left, right
    frame = frame[frame["record_key_l"] != frame["record_key_r"]]
    return frame.drop_duplicates(["record_key_l", "record_key_r"], keep="last")


def apply_decisions(con: duckdb.DuckDBPyConnection, settings: dict,
                    comparisons: list[Comparison], decisions: pd.DataFrame | None,
                    scored_table: str, prior_weight: float) -> dict:
    """Override the scores of decided pairs in `scored_table`; counts for the run summary."""
    frame = _decision_frame(decisions)
    con.execute(DECISION_LOG_DDL)
    counts = {"given": len(frame), "applied": 0, "match": 0, "non_match": 0,
              "records_not_found": 0, "pairs_added": 0}
    if frame.empty:
        return counts
    con.register("linkage_decision_df", frame)
    con.execute(DECIDED_SQL)
    con.unregister("linkage_decision_df")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE linkage_decided_new AS "
        f"SELECT rid_l, rid_r, {REVIEW_RULE_NO}::SMALLINT AS rule_no FROM linkage_decided d "
        f"ANTI JOIN {scored_table} s ON s.rid_l = d.rid_l AND s.rid_r = d.rid_r")
    added = con.execute("SELECT count(*) FROM linkage_decided_new").fetchall()[0][0]
    if added:
        con.execute(gamma_table_sql(settings, "linkage_decided_new", "linkage_decided_gamma"))
        score_pairs(con, settings, comparisons, "linkage_decided_gamma",
                    "linkage_decided_scored", prior_weight)
        con.execute(f"INSERT INTO {scored_table} BY NAME SELECT * FROM linkage_decided_scored")
        con.execute("DROP TABLE linkage_decided_gamma")
        con.execute("DROP TABLE linkage_decided_scored")
    con.execute("DROP TABLE linkage_decided_new")
    con.execute(DECISION_LOG_SQL.format(scored=scored_table),
                {"review_rule_no": REVIEW_RULE_NO,
                 "threshold": float(settings["clustering"]["threshold"])})
    con.execute(OVERRIDE_SQL.format(scored=scored_table),
                {"match": MATCH, "review_match": REVIEW_MATCH_RULE,
                 "review_non_match": REVIEW_NON_MATCH_RULE})
    by_kind = dict(con.execute("SELECT decision, count(*) FROM linkage_decided "
                               "GROUP BY 1").fetchall())
    con.execute("DROP TABLE linkage_decided")
    applied = sum(by_kind.values())
    counts.update({"applied": int(applied), "match": int(by_kind.get(MATCH, 0)),
                   "non_match": int(by_kind.get(NON_MATCH, 0)),
                   "records_not_found": int(len(frame) - applied), "pairs_added": int(added)})
    return counts


def write_decision_table(con: duckdb.DuckDBPyConnection) -> int:
    """linkage.decision (needs linkage.person); returns how many decisions the clusters could
    not honour (contradictory decisions, or a match across a reviewer's own non-match)."""
    con.execute(DECISION_TABLE_SQL, {"match": MATCH})
    con.execute("DROP TABLE IF EXISTS linkage_decision_log")
    return con.execute("SELECT count(*) FROM linkage.decision WHERE NOT honoured"
                       ).fetchall()[0][0]


def build_review(con: duckdb.DuckDBPyConnection, settings: dict,
                 refused: list[tuple[int, int]]) -> int:
    cfg = settings["review"]
    refused_df = pd.DataFrame(refused if cfg.get("include_refused", True) else [],
                              columns=["rid_l", "rid_r"], dtype="int32")
    con.register("linkage_refused_df", refused_df)
    overrules = [v["name"] for v in settings.get("vetoes", [])] + [CONFLICT_RULE]
    con.execute(REVIEW_SQL, {
        "low": float(cfg["low"]),
        "threshold": float(settings["clustering"]["threshold"]),
        "overrules": overrules,
        "vetoed_above": float(cfg["include_vetoed_above"]),
        "review_match": REVIEW_MATCH_RULE,
        "decided": [REVIEW_MATCH_RULE, REVIEW_NON_MATCH_RULE],
    })
    con.unregister("linkage_refused_df")
    return con.execute("SELECT count(*) FROM linkage.review").fetchall()[0][0]
