"""The clerical-review queue, and reviewers' decisions applied to a run.

The queue holds four kinds of pair: pairs the model is unsure about (probability in the review
band below the clustering threshold), pairs an identifier conflict overruled although the model
rated them highly (a mistyped UPN; vetoed pairs too when `include_vetoed` is set), linked pairs
that fit a `flag` pattern (one child whose forename carries a slip or a nickname looks just like
twins with close names, Diya and Divya, so a person should look), and edges the clustering guard
refused. Pairs a veto kept apart are settled by default: twins with different forenames do not
crowd the queue.
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

from linkage.context import LinkageRun
from linkage.decisions import MATCH, NON_MATCH, decision_frame
from linkage.rules import (
    CONFLICT_RULE,
    PROBABILISTIC_RULE,
    REVIEW_MATCH_RULE,
    REVIEW_NON_MATCH_RULE,
    REVIEW_RULE_NO,
)
from linkage.scoring import pattern_condition

REASONS = ("decision_conflict", "flagged", "guard_refused", "overruled", "uncertain")

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
    SELECT rid_l, rid_r, 'flagged' FROM linkage_scored g
    WHERE match_probability >= $threshold AND match_rule = $probabilistic AND ({flagged})
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


def decided_pairs(con: duckdb.DuckDBPyConnection, decisions: pd.DataFrame | None) -> pd.DataFrame:
    """The record-id pairs (rid_l, rid_r) that reviewers decided, for an engine that must keep
    them among the pairs it gathers whatever they scored."""
    frame = decision_frame(decisions)
    if frame.empty:
        return pd.DataFrame({"rid_l": pd.Series(dtype="int32"),
                             "rid_r": pd.Series(dtype="int32")})
    con.register("linkage_decision_df", frame)
    con.execute(DECIDED_SQL)
    con.unregister("linkage_decision_df")
    pairs = con.execute("SELECT rid_l, rid_r FROM linkage_decided").df()
    con.execute("DROP TABLE linkage_decided")
    return pairs


def apply_decisions(run: LinkageRun, decisions: pd.DataFrame | None, scored_table: str) -> dict:
    """Override the scores of decided pairs in `scored_table`; counts for the run summary."""
    con, settings = run.con, run.settings
    frame = decision_frame(decisions)
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
        run.score_pairs_into(scored_table, pairs_table="linkage_decided_new")
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


def build_review(run: LinkageRun, refused: list[tuple[int, int]]) -> int:
    con, settings = run.con, run.settings
    cfg = settings["review"]
    refused_df = pd.DataFrame(refused if cfg.get("include_refused", True) else [],
                              columns=["rid_l", "rid_r"], dtype="int32")
    con.register("linkage_refused_df", refused_df)
    vetoes = [v["name"] for v in settings.get("vetoes", [])] if cfg["include_vetoed"] else []
    flags = [pattern_condition(f, run.comparisons, "review flag") for f in cfg["flag"]]
    flagged = " OR ".join(f"({c})" for c in flags) or "false"
    con.execute(REVIEW_SQL.format(flagged=flagged), {
        "probabilistic": PROBABILISTIC_RULE,
        "low": float(cfg["low"]),
        "threshold": float(settings["clustering"]["threshold"]),
        "overrules": [*vetoes, CONFLICT_RULE],
        "vetoed_above": float(cfg["include_vetoed_above"]),
        "review_match": REVIEW_MATCH_RULE,
        "decided": [REVIEW_MATCH_RULE, REVIEW_NON_MATCH_RULE],
    })
    con.unregister("linkage_refused_df")
    return con.execute("SELECT count(*) FROM linkage.review").fetchall()[0][0]


# --- the published queue, for reviewers -------------------------------------------------------
# Only keys, scores and levels: linkage.feature (names, dates of birth, addresses) is never read,
# so that a listing can be read aloud, pasted into a ticket or shown on a screen.
QUEUE_SQL = """
SELECT r.record_key_l, r.record_key_r, r.reason, r.match_probability, r.model_probability,
       r.match_weight, r.match_rule, r.person_id_l, r.person_id_r, p.blocking_rule,
       {gammas}{weights}
FROM linkage.review r
LEFT JOIN linkage.pair p ON p.record_key_l = r.record_key_l AND p.record_key_r = r.record_key_r
ORDER BY r.record_key_l, r.record_key_r
"""


def _levels(con: duckdb.DuckDBPyConnection) -> tuple[list[str], dict[tuple[str, int], str]]:
    """Comparison names and level labels as the warehouse's model defines them, so the listing
    matches the run that produced the queue, not today's settings file."""
    rows = con.execute("SELECT comparison, level, label FROM linkage.model "
                       "WHERE comparison <> '_prior' ORDER BY rowid").fetchall()
    names = list(dict.fromkeys(r[0] for r in rows))
    return names, {(r[0], int(r[1])): r[2] for r in rows}


def pending_queue(con: duckdb.DuckDBPyConnection, decided: pd.DataFrame) -> pd.DataFrame:
    """A warehouse's review queue without the pairs already `decided` (latest decisions: a
    decision-conflict stays, since the reviewer's own decisions disagree and need another
    look). Levels are given as labels (columns level_<comparison>, listed in
    attrs["comparisons"]) with each comparison's part of the match weight (weight_<comparison>,
    NaN for a pair the run did not keep) and the prior's in attrs["prior_weight"]: why the pair
    scored as it did, as a waterfall (the prior plus the parts is match_weight)."""
    comparisons, labels = _levels(con)
    pair_columns = {r[0] for r in con.execute("DESCRIBE linkage.pair").fetchall()}
    shown = [c for c in comparisons if f"gamma_{c}" in pair_columns]
    gammas = ", ".join(f"p.gamma_{c} AS level_{c}" for c in shown) or "NULL AS no_levels"
    weights = "".join(f", p.weight_{c} AS weight_{c}" for c in shown
                      if f"weight_{c}" in pair_columns)
    queue = con.execute(QUEUE_SQL.format(gammas=gammas, weights=weights)).df()
    prior = con.execute("SELECT match_weight FROM linkage.model WHERE comparison = '_prior' "
                        "AND label = 'lambda'").fetchall()
    if len(decided):
        keys = set(zip(decided["record_key_l"], decided["record_key_r"], strict=True))
        is_decided = [(a, b) in keys for a, b in zip(queue["record_key_l"],
                                                      queue["record_key_r"], strict=True)]
        queue = queue[~pd.Series(is_decided, index=queue.index)
                      | (queue["reason"] == "decision_conflict")]
    for comp in shown:
        queue[f"level_{comp}"] = [labels.get((comp, int(v)), str(v)) if pd.notna(v) else ""
                                  for v in queue[f"level_{comp}"]]
    queue = queue.reset_index(drop=True)
    queue.attrs["comparisons"] = shown
    queue.attrs["prior_weight"] = float(prior[0][0]) if prior else None
    return queue


def known_records(con: duckdb.DuckDBPyConnection, keys: list[str]) -> set[str]:
    """Those of `keys` that name a record of the warehouse's people."""
    return {k for (k,) in con.execute(
        "SELECT record_key FROM linkage.person WHERE list_contains($keys, record_key)",
        {"keys": list(keys)}).fetchall()}
