"""People from scored pairs: connected components, guarded against chaining.

Plain connected components over pairs above the threshold chain: twin A - record X - twin B
become one child when X (say a record with no first name) scores well with both. The guard:

1. Components are found vectorised (scipy) over the edges.
2. In every component of 3..closure_max_component records, the record pairs that were never
   scored (not candidates) are scored now, with the same comparisons and model, so that every
   pair inside a component has evidence.
3. A pair is a cannot-link when a veto fits it (twins), its strong ids conflict, or it scores
   below cannot_link_probability with decisive evidence against it (its comparisons' Bayes
   factor at most cannot_link_bayes_factor). A pair that merely lacks evidence (two records of
   one person sharing only a name, their other fields missing) scores near the prior, far below
   any threshold, and must not keep apart what the edges between them join; nor must a pair
   with a little evidence against it (a register's dozen records of one person, two of them
   with a mistyped birth year and a nickname): any net disagreement split such people into
   pieces that the edges between them had rightly joined.
   Components without a cannot-link and without two different
   values of one strong id are final: the common case costs nothing more.
4. Only the other components are rebuilt by union-find over their edges in descending
   probability (ties by record order, so the result is deterministic); a union is refused when
   the two clusters would then hold a cannot-link pair or two different values of a strong id
   recorded by two different sources (one source's two ids for a child are a duplicate record,
   which is what deduplication is for).
   Refused edges are counted and go to the review queue.
5. Reviewers' decisions (linkage/review.py) come first: a pair decided a non-match is a hard
   cannot-link that nothing overrides, and a pair decided a match is united before any model
   edge, past the model's own cannot-links and strong-id clashes (the reviewer looked at the
   source records; a mistyped UPN is exactly what review is for). Only the reviewer's own
   non-match decisions can refuse it, and then the queue shows the contradiction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from linkage.context import LinkageRun
from linkage.rules import CHECK_RULE_NO, CONFLICT_RULE, REVIEW_MATCH_RULE, REVIEW_NON_MATCH_RULE


@dataclass
class Clusters:
    labels: np.ndarray                       # cluster label per rid
    edges: int = 0
    check_pairs: int = 0
    guarded_components: int = 0
    refused: list[tuple[int, int]] = field(default_factory=list)


def components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _score_component_checks(run: LinkageRun, members: pd.DataFrame, scored_table: str) -> int:
    con = run.con
    con.register("linkage_members_df", members)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE linkage_check_pairs AS "
        f"SELECT a.rid AS rid_l, b.rid AS rid_r, {CHECK_RULE_NO}::SMALLINT AS rule_no "
        "FROM linkage_members_df a JOIN linkage_members_df b ON a.comp = b.comp AND a.rid < b.rid "
        f"ANTI JOIN {scored_table} s ON s.rid_l = a.rid AND s.rid_r = b.rid"
    )
    con.unregister("linkage_members_df")
    n_checks = con.execute("SELECT count(*) FROM linkage_check_pairs").fetchall()[0][0]
    if n_checks:
        run.score_pairs_into(scored_table, pairs_table="linkage_check_pairs")
    con.execute("DROP TABLE linkage_check_pairs")
    return n_checks


class _GuardedUnionFind:
    def __init__(self, rids: np.ndarray, strong: dict[int, dict[str, tuple[str, str]]],
                 cannot: dict[int, set[int]], hard: dict[int, set[int]] | None = None):
        self.parent = {int(r): int(r) for r in rids}
        self.members = {int(r): [int(r)] for r in rids}
        # strong id column -> {(value, source)} held by the cluster
        self.ids = {int(r): {c: {v} for c, v in strong.get(int(r), {}).items()} for r in rids}
        self.cannot = cannot
        self.hard = hard or {}          # reviewers' non-match decisions

    @staticmethod
    def _clash(ids_a: dict[str, set], ids_b: dict[str, set]) -> bool:
        """Two different values of one strong id recorded by two different sources."""
        return any(va != vb and sa != sb
                   for col, held in ids_a.items() if col in ids_b
                   for va, sa in held for vb, sb in ids_b[col])

    def find(self, x: int) -> int:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int, forced: bool = False) -> bool | None:
        """True merged, False refused, None already together. A forced union (a reviewer's
        match) is refused only by a reviewer's non-match."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return None
        if not forced and self._clash(self.ids[ra], self.ids[rb]):
            return False
        small, big = (ra, rb) if len(self.members[ra]) <= len(self.members[rb]) else (rb, ra)
        cannot = self.hard if forced else self.cannot
        for member in self.members[small]:
            for partner in cannot.get(member, ()):
                if self.find(partner) == big:
                    return False
        self.parent[small] = big
        self.members[big].extend(self.members.pop(small))
        for col, held in self.ids.pop(small).items():
            self.ids[big].setdefault(col, set()).update(held)
        return True


