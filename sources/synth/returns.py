"""The fictional council's social care and school records written as the statutory returns it
would send (a CIN census XML, an SSDA903 CSV set, termly school census sets), so the default demo
reads what councils already produce rather than a layout the generator invents.

The rows are the ones the native exports are rendered from (sources.synth.agency_records): the
same children, person records, events and recording errors. The returns differ in what they can
hold: the CIN census and the 903 carry no names (children link through UPN and LA child id, as
real ones must), missing-from-home episodes, children missing education and return interviews
have no place in them, and a census episode always opens with a referral. The codes each return
uses are data (data/returns.yaml). The census is written child by child, as its XML would
otherwise be the largest thing in memory.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd

from sources.synth.config import load
from sources.synth.dates import age_on, day
from sources.synth.school import recent_terms

CARE_EVENTS = ("REFERRAL", "ASSESSMENT", "CIN_PLAN", "CP_CONFERENCE", "CP_PLAN")
LAC_EVENTS = ("LAC_EPISODE", "PLACEMENT")
HEADER = ["CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"]
EPISODES = ["CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC",
            "REASON_PLACE_CHANGE", "HOME_POST", "PL_POST", "URN"]
MISSING = ["CHILD", "DOB", "MISSING", "MIS_START", "MIS_END"]


def _iso(value) -> str | None:
    return None if pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d")


def _uk(value) -> str:
    return "" if pd.isna(value) else pd.Timestamp(value).strftime("%d/%m/%Y")


def _e(name: str, value) -> str:
    return "" if value is None else f"<{name}>{escape(str(value))}</{name}>"


def census_upns(rng, rows: pd.DataFrame, pop: pd.DataFrame, as_of: date) -> np.ndarray:
    """(UPN, UPNunknown) of each census record: the child's own UPN for a child of school age
    as the DfE's validators require, else the code saying why there is none (one draw per
    record, so a child's two records may differ)."""
    cfg = load("returns")["cin_census"]
    refs = rows["person_ref"].drop_duplicates()
    child = rows.loc[refs.index, "child"].to_numpy()
    ages = age_on(pop["dob"].to_numpy()[child].astype("datetime64[D]"), day(as_of))
    school_age = ages >= cfg["upn_from_age"]
    has = school_age & (rng.random(len(refs)) < cfg["upn_recorded"])
    upn = np.where(has, pop["upn"].to_numpy()[child], None)
    unknown = np.where(has, None, np.where(school_age, cfg["upn_unknown"], cfg["upn_not_yet"]))
    return (rows["person_ref"].map(dict(zip(refs, upn, strict=True))).to_numpy(),
            rows["person_ref"].map(dict(zip(refs, unknown, strict=True))).to_numpy())


def _episodes(events: pd.DataFrame) -> list[dict]:
    """One record's census episodes, each opened by a referral: an event before any referral
    on the record (its referral is on the child's other record) opens one on its own date."""
    episodes: list[dict] = []
    for event in events.itertuples(index=False):
        referral = event.event_type == "REFERRAL"
        if referral or not episodes:
            episodes.append({"referral": event.start_at, "bad": referral and event.bad,
                             "factors": list(event.factors or []) if referral else [],
                             "events": []})
            if referral:
                continue
        episodes[-1]["events"].append(event)
    return episodes


