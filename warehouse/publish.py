"""Published aggregate tables: the inquiry's Tables 8 and 9 and the indicator breakdown by age
band x sex x ethnic group, as text cells after disclosure control.

All tables of a period go through suppression together, as one system of cells and equations,
because they share numbers: the children presenting with at least one indicator are the
denominator of Table 8, of Table 9 and the grand total of the breakdown, and hiding that number
in one table while printing it in another would undo the protection. Publication fails (raises
DisclosureError) unless the independent check finds every table safe.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import duckdb
import pandas as pd

from sources.codes import CODES_DIR, load_table
from sources.common.sqlfiles import SqlFiles
from sources.common.yamlfiles import read_yaml
from warehouse.disclosure import (
    Cell,
    DisclosureError,
    Equation,
    apply_rounding,
    check_disclosure,
    render,
    render_percent,
    render_rate,
)
from warehouse.indicators import period_label
from warehouse.publication_history import History, read_history, record_publication
from warehouse.publication_tables import (
    Population,
    build_extra_tables,
    extra_rows,
    population_estimate,
    rate_ages,
)
from warehouse.settings import Settings, SettingsError, load_settings, resolve_period
from warehouse.suppression import Costs, suppress

SQL = SqlFiles.beside(__file__)

log = logging.getLogger(__name__)

NOT_AVAILABLE = ":"   # DfE symbol: not available


@dataclass
class CellTable:
    """Cells (in publication order) and the equations that tie them, before suppression."""

    cells: list[Cell]
    equations: list[Equation]

    def extend(self, other: CellTable) -> None:
        self.cells.extend(other.cells)
        self.equations.extend(other.equations)


def ensure_publish_tables(con: duckdb.DuckDBPyConnection) -> None:
    SQL.run(con, "ddl/publish.sql")


# ---------------------------------------------------------------- Tables 8 and 9


def count_table_cells(prefix: str, counts_per_child: Sequence[int], top_k: int) -> CellTable:
    """Children with >= k and exactly k (top row "top_k+") and their equations.

    Cells: <prefix>|ge|k and <prefix>|ex|k. Equations: ge_k = ex_k + ge_(k+1) for k < top,
    ge_top = ex_top, and ge_1 = sum of ex_k.
    """
    if top_k < 1:
        raise SettingsError("top_k must be at least 1")
    tally = Counter(min(n, top_k) for n in counts_per_child if n >= 1)
    cells: list[Cell] = []
    for k in range(1, top_k + 1):
        at_least = sum(v for n, v in tally.items() if n >= k)
        cells.append(Cell(f"{prefix}|ge|{k}", at_least, level=2 if k == 1 else 1,
                          headline=k == 1))
        cells.append(Cell(f"{prefix}|ex|{k}", tally.get(k, 0), level=0))
    eqs = [
        Equation.total(f"{prefix}|ge|{k}", [f"{prefix}|ex|{k}", f"{prefix}|ge|{k + 1}"])
        for k in range(1, top_k)
    ]
    eqs.append(Equation.equal(f"{prefix}|ge|{top_k}", f"{prefix}|ex|{top_k}"))
    eqs.append(Equation.total(f"{prefix}|ge|1", [f"{prefix}|ex|{k}" for k in range(1, top_k + 1)]))
    return CellTable(cells, eqs)


def count_table_rows(
    prefix: str, cells: dict[str, Cell], top_k: int, settings: Settings, *, available: bool = True
) -> list[dict[str, Any]]:
    """Rows of Table 8 or 9; with no indicator available at all every count is ':' (not
    available), because a table of zeros would claim that no child presented."""
    symbol = settings.symbol
    na = str(settings.publication["disclosure"]["not_applicable"])
    denominator = cells[f"{prefix}|ge|1"]
    rows = []
    for k in range(1, top_k + 1):
        ge, ex = cells[f"{prefix}|ge|{k}"], cells[f"{prefix}|ex|{k}"]
        rows.append(
            {
                "k": k,
                "k_label": f"{k}+" if k == top_k else str(k),
                "children_at_least_k": render(ge, symbol) if available else NOT_AVAILABLE,
                "children_exactly_k": render(ex, symbol) if available else NOT_AVAILABLE,
                "pct_at_least_k": render_percent(ge, denominator, symbol, na)
                if available else NOT_AVAILABLE,
                "denominator": render(denominator, symbol) if available else NOT_AVAILABLE,
            }
        )
    return rows


# ---------------------------------------------------------------- breakdown


def breakdown_cells(
    indicator: str,
    children: Sequence[tuple[str, str, str]],
    dimensions: Sequence[Sequence[str]],
    all_label: str,
) -> CellTable:
    """Every combination of the three dimensions, each with an `All` level, and the equations
    'All = sum of categories' along every line of the cube (so all margins are covered)."""
    known = [set(d) for d in dimensions]
    for child in children:
        for value, allowed in zip(child, known, strict=True):
            if value not in allowed:
                raise SettingsError(f"breakdown category {value!r} is not in the settings")
    tally = Counter(children)
    levels = [list(d) + [all_label] for d in dimensions]

    def cell_id(combo: Sequence[str]) -> str:
        return "|".join(["breakdown", indicator, *combo])

    cells = []
    for combo in itertools.product(*levels):
        value = sum(
            n for key, n in tally.items()
            if all(c in (all_label, k) for c, k in zip(combo, key, strict=True))
        )
        level = sum(c == all_label for c in combo)
        cells.append(Cell(cell_id(combo), value, level=level, headline=level == len(combo)))
    eqs = []
    for dim in range(len(dimensions)):
        others = [levels[i] for i in range(len(dimensions)) if i != dim]
        for fixed in itertools.product(*others):
            def with_value(v: str, fixed: tuple[str, ...] = fixed, dim: int = dim) -> list[str]:
                combo = list(fixed)
                combo.insert(dim, v)
                return combo

            eqs.append(
                Equation.total(
                    cell_id(with_value(all_label)),
                    [cell_id(with_value(v)) for v in dimensions[dim]],
                )
            )
    return CellTable(cells, eqs)


def breakdown_dimensions(settings: Settings) -> list[list[str]]:
    pub = settings.publication
    ages = [b.label for b in settings.age_bands] + [str(pub["age_unknown_label"])]
    sexes = [str(pub["sex_labels"][code]) for code in ("M", "F", "U")]
    groups = [str(g) for g in load_table_groups()]
    not_recorded = str(pub["ethnicity_not_recorded_label"])
    if not_recorded not in groups:
        groups.append(not_recorded)
    return [ages, sexes, groups]


def load_table_groups() -> list[str]:
    """Ethnic groups in the order the code table lists them (its `groups` key), which the
    CodeTable loader does not keep."""
    raw = read_yaml(CODES_DIR / "ethnicity.yaml")
    groups = raw.get("groups")
    if groups:
        return [str(g) for g in groups]
    table = load_table("ethnicity")
    return sorted({str(table.attribute(c, "group")) for c in table.codes})


# ---------------------------------------------------------------- reading the marts


def _statuses(con, s: Settings, period_start: date, period_end: date) -> dict[str, dict]:
    rows = con.execute(
        "SELECT indicator, feed, dataset, status, note FROM meta.indicator_status "
        "WHERE period_start = ? AND period_end = ?",
        [period_start, period_end],
    ).fetchall()
    out = {r[0]: {"feed": r[1], "dataset": r[2], "status": r[3], "note": r[4]} for r in rows}
    missing = [code for code in s.indicators if code not in out]
    if missing:
        raise SettingsError(
            f"no indicator status for {len(missing)} indicators in this period "
            "(run derive_indicator_events first)"
        )
    return out


def _children(con, s: Settings, period_start: date, period_end: date):
    sex_labels = {k: str(v) for k, v in s.publication["sex_labels"].items()}
    profile = con.execute(
        "SELECT person_id, age_band, sex, ethnicity_group, n_datasets, n_indicators "
        "FROM mart.child_profile WHERE period_start = ? AND period_end = ? ORDER BY person_id",
        [period_start, period_end],
    ).fetchall()
    if not profile:
        n_events = con.execute(
            "SELECT count(*) FROM mart.child_indicator WHERE period_start = ? AND period_end = ?",
            [period_start, period_end],
        ).fetchall()[0][0]
        if n_events:
            raise SettingsError("mart.child_profile is empty for the period: run build_marts")
    demog = {r[0]: (r[1], sex_labels.get(r[2], sex_labels["U"]), r[3]) for r in profile}
    hits = con.execute(
        "SELECT person_id, indicator FROM mart.child_indicator "
        "WHERE period_start = ? AND period_end = ?",
        [period_start, period_end],
    ).fetchall()
    by_indicator: dict[str, list[tuple[str, str, str]]] = {}
    n_indicators = {r[0]: r[5] for r in profile}
    drivers: dict[str, list[int]] = {}
    for person_id, indicator in hits:
        if person_id not in demog:
            raise SettingsError("mart.child_indicator has a child missing from child_profile")
        by_indicator.setdefault(indicator, []).append(demog[person_id])
        drivers.setdefault(indicator, []).append(n_indicators[person_id])
    return profile, demog, by_indicator, drivers


# ---------------------------------------------------------------- publish


def _replace(con, table: str, columns: list[str], rows: list[dict], period) -> None:
    con.execute(f"DELETE FROM {table} WHERE period_start = ? AND period_end = ?", list(period))
    if not rows:
        return
    frame = pd.DataFrame(rows, columns=columns)
    frame.insert(0, "period_end", period[1])
    frame.insert(0, "period_start", period[0])
    con.register("publish_rows", frame)
    try:
        cols = ", ".join(["period_start", "period_end", *columns])
        con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM publish_rows")
    finally:
        con.unregister("publish_rows")


def build_cell_system(
    s: Settings,
    profile: Sequence[tuple],
    by_indicator: dict[str, list[tuple[str, str, str]]],
    demog: dict[str, tuple[str, str, str]],
    available: Sequence[str],
) -> CellTable:
    """All publishable cells of the period and the equations within and between tables."""
    pub = s.publication
    all_label = str(pub["all_label"])
    any_code = str(pub["any_indicator_code"])
    dims = breakdown_dimensions(s)
    system = CellTable([], [])
    system.extend(count_table_cells("t8", [r[4] for r in profile], int(pub["table8"]["top_k"])))
    system.extend(count_table_cells("t9", [r[5] for r in profile], int(pub["table9"]["top_k"])))
    any_children = [demog[r[0]] for r in profile if r[5] >= 1]
    system.extend(breakdown_cells(any_code, any_children, dims, all_label))
    for code in available:
        system.extend(breakdown_cells(code, by_indicator.get(code, []), dims, all_label))
    grand_any = "|".join(["breakdown", any_code, all_label, all_label, all_label])
    system.equations.append(Equation.equal("t8|ge|1", "t9|ge|1"))
    system.equations.append(Equation.equal("t8|ge|1", grand_any))
    return system


def driver_cells(s: Settings, drivers: dict[str, list[int]], available: Sequence[str]) -> CellTable:
    """Which indicators the headline's rows are made of: for each indicator, its children by how
    many indicators they present with (Table 9's rows, one indicator at a time).

    Tied to the rest of the publication as an attacker would tie them: an indicator's children
    with at least one are its breakdown total, and a child with exactly k indicators is in
    exactly k indicators' rows (for k below the table's open top row), so that the children
    with exactly k of Table 9 add up, k times over, from these rows."""
    spec = s.publication["table9_drivers"]
    top, smallest = int(spec["top_k"]), int(spec["min_children"])
    all_label = str(s.publication["all_label"])
    system = CellTable([], [])
    for code in available:
        rows = count_table_cells(f"drivers|{code}", drivers.get(code, []), top)
        if len(drivers.get(code, [])) < smallest:
            # too few children to split (each part of a small total would be too narrowly
            # bounded): not printed, but still tied to the indicators that are
            rows.cells[:] = [replace(c, printed=False) for c in rows.cells]
        system.extend(rows)
        system.equations.append(Equation.equal(
            f"drivers|{code}|ge|1", "|".join(["breakdown", code, all_label, all_label,
                                              all_label])))
    t9_top = int(s.publication["table9"]["top_k"])
    for k in range(1, min(top, t9_top)):
        if available:
            system.equations.append(Equation(((f"t9|ex|{k}", -k), *(
                (f"drivers|{code}|ex|{k}", 1) for code in available))))
    return system


def driver_rows(s: Settings, cells: dict[str, Cell], available: Sequence[str]) -> list[dict]:
    top = int(s.publication["table9_drivers"]["top_k"])
    na = str(s.publication["disclosure"]["not_applicable"])
    rows = []
    for code in available:
        if not cells[f"drivers|{code}|ge|1"].printed:
            continue
        indicator = s.indicators[code]
        for k in range(1, top + 1):
            ge, ex = cells[f"drivers|{code}|ge|{k}"], cells[f"drivers|{code}|ex|{k}"]
            rows.append({
                "indicator": code, "indicator_label": indicator.label,
                "dataset": indicator.dataset, "k": k,
                "k_label": f"{k}+" if k == top else str(k),
                "children_at_least_k": render(ge, s.symbol),
                "children_exactly_k": render(ex, s.symbol),
                "pct_of_children_at_least_k": render_percent(ge, cells[f"t9|ge|{k}"], s.symbol,
                                                             na)})
    return rows


DRIVER_COLUMNS = ["indicator", "indicator_label", "dataset", "k", "k_label",
                  "children_at_least_k", "children_exactly_k", "pct_of_children_at_least_k"]


@dataclass
class PeriodSystem:
    """A period's cells and equations (every published table together) with what rendering
    them needs."""

    system: CellTable
    extra: Any
    statuses: dict[str, dict]
    available: list[str]
    estimate: Population | None
    population: int | None


def period_system(con: duckdb.DuckDBPyConnection, s: Settings,
                  period: tuple[date, date]) -> PeriodSystem:
    """All the cells of the period's publication, before suppression."""
    ensure_publish_tables(con)
    statuses = _statuses(con, s, *period)
    profile, demog, by_indicator, drivers = _children(con, s, *period)
    available = [c for c in s.indicators if statuses[c]["status"] != "not_available"]
    system = build_cell_system(s, profile, by_indicator, demog, available)
    system.extend(driver_cells(s, drivers, available))
    estimate = population_estimate(s)
    population = None if estimate is None else estimate.total(*rate_ages(s))
    extra = build_extra_tables(con, s, period, population)
    system.cells.extend(extra.cells)
    system.equations.extend(extra.equations)
    return PeriodSystem(system, extra, statuses, available, estimate, population)


