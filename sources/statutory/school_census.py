"""The termly school census as a set of CSV tables (the LIIA shape), into one attendance row per
pupil on roll and one row per exclusion.

Unlike the social-care returns the school census names its pupils (forename, surname, former
surname), with UPN, date of birth, sex and address, so its rows are what links a child across
agencies by name. The set is read whole and checked whole (one census header, each pupil once,
every address, session and exclusion row naming a pupil on roll) before any row is handed on.
From 2025 the census no longer carries pupil-level absence totals, so absence is summed from the
session rows by attendance reason (specs/school_census.yaml); before 2025 the totals are used.
"""

from __future__ import annotations

import pandas as pd

from sources.errors import ExtractError
from sources.readers import CsvSource, RawExtract
from sources.statutory.sets import named_files
from sources.statutory.specs import spec

FORMAT = "school_census"
MAP_NAME = "school_census"
WHERE = "_where"
TABLE_ID = "tableid"             # every LIIA census table's surrogate key ends so
ASK = "Ask the school or the council to export the whole termly census again."
PERSON = {"UPN": "upn", "FormerUPN": "formerupn", "Surname": "surname", "Forename": "forename",
          "MiddleNames": "middlenames", "PreferredSurname": "preferredsurname",
          "FormerSurname": "formersurname", "DOB": "dob", "Sex": "sex",
          "Ethnicity": "ethnicity", "NCYear": "ncyearactual"}
# CensusRecordRef, not RecordRef: the flat layout must fit no supplier map's headings
COLUMNS = ["CensusRecordRef", "CensusRecordType", *PERSON, "Postcode", "Address", "URN",
           "SchoolType", "AcademicYear", "Term", "SessionsPossible", "SessionsAuthorised",
           "SessionsUnauthorised", "ExclusionCategory", "ExclusionReason", "ExclusionStart",
           "ExclusionSessions"]


def _heading(path, name: str, set_name: str) -> list[str]:
    source = _csv(path, name, set_name)
    renames = spec(FORMAT)["renames"]
    return [renames.get(h, h) for h in (h.strip().lower() for h in (source.peek() or [[]])[0])]


def _csv(path, name: str, set_name: str) -> CsvSource:
    try:
        return CsvSource(path)
    except ExtractError as exc:
        raise ExtractError(set_name, f"{name}: {exc.problem}", exc.action) from None


def identify(heading: list[str]) -> str | None:
    present = set(heading)
    fits = [(len(t["identify"]), n) for n, t in spec(FORMAT)["tables"].items()
            if set(t["identify"]) <= present]
    return max(fits)[1] if fits else None


def is_school_census(folder) -> bool:
    """A folder holding any school census table is a census set (else an SSDA903 one), so a
    census missing its header table is refused as a census, not as a strange 903 set."""
    return any(identify(_heading(p, n, folder.name)) is not None
               for p, n in named_files(folder) if n.lower().endswith(".csv"))


class SchoolCensusHeader:
    """What the census says about itself, for the ledger (no personal data)."""

    def __init__(self):
        self.fields: dict[str, str] = {}
        self.tables: dict[str, str] = {}
        self.not_read: list[str] = []        # census tables this reader does not use

    def record(self) -> dict:
        return {"format": FORMAT, **self.fields, "tables": dict(self.tables),
                "not_read": list(self.not_read)}


