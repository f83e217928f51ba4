"""The pairs the model may not link, however well their fields agree: those it could compare on
a date of birth and a sex alone.

Fellegi-Sunter adds up the evidence a pair has; with names, address and identifiers missing on
one side, an exact date of birth (with its term-frequency bonus, in a small partnership) and a
sex can lift two different children over the threshold. The statutory returns (CIN census,
SSDA903) carry no names, so without this rule their children would link to any child born the
same day. Such records link on their identifiers (strong_ids, UPN chains) or not at all. The
rule names the comparisons that are not enough on their own (settings: insufficient_evidence);
a pair whose every other comparison is missing on one side scores 0 under the rule's name. It
is no cannot-link: a pair whose date of birth disagrees is kept apart as any such pair is.
"""

from __future__ import annotations

from linkage.comparisons import NULL_LEVEL, Comparison


def insufficient_evidence(settings: dict, comparisons: list[Comparison]) -> tuple[str, str] | None:
    """(rule name, SQL over a gamma row g that holds for such a pair), or None when unset."""
    rule = settings.get("insufficient_evidence")
    if not rule:
        return None
    only = set(rule["only"])
    unknown = only - {c.name for c in comparisons}
    if unknown:
        raise ValueError(f"linkage settings: insufficient_evidence.only names no comparison "
                         f"{', '.join(sorted(unknown))}")
    others = [c for c in comparisons if c.name not in only]
    return rule["name"], " AND ".join(f"g.{c.gamma} = {NULL_LEVEL}" for c in others) or "true"
