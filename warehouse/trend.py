"""The trend over quarters in the quarterly return and report: children presenting with at least
1, 2, 3 indicators and missing episodes, quarter by quarter.

Each quarter's figures are read from that quarter's own publication - derived, suppressed (and
rounded) by the same functions as the quarterly return for that quarter - rather than counted
again by a trend query. A separately suppressed trend table could print a number that the
quarter's own return hides as a secondary suppression, and the two together would undo it; read
this way, a trend value is always the value the quarter's return prints.

A quarter that starts before a feed's history in the warehouse is shown as ':' (not available)
for the measures that feed counts in: extracts carry a limited history, and an absent history
charted as a fall to zero would mislead.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb

from sources.common.sqlfiles import SqlFiles, reset_variables, set_variables
from warehouse.settings import Settings, SettingsError

SQL = SqlFiles.beside(__file__)

NOT_AVAILABLE = ":"

TREND_COLUMNS = ["period_start", "period_end", "quarter", "measure", "measure_label", "feed",
                 "unit", "value", "comparable", "note"]
# `comparable`: whether the quarter's value counts everything the other quarters count. A
# quarter in which no school term starts counts no termly indicator, so its "children with k
# or more indicators" is a partial count: the report draws it apart from the line.
COMPARABLE, PARTIAL = "yes", "no: partial count"


def quarter_of(day: date) -> tuple[date, date]:
    """The calendar quarter containing `day`."""
    start = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    nxt = date(start.year + (start.month == 10), 1 if start.month == 10 else start.month + 3, 1)
    return start, nxt - timedelta(days=1)


def quarter_name(start: date) -> str:
    return f"{start.year}Q{(start.month - 1) // 3 + 1}"


def quarters_up_to(last: tuple[date, date], count: int) -> list[tuple[date, date]]:
    """`count` calendar quarters ending with `last`, oldest first."""
    if count < 1:
        return []
    out = [quarter_of(last[0])]
    while len(out) < count:
        out.insert(0, quarter_of(out[0][0] - timedelta(days=1)))
    return out


def trend_settings(s: Settings) -> dict[str, Any]:
    raw = s.publication.get("trend") or {}
    quarters = raw.get("quarters", 8)
    if not isinstance(quarters, int) or isinstance(quarters, bool) or quarters < 0:
        raise SettingsError("publication.trend.quarters must be a whole number, 0 or more")
    ks = [int(k) for k in raw.get("indicators_at_least") or [1, 2, 3]]
    top = int(s.publication["table9"]["top_k"])
    if any(k < 1 or k > top for k in ks):
        raise SettingsError(f"publication.trend.indicators_at_least must lie in 1..{top} "
                            "(Table 9's rows)")
    history: dict[str, date] = {}
    for feed, value in (raw.get("history_start") or {}).items():
        try:
            history[str(feed)] = value if isinstance(value, date) else date.fromisoformat(
                str(value))
        except ValueError:
            raise SettingsError(f"publication.trend.history_start.{feed}: {value!r} is not a "
                                "date like 2024-11-01") from None
    return {"quarters": quarters, "k": ks,
            "missing_measures": [str(m) for m in raw.get("missing_measures") or ["episodes"]],
            "history_start": history}


def feed_history_starts(con: duckdb.DuckDBPyConnection, s: Settings) -> dict[str, date]:
    """First day of each feed's history: the configured history_start, else the date of the
    feed's earliest indicator event in the warehouse (so a feed with no event has none)."""
    out: dict[str, date] = {}
    for indicator, first in con.execute(SQL.read("publish/trend_history.sql")).fetchall():
        spec = s.indicators.get(indicator)
        if spec is not None and (spec.feed not in out or first < out[spec.feed]):
            out[spec.feed] = first
    out.update(trend_settings(s)["history_start"])
    return out


