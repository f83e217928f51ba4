"""The calendar rules every layer reports by: whole months, twelve-month periods, and what
"N years before" means on 29 February."""

from __future__ import annotations

from datetime import date, timedelta


def years_before(day: date, years: int) -> date:
    """The same day `years` earlier; 29 February falls back to 28 February."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def default_as_of(run_date: date) -> date:
    """The last day of the month before the run: reports cover whole months."""
    return run_date.replace(day=1) - timedelta(days=1)


def reporting_period(as_of: date) -> tuple[date, date]:
    """The 12 months ending on as_of: (as_of - 1 year + 1 day, as_of)."""
    return years_before(as_of, 1) + timedelta(days=1), as_of
