"""Ofsted's Annex A workbook (the ILACS lists), read list by list into event rows.

No two councils' workbooks are quite alike: sheet names, header wording and value labels ("b)
Female", "Female", "F") all vary. So each list's sheet, each column and each value are told by
patterns (specs/annex_a.yaml) and the code only walks them. The whole workbook is laid out
(every sheet told, every required header matched exactly once) before any row is read, and every
row is read before any is handed on, so a renamed sheet or header refuses the file rather than
loading part of it. openpyxl reads it in read-only mode (rows streamed, never the whole grid),
after sources.workbook_limits has bounded what the file expands to.

Annex A carries no names: children link on the council's child id, date of birth and sex.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from sources.errors import ExtractError
from sources.readers import DEFAULT_LIMITS, RawExtract, ReadLimits, _cell_text
from sources.statutory.flat import FlatRows
from sources.statutory.specs import spec
from sources.workbook_limits import check_workbook

FORMAT = "annex_a"
MAP_NAME = "annex_a"
CHILD_ID = "ChildID"
EVENT_COLUMNS = ["AnnexEventRef", "AnnexEventType", "StartDate", "EndDate"]
UK_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
ASK = ("Ask the council for the workbook as its system exports it, or add the wording to "
       "sources/statutory/specs/annex_a.yaml if it is genuine.")


def columns() -> list[str]:
    s = spec(FORMAT)
    fields = [*s["common"], *(f for lst in s["lists"].values() for f in lst["fields"])]
    return [*EVENT_COLUMNS, *dict.fromkeys(fields)]


@cache
def _pattern(text: str) -> re.Pattern:
    return re.compile(text)


def _norm(value) -> str:
    return " ".join(str(value).split()).lower()


def _matches(pattern: str, text: str) -> bool:
    return _pattern(pattern).match(text) is not None


def _fields(key: str) -> dict[str, dict]:
    s = spec(FORMAT)
    return {**s["common"], **s["lists"][key]["fields"]}


def _label(key: str) -> str:
    return f"list {key} ({spec(FORMAT)['lists'][key]['title']})"


def named_lists(sheet: str) -> list[str]:
    """The lists whose sheet-name pattern the sheet's name matches."""
    name = _norm(sheet)
    return [k for k, lst in spec(FORMAT)["lists"].items() if _matches(lst["sheet"], name)]


def is_annex_a(sheet_names: list[str]) -> bool:
    """A sheet named like a list ("List 8"), or sheets named like several lists' titles; a
    supplier's export with one "Referrals" sheet stays with the column-map readers."""
    detect = spec(FORMAT)["detect"]
    if any(_matches(detect["sheet"], _norm(n)) for n in sheet_names):
        return True
    titled = {k for n in sheet_names for k in named_lists(n)}
    return len(titled) >= detect["lists"]


@dataclass
class Layout:
    """Where one list is: its sheet, header row and the column of each field found."""

    key: str
    sheet: str
    header_row: int
    columns: dict[str, int] = field(default_factory=dict)


@dataclass
class AnnexAHeader:
    """What the workbook holds, for the ledger (sheet names and list numbers only)."""

    lists: dict[str, str] = field(default_factory=dict)     # "8 Children looked after": sheet
    not_loaded: list[str] = field(default_factory=list)     # list sheets told but not loaded

    def record(self) -> dict:
        return {"format": FORMAT, "lists": dict(self.lists), "not_loaded": list(self.not_loaded)}


