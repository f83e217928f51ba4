"""The nightly run's steps as plain functions, each taking paths and returning counts.

Prefect wraps these in `flows.nightly`; tests call them directly. Steps pass file paths, never
DataFrames of personal data, so nothing identifying ends up in Prefect's database or results.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd

from expectations.docs import docs_dir
from expectations.validate import validate_extract
from flows.home import Home
from sources import archive
from sources.archive import Ledger, Receipt, current_extracts, receive_inbox
from sources.column_maps import ColumnMap, choose_map, load_maps
from sources.crashpoints import PAUSE_ENV, PAUSE_MARKER, pause_point  # noqa: F401 (re-export)
from sources.errors import ExtractError
from sources.kinds import get_kind, load_kinds
from sources.mapping import apply_map
from sources.readers import open_source
from warehouse import load, swap
from warehouse.db import connect
from warehouse.schema import create_schema

log = logging.getLogger("joinedup")

DEFAULT_KEEP_BUILDS = 7


def default_as_of(run_date: date) -> date:
    """The last day of the month before the run: reports cover whole months."""
    return run_date.replace(day=1) - timedelta(days=1)


def reporting_period(as_of: date) -> tuple[date, date]:
    """The 12 months ending on as_of."""
    try:
        start = as_of.replace(year=as_of.year - 1) + timedelta(days=1)
    except ValueError:  # 29 February
        start = as_of.replace(year=as_of.year - 1, day=28) + timedelta(days=1)
    return start, as_of


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S%fZ")


def home_maps(home: Home) -> dict[str, ColumnMap]:
    return load_maps([home.maps])


def make_checker(home: Home):
    """File-level check at receipt: readable, and some column map of its feed's kind fits."""
    maps = home_maps(home)

    def check(source: str, path: Path, file_name: str) -> tuple[str, str, str]:
        kind, map_name = home.feed_kind(source)
        if kind not in load_kinds():
            return kind, "", (f"inbox folder '{source}' is not a known extract kind; "
                              f"use one of {', '.join(sorted(load_kinds()))} or declare it "
                              "under `feeds:` in joinedup.yaml")
        try:
            source_file = open_source(path, _hints(maps, map_name))
            cmap, _ = choose_map(source_file.peek(), kind, maps, file_name, map_name)
        except ExtractError as exc:
            return kind, "", str(exc.naming(file_name))
        return kind, cmap.name, ""

    return check


def _hints(maps: dict[str, ColumnMap], map_name: str | None) -> dict:
    return maps[map_name].file if map_name and map_name in maps else {}


def receive(home: Home, now: datetime | None = None) -> list[Receipt]:
    home.ensure()
    receipts = receive_inbox(home.root, make_checker(home), now)
    for r in receipts:
        if r.status == "rejected":
            log.warning("rejected %s (%s): %s", r.file_name, r.source, r.problem)
    return receipts


def _refresh(home: Home):
    def refresh(source: str) -> str:
        kind, _ = home.feed_kind(source)
        return get_kind(kind).refresh

    return refresh


def plan_extracts(home: Home, failed: set[str] | frozenset[str] = frozenset()) -> list[Receipt]:
    """The extracts this build loads: see `current_extracts`; `failed` adds this run's own
    ingestion failures to the ledger's."""
    ledger = Ledger(home.root)
    return current_extracts(ledger.receipts(), _refresh(home), ledger.unusable_hashes() | failed)


def fallback_extracts(home: Home, planned: list[Receipt],
                      outcomes: list[ExtractOutcome]) -> list[Receipt]:
    """For a full-refresh feed whose whole newest delivery failed to ingest, the delivery before
    it (one step back per call), so that the feed stays in the publication rather than vanish."""
    failed = {o.extract_id for o in outcomes if o.status == "rejected"}
    refresh = _refresh(home)
    lost = {r.source for r in planned if refresh(r.source) == "full"
            and all(p.sha256 in failed for p in planned if p.source == r.source)}
    if not lost:
        return []
    return [r for r in plan_extracts(home, failed) if r.source in lost]


def build_path(home: Home, run_id: str) -> Path:
    return home.builds / f"{run_id}.duckdb"


def new_build(home: Home, run_id: str, *, as_of: date, settings: dict) -> Path:
    home.ensure()
    build = build_path(home, run_id)
    if build.exists():
        raise FileExistsError(f"build {build.name} already exists")
    period_start, period_end = reporting_period(as_of)
    con = connect(build)
    try:
        create_schema(con)
        load.start_loading(con)
        con.execute(
            "INSERT INTO meta.run VALUES (?, ?, ?, NULL, ?, ?, ?, ?)",
            [run_id, code_version(), datetime.now(UTC).replace(tzinfo=None), as_of,
             period_start, period_end, json.dumps(settings, sort_keys=True, default=str)],
        )
    finally:
        con.close()
    build.chmod(0o600)
    return build