def protect(ps: PeriodSystem, s: Settings, history: History) -> dict[str, Cell]:
    """Suppressed and rounded cells, proven safe by the independent check (against the
    published history too), or DisclosureError."""
    threshold = s.disclosure_threshold
    base = {c.id: c for c in ps.system.cells}
    cells = suppress(ps.system.cells, ps.system.equations, threshold, width=s.protection_width,
                     costs=Costs.from_settings(s.suppression_costs),
                     forced=history.forced(base, threshold), known=history.known(base))
    cells = apply_rounding(cells, s.rounding)
    problems = check_disclosure(cells, ps.system.equations, threshold, s.rounding,
                                width=s.protection_width, known=history.same_period,
                                earlier=history.overlapping)
    if problems:
        raise DisclosureError(f"{len(problems)} problems, first: {problems[0]}")
    return cells


def publish_tables(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: date,
    period_start: date | None = None,
    period_end: date | None = None,
    settings: Any = None,
) -> dict:
    """Write publish.table8_datasets, publish.table9_indicators, publish.indicator_breakdown and
    publish.indicator_status for the period, mart.publication_cell (the integers, never
    published) and the period's printed cells in the published history. Raises
    DisclosureError, writing nothing, if any suppressed cell is derivable or too narrowly
    bounded, here or by differencing with an earlier publication.
    """
    s = load_settings(settings)
    period = resolve_period(as_of, period_start, period_end)
    ps = period_system(con, s, period)
    statuses, available, estimate, extra = ps.statuses, ps.available, ps.estimate, ps.extra
    history = read_history(con, period)
    try:
        cells = protect(ps, s, history)
    except DisclosureError as exc:
        raise DisclosureError(f"publication for {period_label(*period)} blocked: {exc}") from None

    datasets_present = [
        d for d in s.datasets
        if any(s.indicators[c].dataset == d for c in available)
    ]
    datasets_na = [d for d in s.datasets if d not in datasets_present]
    indicators_na = [c for c in s.indicators if c not in available]
    t8 = count_table_rows("t8", cells, int(s.publication["table8"]["top_k"]), s,
                          available=bool(available))
    for row in t8:
        row["datasets_present"] = ", ".join(datasets_present)
        row["datasets_not_available"] = ", ".join(datasets_na)
    t9 = count_table_rows("t9", cells, int(s.publication["table9"]["top_k"]), s,
                          available=bool(available))
    for row in t9:
        row["indicators_present"] = ", ".join(available)
        row["indicators_not_available"] = ", ".join(indicators_na)
    count_cols = ["k", "k_label", "children_at_least_k", "children_exactly_k",
                  "pct_at_least_k", "denominator"]
    _replace(con, "publish.table8_datasets",
             count_cols + ["datasets_present", "datasets_not_available"], t8, period)
    _replace(con, "publish.table9_indicators",
             count_cols + ["indicators_present", "indicators_not_available"], t9, period)

    breakdown = _breakdown_rows(s, cells, statuses, any_available=bool(available),
                                population=estimate)
    _replace(con, "publish.indicator_breakdown", BREAKDOWN_COLUMNS, breakdown, period)
    drivers = driver_rows(s, cells, available)
    _replace(con, "publish.indicator_drivers", DRIVER_COLUMNS, drivers, period)
    status_rows = [
        {"feed": i.feed, "indicator": i.code, "inquiry_number": i.inquiry,
         "indicator_label": i.label, "dataset": i.dataset,
         "status": statuses[i.code]["status"], "note": statuses[i.code]["note"]}
        for i in s.indicators.values()
    ]
    _replace(con, "publish.indicator_status",
             ["feed", "indicator", "inquiry_number", "indicator_label", "dataset", "status",
              "note"], status_rows, period)
    extra_tables = extra_rows(extra, cells)
    for table, (columns, rows) in extra_tables.items():
        _replace(con, table, columns, rows, period)
    cell_rows = [
        {"cell_id": c.id, "value": c.value, "level": c.level, "suppressed": c.suppressed,
         "reason": c.reason, "printed": c.printed}
        for c in cells.values()
    ]
    _replace(con, "mart.publication_cell",
             ["cell_id", "value", "level", "suppressed", "reason", "printed"], cell_rows, period)
    record_publication(con, period, cells)

    summary = {
        "period": period_label(*period),
        "cells": len(cells),
        "primary_suppressed": sum(c.reason == "primary" and c.printed for c in cells.values()),
        "secondary_suppressed": sum(c.reason == "secondary" for c in cells.values()),
        "history_suppressed": sum(c.reason == "history" for c in cells.values()),
        # feeds whose record count the tables hide: the cover must not print it another way
        "records_suppressed_feeds": sorted(
            c.id.split("|")[1] for c in cells.values()
            if c.suppressed and c.id.startswith("linkage|") and c.id.endswith("|records")),
        "indicators_not_available": indicators_na,
        "rows": {"table8_datasets": len(t8), "table9_indicators": len(t9),
                 "indicator_breakdown": len(breakdown), "indicator_drivers": len(drivers),
                 "indicator_status": len(status_rows),
                 **{table.split(".")[1]: len(rows) for table, (_c, rows) in extra_tables.items()}},
        "population": ps.population,
        "population_year": None if estimate is None else estimate.year,
        "rounding": s.rounding,
    }
    SQL.run(con, "ddl/analyst.sql")
    log.info(
        "published %s: %d cells, %d primary, %d secondary and %d history suppressions",
        summary["period"], summary["cells"], summary["primary_suppressed"],
        summary["secondary_suppressed"], summary["history_suppressed"],
    )
    return summary