class AnnexASource:
    """An Annex A workbook, read like the other sources (peek, then read) under its own map."""

    map_name = MAP_NAME

    def __init__(self, path: Path, file_name: str | None = None,
                 limits: ReadLimits = DEFAULT_LIMITS):
        self.path = path
        self.file_name = file_name or path.name
        self.header = AnnexAHeader()
        try:
            check_workbook(path, limits)
        except ExtractError as exc:          # named as delivered, not as its archive copy
            raise ExtractError(self.file_name, exc.problem, exc.action) from None
        self._layouts: list[Layout] | None = None

    def _open(self):
        from openpyxl import load_workbook

        try:
            return load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001 - openpyxl raises several types for a damaged file
            raise ExtractError(self.file_name, f"the workbook cannot be opened "
                               f"({type(exc).__name__})", "Open it in Excel to check it is not "
                               "damaged or password-protected, then re-save.") from None

    def peek(self) -> list[list[str]]:
        """The flat layout's headings, once every sheet is told and every header matched (so a
        renamed sheet or header is refused at receipt)."""
        book = self._open()
        try:
            self._lay_out(book)
        finally:
            book.close()
        return [columns()]

    def read(self, header_row: int = 1) -> RawExtract:
        book = self._open()
        try:
            layouts = self._lay_out(book)
            rows = FlatRows(columns())
            for layout in layouts:
                sheet = book[layout.sheet]
                for number, cells in enumerate(
                        sheet.iter_rows(min_row=layout.header_row + 1, values_only=True),
                        start=layout.header_row + 1):
                    _row_events(layout, number, cells, rows)
        finally:
            book.close()
        if not len(rows):
            raise ExtractError(self.file_name, "the Annex A workbook holds no rows on any list "
                               "Joined Up loads (1, 3 to 10)", "Ask the council to export the "
                               "lists with their rows; an empty delivery is not loaded, so it "
                               "cannot replace the previous one.")
        return rows.extract()

    def _lay_out(self, book) -> list[Layout]:
        if self._layouts is not None:
            return self._layouts
        s = spec(FORMAT)
        layouts: dict[str, Layout] = {}
        unknown = []
        for name in book.sheetnames:
            if any(_matches(p, _norm(name)) for p in s["ignore_sheets"]):
                continue
            top = [[_cell_text(c) for c in r] for r in
                   book[name].iter_rows(max_row=s["header_search_rows"], values_only=True)]
            layout = self._by_name(name, top) or _by_headers(name, top, self.file_name)
            if layout is None:
                unknown.append(name)
                continue
            if layout.key in layouts:
                raise ExtractError(self.file_name, f"sheets '{layouts[layout.key].sheet}' and "
                                   f"'{name}' are both {_label(layout.key)}",
                                   "Send one sheet per list.")
            layouts[layout.key] = layout
        if unknown:
            raise self._unknown_sheet(unknown[0], layouts)
        order = list(s["lists"])
        found = sorted(layouts.values(), key=lambda lay: order.index(lay.key))
        self.header.lists = {f"{lay.key} {s['lists'][lay.key]['title']}": lay.sheet
                             for lay in found}
        self._layouts = [lay for lay in found if s["lists"][lay.key]["events"]]
        self.header.not_loaded = [lay.sheet for lay in found if lay not in self._layouts]
        return self._layouts

    def _by_name(self, name: str, top: list[list]) -> Layout | None:
        keys = named_lists(name)
        if not keys:
            return None
        if len(keys) > 1:
            raise ExtractError(self.file_name, f"sheet '{name}' is named like "
                               f"{' and '.join(_label(k) for k in keys)}", "Rename the sheet "
                               "to the one list it holds (\"List 8\").")
        key = keys[0]
        if spec(FORMAT)["lists"][key].get("children") is False:
            return Layout(key, name, 1)
        header_row = _header_row(top)
        if header_row is None:
            raise ExtractError(self.file_name, f"sheet '{name}' ({_label(key)}): none of its "
                               f"first {spec(FORMAT)['header_search_rows']} rows has a child id "
                               f"header (expected one matching "
                               f"{_expected(spec(FORMAT)['common'][CHILD_ID])})", ASK)
        return _match_headers(key, name, header_row, top[header_row - 1], self.file_name)

    def _unknown_sheet(self, name: str, found: dict[str, Layout]) -> ExtractError:
        lists = spec(FORMAT)["lists"]
        absent = [k for k in lists if k not in found]
        wanted = "; ".join(f"{_label(k)}: a sheet named like /{lists[k]['sheet']}/ or with "
                           f"the headers {_required(k)}" for k in absent[:3])
        more = f" (and {len(absent) - 3} more lists)" if len(absent) > 3 else ""
        return ExtractError(self.file_name, f"sheet '{name}' is none of the Annex A lists: its "
                            f"name and its headers match no list's patterns. The lists not "
                            f"found are {wanted}{more}", ASK)


