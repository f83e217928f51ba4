"""Applying a column map: supplier columns -> canonical columns, raw text kept beside each.

The result has, for every canonical column the map provides, the parsed value `<column>` and the
text as received `<column>_raw`. Columns the export does not carry are absent (NULL downstream),
never zero. Nothing is dropped here except completely blank rows, which are counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sources import parsing, standardise
from sources.column_maps import ColumnMap, ColumnRule, normalise_header
from sources.errors import ExtractError
from sources.kinds import Column, Kind, get_kind
from sources.readers import RawExtract

STANDARDISERS = {
    "name": standardise.name,
    "postcode": standardise.postcode,
    "nhs_number": standardise.nhs_number,
    "upn": standardise.upn,
    "string": standardise.blank_to_null,
}


@dataclass
class MappedExtract:
    """Canonical rows of one file, indexed by row number in the file."""

    kind: Kind
    map_name: str
    frame: pd.DataFrame
    columns: list[str]                  # canonical columns present
    blank_rows: int = 0
    notes: list[str] = field(default_factory=list)   # absent optional columns etc. (no values)
    extra_columns: list[str] = field(default_factory=list)  # supplier columns the map ignores
    # code column -> `<table>.<translation>` it was mapped with, so validation can check that
    # each code was in force at the row's date (inline `codes:` carry no dates: not listed)
    code_lists: dict[str, str] = field(default_factory=dict)
    # the reader's rows as read (by row number), for checks on fields the kind has no column for
    # (the DfE rules of a statutory return: expectations/dfe_rules.yaml); not copied
    source: pd.DataFrame | None = None

    @property
    def rows_in(self) -> int:
        return len(self.frame)


def _kept_words(col: Column, rule: ColumnRule) -> frozenset[str]:
    """Placeholder words ('unknown', 'not known') that a code column's code set maps itself:
    there they are answers (refused / not known), kept apart from a blank (not recorded)."""
    if col.type != "code":
        return frozenset()
    mapped = parsing.code_lookup(col.codes, rule.codes, rule.translate)
    return frozenset(mapped) & standardise.NULL_WORDS


def _column_text(raw: RawExtract, rule: ColumnRule, lookup: dict[str, str],
                 keep: frozenset[str] = frozenset()) -> pd.Series | None:
    if rule.value is not None:
        return pd.Series(rule.value, index=raw.frame.index, dtype="string")
    source = lookup.get(normalise_header(rule.column)) if rule.column else None
    if source is None:
        return None
    original = raw.frame[source].astype("string")
    text = by_value(original, standardise.blank_to_null)
    if keep:
        stripped = original.str.strip()
        text = text.mask(stripped.str.upper().isin(keep), stripped)
    if rule.time_column:
        time_source = lookup.get(normalise_header(rule.time_column))
        if time_source is not None:
            times = standardise.blank_to_null(raw.frame[time_source].astype("string"))
            text = (text + " " + times.fillna("")).str.strip()
    return text


def _formats(rule: ColumnRule, col: Column, cmap: ColumnMap, text: pd.Series,
             file_name: str) -> list[str]:
    date_fmt = cmap.formats.get("date")
    if col.type == "date":
        fmt = rule.format or date_fmt or parsing.infer_date_format(text, rule.column, file_name)
        return [fmt] if fmt else []
    time_fmt = rule.time_format or "%H:%M"
    fmts = []
    if rule.format:
        fmts.append(rule.format)
        if rule.time_column:
            fmts.append(f"{rule.format} {time_fmt}")
    if cmap.formats.get("datetime"):
        fmts.append(cmap.formats["datetime"])
    if date_fmt:
        fmts += [f"{date_fmt} {time_fmt}", f"{date_fmt} %H:%M:%S", date_fmt]
    if not fmts:
        inferred = parsing.infer_date_format(text.str.split(" ").str[0], rule.column, file_name)
        if inferred:
            fmts = [f"{inferred} %H:%M", f"{inferred} %H:%M:%S", inferred]
    return fmts


def _parser(col: Column, rule: ColumnRule, text: pd.Series, cmap: ColumnMap, excel: bool,
            file_name: str):
    """The function that parses a column's text (a date format is inferred from every value
    of the column, before any is parsed)."""
    if col.type in STANDARDISERS:
        return STANDARDISERS[col.type]
    if col.type in ("date", "datetime"):
        fmts = _formats(rule, col, cmap, text, file_name)

        def dates(values: pd.Series) -> pd.Series:
            parsed = parsing.parse_datetimes(values, fmts, excel)
            return parsed.dt.normalize() if col.type == "date" else parsed
        return dates
    if col.type == "int":
        return parsing.parse_int
    if col.type == "flag":
        return lambda values: parsing.parse_flag(values, rule.codes)
    lookup = parsing.code_lookup(col.codes, rule.codes, rule.translate)
    if col.type == "code_list":
        return lambda values: parsing.parse_code_list(values, lookup, rule.separator or ";")
    return lambda values: parsing.parse_codes(values, lookup)


def _parse(col: Column, rule: ColumnRule, text: pd.Series, cmap: ColumnMap, excel: bool,
           file_name: str) -> pd.Series:
    parse = _parser(col, rule, text, cmap, excel, file_name)
    if col.type == "code_list":       # lists are objects whose NULL must stay as parsed
        return parse(text)
    return by_value(text, parse)


def by_value(text: pd.Series, parse) -> pd.Series:
    """`parse` applied once to each distinct value and spread over the rows holding it: a
    statutory return repeats the same codes and dates on most of its rows (a 900,000-row
    SSDA903 set holds a few thousand distinct dates). A column of mostly distinct values is
    parsed directly."""
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    if 2 * len(uniques) > len(text):
        return parse(text)
    parsed = parse(pd.Series(uniques, dtype="string"))
    spread = parsed.reindex(range(len(uniques) + 1))          # the extra label: NULL rows
    out = spread.take(np.where(codes < 0, len(uniques), codes))
    out.index = text.index
    return out


def _blank(value) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _blank_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Which cells are empty or whitespace, each distinct value of a column judged once: a
    regular-expression replace over the frame was a third of the mapping time of a
    90,000-row return."""
    columns = {}
    for i in range(frame.shape[1]):
        codes, uniques = pd.factorize(frame.iloc[:, i], use_na_sentinel=True)
        blank = np.array([_blank(v) for v in uniques] + [True], dtype=bool)
        columns[i] = blank[codes]           # code -1 (a missing value) takes the last: blank
    return pd.DataFrame(columns, index=frame.index)