def _episode_xml(episode: dict, year: int) -> str:
    cfg = load("returns")["cin_census"]
    codes = [cfg["factors"][f] for f in episode["factors"]
             if year >= cfg["factor_from"].get(cfg["factors"][f], 0)]
    need = next((e.primary_need for e in episode["events"] if e.event_type == "ASSESSMENT"
                 and isinstance(e.primary_need, str)), None)
    parts = ["<CINdetails>", _e("CINreferralDate", cfg["bad_date"] if episode["bad"]
                                 else _iso(episode["referral"])),
             _e("ReferralSource", cfg["referral_source"]), _e("PrimaryNeedCode", need)]
    blocks: dict[str, list[str]] = {"Assessments": [], "CINPlanDates": [], "Section47": [],
                                    "ChildProtectionPlans": []}
    lead = np.timedelta64(cfg["s47_days_before_icpc"], "D")
    for e in episode["events"]:
        if e.event_type == "ASSESSMENT":
            factors = "".join(_e("AssessmentFactors", c) for c in codes) or _e(
                "AssessmentFactors", "21")
            blocks["Assessments"].append(
                _e("AssessmentActualStartDate", _iso(e.start_at))
                + f"<FactorsIdentifiedAtAssessment>{factors}</FactorsIdentifiedAtAssessment>")
        elif e.event_type == "CIN_PLAN":
            blocks["CINPlanDates"].append(_e("CINPlanStartDate", _iso(e.start_at))
                                          + _e("CINPlanEndDate", _iso(e.end_at)))
        elif e.event_type == "CP_CONFERENCE":
            start = max(pd.Timestamp(e.start_at) - lead, pd.Timestamp(episode["referral"]))
            blocks["Section47"].append(_e("S47ActualStartDate", _iso(start))
                                       + _e("DateOfInitialCPC", _iso(e.start_at))
                                       + _e("ICPCnotRequired", "false"))
        elif e.event_type == "CP_PLAN":
            blocks["ChildProtectionPlans"].append(
                _e("CPPstartDate", _iso(e.start_at)) + _e("CPPendDate", _iso(e.end_at))
                + _e("InitialCategoryOfAbuse", e.cp_category)
                + _e("LatestCategoryOfAbuse", e.cp_category))
    parts.append(_e("ReferralNFA", "false"))
    for name, items in blocks.items():
        parts += [f"<{name}>{item}</{name}>" for item in items]
    parts.append("</CINdetails>")
    return "".join(parts)


def _identifiers_xml(person, year: int) -> str:
    if year >= 2025:
        sex = _e("Sex", person.sex)
    else:
        sex = _e("GenderCurrent", {"M": "1", "F": "2"}.get(person.sex))
    return ("<ChildIdentifiers>" + _e("LAchildID", person.person_ref)
            + _e("UPN", person.census_upn) + _e("UPNunknown", person.upn_unknown)
            + _e("PersonBirthDate", _iso(person.dob)) + sex
            + "</ChildIdentifiers><ChildCharacteristics>" + _e("Ethnicity", person.ethnicity)
            + "</ChildCharacteristics>")


def write_cin_census(path: Path, rows: pd.DataFrame, year: int, as_of: date) -> int:
    """The council's CIN census: one Child per social-care record with a referral, plan or
    conference; returns the children written (the reader makes several event rows of each)."""
    care = rows[rows["event_type"].isin(CARE_EVENTS)]
    written = 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n<Message>\n<Header>'
                 "<CollectionDetails>" + _e("Collection", "CIN") + _e("Year", year)
                 + _e("ReferenceDate", as_of.isoformat()) + "</CollectionDetails><Source>"
                 + _e("SourceLevel", "L") + _e("LEA", load("returns")["school_census"]["lea"])
                 + _e("SoftwareCode", "Casebook") + _e("Release", "1")
                 + _e("SerialNo", "001") + _e("DateTime", f"{as_of.isoformat()}T02:00:00")
                 + "</Source></Header>\n<Children>\n")
        for _ref, events in care.groupby("person_ref", sort=True):
            person = events.iloc[-1]
            episodes = "".join(_episode_xml(ep, year) for ep in _episodes(events))
            fh.write(f"<Child>{_identifiers_xml(person, year)}{episodes}</Child>\n")
            written += 1
        fh.write("</Children>\n</Message>\n")
    return written


