"""When the twin and sibling vetoes apply: children's records always, adults' records only where
they share homes (linkage/households.py)."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from linkage.households import household_vetoes_apply
from linkage.settings import load_settings


def _features(rows: list[tuple]) -> duckdb.DuckDBPyConnection:
    """linkage.feature with the columns the rule reads: (fn, ln, dob, address, postcode)."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA linkage")
    con.execute("CREATE TABLE linkage.feature (rid INTEGER, fn VARCHAR, ln VARCHAR, dob DATE, "
                "address VARCHAR, postcode VARCHAR)")
    if rows:
        con.executemany("INSERT INTO linkage.feature (rid, fn, ln, dob, address, postcode) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        [(i, *row) for i, row in enumerate(rows)])
    return con


def _people(n: int, born: int, households: int = 0) -> list[tuple]:
    """n invented people born in `born`, each at their own address, then `households` pairs of
    brothers and sisters (same surname and home, other forename and birthday)."""
    rows = [(f"first{i}", f"last{i}", date(born, 1 + i % 12, 1 + i % 28), f"{i} A STREET",
             f"ZX1 {i % 10}AA") for i in range(n)]
    for h in range(households):
        rows += [(f"sib{h}a", f"fam{h}", date(born, 3, 1), f"{h} B ROAD", "ZX9 9ZZ"),
                 (f"sib{h}b", f"fam{h}", date(born + 2, 5, 1), f"{h} B ROAD", "ZX9 9ZZ")]
    return rows


def test_children_keep_the_vetoes_even_without_siblings():
    applies, why = household_vetoes_apply(_features(_people(200, date.today().year - 8)),
                                          load_settings())
    assert (applies, why) == (True, "children")


def test_adults_without_shared_homes_drop_them():
    applies, why = household_vetoes_apply(_features(_people(200, 1960)), load_settings())
    assert (applies, why) == (False, "adults without households")


def test_adults_who_share_homes_keep_them():
    applies, why = household_vetoes_apply(_features(_people(200, 1960, households=10)),
                                          load_settings())
    assert (applies, why) == (True, "households")


@pytest.mark.parametrize("mode, expected", [("always", True), ("never", False)])
def test_mode_overrides_the_data(mode, expected):
    settings = load_settings({"veto_scope": {"mode": mode}})
    assert household_vetoes_apply(_features(_people(50, 1960)), settings)[0] is expected
    assert household_vetoes_apply(_features(_people(50, 2018)), settings)[0] is expected


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError, match="veto_scope.mode"):
        household_vetoes_apply(_features([]), load_settings({"veto_scope": {"mode": "maybe"}}))
