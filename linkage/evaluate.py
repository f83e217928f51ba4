"""Pairwise precision, recall and F1 of a clustering against labelled clusters.

Counted from cluster sizes and intersections (sum of n*(n-1)/2 over groups), never by listing
pairs, so a million labelled records cost one group-by. Only records present in both frames are
counted. With no predicted (or no true) pairs, precision (or recall) is 1: nothing was wrong.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def _pairs(sizes: pd.Series) -> int:
    values = sizes.astype("int64")
    return int((values * (values - 1) // 2).sum())


def evaluate_pairs(predicted: pd.DataFrame, truth: pd.DataFrame) -> dict:
    both = predicted[["record_key", "person_id"]].merge(
        truth[["record_key", "cluster"]], on="record_key", how="inner")
    predicted_pairs = _pairs(both.groupby("person_id").size())
    true_pairs = _pairs(both.groupby("cluster").size())
    tp = _pairs(both.groupby(["person_id", "cluster"]).size())
    fp, fn = predicted_pairs - tp, true_pairs - tp
    precision = tp / predicted_pairs if predicted_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn,
            "records": len(both)}


def evaluate_against_truth(con, truth_records: Path) -> dict:
    """The people of a warehouse (`con` holds linkage.person) scored against a file of labelled
    records (source, person_ref, child_id; the synthetic generator's truth): evaluate_pairs over
    the records in both, plus `published_records` (all of linkage.person) and `true_pairs`."""
    truth = pd.read_csv(truth_records, dtype=str)
    truth["record_key"] = truth["source"] + ":" + truth["person_ref"]
    predicted = con.execute("SELECT record_key, person_id FROM linkage.person").df()
    truth = truth[truth["record_key"].isin(predicted["record_key"])]
    scores = evaluate_pairs(predicted, truth.rename(columns={"child_id": "cluster"}))
    return {**scores, "published_records": len(predicted),
            "true_pairs": scores["tp"] + scores["fn"]}


# Reviewers' decisions as labels. A decision names one pair, not a whole cluster, so the counts
# are over decided pairs: a decided match in one person is a true positive, split a false
# negative; a decided non-match split is a true negative, in one person a false positive.
# Decisions applied in a build agree with it by construction (unless they contradict each
# other), so they are counted apart from decisions made since, which are honest held-out labels;
# the model's own verdict before any decision is kept in linkage.decision and linkage.pair.

DECISION_PAIRS_SQL = """
SELECT d.record_key_l, d.record_key_r, d.decision,
       pl.person_id = pr.person_id AS together,
       {applied} AS applied,
       coalesce({linked_before}, p.match_probability >= $threshold, false) AS model_linked
FROM decisions_df d
JOIN linkage.person pl ON pl.record_key = d.record_key_l
JOIN linkage.person pr ON pr.record_key = d.record_key_r
LEFT JOIN linkage.pair p ON p.record_key_l = d.record_key_l AND p.record_key_r = d.record_key_r
{decision_join}
"""


def decision_scores(linked: pd.Series, decision: pd.Series) -> dict:
    """Counts, precision and recall of `linked` (bool per pair) against match / non_match."""
    is_match = decision.eq("match").to_numpy()
    linked = linked.astype(bool).to_numpy()
    tp, fn = int((is_match & linked).sum()), int((is_match & ~linked).sum())
    fp, tn = int((~is_match & linked).sum()), int((~is_match & ~linked).sum())
    return {"pairs": len(is_match), "tp": tp, "fn": fn, "tn": tn, "fp": fp,
            "precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / (tp + fn) if tp + fn else None}


def evaluate_decisions(con, decisions: pd.DataFrame, threshold: float) -> dict:
    """Published people and the model before decisions, scored against reviewers' decisions
    (record_key_l < record_key_r, decision). `con` is a warehouse holding linkage.person and
    linkage.pair, and linkage.decision when the build applied decisions."""
    has_log = bool(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'linkage' "
        "AND table_name = 'decision' AND database_name = current_database()").fetchall()[0][0])
    sql = DECISION_PAIRS_SQL.format(
        applied="g.decision IS NOT NULL AND g.decision = d.decision" if has_log else "false",
        # the build's own record of the model's verdict, whichever decision it applied; a pair
        # blocking never proposed was not linked by the model
        linked_before="CASE WHEN g.candidate THEN g.linked_before WHEN g.decision IS NOT NULL "
                      "THEN false END" if has_log else "NULL",
        decision_join="LEFT JOIN linkage.decision g ON g.record_key_l = d.record_key_l "
                      "AND g.record_key_r = d.record_key_r" if has_log else "")
    con.register("decisions_df", decisions[["record_key_l", "record_key_r", "decision"]])
    try:
        pairs = con.execute(sql, {"threshold": float(threshold)}).df()
    finally:
        con.unregister("decisions_df")
    applied = pairs["applied"].astype(bool)
    return {
        "decisions": len(decisions),
        "match": int(decisions["decision"].eq("match").sum()),
        "non_match": int(decisions["decision"].eq("non_match").sum()),
        "not_in_warehouse": len(decisions) - len(pairs),
        "clusters": decision_scores(pairs["together"], pairs["decision"]),
        "clusters_applied": decision_scores(pairs["together"][applied],
                                            pairs["decision"][applied]),
        "clusters_held_out": decision_scores(pairs["together"][~applied],
                                             pairs["decision"][~applied]),
        "model": decision_scores(pairs["model_linked"], pairs["decision"]),
    }
