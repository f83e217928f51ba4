"""Small invented cohorts written straight into staging, shared by the publication-table,
return, report and analyst tests."""

from __future__ import annotations

from datetime import date, datetime

from tests.builders.warehouse_rows import add_event, add_person, link


def build_missing_cohort(con) -> None:
    """Child M1 (social care s1 + police n1), child M2 (social care s2), child M3 (police n3),
    child M4 (school only), and an unlinked school record."""
    add_person(con, "social_care", "s1", dob=date(2011, 1, 1), sex="F", ethnicity="WBRI")
    add_person(con, "police", "n1", dob=date(2011, 1, 1), sex="F")
    add_person(con, "social_care", "s2", dob=date(2012, 1, 1), sex="M")
    add_person(con, "police", "n3", dob=date(2010, 5, 5), sex="M")
    add_person(con, "school", "p4", dob=date(2013, 2, 2), sex="F", ethnicity="APKN")
    add_person(con, "school", "p5")
    sc = dict(event_type="MISSING", missing_type="MISSING")
    # s1: three episodes from care within 14 days; RHIs: accepted on time, late, declined
    add_event(con, "social_care",
              "e1", "s1", missing_from="CARE", start_at=datetime(2025, 5, 1, 20),
              end_at=datetime(2025, 5, 2, 8), rhi_offered=True, rhi_accepted=True,
              rhi_date=date(2025, 5, 4), **sc)
    add_event(con, "social_care",
              "e2", "s1", missing_from="CARE", start_at=datetime(2025, 5, 6, 20),
              end_at=datetime(2025, 5, 8, 8), rhi_offered=True, rhi_accepted=True,
              rhi_date=date(2025, 5, 20), **sc)
    add_event(con, "social_care",
              "e3", "s1", missing_from="HOME", start_at=datetime(2025, 5, 10, 20),
              end_at=datetime(2025, 5, 11, 1), rhi_offered=True, rhi_accepted=False,
              rhi_declined_reason="did not want one", event_type="MISSING", missing_type="AWAY")
    # s2: two episodes 60 days apart, one still open, no RHI offered; one before the period
    add_event(con, "social_care",
              "e4", "s2", missing_from="HOME", start_at=datetime(2025, 7, 1, 20),
              end_at=datetime(2025, 7, 3, 9), **sc)
    add_event(con, "social_care",
              "e5", "s2", missing_from="HOME", start_at=datetime(2025, 8, 30, 20),
              **sc)
    add_event(con, "social_care",
              "e6", "s2", missing_from="HOME", start_at=datetime(2025, 3, 1, 20),
              end_at=datetime(2025, 3, 2, 9), **sc)
    # police: n1 three reports within 90 but not 14 days; n3 one report from home
    for i, day in enumerate([(6, 1), (7, 1), (8, 15)]):
        add_event(con, "police", f"r{i}", "n1", occurrence_type="MISSING", role="SUBJECT",
                  missing_from="CARE", reported_at=datetime(2025, *day, 23),
                  missing_since=datetime(2025, *day, 21), found_at=datetime(2025, *day, 23, 30))
    add_event(con, "police", "r9", "n3", occurrence_type="MISSING", role="SUBJECT",
              missing_from="HOME", reported_at=datetime(2025, 9, 1, 10),
              missing_since=datetime(2025, 9, 1, 8))
    link(con, {"social_care:s1": "M1", "police:n1": "M1", "social_care:s2": "M2",
               "police:n3": "M3", "school:p4": "M4"})
