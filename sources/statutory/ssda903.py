"""The SSDA903 return (children looked after), as a set of CSV tables or as XML, into event rows.

A 903 delivery is several tables that only make sense together: episodes, missing periods and
the rest name a CHILD that the Header table describes. The set is read whole and checked whole
before any row is handed on (a Header missing, a CHILD twice in it, a row for a CHILD it does not
hold), so a return is loaded complete or not at all. Tables are told by their columns, not by
their file names, which every council's software chooses differently (specs/ssda903.yaml).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from sources.errors import ExtractError
from sources.readers import CsvSource, RawExtract
from sources.statutory.sets import named_files
from sources.statutory.specs import spec
from sources.statutory.xml_stream import local, stream

FORMAT = "ssda903"
MAP_NAME = "ssda903"
WHERE = "_where"
EVENT_COLUMNS = ["LACEventRef", "LACEventType", "StartDate", "EndDate"]
ASK = "Ask the supplier to export the whole SSDA903 return again."


def columns() -> list[str]:
    s = spec(FORMAT)
    carried = [c for e in s["events"] for c in e["carry"]]
    return [*EVENT_COLUMNS, *s["person"], *dict.fromkeys(carried)]


class Ssda903Header:
    """What the set says about itself, for the ledger: its tables and their files."""

    def __init__(self):
        self.tables: dict[str, str] = {}

    def record(self) -> dict:
        return {"format": FORMAT, "tables": dict(self.tables)}


class Ssda903SetSource:
    """A folder of CSV tables (as delivered, or as archived with its manifest)."""

    map_name = MAP_NAME

    def __init__(self, folder: Path, file_name: str | None = None):
        self.folder = folder
        self.file_name = file_name or folder.name
        self.header = Ssda903Header()
        self._files: dict[str, tuple[Path, str]] | None = None   # table -> (path, shown name)

    def _tables(self) -> dict[str, tuple[Path, str]]:
        if self._files is None:
            found: dict[str, tuple[Path, str]] = {}
            for path, name in named_files(self.folder):
                source = self._csv(path, name)
                heading = [h.strip().upper() for h in (source.peek() or [[]])[0]]
                table = identify(heading, self.file_name, name)
                if table in found:
                    raise ExtractError(self.file_name, f"{found[table][1]} and {name} are both "
                                       f"the {table} table", "Send one file per table.")
                found[table] = (path, name)
            _require(found, self.file_name)
            self.header.tables = {t: n for t, (_, n) in found.items()}
            self._files = found
        return self._files

    def _csv(self, path: Path, name: str) -> CsvSource:
        try:
            return CsvSource(path)
        except ExtractError as exc:      # named as the set's file, not its archive copy
            raise ExtractError(self.file_name, f"{name}: {exc.problem}", exc.action) from None

    def peek(self) -> list[list[str]]:
        self._tables()
        return [columns()]

    def read(self, header_row: int = 1) -> RawExtract:
        tables = {}
        for table, (path, name) in self._tables().items():
            try:
                raw = self._csv(path, name).read(1)
            except ExtractError as exc:
                raise ExtractError(self.file_name, exc.problem if exc.file_name ==
                                   self.file_name else f"{name}: {exc.problem}",
                                   exc.action) from None
            frame = raw.frame.rename(columns=lambda c: str(c).strip().upper())
            frame[WHERE] = [f"{name} row {n}" for n in frame.index]
            tables[table] = frame
        return flatten(tables, self.file_name)


class Ssda903XmlSource:
    """The XML form: EXPSSDA903/CHILD, each with its HEADER (and blocks nested in it) and its
    EPISODEs, streamed one child at a time."""

    map_name = MAP_NAME

    def __init__(self, path: Path, file_name: str | None = None):
        self.path = path
        self.file_name = file_name or path.name
        self.header = Ssda903Header()

    def peek(self) -> list[list[str]]:
        first = next(self._children(), None)
        if first is None:
            raise ExtractError(self.file_name, "the SSDA903 XML holds no CHILD", ASK)
        return [columns()]

    def _children(self):
        x = spec(FORMAT)["xml"]
        yield from stream(self.path, self.file_name, {x["child"]})

    def read(self, header_row: int = 1) -> RawExtract:
        x = spec(FORMAT)["xml"]
        rows: dict[str, list[dict]] = {}
        for found in self._children():
            _child_tables(found.element, found.path, x, rows)
        tables = {t: pd.DataFrame(r) for t, r in rows.items()}
        _require(tables, self.file_name)
        self.header.tables = {t: f"{self.file_name} ({x['child']}/...)" for t in tables}
        return flatten(tables, self.file_name)


def identify(heading: list[str], set_name: str, member: str) -> str:
    """The table whose identifying columns the heading holds (the most of them wins)."""
    present = set(heading)
    fits = [(len(t["identify"]), name) for name, t in spec(FORMAT)["tables"].items()
            if set(t["identify"]) <= present]
    if not fits:
        raise ExtractError(set_name, f"{member} is not one of the SSDA903 tables (its columns "
                           "match none of Header, Episodes, Missing, Reviews, UASC, OC2, OC3, AD1, "
                           "PlacedAdoption, PrevPerm, SWEpisodes, DoLo)",
                           "Check the file belongs to the return; remove it from the set "
                           "if not.")
    return max(fits)[1]


def _require(tables, file_name: str) -> None:
    for table in spec(FORMAT)["required_tables"]:
        if table not in tables:
            wanted = ", ".join(spec(FORMAT)["tables"][table]["identify"])
            raise ExtractError(file_name, f"the SSDA903 set has no {table} table (a file with "
                               f"the columns {wanted}), so none of its tables was loaded", ASK)


def _text(element) -> str | None:
    value = (element.text or "").strip()
    return sys.intern(value) if value else None


def _child_tables(child, where: str, x: dict, rows: dict[str, list[dict]]) -> None:
    blocks = x["blocks"]
    header_spec = x["header"]
    for n_head, head in enumerate((c for c in child if local(c.tag) == header_spec["element"]),
                                  start=1):
        fields: dict[str, str | None] = {}
        nested = []
        for node in head:
            name = local(node.tag)
            if name in blocks:
                nested.append(node)
            else:
                fields[header_spec["renames"].get(name, name)] = _text(node)
        key = fields.get("CHILD")
        head_where = f"{where}/{header_spec['element']}[{n_head}]"
        rows.setdefault("Header", []).append({**fields, WHERE: head_where})
        for table, names in x["header_tables"].items():
            if any(fields.get(n) for n in names):
                rows.setdefault(table, []).append(
                    {"CHILD": key, **{n: fields.get(n) for n in names}, WHERE: head_where})
        counts: dict[str, int] = {}
        for node in nested:
            name = local(node.tag)
            counts[name] = counts.get(name, 0) + 1
            rows.setdefault(blocks[name]["table"], []).append(
                {"CHILD": key, **_leaves(node, blocks[name]),
                 WHERE: f"{head_where}/{name}[{counts[name]}]"})
    key = next((r["CHILD"] for r in reversed(rows.get("Header", [])) if
                r[WHERE].startswith(f"{where}/")), None)
    counts = {}
    for node in child:
        name = local(node.tag)
        if name in blocks and blocks[name]["under"] == x["child"]:
            counts[name] = counts.get(name, 0) + 1
            rows.setdefault(blocks[name]["table"], []).append(
                {"CHILD": key, **_leaves(node, blocks[name]),
                 WHERE: f"{where}/{name}[{counts[name]}]"})


def _leaves(node, block: dict) -> dict:
    renames = block.get("renames") or {}
    return {renames.get(local(c.tag), local(c.tag)): _text(c) for c in node}


def _clean(frame: pd.DataFrame) -> pd.DataFrame:
    """Text trimmed and upper-cased (as the DfE's validator reads it), blanks as None.

    Each column's distinct values are cleaned once and shared by every row holding them: a
    903 set repeats a few codes and dates across hundreds of thousands of rows, and a string
    per cell was most of its memory."""
    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        if column == WHERE:
            out[column] = frame[column]
            continue
        codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
        text = pd.Series(uniques, dtype="string").str.strip().str.upper()
        cleaned = np.append(text.astype(object).where(text.notna() & (text != ""), None)
                            .to_numpy(dtype=object), None)
        out[column] = cleaned[codes]       # code -1 (missing) takes the None at the end
    return out


def _places(frame: pd.DataFrame, mask: pd.Series, limit: int = 5) -> str:
    where = frame.loc[mask, WHERE].tolist()
    more = f" and {len(where) - limit} more" if len(where) > limit else ""
    return ", ".join(where[:limit]) + more


def check_tables(tables: dict[str, pd.DataFrame], file_name: str) -> None:
    """The checks that tie the tables together (DfE INT rules): refused whole when one fails,
    naming files and rows, never a CHILD value (an identifier)."""
    key = spec(FORMAT)["key"]
    header = tables["Header"]
    missing_key = header[key].isna()
    if missing_key.any():
        raise ExtractError(file_name, f"the Header table has rows without a {key} "
                           f"({_places(header, missing_key)})", ASK)
    twice = header[key].duplicated(keep=False)
    if twice.any():
        raise ExtractError(file_name, f"a {key} appears more than once in the Header table "
                           f"({_places(header, twice)}); each child has one Header row", ASK)
    known = set(header[key])
    for table, frame in tables.items():
        if table == "Header":
            continue
        unknown = ~frame[key].isin(known)
        if unknown.any():
            raise ExtractError(file_name, f"{table} rows name a {key} that is not in the Header "
                               f"table ({_places(frame, unknown)}), so the set was not loaded",
                               ASK)
        if spec(FORMAT)["tables"][table].get("one_per_child"):
            again = frame[key].duplicated(keep=False)
            if again.any():
                raise ExtractError(file_name, f"a {key} appears more than once in the {table} "
                                   f"table ({_places(frame, again)}), which holds one row per "
                                   "child", ASK)


def flatten(tables: dict[str, pd.DataFrame], file_name: str) -> RawExtract:
    s = spec(FORMAT)
    tables = {t: _clean(f) for t, f in tables.items()}
    for table, frame in tables.items():
        if s["key"] not in frame.columns:
            raise ExtractError(file_name, f"the {table} table has no {s['key']} column", ASK)
    check_tables(tables, file_name)
    person = tables["Header"].reindex(columns=s["person"]).set_index(s["key"], drop=False)
    parts = []
    for event in s["events"]:
        frame = tables.get(event["table"])
        if frame is None or frame.empty:
            continue
        rows = pd.DataFrame({
            "LACEventRef": frame[WHERE] + f"#{event['type']}",
            "LACEventType": event["type"],
            "StartDate": frame.get(event["start"]),
            "EndDate": frame.get(event["end"]),
            **{c: frame.get(c) for c in event["carry"]},
        })
        people = person.loc[frame[s["key"]].tolist()].reset_index(drop=True)
        parts.append(pd.concat([rows.reset_index(drop=True), people], axis=1))
    if not parts:
        raise ExtractError(file_name, "the SSDA903 set holds no episodes or missing periods",
                           ASK)
    flat = pd.concat(parts, ignore_index=True).reindex(columns=columns())
    flat = flat.astype(object).where(flat.notna(), None)
    flat.index = range(2, 2 + len(flat))
    return RawExtract(frame=flat, header=columns(), header_row=1)
