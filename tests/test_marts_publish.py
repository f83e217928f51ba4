"""Marts (best values, child-level rows), published tables and CSV export, on invented children."""

from __future__ import annotations

import csv
import itertools
import re
from datetime import date, datetime

import pytest

from tests.builders.warehouse_rows import (
    P_END,
    P_START,
    add_event,
    add_extract,
    add_person,
    derive,
    insert,
    link,
    new_warehouse,
)
from warehouse.db import scalar
from warehouse.disclosure import DisclosureError, is_primary
from warehouse.exports import export_csv, guard_cell
from warehouse.marts import build_marts
from warehouse.publish import breakdown_dimensions, publish_tables
from warehouse.settings import load_settings


def profile(con, person_id: str) -> dict:
    result = con.execute("SELECT * FROM mart.child_profile WHERE person_id = ?", [person_id])
    names = [d[0] for d in result.description]
    rows = result.fetchall()
    assert len(rows) == 1
    return dict(zip(names, rows[0], strict=True))


# ---------------------------------------------------------------- marts


def test_best_values_across_linked_records():
    con = new_warehouse()
    add_extract(con, "old", "police", datetime(2025, 1, 1))
    add_extract(con, "new", "school", datetime(2026, 1, 1))
    add_extract(con, "sc", "social_care", datetime(2025, 6, 1))
    # child A: dob 2 votes vs 1; sex M, F, U -> tie between M and F broken by the newest record
    add_person(con, "social_care", "a1", dob=date(2011, 5, 4), sex="M", ethnicity="BAFR",
               extract_id="sc")
    add_person(con, "police", "a2", dob=date(2011, 4, 5), sex="U", ethnicity="WBRI",
               extract_id="old")
    add_person(con, "school", "a3", dob=date(2011, 5, 4), sex="F", ethnicity="REFU",
               extract_id="new")
    # child B: only refused / not obtained, and a police-observed code that must not be used
    add_person(con, "police", "b1", ethnicity="REFU", extract_id="old")
    con.execute("UPDATE staging.person_record SET ethnicity_observed = 'IC1' "
                "WHERE record_key = 'police:b1'")
    add_person(con, "school", "b2", ethnicity="NOBT", extract_id="new")
    # child C: nothing recorded at all, police IC code only
    add_person(con, "police", "c1", extract_id="old")
    con.execute("UPDATE staging.person_record SET ethnicity_observed = 'IC3' "
                "WHERE record_key = 'police:c1'")
    # child D: two dobs, one vote each -> the most recently received record wins
    add_person(con, "police", "d1", dob=date(2009, 1, 1), sex="F", extract_id="old")
    add_person(con, "school", "d2", dob=date(2009, 1, 2), sex="F", ethnicity="APKN",
               extract_id="new")
    link(con, {"social_care:a1": "A", "police:a2": "A", "school:a3": "A",
               "police:b1": "B", "school:b2": "B", "police:c1": "C",
               "police:d1": "D", "school:d2": "D"})
    derive(con)
    summary = build_marts(con, as_of=P_END)
    assert summary["children"] == 4 and summary["children_with_indicators"] == 0

    a = profile(con, "A")
    assert (a["age"], a["age_band"], a["dob_basis"]) == (14, "14-15", "most_common")
    assert (a["sex"], a["sex_basis"]) == ("F", "tie_broken")
    # ethnicity tie between BAFR (social care) and WBRI (police): DfE-return kinds rank first;
    # the school's REFU never outvotes a specific code
    assert (a["ethnicity"], a["ethnicity_group"], a["ethnicity_basis"]) == (
        "BAFR", "Black", "tie_broken")
    assert a["feeds_present"] == ["EDU", "LA", "POL"] and a["n_records"] == 3

    b = profile(con, "B")
    assert b["ethnicity_group"] == "Refused or not known"
    assert b["ethnicity"] == "NOBT"               # the newer of the two non-answers
    assert (b["age"], b["age_band"], b["sex"]) == (None, "Unknown", "U")

    c = profile(con, "C")
    assert (c["ethnicity"], c["ethnicity_group"], c["ethnicity_basis"]) == (
        None, "Not recorded", "not_recorded")

    d = profile(con, "D")
    assert (d["age"], d["age_band"], d["dob_basis"]) == (17, "16-17", "tie_broken")
    assert (d["sex"], d["sex_basis"]) == ("F", "agreed")


