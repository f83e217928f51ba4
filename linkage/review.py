"""The clerical-review queue: pairs a person should look at.

Three kinds: pairs the model is unsure about (probability in the review band below the
clustering threshold), pairs a veto or an identifier conflict overruled although the model
rated them highly (twins, or a mistyped UPN), and edges the clustering guard refused.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from linkage.scoring import CONFLICT_RULE

REVIEW_SQL = """
CREATE OR REPLACE TABLE linkage.review AS
WITH flagged AS (
    SELECT rid_l, rid_r, 'uncertain' AS reason FROM linkage_scored
    WHERE match_probability >= $low AND match_probability < $threshold
    UNION ALL
    SELECT rid_l, rid_r, 'overruled' FROM linkage_scored
    WHERE list_contains($overrules, match_rule) AND model_probability >= $vetoed_above
    UNION ALL
    SELECT rid_l, rid_r, 'guard_refused' FROM linkage_refused_df
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
    })
    con.unregister("linkage_refused_df")
    return con.execute("SELECT count(*) FROM linkage.review").fetchall()[0][0]