def termly_indicators(s: Settings) -> list[str]:
    """Indicators counted per school term (their rule reads the term calendar): they count in
    the quarter in which a term starts and in no other."""
    return [code for code, spec in s.indicators.items()
            if "ind_school_term" in SQL.read(f"indicators/{spec.sql}")]


def term_starts_in(s: Settings, period: tuple[date, date]) -> bool:
    for spec in s.school_terms.values():
        for year in (period[0].year - 1, period[0].year, period[0].year + 1):
            start = date(year + int(spec.get("year_offset", 0)), int(spec["month"]),
                         int(spec["day"]))
            if period[0] <= start <= period[1]:
                return True
    return False


def _label(s: Settings, feed: str) -> str:
    return str((s.publication.get("feed_labels") or {}).get(feed, feed))


FEEDS_COUNTED = (
    "SELECT DISTINCT feed FROM meta.indicator_status "
    "WHERE period_start = ? AND period_end = ? AND status <> 'not_available' ORDER BY feed"
)


def trend_rows(
    con: duckdb.DuckDBPyConnection, s: Settings, quarters: list[tuple[date, date]]
) -> list[dict[str, Any]]:
    """The trend table, one row per measure and quarter, measures in a fixed order. Every
    quarter must already be published in `con`."""
    cfg = trend_settings(s)
    history = feed_history_starts(con, s)
    feeds_counted = {q: [r[0] for r in con.execute(FEEDS_COUNTED, list(q)).fetchall()]
                     for q in quarters}
    names = ["trend_starts", "trend_ends", "trend_k", "trend_missing_measures"]
    set_variables(con, {"trend_starts": [q[0] for q in quarters],
                        "trend_ends": [q[1] for q in quarters],
                        "trend_k": cfg["k"], "trend_missing_measures": cfg["missing_measures"]})
    try:
        fetched = con.execute(SQL.read("publish/trend.sql"))
        columns = [d[0] for d in fetched.description]
        found = [dict(zip(columns, r, strict=True)) for r in fetched.fetchall()]
    finally:
        reset_variables(con, names)

    def gaps(period: tuple[date, date], feeds: list[str]) -> list[str]:
        return [f"{_label(s, f)} records start {history[f].isoformat()}"
                for f in feeds if f in history and history[f] > period[0]]

    missing_feeds = list((s.publication.get("missing") or {}).get("feeds") or [])
    order = {m: i for i, m in enumerate(cfg["missing_measures"])}
    termly = termly_indicators(s)
    rows = []
    for r in found:
        period = (r["period_start"], r["period_end"])
        if r["topic"] == "indicators":
            measure = f"children_at_least_{r['k']}_indicators"
            label = f"Children presenting with {r['k']} or more indicators"
            feed = "All"
            notes = gaps(period, feeds_counted.get(period, []))
            if r["not_available"]:
                notes.append(f"indicators not available: {r['not_available']}")
            partial = bool(r["not_available"])
            if termly and not term_starts_in(s, period):
                notes.append(f"no school term starts in this quarter, so {', '.join(termly)} "
                             "(counted by term) add nothing: a partial count, not comparable "
                             "with the quarters in which a term starts")
                partial = True
            key = (0, r["k"], 0)
        else:
            measure = f"missing_{r['measure']}_{r['feed'].lower()}"
            label, feed = r["measure_label"], r["feed"]
            notes = gaps(period, [feed])
            partial = False
            key = (1, missing_feeds.index(feed) if feed in missing_feeds else 99,
                   order.get(r["measure"], 99))
        covered = not any("records start" in n for n in notes)
        rows.append((key, period[0], {
            "period_start": period[0], "period_end": period[1],
            "quarter": quarter_name(period[0]), "measure": measure, "measure_label": label,
            "feed": feed, "unit": r["unit"],
            "value": r["value"] if covered else NOT_AVAILABLE,
            "comparable": "" if not covered else PARTIAL if partial else COMPARABLE,
            "note": "; ".join(notes),
        }))
    return [row for _k, _s, row in sorted(rows, key=lambda x: (x[0], x[1]))]
