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
from sources.statutory.flat import categorical, frame_of
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
            frame[WHERE] = pd.Series([f"{name} row {n}" for n in frame.index],
                                     index=frame.index, dtype=object)
            # coded as soon as read: a table's text, a string per cell, is let go before the
            # next is read
            tables[table] = coded(frame, table, self.file_name)
            del raw, frame
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
        tables = {t: coded(pd.DataFrame(rows.pop(t)), t, self.file_name) for t in list(rows)}
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


class _Coded:
    """One table's columns as codes into each column's distinct cleaned values (-1: blank),
    with the table's row places: a 903 set repeats a few codes and dates across hundreds of
    thousands of rows, and a string pointer per cell, copied at each step of joining the
    tables, was most of its memory."""

    def __init__(self, frame: pd.DataFrame):
        self.rows = len(frame)
        self.where = frame[WHERE].to_numpy(dtype=object)
        self.columns: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for column in frame.columns:
            if column != WHERE:
                self.columns[column] = _clean(frame[column])

    def get(self, column: str | None) -> tuple[np.ndarray, np.ndarray]:
        """(codes, values) of a column; an absent one is blank on every row."""
        if column in self.columns:
            return self.columns[column]
        return np.full(self.rows, -1, dtype=np.int32), np.array([], dtype=object)

    def text(self, column: str) -> pd.Series:
        codes, values = self.get(column)
        return pd.Series(np.append(values, None)[codes], dtype=object)

    def checked(self, key: str) -> pd.DataFrame:
        """The key and row places alone, for the checks that tie the tables together."""
        return pd.DataFrame({key: self.text(key), WHERE: self.where})


def _clean(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Text trimmed and upper-cased (as the DfE's validator reads it), blanks as code -1; each
    distinct value cleaned once."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    text = pd.Series(uniques, dtype="string").str.strip().str.upper()
    cleaned_codes, cleaned = pd.factorize(text.where(text != ""), use_na_sentinel=True)
    remap = np.append(cleaned_codes, -1).astype(np.int32)
    return remap[codes], np.asarray(cleaned, dtype=object)


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


def coded(frame: pd.DataFrame, table: str, file_name: str) -> _Coded:
    key = spec(FORMAT)["key"]
    if key not in frame.columns:
        raise ExtractError(file_name, f"the {table} table has no {key} column", ASK)
    return _Coded(frame)


def flatten(coded: dict[str, _Coded], file_name: str) -> RawExtract:
    s = spec(FORMAT)
    key = s["key"]
    check_tables({t: c.checked(key) for t, c in coded.items()}, file_name)
    header = coded["Header"]
    children = pd.Index(header.text(key))
    refs, pieces = [], {c: [] for c in columns()[1:]}
    for event in s["events"]:
        table = coded.get(event["table"])
        if table is None or not table.rows:
            continue
        refs.append((pd.Series(table.where, dtype=object) + f"#{event['type']}").to_numpy())
        pieces["LACEventType"].append((np.zeros(table.rows, dtype=np.int32),
                                       np.array([event["type"]], dtype=object)))
        pieces["StartDate"].append(table.get(event["start"]))
        pieces["EndDate"].append(table.get(event["end"]))
        at = children.get_indexer(table.text(key))
        for column in s["person"]:
            codes, values = header.get(column)
            pieces[column].append((codes[at], values))
        for column in pieces:
            if column not in ("LACEventType", "StartDate", "EndDate", *s["person"]):
                pieces[column].append(table.get(column if column in event["carry"] else None))
    if not refs:
        raise ExtractError(file_name, "the SSDA903 set holds no episodes or missing periods",
                           ASK)
    flat = {"LACEventRef": np.concatenate(refs)}
    for column, parts in pieces.items():
        flat[column] = _joined(parts)
    return frame_of(flat, len(flat["LACEventRef"]))


def _joined(parts: list[tuple[np.ndarray, np.ndarray]]) -> pd.Categorical:
    """The event parts of one column as one categorical column of their values."""
    values = pd.Index(np.concatenate([v for _, v in parts]), dtype=object).unique()
    codes = [np.append(values.get_indexer(v), -1)[c] for c, v in parts]
    return categorical(np.concatenate(codes), values)
