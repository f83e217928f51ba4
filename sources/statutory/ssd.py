"""The Standard Safeguarding Dataset extract (D2I's SSD): a folder of tables (CSV or Parquet) into
event rows.

The SSD is how names and cross-agency identifiers reach a partnership from a council's case
system: unlike the CIN census it names the child (ssd_person) and lists the child's other
identifiers with their types (ssd_linked_identifiers: UPN, NHS number, ULN...), so its rows link
by name and by identifier chains. The tables only make sense together (assessment factors name
an assessment, every other table names a person), so the set is read whole and checked whole
before any row is handed on. Tables are told by their key columns, not their file names
(specs/ssd.yaml); every event row carries the person's fields, as the CIN census reader's do.
"""

from __future__ import annotations

import json
import re
from functools import cache

import pandas as pd

from sources.errors import ExtractError
from sources.readers import CsvSource, ParquetSource, RawExtract
from sources.statutory.sets import named_files
from sources.statutory.specs import spec

FORMAT = "ssd"
MAP_NAME = "ssd"
WHERE = "_where"
ASK = "Ask the council's data team to run the SSD extract again and send every table."
MIDNIGHT = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[ T]00:00(?::00(?:\.0+)?)?)?$")
TABLE_SUFFIXES = (".csv", ".parquet")
EVENT_COLUMNS = ["SSDEventRef", "SSDEventType", "StartDate", "EndDate", "Factors",
                 "FactorsAsSent"]
PERSON_EXTRA = ["UPN", "FormerUPN", "ULN", "Postcode"]


@cache
def columns() -> tuple[str, ...]:
    s = spec(FORMAT)
    fields = [f for e in s["events"] for f in (e.get("fields") or {})]
    return (*EVENT_COLUMNS, *dict.fromkeys(fields), *s["person"], *PERSON_EXTRA)


def table_of(heading: list[str]) -> tuple[str, bool] | None:
    """(table, read) for a heading holding an SSD table's key column, else None."""
    present = set(heading)
    s = spec(FORMAT)
    for table, t in s["tables"].items():
        if t["key"] in present:
            return table, True
    for table, key in s["not_read"].items():
        if key in present:
            return table, False
    return None


def _heading(path, name: str, set_name: str) -> list[str]:
    return [h.strip().lower() for h in (_source(path, name, set_name).peek() or [[]])[0]]


def _source(path, name: str, set_name: str) -> CsvSource | ParquetSource:
    """A table file as CSV, or as Parquet when delivered so (by its delivered name)."""
    try:
        return ParquetSource(path) if name.lower().endswith(".parquet") else CsvSource(path)
    except ExtractError as exc:      # named as the set's file, not its archive copy
        raise ExtractError(set_name, f"{name}: {exc.problem}", exc.action) from None


def is_ssd(folder) -> bool:
    """A folder holding the SSD's person table (or any SSD table) is an SSD extract."""
    return any(table_of(_heading(p, n, folder.name)) is not None
               for p, n in named_files(folder) if n.lower().endswith(TABLE_SUFFIXES))


class SsdHeader:
    """What the extract says about itself, for the ledger (no personal data)."""

    def __init__(self):
        self.tables: dict[str, str] = {}
        self.not_read: list[str] = []
        self.identifier_types: dict[str, int] = {}   # linked identifier types not read

    def record(self) -> dict:
        return {"format": FORMAT, "tables": dict(self.tables), "not_read": list(self.not_read),
                "identifier_types_not_read": dict(self.identifier_types)}


class SsdSetSource:
    map_name = MAP_NAME

    def __init__(self, folder, file_name: str | None = None):
        self.folder = folder
        self.file_name = file_name or folder.name
        self.header = SsdHeader()
        self._files: dict[str, tuple] | None = None

    def _tables(self) -> dict[str, tuple]:
        if self._files is None:
            found: dict[str, tuple] = {}
            for path, name in named_files(self.folder):
                told = table_of(_heading(path, name, self.file_name))
                if told is None:
                    raise ExtractError(self.file_name, f"{name} is not one of the Standard "
                                       "Safeguarding Dataset tables (it holds none of their key "
                                       "columns, e.g. pers_person_id for ssd_person)",
                                       "Remove it from the folder if it does not belong to "
                                       "the extract.")
                table, read = told
                if not read:
                    self.header.not_read.append(name)
                    continue
                if table in found:
                    raise ExtractError(self.file_name, f"{found[table][1]} and {name} are both "
                                       f"the {table} table", "Send one file per table.")
                found[table] = (path, name)
            person = spec(FORMAT)["person_table"]
            if person not in found:
                raise ExtractError(self.file_name, f"the SSD extract has no {person} table (a "
                                   f"file with the column {spec(FORMAT)['key']}), so none of its "
                                   "tables was loaded", ASK)
            self.header.tables = {t: n for t, (_, n) in found.items()}
            self._files = found
        return self._files

    def peek(self) -> list[list[str]]:
        self._tables()
        return [list(columns())]

    def _table(self, table: str) -> pd.DataFrame:
        path, name = self._tables()[table]
        frame = _source(path, name, self.file_name).read(1).frame
        frame = frame.rename(columns=lambda c: str(c).strip().lower())
        frame = frame.apply(lambda s: s.str.strip()).replace("", None)
        frame = frame.apply(lambda s: s.str.replace(MIDNIGHT, r"\1", regex=True))
        frame[WHERE] = [f"{name} row {n}" for n in frame.index]
        return frame

    def read(self, header_row: int = 1) -> RawExtract:
        tables = {table: self._table(table) for table in self._tables()}
        return flatten(tables, self.file_name, self.header)


