"""Partial dates of birth: a year, or a year and month, read from text no full-date form takes.

Why: registers and partner systems record what they know - "1850", "03/1850", or a full-date
form with the unknown part zeroed or mistyped ("1858-08-00", "1548-81-01"). Read as text they
could only agree exactly; dropped they would count as missing. Kept as the first day of the
period with a precision ('month' or 'year'), the dob comparison gives them levels of their own
(linkage/settings.yaml: month_agrees, year_agrees), so a partial date agreeing with the full
date it is part of is evidence, never a disagreement. Python dates hold years 1 to 9999, so
historic years compare as dates, not pandas timestamps (which end before 1677).
"""

from __future__ import annotations

import re
from datetime import date

import pandas as pd

DAY, MONTH, YEAR = "day", "month", "year"
_SEP = r"[-/. ]"
_YEAR_ONLY = re.compile(r"^(\d{3,4})$")
_YEAR_MONTH = re.compile(rf"^(\d{{3,4}}){_SEP}(\d{{1,2}})$")
_MONTH_YEAR = re.compile(rf"^(\d{{1,2}}){_SEP}(\d{{3,4}})$")
_YMD = re.compile(rf"^(\d{{3,4}}){_SEP}(\d{{1,2}}){_SEP}(\d{{1,2}})$")
_DMY = re.compile(rf"^(\d{{1,2}}){_SEP}(\d{{1,2}}){_SEP}(\d{{4}})$")


def _period(year: int, month: int | None) -> tuple[date, str] | None:
    if not 1 <= year <= 9999:
        return None
    if month is not None and 1 <= month <= 12:
        return date(year, month, 1), MONTH
    return date(year, 1, 1), YEAR


def partial_date(text: str | None) -> tuple[date, str] | None:
    """(first day of the period, 'month' | 'year') of a date whose day or month is not known
    (absent, zero or impossible); None for text that holds no year in a date form."""
    if text is None or pd.isna(text):
        return None
    value = str(text).strip()
    if m := _YEAR_ONLY.match(value):
        return _period(int(m[1]), None)
    if m := _YEAR_MONTH.match(value):
        return _period(int(m[1]), int(m[2]))
    if m := _MONTH_YEAR.match(value):
        return _period(int(m[2]), int(m[1]))
    for pattern, (y, mo) in ((_YMD, (1, 2)), (_DMY, (3, 2))):
        if m := pattern.match(value):
            return _period(int(m[y]), int(m[mo]))
    return None


def partial_dates(text: pd.Series) -> pd.DataFrame:
    """dob and dob_precision for each value of `text` (both None where it holds no date)."""
    parsed = [partial_date(v) for v in text]
    return pd.DataFrame({"dob": [p[0] if p else None for p in parsed],
                         "dob_precision": [p[1] if p else None for p in parsed]},
                        index=text.index)
