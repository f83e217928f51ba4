"""Disclosure control: primary and secondary suppression and the derivability check."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from warehouse.disclosure import (
    Cell,
    DisclosureError,
    Equation,
    assert_safe,
    check_disclosure,
    derivable_cells,
    is_primary,
    render,
)
from warehouse.publish import count_table_cells
from warehouse.suppression import Costs, suppress


def grid(values: dict[tuple[str, str], int], rows: list[str], cols: list[str]):
    """A two-way table with row, column and grand totals (ids like r1A, r1T, TA, TT)."""
    cells = []
    for r in rows:
        cells += [Cell(f"{r}{c}", values[r, c]) for c in cols]
        cells.append(Cell(f"{r}T", sum(values[r, c] for c in cols), level=1))
    cells += [Cell(f"T{c}", sum(values[r, c] for r in rows), level=1) for c in cols]
    cells.append(Cell("TT", sum(values.values()), level=2))
    eqs = [Equation.total(f"{r}T", [f"{r}{c}" for c in cols]) for r in rows]
    eqs.append(Equation.total("TT", [f"T{c}" for c in cols]))
    eqs += [Equation.total(f"T{c}", [f"{r}{c}" for r in rows]) for c in cols]
    eqs.append(Equation.total("TT", [f"{r}T" for r in rows]))
    return cells, eqs


def hidden(cells: dict[str, Cell]) -> set[str]:
    return {c for c, cell in cells.items() if cell.suppressed}


THREE_BY_THREE = {
    ("r1", "A"): 3, ("r1", "B"): 10, ("r1", "C"): 12,
    ("r2", "A"): 8, ("r2", "B"): 9, ("r2", "C"): 20,
    ("r3", "A"): 6, ("r3", "B"): 15, ("r3", "C"): 11,
}


def test_primary_threshold_is_configurable():
    assert [v for v in range(8) if is_primary(v, 5)] == [1, 2, 3, 4]
    assert [v for v in range(8) if is_primary(v, 6)] == [1, 2, 3, 4, 5]
    cells = [Cell("a", 0), Cell("b", 4), Cell("c", 5), Cell("d", 9)]
    assert hidden(suppress(cells, [], 5)) == {"b"}
    assert hidden(suppress(cells, [], 10)) == {"b", "c", "d"}
    assert render(Cell("z", 0)) == "0"       # zeros are shown


def pattern_cost(cells: dict[str, Cell], pattern: set[str]) -> float:
    costs = Costs()
    return sum(costs.of(cells[c]) for c in pattern)


def test_secondary_suppression_in_a_two_way_table_is_the_cheapest_that_protects():
    cells, eqs = grid(THREE_BY_THREE, ["r1", "r2", "r3"], ["A", "B", "C"])
    out = suppress(cells, eqs, 5)
    assert out["r1A"].reason == "primary"
    assert {c for c, cell in out.items() if cell.reason == "secondary"} == hidden(out) - {"r1A"}
    assert not any(out[t].suppressed for t in ("r1T", "r2T", "r3T", "TA", "TB", "TC", "TT"))
    for eq in eqs:
        assert sum(out[c].suppressed for c in eq.cell_ids) != 1
    assert check_disclosure(out, eqs, 5) == []
    # minimum information loss: no protecting pattern of interior cells costs less (every one
    # checked independently), and the greedy pattern this replaced (7 cells) costs more
    base = {c.id: c for c in cells}
    interior = sorted(c.id for c in cells if c.level == 0 and c.id != "r1A")
    best = pattern_cost(base, hidden(out))
    for size in range(1, 5):
        for extra in itertools.combinations(interior, size):
            pattern = {"r1A", *extra}
            if any(len(pattern.intersection(eq.cell_ids)) == 1 for eq in eqs):
                continue            # a lone hidden cell in a row or column: not protected
            trial = {c: replace(cell, suppressed=c in pattern) for c, cell in base.items()}
            if check_disclosure(trial, eqs, 5) == []:
                assert pattern_cost(base, pattern) >= best, pattern
    greedy = {"r1A", "r1B", "r2A", "r2B", "r3A", "r3C", "r1C"}
    assert pattern_cost(base, greedy) > best


def test_under_suppressed_table_is_rejected():
    cells, eqs = grid(THREE_BY_THREE, ["r1", "r2", "r3"], ["A", "B", "C"])
    # r1A and r1B hidden: the row is protected but column A and column B each give one back
    partial = {c.id: c for c in cells}
    for cid in ("r1A", "r1B"):
        partial[cid] = Cell(cid, partial[cid].value, suppressed=True)
    problems = check_disclosure(partial, eqs, 5)
    assert any("r1A" in p and "derivable" in p for p in problems)
    assert any("r1B" in p and "derivable" in p for p in problems)
    with pytest.raises(DisclosureError):
        assert_safe(partial, eqs, 5, table="test grid")
    # and a small count left visible is a problem of its own
    visible = {c.id: c for c in cells}
    assert any("below the threshold" in p for p in check_disclosure(visible, eqs, 5))


def test_rank_test_catches_what_the_singleton_rule_misses():
    # a = x + y, b = x + z, c = y + z: every equation has two hidden cells, yet
    # x = (a + b - c) / 2, so all three are recoverable.
    cells = [Cell("x", 2), Cell("y", 3), Cell("z", 4),
             Cell("a", 5, level=1), Cell("b", 6, level=1), Cell("c", 7, level=1)]
    eqs = [Equation.total("a", ["x", "y"]), Equation.total("b", ["x", "z"]),
           Equation.total("c", ["y", "z"])]
    marked = {c.id: Cell(c.id, c.value, c.level, suppressed=c.id in "xyz") for c in cells}
    assert derivable_cells({"x", "y", "z"}, eqs) == ["x", "y", "z"]
    assert len(check_disclosure(marked, eqs, 5)) == 3
    out = suppress(cells, eqs, 5)
    assert {"x", "y", "z"} <= hidden(out)
    assert len(hidden(out)) > 3               # at least one total had to go as well
    assert check_disclosure(out, eqs, 5) == []


def test_zero_is_not_used_for_protection_when_a_non_zero_cell_exists():
    cells = [Cell("a", 3), Cell("b", 0), Cell("c", 7), Cell("t", 10, level=1)]
    out = suppress(cells, [Equation.total("t", ["a", "b", "c"])], 5)
    assert hidden(out) == {"a", "c"}
    assert not out["b"].suppressed and not out["t"].suppressed


def test_interior_cells_are_hidden_before_totals():
    # t = a + big + sub, where sub is itself a subtotal: the interior cell goes even though the
    # subtotal is smaller
    cells = [Cell("a", 3), Cell("big", 20), Cell("sub", 8, level=1), Cell("t", 31, level=2)]
    out = suppress(cells, [Equation.total("t", ["a", "big", "sub"])], 5)
    assert hidden(out) == {"a", "big"}


def test_table8_equations_and_suppression():
    # 30 children in 1 data set, 12 in 2, 6 in 3, 2 in 4, 1 in 6 (counted in the top row 5+)
    per_child = [1] * 30 + [2] * 12 + [3] * 6 + [4] * 2 + [6]
    table = count_table_cells("t8", per_child, top_k=5)
    values = {c.id: c.value for c in table.cells}
    assert [values[f"t8|ex|{k}"] for k in range(1, 6)] == [30, 12, 6, 2, 1]
    assert [values[f"t8|ge|{k}"] for k in range(1, 6)] == [51, 21, 9, 3, 1]
    assert check_disclosure(table.cells, table.equations, 1) == []   # equations hold
    out = suppress(table.cells, table.equations, 5)
    # primary: ex4=2, ex5=1, ge4=3, ge5=1; ge3 = ex3 + ge4 then hides ex3 (interior, 6)
    assert hidden(out) == {"t8|ex|4", "t8|ex|5", "t8|ge|4", "t8|ge|5", "t8|ex|3"}
    assert out["t8|ex|3"].reason == "secondary"
    assert check_disclosure(out, table.equations, 5) == []


def test_table9_top_row_and_equal_cells():
    per_child = [1] * 20 + [2] * 9 + [7] * 2 + [9] * 4
    table = count_table_cells("t9", per_child, top_k=7)
    values = {c.id: c.value for c in table.cells}
    assert values["t9|ex|7"] == values["t9|ge|7"] == 6
    assert values["t9|ge|1"] == sum(values[f"t9|ex|{k}"] for k in range(1, 8)) == 35
    ge = [values[f"t9|ge|{k}"] for k in range(1, 8)]
    assert ge == sorted(ge, reverse=True)
    out = suppress(table.cells, table.equations, 10)
    # ex7 = ge7 = 6 and ex2 = 9 are primary at threshold 10; zeros (ex3-ex6) are never hidden
    assert {"t9|ex|7", "t9|ge|7", "t9|ex|2"} <= hidden(out)
    assert not any(out[f"t9|ex|{k}"].suppressed for k in (3, 4, 5, 6))
    assert check_disclosure(out, table.equations, 10) == []


def test_inconsistent_equations_are_reported():
    cells = [Cell("a", 6), Cell("b", 7), Cell("t", 14, level=1)]
    problems = check_disclosure(cells, [Equation.total("t", ["a", "b"])], 5)
    assert problems == ["equation 0 does not hold for the table's values"]


# ---------------------------------------------------------------- rounding to the nearest 5


def test_round_count_to_nearest_5():
    from warehouse.disclosure import round_count

    assert [round_count(v, 5) for v in range(0, 14)] == [
        0, 0, 0, 5, 5, 5, 5, 5, 10, 10, 10, 10, 10, 15]
    assert round_count(7, None) == 7


def test_rounding_after_suppression_passes_the_check_and_renders_rounded():
    from warehouse.disclosure import apply_rounding, render_percent, render_rate

    cells, eqs = grid(THREE_BY_THREE, ["r1", "r2", "r3"], ["A", "B", "C"])
    suppressed = suppress(cells, eqs, 5)
    rounded = apply_rounding(suppressed, "nearest_5")
    # suppression is decided on the true values: the same cells are hidden
    assert hidden(rounded) == hidden(suppressed)
    assert check_disclosure(rounded, eqs, 5, "nearest_5") == []
    shown = {c: render(cell) for c, cell in rounded.items() if not cell.suppressed}
    assert all(int(v) % 5 == 0 for v in shown.values())
    # totals are rounded on their own: TT = 94 -> 95, not the sum of rounded parts
    assert shown["TT"] == "95"
    assert rounded["r2C"].value == 20 and shown["r2C"] == "20"
    assert rounded["r3T"].value == 32 and shown["r3T"] == "30"
    assert rounded["TA"].value == 17 and shown["TA"] == "15"
    # percentages and rates use the printed counts, so they cannot give the exact count back
    assert render_percent(rounded["r3T"], rounded["TT"], "c", "z") == f"{100 * 30 / 95:.1f}"
    assert render_rate(rounded["r3T"], 20000, "c", ":") == "15.0"
    hidden_cell = next(c for c in rounded.values() if c.suppressed)
    assert render_rate(hidden_cell, 20000, "c", ":") == "c"
    assert render_rate(rounded["r3C"], None, "c", ":") == ":"


def test_check_fails_on_unrounded_or_falsely_zero_cells():
    from dataclasses import replace

    from warehouse.disclosure import apply_rounding

    cells, eqs = grid(THREE_BY_THREE, ["r1", "r2", "r3"], ["A", "B", "C"])
    exact = suppress(cells, eqs, 5)
    # published exactly while rounding is on: the rounding could be undone
    problems = check_disclosure(exact, eqs, 5, "nearest_5")
    assert problems and all("rounding" in p for p in problems)
    rounded = apply_rounding(exact, "nearest_5")
    rounded["r2C"] = replace(rounded["r2C"], published=21)
    assert any("r2C" in p for p in check_disclosure(rounded, eqs, 5, "nearest_5"))
    # a non-zero count printed as 0 would read as a true zero
    small = {"a": Cell("a", 2, published=0)}
    assert any("published as 0" in p for p in check_disclosure(small, [], 1, "nearest_5"))
    with pytest.raises(ValueError):
        check_disclosure(exact, eqs, 5, "nearest_3")


def test_rounding_settings_are_validated():
    from warehouse.settings import SettingsError, load_settings

    assert load_settings().rounding == "none"
    nested = {"publication": {"disclosure": {"rounding": "nearest_5"}}}
    assert load_settings(nested).rounding == "nearest_5"
    # the joinedup.yaml form: the publication section itself
    assert load_settings({"disclosure": {"rounding": "nearest_5"}}).rounding == "nearest_5"
    with pytest.raises(SettingsError, match="rounding must be one of"):
        load_settings({"disclosure": {"rounding": "nearest_10"}})
    with pytest.raises(SettingsError, match="threshold of at least 3"):
        load_settings({"disclosure": {"rounding": "nearest_5", "threshold": 2}})


# ---------------------------------------------------------------- protection intervals

# r1A and r1B are small (3 + 3 = 6): hidden with r2A and r2B the rank test finds nothing, yet
# r1B >= 1 bounds r1A to 1..5 - a range of width 4.
NARROW = {("r1", "A"): 3, ("r1", "B"): 3, ("r2", "A"): 10, ("r2", "B"): 12}


def test_a_pattern_that_passes_the_rank_test_but_leaves_a_narrow_range_is_refused_and_fixed():
    from warehouse.disclosure import protection_ranges

    cells, eqs = grid(NARROW, ["r1", "r2"], ["A", "B"])
    pattern = {"r1A", "r1B", "r2A", "r2B"}
    marked = {c.id: replace(c, suppressed=c.id in pattern) for c in cells}
    assert derivable_cells(pattern, eqs) == []            # uniqueness holds
    low, high = protection_ranges(marked, eqs, pattern, 5)["r1A"]
    assert (low, high) == pytest.approx((1, 5))
    problems = check_disclosure(marked, eqs, 5)
    assert any("r1A" in p and "width 4" in p for p in problems)
    assert check_disclosure(marked, eqs, 5, width=4) == []  # the width is the setting's
    out = suppress(cells, eqs, 5)
    assert pattern < hidden(out)
    assert check_disclosure(out, eqs, 5) == []
    for cid, (low, high) in protection_ranges(out, eqs, hidden(out), 5).items():
        assert high - low >= 5, cid
    # a wider protection asks for more
    assert len(hidden(suppress(cells, eqs, 5, width=12))) >= len(hidden(out))
    assert check_disclosure(suppress(cells, eqs, 5, width=12), eqs, 5, width=12) == []


def test_a_zero_is_never_suppressed_and_a_suppressed_zero_is_refused():
    cells = [Cell("a", 3), Cell("z", 0), Cell("b", 8), Cell("t", 11, level=1)]
    eqs = [Equation.total("t", ["a", "z", "b"])]
    out = suppress(cells, eqs, 5)
    assert not out["z"].suppressed and out["a"].suppressed
    assert check_disclosure(out, eqs, 5) == []
    zero_hidden = {c.id: replace(c, suppressed=c.id in {"a", "z"}) for c in cells}
    assert any("z" in p and "zero" in p for p in check_disclosure(zero_hidden, eqs, 5))


def test_headline_totals_survive_when_an_interior_pattern_protects():
    # a feed's records = its children + records merged within the feed; the merged count is
    # small. Hiding the records (or any interior pair) protects it; the children total, a
    # headline, must stay printed even though it is the smaller number.
    cells = [Cell("records", 95, level=1), Cell("children", 91, level=1, headline=True),
             Cell("merged", 4), Cell("linked", 60), Cell("not_linked", 35),
             Cell("only_here", 50), Cell("also_elsewhere", 41)]
    eqs = [Equation.total("records", ["children", "merged"]),
           Equation.total("records", ["linked", "not_linked"]),
           Equation.total("children", ["only_here", "also_elsewhere"])]
    out = suppress(cells, eqs, 5)
    assert out["merged"].reason == "primary" and out["records"].suppressed
    assert not out["children"].suppressed
    assert check_disclosure(out, eqs, 5) == []
    # with nothing else to hide, a headline does go
    alone = suppress(cells[:3], eqs[:1], 5, known={"records"})
    assert alone["children"].reason == "secondary"
    assert check_disclosure(alone, eqs[:1], 5) == []


# ---------------------------------------------------------------- successive publications


def test_a_small_change_since_an_earlier_publication_is_refused_and_fixed():
    from warehouse.publication_history import History

    before = {**NARROW, ("r1", "A"): 9, ("r1", "B"): 8}     # the first quarter: nothing small
    first, eqs = grid(before, ["r1", "r2"], ["A", "B"])
    printed = {c.id: c.value for c in first}
    assert check_disclosure(first, eqs, 5) == []
    # the next publication of an overlapping period: r1A 9 -> 7 (and r1T, TA, TT with it), all
    # printable alone, but the differences (2) count two children
    values = {**before, ("r1", "A"): 7}
    second, _ = grid(values, ["r1", "r2"], ["A", "B"])
    assert check_disclosure(second, eqs, 5) == []                       # alone it is safe
    problems = check_disclosure(second, eqs, 5, earlier=[printed])
    assert any("r1A" in p and "earlier publication" in p for p in problems)
    history = History(overlapping=[printed])
    base = {c.id: c for c in second}
    forced = history.forced(base, 5)
    assert set(forced) == {"r1A", "r1T", "TA", "TT"}
    out = suppress(second, eqs, 5, forced=forced)
    assert {c for c in forced if base[c].value > 0} <= hidden(out)
    assert {out[c].reason for c in forced} == {"history"}
    assert check_disclosure(out, eqs, 5, earlier=[printed]) == []


def test_a_cell_printed_before_for_the_same_period_cannot_protect_by_being_hidden():
    from warehouse.publication_history import History

    cells, eqs = grid(THREE_BY_THREE, ["r1", "r2", "r3"], ["A", "B", "C"])
    out = suppress(cells, eqs, 5)
    partners = hidden(out) - {"r1A"}
    # an earlier publication of the same period printed the partners (the data were the same)
    history = History(same_period={c: {out[c].value} for c in partners})
    assert any("printed it" in p for p in check_disclosure(out, eqs, 5, known=history.same_period))
    again = suppress(cells, eqs, 5, known=history.known({c.id: c for c in cells}))
    assert not partners & hidden(again)
    assert check_disclosure(again, eqs, 5, known=history.same_period) == []
    # once a partner's count has changed, its old print no longer gives it away
    changed = {c: {out[c].value + 7} for c in partners}
    assert check_disclosure(out, eqs, 5, known=changed) == []


def test_published_history_is_kept_and_read_back_by_period():
    from datetime import date

    from tests.builders.warehouse_rows import new_warehouse
    from warehouse.publication_history import read_history, record_publication
    from warehouse.publish import ensure_publish_tables

    con = new_warehouse()
    ensure_publish_tables(con)
    year = (date(2025, 4, 1), date(2026, 3, 31))
    q1, q3 = (date(2025, 4, 1), date(2025, 6, 30)), (date(2026, 4, 1), date(2026, 6, 30))
    cells = {"a": Cell("a", 3, suppressed=True), "b": Cell("b", 12), "t": Cell("t", 15)}
    assert record_publication(con, year, cells) == 1
    assert record_publication(con, year, {**cells, "b": Cell("b", 13)}) == 2
    same = read_history(con, year)
    assert same.same_period == {"b": {12, 13}, "t": {15}}          # never the hidden value
    assert same.overlapping == [{"b": 12, "t": 15}, {"b": 13, "t": 15}]
    nested = read_history(con, q1)
    assert nested.same_period == {} and len(nested.overlapping) == 2
    later = read_history(con, q3)                                  # disjoint: no relation
    assert later.same_period == {} and later.overlapping == []


def test_a_cell_never_printed_is_at_least_zero_and_protected_only_when_small():
    """A total of 7 split in three parts: printed as `c`, each part is known to be at least 1,
    so no part can have a range of 5 without hiding the total; never printed (an indicator too
    small for the drivers table), the parts may be 0 and the total stays printed. A large
    unprinted cell that the equations fix (the split's own total) is no disclosure."""
    parts = {"a": 2, "b": 4, "c": 1}
    eqs = [Equation.total("T", list(parts)), Equation.equal("T2", "T")]
    printed = [Cell("T", 7, level=1, headline=True), Cell("T2", 7, level=1),
               *(Cell(k, v) for k, v in parts.items())]
    shown = suppress(printed, eqs, 5, width=5, costs=Costs())
    assert shown["T"].suppressed                         # no other pattern protects the parts
    unprinted = [printed[0], replace(printed[1], printed=False),
                 *(replace(c, printed=False) for c in printed[2:])]
    cells = suppress(unprinted, eqs, 5, width=5, costs=Costs())
    assert not cells["T"].suppressed and cells["T2"].reason == "unprinted"
    assert {cells[k].reason for k in parts} == {"primary"}         # small: protected
    assert check_disclosure(cells, eqs, 5, width=5) == []
    # with a floor of 1 (printed as c), the same pattern narrows the parts and is refused
    as_c = {k: replace(c, printed=True) for k, c in cells.items()}
    assert any("narrow" in p or "derivable" in p for p in check_disclosure(as_c, eqs, 5,
                                                                           width=5))
