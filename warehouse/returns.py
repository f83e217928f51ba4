"""The quarterly return: the published tables of one calendar quarter in a fixed-layout XLSX
workbook (a cover sheet, then one sheet per table, always in the same order and columns so that
partnerships' returns can be compared) and the same tables as CSV.

The published warehouse holds the tables of the nightly run's 12-month period only, so the
quarter's tables are computed afresh: the published warehouse file is copied inside the home
(it holds personal data and must not leave it), indicator events, marts and published tables are
derived for the quarter in the copy with the same functions and the same suppression and
disclosure check as the nightly run, read, and the copy is deleted. A quarter that ends after the
warehouse's reporting date cannot be returned (its data has not arrived yet).

The last sheet, Trend, holds the last `publication.trend.quarters` quarters (warehouse.trend):
each earlier quarter is published in the same copy with the same functions, so a trend value is
what that quarter's own return prints. Sheets are only ever added at the end, so a sheet keeps
its position from one release to the next.

Every text cell goes through warehouse.exports.guard_cell, in the workbook as in the CSV files.
No Prefect here: flows/quarterly.py wraps `build_return` in a flow.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from warehouse.build import latest_run, publish_period
from warehouse.exports import write_guarded_csv
from warehouse.publication_history import absorb_returns, last_publication, write_return_history
from warehouse.publish import ensure_publish_tables
from warehouse.settings import Settings
from warehouse.trend import TREND_COLUMNS, quarters_up_to, trend_rows, trend_settings
from warehouse.workbook import SheetContext, sheets, write_workbook

log = logging.getLogger(__name__)

# (sheet name, publish table, title) in the fixed order of the return: warehouse/workbook.yaml.
RETURN_TABLES: list[tuple[str, str, str]] = sheets()
# Sheets computed for the return rather than read from a publish table of the period.
COMPUTED_TABLES = {"trend"}

_QUARTER = re.compile(r"^(\d{4})\s*-?\s*Q([1-4])$", re.IGNORECASE)


class ReturnError(RuntimeError):
    """The return cannot be produced as asked (no warehouse, quarter not covered)."""


def parse_quarter(text: str) -> tuple[date, date]:
    """'2026Q3' -> (2026-07-01, 2026-09-30): calendar quarters."""
    m = _QUARTER.match(text.strip())
    if not m:
        raise ReturnError(f"{text!r} is not a quarter like 2026Q3")
    year, q = int(m.group(1)), int(m.group(2))
    start = date(year, 3 * q - 2, 1)
    end = date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1) - timedelta(days=1)
    return start, end


def quarter_label(start: date) -> str:
    return f"{start.year}Q{(start.month - 1) // 3 + 1}"


def last_complete_quarter(today: date) -> str:
    """The latest calendar quarter that ended before `today`."""
    q_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    return quarter_label(q_start - timedelta(days=1))


@dataclass
class ReturnResult:
    quarter: str
    period_start: date
    period_end: date
    workbook: Path | None           # None when only the report was asked for
    csv_dir: Path
    csv_files: list[Path]
    report: Path | None
    tables: dict[str, tuple[list[str], list[tuple]]] = field(repr=False)
    cover: list[tuple[str, str]] = field(repr=False)
    summary: dict = field(repr=False)


@dataclass(frozen=True)
class ReturnPlaces:
    """Where a return reads and writes: the published warehouse, a scratch folder for its copy
    (which holds personal data, so it stays beside the warehouse) and the quarter's folder."""

    live: Path
    work_dir: Path
    out_dir: Path
    history_dir: Path | None = None     # where the cells a return printed are kept


StageHook = Callable[[str, int], None]     # (stage, stages in all): told as a stage starts


def _no_progress(_name: str, _total: int) -> None:
    return None


