"""Synthetic statutory returns (CIN census XML of a chosen schema year, an SSDA903 set), for the
readers' tests and benchmarks: invented ids and dates only, written as a stream so a return of
200,000 children never sits in memory.

Each child gets one CIN episode (referral, assessment with factors, section 47, ICPC, CP plan for
some) and, in the 903 set, one or two looked-after episodes and missing or away episodes for
some. The schema year decides the element names (GenderCurrent before 2025, Sex from 2025), the
blocks (CINPlanDates from 2022, PreProceedingsandFGDM in 2026) and the factor codes (24A from
2022), as in sources/statutory/specs/cin_census.yaml.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from sources.synth.identifiers import upns
from sources.synth.rng import stream

FACTORS = np.array(["11A", "10A", "13A", "12A", "3A", "16A", "1B", "21", "24A", "19B"])
ETHNICITIES = np.array(["WBRI", "WOTH", "MWBC", "APKN", "BAFR", "OOTH", "REFU"])
PLACES = np.array(["U1", "U4", "K2", "R1", "H5", "P2", "K3", "U6"])


def _children(n: int, seed: int, year: int):
    rng = stream(seed, f"statutory-{year}")
    ref_end = date(year, 3, 31)
    ages = rng.integers(365, 17 * 365, n)
    referral_days = rng.integers(60, 330, n)   # every event before the reference date
    female = rng.random(n) < 0.5
    ids = np.arange(1, n + 1)
    upn = upns(np.full(n, 201), 1000 + ids % 9000, np.full(n, year - 10), ids % 1000)
    factor_pick = rng.integers(0, len(FACTORS), (n, 2))
    for i in range(n):
        referral = ref_end - timedelta(days=int(referral_days[i]))
        yield {
            "id": f"SYN{ids[i]:07d}", "upn": upn[i], "female": bool(female[i]),
            "dob": referral - timedelta(days=int(ages[i])), "referral": referral,
            "ethnicity": ETHNICITIES[i % len(ETHNICITIES)],
            "factors": sorted({str(f) for f in FACTORS[factor_pick[i]]}),
            "cp": i % 4 == 0, "missing": i % 3 == 0, "place": PLACES[i % len(PLACES)],
        }


def _e(name: str, value) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


def _factors(codes: list[str], year: int) -> list[str]:
    if "21" in codes:
        return ["21"]
    return [c for c in codes if year >= 2022 or c != "24A"]


def cin_child_xml(child: dict, year: int) -> str:
    sex = (_e("Sex", "F" if child["female"] else "M") if year >= 2025
           else _e("GenderCurrent", 2 if child["female"] else 1))
    ref = child["referral"]
    day = timedelta(days=1)
    factors = "".join(_e("AssessmentFactors", f) for f in _factors(child["factors"], year))
    parts = [
        "<Child><ChildIdentifiers>", _e("LAchildID", child["id"]), _e("UPN", child["upn"]),
        _e("PersonBirthDate", child["dob"]), sex, "</ChildIdentifiers>",
        "<ChildCharacteristics>", _e("Ethnicity", child["ethnicity"]),
        "<Disabilities>", _e("Disability", "NONE"), "</Disabilities></ChildCharacteristics>",
        "<CINdetails>", _e("CINreferralDate", ref), _e("ReferralSource", "6"),
        _e("PrimaryNeedCode", "N1"),
        "<Assessments>", _e("AssessmentActualStartDate", ref + day),
        _e("AssessmentAuthorisationDate", ref + 10 * day),
        f"<FactorsIdentifiedAtAssessment>{factors}</FactorsIdentifiedAtAssessment>",
        "</Assessments>",
    ]
    if year >= 2022:
        parts += ["<CINPlanDates>", _e("CINPlanStartDate", ref + 11 * day), "</CINPlanDates>"]
    if child["cp"]:
        parts += ["<Section47>", _e("S47ActualStartDate", ref + 2 * day),
                  _e("DateOfInitialCPC", ref + 9 * day), _e("ICPCnotRequired", "false"),
                  "</Section47>"]
    parts.append(_e("ReferralNFA", "0"))
    if child["cp"]:
        parts += ["<ChildProtectionPlans>", _e("CPPstartDate", ref + 9 * day),
                  _e("InitialCategoryOfAbuse", "SAB"), _e("LatestCategoryOfAbuse", "SAB"),
                  _e("NumberOfPreviousCPP", 0), "</ChildProtectionPlans>"]
    if year >= 2026:
        parts += ["<PreProceedingsandFGDM>", _e("PPStartDate", ref + 20 * day),
                  _e("FGDMMeetingOffer", 1), "</PreProceedingsandFGDM>"]
    parts.append("</CINdetails></Child>\n")
    return "".join(parts)


def cin_header_xml(year: int, la: str = "201") -> str:
    return ("<Header><CollectionDetails>" + _e("Collection", "CIN") + _e("Year", year)
            + _e("ReferenceDate", date(year, 3, 31)) + "</CollectionDetails><Source>"
            + _e("SourceLevel", "L") + _e("LEA", la) + _e("SoftwareCode", "JoinedUpSynth")
            + _e("Release", "1") + _e("SerialNo", "001")
            + _e("DateTime", f"{year}-04-02T09:00:00") + "</Source></Header>\n")


def write_cin_census(path: Path, children: int, year: int, seed: int = 1,
                     header: bool = True, encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding) as fh:
        fh.write(f'<?xml version="1.0" encoding="{encoding.upper()}"?>\n<Message>\n')
        if header:
            fh.write(cin_header_xml(year))
        fh.write("<Children>\n")
        for child in _children(children, seed, year):
            fh.write(cin_child_xml(child, year))
        fh.write("</Children>\n</Message>\n")
    return path


def _uk(day: date) -> str:
    return day.strftime("%d/%m/%Y")


HEADER = ["CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"]
EPISODES = ["CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC",
            "REASON_PLACE_CHANGE", "HOME_POST", "PL_POST", "URN"]
MISSING = ["CHILD", "DOB", "MISSING", "MIS_START", "MIS_END"]
UASC = ["CHILD", "SEX", "DOB", "DUC"]


def ssda903_tables(children: int, year: int, seed: int = 1):
    """(table name, columns, rows) of a 903 set, rows as lists of text."""
    header, episodes, missing, uasc = [], [], [], []
    for child in _children(children, seed, year):
        sex = ("F" if child["female"] else "M") if year >= 2025 else (
            "2" if child["female"] else "1")
        dob = _uk(child["dob"])
        header.append([child["id"], sex, dob, child["ethnicity"], child["upn"], "0", ""])
        start = child["referral"]
        moved = start + timedelta(days=40)
        episodes.append([child["id"], _uk(start), "S", "C2", "N1", "U1", "PR1", _uk(moved),
                         "X1", "CARPL", "ZZ1 1ZZ", "ZZ1 2ZZ", ""])
        episodes.append([child["id"], _uk(moved), "P", "C2", "N1", child["place"], "PR4", "",
                         "", "", "ZZ1 1ZZ", "ZZ1 3ZZ", ""])
        if child["missing"]:
            out = moved + timedelta(days=3)
            missing.append([child["id"], dob, "M", _uk(out), _uk(out + timedelta(days=1))])
            missing.append([child["id"], dob, "A", _uk(out + timedelta(days=5)), ""])
        if child["ethnicity"] == "OOTH":
            uasc.append([child["id"], sex, dob, ""])
    return [("Header", HEADER, header), ("Episodes", EPISODES, episodes),
            ("Missing", MISSING, missing), ("UASC", UASC, uasc)]


def write_ssda903_set(folder: Path, children: int, year: int, seed: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, columns, rows in ssda903_tables(children, year, seed):
        with (folder / f"{name.lower()}.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(columns)
            writer.writerows(rows)
    return folder


def write_ssda903_xml(path: Path, children: int, year: int, seed: int = 1) -> Path:
    """The XML form: EXPSSDA903/CHILD with HEADER (missing episodes nested as AMISSING) and
    EPISODE blocks (PLACE written PL)."""
    tables = {name: rows for name, _, rows in ssda903_tables(children, year, seed)}
    by_child: dict[str, dict] = {}
    for row in tables["Episodes"]:
        by_child.setdefault(row[0], {"ep": [], "mis": []})["ep"].append(row)
    for row in tables["Missing"]:
        by_child.setdefault(row[0], {"ep": [], "mis": []})["mis"].append(row)
    with path.open("w", encoding="utf-8") as fh:
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n<EXPSSDA903>\n')
        for row in tables["Header"]:
            held = by_child.get(row[0], {"ep": [], "mis": []})
            head = "".join(_e(c if c != "CHILD" else "CHILDID", v)
                           for c, v in zip(HEADER, row, strict=True) if v)
            for m in held["mis"]:
                head += "<AMISSING>" + "".join(
                    _e(c, v) for c, v in zip(MISSING[2:], m[2:], strict=True) if v) + "</AMISSING>"
            eps = "".join("<EPISODE>" + "".join(
                _e("PL" if c == "PLACE" else c, v)
                for c, v in zip(EPISODES[1:], e[1:], strict=True) if v) + "</EPISODE>"
                for e in held["ep"])
            fh.write(f"<CHILD><HEADER>{head}</HEADER>{eps}</CHILD>\n")
        fh.write("</EXPSSDA903>\n")
    return path


# Annex A: each list's sheet and columns as two councils might word them. `ofsted` follows the
# Ofsted template (lettered value labels, Excel dates); `plain` is a council's own export (short
# sheet names, other header wording, words and codes for values, dates as text, a title row).
ANNEX_A_LISTS = {
    "1": ("List 1 - Contacts", "Contacts",
          [("id", "Child Unique ID", "Child ID"), ("sex", "Gender", "Sex"),
           ("eth", "Ethnicity", "Ethnicity"), ("dob", "Date of Birth", "DOB"),
           ("contact", "Date of Contact", "Contact Date"),
           ("source", "Contact Source", "Source of Contact")]),
    "2": ("List 2 - Early Help", "Early Help",
          [("id", "Child Unique ID", "Child ID"), ("sex", "Gender", "Sex"),
           ("referral", "Assessment start date", "EH Assessment Start")]),
    "3": ("List 3 - Referrals", "Referrals",
          [("id", "Child Unique ID", "Child ID"), ("sex", "Gender", "Sex"),
           ("dob", "Date of Birth", "DOB"), ("dis", "Does the Child have a Disability",
                                             "Disability"),
           ("referral", "Date of Referral", "Referral Date"),
           ("source", "Referral Source", "Source of Referral"), ("no", "Referral NFA?", "NFA")]),
    "4": ("List 4 - Assessments", "Assessments",
          [("id", "Child Unique ID", "Child ID"), ("sex", "Gender", "Sex"),
           ("dob", "Date of Birth", "DOB"),
           ("assess", "Continuous Assessment Start Date", "Assessment Start Date"),
           ("authorised", "Date of Authorisation", "Authorisation Date")]),
    "5": ("List 5 - Section 47", "S47",
          [("id", "Child Unique ID", "Child ID"), ("sex", "Gender", "Sex"),
           ("dob", "Date of Birth", "DOB"),
           ("s47", "Strategy discussion initiating Section 47 Enquiry Start Date",
            "Date of Strategy Discussion"),
           ("icpc", "Date of Initial Child Protection Conference", "ICPC Date")]),
    "6": ("List 6 - Children in Need", "CIN",
          [("id", "Child Unique ID", "Child ID"), ("sex", "Gender", "Sex"),
           ("dob", "Date of Birth", "DOB"), ("cin", "CIN Start Date", "Start Date of CIN"),
           ("need", "Primary Need Code", "Primary Need"),
           ("seen", "Date Child Was Last Seen", "Last Seen")]),
    "7": ("List 7 - Child Protection", "CP",
          [("id", "Child Unique ID", "Child ID"), ("sex", "Gender", "Sex"),
           ("dob", "Date of Birth", "DOB"), ("cp", "Child Protection Plan Start Date",
                                             "CP Plan Start Date"),
           ("initial", "Initial Category of Abuse", "Initial Category"),
           ("category", "Latest Category of Abuse", "Category of Abuse")]),
    "8": ("List 8 - Children Looked After", "CLA",
          [("id", "Child Unique ID", "Child ID"), ("sex", "Gender", "Sex"),
           ("dob", "Date of Birth", "DOB"),
           ("lac", "Date Started to be Looked After", "Date Became Looked After"),
           ("legal", "Child's Legal Status", "Legal Status"),
           ("moved", "Placement Start Date", "Start Date of Current Placement"),
           ("place", "Placement Type", "Type of Placement"),
           ("missing", "Number of Episodes the Child has been 'Missing' from their Placement "
                       "in the last 12 months", "Missing episodes (12 months)"),
           ("offered", "Was the child offered a Return Interview after their last missing "
                       "episode (Y/N)?", "Offered a return home interview?"),
           ("accepted", "Did the child accept a Return Interview after their last missing "
                        "episode (Y/N)?", "Accepted a return home interview?")]),
    "9": ("List 9 - Care Leavers", "Care Leavers",
          [("id", "Child Unique ID", "Child ID"), ("sex", "Gender", "Sex"),
           ("dob", "Date of Birth", "DOB"),
           ("last_contact", "Date of Latest Contact", "Date of Last Contact"),
           ("accommodation", "Type of Accommodation", "Accommodation Type")]),
    "10": ("List 10 - Adoption", "Adoption",
           [("id", "Child Unique ID", "Child ID"), ("sex", "Gender", "Sex"),
            ("dob", "Date of Birth", "DOB"),
            ("lac", "Date the Child Entered Care", "Date Entered Care"),
            ("decision", "Date of Decision that Child Should be Placed for Adoption",
             "ADM Decision Date"),
            ("placed", "Date Placed for Adoption", "Date Placed for Adoption")]),
    "11": ("List 11 - Adopters", "Adopters",
           [("adopter", "Individual Adopter Identifier", "Adopter ID")]),
}
ANNEX_A_STYLES = ("ofsted", "plain")
# value labels by style: (ofsted, plain)
ANNEX_A_LABELS = {
    "sex": {True: ("b) Female", "F"), False: ("a) Male", "Male")},
    "eth": ("a) White", "White"),
    "dis": ("b) No", "No"), "no": ("No", "N"),
    "source": ("a) Individual", "Police"),
    "need": ("a) N1 Abuse or neglect", "N1"),
    "category": ("d) Sexual abuse", "Sexual"), "initial": ("d) Sexual abuse", "Sexual"),
    "legal": ("b) Full care order", "C2"),
    "yes": ("Y", "Yes"), "nil": ("N", "No"),
}
ANNEX_A_PLACES = {"U1": ("a) Foster placement with relative or friend", "Kinship fostering"),
                  "K2": ("f) Children's home", "Residential children's home"),
                  "H5": ("j) Semi-independent living accommodation", "Semi-independent"),
                  "P2": ("k) Independent living", "Independent living"),
                  "R1": ("f) Children's home", "Residential"),
                  "U4": ("b) Foster placement with other foster carer", "Fostering"),
                  "K3": ("j) Semi-independent living accommodation", "Supported accommodation"),
                  "U6": ("b) Foster placement with other foster carer", "Foster care")}
ANNEX_A_ACCOMMODATION = ("c) Bed and breakfast", "B&B")


def _annex_row(child: dict, i: int, keys: list[str], style: int):
    """One list row's cells for a child (dates as dates in the Ofsted style, text otherwise)."""
    day = timedelta(days=1)
    ref = child["referral"]
    dates = {"dob": child["dob"], "contact": ref - day, "referral": ref, "assess": ref + day,
             "authorised": ref + 10 * day, "s47": ref + 2 * day,
             "icpc": ref + 9 * day if i % 2 == 0 else None, "cin": ref + 11 * day,
             "seen": ref + 12 * day, "cp": ref + 9 * day, "lac": ref + 20 * day,
             "moved": ref + 40 * day, "last_contact": ref + 30 * day,
             "decision": ref + 25 * day, "placed": ref + 50 * day}
    missing = 2 if child["missing"] else 0
    values = {"id": child["id"], "sex": ANNEX_A_LABELS["sex"][child["female"]][style],
              "place": ANNEX_A_PLACES[str(child["place"])][style], "missing": missing,
              "offered": ANNEX_A_LABELS["yes" if missing else "nil"][style],
              "accepted": ANNEX_A_LABELS["yes" if missing and i % 2 else "nil"][style],
              "accommodation": ANNEX_A_ACCOMMODATION[style], "adopter": f"ADOPTER{i}"}
    row = []
    for key in keys:
        if key in dates:
            value = dates[key]
            row.append(value if style == 0 or value is None else _uk(value))
        else:
            row.append(values[key] if key in values else ANNEX_A_LABELS[key][style])
    return row