def _ssda903_tables(rows: pd.DataFrame, year: int):
    """(file name, columns, rows) of the council's 903 set: a Header row per record with a
    looked-after episode, placement or missing-from-care period, an Episodes row per placement
    within its period of care (a period without one on this record gets one row of its own),
    ending when the next begins or the period ends, and a Missing row per missing or away
    period."""
    cfg = load("returns")["ssda903"]
    held = rows[rows["event_type"].isin(LAC_EVENTS)
                | ((rows["event_type"] == "MISSING") & (rows["missing_from"] == "CARE"))]
    need = (rows[rows["event_type"] == "ASSESSMENT"].dropna(subset=["primary_need"])
            .groupby("person_ref")["primary_need"].last())
    header, episodes, missing = [], [], []
    for ref, events in held.groupby("person_ref", sort=True):
        person = events.iloc[-1]
        sex = person.sex if year >= 2025 else {"M": "1", "F": "2"}.get(person.sex)
        header.append([ref, sex or "", _uk(person.dob), person.ethnicity or "",
                       person.census_upn or "", "", ""])
        periods = events[events["event_type"] == "LAC_EPISODE"]
        places = events[events["event_type"] == "PLACEMENT"]
        starts = (places if len(places) else periods)["start_at"].tolist()
        kinds = (places["placement_type"].map(cfg["place"]).tolist() if len(places)
                 else [cfg["no_placement"]] * len(periods))
        for i, (start, place) in enumerate(zip(starts, kinds, strict=True)):
            period = periods[periods["start_at"] <= start].tail(1)
            ended = period["end_at"].iloc[0] if len(period) else pd.NaT
            if not pd.isna(ended) and ended < start:
                continue        # a placement after its period of care ended is no episode
            end = starts[i + 1] if i + 1 < len(starts) else ended
            if not pd.isna(ended) and (pd.isna(end) or ended < end):
                end = ended
            status = period["legal_status"].iloc[0] if len(period) else cfg["legal_status"]
            episodes.append([ref, _uk(start), "S" if i == 0 else "P", status,
                             need.get(ref, cfg["category_of_need"]), place, "", _uk(end),
                             "", "", "", "", ""])
        for m in events[events["event_type"] == "MISSING"].itertuples(index=False):
            missing.append([ref, _uk(person.dob), "A" if m.missing_type == "AWAY" else "M",
                            _uk(m.start_at), _uk(m.end_at)])
    return [("header.csv", HEADER, header), ("episodes.csv", EPISODES, episodes),
            ("missing.csv", MISSING, missing)]


def _write_set(folder: Path, tables) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for name, columns, table in tables:
        with (folder / name).open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(columns)
            writer.writerows(table)
        written += len(table)
    return written


def write_ssda903(folder: Path, rows: pd.DataFrame, year: int) -> int:
    """The council's 903 return as a CSV set; returns the rows written."""
    return _write_set(folder, _ssda903_tables(rows, year))


def _nc_year(ages: np.ndarray) -> np.ndarray:
    return np.where(ages <= 4, "R", (ages - 4).astype(str)).astype(object)