def compute_period_tables(
    live: Path, work_dir: Path, period: tuple[date, date], s: Settings,
    history_dir: Path | None = None,
    on_stage: StageHook = _no_progress, stages_after: int = 0,
) -> tuple[dict[str, tuple[list[str], list[tuple]]], dict, dict]:
    """Derive and publish the period's tables (and the earlier quarters of the trend) in a copy
    of the warehouse, against the published history and the returns already made (files in
    `history_dir`, where this return's publications are added); returns (table -> (columns,
    rows)), the publication summary and facts for the cover sheet. `stages_after` counts the
    caller's stages after these (for `on_stage`)."""
    quarters = quarters_up_to(period, trend_settings(s)["quarters"])
    total = 3 + sum(q != period for q in quarters) + stages_after
    work_dir.mkdir(parents=True, exist_ok=True)
    on_stage("copy the published warehouse", total)
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="return-") as tmp:
        snapshot = Path(tmp) / "warehouse.duckdb"
        shutil.copyfile(live, snapshot)
        con = duckdb.connect(str(snapshot))
        try:
            run = latest_run(con)
            if run is None:
                raise ReturnError(f"{live} has no meta.run row: not a finished build")
            run_id, as_of = run
            if period[1] > as_of:
                raise ReturnError(
                    f"the quarter ends {period[1]}, after the published warehouse's reporting "
                    f"date {as_of}: its data has not all arrived; run the nightly flow for a "
                    "later date or choose an earlier quarter")
            on_stage(f"publish {quarter_label(period[0])}", total)
            if history_dir is not None:
                ensure_publish_tables(con)
                absorb_returns(con, history_dir)
            before = last_publication(con) if history_dir is not None else 0
            summary = publish_period(con, *period, s)["publication"]
            tables = {}
            for _sheet, table, _title in RETURN_TABLES:
                if table in COMPUTED_TABLES:
                    continue
                result = con.execute(
                    f'SELECT * FROM publish."{table}" WHERE period_start = ? AND period_end = ?',
                    list(period))
                tables[table] = ([d[0] for d in result.description], result.fetchall())
            for quarter in quarters:
                if quarter != period:
                    on_stage(f"trend: publish {quarter_label(quarter[0])}", total)
                    publish_period(con, *quarter, s)
            on_stage("trend", total)
            trend = trend_rows(con, s, quarters) if quarters else []
            tables["trend"] = (list(TREND_COLUMNS),
                               [tuple(r[c] for c in TREND_COLUMNS) for r in trend])
            extracts = con.execute(
                "SELECT kind, source, count(*), max(received_at)::DATE "
                "FROM meta.extract GROUP BY kind, source ORDER BY kind, source"
            ).fetchall()
            facts = {"run_id": run_id, "as_of": as_of, "extracts": extracts,
                     "trend_quarters": [q[0] for q in quarters], "stages": total}
            if history_dir is not None:
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
                write_return_history(con, before, history_dir /
                                     f"{quarter_label(period[0])}-{stamp}.csv")
        finally:
            con.close()
    return tables, summary, facts


def suppression_notes(s) -> list[tuple[str, str]]:
    """How counts were protected, in words, for the cover sheet and the report's notes."""
    disclosure = s.publication["disclosure"]
    threshold = int(disclosure["threshold"])
    rows = [("Suppression rule",
             f"counts 1 to {threshold - 1} are shown as '{disclosure['symbol']}', with secondary "
             "suppression so that no suppressed count can be derived, or narrowed to a range less "
             f"than {s.protection_width} wide, from the other published cells of "
             "all tables and of earlier publications; 0 is a true zero; ':' = not available; "
             f"'{disclosure['not_applicable']}' = not applicable")]
    if s.rounding == "nearest_5":
        rows.append(("Rounding",
                     "after suppression every published count is rounded to the nearest 5, "
                     "each on its own: totals are rounded independently, so a total may differ "
                     "from the sum of its rounded parts; percentages and rates are calculated "
                     "from the rounded counts"))
    else:
        rows.append(("Rounding", "none: counts are exact"))
    return rows


