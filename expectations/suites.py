"""Building the expectation suite for one mapped extract.

The suite depends on the kind, on which canonical columns the supplier's map provides, on the
code lists the map translates with, and on the extract date (for "not in the future", "plausible
for a child" and "code in force"). Every expectation carries a plain-English rule in its `meta`,
which is what the quarantine table and the Data Docs show; rules name columns, code lists and
dates, never a value from the file, so they can be logged.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd

from expectations import dfe_rules
from expectations.dfe_rules import DfeRule
from sources.codes import translation
from sources.common.mappings import deep_merge
from sources.common.periods import years_before
from sources.common.yamlfiles import read_yaml
from sources.kinds import Kind
from sources.mapping import by_value

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


# A cell a spreadsheet would run as a formula (CSV injection, OWASP): one starting with = or @, or
# with + or - unless the whole value is a plain number (negative counts and ids stay legitimate),
# or with a formula start after a tab or line break inside the cell. Hyphens inside a value
# (double-barrelled surnames, "12-14 High Street") never match. Values are trimmed before this
# check, so a leading tab or CR is judged by what follows it.
FORMULA_LIKE = r"^[=@]|^[+-](?!\d+(?:[.,]\d+)*$)|[\t\r\n][=+\-@]"
FORMULA_RULE = ("formula_like_value: {column} must not start like a spreadsheet formula "
                "(=, @, or + / - other than a plain number)")
CODE_DATE_RULE = "code_not_valid_for_date: {column} code is from {ref} ({period}), {why}"
# helper columns the checks read (added by add_helper_columns): the supplier's value where it
# could not be read as the column's type; a translated code column's supplier code as compared
# with its list; the row's event date where its code is in the list's n-th period
UNREAD_KEY = "{column}__unread"
CODE_KEY = "{column}__code"
EVENT_KEY = "{column}__event_{n}"


@cache
def load_settings() -> dict:
    return read_yaml(SETTINGS_PATH)


def event_column(kind: Kind, present: set[str]) -> str | None:
    """The date a row's codes were recorded on: the kind's event date, else its first required
    date; None when the map supplies neither (codes are then judged at the extract date)."""
    event = kind.event_date or next(
        (c.name for c in kind.columns.values() if c.required and c.type in ("date", "datetime")
         and c.name != "dob"), None)
    return event if event in present else None


def _periods(kind: Kind, present: set[str], code_lists: dict[str, str]):
    """(column, list name, number, period, its codes, event column) for each period of each
    translated code column's list; the number names the period's helper column."""
    event = event_column(kind, present)
    for column, ref in sorted(code_lists.items()):
        if column not in present:
            continue
        for n, (period, codes) in enumerate(translation(ref).periods().items()):
            yield column, ref, n, period, sorted(codes), event


def _code_periods(kind: Kind, present: set[str], code_lists: dict[str, str], as_of: date):
    """(expectation, rule, column) checking that each translated code was in force.

    A code is accepted when the dates its list (or the code itself) was valid overlap the span
    from the row's event date to the extract date: valid at the event means it was recorded
    under the list then in force; valid at the extract date means the supplier's system has
    recoded its history to the current list. Outside that span the code cannot mean what the
    map assumes, so the row is quarantined, never guessed (see sources/codes/README.md).
    """
    for column, ref, n, period, codes, event in _periods(kind, present, code_lists):
        key = CODE_KEY.format(column=column)
        when = period.describe()
        if period != translation(ref).period:    # a code-level period: say which codes it covers
            when = f"codes {', '.join(codes)} {when}"

        def rule(why, when=when, column=column, ref=ref):
            return CODE_DATE_RULE.format(column=column, ref=ref, period=when, why=why)

        if period.valid_from is not None and period.valid_from > as_of:
            yield (gxe.ExpectColumnValuesToNotBeInSet(column=key, value_set=codes),
                   rule("which starts after the extract date"), column)
        if period.valid_to is None:
            continue
        if event is not None:
            end = datetime.combine(period.valid_to + timedelta(days=1), time(0, 0))
            yield (gxe.ExpectColumnValuesToBeBetween(
                       column=EVENT_KEY.format(column=column, n=n), max_value=end,
                       strict_max=True),
                   rule(f"which ended before the row's {event}"), column)
        elif period.valid_to < as_of:
            yield (gxe.ExpectColumnValuesToNotBeInSet(column=key, value_set=codes),
                   rule("which ended before the extract date"), column)


def add_helper_columns(frame: pd.DataFrame, kind: Kind, code_lists: dict[str, str]) -> None:
    """Add the columns the suite's row-by-row checks read, in place.

    Each is a plain column check rather than a GX `row_condition` because GX evaluates a row
    condition with `DataFrame.query` once per metric, which made those checks most of a nightly
    run's validation time.
    """
    present = set(frame.columns)
    for col in kind.columns.values():
        if col.type in TYPE_WORDS and col.name in present and f"{col.name}_raw" in present:
            raw = frame[f"{col.name}_raw"]
            unread = raw.notna() & frame[col.name].isna()
            frame[UNREAD_KEY.format(column=col.name)] = raw.astype(object).where(unread, None)
    for column in code_lists:
        if f"{column}_raw" in present:
            # each distinct code cleaned once: a new string per row was a column's worth of
            # memory again for every coded column of a large return
            frame[CODE_KEY.format(column=column)] = by_value(
                frame[f"{column}_raw"].astype("string"), lambda s: s.str.strip().str.upper())
    for column, _, n, period, codes, event in _periods(kind, present, code_lists):
        if period.valid_to is not None and event is not None:
            coded = frame[CODE_KEY.format(column=column)].isin(codes).fillna(False)
            frame[EVENT_KEY.format(column=column, n=n)] = \
                frame[event].where(coded.astype(bool), pd.NaT)


def build_suite(kind: Kind, columns: list[str], as_of: date, name: str,
                settings: dict | None = None,
                code_lists: dict[str, str] | None = None,
                dfe: tuple[DfeRule, ...] = ()) -> gx.ExpectationSuite:
    """`code_lists` (code column -> translation) adds the code-in-force checks; `dfe` the DfE
    rules of a statutory return's map (expectations/dfe_rules.py), which also name the suite's
    own checks that are DfE rules. The frame the suite runs on must carry the helper columns
    `add_helper_columns` (and, with `dfe`, dfe_rules.add_helper_columns) add."""
    settings = deep_merge(load_settings(), settings or {})
    formula_types = set(settings.get("formula_check_types") or [])
    warn_types = set(settings["warn_only_types"])
    end_of_day = datetime.combine(as_of + timedelta(days=1), time(0, 0))
    earliest = datetime.combine(years_before(as_of, settings["max_event_age_years"]), time(0, 0))
    present = set(columns)
    found: list[gxe.Expectation] = []

    def add(expectation, rule: str, column: str | None, severity: str = "critical"):
        expectation.meta = {"rule": dfe_rules.named(rule, dfe), "column": column}
        expectation.severity = severity
        found.append(expectation)

    for col in kind.columns.values():
        if col.name not in present:
            # a required one the map lacks is a file-level problem, caught before validation
            continue
        name_ = col.name
        if col.required:
            add(gxe.ExpectColumnValuesToNotBeNull(column=f"{name_}_raw"),
                f"{name_} is required", name_)
        if col.type in formula_types:
            add(gxe.ExpectColumnValuesToNotMatchRegex(column=f"{name_}_raw", regex=FORMULA_LIKE),
                FORMULA_RULE.format(column=name_), name_)
        if col.type in TYPE_WORDS:
            severity = "warning" if col.type in warn_types else "critical"
            add(gxe.ExpectColumnValuesToBeNull(column=UNREAD_KEY.format(column=name_)),
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
        oldest = datetime.combine(years_before(as_of, settings["max_age_years"]), time(0, 0))
        add(gxe.ExpectColumnValuesToBeBetween(column="dob", min_value=oldest,
                                              max_value=end_of_day),
            f"dob must be plausible for a child or care leaver (aged 0 to "
            f"{settings['max_age_years']} at the extract date, not in the future)", "dob")
        event = event_column(kind, present)
        if event:
            add(gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A=event, column_B="dob", or_equal=True,
                    ignore_row_if="either_value_is_missing"),
                f"dob must not be after {event} (a child cannot appear before birth)", "dob")
    for expectation, rule, column in _code_periods(kind, present, code_lists or {}, as_of):
        add(expectation, rule, column)
    for expectation, rule, severity in dfe_rules.expectations(dfe):
        add(expectation, rule, None, severity)
    return gx.ExpectationSuite(name=name, expectations=found)
