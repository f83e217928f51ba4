"""The quarterly return as a workbook people can send on without hand work: headings in words,
fitted widths, frozen header rows, numbers a spreadsheet can sum, and on every sheet the
partnership, the period and the key to the symbols (a sheet is often forwarded on its own).

The layout - sheets, titles, headings, the rows above each table - is `workbook.yaml` beside
this module, not code: a heading is changed there, and docs/return.md describes the result.
Published counts are text in the warehouse (a suppressed count is `c`); here a number becomes a
number again and a symbol stays text, so a formula over a column skips the suppressed cells
rather than failing on them. Every text cell goes through warehouse.exports.guard_cell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from sources.common.yamlfiles import read_yaml
from warehouse.exports import guard_cell

LAYOUT_FILE = Path(__file__).with_name("workbook.yaml")
_INTEGER = re.compile(r"-?\d{1,14}")
_DECIMAL = re.compile(r"-?\d{1,14}\.(\d{1,6})")


@cache
def layout() -> dict:
    return read_yaml(LAYOUT_FILE)


def sheets() -> list[tuple[str, str, str]]:
    """(sheet name, publish table, title) in the return's fixed order."""
    return [(s["sheet"], s["table"], " ".join(str(s["title"]).split()))
            for s in layout()["sheets"]]


def header_row() -> int:
    return int(layout()["rows"]["header"])


def shown_columns(table: str, columns: list[str]) -> list[tuple[int, str]]:
    """(index in the table's columns, heading) of the columns the sheet shows, in the table's
    order. A column the layout does not name is shown under its own name, so nothing published
    is ever dropped by accident (a test insists that every column is named)."""
    named = layout()["columns"].get(table) or {}
    omit = set(layout().get("omit") or [])
    out = []
    for i, column in enumerate(columns):
        if column in omit or (column in named and named[column] is None):
            continue
        out.append((i, str(named.get(column, column))))
    return out


def unnamed_columns(table: str, columns: list[str]) -> list[str]:
    """Columns of a table that the layout neither heads nor leaves out."""
    named = layout()["columns"].get(table) or {}
    omit = set(layout().get("omit") or [])
    return [c for c in columns if c not in named and c not in omit]


def long_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


@dataclass(frozen=True)
class SheetContext:
    """What every sheet repeats above its table."""

    partnership: str
    quarter: str
    period: tuple[date, date]
    symbol: str = "c"
    not_applicable: str = "z"

    def about(self) -> str:
        return str(layout()["about"]).format(partnership=self.partnership, quarter=self.quarter,
                                             start=long_date(self.period[0]),
                                             end=long_date(self.period[1]))

    def key(self) -> str:
        return " ".join(str(layout()["key"]).format(
            symbol=self.symbol, not_applicable=self.not_applicable).split())


def cell_value(value: Any, as_text: bool = False) -> tuple[Any, str | None]:
    """(what the cell stores, its number format): whole numbers and decimals as numbers (with
    as many decimal places as published), everything else - and a label column's values,
    `as_text` - as guarded text."""
    if isinstance(value, bool) or as_text:
        return guard_cell(value), None
    if isinstance(value, int):
        return value, "#,##0"
    text = guard_cell(value)
    if _INTEGER.fullmatch(text):
        return int(text), "#,##0"
    decimal = _DECIMAL.fullmatch(text)
    if decimal:
        return float(text), "#,##0." + "0" * len(decimal.group(1))
    return text, None


def _fit_widths(ws, rows: list[list[Any]], headings: list[str]) -> None:
    """Wide enough for the longest value and the longest word of the heading (which wraps)."""
    from openpyxl.utils import get_column_letter

    limits = layout()["width"]
    for j, heading in enumerate(headings, start=1):
        longest_word = max((len(w) for w in heading.split()), default=0)
        longest_value = max((len(f"{r[j - 1]:,}" if isinstance(r[j - 1], int) else
                                 str(r[j - 1])) for r in rows), default=0)
        width = max(longest_word + 2, longest_value + 2, int(limits["min"]))
        ws.column_dimensions[get_column_letter(j)].width = min(width, int(limits["max"]))


def _sheet(wb, name: str, title: str, context: SheetContext, headings: list[str],
           rows: list[list[Any]], widths: list[int] | None = None,
           text_columns: frozenset[int] = frozenset()) -> None:
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    ws = wb.create_sheet(name)
    r = layout()["rows"]
    ws.cell(r["title"], 1, guard_cell(title)).font = Font(bold=True, size=13)
    ws.cell(r["about"], 1, guard_cell(context.about())).font = Font(bold=True)
    ws.cell(r["key"], 1, guard_cell(context.key())).font = Font(italic=True, color="505A5F")
    header = int(r["header"])
    wrap = Alignment(wrap_text=True, vertical="top")
    for j, heading in enumerate(headings, start=1):
        cell = ws.cell(header, j, guard_cell(heading))
        cell.font = Font(bold=True)
        cell.alignment = wrap
        cell.fill = PatternFill("solid", fgColor="F3F2F1")
        cell.border = Border(bottom=Side(style="thin"))
    right = Alignment(horizontal="right", vertical="top")
    top = Alignment(vertical="top", wrap_text=True)
    stored_rows = []
    for i, row in enumerate(rows, start=header + 1):
        stored = []
        for j, raw in enumerate(row, start=1):
            value, number_format = cell_value(raw, j - 1 in text_columns)
            cell = ws.cell(i, j, value)
            if number_format:
                cell.number_format = number_format
            symbol = value in (context.symbol, ":", context.not_applicable)
            cell.alignment = right if number_format or symbol else top
            stored.append(value)
        stored_rows.append(stored)
    ws.freeze_panes = ws.cell(header + 1, 1)
    if widths:
        from openpyxl.utils import get_column_letter

        for j, width in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(j)].width = width
    else:
        _fit_widths(ws, stored_rows, headings)


def write_workbook(path: Path, cover: list, tables: dict, context: SheetContext) -> Path:
    """The cover, then one sheet per table of `sheets()`, in that order."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    spec = layout()["cover"]
    _sheet(wb, spec["sheet"], spec["title"], context, list(spec["columns"]),
           [[key, value] for key, value in cover], widths=list(spec["widths"]),
           text_columns=frozenset({0, 1}))
    labels = set(layout().get("text") or [])
    for name, table, title in sheets():
        columns, rows = tables[table]
        shown = shown_columns(table, list(columns))
        _sheet(wb, name, title, context, [h for _i, h in shown],
               [[row[i] for i, _h in shown] for row in rows],
               text_columns=frozenset(j for j, (i, _h) in enumerate(shown)
                                      if columns[i] in labels))
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
