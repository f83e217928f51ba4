"""The runs' steps as plain functions, each taking paths and returning counts.

Prefect wraps these in `flows.nightly`; tests call them directly. Steps pass file paths, never
DataFrames of personal data, so nothing identifying ends up in Prefect's database or results.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path

import duckdb
import pandas as pd

from expectations.validate import validate_extract
from flows.home import Home
from flows.settings import DEFAULT_SETTINGS, HomeSettings, load_home_settings
from sources import archive
from sources.archive import (
    Ledger,
    Receipt,
    Receiving,
    current_extracts,
    earlier_deliveries,
    receive_inbox,
)
from sources.column_maps import ColumnMap, load_maps
from sources.common.periods import default_as_of, reporting_period  # noqa: F401 (used by flows)
from sources.errors import ExtractError
from sources.extract import read_extract
from sources.kinds import get_kind
from warehouse import analysts, swap
from warehouse import build as build_life
from warehouse.build import ExtractRecord, RunRecord
from warehouse.db import connect

log = logging.getLogger("joinedup")
# what DuckDB raises for rows it cannot hold (not for a fault of the machine, such as a full disk)
UNLOADABLE = (duckdb.ConstraintException, duckdb.ConversionException,
              duckdb.InvalidInputException)

def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S%fZ")


def home_maps(home: Home) -> dict[str, ColumnMap]:
    return load_maps([home.maps])


def _settings(home: Home, settings: HomeSettings | None) -> HomeSettings:
    """The run's settings; a step called on its own (a test, a command) reads the home's."""
    return settings if settings is not None else load_home_settings(home)


def receive(home: Home, settings: HomeSettings | None = None,
            now: datetime | None = None) -> Receiving:
    home.ensure()
    settings = _settings(home, settings)
    done = receive_inbox(home.root, home.inbox, home.raw, Ledger(home.ledger),
                         settings.feed_table(), home_maps(home), now, settings.inbox.rules())
    for r in done.receipts:
        if r.status == "rejected":
            log.warning("rejected %s (%s): %s", r.file_name, r.source, r.problem)
    for entry in done.refused:
        log.warning("refused %s", entry.problem)
    for entry in done.waiting:
        log.warning("waiting %s", entry.problem)
    if done.ignored:
        log.info("ignored %d hidden, lock or partial-download files in the inbox",
                 len(done.ignored))
    return done


def plan_extracts(home: Home, settings: HomeSettings | None = None,
                  failed: set[str] | frozenset[str] = frozenset()) -> list[Receipt]:
    """The extracts this build loads: see `current_extracts`; `failed` adds this run's own
    ingestion failures to the ledger's."""
    ledger = Ledger(home.ledger)
    return current_extracts(ledger.receipts(), _settings(home, settings).feed_table(),
                            ledger.unusable_hashes() | failed)


def fallback_extracts(home: Home, planned: list[Receipt], outcomes: list[ExtractOutcome],
                      settings: HomeSettings | None = None) -> list[Receipt]:
    """For a full-refresh feed whose whole newest delivery failed to ingest, the delivery before
    it (one step back per call), so that the feed stays in the publication rather than vanish."""
    settings = _settings(home, settings)
    failed = {o.extract_id for o in outcomes if o.status == "rejected"}
    feeds = settings.feed_table()
    lost = {r.source for r in planned if feeds.feed(r.source).refresh == "full"
            and all(p.sha256 in failed for p in planned if p.source == r.source)}
    if not lost:
        return []
    return [r for r in plan_extracts(home, settings, failed) if r.source in lost]


