"""A synthetic Standard Safeguarding Dataset extract (a folder of CSV tables), with its truth, for
the SSD reader's tests: invented names, ids and dates only.

Each child has a referral with one assessment (factors as a JSON array, or for every third
child in the planned {"11A": "Yes"} object form), linked identifiers of several types (a
current UPN, an ended one, an NHS number, a ULN and a YOT number the reader does not use),
an address, and for some a CP plan, a looked-after episode with a placement and missing
episodes with return home interviews. A few children carry a UPN whose check letter is wrong
and an NHS number whose check digit is wrong, as real case systems do. The truth
(a CSV outside the delivery, never read by the pipeline) lists each child's ids and expected
indicator factors.
"""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from sources.synth.identifiers import nhs_numbers, upns
from sources.synth.names import first_names, surnames
from sources.synth.rng import stream

FACTORS = np.array(["11A", "10A", "13A", "12A", "3A", "16A", "1B", "21", "24A", "19B"])
PLACES = np.array(["U1", "K2", "H5", "K3", "R1"])
TABLES = {
    "ssd_person": ["pers_person_id", "pers_legacy_id", "pers_forename", "pers_surname",
                   "pers_sex", "pers_gender", "pers_ethnicity", "pers_dob",
                   "pers_common_child_id", "pers_upn_unknown", "pers_send_flag",
                   "pers_expected_dob", "pers_death_date", "pers_is_mother",
                   "pers_nationality"],
    "ssd_linked_identifiers": ["link_table_id", "link_person_id", "link_identifier_type",
                               "link_identifier_value", "link_valid_from_date",
                               "link_valid_to_date"],
    "ssd_address": ["addr_table_id", "addr_address_json", "addr_person_id", "addr_address_type",
                    "addr_address_start_date", "addr_address_end_date",
                    "addr_address_postcode"],
    "ssd_cin_episodes": ["cine_referral_id", "cine_person_id", "cine_referral_date",
                         "cine_cin_primary_need_code", "cine_referral_source_code",
                         "cine_referral_nfa", "cine_close_reason", "cine_close_date"],
    "ssd_cin_assessments": ["cina_assessment_id", "cina_person_id", "cina_referral_id",
                            "cina_assessment_start_date", "cina_assessment_child_seen",
                            "cina_assessment_auth_date"],
    "ssd_assessment_factors": ["cinf_table_id", "cinf_assessment_id",
                               "cinf_assessment_factors_json"],
    "ssd_cp_plans": ["cppl_cp_plan_id", "cppl_referral_id", "cppl_icpc_id", "cppl_person_id",
                     "cppl_cp_plan_start_date", "cppl_cp_plan_end_date",
                     "cppl_cp_plan_initial_category", "cppl_cp_plan_ola",
                     "cppl_cp_plan_latest_category"],
    "ssd_cla_episodes": ["clae_cla_episode_id", "clae_person_id", "clae_cla_episode_start_date",
                         "clae_cla_episode_start_reason", "clae_cla_primary_need_code",
                         "clae_cla_episode_ceased_date", "clae_cla_episode_ceased_reason",
                         "clae_cla_id"],
    "ssd_cla_placement": ["clap_cla_placement_id", "clap_cla_placement_start_date",
                          "clap_cla_placement_type", "clap_cla_placement_urn",
                          "clap_cla_id", "clap_cla_placement_end_date", "clap_person_id"],
    "ssd_missing": ["miss_table_id", "miss_person_id", "miss_missing_episode_start_date",
                    "miss_missing_episode_type", "miss_missing_episode_end_date",
                    "miss_missing_rhi_offered", "miss_missing_rhi_accepted"],
    "ssd_send": ["send_table_id", "send_upn", "send_uln", "send_upn_unknown", "send_person_id"],
    "ssd_cla_convictions": ["clac_cla_conviction_id", "clac_person_id",
                            "clac_cla_conviction_date", "clac_cla_conviction_offence"],
}


def _spoil(identifier: str) -> str:
    """The same identifier with its last character changed, so its check fails."""
    last = identifier[-1]
    return identifier[:-1] + ("1" if last != "1" else "2")