def test_marts_hold_no_identifying_columns():
    con = new_warehouse()
    add_person(con, "police", "p1", dob=date(2010, 1, 1))
    link(con, {"police:p1": "X"})
    derive(con)
    build_marts(con, as_of=P_END)
    for table in ("child_indicator", "child_profile"):
        cols = {r[0] for r in con.execute(f"DESCRIBE mart.{table}").fetchall()}
        assert not cols & {"dob", "first_name", "last_name", "postcode", "address", "upn",
                           "nhs_number", "record_key", "person_key", "person_ref"}


def build_cohort(con) -> None:
    """Five children across three agencies, with the looked-after child in two data sets."""
    add_person(con, "social_care", "s1", dob=date(2011, 1, 1), sex="F", ethnicity="WBRI")
    add_person(con, "police", "n1", dob=date(2011, 1, 1), sex="F")
    add_person(con, "social_care", "s2", dob=date(2014, 6, 1), sex="M", ethnicity="MWBC")
    add_person(con, "police", "n3", dob=date(2009, 2, 2), sex="M", ethnicity="BAFR")
    add_person(con, "yot", "y4", dob=date(2008, 8, 8), sex="M")
    add_person(con, "social_care", "s5", dob=date(2012, 3, 3), sex="F")   # no events
    add_event(con, "social_care", "lac1", "s1", event_type="LAC_EPISODE",
              start_at=datetime(2024, 11, 1))
    add_event(con, "social_care", "mis1", "s1", event_type="MISSING", missing_type="MISSING",
              missing_from="CARE", start_at=datetime(2025, 5, 1, 22),
              end_at=datetime(2025, 5, 2, 8))
    for i, day in enumerate([3, 9, 12]):
        add_event(con, "police", f"rep{i}", "n1", occurrence_type="MISSING", role="SUBJECT",
                  reported_at=datetime(2025, 6, day, 23))
    add_event(con, "social_care", "ref2", "s2", event_type="REFERRAL",
              start_at=datetime(2025, 7, 1), factors=["CSE"])
    add_event(con, "police", "cr3", "n3", occurrence_type="CRIME", role="VICTIM",
              reported_at=datetime(2025, 9, 1), offence_date=date(2025, 8, 30),
              offence_code="71", cse_flag=True, suspect_count=3)
    add_event(con, "yot", "as4", "y4", assessment_date=date(2025, 10, 1), absconding=True,
              no_fixed_abode=True)
    link(con, {"social_care:s1": "K1", "police:n1": "K1", "social_care:s2": "K2",
               "police:n3": "K3", "yot:y4": "K4", "social_care:s5": "K5"})


def test_child_indicator_rows():
    con = new_warehouse()
    build_cohort(con)
    derive(con)
    summary = build_marts(con, as_of=P_END)
    assert summary == {"children": 5, "children_with_indicators": 4,
                       "child_indicator_rows": 10, "unlinked_events": 0}
    rows = con.execute(
        "SELECT indicator, dataset, feed, first_event_date, last_event_date, events, sources "
        "FROM mart.child_indicator WHERE person_id = 'K1' ORDER BY indicator").fetchall()
    assert [r[0] for r in rows] == ["I03", "I17", "I18A", "I18B", "I27", "I28"]
    i17 = rows[1]
    assert i17[1:] == ("MISSING_POL", "POL", date(2025, 6, 3), date(2025, 6, 12), 3, ["police"])
    assert rows[4][3] == P_START            # episode open before the period
    k1 = profile(con, "K1")
    assert (k1["n_datasets"], k1["n_indicators"], k1["looked_after"]) == (3, 6, True)
    assert k1["datasets"] == ["LAC", "MISSING_LA", "MISSING_POL"]
    k5 = profile(con, "K5")
    assert (k5["n_datasets"], k5["n_indicators"], k5["looked_after"]) == (0, 0, False)
    # a rerun replaces the period instead of adding to it
    build_marts(con, as_of=P_END)
    assert scalar(con, "SELECT count(*) FROM mart.child_indicator") == 10


# ---------------------------------------------------------------- publication


def published(con, table: str) -> list[dict]:
    result = con.execute(f"SELECT * FROM publish.{table} ORDER BY ALL")
    names = [d[0] for d in result.description]
    return [dict(zip(names, r, strict=True)) for r in result.fetchall()]


def run_all(con, settings=None) -> dict:
    derive(con, settings=settings)
    build_marts(con, as_of=P_END, settings=settings)
    return publish_tables(con, as_of=P_END, settings=settings)


NO_SUPPRESSION = {"publication": {"disclosure": {"threshold": 1}}}