BREAKDOWN_COLUMNS = ["indicator", "indicator_label", "dataset", "age_band", "sex",
                     "ethnicity_group", "children", "indicator_status", "rate_per_10000",
                     "population"]


def breakdown_populations(
    s: Settings, estimate: Population | None
) -> dict[tuple[str, str, str], int]:
    """(age band, sex, ethnic group) label -> the population a rate is per, only where the
    estimate has one: bands inside rate_ages (All = rate_ages), Male / Female / All, ethnic
    group All (ONS-style estimates have no ethnicity). Unknown age, sex not known, an open or
    adult band get no rate rather than one over the wrong people."""
    if estimate is None:
        return {}
    pub = s.publication
    all_label = str(pub["all_label"])
    low, high = rate_ages(s)
    ages: dict[str, tuple[int, int]] = {all_label: (low, high)}
    for band in s.age_bands:
        if band.max is not None and band.min >= low and band.max <= high:
            ages[band.label] = (band.min, band.max)
    sexes = {str(pub["sex_labels"]["M"]): "M", str(pub["sex_labels"]["F"]): "F", all_label: None}
    return {
        (age, sex, all_label): estimate.total(a_min, a_max, code)
        for age, (a_min, a_max) in ages.items() for sex, code in sexes.items()
    }


def _breakdown_rows(
    s: Settings, cells: dict[str, Cell], statuses: dict[str, dict], *, any_available: bool,
    population: Population | None = None,
) -> list[dict]:
    pub = s.publication
    populations = breakdown_populations(s, population)
    all_label = str(pub["all_label"])
    any_code = str(pub["any_indicator_code"])
    dims = breakdown_dimensions(s)
    levels = [list(d) + [all_label] for d in dims]
    any_status = "supplied" if any_available else "not_available"
    entries = [(any_code, "Presenting with at least one indicator", all_label, any_status)]
    entries += [
        (i.code, i.label, i.dataset, statuses[i.code]["status"]) for i in s.indicators.values()
    ]
    rows = []
    for code, label, dataset, status in entries:
        for combo in itertools.product(*levels):
            cell = cells.get("|".join(["breakdown", code, *combo]))
            pop = populations.get(combo)
            if cell is None or status == "not_available":
                text = rate = NOT_AVAILABLE
            else:
                text = render(cell, s.symbol)
                rate = render_rate(cell, pop, s.symbol, NOT_AVAILABLE)
            rows.append({"indicator": code, "indicator_label": label, "dataset": dataset,
                         "age_band": combo[0], "sex": combo[1], "ethnicity_group": combo[2],
                         "children": text, "indicator_status": status, "rate_per_10000": rate,
                         "population": str(pop) if pop else NOT_AVAILABLE})
    return rows
