"""Deriving indicator events from the staging tables, one catalogue entry at a time.

Each indicator's rule is a SQL file returning candidate events (record_key, person_key,
event_date, detail); this module gives it its parameters, applies the one age rule every
indicator shares (nothing counts once the child is known to be 18), and records for each feed x
indicator whether the period's count is real (`supplied` / `zero`), `late` (counted, but the
feed's newest extract was received too long before the period's end to cover it) or
`not_available` because the feed never arrived or never records what the rule needs - "not
recorded" must never be published as 0.
"""

from __future__ import annotations

import logging
import re
from datetime import date
from typing import Any

import duckdb

from sources.common.sqlfiles import SqlFiles, reset_variables, set_variables, table_exists
from sources.kinds import load_kinds
from warehouse.settings import Indicator, Settings, SettingsError, load_settings

SQL = SqlFiles.beside(__file__)

log = logging.getLogger(__name__)

CANDIDATE_COLUMNS = ["record_key", "person_key", "event_date", "detail"]
_GETVARIABLE = re.compile(r"getvariable\('([a-z_][a-z0-9_]*)'\)")
_RUN_VARIABLES = {"period_start", "period_end", "age_rule"}


def period_label(period_start: date, period_end: date) -> str:
    return f"{period_start.isoformat()}/{period_end.isoformat()}"


def ensure_indicator_tables(con: duckdb.DuckDBPyConnection) -> None:
    SQL.run(con, "ddl/indicators.sql")


def newest_receipt(con: duckdb.DuckDBPyConnection, kind: str) -> date | None:
    """When the newest extract of a kind in this build was received (None: no extract table,
    as in tests that load staging directly)."""
    if not table_exists(con, "meta", "extract"):
        return None
    received = con.execute("SELECT max(received_at) FROM meta.extract WHERE kind = ?",
                           [kind]).fetchall()[0][0]
    return received.date() if received is not None else None


def feeds_delivered(con: duckdb.DuckDBPyConnection) -> dict[str, bool]:
    """A feed counts as delivered when an extract of its kind was loaded, even an empty one."""
    out: dict[str, bool] = {}
    has_extract_table = table_exists(con, "meta", "extract")
    for kind in load_kinds().values():
        delivered = False
        if has_extract_table:
            delivered = (
                con.execute("SELECT count(*) FROM meta.extract WHERE kind = ?", [kind.name])
                .fetchall()[0][0]
                > 0
            )
        if not delivered and table_exists(con, "staging", kind.name):
            # kind.name is an identifier from our own kind specs, not user input
            n = con.execute(f"SELECT count(*) FROM staging.{kind.name}").fetchall()[0][0]
            delivered = n > 0
        out[kind.feed] = out.get(kind.feed, False) or delivered
    return out


def _unpopulated_columns(
    con: duckdb.DuckDBPyConnection, kind_name: str, columns: tuple[str, ...]
) -> list[str]:
    """Columns the rule needs that hold no value on any row of the feed.

    An empty delivery has nothing to judge by, so its counts are true zeros.
    """
    kind = load_kinds()[kind_name]
    if con.execute(f"SELECT count(*) FROM staging.{kind_name}").fetchall()[0][0] == 0:
        return []
    missing = []
    for column in columns:
        spec = kind.event_columns[column]  # validated against the kind when settings load
        test = f"len({column}) > 0" if spec.type == "code_list" else f"{column} IS NOT NULL"
        n = con.execute(f"SELECT count(*) FROM staging.{kind_name} WHERE {test}").fetchall()[0][0]
        if n == 0:
            missing.append(column)
    return missing


def _prepare_session(
    con: duckdb.DuckDBPyConnection, settings: Settings, period_start: date, period_end: date
) -> None:
    SQL.run(con, "support/macros.sql")
    SQL.run(con, "support/session.sql")
    for term, spec in settings.school_terms.items():
        con.execute(
            "INSERT INTO ind_school_term VALUES (?, ?, ?, ?)",
            [term, int(spec["month"]), int(spec["day"]), int(spec.get("year_offset", 0))],
        )
    linked = table_exists(con, "linkage", "person")
    SQL.run(con, "support/child_map_linked.sql" if linked else "support/child_map_unlinked.sql")
    set_variables(con, {"period_start": period_start, "period_end": period_end})


def _check_variables(indicator: Indicator, params: dict[str, Any]) -> None:
    """Every getvariable() in the rule must be given, so no rule silently reads a NULL."""
    wanted = set(_GETVARIABLE.findall(SQL.read(f"indicators/{indicator.sql}")))
    missing = wanted - _RUN_VARIABLES - set(params)
    if missing:
        raise SettingsError(
            f"indicator {indicator.code}: {indicator.sql} reads variables the catalogue does "
            f"not set: {sorted(missing)}"
        )


