"""Indicator derivation on small hand-built staging tables (invented children and events)."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest

from tests.builders.warehouse_rows import (
    P_START,
    add_event,
    add_extract,
    add_person,
    derive,
    link,
    new_warehouse,
)
from warehouse.db import scalar
from warehouse.indicators import derive_indicator_events
from warehouse.settings import SettingsError, load_settings

# ---------------------------------------------------------------- helpers


def events(con, indicator: str) -> list[tuple]:
    return con.execute(
        "SELECT record_key, event_date, detail FROM staging.indicator_event "
        "WHERE indicator = ? ORDER BY record_key, event_date",
        [indicator],
    ).fetchall()


def keys(con, indicator: str) -> set[str]:
    return {row[0] for row in events(con, indicator)}


def status(con, indicator: str) -> str:
    return scalar(con, "SELECT status FROM meta.indicator_status WHERE indicator = ?", [indicator])


# ---------------------------------------------------------------- the catalogue


def test_catalogue_is_consistent():
    s = load_settings()
    matched = sorted(code for code, d in s.datasets.items() if d.inquiry_matched)
    assert matched == sorted(
        ["CME", "HOSTEL", "MISSING_LA", "CP", "LAC", "YOT", "SEX_CRIME", "MISSING_POL"]
    )
    yot = [c for c, i in s.indicators.items() if i.code.startswith("I06")]
    assert len(yot) == 10 and all(s.indicators[c].dataset == "YOT" for c in yot)
    assert s.indicators["I19"].params["threshold_percent"] == 10
    assert s.indicators["I18A"].params["window_days"] == 90
    assert s.indicators["I18B"].params["window_days"] == 14
    assert s.indicators["I03"].params["max_hours"] == 24
    assert set(s.indicators["I02"].params["placement_types"]) == {
        "HOSTEL", "BED_AND_BREAKFAST", "SEMI_INDEPENDENT", "INDEPENDENT"}
    assert s.indicators["I19"].params["school_types"] == ["PRIMARY", "SECONDARY"]
    assert all(i.sql_path.exists() for i in s.indicators.values())


def test_catalogue_rejects_unknown_dataset_and_missing_variables():
    with pytest.raises(SettingsError):
        load_settings({"indicators": {"I01": {"dataset": "NOPE"}}})
    # a rule that reads a variable the catalogue does not give must fail, not read NULL
    con = new_warehouse()
    add_person(con, "police", "p1", dob=date(2010, 1, 1))
    add_event(con, "police", "r1", "p1", occurrence_type="MISSING",
              reported_at=datetime(2025, 6, 1, 10))
    broken = {"indicators": {"I18A": {"params": {"window_days": None}}}}
    s = load_settings(broken)
    s.indicators["I18A"].params.pop("window_days")
    with pytest.raises(SettingsError, match="window_days"):
        derive(con, settings=s)


# ---------------------------------------------------------------- status: supplied / zero / n.a.


def test_feed_absent_is_not_available_and_present_without_hits_is_zero():
    con = new_warehouse()
    add_person(con, "police", "p1", dob=date(2010, 1, 1))
    add_event(con, "police", "c1", "p1", occurrence_type="CRIME", role="VICTIM",
              reported_at=datetime(2025, 6, 1), offence_date=date(2025, 6, 1),
              offence_code="46", suspect_count=1)
    summary = derive(con)
    assert status(con, "I17") == "zero"          # police delivered, no missing reports
    assert status(con, "I16") == "zero"
    assert status(con, "I03") == "not_available"  # social care never delivered
    assert status(con, "I19") == "not_available"
    assert summary["status"]["I06A"] == "not_available"
    note = scalar(con, "SELECT note FROM meta.indicator_status WHERE indicator = 'I03'")
    assert "LA" in note
    add_event(con, "police", "m1", "p1", occurrence_type="MISSING", role="SUBJECT",
              reported_at=datetime(2025, 7, 1, 22))
    derive(con)
    assert status(con, "I17") == "supplied"


def test_empty_extract_counts_as_delivered():
    con = new_warehouse()
    add_extract(con, "e1", "yot", datetime.now(), map_name="m", file_name="f.csv",
                archive_path="a", rows_in=0, rows_loaded=0)
    derive(con)
    assert status(con, "I06A") == "zero"


def test_column_never_recorded_is_not_available():
    con = new_warehouse()
    add_person(con, "social_care", "c1", dob=date(2010, 1, 1))
    add_event(con, "social_care", "r1", "c1", event_type="REFERRAL",
              start_at=datetime(2025, 5, 1))
    derive(con)
    assert status(con, "I04") == "not_available"  # no referral factors anywhere in the feed
    assert status(con, "I27") == "zero"
    add_event(con, "social_care", "r2", "c1", event_type="REFERRAL",
              start_at=datetime(2025, 6, 1), factors=["NEGLECT"])
    derive(con)
    assert status(con, "I04") == "zero"


def test_rerun_replaces_the_period():
    con = new_warehouse()
    add_person(con, "social_care", "c1", dob=date(2010, 1, 1))
    add_event(con, "social_care", "l1", "c1", event_type="LAC_EPISODE",
              start_at=datetime(2025, 5, 1))
    derive(con)
    derive(con)
    assert scalar(con, "SELECT count(*) FROM staging.indicator_event") == 1
    assert scalar(con, "SELECT count(*) FROM meta.indicator_status WHERE indicator='I27'") == 1


# ---------------------------------------------------------------- social care


def test_missing_from_care_under_24_hours():
    con = new_warehouse()
    add_person(con, "social_care", "c1", dob=date(2010, 1, 1))
    start = datetime(2025, 6, 1, 20, 0)
    cases = {
        "just_under": dict(missing_type="MISSING", end_at=datetime(2025, 6, 2, 19, 59)),
        "exactly_24": dict(missing_type="MISSING", end_at=datetime(2025, 6, 2, 20, 0)),
        "away_short": dict(missing_type="AWAY", end_at=datetime(2025, 6, 1, 22, 0)),
        "open": dict(missing_type="MISSING"),
        "from_home": dict(missing_type="MISSING", missing_from="HOME",
                          end_at=datetime(2025, 6, 1, 23, 0)),
        "no_from": dict(missing_type="MISSING", end_at=datetime(2025, 6, 1, 21, 0)),
        "before_period": dict(missing_type="MISSING", end_at=datetime(2025, 3, 31, 23, 0)),
    }
    for rid, cols in cases.items():
        begin = datetime(2025, 3, 31, 20, 0) if rid == "before_period" else start
        cols.setdefault("missing_from", "CARE") if rid != "no_from" else None
        add_event(con, "social_care", rid, "c1", event_type="MISSING", start_at=begin, **cols)
    derive(con)
    assert keys(con, "I03") == {"social_care:just_under", "social_care:no_from"}
    assert keys(con, "I28") == {"social_care:just_under", "social_care:exactly_24",
                                "social_care:away_short", "social_care:open",
                                "social_care:no_from"}
    details = {k: json.loads(d) for k, _, d in events(con, "I28")}
    assert details["social_care:away_short"]["missing_type"] == "AWAY"
    assert details["social_care:open"]["open"] is True


def test_episodes_overlapping_the_period():
    con = new_warehouse()
    add_person(con, "social_care", "c1", dob=date(2009, 5, 1))
    add_event(con, "social_care", "hostel_open", "c1", event_type="PLACEMENT",
              placement_type="HOSTEL", start_at=datetime(2024, 12, 1))
    add_event(con, "social_care", "bnb_ended", "c1", event_type="PLACEMENT",
              placement_type="BED_AND_BREAKFAST", start_at=datetime(2024, 1, 1),
              end_at=datetime(2025, 3, 31))
    add_event(con, "social_care", "foster", "c1", event_type="PLACEMENT",
              placement_type="FOSTER", start_at=datetime(2025, 5, 1))
    add_event(con, "social_care", "semi", "c1", event_type="PLACEMENT",
              placement_type="SEMI_INDEPENDENT", start_at=datetime(2026, 3, 31))
    add_event(con, "social_care", "lac", "c1", event_type="LAC_EPISODE",
              start_at=datetime(2023, 1, 1), end_at=datetime(2025, 4, 1))
    add_event(con, "social_care", "cme", "c1", event_type="CME",
              start_at=datetime(2025, 9, 10))
    add_event(con, "social_care", "cp_sab", "c1", event_type="CP_PLAN", cp_category="SAB",
              start_at=datetime(2025, 2, 1))
    add_event(con, "social_care", "cp_neg", "c1", event_type="CP_PLAN", cp_category="NEG",
              start_at=datetime(2025, 2, 1))
    derive(con)
    assert keys(con, "I02") == {"social_care:hostel_open", "social_care:semi"}
    assert dict((k, d) for k, d, _ in events(con, "I02"))["social_care:hostel_open"] == P_START
    assert keys(con, "I27") == {"social_care:lac"}
    assert keys(con, "I01") == {"social_care:cme"}
    assert keys(con, "I30") == {"social_care:cp_sab"}


def test_referral_factors_and_child_in_need():
    con = new_warehouse()
    add_person(con, "social_care", "c1", dob=date(2011, 2, 3))
    add_event(con, "social_care", "ref_cse", "c1", event_type="REFERRAL",
              start_at=datetime(2025, 5, 1), factors=["CSE", "MISSING"])
    add_event(con, "social_care", "icpc", "c1", event_type="CP_CONFERENCE",
              start_at=datetime(2025, 5, 20))
    add_event(con, "social_care", "ref_gang", "c1", event_type="REFERRAL",
              start_at=datetime(2025, 8, 1), factors=["GANGS"])
    add_event(con, "social_care", "asmt_cse", "c1", event_type="ASSESSMENT",
              start_at=datetime(2025, 5, 15), factors=["CSE"], primary_need="N1",
              cp_followed=True)
    add_event(con, "social_care", "asmt_n9", "c1", event_type="ASSESSMENT",
              start_at=datetime(2025, 6, 15), primary_need="N9")
    derive(con)
    assert keys(con, "I04") == {"social_care:ref_cse"}   # referrals only, not assessments
    detail = json.loads(events(con, "I04")[0][2])
    assert detail["cp_conference_followed"] is True and detail["cp_plan_followed"] is False
    assert keys(con, "I05") == {"social_care:ref_gang"}
    assert keys(con, "I31") == {"social_care:asmt_cse"}


def test_aged_18_at_event_is_excluded_and_counted():
    con = new_warehouse()
    add_person(con, "social_care", "young", dob=date(2008, 6, 1))
    add_person(con, "social_care", "leap", dob=date(2008, 2, 29))
    add_event(con, "social_care", "before_18", "young", event_type="CME",
              start_at=datetime(2026, 5, 31), end_at=None)
    add_event(con, "social_care", "turned_18", "young", event_type="REFERRAL",
              start_at=datetime(2026, 6, 1), factors=["CSE"])
    # born 29 Feb 2008: still 17 on 28 Feb 2026, 18 on 1 March 2026
    add_event(con, "social_care", "leap_17", "leap", event_type="REFERRAL",
              start_at=datetime(2026, 2, 28), factors=["CSE"])
    add_event(con, "social_care", "leap_18", "leap", event_type="REFERRAL",
              start_at=datetime(2026, 3, 1), factors=["CSE"])
    summary = derive_indicator_events(con, period_start=date(2025, 7, 1),
                                      period_end=date(2026, 6, 30))
    assert keys(con, "I04") == {"social_care:leap_17"}
    assert summary["excluded"]["I04"]["aged_18_plus"] == 2
    assert scalar(con, "SELECT excluded_aged_18_plus FROM meta.indicator_status "
                       "WHERE indicator = 'I04'") == 2
    assert keys(con, "I01") == {"social_care:before_18"}


# ---------------------------------------------------------------- YOT


def test_yot_flags():
    con = new_warehouse()
    add_person(con, "yot", "y1", dob=date(2009, 1, 1))
    add_event(con, "yot", "a1", "y1", assessment_date=date(2025, 9, 1),
              breach_non_compliance=True, absconding=False, sexually_inappropriate_behaviour=True,
              convicted_sexual_offence=True)
    add_event(con, "yot", "a0", "y1", assessment_date=date(2025, 3, 1), no_fixed_abode=True)
    derive(con)
    hit = {code for code in load_settings().indicators if keys(con, code)}
    assert hit == {"I06A", "I06J", "I46"}
    assert status(con, "I06E") == "zero"


# ---------------------------------------------------------------- police crime


def crime(con, rid, person, **cols):
    base = dict(occurrence_type="CRIME", role="VICTIM", reported_at=datetime(2025, 10, 2, 9),
                offence_date=date(2025, 10, 1))
    base.update(cols)
    return add_event(con, "police", rid, person, **base)


def test_rape_suspect_counts():
    con = new_warehouse()
    add_person(con, "police", "v1", dob=date(2010, 4, 4))
    crime(con, "multi", "v1", offence_code="19D", suspect_count=3)
    crime(con, "unknown", "v1", offence_code="19D", suspect_count=None)
    crime(con, "single", "v1", offence_code="19E", suspect_count=1, intrafamilial=False)
    crime(con, "single_nr", "v1", offence_code="19G", suspect_count=1)
    crime(con, "family", "v1", offence_code="19D", suspect_count=1, intrafamilial=True)
    crime(con, "suspect_role", "v1", offence_code="19D", suspect_count=2, role="SUSPECT")
    derive(con)
    assert keys(con, "I14") == {"police:multi"}
    assert keys(con, "I15") == {"police:single", "police:single_nr"}
    # every rape of a child is also a sexual offence against a child
    assert {"police:multi", "police:unknown", "police:family"} <= keys(con, "I16")
    assert "police:suspect_role" not in keys(con, "I16")


def test_victim_age_rules():
    con = new_warehouse()
    add_person(con, "police", "child", dob=date(2010, 4, 4))
    add_person(con, "police", "adult", dob=date(2007, 9, 30))   # 18 on the offence date
    add_person(con, "police", "nodob")
    crime(con, "child_19c", "child", offence_code="19C", suspect_count=2)
    crime(con, "adult_19c", "adult", offence_code="19C", suspect_count=2)
    crime(con, "nodob_19c", "nodob", offence_code="19C", suspect_count=2)  # adult possible
    crime(con, "nodob_19d", "nodob", offence_code="19D", suspect_count=2)  # child by definition
    summary = derive(con)
    assert keys(con, "I14") == {"police:child_19c", "police:nodob_19d"}
    assert summary["excluded"]["I14"] == {"aged_18_plus": 1, "victim_age_unknown": 1}
    row = con.execute("SELECT excluded_aged_18_plus, excluded_age_unknown "
                      "FROM meta.indicator_status WHERE indicator = 'I14'").fetchall()
    assert row == [(1, 1)]


def test_sexual_offence_paths():
    con = new_warehouse()
    add_person(con, "police", "v1", dob=date(2011, 1, 1))
    add_person(con, "police", "v2")
    crime(con, "code_only", "v1", offence_code="88A")
    crime(con, "flag_only", "v1", offence_code="8N", cse_flag=True)
    crime(con, "both", "v1", offence_code="71", cse_flag=True)
    crime(con, "neither", "v1", offence_code="46", cse_flag=False)
    crime(con, "flag_nodob", "v2", offence_code="105A", cse_flag=True)
    crime(con, "old", "v1", offence_code="88A", offence_date=date(2024, 1, 1))
    crime(con, "recorded_only", "v1", offence_code="88A", offence_date=None,
          reported_at=datetime(2025, 12, 1, 10))
    derive(con)
    paths = {k: json.loads(d)["path"] for k, _, d in events(con, "I16")}
    assert paths == {"police:code_only": "offence_code", "police:flag_only": "cse_flag",
                     "police:both": "offence_code+cse_flag", "police:flag_nodob": "cse_flag",
                     "police:recorded_only": "offence_code"}
    dates = {k: d for k, d, _ in events(con, "I16")}
    assert dates["police:recorded_only"] == date(2025, 12, 1)


# ---------------------------------------------------------------- police missing


def missing_report(con, rid, person, when: datetime, **cols):
    base = dict(occurrence_type="MISSING", role="SUBJECT", reported_at=when)
    base.update(cols)
    return add_event(con, "police", rid, person, **base)


def test_repeat_missing_windows():
    con = new_warehouse()
    add_person(con, "police", "a", dob=date(2012, 1, 1))
    add_person(con, "police", "b", dob=date(2012, 1, 1))
    add_person(con, "police", "c", dob=date(2012, 1, 1))
    # a: three reports spanning 15 days (day 0, 7, 15): within 90 days, not within 14
    for i, day in enumerate([1, 8, 16]):
        missing_report(con, f"a{i}", "a", datetime(2025, 6, day, 21))
    # b: three reports on days 0, 6, 13: within 14 consecutive days
    for i, day in enumerate([1, 7, 14]):
        missing_report(con, f"b{i}", "b", datetime(2025, 6, day, 21))
    # c: two missing reports and an ABSENT report, which is a different definition
    missing_report(con, "c0", "c", datetime(2025, 6, 1, 21))
    missing_report(con, "c1", "c", datetime(2025, 6, 2, 21))
    missing_report(con, "c2", "c", datetime(2025, 6, 3, 21), occurrence_type="ABSENT")
    derive(con)
    assert keys(con, "I18A") == {"police:a2", "police:b2"}
    assert keys(con, "I18B") == {"police:b2"}
    assert keys(con, "I17") == {f"police:{p}{i}" for p in "ab" for i in range(3)} | {
        "police:c0", "police:c1"}
    assert json.loads(events(con, "I18A")[0][2])["reports_in_window"] == 3


def test_repeat_missing_window_thresholds_are_configuration():
    con = new_warehouse()
    add_person(con, "police", "a", dob=date(2012, 1, 1))
    for i, day in enumerate([1, 8, 16]):
        missing_report(con, f"a{i}", "a", datetime(2025, 6, day, 21))
    derive(con, settings={"indicators": {"I18B": {"params": {"window_days": 16}}}})
    assert keys(con, "I18B") == {"police:a2"}
    derive(con, settings={"indicators": {"I18A": {"params": {"min_reports": 4}}}})
    assert keys(con, "I18A") == set()


def test_repeat_missing_counts_across_linked_records():
    con = new_warehouse()
    add_person(con, "police", "n1", dob=date(2012, 1, 1))
    add_person(con, "police", "n2", dob=date(2012, 1, 1))
    missing_report(con, "r1", "n1", datetime(2025, 6, 1, 21))
    missing_report(con, "r2", "n2", datetime(2025, 6, 3, 21))
    missing_report(con, "r3", "n1", datetime(2025, 6, 5, 21))
    missing_report(con, "r3dup", "n2", datetime(2025, 6, 5, 21))  # same report, second record
    derive(con)
    assert keys(con, "I18B") == set()       # unlinked: two records, neither has three
    link(con, {"police:n1": "child-1", "police:n2": "child-1"})
    derive(con)
    assert len(keys(con, "I18B")) == 1      # linked: three distinct reports in five days
    assert json.loads(events(con, "I18B")[0][2])["reports_in_window"] == 3


# ---------------------------------------------------------------- school


def attendance(con, rid, pupil, year, term, possible, authorised, unauthorised,
               school_type="SECONDARY"):
    return add_event(con, "school", rid, pupil, record_type="ATTENDANCE", school_type=school_type,
                     academic_year=year, term=term, sessions_possible=possible,
                     sessions_authorised_absence=authorised,
                     sessions_unauthorised_absence=unauthorised)


def test_persistent_absence_threshold_and_terms():
    con = new_warehouse()
    for p in ("at", "below", "special", "old"):
        add_person(con, "school", p, dob=date(2012, 3, 3))
    # period Apr 2025 - Mar 2026 holds 2024/25 SUM, 2025/26 AUT and SPR
    attendance(con, "at1", "at", "2024/25", "SUM", 100, 5, 5)     # 10 of 100
    attendance(con, "at2", "at", "2025/26", "AUT", 140, 10, 4)    # 14 of 140
    attendance(con, "at3", "at", "2025/26", "SPR", 60, 2, 4)      # 6 of 60 -> 30/300 = 10%
    attendance(con, "at_old", "at", "2024/25", "SPR", 100, 0, 0)  # before the period
    attendance(con, "b1", "below", "2025/26", "AUT", 300, 20, 9)  # 29/300 < 10%
    attendance(con, "b2", "below", "2025/26", "SPR", 100, None, 40)  # incomplete term, left out
    attendance(con, "s1", "special", "2025/26", "AUT", 100, 20, 0, school_type="PRU")
    attendance(con, "o1", "old", "2024/25", "AUT", 100, 50, 0)    # only outside the period
    derive(con)
    assert keys(con, "I19") == {"school:at3"}
    detail = json.loads(events(con, "I19")[0][2])
    assert (detail["terms"], detail["sessions_possible"], detail["sessions_absent"]) == (3, 300, 30)
    assert keys(con, "I20") == {"school:s1"}
    derive(con, settings={"indicators": {"I19": {"params": {"threshold_percent": 9.6}}}})
    assert keys(con, "I19") == {"school:at3", "school:b1"}
    derive(con, settings={"indicators": {"I19": {"params": {"threshold_percent": 15}}}})
    assert keys(con, "I19") == set()


def test_exclusion_reasons():
    con = new_warehouse()
    add_person(con, "school", "p1", dob=date(2011, 3, 3))
    for rid, reason, school_type in [("e1", "SM", "SECONDARY"), ("e2", "PP", "PRU"),
                                     ("e3", "DA", "SPECIAL"), ("e4", "VA", "SECONDARY")]:
        add_event(con, "school", rid, "p1", record_type="EXCLUSION", school_type=school_type,
                  academic_year="2025/26", exclusion_category="FIXED", exclusion_reason=reason,
                  exclusion_start=date(2025, 11, 5), exclusion_sessions=4)
    derive(con)
    assert keys(con, "I21") == {"school:e1"}
    assert keys(con, "I22") == {"school:e2"}
    assert json.loads(events(con, "I22")[0][2])["school_type"] == "PRU"
    assert keys(con, "I23") == {"school:e3"}
