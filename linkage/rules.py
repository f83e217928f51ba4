"""What a scored pair's `rule_no` and `match_rule` mean, in one place.

Every pair the engine scores carries two labels. `rule_no` says why the pair was scored: a
candidate pair carries the index (from 0) of the first blocking rule in settings that proposed
it; pairs scored for another reason carry one of the negative numbers below, which are never a
rule index. `match_rule` says what decided its match_probability: the model, a strong
identifier, a veto (named as in settings), or a reviewer's decision. The clustering guard, the
review queue, linkage.pair and the model report all read these labels, so they are defined here
and nowhere else.
"""

from __future__ import annotations

# --- rule_no: why a pair was scored (>= 0: the blocking rule that proposed it) ------------------
CHECK_RULE_NO = -1      # a within-component check pair: never proposed, scored by the guard
REVIEW_RULE_NO = -2     # a pair a reviewer decided that blocking did not propose
SESSION_RULE_NO = -3    # a pair an EM training session drew for itself (never written out)
RANDOM_RULE_NO = -4     # a random record pair drawn to count u (never written out)

# linkage.pair's blocking_rule for the scored pairs that no blocking rule proposed
PAIR_ORIGINS = {CHECK_RULE_NO: "cluster_check", REVIEW_RULE_NO: "review"}

# --- match_rule: what decided a pair's match_probability ----------------------------------------
PROBABILISTIC_RULE = "probabilistic"        # the model's probability stands
DETERMINISTIC_PREFIX = "id:"                # 'id:<strong id>': the identifier agrees => 1
CONFLICT_RULE = "strong_id_conflict"        # a strong identifier differs between sources => 0
REVIEW_MATCH_RULE = "review_match"          # a reviewer said match => 1, linked first
REVIEW_NON_MATCH_RULE = "review_non_match"  # a reviewer said non-match => 0, never linked
# (a veto's own name from settings, e.g. 'twin_rule', means the veto fitted => 0)


def blocking_rule_sql(rule_no: str, rule_names_param: str) -> str:
    """SQL naming the blocking rule of `rule_no` (a column): a rule from the list parameter
    `rule_names_param` (settings order), or the origin of a pair no rule proposed."""
    whens = " ".join(f"WHEN {rule_no} = {number} THEN '{label}'"
                     for number, label in PAIR_ORIGINS.items())
    return f"CASE {whens} ELSE list_extract(${rule_names_param}, {rule_no} + 1) END"
