"""Any CSV or Parquet file of people -> person records, for `joinedup link`.

The nightly run knows each feed through its column map; `joinedup link` is pointed at files it
has never seen, so the user names the columns by role instead (`--map first_name=GivenName`).
Files are read by the nightly run's readers (sources.readers: any common encoding and delimiter)
and dates parsed by its parser (sources.parsing), trying the forms in `DATE_FORMATS` value by
value, since a file of unknown origin may mix them. Values are standardised as in the nightly
run. A value that cannot be read (a date in no known form, a postcode that is not shaped like
one) is never fatal: dates that do not parse are compared as text (the `dob_text` extra),
postcodes that do not look British are compared as their compact text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from sources import standardise
from sources.errors import ExtractError
from sources.parsing import parse_datetimes
from sources.readers import CSV_SUFFIXES, PARQUET_SUFFIXES, open_source

ROLES = ("first_name", "middle_names", "last_name", "full_name", "dob", "sex", "postcode",
         "address", "nhs_number", "upn", "la_child_id")
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%Y%m%d", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d")
SEX_WORDS = {"M": "M", "MALE": "M", "BOY": "M", "1": "M", "F": "F", "FEMALE": "F", "GIRL": "F",
             "2": "F"}
DOB_TEXT = "dob_text"


def extra_name(column: str) -> str:
    """The feature column an --extra column is compared in (a plain SQL identifier)."""
    return "extra_" + (re.sub(r"[^a-z0-9]+", "_", column.lower()).strip("_") or "column")


@dataclass
class LinkInput:
    """Person records of several files and what the user asked to compare."""

    records: pd.DataFrame                      # record_key, source, record_id, canonical columns
    extras: list[str] = field(default_factory=list)
    unparsed_dates: int = 0


def read_table(path: Path) -> pd.DataFrame:
    """A whole file as text columns (CSV in any common encoding and delimiter, or Parquet)."""
    suffix = path.suffix.lower()
    if not path.exists():
        raise ExtractError(path.name, "the file does not exist", "Check the path.")
    if suffix not in CSV_SUFFIXES | PARQUET_SUFFIXES:
        raise ExtractError(path.name, f"'{suffix}' files cannot be linked",
                           "Give a CSV or Parquet file.")
    frame = open_source(path).read(header_row=1).frame
    frame.columns = [str(c).strip() for c in frame.columns]
    # blank lines are no one; the ingestion reader keeps them only to count them
    frame = frame[frame.fillna("").astype(str).apply(lambda c: c.str.strip()).ne("").any(axis=1)]
    return frame.reset_index(drop=True).astype("string")


def _calendar_date(value: str) -> date | None:
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(value.strip(), fmt).date()
        except ValueError:
            continue
    return None


def parse_dates(text: pd.Series) -> pd.Series:
    """ISO, dd/mm/yyyy and yyyymmdd (and their close cousins); anything else is NULL.

    pandas parses into nanosecond timestamps, which end before 1677 and after 2262; a date
    outside them (a historical register, a mistyped year) is read again as a calendar date,
    so that it is compared as a date like any other rather than as text."""
    clean = standardise.blank_to_null(text)
    out = parse_datetimes(clean, list(DATE_FORMATS), excel=False)
    dates = out.dt.date.astype(object).where(out.notna(), None)
    outside = clean.notna() & out.isna()
    if outside.any():
        dates[outside] = clean[outside].map(_calendar_date)
    return dates


def _postcode(raw: pd.Series) -> pd.Series:
    uk = standardise.postcode(raw)
    compact = standardise.blank_to_null(raw).str.upper().str.replace(r"[^A-Z0-9]", "",
                                                                       regex=True)
    return uk.fillna(compact.mask(compact == ""))


def _split_full_name(full: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """'FIRST MIDDLE LAST' or 'LAST, FIRST MIDDLE' -> first, middle, last."""
    text = standardise.blank_to_null(full)
    comma = text.str.contains(",", regex=False).fillna(False)
    last_first = text.str.split(",", n=1)
    words = text.where(~comma, last_first.str[1].str.strip() + " " + last_first.str[0])
    parts = words.str.split()
    first = parts.str[0]
    last = parts.str[-1].where(parts.str.len() > 1)
    middle = parts.map(lambda p: " ".join(p[1:-1]) if isinstance(p, list) and len(p) > 2
                       else None, na_action="ignore")
    return first, middle.astype("string"), last


def person_records(path: Path, id_column: str, roles: dict[str, str],
                   extras: list[str]) -> tuple[pd.DataFrame, int]:
    """(canonical records of one file, dates that did not parse)."""
    frame = read_table(path)
    source = path.stem
    wanted = [id_column, *roles.values(), *extras]
    missing = [c for c in dict.fromkeys(wanted) if c not in frame.columns]
    if missing:
        raise ExtractError(path.name, f"columns {missing} are not in the file "
                           f"(it has: {', '.join(frame.columns[:20])})",
                           "Check --id, --map and --extra against the file's header.")
    ids = standardise.blank_to_null(frame[id_column])
    if ids.isna().any() or ids.duplicated().any():
        raise ExtractError(path.name, f"column '{id_column}' must hold a unique, non-empty id "
                           f"on every row ({int(ids.isna().sum())} empty, "
                           f"{int(ids.duplicated().sum())} repeated)",
                           "Choose another --id column or deduplicate the ids first.")
    out = pd.DataFrame({"source": source, "record_id": ids})
    out["record_key"] = source + ":" + out["record_id"]
    column = {role: frame[col] for role, col in roles.items()}
    if "full_name" in column:
        first, middle, last = _split_full_name(column["full_name"])
        column.setdefault("first_name", first)
        column.setdefault("middle_names", middle)
        column.setdefault("last_name", last)
    for role in ("first_name", "middle_names", "last_name"):
        if role in column:
            out[role] = standardise.name(column[role])
    unparsed = 0
    if "dob" in column:
        out["dob"] = parse_dates(column["dob"])
        raw = standardise.blank_to_null(column["dob"])
        bad = raw.notna() & out["dob"].isna()
        unparsed = int(bad.sum())
        out[DOB_TEXT] = raw.where(bad)
    if "sex" in column:
        out["sex"] = standardise.blank_to_null(column["sex"]).str.upper().map(SEX_WORDS)
    if "postcode" in column:
        out["postcode"] = _postcode(column["postcode"])
    if "address" in column:
        out["address"] = standardise.blank_to_null(column["address"])
    if "nhs_number" in column:
        out["nhs_number"] = standardise.nhs_number(column["nhs_number"])
    if "upn" in column:
        out["upn"] = standardise.upn(column["upn"])
    if "la_child_id" in column:
        out["la_child_id"] = standardise.blank_to_null(column["la_child_id"])
    for extra in extras:
        out[extra_name(extra)] = standardise.blank_to_null(frame[extra]).str.upper().str.strip()
    return out, unparsed


def link_input(paths: list[Path], id_column: str, roles: dict[str, str],
               extras: list[str]) -> LinkInput:
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown role(s) {unknown}; roles are {', '.join(ROLES)}")
    stems = [p.stem for p in paths]
    if len(set(stems)) != len(stems):
        raise ValueError("each file must have its own name (the file name is the source)")
    frames, unparsed = [], 0
    for path in paths:
        frame, bad = person_records(path, id_column, roles, extras)
        frames.append(frame)
        unparsed += bad
    records = pd.concat(frames, ignore_index=True)
    compared = list(dict.fromkeys(extra_name(e) for e in extras))
    if unparsed:
        records = records.rename(columns={DOB_TEXT: extra_name(DOB_TEXT)})
        compared.append(extra_name(DOB_TEXT))
    else:
        records = records.drop(columns=[DOB_TEXT], errors="ignore")
    return LinkInput(records=records, extras=compared, unparsed_dates=unparsed)