def _derive_one(
    con: duckdb.DuckDBPyConnection, indicator: Indicator, period_start: date, period_end: date
) -> dict[str, int]:
    params = dict(indicator.params)
    _check_variables(indicator, params)
    set_variables(con, {**params, "age_rule": indicator.age_rule})
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE ind_candidate AS "
            + SQL.read(f"indicators/{indicator.sql}")
        )
    finally:
        reset_variables(con, list(params))
    columns = [row[0] for row in con.execute("DESCRIBE ind_candidate").fetchall()]
    if columns != CANDIDATE_COLUMNS:
        raise SettingsError(
            f"indicator {indicator.code}: {indicator.sql} returns {columns}, "
            f"expected {CANDIDATE_COLUMNS}"
        )
    outside = con.execute(
        "SELECT count(*) FROM ind_candidate WHERE event_date IS NULL OR event_date < ? "
        "OR event_date > ?",
        [period_start, period_end],
    ).fetchall()[0][0]
    if outside:
        raise SettingsError(
            f"indicator {indicator.code}: {indicator.sql} returned {outside} events dated "
            "outside the period"
        )
    SQL.run(con, "support/age_gate.sql")
    con.execute(
        "INSERT INTO staging.indicator_event "
        "SELECT ?, ?, source, record_key, person_key, ?, ?, event_date, detail "
        "FROM ind_gated WHERE exclusion IS NULL",
        [period_start, period_end, indicator.code, indicator.dataset],
    )
    counts = dict(
        con.execute(
            "SELECT coalesce(exclusion, 'kept'), count(*) FROM ind_gated GROUP BY ALL"
        ).fetchall()
    )
    return {
        "events": int(counts.get("kept", 0)),
        "aged_18_plus": int(counts.get("aged_18_plus", 0)),
        "victim_age_unknown": int(counts.get("victim_age_unknown", 0)),
    }


def derive_indicator_events(
    con: duckdb.DuckDBPyConnection,
    *,
    period_start: date,
    period_end: date,
    settings: Any = None,
) -> dict:
    """Fill staging.indicator_event and meta.indicator_status for the period.

    Rows for the same period are replaced, so a rerun is idempotent. Returns counts only:
    {"period", "events", "by_indicator": {code: events}, "excluded": {code: {reason: n}},
    "status": {code: status}}.
    """
    if period_start > period_end:
        raise SettingsError("period_start is after period_end")
    s = load_settings(settings)
    ensure_indicator_tables(con)
    _prepare_session(con, s, period_start, period_end)
    label = period_label(period_start, period_end)
    for table in ("staging.indicator_event", "meta.indicator_status"):
        con.execute(
            f"DELETE FROM {table} WHERE period_start = ? AND period_end = ?",
            [period_start, period_end],
        )
    delivered = feeds_delivered(con)
    summary: dict[str, Any] = {
        "period": label,
        "events": 0,
        "by_indicator": {},
        "excluded": {},
        "status": {},
    }
    for ind in s.indicators.values():
        kind_name = s.kind_of_feed(ind.feed)
        note = None
        counts = {"events": 0, "aged_18_plus": 0, "victim_age_unknown": 0}
        if not delivered.get(ind.feed, False):
            status, note = "not_available", f"feed {ind.feed} not delivered"
        elif missing := _unpopulated_columns(con, kind_name, ind.requires):
            status = "not_available"
            note = f"feed {ind.feed} never records {', '.join(missing)}"
        else:
            counts = _derive_one(con, ind, period_start, period_end)
            status = "supplied" if counts["events"] else "zero"
            received = newest_receipt(con, kind_name)
            if received is not None and (period_end - received).days >= s.late_after_days(
                    ind.feed):
                status = "late"
                note = f"newest {ind.feed} extract received {received.isoformat()}"
        con.execute(
            "INSERT INTO meta.indicator_status VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                ind.feed, ind.code, ind.dataset, label, period_start, period_end, status,
                counts["events"], counts["aged_18_plus"], counts["victim_age_unknown"], note,
            ],
        )
        summary["events"] += counts["events"]
        summary["by_indicator"][ind.code] = counts["events"]
        summary["excluded"][ind.code] = {
            "aged_18_plus": counts["aged_18_plus"],
            "victim_age_unknown": counts["victim_age_unknown"],
        }
        summary["status"][ind.code] = status
    log.info(
        "indicator events for %s: %d events, %d indicators not available",
        label,
        summary["events"],
        sum(1 for v in summary["status"].values() if v == "not_available"),
    )
    return summary
