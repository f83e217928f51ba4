"""Identifier chains in linkage (issue 11, linkage): records with only identifiers, a date of
birth and a sex (CIN census, SSDA903) link on their identifiers, through a child's former UPN
and case-insensitive LA child ids, and never on a date of birth and sex alone. Invented records
only (tests/builders/linkage_records.py)."""

from __future__ import annotations

from linkage.pipeline import run_linkage
from tests.builders.linkage_records import background, load_staging, person, upn
from warehouse.db import connect
from warehouse.schema import create_schema

OLD, NEW = upn("203400121001"), upn("203500121777")


def _nameless(key: str, dob: str, sex: str, **ids: str) -> dict:
    former = ids.pop("former_upn", None)
    return {**person(key, None, None, dob, sex, **ids), "former_upn": former}


RECORDS = [
    # last year's school census knew the child by the old UPN; the CIN census has the new one
    # and the old as former UPN; the 903 return has the LA child id in another case
    person("school:P1", "MAISIE", "THORNBURY", "2013-06-14", "F", "ZX2 4RT", "3 LARK RISE",
           upn=OLD),
    _nameless("cin_census:C1", "2013-06-14", "F", upn=NEW, former_upn=OLD, la_child_id="la77b"),
    _nameless("ssda903:LA77B", "2013-06-14", "F", la_child_id="LA77B"),
    # a child in need with no UPN, and a different child born the same day, of the same sex
    _nameless("cin_census:C2", "2012-02-29", "M", la_child_id="LA88"),
    person("school:P2", "RUFUS", "ELLINGHAM", "2012-02-29", "M", "ZX5 1AA", "9 WREN ROAD"),
]
# a blocking rule on the date of birth alone and a low threshold, as a partnership might set,
# so that the same-day pair is scored above the threshold and the rule alone keeps it apart
DOB_RULE = {"blocking": {"rules": [{"name": "upn", "keys": [["upn"]]},
                                   {"name": "la_child_id", "keys": ["la_child_id"]},
                                   {"name": "dob", "keys": ["dob"]}]},
            "clustering": {"threshold": 0.02}, "review": {"low": 0.01}}


def _link(records: list[dict], settings: dict | None = None):
    con = connect()
    create_schema(con)
    load_staging(con, records)
    summary = run_linkage(con, settings=settings)
    ids = dict(con.execute("SELECT record_key, person_id FROM linkage.person").fetchall())
    return con, summary, ids


def test_a_nameless_record_links_through_the_former_upn_and_the_la_child_id():
    _, _, ids = _link([*RECORDS, *background(60)])
    assert ids["school:P1"] == ids["cin_census:C1"] == ids["ssda903:LA77B"]


def test_without_the_chain_the_old_and_new_upn_are_different_children():
    unchained = [{**r, "former_upn": None} for r in RECORDS]
    _, _, ids = _link([*unchained, *background(60)])
    assert ids["school:P1"] != ids["cin_census:C1"]


def test_a_date_of_birth_and_sex_alone_never_link_two_records():
    con, summary, ids = _link([*RECORDS, *background(60)], DOB_RULE)
    assert ids["cin_census:C2"] != ids["school:P2"]
    scored = con.execute("SELECT match_rule, match_probability, model_probability FROM "
                         "linkage.pair WHERE record_key_l = 'cin_census:C2' AND "
                         "record_key_r = 'school:P2'").fetchone()
    assert scored[0] == "dob_and_sex_only" and scored[1] == 0.0
    assert scored[2] > 0.02         # the model alone would have linked them
    assert summary["insufficient_evidence_pairs"] >= 1
    off = {**DOB_RULE, "insufficient_evidence": {"only": []}}
    without = _link([*RECORDS, *background(60)], off)[2]
    assert without["cin_census:C2"] == without["school:P2"]


def test_the_cin_census_former_upn_reaches_the_person_columns(tmp_path):
    from datetime import date

    from sources.column_maps import load_maps
    from sources.extract import read_extract
    from sources.synth.statutory import cin_child_xml, cin_header_xml

    child = cin_child_xml({"id": "SYN1", "upn": NEW, "female": True, "dob": date(2013, 6, 14),
                           "referral": date(2025, 6, 1), "ethnicity": "WBRI", "factors": ["11A"],
                           "cp": False, "missing": False, "place": "U1"}, 2026)
    child = child.replace("</UPN>", f"</UPN><FormerUPN>{OLD}</FormerUPN>", 1)
    path = tmp_path / "cin.xml"
    path.write_text(f"<Message>{cin_header_xml(2026)}<Children>{child}</Children></Message>")
    frame = read_extract(path, "social_care", load_maps(), path.name).mapped.frame
    assert set(frame["former_upn"]) == {OLD} and set(frame["upn"]) == {NEW}
