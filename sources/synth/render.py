"""Canonical rows -> a supplier's export, by running the supplier's column map backwards.

The demo's supplier layouts are defined once, by their column maps in sources/maps/; rendering
through the same map that ingestion reads with means the generator and the pipeline can never
disagree on column names, code sets or date formats.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from sources.column_maps import ColumnMap, load_maps
from sources.common.yamlfiles import read_yaml
from sources.kinds import get_kind
from sources.synth.dates import fmt
from sources.synth.names import to_charset

XLSX_MAX_ROWS = 250_000     # bigger extracts are written as CSV: openpyxl is slow past this


@cache
def supplier_map(name: str) -> ColumnMap:
    return load_maps()[name]


@cache
def _inline_codes(path: Path, canonical: str) -> dict[str, str]:
    """canonical code -> supplier code as written in the map (first one listed wins)."""
    spec = read_yaml(path)["columns"][canonical]
    out: dict[str, str] = {}
    for supplier, code in (spec.get("codes") or {}).items():
        out.setdefault(str(code), str(supplier))
    return out


def _text_dates(values: pd.Series, pattern: str | None) -> np.ndarray:
    arr = pd.to_datetime(values).to_numpy().astype("datetime64[m]")
    return fmt(arr, pattern or "%Y-%m-%d")


def render(frame: pd.DataFrame, map_name: str, *, flag_words: tuple[str, str] = ("Y", "N"),
           spreadsheet: bool = False) -> pd.DataFrame:
    """Supplier columns in map order. `frame` holds canonical columns; columns whose map rule
    translates through a code table must already hold the supplier's value. Spreadsheet dates
    stay dates (Excel cells); everywhere else values become the supplier's text."""
    cmap = supplier_map(map_name)
    kind = get_kind(cmap.kind)
    out: dict[str, object] = {}
    for canonical, rule in cmap.columns.items():
        if rule.column is None or rule.column in out:
            continue
        values = frame[canonical] if canonical in frame else pd.Series(None, index=frame.index)
        ctype = kind.columns[canonical].type
        if ctype in ("date", "datetime"):
            date_fmt = rule.format or cmap.formats.get("date")
            if spreadsheet and not rule.time_column:
                out[rule.column] = pd.to_datetime(values).to_numpy()
            elif rule.time_column:
                out[rule.column] = _text_dates(values, date_fmt)
                out[rule.time_column] = _text_dates(values, rule.time_format or "%H:%M")
            elif ctype == "datetime":
                out[rule.column] = _text_dates(
                    values, cmap.formats.get("datetime") or f"{date_fmt or '%Y-%m-%d'} %H:%M")
            else:
                out[rule.column] = _text_dates(values, date_fmt)
        elif ctype == "flag":
            yes, no = flag_words
            out[rule.column] = values.map({True: yes, False: no}).astype(object).to_numpy()
        elif ctype in ("code", "code_list") and rule.codes is not None:
            inverse = _inline_codes(cmap.path, canonical)
            if ctype == "code_list":
                sep = rule.separator or ";"
                out[rule.column] = values.map(
                    lambda items, sep=sep, inverse=inverse:
                        sep.join(inverse[c] for c in items) if items else None,
                    na_action="ignore").astype(object).to_numpy()
            else:
                out[rule.column] = values.map(inverse).astype(object).to_numpy()
        elif ctype == "int":
            out[rule.column] = values.astype("Int64").astype(object).where(
                values.notna(), None).to_numpy()
        else:
            out[rule.column] = values.astype(object).where(values.notna(), None).to_numpy()
    return pd.DataFrame(out, index=frame.index)


def write_csv(frame: pd.DataFrame, path: Path, encoding: str) -> None:
    """As a system limited to `encoding` writes it: letters it cannot hold lose their accents."""
    text = frame.copy()
    if encoding.replace("-", "").lower() not in ("utf8", "utf8sig"):
        for column in text.columns:
            if text[column].dtype == object:
                text[column] = text[column].map(lambda v: to_charset(v, encoding)
                                                if isinstance(v, str) else v)
    text.to_csv(path, index=False, encoding=encoding, lineterminator="\r\n")


def write_xlsx(frame: pd.DataFrame, path: Path, sheet: str, title: list[str]) -> None:
    """A workbook as education teams send them: title lines above the header row."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet)
    for line in title:
        ws.append([line])
    ws.append([])
    ws.append(list(frame.columns))
    columns = [frame[c].to_numpy() for c in frame.columns]
    for row in zip(*columns, strict=True):
        ws.append([None if (v is None or v is pd.NaT or (isinstance(v, float) and np.isnan(v))
                            or (isinstance(v, np.datetime64) and np.isnat(v)))
                   else (pd.Timestamp(v).to_pydatetime() if isinstance(v, np.datetime64) else v)
                   for v in row])
    book.save(path)


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Date columns stay typed (as a database export writes them); everything else is text."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            continue
        out[column] = out[column].map(
            lambda v: None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)
        ).astype("string")
    out.to_parquet(path, index=False)