def _census_tables(pupils: pd.DataFrame, excluded: pd.DataFrame, year: int, term: str,
                   header: dict, stem: str, ref_day: date):
    """One termly census set: the school's header, its pupils on roll with their addresses,
    their absence as session rows (totals on the pupil too before 2025) and exclusions."""
    cfg = load("returns")["school_census"]
    totals = year < 2025
    key = {ref: str(1000 + i) for i, ref in enumerate(pupils["person_ref"])}
    columns = ["pupilonrolltableid", "upn", "formerupn", "surname", "forename", "middlenames",
               "formersurname", "dob", "sex" if year >= 2024 else "gender", "ethnicity",
               "ncyearactual", "termlysessionspossible"]
    if totals:
        columns += ["termlysessionsauthorised", "termlysessionsunauthorised"]
    on_roll, addresses, sessions = [], [], []
    for p in pupils.itertuples(index=False):
        k = key[p.person_ref]
        possible = cfg["bad_sessions"] if p.bad else str(p.sessions_possible)
        row = [k, p.person_ref, "", p.last_name, p.first_name, p.middle_names or "",
               p.former_last_name or "", _iso(p.dob) or "", p.sex or "", p.ethnicity or "",
               p.nc_year, possible]
        if totals:
            row += [str(p.sessions_authorised_absence), str(p.sessions_unauthorised_absence)]
        on_roll.append(row)
        if isinstance(p.postcode, str) or isinstance(p.address, str):
            number, _, street = (p.address or "").partition(" ")
            addresses.append([k, p.postcode or "", number, street])
        for reason, count in ((cfg["reasons"]["authorised"], p.sessions_authorised_absence),
                              (cfg["reasons"]["unauthorised"], p.sessions_unauthorised_absence)):
            if count:
                sessions.append([str(len(sessions) + 1), k, str(count), reason])
    exclusions = [[key[x.person_ref], _iso(x.exclusion_start),
                   "" if pd.isna(x.exclusion_sessions) else str(x.exclusion_sessions),
                   cfg["exclusion_category"][x.exclusion_category],
                   cfg["exclusion_reason"].get(x.exclusion_reason, x.exclusion_reason)]
                  for x in excluded.itertuples(index=False)]
    census = [[header["name"], term, str(year), ref_day.isoformat(), cfg["lea"],
               header["estab"], header["urn"]]]
    return [
        (f"{stem}_schoolcensus.csv", ["name", "term", "year", "referencedate", "lea", "estab",
                                      "urn"], census),
        (f"{stem}_pupilonroll.csv", columns, on_roll),
        (f"{stem}_addresses.csv", ["pupilonrolltableid", "postcode", "paon", "street"],
         addresses),
        (f"{stem}_termlysessiondetailsonroll.csv",
         ["termlysessiondetailsonrolltableid", "pupilonrolltableid", "sessions",
          "attendancereason"], sessions),
        (f"{stem}_termlyexclusionsonroll.csv",
         ["pupilonrolltableid", "startdate", "sessions", "category", "reason1"], exclusions),
    ]


def write_school_census(folder: Path, rows: pd.DataFrame, pop: pd.DataFrame,
                        as_of: date) -> dict[str, int]:
    """A census set per term sent and per school group (data/returns.yaml), in
    `folder/school_census_<year>_<term>_<group>/`;
    an exclusion goes to the census of the latest term that began by its date in which its
    record is on roll, and one whose record is on roll in none is left out. Returns rows
    written per set folder."""
    cfg = load("returns")["school_census"]
    attendance = rows[rows["record_type"] == "ATTENDANCE"].copy()
    attendance["nc_year"] = _nc_year(age_on(
        pop["dob"].to_numpy()[attendance["child"]].astype("datetime64[D]"),
        np.array([day(_year_start(y)) for y in attendance["academic_year"]])))
    exclusions = rows[rows["record_type"] == "EXCLUSION"]
    terms = recent_terms(as_of)
    on_roll = set(zip(attendance["term"], attendance["academic_year"], attendance["person_ref"],
                      strict=True))
    term_of = []
    for start, ref in zip(exclusions["exclusion_start"], exclusions["person_ref"], strict=True):
        held = [(t, y) for t, y, s in terms
                if s <= pd.Timestamp(start).date() and (t, y, ref) in on_roll]
        term_of.append(held[0] if held else None)
    exclusions = exclusions.assign(census=term_of)
    written = {}
    for term, academic, start in terms:
        for group, header in cfg["sets"].items():
            pupils = attendance[(attendance["term"] == term)
                                & (attendance["academic_year"] == academic)
                                & attendance["school_type"].isin(header["types"])]
            if pupils.empty:
                continue
            excluded = exclusions[(exclusions["census"] == (term, academic))
                                  & exclusions["person_ref"].isin(pupils["person_ref"])]
            stem = f"{start.year}_{term.lower()}_{group}"
            month, dd = cfg["reference_day"][term]
            tables = _census_tables(pupils, excluded, start.year, term, header, stem,
                                    date(start.year, month, dd))
            written[stem] = _write_set(folder / f"school_census_{stem}", tables)
    return written