def write_ssd(folder: Path, n: int, seed: int = 7, as_of: date = date(2026, 3, 31),
              truth_file: Path | None = None) -> Path:
    """Write an SSD extract of `n` children into `folder` (and, given `truth_file`, its truth
    there: kept out of the folder, which is the delivery); returns the folder."""
    rng = stream(seed, "ssd")
    folder.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[list]] = {t: [] for t in TABLES}
    female = rng.random(n) < 0.5
    ages = rng.integers(2 * 365, 17 * 365, n)
    referral_days = rng.integers(120, 330, n)
    ids = np.arange(1, n + 1)
    upn_now = upns(np.full(n, 202), 2000 + ids % 9000, np.full(n, 20), ids % 1000)
    upn_old = upns(np.full(n, 202), 3000 + ids % 9000, np.full(n, 15), ids % 1000)
    nhs = nhs_numbers(rng, n)
    forenames = {s: first_names("english", s).draw(rng, n) for s in ("F", "M")}
    family = surnames("english").draw(rng, n)
    pick = rng.integers(0, len(FACTORS), (n, 2))
    truth = []
    for i in range(n):
        pid = f"SSD{ids[i]:06d}"
        sex = "F" if female[i] else "M"
        referral = as_of - timedelta(days=int(referral_days[i]))
        dob = referral - timedelta(days=int(ages[i]))
        bad_ids = i % 7 == 3
        nhs_i = _spoil(nhs[i]) if bad_ids else nhs[i]
        upn_i = _spoil(upn_now[i]) if bad_ids else upn_now[i]
        rows["ssd_person"].append([pid, "", forenames[sex][i], family[i], sex, "", "WBRI", dob,
                                   nhs_i, "", "N", "", "", "N", ""])
        identifiers = [("Unique Pupil Number", upn_i, referral - timedelta(days=400), ""),
                       ("Unique Pupil Number", upn_old[i], dob + timedelta(days=1500),
                        referral - timedelta(days=400)),
                       ("Unique Learner Number", f"{5000000000 + ids[i]}", dob, ""),
                       ("YOT Number", f"YOT{ids[i]:05d}", referral, "")]
        for k, (kind, value, since, until) in enumerate(identifiers, start=1):
            rows["ssd_linked_identifiers"].append([f"L{ids[i]}-{k}", pid, kind, value, since,
                                                   until])
        rows["ssd_address"].append([f"A{ids[i]}", json.dumps({"postcode": "ZX1 1AA"}), pid,
                                    "HOME", dob, "", f"ZX{1 + i % 9} {i % 10}AB"])
        rows["ssd_send"].append([f"S{ids[i]}", upn_i, f"{5000000000 + ids[i]}", "", pid])
        codes = sorted({str(c) for c in FACTORS[pick[i]]})
        if "21" in codes:
            codes = ["21"]
        stored = (json.dumps({c: "Yes" for c in codes} | {"4A": "No"}) if i % 3 == 0
                  else json.dumps(codes))
        ref_id, ass_id = f"R{ids[i]}", f"AS{ids[i]}"
        rows["ssd_cin_episodes"].append([ref_id, pid, referral, "N1", "6", "N", "", ""])
        rows["ssd_cin_assessments"].append([ass_id, pid, ref_id, referral + timedelta(days=1),
                                            "Y", referral + timedelta(days=10)])
        rows["ssd_assessment_factors"].append([f"F{ids[i]}", ass_id, stored])
        if i % 4 == 0:
            rows["ssd_cp_plans"].append([f"CP{ids[i]}", ref_id, "", pid,
                                         referral + timedelta(days=20), "", "NEG", "",
                                         "SAB" if "11A" in codes else "NEG"])
        missing = i % 3 == 1
        if i % 2 == 1:
            start = referral + timedelta(days=30)
            rows["ssd_cla_episodes"].append([f"E{ids[i]}", pid, start, "S", "N1", "", "",
                                             f"C{ids[i]}"])
            rows["ssd_cla_placement"].append([f"P{ids[i]}", start, PLACES[i % len(PLACES)], "",
                                              f"C{ids[i]}", "", pid])
            if missing:
                gone = start + timedelta(days=5)
                rows["ssd_missing"].append([f"M{ids[i]}", pid, f"{gone} 21:30:00", "Missing",
                                            gone + timedelta(days=1), "Y", "N"])
                rows["ssd_missing"].append([f"M{ids[i]}b", pid, gone + timedelta(days=9),
                                            "Absent", "", "NA", ""])
            rows["ssd_cla_convictions"].append([f"V{ids[i]}", pid, start, "Theft"])
        truth.append({"person_id": pid, "upn": upn_i, "former_upn": upn_old[i], "nhs": nhs_i,
                      "ids_valid": not bad_ids, "factors": ",".join(c for c in codes
                                                                    if c != "21"),
                      "cp_plan": i % 4 == 0, "looked_after": i % 2 == 1,
                      "missing": i % 2 == 1 and missing})
    for table, header in TABLES.items():
        with (folder / f"{table}.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows[table])
    if truth_file is not None:
        with truth_file.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(truth[0]))
            writer.writeheader()
            writer.writerows(truth)
    return folder