def _places(frame: pd.DataFrame, mask: pd.Series, limit: int = 5) -> str:
    where = frame.loc[mask, WHERE].tolist()
    more = f" and {len(where) - limit} more" if len(where) > limit else ""
    return ", ".join(where[:limit]) + more


def check_tables(tables: dict[str, pd.DataFrame], file_name: str) -> None:
    """Every table's key present and unique, every row naming a person (or assessment) the
    extract holds: refused whole naming files and rows, never an identifier's value."""
    s = spec(FORMAT)
    for table, frame in tables.items():
        t = s["tables"][table]
        key = t["key"]
        if key not in frame:
            raise ExtractError(file_name, f"the {table} table has no {key} column", ASK)
        bad = frame[key].isna() | frame[key].duplicated(keep=False)
        if bad.any():
            raise ExtractError(file_name, f"{table} rows without a {key} or sharing one "
                               f"({_places(frame, bad)}); each row has its own", ASK)
    known = set(tables[s["person_table"]][s["key"]])
    for table, frame in tables.items():
        t = s["tables"][table]
        if "person" in t:
            column, holder, what = t["person"], known, f"a person not in {s['person_table']}"
        elif "via" in t:
            via = t["via"]
            if via["table"] not in tables:
                raise ExtractError(file_name, f"the {table} table names assessments but the "
                                   f"extract has no {via['table']} table", ASK)
            column, what = via["column"], f"an assessment not in {via['table']}"
            holder = set(tables[via["table"]][s["tables"][via["table"]]["key"]])
        else:
            continue
        if column not in frame:
            raise ExtractError(file_name, f"the {table} table has no {column} column", ASK)
        unknown = ~frame[column].isin(holder)
        if unknown.any():
            raise ExtractError(file_name, f"{table} rows name {what} ({_places(frame, unknown)}), "
                               "so the extract was not loaded", ASK)


def factor_codes(text: str | None, where: str, file_name: str) -> list[str]:
    """An assessment's factor codes, without 21 (no factors)."""
    none = spec(FORMAT)["factors"]["none"]
    return [c for c in sent_codes(text, where, file_name) if c != none]


def sent_codes(text: str | None, where: str, file_name: str) -> list[str]:
    """An assessment's factor codes as sent (21 and repeats kept, for the DfE rules 8869 and
    8898), from either JSON form; anything else refuses the extract."""
    f = spec(FORMAT)["factors"]
    if text is None:
        return []
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExtractError(file_name, f"{where}, column {f['json']}: not valid JSON ({exc.msg} "
                           f"at character {exc.pos + 1})", ASK + " The factors are a JSON array "
                           "such as [\"1A\",\"11A\"] or an object such as {\"11A\":\"Yes\"}.") \
            from None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        codes = value
    elif isinstance(value, dict):
        yes = set(f["identified"])
        codes = [k for k, v in value.items() if str(v).strip().lower() in yes]
    else:
        raise ExtractError(file_name, f"{where}, column {f['json']}: JSON that is neither a list "
                           "of factor codes nor an object of codes and Yes/No", ASK)
    return [c.strip().upper() for c in codes if c.strip()]


def _factors(tables: dict[str, pd.DataFrame], file_name: str) -> dict[str, list[str]]:
    """assessment id -> its factor codes as sent."""
    f = spec(FORMAT)["factors"]
    frame = tables.get(f["table"])
    if frame is None:
        return {}
    out: dict[str, list[str]] = {}
    for assessment, text, where in zip(frame[f["assessment"]], frame.get(f["json"]),
                                       frame[WHERE], strict=True):
        out.setdefault(assessment, []).extend(sent_codes(text, where, file_name))
    return out


def _counted(codes) -> list[str]:
    none = spec(FORMAT)["factors"]["none"]
    return sorted({c for c in codes if c != none})