def annex_a_rows(children: int, year: int, seed: int = 1) -> dict[str, list[dict]]:
    """Which children each list holds: every child on lists 1, 3, 4, 6; those with a CP plan
    on 5 and 7; those with missing episodes on 8; some of them on 9 and 10."""
    kids = list(_children(children, seed, year))
    return {"1": kids, "2": [], "3": kids, "4": kids, "5": [c for c in kids if c["cp"]],
            "6": kids, "7": [c for c in kids if c["cp"]], "8": [c for c in kids if c["missing"]],
            "9": kids[1::5], "10": kids[2::7], "11": []}


def write_annex_a(path: Path, children: int, year: int, seed: int = 1,
                  style: str = "ofsted") -> Path:
    """An Annex A workbook of invented children, one sheet per list (with a cover sheet)."""
    from openpyxl import Workbook

    variant = ANNEX_A_STYLES.index(style)
    book = Workbook(write_only=True)
    cover = book.create_sheet("Cover")
    cover.append(["Annex A: synthetic council (invented children)"])
    for key, kids in annex_a_rows(children, year, seed).items():
        ofsted_name, plain_name, columns = ANNEX_A_LISTS[key]
        sheet = book.create_sheet((ofsted_name, plain_name)[variant])
        if variant:
            sheet.append([f"{plain_name}, year to 31/03/{year}"])
        sheet.append([c[1 + variant] for c in columns])
        keys = [c[0] for c in columns]
        for i, child in enumerate(kids):
            sheet.append(_annex_row(child, i, keys, variant))
    book.save(path)
    return path


