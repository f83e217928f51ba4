"""Match weights and probabilities, in DuckDB, by joining the model's parameter table.

match_weight is the log2 odds of a match: the prior (lambda) plus, per comparison, log2(m/u) of
the pair's level (0 for a missing value), plus a term-frequency adjustment on exact levels:
log2(u_random_exact / tf(value)), so that agreeing on a common surname counts for less than
agreeing on a rare one. Each comparison's part (its level's weight and tf adjustment) is kept as
weight_<comparison>, so that a reader sees why a pair scored as it did (a waterfall, as Splink
draws it): match_weight is the prior plus their sum. Identifier rules and vetoes then decide
the final match_probability: strong id agrees (and none conflicts) => 1; a strong id conflicts
or a veto fits => 0, and so does a pair the model could compare on a date of birth and sex
alone (linkage/evidence.py).
"""

from __future__ import annotations

from linkage.comparisons import Comparison
from linkage.evidence import insufficient_evidence
from linkage.rules import CONFLICT_RULE, DETERMINISTIC_PREFIX, PROBABILISTIC_RULE


def pattern_condition(pattern: dict, comparisons: list[Comparison], kind: str) -> str:
    """SQL over a gamma row (alias g) that holds when a pattern of comparison levels fits: every
    comparison of `when` at one of its levels and none of `unless` at one of its."""
    by_name = {c.name: c for c in comparisons}
    parts = []
    for clause, negate in (("when", False), ("unless", True)):
        for comp_name, labels in (pattern.get(clause) or {}).items():
            if comp_name not in by_name:
                raise ValueError(f"linkage settings: {kind} {pattern['name']} names no "
                                 f"comparison {comp_name}")
            comp = by_name[comp_name]
            levels = ", ".join(str(comp.level_of(label)) for label in labels)
            parts.append(f"g.{comp.gamma} {'NOT IN' if negate else 'IN'} ({levels})")
    return " AND ".join(parts) or "true"


def veto_conditions(settings: dict, comparisons: list[Comparison]) -> list[tuple[str, str]]:
    return [(veto["name"], pattern_condition(veto, comparisons, "veto"))
            for veto in settings.get("vetoes", [])]


def score_sql(settings: dict, comparisons: list[Comparison], gamma_table: str,
              out_table: str, prior_weight: float) -> str:
    cfg = settings["model"]
    tf_weight = float(cfg["tf_weight"])
    tf_min = float(cfg["tf_min"])
    joins, terms = [], []
    for comp in comparisons:
        alias = f"w_{comp.name}"
        joins.append(f"JOIN linkage.model {alias} ON {alias}.comparison = '{comp.name}' "
                     f"AND {alias}.level = g.{comp.gamma}")
        term = f"{alias}.match_weight"
        if comp.tf_column:
            # only on the exact level: greatest() ignores NULL, so an unguarded NULL tf would
            # turn into tf_min and reward disagreement
            # the value's frequency against the average agreement on random record pairs: both
            # are counted over records, matches included, so their ratio is how much rarer
            # this value is than most (u, counted as non-matches, is not on that footing)
            term += (f" + CASE WHEN g.{comp.gamma} = {comp.tf_level} AND g.{comp.tf} IS NOT NULL "
                     f"THEN {tf_weight!r} * log2({alias}.u_random / greatest(g.{comp.tf}, "
                     f"{tf_min!r})) ELSE 0 END")
        terms.append(f"{term} AS {comp.weight}")
    rules = [f"WHEN g.det_rule IS NOT NULL AND NOT g.strong_conflict THEN "
             f"'{DETERMINISTIC_PREFIX}' || g.det_rule",
             f"WHEN g.strong_conflict THEN '{CONFLICT_RULE}'"]
    weak = insufficient_evidence(settings, comparisons)
    if weak:
        rules.append(f"WHEN {weak[1]} THEN '{weak[0]}'")
    for name, condition in veto_conditions(settings, comparisons):
        rules.append(f"WHEN {condition} THEN '{name}'")
    rule_case = "CASE " + " ".join(rules) + f" ELSE '{PROBABILISTIC_RULE}' END"
    weight = " + ".join([repr(float(prior_weight)), *(c.weight for c in comparisons)])
    return f"""
CREATE OR REPLACE TEMP TABLE {out_table} AS
WITH c AS (
    SELECT g.*, {', '.join(terms) or 'NULL AS no_weights'}
    FROM {gamma_table} g
    {' '.join(joins)}
),
w AS (
    SELECT g.*, {weight} AS match_weight, {rule_case} AS match_rule
    FROM c g
)
SELECT *,
    1.0 / (1.0 + pow(2.0, -greatest(least(match_weight, 1000), -1000))) AS model_probability,
    CASE WHEN match_rule LIKE '{DETERMINISTIC_PREFIX}%' THEN 1.0
         WHEN match_rule = '{PROBABILISTIC_RULE}'
         THEN 1.0 / (1.0 + pow(2.0, -greatest(least(match_weight, 1000), -1000)))
         ELSE 0.0 END AS match_probability
FROM w
"""