@dataclass
class ExtractOutcome:
    source: str
    file_name: str
    extract_id: str
    kind: str
    map_name: str
    status: str              # loaded | rejected
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    blank_rows: int = 0
    warnings: int = 0
    problem: str = ""
    data_docs: str = ""      # the run's Data Docs index.html, relative to the home directory


def ingest_extract(build: Path, home: Home, receipt: Receipt, seq: int, run_date: date,
                   validation_settings: dict | None = None) -> ExtractOutcome:
    """Read, map, validate and load one archived extract; a file-level failure loads nothing."""
    maps = home_maps(home)
    kind = get_kind(receipt.kind)
    outcome = ExtractOutcome(source=receipt.source, file_name=receipt.file_name,
                             extract_id=receipt.sha256, kind=kind.name,
                             map_name=receipt.map_name, status="rejected")
    path = home.root / receipt.archive_path
    try:
        source_file = open_source(path, _hints(maps, receipt.map_name))
        cmap, header_row = choose_map(source_file.peek(), kind.name, maps, receipt.file_name,
                                      receipt.map_name or None)
        raw = source_file.read(header_row)
        mapped = apply_map(raw, cmap, receipt.file_name)
    except ExtractError as exc:
        outcome.problem = str(exc.naming(receipt.file_name))
        log.warning("rejected %s", outcome.problem)
        return outcome
    suite = f"{kind.name}.{cmap.name}"
    result = validate_extract(mapped, run_date, suite, validation_settings,
                              docs_dir=docs_dir(home.root, build.stem),
                              batch_label=f"{receipt.file_name} ({receipt.sha256[:12]})")
    con = connect(build)
    try:
        con.execute("BEGIN TRANSACTION")
        loaded = load.load_rows(con, kind, receipt.source, receipt.sha256, seq, result.good,
                                replace_existing=kind.refresh == "incremental")
        pause_point("ingest-write")
        supplier = {name: rule.column for name, rule in cmap.columns.items() if rule.column}
        load.load_quarantine(con, extract_id=receipt.sha256, source=receipt.source,
                             file_name=receipt.file_name, failures=result.failures,
                             raw_rows=raw.frame, supplier_columns=supplier)
        con.execute(
            "INSERT INTO meta.extract VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [receipt.sha256, receipt.source, kind.name, cmap.name, receipt.file_name,
             receipt.archive_path, datetime.fromisoformat(receipt.received_at).replace(
                 tzinfo=None), mapped.rows_in, loaded, len(result.quarantined_rows)],
        )
        con.execute("COMMIT")
    finally:
        con.close()
    outcome.status = "loaded"
    outcome.map_name = cmap.name
    outcome.rows_in = mapped.rows_in
    outcome.rows_loaded = loaded
    outcome.rows_quarantined = len(result.quarantined_rows)
    outcome.blank_rows = mapped.blank_rows
    outcome.warnings = sum(result.warnings.values())
    if result.data_docs:
        outcome.data_docs = str(result.data_docs.relative_to(home.root))
    log.info("loaded %s: %d rows in, %d loaded, %d quarantined", receipt.file_name,
             outcome.rows_in, outcome.rows_loaded, outcome.rows_quarantined)
    return outcome


def finish_staging(build: Path) -> int:
    con = connect(build)
    try:
        return load.finish_loading(con)
    finally:
        con.close()


def previous_person_ids(home: Home) -> pd.DataFrame | None:
    """record_key -> person_id from the published warehouse, so ids stay stable across runs."""
    if not home.live.exists():
        return None
    con = connect(home.live, read_only=True)
    try:
        return con.execute("SELECT record_key, person_id FROM linkage.person").df()
    finally:
        con.close()


MODEL_REPORT_DIR = "model-report"


def model_report_path(home: Home, run_id: str) -> Path:
    """`<home>/model-report/<run id>.html`, beside the run's Data Docs in `data-docs/<run id>/`."""
    return home.root / MODEL_REPORT_DIR / f"{run_id}.html"


def _linkage_pause_points(stage: str, finished: bool) -> None:
    """Crash-test points inside linkage (`link-<stage>`, as each stage starts)."""
    if not finished:
        pause_point(f"link-{stage}")


def link(build: Path, home: Home, settings: dict | None = None) -> dict:
    """Link the build's person records, with ids carried from the published warehouse and the
    reviewers' decisions (kept in the home, since the warehouse is rebuilt) overriding the
    model; the model report is saved under the run's id."""
    from linkage import run_linkage
    from linkage.decisions import decisions_path, load_latest

    previous = previous_person_ids(home)
    decisions = load_latest(decisions_path(home.root))
    report = model_report_path(home, build.stem)
    con = connect(build)
    try:
        summary = run_linkage(con, previous_ids=previous, settings=settings,
                              decisions=decisions, model_report=report,
                              on_stage=_linkage_pause_points)
    finally:
        con.close()
    summary["model_report"] = str(report.relative_to(home.root))
    return summary