def _year_start(academic_year: str) -> date:
    """31 August before the academic year (ages for the curriculum year are taken then)."""
    return date(int(academic_year[:4]), 8, 31)


def _annex_value(key: str, row, extra: dict):
    """One Annex A cell of a record's event row (dates as dates, as the Ofsted template has)."""
    cfg = load("returns")["annex_a"]
    when = {"referral": "start_at", "assess": "start_at", "icpc": "start_at", "cin": "start_at",
            "cp": "start_at", "lac": "start_at"}
    if key in when:
        return _day(getattr(row, when[key]))
    if key == "id":
        return row.person_ref
    if key == "sex":
        return row.sex
    if key == "dob":
        return _day(row.dob)
    if key in ("initial", "category"):
        return row.cp_category
    if key == "legal":
        return row.legal_status
    if key == "no":
        return "N"
    if key == "place":
        return cfg["placement"].get(extra.get("place"))
    return extra.get(key)


def _day(value):
    return None if pd.isna(value) else pd.Timestamp(value).date()


def write_annex_a(path: Path, rows: pd.DataFrame) -> int:
    """The council's Annex A workbook in the Ofsted template's wording (one sheet per list):
    referrals, assessments, section 47 enquiries, CIN and CP plans, and each looked-after
    period with its latest placement, its missing episodes and the last one's return
    interview. It holds the CIN census's and the 903's events again, so it is written beside
    the inbox, for a partnership that sends it instead of them. Returns the rows written."""
    from openpyxl import Workbook

    from sources.synth.statutory import ANNEX_A_LISTS

    cfg = load("returns")["annex_a"]
    by_ref = {ref: events for ref, events in rows.groupby("person_ref", sort=False)}
    lists = {key: rows[rows["event_type"] == event] for key, event in cfg["lists"].items()}
    book = Workbook(write_only=True)
    book.create_sheet("Cover").append(["Annex A: synthetic council (invented children)"])
    written = 0
    for key, (sheet_name, _, columns) in ANNEX_A_LISTS.items():
        sheet = book.create_sheet(sheet_name)
        sheet.append([c[1] for c in columns])
        events = lists.get(key)
        for row in ([] if events is None else events.itertuples(index=False)):
            extra = _annex_extra(key, row, by_ref[row.person_ref])
            sheet.append([_annex_value(c[0], row, extra) for c in columns])
            written += 1
    book.save(path)
    return written


def _annex_extra(key: str, row, events: pd.DataFrame) -> dict:
    """What a list row takes from the record's other events: the primary need of its last
    assessment; for a looked-after period, its latest placement and the missing episodes."""
    if key == "6":
        needs = events.loc[events["event_type"] == "ASSESSMENT", "primary_need"].dropna()
        return {"need": needs.iloc[-1] if len(needs) else None}
    if key == "5":
        lead = np.timedelta64(load("returns")["cin_census"]["s47_days_before_icpc"], "D")
        return {"s47": _day(row.start_at - lead)}
    if key != "8":
        return {}
    places = events[(events["event_type"] == "PLACEMENT") & (events["start_at"] >= row.start_at)]
    missing = events[events["event_type"] == "MISSING"]
    last = missing.tail(1)
    flag = {True: "Y", False: "N"}
    return {"moved": _day(places["start_at"].iloc[-1]) if len(places) else None,
            "place": places["placement_type"].iloc[-1] if len(places) else None,
            "missing": len(missing),
            "offered": flag.get(last["rhi_offered"].iloc[0]) if len(last) else None,
            "accepted": flag.get(last["rhi_accepted"].iloc[0]) if len(last) else None}