def new_build(home: Home, run_id: str, *, as_of: date,
              settings: HomeSettings = DEFAULT_SETTINGS) -> Path:
    home.ensure()
    period_start, period_end = reporting_period(as_of)
    return build_life.create_build(home.build(run_id), RunRecord(
        run_id=run_id, code_version=code_version(), as_of=as_of, period_start=period_start,
        period_end=period_end, settings_json=build_life.settings_json(settings.record())))


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
                   settings: HomeSettings | None = None) -> ExtractOutcome:
    """Read, map, validate and load one archived extract; a file-level failure loads nothing."""
    maps = home_maps(home)
    kind = get_kind(receipt.kind)
    outcome = ExtractOutcome(source=receipt.source, file_name=receipt.file_name,
                             extract_id=receipt.sha256, kind=kind.name,
                             map_name=receipt.map_name, status="rejected")
    earlier = []
    if receipt.header.get("folds_earlier"):     # a CSC API payload: the deltas before it
        ledger = Ledger(home.ledger)
        earlier = [(home.root / r.archive_path, r.file_name) for r in
                   earlier_deliveries(ledger.receipts(), receipt, ledger.unusable_hashes())]
    try:
        extract = read_extract(home.root / receipt.archive_path, kind.name, maps,
                               receipt.file_name, receipt.map_name or None,
                               _settings(home, settings).inbox.rules().limits, earlier)
    except ExtractError as exc:
        outcome.problem = str(exc.naming(receipt.file_name))
        log.warning("rejected %s", outcome.problem)
        return outcome
    raw, cmap, mapped = extract.raw, extract.cmap, extract.mapped
    suite = f"{kind.name}.{cmap.name}"
    result = validate_extract(mapped, run_date, suite,
                              _settings(home, settings).validation_overrides(),
                              docs_dir=home.data_docs / build.stem,
                              batch_label=f"{receipt.file_name} ({receipt.sha256[:12]})")
    record = ExtractRecord(
        extract_id=receipt.sha256, source=receipt.source, kind=kind.name, map_name=cmap.name,
        file_name=receipt.file_name, archive_path=receipt.archive_path,
        received_at=datetime.fromisoformat(receipt.received_at), rows_in=mapped.rows_in,
        rows_quarantined=len(result.quarantined_rows))
    supplier = {name: rule.column for name, rule in cmap.columns.items() if rule.column}
    try:
        loaded = build_life.record_extract(build, record, kind, seq, result.good,
                                           result.failures, raw.frame, supplier)
    except UNLOADABLE as exc:       # rolled back whole; never raised again on every later run
        outcome.problem = (f"{receipt.file_name}: its rows could not be loaded "
                           f"({type(exc).__name__}); the file was skipped and will not be used. "
                           "Ask the supplier to check the extract and send it again")
        log.warning("rejected %s", outcome.problem)
        return outcome
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
    return build_life.finish_staging(build)


def previous_person_ids(home: Home) -> pd.DataFrame | None:
    """record_key -> person_id from the published warehouse, so ids stay stable across runs."""
    if not home.live.exists():
        return None
    con = connect(home.live, read_only=True)
    try:
        return con.execute("SELECT record_key, person_id FROM linkage.person").df()
    finally:
        con.close()


PREVIOUS = "previous"        # the last publication, attached read-only to an incremental build


def relink_incrementally(con, home: Home, settings: HomeSettings):
    """The incremental engine, with the last publication attached to `con`, when an incremental
    run may carry its linkage: incremental linking on, a publication with a relink state, the
    same linkage settings, and its full relink less than `engine.full_relink_days` old. None
    means relink in full (the reason is logged)."""
    from linkage.incremental import IncrementalPairs, read_state, settings_fingerprint

    if not settings.engine.incremental or not home.live.exists():
        return None
    live = str(home.live).replace("'", "''")
    con.execute(f"ATTACH '{live}' AS {PREVIOUS} (READ_ONLY)")
    state = read_state(con, PREVIOUS)
    today = datetime.now(UTC).date()
    reason = None
    if state is None:
        reason = "the last publication has no relink state"
    elif state["settings_fingerprint"] != settings_fingerprint(settings.linkage_overrides()):
        reason = "the linkage settings changed"
    elif (today - state["full_relink_on"]).days >= settings.engine.full_relink_days:
        reason = f"the last full relink was on {state['full_relink_on']}"
    if reason is not None:
        con.execute(f"DETACH {PREVIOUS}")
        log.info("linkage: full relink (%s)", reason)
        return None
    return IncrementalPairs(PREVIOUS, state["full_relink_on"])


