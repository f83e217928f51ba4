"""Pseudonymous child-level marts: what each linked child presented with, and who they are in
publishable terms (age band, sex, ethnic group) - never names, dates of birth or addresses.

Characteristics come from the child's best value across linked records because sources disagree
(a police record may carry a different date of birth than the school roll); how each value was
chosen is kept beside it so analysts can see how settled it is.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import duckdb

from sources.codes import load_table
from sources.common.sqlfiles import SqlFiles, set_variables, table_exists
from sources.kinds import load_kinds
from warehouse.indicators import ensure_indicator_tables
from warehouse.settings import Settings, SettingsError, load_settings, resolve_period

SQL = SqlFiles.beside(__file__)

log = logging.getLogger(__name__)


def ensure_mart_tables(con: duckdb.DuckDBPyConnection) -> None:
    SQL.run(con, "ddl/marts.sql")


def _prepare_session(con: duckdb.DuckDBPyConnection, s: Settings) -> None:
    SQL.run(con, "support/macros.sql")
    SQL.run(con, "marts/session.sql")
    pub = s.publication
    con.executemany(
        "INSERT INTO mart_catalogue VALUES (?, ?, ?)",
        [[i.code, i.dataset, i.feed] for i in s.indicators.values()],
    )
    priority = list(pub.get("ethnicity_kind_priority") or [])
    con.executemany(
        "INSERT INTO mart_kind VALUES (?, ?, ?)",
        [
            [k.name, k.feed, priority.index(k.name) if k.name in priority else len(priority)]
            for k in load_kinds().values()
        ],
    )
    con.executemany(
        "INSERT INTO mart_age_band VALUES (?, ?, ?)",
        [[b.label, b.min, b.max] for b in s.age_bands],
    )
    ethnicity = load_table("ethnicity")
    con.executemany(
        "INSERT INTO mart_ethnicity VALUES (?, ?)",
        [[code, ethnicity.attribute(code, "group")] for code in ethnicity.codes],
    )


def build_marts(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: date,
    period_start: date | None = None,
    period_end: date | None = None,
    settings: Any = None,
) -> dict:
    """Rebuild mart.child_indicator and mart.child_profile for the period (other periods kept).

    Needs staging.indicator_event for the period (warehouse.indicators) and linkage.person.
    Returns counts: children, children_with_indicators, child_indicator_rows, unlinked_events.
    """
    s = load_settings(settings)
    period_start, period_end = resolve_period(as_of, period_start, period_end)
    if not table_exists(con, "linkage", "person"):
        raise SettingsError("linkage.person is missing: run linkage before building marts")
    ensure_indicator_tables(con)
    ensure_mart_tables(con)
    _prepare_session(con, s)
    pub = s.publication
    set_variables(
        con,
        {
            "period_start": period_start,
            "period_end": period_end,
            "as_of": as_of,
            "age_unknown_label": str(pub["age_unknown_label"]),
            "ethnicity_not_recorded_label": str(pub["ethnicity_not_recorded_label"]),
            "looked_after_indicator": str(pub["looked_after_indicator"]),
        },
    )
    for table in ("mart.child_indicator", "mart.child_profile"):
        con.execute(
            f"DELETE FROM {table} WHERE period_start = ? AND period_end = ?",
            [period_start, period_end],
        )
    SQL.run(con, "marts/child_indicator.sql")
    SQL.run(con, "marts/child_profile.sql")
    unlinked = con.execute(
        "SELECT count(*) FROM staging.indicator_event e "
        "WHERE e.period_start = ? AND e.period_end = ? AND NOT EXISTS "
        "(SELECT 1 FROM linkage.person lp WHERE lp.record_key = e.person_key)",
        [period_start, period_end],
    ).fetchall()[0][0]
    counts = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE n_indicators > 0) FROM mart.child_profile "
        "WHERE period_start = ? AND period_end = ?",
        [period_start, period_end],
    ).fetchall()[0]
    rows = con.execute(
        "SELECT count(*) FROM mart.child_indicator WHERE period_start = ? AND period_end = ?",
        [period_start, period_end],
    ).fetchall()[0][0]
    if unlinked:
        log.warning("%d indicator events have no linked child and are not in the marts", unlinked)
    summary = {
        "children": int(counts[0]),
        "children_with_indicators": int(counts[1]),
        "child_indicator_rows": int(rows),
        "unlinked_events": int(unlinked),
    }
    log.info("marts built: %s", summary)
    return summary
