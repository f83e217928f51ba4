"""Missing episodes, feed overlap, linkage summary and data completeness tables, on invented
children: counts before suppression, and the shared suppression + disclosure check."""

from __future__ import annotations

from datetime import date, datetime

from tests.builders.cohorts import build_missing_cohort
from tests.builders.warehouse_rows import (
    P_END,
    P_START,
    add_event,
    add_person,
    derive,
    link,
    new_warehouse,
)
from warehouse.db import scalar
from warehouse.disclosure import is_primary
from warehouse.marts import build_marts
from warehouse.publication_tables import load_population
from warehouse.publish import publish_tables

NO_SUPPRESSION = {"publication": {"disclosure": {"threshold": 1}}}


def publish(con, settings=None) -> dict:
    derive(con)
    build_marts(con, as_of=P_END)
    return publish_tables(con, as_of=P_END, settings=settings)


def rows(con, table: str) -> list[dict]:
    result = con.execute(f"SELECT * FROM publish.{table} WHERE period_start = ? "
                         "AND period_end = ?", [P_START, P_END])
    names = [d[0] for d in result.description]
    return [dict(zip(names, r, strict=True)) for r in result.fetchall()]


def test_missing_episode_measures():
    con = new_warehouse()
    build_missing_cohort(con)
    publish(con, NO_SUPPRESSION)
    got = {(r["feed"], r["measure"]): r["value"] for r in rows(con, "missing_episodes")}
    expected = {
        ("LA", "episodes"): "5", ("LA", "episodes_from_home"): "3",
        ("LA", "episodes_from_care"): "2", ("LA", "episodes_duration_under_24h"): "2",
        ("LA", "episodes_duration_over_24h"): "2", ("LA", "episodes_duration_not_known"): "1",
        ("LA", "episodes_type_away"): "1", ("LA", "rhi_offered"): "3",
        ("LA", "rhi_not_offered"): "2", ("LA", "rhi_accepted"): "2", ("LA", "rhi_declined"): "1",
        ("LA", "rhi_within_72h"): "1", ("LA", "rhi_not_within_72h"): "1",
        ("LA", "children"): "2", ("LA", "children_from_home"): "2",
        ("LA", "children_from_care"): "1", ("LA", "children_repeat_short"): "1",
        ("LA", "children_repeat_long"): "1",
        ("POL", "episodes"): "4", ("POL", "episodes_from_care"): "3",
        ("POL", "episodes_duration_under_24h"): "3", ("POL", "episodes_duration_not_known"): "1",
        ("POL", "children"): "2", ("POL", "children_repeat_long"): "1",
        ("POL", "children_repeat_short"): "0",
    }
    assert {k: got[k] for k in expected} == expected
    la = [r for r in rows(con, "missing_episodes") if r["measure"] == "rhi_within_72h"][0]
    assert (la["denominator"], la["pct_of_denominator"]) == ("2", "50.0")
    assert la["rate_per_10000"] == ":"     # episodes never get a rate


def test_overlap_linkage_and_completeness():
    con = new_warehouse()
    build_missing_cohort(con)
    publish(con, NO_SUPPRESSION)
    overlap = {(r["row_type"], r["feeds"]): r["children"] for r in rows(con, "feed_overlap")}
    assert overlap[("all", "All")] == "5"
    assert overlap[("combination", "POL + LA")] == "1"
    assert overlap[("combination", "LA")] == "1" and overlap[("combination", "EDU")] == "2"
    assert overlap[("feed_total", "POL")] == "2"
    combos = sum(int(v) for (t, _f), v in overlap.items() if t == "combination")
    assert combos == 5
    link_rows = {r["feed"]: r for r in rows(con, "linkage_summary")}
    edu = link_rows["EDU"]
    assert (edu["records"], edu["records_linked"], edu["records_not_linked"],
            edu["children"]) == ("2", "1", "1", "2")
    assert link_rows["LA"]["children_also_other_feeds"] == "1"
    comp = {(r["feed"], r["field"]): r for r in rows(con, "data_completeness")}
    assert (comp[("EDU", "dob")]["not_recorded"], comp[("EDU", "dob")]["pct_not_recorded"]) == (
        "1", "50.0")
    assert comp[("POL", "ethnicity")]["not_recorded"] == "2"