class SchoolCensusSetSource:
    map_name = MAP_NAME

    def __init__(self, folder, file_name: str | None = None):
        self.folder = folder
        self.file_name = file_name or folder.name
        self.header = SchoolCensusHeader()
        self._files: dict[str, tuple] | None = None

    def _tables(self) -> dict[str, tuple]:
        if self._files is None:
            found: dict[str, tuple] = {}
            for path, name in named_files(self.folder):
                heading = _heading(path, name, self.file_name)
                table = identify(heading)
                if table is None and any(h.endswith(TABLE_ID) for h in heading):
                    self.header.not_read.append(name)
                    continue
                if table is None:
                    raise ExtractError(self.file_name, f"{name} is not one of the school "
                                       "census tables read (its columns match none of "
                                       f"{', '.join(spec(FORMAT)['tables'])})", "Remove it from "
                                       "the set if it does not belong to the census.")
                if table in found:
                    raise ExtractError(self.file_name, f"{found[table][1]} and {name} are both "
                                       f"the {table} table", "Send one file per table.")
                found[table] = (path, name)
            for table in spec(FORMAT)["required_tables"]:
                if table not in found:
                    wanted = ", ".join(spec(FORMAT)["tables"][table]["identify"])
                    raise ExtractError(self.file_name, f"the school census set has no {table} "
                                       f"table (a file with the columns {wanted}), so none of "
                                       "its tables was loaded", ASK)
            self.header.tables = {t: n for t, (_, n) in found.items()}
            self._files = found
        return self._files

    def peek(self) -> list[list[str]]:
        """The flat layout's headings, once the set's tables are told and its census header
        read (so the ledger records the term and school at receipt)."""
        self._census(self._table("schoolcensus"))
        return [COLUMNS]

    def _table(self, table: str) -> pd.DataFrame:
        path, name = self._tables()[table]
        renames = spec(FORMAT)["renames"]
        frame = _csv(path, name, self.file_name).read(1).frame
        frame = frame.rename(columns=lambda c: renames.get(c.strip().lower(), c.strip().lower()))
        frame = frame.apply(lambda s: s.str.strip()).replace("", None)
        # as text even when the table has no rows (an empty exclusions table is a valid one)
        frame[WHERE] = pd.Series([f"{name} row {n}" for n in frame.index], index=frame.index,
                                 dtype=object)
        return frame

    def read(self, header_row: int = 1) -> RawExtract:
        return self._flatten({table: self._table(table) for table in self._tables()})

    def _flatten(self, tables: dict[str, pd.DataFrame]) -> RawExtract:
        census = self._census(tables["schoolcensus"])
        pupils = tables["pupilonroll"]
        self._check(tables)
        key = spec(FORMAT)["key"]
        year = int(census["year"])
        first_address = (tables["addresses"].drop_duplicates(key).set_index(key)
                         if "addresses" in tables else pd.DataFrame())
        people = pd.DataFrame({c: pupils.get(s) for c, s in PERSON.items()})
        address = first_address.reindex(pupils[key])
        people["Postcode"] = address.get("postcode", pd.Series(index=address.index)).to_numpy()
        people["Address"] = _address_line(address).to_numpy()
        people = people.assign(URN=census.get("urn"),
                               SchoolType=_school_type(census, people["NCYear"]),
                               AcademicYear=_academic_year(census, year), Term=census["term"])
        authorised, unauthorised = self._absence(tables, pupils, year)
        attendance = people.assign(
            CensusRecordRef=(pupils[WHERE] + "#ATT").to_numpy(), CensusRecordType="ATT",
            SessionsPossible=pupils.get("termlysessionspossible"),
            SessionsAuthorised=authorised, SessionsUnauthorised=unauthorised)
        parts = [attendance]
        if "exclusions" in tables:
            exc = tables["exclusions"]
            who = people.set_axis(pupils[key].to_numpy()).loc[exc[key]].reset_index(drop=True)
            categories = spec(FORMAT)["categories"]
            parts.append(who.assign(
                CensusRecordRef=(exc[WHERE] + "#EXC").to_numpy(), CensusRecordType="EXC",
                ExclusionCategory=exc["category"].map(lambda c: categories.get(c, c)).to_numpy(),
                ExclusionReason=exc.get("reason1", pd.Series(index=exc.index)).to_numpy(),
                ExclusionStart=exc["startdate"].to_numpy(),
                ExclusionSessions=exc.get("sessions", pd.Series(index=exc.index)).to_numpy()))
        flat = pd.concat(parts, ignore_index=True).reindex(columns=COLUMNS)
        flat = flat.astype(object).where(flat.notna(), None)
        flat.index = range(2, 2 + len(flat))
        return RawExtract(frame=flat, header=list(COLUMNS), header_row=1)

    def _census(self, census: pd.DataFrame) -> pd.Series:
        if len(census) != 1:
            raise ExtractError(self.file_name, f"the schoolcensus table has {len(census)} rows; "
                               "a termly census has one", ASK)
        row = census.iloc[0]
        if not str(row.get("year") or "").isdigit():
            raise ExtractError(self.file_name, f"{row[WHERE]}: the census year is not a year",
                               ASK)
        self.header.fields = {k: row[k] for k in ("name", "term", "year", "referencedate",
                                                  "lea", "estab", "urn")
                              if k in row.index and row[k] is not None}
        return row

    def _check(self, tables: dict[str, pd.DataFrame]) -> None:
        key = spec(FORMAT)["key"]
        pupils = tables["pupilonroll"]
        twice = pupils[key].duplicated(keep=False) | pupils[key].isna()
        if twice.any():
            raise ExtractError(self.file_name, f"pupilonroll rows without a {key} or sharing "
                               f"one ({_places(pupils, twice)}); each pupil has one row", ASK)
        known = set(pupils[key])
        for table, frame in tables.items():
            if table in ("schoolcensus", "pupilonroll"):
                continue
            unknown = ~frame[key].isin(known)
            if unknown.any():
                raise ExtractError(self.file_name, f"{table} rows name a pupil not on roll "
                                   f"({_places(frame, unknown)}), so the set was not loaded",
                                   ASK)

    def _absence(self, tables, pupils: pd.DataFrame, year: int):
        """Authorised and unauthorised absence per pupil: the pupil's own totals before 2025,
        summed from the session rows by reason from then (or when the totals are absent)."""
        s = spec(FORMAT)
        own = ("termlysessionsauthorised" in pupils and "termlysessionsunauthorised" in pupils)
        if year < s["absence_from_sessions_from"] and own:
            return (pupils["termlysessionsauthorised"].to_numpy(),
                    pupils["termlysessionsunauthorised"].to_numpy())
        rows = tables.get("sessions")
        if rows is None:
            return None, None
        sessions = pd.to_numeric(rows["sessions"], errors="coerce")
        bad = sessions.isna() | (sessions < 0) | (sessions % 1 != 0)
        if bad.any():
            raise ExtractError(self.file_name, f"session rows whose sessions are not a whole "
                               f"number ({_places(rows, bad)})", ASK)
        key = s["key"]
        totals = []
        for kind in ("authorised", "unauthorised"):
            counted = rows["attendancereason"].str.upper().isin(s["absence"][kind])
            summed = sessions[counted].groupby(rows.loc[counted, key]).sum()
            totals.append(summed.reindex(pupils[key]).fillna(0).astype(int).astype(str)
                          .to_numpy())
        return totals[0], totals[1]


