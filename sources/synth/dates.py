"""Vectorised date helpers: ages, random instants and supplier-style formatting.

Dates are numpy datetime64[D] and instants datetime64[m]; NaT means "not recorded". Formatting
runs once per distinct value, which keeps millions of rows fast because dates repeat a lot.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

MINUTES_PER_DAY = 24 * 60


def day(value: date) -> np.datetime64:
    return np.datetime64(value, "D")


def ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    years = days.astype("datetime64[Y]")
    months = days.astype("datetime64[M]")
    y = years.astype(int) + 1970
    m = (months - years.astype("datetime64[M]")).astype(int) + 1
    d = (days - months.astype("datetime64[D]")).astype(int) + 1
    return y, m, d


def age_on(dob: np.ndarray, on) -> np.ndarray:
    """Whole years of age on a date (scalar or array), as a birthday-aware int array."""
    on_arr = np.broadcast_to(np.asarray(on, dtype="datetime64[D]"), dob.shape)
    by, bm, bd = ymd(dob)
    oy, om, od = ymd(on_arr)
    before = (om < bm) | ((om == bm) & (od < bd))
    return oy - by - before.astype(int)


def add_years(days: np.ndarray, years: int) -> np.ndarray:
    """Same day and month `years` later (29 February becomes 28 February)."""
    y, m, d = ymd(days)
    d = np.where((m == 2) & (d == 29), 28, d)
    frame = pd.DataFrame({"year": y + years, "month": m, "day": d})
    return pd.to_datetime(frame).to_numpy().astype("datetime64[D]")


def random_instants(rng: np.random.Generator, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """A uniform datetime64[m] between start and end (arrays of datetime64, end > start)."""
    s = start.astype("datetime64[m]").astype(np.int64)
    e = end.astype("datetime64[m]").astype(np.int64)
    span = np.maximum(e - s, 1)
    return (s + (rng.random(s.shape[0]) * span).astype(np.int64)).astype("datetime64[m]")


def random_days(rng: np.random.Generator, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """A uniform datetime64[D] in [start, end] (inclusive)."""
    s = start.astype("datetime64[D]").astype(np.int64)
    e = end.astype("datetime64[D]").astype(np.int64)
    span = np.maximum(e - s + 1, 1)
    return (s + (rng.random(s.shape[0]) * span).astype(np.int64)).astype("datetime64[D]")


def fmt(values: np.ndarray, pattern: str) -> np.ndarray:
    """strftime over an array of datetime64, once per distinct value; NaT -> None."""
    out = np.full(len(values), None, dtype=object)
    ok = ~np.isnat(values)
    if not ok.any():
        return out
    uniq, inverse = np.unique(values[ok], return_inverse=True)
    texts = pd.DatetimeIndex(uniq.astype("datetime64[ns]")).strftime(pattern)
    out[ok] = np.asarray(texts, dtype=object)[inverse]
    return out