def test_tables_8_and_9_without_suppression():
    con = new_warehouse()
    build_cohort(con)
    run_all(con, NO_SUPPRESSION)
    # data sets per child: K1 3, K2 1 (CP), K3 1 (SEX_CRIME), K4 1 (YOT), K5 none
    t8 = published(con, "table8_datasets")
    assert [r["k_label"] for r in t8] == ["1", "2", "3", "4", "5+"]
    assert [r["children_exactly_k"] for r in t8] == ["3", "0", "1", "0", "0"]
    assert [r["children_at_least_k"] for r in t8] == ["4", "1", "1", "0", "0"]
    assert {r["denominator"] for r in t8} == {"4"}
    assert t8[2]["pct_at_least_k"] == "25.0"
    assert all(r["period_start"] == P_START and r["period_end"] == P_END for r in t8)
    # indicators per child: K1 6, K2 1 (I04), K3 1 (I16: offence 71 is sexual, not rape), K4 2
    # (I06E, I06F)
    t9 = published(con, "table9_indicators")
    assert [r["k_label"] for r in t9][-1] == "7+"
    exactly = [int(r["children_exactly_k"]) for r in t9]
    at_least = [int(r["children_at_least_k"]) for r in t9]
    assert exactly == [2, 1, 0, 0, 0, 1, 0]
    assert sum(exactly) == at_least[0] == 4
    assert at_least == sorted(at_least, reverse=True)
    assert "I19" in t9[0]["indicators_not_available"]     # school feed never delivered
    assert "SCHOOL_ABSENCE" in t8[0]["datasets_not_available"]


def test_indicator_drivers_show_what_each_table9_row_is_made_of():
    """Per indicator, its children by their number of indicators in all: K1 (6 indicators) is
    in six indicators' "3+" rows, K4 (2) in two "2" rows, K2 and K3 (1 each) in one "1" row;
    the rows add up to Table 9 exactly as the equations tied into the suppression say."""
    con = new_warehouse()
    build_cohort(con)
    run_all(con, {"publication": {"disclosure": {"threshold": 1},
                                  "table9_drivers": {"min_children": 1}}})
    rows = published(con, "indicator_drivers")
    assert {r["k_label"] for r in rows} == {"1", "2", "3+"}
    by = {(r["indicator"], r["k"]): r for r in rows}
    t9 = {int(r["k"]): r for r in published(con, "table9_indicators")}
    exactly = {k: sum(int(r["children_exactly_k"]) for (_i, kk), r in by.items() if kk == k)
               for k in (1, 2, 3)}
    assert exactly == {1: 2, 2: 2, 3: 6}
    for k in (1, 2):
        assert exactly[k] == k * int(t9[k]["children_exactly_k"])
    assert by[("I04", 1)]["children_exactly_k"] == "1"
    assert by[("I06F", 2)]["children_exactly_k"] == "1"
    assert by[("I06F", 1)]["pct_of_children_at_least_k"] == "25.0"     # 1 of 4
    breakdown = {r["indicator"]: r["children"] for r in published(con, "indicator_breakdown")
                 if (r["age_band"], r["sex"], r["ethnicity_group"]) == ("All",) * 3}
    for (code, k), r in by.items():
        if k == 1:
            assert r["children_at_least_k"] == breakdown[code], code


def test_breakdown_margins_add_up_before_suppression():
    con = new_warehouse()
    build_cohort(con)
    run_all(con)
    s = load_settings()
    dims = breakdown_dimensions(s)
    values = dict(con.execute(
        "SELECT cell_id, value FROM mart.publication_cell WHERE cell_id LIKE 'breakdown|%'"
    ).fetchall())
    indicators = {cid.split("|")[1] for cid in values}
    assert {"ANY", "I17", "I27", "I06F"} <= indicators and "I19" not in indicators
    levels = [d + ["All"] for d in dims]
    for ind in indicators:
        cell = {tuple(k.split("|")[2:]): v for k, v in values.items() if k.split("|")[1] == ind}
        assert len(cell) == len(levels[0]) * len(levels[1]) * len(levels[2])
        for combo in itertools.product(*levels):
            for dim, cats in enumerate(dims):
                if combo[dim] != "All":
                    continue
                parts = [combo[:dim] + (c,) + combo[dim + 1:] for c in cats]
                assert cell[combo] == sum(cell[p] for p in parts)
    n_with = {"ANY": 4, "I17": 1, "I27": 1, "I06F": 1, "I04": 1}
    for ind, n in n_with.items():
        assert values[f"breakdown|{ind}|All|All|All"] == n
    assert values["breakdown|I27|14-15|Female|White"] == 1
    assert values["breakdown|I06F|16-17|Male|Not recorded"] == 1