# The termly school census as LIIA flattens it: one CSV per table, surrogate table ids, pupils
# keyed by pupilonrolltableid. Before 2025 each pupil carries its absence totals; from 2025 only
# the session rows do (the reader sums them). Names are drawn from the synthetic name lists.
CENSUS_SESSIONS = [("I", 4), ("M", 1), ("G", 2), ("N", 1), ("B", 3)]   # B is no absence
CENSUS_EXCLUSIONS = [("SUSP", "PP"), ("SUSP", "DB"), ("PERM", "SM"), ("SUSP", "OW")]
CENSUS_YEARS = ["R", "3", "6", "7", "9", "11"]


def school_census_tables(pupils: int, year: int, term: str = "SPR", seed: int = 1):
    """(file name, columns, rows) of a termly census set, rows as lists of text."""
    from sources.synth.names import first_names, surnames

    rng = stream(seed, f"school-census-{year}-{term}")
    kids = list(_children(pupils, seed, year))
    girls = first_names("english", "F").draw(rng, pupils)
    boys = first_names("english", "M").draw(rng, pupils)
    family = surnames("english").draw(rng, pupils)
    ref = {"AUT": date(year, 10, 2), "SPR": date(year, 1, 16), "SUM": date(year, 5, 15)}[term]
    totals = year < 2025
    pupil_cols = ["pupilonrolltableid", "upn", "formerupn", "surname", "forename",
                  "middlenames", "dob", "sex" if year >= 2024 else "gender", "ethnicity",
                  "ncyearactual", "termlysessionspossible"]
    if totals:
        pupil_cols += ["termlysessionsauthorised", "termlysessionsunauthorised"]
    on_roll, addresses, sessions, exclusions = [], [], [], []
    for i, kid in enumerate(kids):
        key = str(1000 + i)
        row = [key, kid["upn"], "", family[i], girls[i] if kid["female"] else boys[i], "",
               kid["dob"].isoformat(), "F" if kid["female"] else "M",
               ["WBRI", "WENG", "APKN", "BAFR", "MWBC"][i % 5], CENSUS_YEARS[i % 6], "120"]
        absent = CENSUS_SESSIONS[: 1 + i % len(CENSUS_SESSIONS)]
        if totals:
            row += [str(sum(n for c, n in absent if c in "IM")),
                    str(sum(n for c, n in absent if c in "GN"))]
        on_roll.append(row)
        addresses.append([key, "ZZ9 9ZZ", str(1 + i), "Synthetic Street", "Testtown"])
        sessions += [[key, str(n), code] for code, n in absent]
        if i % 4 == 1:
            category, reason = CENSUS_EXCLUSIONS[(i // 4) % len(CENSUS_EXCLUSIONS)]
            if year < 2020 and category == "SUSP":
                category = "FIXD"
            exclusions.append([key, (ref - timedelta(days=10)).isoformat(), "2", category,
                               reason])
    census = [["SC", term, str(year), ref.isoformat(), "201", "4001", "100001"]]
    reason = "reason1" if year >= 2021 else "reason"
    stem = f"{year}_{term.lower()}"
    return [
        (f"{stem}_schoolcensus.csv", ["name", "term", "year", "referencedate", "lea", "estab",
                                      "urn"], census),
        (f"{stem}_pupilonroll.csv", pupil_cols, on_roll),
        (f"{stem}_addresses.csv", ["pupilonrolltableid", "postcode", "paon", "street",
                                   "town"], addresses),
        (f"{stem}_termlysessiondetailsonroll.csv",
         ["termlysessiondetailsonrolltableid", "pupilonrolltableid",
          "sessions" if year >= 2017 else "absencesessions", "attendancereason"],
         [[str(n), *row] for n, row in enumerate(sessions, start=1)]),
        (f"{stem}_termlyexclusionsonroll.csv",
         ["pupilonrolltableid", "startdate", "sessions", "category", reason], exclusions),
    ]


def write_school_census(folder: Path, pupils: int, year: int, term: str = "SPR",
                        seed: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, columns, rows in school_census_tables(pupils, year, term, seed):
        with (folder / name).open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(columns)
            writer.writerows(rows)
    return folder