def test_new_tables_share_the_suppression_and_pass_the_check():
    con = new_warehouse()
    build_missing_cohort(con)
    summary = publish(con)          # default threshold 5: every count here is small
    assert summary["rows"]["missing_episodes"] > 0
    cells = con.execute("SELECT cell_id, value, suppressed FROM mart.publication_cell").fetchall()
    ids = {c[0] for c in cells}
    assert any(i.startswith("missing|") for i in ids) and any(i.startswith("overlap|") for i in ids)
    for cid, value, suppressed in cells:
        if is_primary(value, 5):
            assert suppressed, cid
    la = [r for r in rows(con, "missing_episodes") if r["measure"] == "episodes_from_home"][0]
    assert la["value"] == "c"
    assert scalar(con, "SELECT count(*) FROM publish.feed_overlap") == 20


def test_small_complement_forces_secondary_suppression():
    """20 children missing from home, 2 of them not: the 2 is never printed, but
    children - from home would reveal it, so one of the printed cells must be hidden."""
    con = new_warehouse()
    for i in range(22):
        add_person(con, "police", f"x{i}", dob=date(2010, 1, 1), sex="M")
        add_event(con, "police", f"m{i}", f"x{i}", occurrence_type="MISSING", role="SUBJECT",
                  missing_from="HOME" if i < 20 else "CARE",
                  reported_at=datetime(2025, 6, 1, 10))
    link(con, {f"police:x{i}": f"X{i}" for i in range(22)})
    publish(con)
    got = {r["measure"]: r["value"] for r in rows(con, "missing_episodes") if r["feed"] == "POL"}
    assert got["children_from_care"] == "c"
    assert "c" in (got["children"], got["children_from_home"])
    cells = con.execute("SELECT cell_id, reason FROM mart.publication_cell "
                        "WHERE reason = 'secondary' AND cell_id LIKE 'missing|POL|%'").fetchall()
    assert cells


def test_population_rates(tmp_path):
    pop = tmp_path / "pop.csv"
    pop.write_text("area_name,year,age,sex,population\n"
                   "X,2025,10,F,9999\nX,2026,10,F,10000\nX,2026,14,M,10000\nX,2026,19,M,500\n")
    assert load_population(pop, 0, 17) == 20000
    con = new_warehouse()
    build_missing_cohort(con)
    publish(con, {"publication": {"disclosure": {"threshold": 1}, "population_file": str(pop)}})
    ch = [r for r in rows(con, "missing_episodes")
          if r["feed"] == "LA" and r["measure"] == "children"][0]
    assert (ch["rate_per_10000"], ch["population"]) == ("1.0", "20000")



def write_population(path) -> None:
    """Single years 0-19 by sex, 2026 (and an older year that must be ignored)."""
    lines = ["area_name,year,age,sex,population"]
    for age in range(20):
        lines.append(f"X,2026,{age},M,{1000 + age}")
        lines.append(f"X,2026,{age},F,{2000 + age}")
        lines.append(f"X,2025,{age},F,1")
    path.write_text("\n".join(lines) + "\n")


def test_breakdown_rates_per_10000(tmp_path):
    pop = tmp_path / "pop.csv"
    write_population(pop)
    con = new_warehouse()
    build_missing_cohort(con)
    publish(con, {"publication": {"disclosure": {"threshold": 1}, "population_file": str(pop)}})
    got = {(r["indicator"], r["age_band"], r["sex"], r["ethnicity_group"]): r
           for r in rows(con, "indicator_breakdown")}
    everyone = got[("ANY", "All", "All", "All")]
    pop_0_17 = sum(1000 + a + 2000 + a for a in range(18))
    assert everyone["population"] == str(pop_0_17)
    assert everyone["rate_per_10000"] == f"{10000 * int(everyone['children']) / pop_0_17:.1f}"
    girls = got[("ANY", "14-15", "Female", "All")]        # M1, born 2011, aged 15 at P_END
    pop_girls = sum(2000 + a for a in range(14, 16))
    assert int(girls["children"]) > 0
    assert (girls["population"], girls["rate_per_10000"]) == (
        str(pop_girls), f"{10000 * int(girls['children']) / pop_girls:.1f}")
    # no denominator: an open adult band, unknown age or sex, an ethnic group
    for key in [("ANY", "18+", "All", "All"), ("ANY", "Unknown", "All", "All"),
                ("ANY", "All", "Not known", "All"), ("ANY", "All", "All", "White")]:
        assert (got[key]["rate_per_10000"], got[key]["population"]) == (":", ":"), key
    # an indicator whose feed never arrived has no rate either
    assert got[("I19", "All", "All", "All")]["rate_per_10000"] == ":"


