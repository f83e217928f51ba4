"""Building the expectation suite for one mapped extract.

The suite depends on the kind, on which canonical columns the supplier's map provides, and on the
extract date (for "not in the future" and "plausible for a child"). Every expectation carries a
plain-English rule in its `meta`, which is what the quarantine table and the Data Docs show.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path

import great_expectations as gx
import great_expectations.expectations as gxe
import yaml
from great_expectations.expectations.row_conditions import Column as Col

from sources.kinds import Kind

SETTINGS_PATH = Path(__file__).parent / "settings.yaml"
TYPE_WORDS = {
    "date": "a date in the map's format",
    "datetime": "a date and time in the map's format",
    "int": "a whole number",
    "flag": "a yes/no value",
    "code": "a code in the map's code list",
    "code_list": "a list of codes in the map's code list",
    "postcode": "a UK postcode",
    "nhs_number": "an NHS number with a valid check digit",
    "upn": "a UPN with a valid check letter",
}


@cache
def load_settings() -> dict:
    return yaml.safe_load(SETTINGS_PATH.read_text())


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def build_suite(kind: Kind, columns: list[str], as_of: date, name: str,
                settings: dict | None = None) -> gx.ExpectationSuite:
    settings = {**load_settings(), **(settings or {})}
    warn_types = set(settings["warn_only_types"])
    end_of_day = datetime.combine(as_of + timedelta(days=1), time(0, 0))
    earliest = datetime.combine(_years_before(as_of, settings["max_event_age_years"]), time(0, 0))
    present = set(columns)
    found: list[gxe.Expectation] = []

    def add(expectation, rule: str, column: str | None, severity: str = "critical"):
        expectation.meta = {"rule": rule, "column": column}
        expectation.severity = severity
        found.append(expectation)

    for col in kind.columns.values():
        if col.name not in present:
            if col.required:
                # the map has no column for it: a file-level problem, caught before validation
                continue
            continue
        name_ = col.name
        if col.required:
            add(gxe.ExpectColumnValuesToNotBeNull(column=f"{name_}_raw"),
                f"{name_} is required", name_)
        if col.type in TYPE_WORDS:
            severity = "warning" if col.type in warn_types else "critical"
            add(gxe.ExpectColumnValuesToNotBeNull(
                    column=name_, row_condition=Col(f"{name_}_raw").is_not_null()),
                f"{name_} must be {TYPE_WORDS[col.type]}", name_, severity)
        if col.unique:
            add(gxe.ExpectColumnValuesToBeUnique(column=name_),
                f"{name_} must be unique in the file", name_)
        if col.not_future:
            add(gxe.ExpectColumnValuesToBeBetween(
                    column=name_, min_value=earliest, max_value=end_of_day),
                f"{name_} must not be after the extract date or more than "
                f"{settings['max_event_age_years']} years before it", name_)
        if col.after and col.after in present:
            add(gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A=name_, column_B=col.after, or_equal=True,
                    ignore_row_if="either_value_is_missing"),
                f"{name_} must not be before {col.after}", name_)
        if col.min is not None:
            add(gxe.ExpectColumnValuesToBeBetween(column=name_, min_value=col.min),
                f"{name_} must be at least {col.min}", name_)
    if "dob" in present:
        oldest = datetime.combine(_years_before(as_of, settings["max_age_years"]), time(0, 0))
        add(gxe.ExpectColumnValuesToBeBetween(column="dob", min_value=oldest,
                                              max_value=end_of_day),
            f"dob must be plausible for a child or care leaver (aged 0 to "
            f"{settings['max_age_years']} at the extract date, not in the future)", "dob")
        event = kind.event_date or next(
            (c.name for c in kind.columns.values() if c.required and c.type in ("date", "datetime")
             and c.name != "dob"), None)
        if event and event in present:
            add(gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A=event, column_B="dob", or_equal=True,
                    ignore_row_if="either_value_is_missing"),
                f"dob must not be after {event} (a child cannot appear before birth)", "dob")
    return gx.ExpectationSuite(name=name, expectations=found)
