"""Parsing text into dates, times, numbers, flags and codes, vectorised, never guessing.

A value that does not parse becomes NULL here; validation then sees a NULL beside a non-empty
raw value and quarantines the row with the rule it broke.
"""

from __future__ import annotations

import re

import pandas as pd

from sources.codes import load_table, translation
from sources.errors import ExtractError

ISO_RE = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$"
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
FLAG_WORDS = {
    "Y": True, "YES": True, "TRUE": True, "1": True, "T": True,
    "N": False, "NO": False, "FALSE": False, "0": False, "F": False,
}
DAY_FIRST = {"/": "%d/%m/%Y", "-": "%d-%m-%Y", ".": "%d.%m.%Y"}
MONTH_FIRST = {"/": "%m/%d/%Y", "-": "%m-%d-%Y", ".": "%m.%d.%Y"}


def _iso(text: pd.Series) -> pd.Series:
    iso = text.where(text.str.match(ISO_RE, na=False))
    return pd.to_datetime(iso, format="ISO8601", errors="coerce")


def _excel_serial(text: pd.Series) -> pd.Series:
    """Excel day numbers (1900 system) for cells a spreadsheet left as numbers."""
    serial = pd.to_numeric(text.where(text.str.fullmatch(r"\d{4,5}(\.\d+)?", na=False)),
                           errors="coerce")
    serial = serial.where((serial > 0) & (serial < 100_000))
    return EXCEL_EPOCH + pd.to_timedelta(serial, unit="D")


def infer_date_format(text: pd.Series, column: str, file_name: str) -> str | None:
    """A format for a date column whose map gives none, when the values make it unambiguous.

    ISO and yyyymmdd need no format. dd/mm vs mm/dd is decided only when some value has a first
    part above 12 (day first) or a second part above 12 (month first); otherwise the file is
    rejected naming the column, because a silent guess would swap days and months for every row.
    """
    values = text.dropna()
    if values.empty or values.str.match(ISO_RE).all():
        return None
    if values.str.fullmatch(r"\d{8}").all():
        return "%Y%m%d"
    if values.str.fullmatch(r"\d{1,2}-[A-Za-z]{3}-\d{4}").all():
        return "%d-%b-%Y"
    parts = values.str.extract(r"^(\d{1,2})([/.-])(\d{1,2})[/.-](\d{4})")
    if parts[0].notna().all():
        sep = parts[1].mode().iat[0]
        first, second = parts[0].astype(int), parts[2].astype(int)
        day_first, month_first = (first > 12).any(), (second > 12).any()
        if day_first and not month_first:
            return DAY_FIRST[sep]
        if month_first and not day_first:
            return MONTH_FIRST[sep]
    raise ExtractError(
        file_name,
        f"the date format of column '{column}' cannot be told (dd/mm/yyyy or mm/dd/yyyy?)",
        "State it in the column map, e.g. `{column: ..., format: \"%d/%m/%Y\"}`.",
    )


def parse_datetimes(text: pd.Series, formats: list[str], excel: bool) -> pd.Series:
    """First format that parses each value, then ISO, then (spreadsheets) Excel serials."""
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    todo = text.notna()
    for fmt in formats:
        if not todo.any():
            break
        parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        out[parsed.index] = out[parsed.index].fillna(parsed)
        todo = text.notna() & out.isna()
    if todo.any():
        out[todo] = _iso(text[todo])
        todo = text.notna() & out.isna()
    if excel and todo.any():
        out[todo] = _excel_serial(text[todo])
    return out


def parse_int(text: pd.Series) -> pd.Series:
    number = pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce")
    whole = number.where(number.notna() & (number == number.round()) & (number.abs() < 2**31))
    return whole.astype("Int64")


def parse_flag(text: pd.Series, codes: dict[str, str] | None) -> pd.Series:
    words = dict(FLAG_WORDS)
    if codes:
        words.update({k: str(v).upper() in ("TRUE", "Y", "YES", "1") for k, v in codes.items()})
    return text.str.upper().map(words).astype("boolean")


def code_lookup(canonical_table: str | None, codes: dict[str, str] | None,
                translate: str | None) -> dict[str, str]:
    """Supplier code (upper case) -> canonical code, for one column of one map."""
    if codes is not None:
        return dict(codes)
    if translate is not None:
        return dict(translation(translate).map)
    if canonical_table is None:
        return {}
    return {code.upper(): code for code in load_table(canonical_table).codes}


def parse_codes(text: pd.Series, lookup: dict[str, str]) -> pd.Series:
    return text.str.strip().str.upper().map(lookup).astype("string")


def parse_code_list(text: pd.Series, lookup: dict[str, str], separator: str) -> pd.Series:
    """A list of canonical codes, or NULL if any element is not a known code."""
    def one(value):
        if value is None or value is pd.NA:
            return None
        items = [v.strip().upper() for v in re.split(re.escape(separator), value) if v.strip()]
        mapped = [lookup.get(v) for v in items]
        if any(m is None for m in mapped):
            return None
        return sorted(set(mapped))

    return text.map(one, na_action="ignore").astype(object)