def test_rate_of_a_suppressed_count_is_suppressed(tmp_path):
    pop = tmp_path / "pop.csv"
    write_population(pop)
    con = new_warehouse()
    build_missing_cohort(con)
    publish(con, {"publication": {"population_file": str(pop)}})     # threshold 5
    breakdown = rows(con, "indicator_breakdown")
    hidden = [r for r in breakdown if r["children"] == "c" and r["population"] != ":"]
    assert hidden and {r["rate_per_10000"] for r in hidden} == {"c"}
    shown = [r for r in breakdown if r["rate_per_10000"] not in ("c", ":")]
    assert all(r["children"] not in ("c", ":") for r in shown)


def test_population_file_errors_name_the_row(tmp_path):
    import pytest

    from warehouse.settings import SettingsError

    pop = tmp_path / "pop.csv"
    pop.write_text("area_name,year,age,sex,population\nX,2026,3,M,10\nX,2026,4,persons,20\n")
    with pytest.raises(SettingsError, match="row 3, column sex"):
        load_population(pop, 0, 17)


def test_feed_totals_survive_a_small_merged_count():
    """40 children known to police from 43 records (3 merged) and 30 to social care: the
    merged 3 is hidden with a partner, and the children each feed knows stay printed."""
    con = new_warehouse()
    pairs = {}
    for i in range(40):
        pairs[add_person(con, "police", f"p{i}", dob=date(2010, 1, 1), sex="M")] = f"X{i}"
        if i < 3:
            pairs[add_person(con, "police", f"p{i}b", dob=date(2010, 1, 1), sex="M")] = f"X{i}"
    for i in range(30):
        pairs[add_person(con, "social_care", f"s{i}", dob=date(2011, 1, 1), sex="F")] = \
            f"X{i + 20}"
    link(con, pairs)
    publish(con)
    police = {r["feed"]: r for r in rows(con, "linkage_summary")}["POL"]
    assert police["records_merged_within_feed"] == "c"
    assert police["children"] == "40"
    overlap = {(r["row_type"], r["feeds"]): r["children"] for r in rows(con, "feed_overlap")}
    assert overlap[("feed_total", "POL")] == "40" and overlap[("feed_total", "LA")] == "30"
    assert overlap[("all", "All")] == "50"
    reasons = dict(con.execute("SELECT cell_id, reason FROM mart.publication_cell").fetchall())
    assert reasons["linkage|POL|merged"] == "primary"
    # its partner in records = children + merged: the records (not children), not the headline
    assert reasons["linkage|POL|records"] == "secondary"


def test_republishing_a_period_never_prints_a_small_change():
    """The same period published again after one more child arrives: every count printed both
    times is unchanged or moved by at least the threshold; what moved by less is hidden."""
    con = new_warehouse()
    for i in range(23):
        add_person(con, "police", f"x{i}", dob=date(2010, 1, 1), sex="M")
        if i < 22:
            add_event(con, "police", f"m{i}", f"x{i}", occurrence_type="MISSING",
                      role="SUBJECT", missing_from="HOME",
                      reported_at=datetime(2025, 6, 1, 10))
    link(con, {f"police:x{i}": f"X{i}" for i in range(23)})
    publish(con)
    add_event(con, "police", "m22", "x22", occurrence_type="MISSING", role="SUBJECT",
              missing_from="HOME", reported_at=datetime(2025, 7, 1, 10))
    summary = publish(con)
    assert summary["history_suppressed"] > 0
    printed = con.execute(
        "SELECT a.cell_id, a.printed, b.printed FROM meta.published_cell a "
        "JOIN meta.published_cell b USING (cell_id) WHERE a.publication = 1 "
        "AND b.publication = 2").fetchall()
    assert printed
    moved = [(c, a, b) for c, a, b in printed if a is not None and b is not None and a != b]
    assert all(abs(a - b) >= 5 for _c, a, b in moved), moved
    reasons = dict(con.execute("SELECT cell_id, reason FROM mart.publication_cell").fetchall())
    assert reasons["missing|POL|episodes"] == "history"        # 22 -> 23
    first = dict((c, a) for c, a, _b in printed)
    assert first["missing|POL|episodes"] == 22                  # printed the first time