def test_published_cells_are_suppressed_text():
    con = new_warehouse()
    build_cohort(con)
    summary = run_all(con)
    assert summary["primary_suppressed"] > 0
    breakdown = published(con, "indicator_breakdown")
    assert {r["children"] for r in breakdown} <= {"c", ":", "0"}   # every non-zero count is < 5
    na = [r for r in breakdown if r["indicator"] == "I19"]
    assert na and {r["children"] for r in na} == {":"}
    assert {r["indicator_status"] for r in na} == {"not_available"}
    cells = con.execute("SELECT value, suppressed, printed FROM mart.publication_cell"
                        ).fetchall()
    assert all(s for v, s, _p in cells if is_primary(v, 5))
    assert not any(s for v, s, p in cells if v == 0 and p)      # a printed zero is shown
    assert all(s for _v, s, p in cells if not p)          # a cell never printed is hidden
    types = {r[1] for r in con.execute("DESCRIBE publish.indicator_breakdown").fetchall()
             if r[0] == "children"}
    assert types == {"VARCHAR"}


def bigger_cohort(con, n: int = 60) -> None:
    """n invented children, each looked after and some also missing, spread over the groups."""
    ethnicities = ["WBRI", "WBRI", "BCRB", "APKN", None, "MOTH"]
    for i in range(n):
        add_person(con, "social_care", f"c{i}", dob=date(2008 + i % 10, 1 + i % 12, 1),
                   sex="MF"[i % 2], ethnicity=ethnicities[i % len(ethnicities)])
        add_event(con, "social_care", f"l{i}", f"c{i}", event_type="LAC_EPISODE",
                  start_at=datetime(2025, 5, 1))
        if i % 3 == 0:
            add_event(con, "social_care", f"m{i}", f"c{i}", event_type="MISSING",
                      missing_type="AWAY", start_at=datetime(2025, 6, 1, 20))
    link(con, {f"social_care:c{i}": f"K{i}" for i in range(n)})


def test_secondary_suppression_is_applied_and_checked_on_publication():
    con = new_warehouse()
    bigger_cohort(con)
    summary = run_all(con)
    assert summary["secondary_suppressed"] > 0
    published_any = published(con, "table8_datasets")
    assert published_any[0]["denominator"] == "60"
    t8 = {r["k"]: r for r in published_any}
    # 40 children in one data set, 20 in two (LAC + MISSING_LA)
    assert (t8[1]["children_exactly_k"], t8[2]["children_exactly_k"]) == ("40", "20")
    # the shared total is one cell: published the same in all three tables
    t9 = published(con, "table9_indicators")
    grand = [r["children"] for r in published(con, "indicator_breakdown")
             if r["indicator"] == "ANY" and r["age_band"] == r["sex"] == r["ethnicity_group"]
             == "All"]
    assert grand == [t9[0]["denominator"]] == ["60"]


def test_publication_fails_when_the_check_fails(monkeypatch):
    """If suppression ever left a derivable cell, nothing may be published."""
    import warehouse.publish as publish_module
    from warehouse.disclosure import Cell

    con = new_warehouse()
    bigger_cohort(con)
    derive(con)
    build_marts(con, as_of=P_END)

    def primary_only(cells, equations, threshold, **_options):
        return {c.id: Cell(c.id, c.value, c.level, is_primary(c.value, threshold), None)
                for c in cells}

    monkeypatch.setattr(publish_module, "suppress", primary_only)
    with pytest.raises(DisclosureError, match="derivable"):
        publish_tables(con, as_of=P_END)
    assert scalar(con, "SELECT count(*) FROM publish.indicator_breakdown") == 0
    assert scalar(con, "SELECT count(*) FROM mart.publication_cell") == 0


def test_threshold_setting_changes_publication():
    con = new_warehouse()
    bigger_cohort(con)
    loose = run_all(con, NO_SUPPRESSION)
    # as in a fresh warehouse: the loose tables never went out (printed counts cannot be taken
    # back, so the published history would refuse the strict publication)
    con.execute("DELETE FROM meta.published_cell")
    strict = run_all(con, {"publication": {"disclosure": {"threshold": 25}}})
    assert loose["primary_suppressed"] == 0
    assert strict["primary_suppressed"] > 0
    t8 = {r["k"]: r for r in published(con, "table8_datasets")}
    assert t8[2]["children_exactly_k"] == "c"      # 20 < 25


# ---------------------------------------------------------------- export