def build_clusters(run: LinkageRun, scored_table: str, n_records: int) -> Clusters:
    con, settings = run.con, run.settings
    cfg = settings["clustering"]
    edges = con.execute(
        f"SELECT rid_l, rid_r, match_rule = $forced AS forced FROM {scored_table} "
        "WHERE match_probability >= $t ORDER BY forced DESC, match_probability DESC, rid_l, rid_r",
        {"t": float(cfg["threshold"]), "forced": REVIEW_MATCH_RULE}
    ).fetchnumpy()
    left, right = edges["rid_l"].astype(np.int64), edges["rid_r"].astype(np.int64)
    forced = np.asarray(edges["forced"], dtype=bool)
    labels = components(n_records, left, right)
    result = Clusters(labels=labels, edges=len(left))
    sizes = np.bincount(labels, minlength=labels.max() + 1 if n_records else 0)
    size_of = sizes[labels] if n_records else np.array([], dtype=np.int64)
    multi = np.flatnonzero(size_of >= 2)
    if len(multi) == 0:
        return result
    check = np.flatnonzero((size_of >= 3) & (size_of <= int(cfg["closure_max_component"])))
    if len(check):
        result.check_pairs = _score_component_checks(
            run, pd.DataFrame({"rid": check.astype(np.int32), "comp": labels[check]}),
            scored_table)

    # Cannot-link pairs and strong-id clashes inside components.
    con.register("linkage_multi_df",
                 pd.DataFrame({"rid": multi.astype(np.int32), "comp": labels[multi]}))
    vetoes = ([v["name"] for v in settings.get("vetoes", [])]
              + [CONFLICT_RULE, REVIEW_NON_MATCH_RULE])
    cannot = con.execute(
        f"SELECT s.rid_l, s.rid_r, a.comp, s.match_rule = $hard AS hard FROM {scored_table} s "
        "JOIN linkage_multi_df a ON a.rid = s.rid_l JOIN linkage_multi_df b ON b.rid = s.rid_r "
        "WHERE a.comp = b.comp AND (s.match_rule IN (SELECT unnest($vetoes)) "
        "OR (s.match_probability < $cl AND s.match_weight < $prior + $against))",
        {"vetoes": vetoes, "cl": float(cfg["cannot_link_probability"]),
         "prior": run.model.prior_weight(),
         "against": math.log2(float(cfg["cannot_link_bayes_factor"])),
         "hard": REVIEW_NON_MATCH_RULE},
    ).fetchnumpy()
    strong_cols = settings["strong_ids"]
    clash_sql = " OR ".join(f"count(DISTINCT f.{c}) > 1" for c in strong_cols) or "false"
    clashing = con.execute(
        "SELECT a.comp FROM linkage_multi_df a JOIN linkage.feature f ON f.rid = a.rid "
        f"GROUP BY a.comp HAVING {clash_sql}"
    ).fetchnumpy()["comp"]
    guarded = np.union1d(np.unique(cannot["comp"]), clashing)
    result.guarded_components = len(guarded)
    if len(guarded) == 0:
        con.unregister("linkage_multi_df")
        return result

    in_guarded = np.isin(labels, guarded)
    rids = np.flatnonzero(in_guarded)
    strong: dict[int, dict[str, tuple[str, str]]] = {}
    if strong_cols:
        con.register("linkage_guard_df", pd.DataFrame({"rid": rids.astype(np.int32)}))
        rows = con.execute(
            f"SELECT f.rid, f.source, {', '.join('f.' + c for c in strong_cols)} "
            "FROM linkage.feature f SEMI JOIN linkage_guard_df g ON g.rid = f.rid "
            "ORDER BY f.rid").fetchall()
        con.unregister("linkage_guard_df")
        for row in rows:
            values = {c: (v, row[1]) for c, v in zip(strong_cols, row[2:], strict=True)
                      if v is not None}
            if values:
                strong[row[0]] = values
    partners: dict[int, set[int]] = {}
    hard: dict[int, set[int]] = {}
    for a, b, is_hard in zip(cannot["rid_l"].tolist(), cannot["rid_r"].tolist(),
                             np.asarray(cannot["hard"], dtype=bool).tolist(), strict=True):
        for table in (partners, hard) if is_hard else (partners,):
            table.setdefault(a, set()).add(b)
            table.setdefault(b, set()).add(a)
    con.unregister("linkage_multi_df")

    finder = _GuardedUnionFind(rids, strong, partners, hard)
    edge_in_guarded = in_guarded[left]
    for a, b, must in zip(left[edge_in_guarded].tolist(), right[edge_in_guarded].tolist(),
                          forced[edge_in_guarded].tolist(), strict=True):
        if finder.union(a, b, forced=must) is False:
            result.refused.append((a, b))
    # Relabel guarded records by their union-find root, beyond the existing labels.
    roots = np.array([finder.find(int(r)) for r in rids], dtype=np.int64)
    labels = labels.copy()
    labels[rids] = labels.max() + 1 + roots
    result.labels = labels
    return result
