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
