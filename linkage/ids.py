"""Stable person ids across nightly runs.

Analysts and marts keep a child's person_id from one night to the next, so ids are carried
forward rather than re-minted:
- a cluster inherits the old id held by most of its records (ties: the smallest id);
- an old id goes to at most one cluster: of the clusters that claim it, the one holding most of
  its old records (ties: the cluster whose smallest record_key sorts first); the others, and
  clusters without old records, get new ids;
- new ids are minted after the largest id ever issued (the largest in previous_ids), in the
  order of each cluster's smallest record_key, so the same input always gives the same ids.
It is one DuckDB query: in pandas the string sorts and merges took 5 s at 750,000 records, most
of an incremental run's time.
"""

from __future__ import annotations

import re

import duckdb
import pandas as pd

IDS_SQL = """
WITH sizes AS (
    SELECT cluster, count(*) AS cluster_size, min(record_key) AS first_key
    FROM ids_clusters GROUP BY cluster
),
prev AS (
    SELECT record_key, min(person_id) AS person_id FROM ids_previous
    WHERE person_id IS NOT NULL GROUP BY record_key
),
votes AS (
    SELECT c.cluster, p.person_id, count(*) AS n
    FROM ids_clusters c JOIN prev p USING (record_key) GROUP BY ALL
),
claims AS (
    SELECT cluster, person_id AS old_id, n FROM votes
    QUALIFY row_number() OVER (PARTITION BY cluster ORDER BY n DESC, person_id) = 1
),
winners AS (
    SELECT c.cluster, c.old_id FROM claims c JOIN sizes s USING (cluster)
    QUALIFY row_number() OVER (PARTITION BY c.old_id ORDER BY c.n DESC, s.first_key) = 1
),
ids AS (
    SELECT s.cluster, s.cluster_size, w.old_id,
           CASE WHEN w.old_id IS NULL THEN row_number() OVER (
               PARTITION BY w.old_id IS NULL ORDER BY s.first_key) END AS fresh
    FROM sizes s LEFT JOIN winners w USING (cluster)
)
SELECT c.record_key,
       coalesce(i.old_id, $prefix || CASE WHEN length(($max + i.fresh)::VARCHAR) >= $digits
                                         THEN ($max + i.fresh)::VARCHAR
                                         ELSE lpad(($max + i.fresh)::VARCHAR, $digits, '0') END)
           AS person_id,
       i.cluster_size
FROM ids_clusters c JOIN ids i USING (cluster)
ORDER BY c.record_key
"""


def assign_person_ids(clusters: pd.DataFrame, previous: pd.DataFrame | None,
                      prefix: str = "P", digits: int = 8) -> tuple[pd.DataFrame, dict]:
    """clusters: record_key, cluster -> record_key, person_id, cluster_size; plus counts."""
    if previous is None:
        previous = pd.DataFrame({"record_key": pd.Series(dtype=object),
                                 "person_id": pd.Series(dtype=object)})
    with duckdb.connect() as con:
        con.register("ids_clusters", clusters[["record_key", "cluster"]])
        con.register("ids_previous", previous[["record_key", "person_id"]].astype(object))
        pattern = "^" + re.escape(prefix) + r"(\d+)$"
        largest, issued = con.execute(
            "SELECT coalesce(max(TRY_CAST(regexp_extract(person_id, $pattern, 1) AS BIGINT)), "
            "0), count(DISTINCT person_id) FROM ids_previous WHERE person_id IS NOT NULL",
            {"pattern": pattern}).fetchall()[0]
        out = con.execute(IDS_SQL, {"prefix": prefix, "max": int(largest),
                                    "digits": int(digits)}).df()
        carried = con.execute(
            "SELECT count(DISTINCT o.person_id) FROM (SELECT DISTINCT person_id FROM out) o "
            "SEMI JOIN ids_previous p ON p.person_id = o.person_id").fetchall()[0][0]
    clusters_n = int(clusters["cluster"].nunique())
    counts = {
        "ids_carried_forward": int(carried),
        "ids_new": clusters_n - int(carried),
        "ids_retired": int(issued) - int(carried),
    }
    out["cluster_size"] = out["cluster_size"].astype("int64")
    return out, counts
