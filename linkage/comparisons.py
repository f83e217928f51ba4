"""Comparison vectors: one small integer level per comparison for each pair, computed in SQL.

Levels come from settings.yaml (best first, each a named predicate from sql/predicates.sql);
the first level whose predicate holds wins, 'else' is 0 and an uninformative comparison (a
missing value, or first names when the names are swapped) is -1, which the model gives weight 0
so that a missing value neither rewards nor punishes a pair.
"""

from __future__ import annotations

from dataclasses import dataclass

from linkage.settings import check_identifier
from sources.common.sqlfiles import SqlFiles

SQL = SqlFiles.beside(__file__)
NULL_LEVEL = -1
ELSE_LEVEL = 0
STRONG_ID_PREDICATES = ("strong_none", "strong_conflict", "strong_agree")


@dataclass(frozen=True)
class Comparison:
    name: str
    labels: dict[int, str]          # level value -> label, including 'else' (0); not null
    default_m: dict[int, float]     # level value -> m used to start EM / without EM
    tf_level: int | None
    tf_column: str | None

    @property
    def gamma(self) -> str:
        return f"gamma_{self.name}"

    @property
    def tf(self) -> str:
        return f"tf_{self.name}"

    @property
    def weight(self) -> str:
        return f"weight_{self.name}"

    def level_of(self, label: str) -> int:
        for level, text in self.labels.items():
            if text == label:
                return level
        raise ValueError(f"linkage settings: comparison {self.name} has no level {label}")


def parse_comparisons(settings: dict) -> list[Comparison]:
    parsed = []
    for spec in settings["comparisons"]:
        levels = spec["levels"]
        n = len(levels)
        labels = {n - i: level["label"] for i, level in enumerate(levels)}
        labels[ELSE_LEVEL] = "else"
        default_m = {n - i: float(m) for i, m in enumerate(spec["default_m"][:-1])}
        default_m[ELSE_LEVEL] = float(spec["default_m"][-1])
        tf_level, tf_column = None, None
        for i, level in enumerate(levels):
            if level.get("tf"):
                tf_level, tf_column = n - i, check_identifier(level["tf"], "tf column")
        parsed.append(Comparison(spec["name"], labels, default_m, tf_level, tf_column))
    return parsed


def predicate_names() -> set[str]:
    """The predicates a comparison level or null_when may name."""
    return set(SQL.fragments("predicates.sql")) | set(STRONG_ID_PREDICATES)


def strong_id_predicates(strong_ids: list[str]) -> dict[str, str]:
    for column in strong_ids:
        check_identifier(column, "strong id")
    both = " OR ".join(f"(l.{c} IS NOT NULL AND r.{c} IS NOT NULL)" for c in strong_ids)
    # Different ids conflict only between sources: inside one source, a second id for the same
    # child is exactly the duplicate record deduplication has to find.
    conflict = " OR ".join(f"coalesce(l.{c} <> r.{c} AND l.source <> r.source, false)"
                           for c in strong_ids)
    agree = " OR ".join(f"coalesce(l.{c} = r.{c}, false)" for c in strong_ids)
    return {
        "strong_none": f"NOT ({both or 'false'})",
        "strong_conflict": f"({conflict or 'false'})",
        "strong_agree": f"({agree or 'false'}) AND NOT ({conflict or 'false'})",
    }


def _predicate(name: str, threshold: float | None, fragments: dict[str, str],
               column: str | None = None) -> str:
    if name not in fragments:
        raise ValueError(f"linkage settings: no predicate named {name}")
    sql = fragments[name]
    if "$column" in sql:
        if column is None:
            raise ValueError(f"linkage settings: predicate {name} needs a comparison `column`")
        sql = sql.replace("$column", check_identifier(column, "comparison column"))
    if "$threshold" in sql:
        if threshold is None:
            raise ValueError(f"linkage settings: predicate {name} needs a threshold")
        sql = sql.replace("$threshold", repr(float(threshold)))
    return f"({sql})"


def gamma_columns_sql(settings: dict) -> list[str]:
    """SELECT-list items (over feature rows l and r) for every comparison and identifier rule."""
    fragments = SQL.fragments("predicates.sql")
    fragments.update(strong_id_predicates(settings["strong_ids"]))
    items = []
    for spec, comparison in zip(settings["comparisons"], parse_comparisons(settings), strict=True):
        column = spec.get("column")
        null_when = " OR ".join(_predicate(p, None, fragments, column)
                                for p in spec["null_when"])
        whens = [f"WHEN {null_when} THEN {NULL_LEVEL}"]
        n = len(spec["levels"])
        for i, level in enumerate(spec["levels"]):
            predicate = _predicate(level["when"], level.get("threshold"), fragments, column)
            whens.append(f"WHEN {predicate} THEN {n - i}")
        items.append("CASE " + " ".join(whens) + f" ELSE {ELSE_LEVEL} END::TINYINT AS "
                     f"{comparison.gamma}")
        if comparison.tf_column:
            items.append(f"CASE WHEN {comparison.gamma} = {comparison.tf_level} THEN "
                         f"greatest(l.{comparison.tf_column}, r.{comparison.tf_column}) END "
                         f"AS {comparison.tf}")
    det = " ".join(f"WHEN l.{c} = r.{c} THEN '{c}'" for c in settings["strong_ids"])
    items.append(f"CASE {det} END AS det_rule" if det else "NULL::VARCHAR AS det_rule")
    items.append(f"{fragments['strong_conflict']} AS strong_conflict")
    # what samples of pairs are drawn by: the records' keys, not their run-to-run row ids, so
    # a night that adds a few records draws nearly the same EM sample (linkage.model)
    items.append("hash(l.record_key, r.record_key) AS pair_hash")
    return items


def gamma_table_sql(settings: dict, pairs_table: str, out_table: str) -> str:
    """CREATE a temp table of comparison vectors for the pairs (rid_l, rid_r, rule_no)."""
    columns = ",\n    ".join(gamma_columns_sql(settings))
    return (
        f"CREATE OR REPLACE TEMP TABLE {out_table} AS\n"
        f"SELECT p.rid_l, p.rid_r, p.rule_no,\n    {columns}\n"
        f"FROM {pairs_table} p\n"
        "JOIN linkage.feature l ON l.rid = p.rid_l\n"
        "JOIN linkage.feature r ON r.rid = p.rid_r"
    )