def derive_and_publish(build: Path, as_of: date, settings: dict) -> dict:
    from warehouse.indicators import derive_indicator_events
    from warehouse.marts import build_marts
    from warehouse.publish import publish_tables

    period_start, period_end = reporting_period(as_of)
    con = connect(build)
    try:
        summary = {
            "indicators": derive_indicator_events(
                con, period_start=period_start, period_end=period_end,
                settings=settings.get("indicators")),
            "marts": build_marts(con, as_of=as_of, period_start=period_start,
                                 period_end=period_end, settings=settings.get("marts")),
        }
        pause_point("derive-write")
        summary["publication"] = publish_tables(con, as_of=as_of, period_start=period_start,
                                                period_end=period_end,
                                                settings=settings.get("publication"))
        con.execute("UPDATE meta.run SET finished_at = ?",
                    [datetime.now(UTC).replace(tzinfo=None)])
        con.execute("CHECKPOINT")
        return summary
    finally:
        con.close()


def pseudonymise(build: Path, home: Home) -> int:
    """Write the keyed pseudonyms the analyst views show instead of person ids; a build with a
    child left without one is not published.

    The key is resolved here, inside the step, and goes no further than warehouse.pseudonym:
    passing it between Prefect tasks would record it as a task input."""
    from flows.keys import resolve_key
    from warehouse.pseudonym import unpseudonymised, write_pseudonyms

    key, origin = resolve_key(home)
    con = connect(build)
    try:
        count = write_pseudonyms(con, key)
        missing = unpseudonymised(con)
        if missing:
            raise RuntimeError(f"{missing} children in the marts have no pseudonym; "
                               "the build is not published")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    del key
    log.info("pseudonymised %d children with the key from %s", count, origin)
    return count


def export(build: Path, home: Home, as_of: date) -> list[Path]:
    from warehouse.exports import export_csv

    out_dir = home.exports / as_of.isoformat()
    con = connect(build, read_only=True)
    try:
        return export_csv(con, out_dir)
    finally:
        con.close()


def keep_builds(home: Home) -> int:
    """How many builds to keep for rollback: `warehouse: {keep_builds: N}` in joinedup.yaml."""
    value = (home.settings().get("warehouse") or {}).get("keep_builds", DEFAULT_KEEP_BUILDS)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{home.root / 'joinedup.yaml'}: warehouse.keep_builds must be a whole "
                         f"number of at least 1 (it is {value!r})")
    return value


def publish(home: Home, build: Path, keep: int | None = None, run_id: str | None = None) -> Path:
    """Record each published table's lineage in the build, then swap it in atomically."""
    record_lineage(build, run_id or build.stem)
    return swap.publish_build(build, home.live, keep=keep or keep_builds(home),
                              before_swap=lambda: pause_point("swap"))


def record_lineage(build: Path, run_id: str) -> int:
    """meta.lineage: for every table in the publish and mart schemas, the run and the extracts
    (sha256) it came from. Every loaded extract feeds linkage, so every table lists them all."""
    con = connect(build)
    try:
        extracts = [e for (e,) in con.execute(
            "SELECT extract_id FROM meta.extract ORDER BY extract_id").fetchall()]
        tables = con.execute(
            "SELECT schema_name, table_name, estimated_size FROM duckdb_tables() "
            "WHERE database_name = current_database() AND schema_name IN ('publish', 'mart') "
            "ORDER BY ALL").fetchall()
        now = datetime.now(UTC).replace(tzinfo=None)
        con.execute("BEGIN TRANSACTION")
        con.execute("DELETE FROM meta.lineage")
        for schema, table, _ in tables:
            count = con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchall()[0][0]
            con.execute("INSERT INTO meta.lineage VALUES (?, ?, ?, ?, ?, ?)",
                        [schema, table, run_id, count, extracts, now])
        pause_point("lineage-write")
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
        return len(tables)
    finally:
        con.close()


def clean_orphans(home: Home) -> list[Path]:
    """Builds, WALs, staging links and half-copied archive files left by runs that died
    (call holding the run lock).

    A build whose run started but never published is an orphan, unless it is the published file
    (killed between the swap and the ledger write): that one is recorded as published."""
    from flows import runlog

    published = runlog.published_run_ids(home)
    unfinished = runlog.started_run_ids(home) - published
    live = swap.live_build(home.builds, home.live)
    if live is not None and live.stem in unfinished:
        runlog.append(home, {"event": "recovered", "run_id": live.stem})
        unfinished.discard(live.stem)
    removed = swap.remove_orphans(home.builds, home.live, unfinished)
    removed += archive.remove_partial_copies(home.root)
    for path in removed:
        log.warning("removed %s left by a run that did not finish", path.name)
    return removed


def record_outcomes(home: Home, run_id: str, outcomes: list[ExtractOutcome]) -> None:
    ledger = Ledger(home.root)
    for o in outcomes:
        ledger.append({"event": "outcome", "run_id": run_id, **asdict(o)})


def code_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("joinedup")
    except PackageNotFoundError:
        return "unknown"
