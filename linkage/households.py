"""Whether the household vetoes apply to a data set.

The twin and sibling vetoes encode one fact about children's records: brothers and sisters share
a surname and a home, twins a date of birth too, and Fellegi-Sunter's independence assumption
would count those agreements as evidence for one child. Data about adults, in which records
almost never share a surname and a home, has no households for the vetoes to protect; there they
only block true matches whose forename was re-keyed (FEBRL's duplicates, for instance). In `auto`
mode the vetoes stay on unless the records are mostly adults *and* sibling-like pairs are rare,
so a small children's extract with few siblings in it keeps them.
"""

from __future__ import annotations

import duckdb

from linkage.encoded import SIBLING_PAIRS_SQL as ENCODED_SIBLING_PAIRS_SQL

CHILD_SHARE_SQL = """
SELECT count(dob), count(*) FILTER (WHERE dob > current_date - to_years($age::INTEGER))
FROM linkage.feature
"""

# Records sharing surname, first address line and postcode, with another forename and another
# date of birth: brothers and sisters (or parent and child) where households exist.
SIBLING_PAIRS_SQL = """
SELECT count(*) FROM linkage.feature a
JOIN linkage.feature b ON a.ln = b.ln AND a.address = b.address AND a.postcode = b.postcode
     AND a.rid < b.rid
WHERE a.fn <> b.fn AND a.dob <> b.dob
"""


def household_vetoes_apply(con: duckdb.DuckDBPyConnection, settings: dict,
                           encoded: bool = False) -> tuple[bool, str]:
    """(apply?, why) for the vetoes of `settings`, read off linkage.feature. Encoded records
    hide their dates of birth, so there the households alone decide (linkage.encoded)."""
    scope = settings.get("veto_scope") or {"mode": "always"}
    mode = scope.get("mode", "auto")
    if mode in ("always", "never"):
        return mode == "always", mode
    if mode != "auto":
        raise ValueError(f"linkage settings: veto_scope.mode must be auto, always or never, "
                         f"not {mode!r}")
    if not encoded:
        dated, children = con.execute(CHILD_SHARE_SQL,
                                      {"age": int(scope["child_age_below"])}).fetchall()[0]
        if not dated or children / dated >= float(scope["min_child_share"]):
            return True, "children" if dated else "no dates of birth"
    records = con.execute("SELECT count(*) FROM linkage.feature").fetchall()[0][0]
    if not records:
        return True, "no records"
    siblings = con.execute(ENCODED_SIBLING_PAIRS_SQL if encoded
                           else SIBLING_PAIRS_SQL).fetchall()[0][0]
    if siblings / records >= float(scope["min_household_pairs_per_record"]):
        return True, "households"
    return False, "adults without households"