def record_relink(con, settings: HomeSettings, mode: str, full_relink_on: date) -> None:
    """The relink state the next run reads: the settings' fingerprint, and the day of the last
    full relink; the last publication is detached first if it was attached."""
    from linkage.incremental import settings_fingerprint, write_state

    if PREVIOUS in {row[0] for row in con.execute(
            "SELECT database_name FROM duckdb_databases()").fetchall()}:
        con.execute(f"DETACH {PREVIOUS}")
    write_state(con, settings_fingerprint(settings.linkage_overrides()), full_relink_on, mode)


def link(build: Path, home: Home, settings: HomeSettings = DEFAULT_SETTINGS) -> dict:
    """Link the build's person records, with ids carried from the published warehouse and the
    reviewers' decisions (kept in the home, since the warehouse is rebuilt) overriding the
    model; the model report is saved under the run's id. The published history (every cell
    earlier publications and returns printed) is carried from the published warehouse here
    too, the other earlier state a build needs before it publishes."""
    from flows.dask_engine import pair_engine
    from linkage import run_linkage
    from linkage.decisions import load_latest
    from linkage.incremental import FullRelinkNeeded

    previous = previous_person_ids(home)
    carried = build_life.carry_published_history(build, home.live, home.published_returns)
    if carried:
        log.info("carried %d published cells of earlier publications into the build", carried)
    decisions = load_latest(home.decisions)
    report = home.model_report(build.stem)
    con = connect(build)
    try:
        incremental = relink_incrementally(con, home, settings)
        link_with = partial(run_linkage, con, previous_ids=previous,
                            settings=settings.linkage_overrides(), decisions=decisions,
                            model_report=report)
        summary = None
        full_relink_on = datetime.now(UTC).date()
        if incremental is not None:
            try:
                summary = link_with(engine=incremental)
                summary.update(linkage_mode="incremental", carried_pairs=incremental.carried)
                full_relink_on = incremental.full_relink_on
            except FullRelinkNeeded as exc:
                log.info("linkage: full relink (%s)", exc)
        if summary is None:
            with pair_engine(settings.engine, home.work_dir) as engine:
                summary = link_with(engine=engine)
            summary["linkage_mode"] = "full"
        record_relink(con, settings, summary["linkage_mode"], full_relink_on)
    finally:
        con.close()
    summary["model_report"] = str(report.relative_to(home.root))
    return summary


def derive_and_publish(build: Path, as_of: date,
                       settings: HomeSettings = DEFAULT_SETTINGS) -> dict:
    return build_life.derive_and_publish(build, *reporting_period(as_of), settings.catalogue)


def pseudonymise(build: Path, home: Home, settings: HomeSettings = DEFAULT_SETTINGS) -> int:
    """Write the keyed pseudonyms the analyst views show instead of person ids; a build with a
    child left without one is not published.

    The key is resolved here, inside the step, and goes no further than warehouse.pseudonym:
    passing it between Prefect tasks would record it as a task input."""
    from flows.keys import resolve_key
    from warehouse.pseudonym import unpseudonymised, write_pseudonyms

    key, origin = resolve_key(home, settings.key_settings)
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


def analyst_places(home: Home, settings: HomeSettings = DEFAULT_SETTINGS) -> analysts.Places:
    return analysts.Places(publications=home.publications, current=home.analysts_current,
                           group=settings.analysts.group)


def prepare_analysts(build: Path, home: Home, settings: HomeSettings = DEFAULT_SETTINGS,
                     run_id: str | None = None) -> list[Path]:
    """Record each table's lineage in the build, then write the analysts' publication of it
    (their file and the CSV exports made from it), not yet published; returns the CSVs."""
    run_id = run_id or build.stem
    build_life.record_lineage(build, run_id)
    analysts.open_zone(home.analysts, home.root, settings.analysts.group)
    folder = analysts.prepare_publication(build, analyst_places(home, settings), run_id)
    return sorted((folder / analysts.EXPORTS).glob("*.csv"))