def _address_line(address: pd.DataFrame) -> pd.Series:
    parts = [address[c] for c in ("saon", "paon", "street") if c in address]
    if not parts:
        return pd.Series([None] * len(address), index=address.index, dtype=object)
    joined = pd.concat(parts, axis=1).apply(
        lambda r: " ".join(v for v in r if isinstance(v, str)) or None, axis=1)
    return joined.astype(object)


def _school_type(census: pd.Series, years: pd.Series) -> pd.Series:
    """PRU when the census says so, else the phase of the pupil's curriculum year; a year the
    spec does not place is passed on for validation to quarantine."""
    rules = spec(FORMAT)["school_type"]
    named = rules["census_name"].get(str(census.get("name") or "").upper())
    if named:
        return pd.Series(named, index=years.index, dtype=object)
    phase = {**{y: "PRIMARY" for y in rules["primary_years"]},
             **{y: "SECONDARY" for y in rules["secondary_years"]}}
    return years.map(lambda y: phase.get(str(y).upper(), y) if y is not None else None)


def _academic_year(census: pd.Series, year: int) -> str:
    """The academic year the census falls in: from the reference date when given (August on
    starts a year), else from the census year and term (autumn starts the year)."""
    ref = census.get("referencedate")
    if ref and len(ref) >= 7 and ref[:4].isdigit() and ref[5:7].isdigit():
        start = int(ref[:4]) if int(ref[5:7]) >= 8 else int(ref[:4]) - 1
    else:
        start = year if census["term"] == "AUT" else year - 1
    return f"{start}/{(start + 1) % 100:02d}"


def _places(frame: pd.DataFrame, mask: pd.Series, limit: int = 5) -> str:
    where = frame.loc[mask, WHERE].tolist()
    more = f" and {len(where) - limit} more" if len(where) > limit else ""
    return ", ".join(where[:limit]) + more