def _identifiers(tables: dict[str, pd.DataFrame], header: SsdHeader) -> pd.DataFrame:
    """One row per person: the linked identifiers of the types read (the current one of each
    type: not ended, latest valid-from; an ended UPN becomes the former UPN)."""
    ids = spec(FORMAT)["identifiers"]
    frame = tables.get(ids["table"])
    person = spec(FORMAT)["tables"][ids["table"]].get("person")
    wanted = list(ids["types"])
    if frame is None or frame.empty:
        return pd.DataFrame(columns=wanted)
    label = frame[ids["type"]].fillna("").str.lower().str.split().str.join(" ")
    kinds = pd.Series(None, index=frame.index, dtype=object)
    for column, patterns in ids["types"].items():
        hit = label.map(lambda t, p=patterns: any(re.fullmatch(x, t) for x in p))
        kinds = kinds.where(kinds.notna() | ~hit, column)
    for other, n in label[kinds.isna()].value_counts().items():
        header.identifier_types[other or "(blank)"] = int(n)
    ended = frame.get(ids["valid_to"], pd.Series(None, index=frame.index)).notna()
    for current, former in ids["ended_becomes"].items():
        kinds = kinds.where(~(ended & (kinds == current)), former)
    rows = pd.DataFrame({"person": frame[person], "kind": kinds, "value": frame[ids["value"]],
                         "ended": ended,
                         "since": frame.get(ids["valid_from"], pd.Series(None, index=frame.index))})
    rows = rows.dropna(subset=["kind", "value"])
    rows = rows.sort_values(["ended", "since"], ascending=[True, False], na_position="last",
                            kind="stable")
    picked = rows.drop_duplicates(["person", "kind"]).pivot(index="person", columns="kind",
                                                            values="value")
    return picked.reindex(columns=wanted)


def _postcodes(tables: dict[str, pd.DataFrame]) -> pd.Series:
    a = spec(FORMAT)["address"]
    frame = tables.get(a["table"])
    if frame is None or frame.empty:
        return pd.Series(dtype=object)
    person = spec(FORMAT)["tables"][a["table"]]["person"]
    current = frame[frame.get(a["end"], pd.Series(None, index=frame.index)).isna()]
    current = current.sort_values(a["start"], ascending=False, na_position="last", kind="stable")
    return current.drop_duplicates(person).set_index(person)[a["postcode"]]


def flatten(tables: dict[str, pd.DataFrame], file_name: str, header: SsdHeader) -> RawExtract:
    s = spec(FORMAT)
    check_tables(tables, file_name)
    people = tables[s["person_table"]]
    person = pd.DataFrame({c: people.get(col) for c, col in s["person"].items()})
    person.index = people[s["key"]].to_numpy()
    linked = _identifiers(tables, header).reindex(person.index)
    for column in linked.columns:
        if column in person:        # the person table's own value first (its NHS number)
            person[column] = person[column].where(person[column].notna(), linked[column])
        else:
            person[column] = linked[column]
    send = tables.get(s["send"]["table"])
    if send is not None and not send.empty:
        held = send.drop_duplicates(s["tables"][s["send"]["table"]]["person"]).set_index(
            s["tables"][s["send"]["table"]]["person"])
        for column, source in s["send"]["columns"].items():
            if source in held:
                person[column] = person[column].where(person[column].notna(),
                                                      held[source].reindex(person.index))
    person["Postcode"] = _postcodes(tables).reindex(person.index)
    factors = _factors(tables, file_name)
    by_referral: dict[str, set[str]] = {}
    owner = s["tables"][s["factors"]["table"]]["via"]["table"]
    assessments = tables.get(owner)
    if assessments is not None:
        link = s["factors"]["referral_of_assessment"]
        key = s["tables"][owner]["key"]
        for assessment, referral in zip(assessments[key], assessments.get(link), strict=True):
            by_referral.setdefault(referral, set()).update(_counted(factors.get(assessment,
                                                                                 [])))
    parts = []
    for event in s["events"]:
        frame = tables.get(event["table"])
        if frame is None or frame.empty:
            continue
        t = s["tables"][event["table"]]
        ids = frame[t["key"]]
        sent = None
        if event.get("factors") == "own":
            codes = ids.map(lambda i: _counted(factors.get(i, [])))
            sent = ids.map(lambda i: ",".join(factors.get(i, [])) or None)
        elif event.get("factors") == "referral":
            codes = ids.map(lambda i: sorted(by_referral.get(i, ())))
        else:
            codes = pd.Series([[]] * len(frame), index=frame.index)
        rows = pd.DataFrame({
            "SSDEventRef": event["table"] + ":" + ids + "#" + event["type"],
            "SSDEventType": event["type"],
            "StartDate": frame.get(event["start"]),
            "EndDate": frame.get(event["end"]) if event.get("end") else None,
            "Factors": codes.map(lambda c: ",".join(c) or None),
            "FactorsAsSent": sent,
            **{c: frame.get(col) for c, col in (event.get("fields") or {}).items()},
        })
        who = person.loc[frame[t["person"]].tolist()].reset_index(drop=True)
        parts.append(pd.concat([rows.reset_index(drop=True), who], axis=1))
    if not parts:
        raise ExtractError(file_name, "the SSD extract holds no contacts, referrals, "
                           "assessments, plans, looked-after episodes or missing episodes", ASK)
    flat = pd.concat(parts, ignore_index=True).reindex(columns=list(columns()))
    flat = flat.astype(object).where(flat.notna(), None)
    flat.index = range(2, 2 + len(flat))
    return RawExtract(frame=flat, header=list(columns()), header_row=1)