def _expected(rule: dict) -> str:
    return " or ".join(f"/{p}/" for p in rule["header"])


def _required(key: str) -> str:
    return ", ".join(f"{f} {_expected(r)}" for f, r in _fields(key).items() if r.get("required"))


def _header_row(top: list[list]) -> int | None:
    child_id = spec(FORMAT)["common"][CHILD_ID]["header"]
    for number, cells in enumerate(top, start=1):
        if any(c and any(_matches(p, _norm(c)) for p in child_id) for c in cells):
            return number
    return None


def _find(rule: dict, headings: list[str]) -> list[int]:
    """The columns the rule's first matching pattern picks (patterns are tried in order, so a
    precise one wins over a looser fallback)."""
    for pattern in rule["header"]:
        hits = [i for i, h in enumerate(headings) if h and _matches(pattern, h)]
        if hits:
            return hits
    return []


def _match_headers(key: str, sheet: str, header_row: int, cells: list,
                   file_name: str) -> Layout:
    headings = [_norm(c) if c else "" for c in cells]
    layout = Layout(key, sheet, header_row)
    owner: dict[int, str] = {}
    where = f"sheet '{sheet}' ({_label(key)}), row {header_row}"
    for name, rule in _fields(key).items():
        hits = _find(rule, headings)
        if len(hits) > 1:
            shown = " and ".join(f"'{cells[i]}'" for i in hits)
            raise ExtractError(file_name, f"{where}: the headers {shown} both match {name} "
                               f"({_expected(rule)})", ASK)
        if not hits:
            if rule.get("required"):
                raise ExtractError(file_name, f"{where}: no header matches {name} (expected "
                                   f"one matching {_expected(rule)})", ASK)
            continue
        if hits[0] in owner:
            raise ExtractError(file_name, f"{where}: the header '{cells[hits[0]]}' matches "
                               f"both {owner[hits[0]]} and {name}", ASK)
        owner[hits[0]] = name
        layout.columns[name] = hits[0]
    return layout


def _by_headers(sheet: str, top: list[list], file_name: str) -> Layout | None:
    """A sheet whose name matches no list is the first list whose required headers it holds."""
    header_row = _header_row(top)
    if header_row is None:
        return None
    headings = [_norm(c) if c else "" for c in top[header_row - 1]]
    for key, lst in spec(FORMAT)["lists"].items():
        required = [r for r in _fields(key).values() if r.get("required")]
        if lst["fields"] and all(_find(r, headings) for r in required):
            return _match_headers(key, sheet, header_row, top[header_row - 1], file_name)
    return None


def _value(rule: dict, raw) -> str | None:
    text = _cell_text(raw)
    if text is None or not text.strip():
        return None
    text = text.strip()
    if rule.get("type") == "date":
        return _date(text)
    table = rule.get("values")
    if table:
        lowered = _norm(text)
        for pattern, code in spec(FORMAT)["values"][table]:
            if _matches(pattern, lowered):
                return code
    return text


def _date(text: str) -> str:
    """A date cell as ISO text; a UK-written text date too. Anything else is passed on for
    validation to quarantine with its row."""
    uk = UK_DATE.match(text)
    if uk:
        day, month, year = uk.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return text


def _row_events(layout: Layout, number: int, cells: tuple, rows: FlatRows) -> None:
    if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
        return
    fields = _fields(layout.key)
    values = {name: _value(fields[name], cells[i] if i < len(cells) else None)
              for name, i in layout.columns.items()}
    events = spec(FORMAT)["lists"][layout.key]["events"]
    owned = {f for e in events for f in e.get("carry", [])}
    base = {k: v for k, v in values.items() if k not in owned}
    for position, event in enumerate(events):
        start = next((values[f] for f in event["start"] if values.get(f)), None)
        if start is None and position:
            continue        # a later event's date not filled (no ICPC held) is no event; the
                            # list's own event without its date is kept, for validation to
                            # quarantine naming the row
        rows.add({**base, **{f: values.get(f) for f in event.get("carry", [])},
                  "AnnexEventRef": f"{layout.sheet} row {number}#{event['type']}",
                  "AnnexEventType": event["type"], "StartDate": start,
                  "EndDate": values.get(event["end"]) if event.get("end") else None})