def test_export_csv(tmp_path):
    con = new_warehouse()
    bigger_cohort(con)
    run_all(con)
    # a value a spreadsheet would run as a formula, in a table of our own
    insert(con, "publish.indicator_status", {
        "period_start": date(2025, 4, 1), "period_end": date(2026, 3, 31), "feed": "LA",
        "indicator": "IZZ", "inquiry_number": "0", "indicator_label": "label", "dataset": "CP",
        "status": "zero", "note": '=HYPERLINK("x")'})
    paths = export_csv(con, tmp_path / "out")
    names = sorted(p.name for p in paths)
    assert names == ["data_completeness.csv", "feed_overlap.csv", "indicator_breakdown.csv",
                     "indicator_drivers.csv", "indicator_status.csv", "linkage_summary.csv",
                     "missing_episodes.csv",
                     "table8_datasets.csv", "table9_indicators.csv"]
    with (tmp_path / "out" / "indicator_breakdown.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and {r["children"] for r in rows} <= {"c", ":"} | {
        r["children"] for r in rows if re.fullmatch(r"\d+", r["children"])}
    assert "c" in {r["children"] for r in rows}
    with (tmp_path / "out" / "indicator_status.csv").open(newline="") as fh:
        notes = [r["note"] for r in csv.DictReader(fh)]
    assert "'=HYPERLINK(\"x\")" in notes
    assert not any(n.startswith("=") for n in notes)
    text = (tmp_path / "out" / "table8_datasets.csv").read_text()
    assert "2025-04-01" in text
    assert guard_cell("-3") == "'-3" and guard_cell("@x") == "'@x" and guard_cell("+1") == "'+1"
    assert guard_cell("12") == "12" and guard_cell(None) == ""


def test_nothing_delivered_publishes_not_available_rather_than_zero():
    con = new_warehouse()
    link(con, {})
    summary = run_all(con)
    assert len(summary["indicators_not_available"]) == len(load_settings().indicators)
    t8 = published(con, "table8_datasets")
    assert {r["children_at_least_k"] for r in t8} == {":"}
    assert {r["denominator"] for r in published(con, "table9_indicators")} == {":"}
    assert {r["children"] for r in published(con, "indicator_breakdown")} == {":"}


ROUNDED = {"publication": {"disclosure": {"rounding": "nearest_5"}}}


def test_rounding_option_publishes_counts_rounded_to_5_after_suppression():
    from warehouse.disclosure import round_count

    con = new_warehouse()
    bigger_cohort(con)
    exact = run_all(con)
    exact_cells = con.execute(
        "SELECT cell_id, suppressed FROM mart.publication_cell ORDER BY cell_id").fetchall()
    summary = run_all(con, ROUNDED)
    assert summary["rounding"] == "nearest_5"
    cells = {r[0]: r[1:] for r in con.execute(
        "SELECT cell_id, value, suppressed FROM mart.publication_cell").fetchall()}
    # the same cells are suppressed with and without rounding (it comes afterwards)
    assert sorted((c, s) for c, (_v, s) in cells.items()) == exact_cells
    assert exact["secondary_suppressed"] == summary["secondary_suppressed"]
    counts = []
    for table, columns in [("table8_datasets", ["children_at_least_k", "children_exactly_k",
                                                "denominator"]),
                           ("table9_indicators", ["children_at_least_k", "children_exactly_k"]),
                           ("indicator_breakdown", ["children"]),
                           ("missing_episodes", ["value", "denominator"]),
                           ("feed_overlap", ["children"]),
                           ("linkage_summary", ["records", "children"]),
                           ("data_completeness", ["records", "recorded", "not_recorded"])]:
        for row in published(con, table):
            counts += [row[c] for c in columns if re.fullmatch(r"\d+", row[c])]
    assert counts and all(int(v) % 5 == 0 for v in counts)
    # every published count is its own true value rounded; totals too (not sums of parts)
    t8 = {r["k"]: r for r in published(con, "table8_datasets")}
    assert cells["t8|ge|1"][0] == 60 and t8[1]["denominator"] == "60"
    breakdown = [r for r in published(con, "indicator_breakdown")
                 if r["indicator"] == "ANY" and r["children"] not in ("c", ":")]
    for r in breakdown:
        value = cells["|".join(["breakdown", "ANY", r["age_band"], r["sex"],
                                r["ethnicity_group"]])][0]
        assert r["children"] == str(round_count(value, 5))
    assert any(int(r["children"]) != cells["|".join(
        ["breakdown", "ANY", r["age_band"], r["sex"], r["ethnicity_group"]])][0]
        for r in breakdown)                               # some count really was rounded
    # percentages are of the rounded counts
    for r in t8.values():
        if r["pct_at_least_k"] not in ("c", ":", "z"):
            assert r["pct_at_least_k"] == f"{100 * int(r['children_at_least_k']) / 60:.1f}"