def test_the_return_cover_does_not_print_a_suppressed_record_count():
    from warehouse.returns import _cover
    from warehouse.settings import load_settings

    s = load_settings()
    facts = {"run_id": "r", "as_of": P_END, "trend_quarters": [],
             "extracts": [("police", "police", 1, P_END, 2), ("school", "school", 1, P_END, 900),
                          ("social_care", "social_care", 1, P_END, 583)]}
    summary = {"primary_suppressed": 1, "secondary_suppressed": 1, "history_suppressed": 0,
               "population": None, "records_suppressed_feeds": ["LA"]}
    tables = {"data_completeness": (["feed", "field", "pct_not_recorded"], [])}
    cover = dict(_cover("2025Q4", (P_START, P_END), s, "P", facts, tables, summary))
    # no row count at all: 2 is small, and the LA's record count is hidden in the tables
    for feed in ("police (police)", "social_care (social_care)", "school (school)"):
        text = cover[f"Feed {feed}"]
        assert "rows loaded" not in text and not any(ch.isdigit() for ch in text.split(";")[1])
    assert "583" not in " ".join(map(str, cover.values()))


def test_the_published_history_is_carried_into_the_next_build(tmp_path):
    from warehouse.build import RunRecord, carry_published_history, create_build
    from warehouse.db import connect
    from warehouse.disclosure import Cell
    from warehouse.publication_history import read_history, record_publication
    from warehouse.publish import ensure_publish_tables

    def run(name):
        return create_build(tmp_path / f"{name}.duckdb", RunRecord(
            run_id=name, code_version="t", as_of=P_END, period_start=P_START,
            period_end=P_END, settings_json="{}"))

    live, build = run("live"), run("next")
    assert carry_published_history(build, tmp_path / "absent.duckdb") == 0
    con = connect(live)
    ensure_publish_tables(con)
    record_publication(con, (P_START, P_END), {"a": Cell("a", 12), "b": Cell("b", 3,
                                                                              suppressed=True)})
    con.close()
    assert carry_published_history(build, live) == 2
    con = connect(build)
    try:
        history = read_history(con, (P_START, P_END))
        assert history.same_period == {"a": {12}}
        # the next publication is numbered after the carried ones
        assert record_publication(con, (P_START, P_END), {"a": Cell("a", 12)}) == 2
    finally:
        con.close()


def test_a_returns_publications_are_kept_and_read_into_later_builds_once(tmp_path):
    from warehouse.disclosure import Cell
    from warehouse.publication_history import (
        absorb_returns,
        read_history,
        record_publication,
        write_return_history,
    )
    from warehouse.publish import ensure_publish_tables

    quarter = (date(2025, 10, 1), date(2025, 12, 31))
    scratch = new_warehouse()                      # the return's copy of the warehouse
    ensure_publish_tables(scratch)
    record_publication(scratch, (P_START, P_END), {"a": Cell("a", 40)})    # the nightly's
    record_publication(scratch, quarter, {"a": Cell("a", 9), "b": Cell("b", 2, suppressed=True)})
    assert write_return_history(scratch, 1, tmp_path / "2025Q4-1.csv") == 2
    later = new_warehouse()                        # a later build, or the next return's copy
    ensure_publish_tables(later)
    record_publication(later, (P_START, P_END), {"a": Cell("a", 41)})
    assert absorb_returns(later, tmp_path) == 1
    assert absorb_returns(later, tmp_path) == 0                             # once only
    history = read_history(later, quarter)
    assert history.same_period == {"a": {9}}
    assert history.overlapping == [{"a": 41}, {"a": 9}]                     # renumbered after