def apply_map(raw: RawExtract, cmap: ColumnMap, file_name: str) -> MappedExtract:
    kind = get_kind(cmap.kind)
    frame = raw.frame
    keep = ~_blank_cells(frame).all(axis=1)
    blank_rows = int((~keep).sum())
    if not keep.any():
        raise ExtractError(
            file_name,
            "the file has column headings but no data rows"
            + (f" ({blank_rows} blank rows)" if blank_rows else ""),
            "Ask the supplier to re-send the full extract; an empty delivery is not loaded, so "
            "it cannot replace the previous one.",
        )
    raw = RawExtract(frame=frame[keep], header=raw.header, header_row=raw.header_row,
                     encoding=raw.encoding, delimiter=raw.delimiter, sheet=raw.sheet)
    lookup = {normalise_header(h): h for h in raw.frame.columns}
    out = pd.DataFrame(index=raw.frame.index)
    present, notes, code_lists = [], [], {}
    for name, rule in cmap.columns.items():
        col = kind.columns[name]
        text = _column_text(raw, rule, lookup, _kept_words(col, rule))
        if text is None:
            notes.append(f"column '{rule.column}' ({name}) is not in the file; treated as absent")
            continue
        out[f"{name}_raw"] = text
        out[name] = _parse(col, rule, text, cmap, raw.is_spreadsheet, file_name)
        present.append(name)
        if col.type == "code" and rule.codes is None and rule.translate:
            code_lists[name] = rule.translate
    used = {normalise_header(c) for rule in cmap.columns.values() for c in rule.supplier_columns}
    extra = [str(h) for h in raw.frame.columns
             if normalise_header(h) not in used and str(h).strip()
             and not str(h).startswith("Unnamed: ")]
    if extra:
        notes.append(f"{len(extra)} column(s) not in map '{cmap.name}' were ignored: "
                     + ", ".join(f"'{h}'" for h in extra[:10]))
    if "person_ref" not in present and "record_id" in present:
        # exports with no person id: each row stands for its own person record
        out["person_ref"] = out["record_id"]
        out["person_ref_raw"] = out["record_id_raw"]
        present.append("person_ref")
    return MappedExtract(kind=kind, map_name=cmap.name, frame=out, columns=present,
                         blank_rows=blank_rows, notes=notes, extra_columns=extra,
                         code_lists=code_lists)