def publish(home: Home, build: Path, settings: HomeSettings = DEFAULT_SETTINGS,
            run_id: str | None = None) -> Path:
    """Swap the build in atomically (the publication's commit), then the analysts'
    publication of it; a kill between the two is put right by `clean_orphans`."""
    live = swap.publish_build(build, home.live, keep=settings.warehouse.keep_builds)
    places = analyst_places(home, settings)
    analysts.publish(places, run_id or build.stem)
    analysts.prune(places, keep={b.stem for b in swap.kept_builds(home.builds)})
    return live


def reconcile_analysts(home: Home, settings: HomeSettings = DEFAULT_SETTINGS) -> str | None:
    """Make the analysts' publication that of the published build, if it is not (a run killed
    between the two swaps, a rollback, a home published before the analysts' zone existed):
    from its kept publication folder, or made again from the build. Call it holding the run
    lock; returns the run id now shown to analysts."""
    live = swap.live_build(home.builds, home.live)
    places = analyst_places(home, settings)
    if live is None:
        return analysts.current_run(places)
    folder = places.folder(live.stem)
    if analysts.current_run(places) == live.stem and not analysts.verify(folder):
        return live.stem
    analysts.open_zone(home.analysts, home.root, settings.analysts.group)
    if analysts.verify(folder):
        analysts.prepare_publication(live, places, live.stem)
    analysts.publish(places, live.stem)
    log.info("the analysts' publication is now that of run %s", live.stem)
    return live.stem


def remove_partition_folders(home: Home) -> list[Path]:
    """The Dask engine's work folders (linkage features among them) left by a killed run."""
    import shutil

    from flows.dask_engine import WORK_PREFIX

    found = sorted(home.work_dir.glob(f"{WORK_PREFIX}*")) if home.work_dir.is_dir() else []
    for folder in found:
        shutil.rmtree(folder, ignore_errors=True)
    return found


def clean_orphans(home: Home, settings: HomeSettings = DEFAULT_SETTINGS) -> list[Path]:
    """Builds, WALs, staging links and half-copied archive files left by runs that died
    (call holding the run lock).

    A build whose run started but never published is an orphan, unless it is the published file
    (killed between the swap and the ledger write): that one is recorded as published."""
    from flows import run_ledger

    published = run_ledger.published_run_ids(home)
    unfinished = run_ledger.started_run_ids(home) - published
    live = swap.live_build(home.builds, home.live)
    if live is not None and live.stem in unfinished:
        run_ledger.append(home, {"event": "recovered", "run_id": live.stem})
        unfinished.discard(live.stem)
    removed = swap.remove_orphans(home.builds, home.live, unfinished)
    removed += archive.remove_partial_copies(home.raw)
    removed += remove_partition_folders(home)
    places = analyst_places(home, settings)
    removed += analysts.prune(places, keep={b.stem for b in swap.kept_builds(home.builds)})
    for path in removed:
        log.warning("removed %s left by a run that did not finish", path.name)
    try:
        reconcile_analysts(home, settings)
    except duckdb.Error as exc:     # the run goes on: its own publication replaces it
        log.warning("the analysts' publication could not be made from the published build "
                    "(%s); this run's publication will replace it", type(exc).__name__)
    return removed


def record_outcomes(home: Home, run_id: str, outcomes: list[ExtractOutcome]) -> None:
    ledger = Ledger(home.ledger)
    ledger.append([{"event": "outcome", "run_id": run_id, **asdict(o)} for o in outcomes])


def write_return(home: Home, quarter: str | None = None, *, tables: bool = True,
                 report: bool = True, on_stage=None):
    """The quarterly return's one step: the quarter (default: the last complete one) from the
    published warehouse, with the home's settings; a warehouse.returns.ReturnResult."""
    from flows.settings import load_home_settings
    from warehouse.returns import ReturnPlaces, build_return, resolve_quarter

    settings = load_home_settings(home)
    quarter = resolve_quarter(quarter)
    places = ReturnPlaces(live=home.live, work_dir=home.work_dir,
                          out_dir=home.return_dir(quarter), history_dir=home.published_returns)
    return build_return(quarter, places, settings.catalogue, settings.partnership_name,
                        tables=tables, report=report,
                        **({"on_stage": on_stage} if on_stage else {}))


def code_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("joinedup")
    except PackageNotFoundError:
        return "unknown"
