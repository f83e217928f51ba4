"""The DfE CSC API payload reader (issue 11, part 6): the record structure becomes social-care
events, a delta updates (never duplicates) what earlier deliveries sent, a purged child leaves
the next build and every later one (through real nightly runs: staging, linkage and marts), and
a payload that is not JSON or misses a required field is refused naming the file and JSON path.
Synthetic payloads only (sources.synth.csc_api)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from flows import steps
from flows.home import Home
from flows.nightly import nightly
from sources.column_maps import load_maps
from sources.errors import ExtractError
from sources.extract import read_extract
from sources.synth.csc_api import csc_children, deletion, delta, write_payload
from warehouse.db import connect

MAPS = load_maps()
AS_OF = date(2026, 3, 31)


def _read(path: Path, earlier: list[Path] = ()):
    return read_extract(path, "social_care", MAPS, path.name,
                        earlier=[(p, p.name) for p in earlier])


def _assessment(child: dict) -> dict:
    return child["social_care_episodes"][0]["child_and_family_assessments"][0]


def test_the_record_structure_becomes_events_with_the_childs_details(tmp_path):
    children = csc_children(6)
    frame = _read(write_payload(tmp_path / "full.json", children)).mapped.frame
    assert set(frame["event_type"]) == {"REFERRAL", "ASSESSMENT", "CIN_PLAN", "S47_ENQUIRY",
                                        "CP_CONFERENCE", "CP_PLAN", "LAC_EPISODE", "PLACEMENT"}
    first = frame[frame["person_ref"] == "CSC000001"]
    details = children[0]["child_details"]
    assert set(first["first_name"]) == {details["first_name"].upper()}
    assert set(first["upn"]) == {details["unique_pupil_number"]}
    factors = {c for codes in first.loc[first["event_type"] == "ASSESSMENT", "factors_raw"]
               for c in codes.split(",")}
    assert factors == set(_assessment(children[0])["factors"]) - {"21"}


def test_a_delta_updates_an_item_and_adds_new_ones_without_duplicating(tmp_path):
    children = csc_children(4)
    full = write_payload(tmp_path / "a_full.json", children)
    changed = {"child_and_family_assessment_id": _assessment(children[0])[
        "child_and_family_assessment_id"], "factors": ["11A"], "purge": False}
    new = {"child_and_family_assessment_id": "CFA-NEW", "start_date": "2026-02-01",
           "factors": ["13A"]}
    change = write_payload(tmp_path / "b_delta.json", [
        delta(children[0], child_and_family_assessments=[changed, new])])
    before = _read(full).mapped.frame
    after = _read(change, [full]).mapped.frame
    assert len(after) == len(before) + 1                  # the new assessment, nothing twice
    assert after["record_id"].is_unique
    mine = after[(after["person_ref"] == "CSC000001") & (after["event_type"] == "ASSESSMENT")]
    assert sorted(mine["factors_raw"]) == ["11A", "13A"]
    kept = mine[mine["factors_raw"] == "11A"].iloc[0]      # fields the delta did not send stay
    assert str(kept["start_at"].date()) == _assessment(children[0])["start_date"]


def test_purged_items_and_children_are_gone_from_what_is_read(tmp_path):
    children = csc_children(4)
    full = write_payload(tmp_path / "a_full.json", children)
    plan = children[0]["social_care_episodes"][0]["child_in_need_plans"][0]
    change = write_payload(tmp_path / "b_delta.json", [
        delta(children[0], child_in_need_plans=[{**plan, "purge": True}]),
        deletion(children[1])])
    extract = read_extract(change, "social_care", MAPS, change.name, earlier=[(full, "full")])
    frame = extract.mapped.frame
    assert "CSC000002" not in set(frame["person_ref"])
    assert not ((frame["person_ref"] == "CSC000001") & (frame["event_type"] == "CIN_PLAN")).any()


def _refused(path: Path) -> str:
    with pytest.raises(ExtractError) as err:
        _read(path)
    return str(err.value)


def test_a_payload_that_is_not_json_is_refused_naming_the_file_and_place(tmp_path):
    path = tmp_path / "payload.json"
    path.write_text('{"la_code": 999, "Children": [{"la_child_id": "C1",\n "purge": tru}]}')
    assert _refused(path).startswith("payload.json: the payload is not valid JSON: Expecting "
                                     "value at line 2, column 11")


@pytest.mark.parametrize(("cut", "where"), [
    (lambda c: c.pop("la_child_id"), "$.Children[1] is neither a child record"),
    (lambda c: c.update(la_child_id=" "), "$.Children[1].la_child_id is missing or empty"),
    (lambda c: c.pop("child_details"), "$.Children[1].child_details is missing (only a "
                                       "deletion, with purge: true, may leave it out)"),
    (lambda c: c["social_care_episodes"][0]["child_and_family_assessments"][0].pop(
        "child_and_family_assessment_id"),
     "$.Children[1].social_care_episodes[0].child_and_family_assessments[0]"
     ".child_and_family_assessment_id is missing (items are matched across deliveries by it)"),
    (lambda c: _assessment(c).update(factors="11A"),
     "$.Children[1].social_care_episodes[0].child_and_family_assessments[0].factors is not a "
     "list of codes"),
])
def test_a_record_missing_a_required_field_is_refused_naming_its_json_path(tmp_path, cut,
                                                                          where):
    children = csc_children(3)
    cut(children[1])
    problem = _refused(write_payload(tmp_path / "payload.json", children))
    assert problem.startswith(f"payload.json: {where}")
    assert "nothing of the payload was loaded" in problem or "neither" in where


def _deliver(home: Home, name: str, records: list[dict]) -> None:
    write_payload(home.inbox / "csc_api" / name, records)


def _build_state(home: Home) -> dict:
    con = connect(home.live, read_only=True)
    try:
        return {
            "staging": dict(con.execute("SELECT person_key, count(*) FROM staging.social_care "
                                        "GROUP BY 1").fetchall()),
            "records": {k for (k,) in con.execute("SELECT record_key FROM "
                                                  "staging.person_record").fetchall()},
            "linked": {k: p for k, p in con.execute("SELECT record_key, person_id FROM "
                                                    "linkage.person").fetchall()},
            "marts": {p for (p,) in con.execute("SELECT person_id FROM "
                                                "mart.child_profile").fetchall()},
            "cse": con.execute("SELECT count(*) FROM staging.social_care WHERE person_key = "
                               "'csc_api:CSC000001' AND list_contains(factors, 'CSE')"
                               ).fetchone()[0],
        }
    finally:
        con.close()


def test_a_purged_child_leaves_the_next_build_and_every_later_one(prefect_harness, tmp_path):
    home = Home(tmp_path / "home").ensure()
    home.settings_file.write_text("inbox: {settle_seconds: 0}\n"
                                  "feeds: {csc_api: {kind: social_care}}\n")
    children = csc_children(6)
    _deliver(home, "a_full.json", children)
    nightly(home=str(home.root), as_of=AS_OF)
    first = _build_state(home)
    gone = "csc_api:CSC000002"
    assert gone in first["staging"] and gone in first["records"]
    assert first["linked"][gone] in first["marts"]

    changed = {**{k: _assessment(children[0])[k] for k in ("child_and_family_assessment_id",)},
               "factors": ["11A"], "purge": False}
    _deliver(home, "b_delta.json", [delta(children[0], child_and_family_assessments=[changed]),
                                    deletion(children[1])])
    nightly(home=str(home.root), as_of=AS_OF)
    second = _build_state(home)
    assert gone not in second["staging"] and gone not in second["records"]
    assert gone not in second["linked"] and first["linked"][gone] not in second["marts"]
    assert second["staging"]["csc_api:CSC000001"] == first["staging"]["csc_api:CSC000001"]
    assert second["cse"] == 2                 # the assessment and its referral, once each

    _deliver(home, "c_delta.json", [delta(children[2], child_in_need_plans=[])])
    nightly(home=str(home.root), as_of=AS_OF)
    third = _build_state(home)
    assert gone not in third["staging"] and gone not in third["linked"]
    assert set(third["staging"]) == set(second["staging"])
    receipts = [json.loads(line) for line in home.ledger.read_text().splitlines()]
    headers = [r["header"] for r in receipts if r.get("event") == "received"]
    assert [h["deletions"] for h in headers] == [0, 1, 0]


def test_a_delivery_is_received_with_its_counts_and_loads_every_row(tmp_path):
    home = Home(tmp_path / "home").ensure()
    home.settings_file.write_text("inbox: {settle_seconds: 0}\n"
                                  "feeds: {csc_api: {kind: social_care}}\n")
    _deliver(home, "a_full.json", csc_children(5))
    day = datetime(2026, 4, 10, 6, 0, tzinfo=UTC)
    (receipt,) = steps.receive(home, now=day).receipts
    assert receipt.status == "accepted" and receipt.map_name == "csc_api"
    assert receipt.header == {"format": "csc_api", "folds_earlier": True, "children": 5,
                              "deletions": 0}
    build = steps.new_build(home, "r1", as_of=day.date())
    outcome = steps.ingest_extract(build, home, receipt, 0, day.date())
    assert outcome.status == "loaded" and outcome.rows_quarantined == 0
    assert outcome.rows_in == outcome.rows_loaded > 0


def test_a_payload_of_two_authorities_is_refused(tmp_path):
    children = csc_children(2)
    path = tmp_path / "payload.json"
    path.write_text(json.dumps([{"la_code": 201, "Children": children[:1]},
                                {"la_code": 202, "Children": children[1:]}]))
    assert _refused(path).startswith("payload.json: the payload holds documents of 2 local "
                                     "authorities (la_code)")
