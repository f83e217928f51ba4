"""Synthetic DfE children's social care API payloads (spec v0.7) for the reader's tests: invented
names, ids and dates only.

`csc_children` makes full child records (each with one social care episode holding an
assessment with factors, a CIN plan, for some a section 47 enquiry with an ICPC, a CP plan and a
looked-after placement); `delta` makes the delta submission the DfE pipeline would send for a
changed child (its details whole, each changed item as its id and the changed fields, new items
whole); `deletion` the record that purges a child. `write_payload` writes records as one
document. The truth is the records themselves: tests compare what is read with them.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from sources.synth.identifiers import upns
from sources.synth.names import first_names, surnames
from sources.synth.rng import stream

FACTORS = np.array(["11A", "10A", "13A", "12A", "3A", "16A", "24A", "19B", "21"])
PLACES = np.array(["U1", "K2", "H5", "K3", "R1"])


def csc_children(n: int, seed: int = 11, as_of: date = date(2026, 3, 31)) -> list[dict]:
    rng = stream(seed, "csc_api")
    female = rng.random(n) < 0.5
    ages = rng.integers(2 * 365, 16 * 365, n)
    referral_days = rng.integers(100, 330, n)
    ids = np.arange(1, n + 1)
    upn = upns(np.full(n, 203), 4000 + ids % 9000, np.full(n, 21), ids % 1000)
    forenames = {s: first_names("english", s).draw(rng, n) for s in ("F", "M")}
    family = surnames("english").draw(rng, n)
    pick = rng.integers(0, len(FACTORS), (n, 2))
    children = []
    for i in range(n):
        sex = "F" if female[i] else "M"
        referral = as_of - timedelta(days=int(referral_days[i]))
        day = timedelta(days=1)
        factors = sorted({str(f) for f in FACTORS[pick[i]]})
        episode = {
            "social_care_episode_id": f"SCE{ids[i]}", "referral_date": str(referral),
            "referral_source": "6", "referral_no_further_action_flag": False,
            "child_and_family_assessments": [{
                "child_and_family_assessment_id": f"CFA{ids[i]}",
                "start_date": str(referral + day), "authorisation_date": str(referral + 9 * day),
                "factors": ["21"] if "21" in factors else factors, "purge": False}],
            "child_in_need_plans": [{"child_in_need_plan_id": f"CIN{ids[i]}",
                                     "start_date": str(referral + 10 * day), "purge": False}],
            "purge": False,
        }
        if i % 3 == 0:
            episode["section_47_assessments"] = [{
                "section_47_assessment_id": f"S47{ids[i]}", "start_date": str(referral + 2 * day),
                "icpc_required_flag": True, "icpc_date": str(referral + 12 * day),
                "purge": False}]
            episode["child_protection_plans"] = [{
                "child_protection_plan_id": f"CPP{ids[i]}",
                "start_date": str(referral + 12 * day), "purge": False}]
        if i % 2 == 1:
            episode["child_looked_after_placements"] = [{
                "child_looked_after_placement_id": f"CLA{ids[i]}",
                "start_date": str(referral + 30 * day), "start_reason": "S",
                "placement_type": str(PLACES[i % len(PLACES)]), "purge": False}]
        children.append({
            "la_child_id": f"CSC{ids[i]:06d}", "mis_child_id": f"MIS{ids[i]:06d}",
            "purge": False,
            "child_details": {
                "unique_pupil_number": upn[i], "first_name": forenames[sex][i],
                "surname": family[i],
                "date_of_birth": str(referral - timedelta(days=int(ages[i]))),
                "sex": sex, "ethnicity": "WBRI", "disabilities": [],
                "postcode": f"ZX{1 + i % 9} 2CD", "uasc_flag": False, "purge": False},
            "social_care_episodes": [episode],
        })
    return children


def delta(child: dict, **items: list[dict]) -> dict:
    """The delta record of a changed child: identifiers, details whole, and under its first
    episode the given item lists (changed items as id + changed fields, new items whole)."""
    episode = child["social_care_episodes"][0]
    return {"la_child_id": child["la_child_id"], "mis_child_id": child["mis_child_id"],
            "child_details": child["child_details"],
            "social_care_episodes": [{"social_care_episode_id": episode["social_care_episode_id"],
                                      **items, "purge": False}]}


def deletion(child: dict) -> dict:
    return {"la_child_id": child["la_child_id"], "mis_child_id": child["mis_child_id"],
            "purge": True}


def write_payload(path: Path, records: list[dict], la_code: int = 999) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"la_code": la_code, "Children": records}, indent=1),
                    encoding="utf-8")
    return path