def _cover(quarter: str, period, s: Settings, partnership: str, facts: dict, tables,
           summary) -> list:
    from warehouse.trend import quarter_name

    rows = [
        ("Return", "Joined Up quarterly return: children presenting with CSE indicators"),
        ("Partnership", partnership),
        ("Quarter", quarter),
        ("Period start", period[0].isoformat()),
        ("Period end", period[1].isoformat()),
        ("Run id (published warehouse)", str(facts["run_id"])),
        ("Warehouse reporting date", str(facts["as_of"])),
        ("Return generated at", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        *suppression_notes(s),
        ("Cells suppressed", f"{summary['primary_suppressed']} primary, "
                             f"{summary['secondary_suppressed']} secondary, "
                             f"{summary.get('history_suppressed', 0)} against earlier "
                             "publications"),
    ]
    ages = s.publication.get("rate_ages") or {"min": 0, "max": 17}
    if summary.get("population"):
        rows.append(("Rates per 10,000",
                     f"per 10,000 residents of the age band and sex in the population estimate "
                     f"({summary.get('population_year')}); {summary['population']} aged "
                     f"{ages['min']}-{ages['max']} for rates over all ages; no rate for unknown "
                     "age or sex, ages outside that range, or an ethnic group (':')"))
    else:
        rows.append(("Rates per 10,000", "not available: no population estimate supplied"))
    trend_q = facts.get("trend_quarters") or []
    if trend_q:
        rows.append(("Trend", f"{len(trend_q)} quarters, {quarter_name(trend_q[0])} to "
                              f"{quarter_name(trend_q[-1])} (sheet Trend)"))
    # Row counts are left out: a feed's count of rows can be a small number the tables
    # suppress (its records are published, protected, in Linkage_summary).
    for kind, source, n, received, *_ in facts["extracts"]:
        rows.append((f"Feed {source} ({kind})",
                     f"{n} extract(s), latest received {received}; its records are counted in "
                     "sheet Linkage_summary"))
    cols, data = tables["data_completeness"]
    idx = {c: i for i, c in enumerate(cols)}
    by_feed: dict[str, list[str]] = {}
    for r in data:
        pct = str(r[idx["pct_not_recorded"]])
        feed = r[idx["feed_label"]] if "feed_label" in idx else r[idx["feed"]]
        field = r[idx["field_label"]] if "field_label" in idx else r[idx["field"]]
        by_feed.setdefault(feed, []).append(
            f"{field} {pct}{'%' if re.fullmatch(r'[0-9.]+', pct) else ''}")
    for feed, parts in by_feed.items():
        rows.append((f"Completeness {feed} (share not recorded)", "; ".join(parts)))
    rows.append(("Sheets", ", ".join(sheet for sheet, _t, _d in RETURN_TABLES)))
    return rows


def write_csvs(out_dir: Path, tables: dict, cover: list) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    items = [("cover", (["item", "value"], cover))]
    items += [(table, tables[table]) for _s, table, _t in RETURN_TABLES]
    for name, (columns, rows) in items:
        path = out_dir / f"{name}.csv"
        write_guarded_csv(path, columns, rows)
        paths.append(path)
    return paths


def resolve_quarter(quarter: str | None, today: date | None = None) -> str:
    """'2026q3' -> '2026Q3'; None -> the last complete calendar quarter."""
    quarter = quarter or last_complete_quarter(today or datetime.now(UTC).date())
    return quarter_label(parse_quarter(quarter)[0])


def build_return(quarter: str, places: ReturnPlaces, catalogue: Settings, partnership: str,
                 *, tables: bool = True, report: bool = True,
                 on_stage: StageHook = _no_progress) -> ReturnResult:
    """Write into `places.out_dir` the quarter's workbook and CSVs (tables=True) and its HTML
    report (report=True); returns what was written."""
    period = parse_quarter(quarter)
    quarter = quarter_label(period[0])
    if not places.live.exists():
        raise ReturnError(f"{places.live} not found: run `joinedup run` first")
    computed, summary, facts = compute_period_tables(
        places.live, places.work_dir, period, catalogue, places.history_dir, on_stage,
        int(tables) + int(report))
    total = facts["stages"]
    cover = _cover(quarter, period, catalogue, partnership, facts, computed, summary)
    out_dir = places.out_dir
    workbook, csv_files, report_path = None, [], None
    if tables:
        on_stage("workbook and CSV files", total)
        disclosure = catalogue.publication["disclosure"]
        context = SheetContext(partnership, quarter, period, str(disclosure["symbol"]),
                               str(disclosure["not_applicable"]))
        workbook = write_workbook(out_dir / f"return_{quarter}.xlsx", cover, computed, context)
        csv_files = write_csvs(out_dir, computed, cover)
    if report:
        from warehouse.report import write_report

        on_stage("report", total)
        report_path = write_report(out_dir / f"report_{quarter}.html", quarter, period, cover,
                                   computed, catalogue)
    log.info("quarterly return %s written to %s", quarter, out_dir)
    return ReturnResult(quarter, period[0], period[1], workbook, out_dir, csv_files,
                        report_path, computed, cover, summary)
