"""The `nightly` Prefect flow: receive → ingest (validate, quarantine, load) → link → derive
indicators, marts and published tables → pseudonymise analyst ids → the analysts' file and
its CSV exports → publish both by atomic swaps.

Each task is a thin wrapper over a function in `flows.steps`. Tasks take and return paths and
counts only, so no personal data reaches Prefect's database, logs or results.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from datetime import UTC, date, datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import TerminationSignal
from prefect.tasks import exponential_backoff

from flows import progress, run_ledger, steps
from flows.home import Home
from flows.prefect_logging import product_logs_to_prefect
from flows.settings import HomeSettings, load_home_settings
from sources.common.checkpoints import reached
from warehouse import swap
from warehouse.build import remove_build

INBOX_COUNTS = ("files_received", "files_rejected", "files_refused", "files_waiting",
                "files_ignored")
FILE_RETRIES = {"retries": 2, "retry_delay_seconds": exponential_backoff(backoff_factor=2)}


@task(name="receive", cache_policy=NO_CACHE, **FILE_RETRIES)
def receive_task(home: Home, settings: HomeSettings) -> steps.Receiving:
    return steps.receive(home, settings)


@task(name="plan", cache_policy=NO_CACHE)
def plan_task(home: Home, settings: HomeSettings) -> list:
    return steps.plan_extracts(home, settings)


@task(name="new-build", cache_policy=NO_CACHE)
def new_build_task(home: Home, run_id: str, as_of: date, settings: HomeSettings) -> Path:
    """Creates home.build(run_id); the flow removes it if anything fails."""
    return steps.new_build(home, run_id, as_of=as_of, settings=settings)


@task(name="ingest", cache_policy=NO_CACHE, **FILE_RETRIES,
      task_run_name="ingest-{receipt.source}-{seq}")
def ingest_task(build: Path, home: Home, receipt, seq: int, run_date: date,
                settings: HomeSettings) -> steps.ExtractOutcome:
    return steps.ingest_extract(build, home, receipt, seq, run_date, settings)


@task(name="person-records", cache_policy=NO_CACHE)
def finish_staging_task(build: Path) -> int:
    return steps.finish_staging(build)


@task(name="link", cache_policy=NO_CACHE)
def link_task(build: Path, home: Home, settings: HomeSettings) -> dict:
    return steps.link(build, home, settings)


@task(name="derive-and-publish-tables", cache_policy=NO_CACHE)
def derive_task(build: Path, as_of: date, settings: HomeSettings) -> dict:
    return steps.derive_and_publish(build, as_of, settings)


@task(name="pseudonymise", cache_policy=NO_CACHE)
def pseudonymise_task(build: Path, home: Home, settings: HomeSettings) -> int:
    """Takes no key: steps.pseudonymise resolves it itself, so it is never a task input."""
    return steps.pseudonymise(build, home, settings)


@task(name="analysts", cache_policy=NO_CACHE)
def analysts_task(build: Path, home: Home, settings: HomeSettings, run_id: str) -> list[Path]:
    return steps.prepare_analysts(build, home, settings, run_id)


@task(name="publish", cache_policy=NO_CACHE)
def publish_task(home: Home, build: Path, settings: HomeSettings, run_id: str) -> Path:
    return steps.publish(home, build, settings, run_id=run_id)


WEBHOOK_ENV = "JOINEDUP_WEBHOOK_URL"


def webhook_url(settings: HomeSettings) -> str | None:
    """`notify: {webhook_url: ...}` in joinedup.yaml, else $JOINEDUP_WEBHOOK_URL."""
    return settings.notify.webhook_url or os.environ.get(WEBHOOK_ENV)


def notify(url: str | None, payload: dict) -> bool:
    """POST a JSON run notice (run id, status, step, error class: no personal data, and never the
    error message, which could quote a value). A broken webhook is logged, not raised, so it
    cannot hide the run's own failure."""
    if not url:
        return False
    request = urllib.request.Request(url, data=json.dumps(payload).encode("utf-8"),
                                     headers={"Content-Type": "application/json"},
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return 200 <= response.status < 300
    except (OSError, ValueError) as exc:
        logging.getLogger("joinedup").warning("failure notification to the webhook failed: %s",
                                              type(exc).__name__)
        return False


def summary_markdown(summary: dict) -> str:
    """The run's counts as markdown for a Prefect artifact (file names, counts, no values)."""
    lines = [f"# Joined Up nightly run {summary['run_id']}", "",
             f"Period ending {summary['as_of']}; {summary['files_received']} files received, "
             f"{summary['files_rejected']} rejected; in the inbox, "
             f"{summary.get('files_refused', 0)} refused, {summary.get('files_waiting', 0)} "
             f"left for the next run and {summary.get('files_ignored', 0)} ignored.", "",
             "| source | file | status | rows in | loaded | quarantined |",
             "|---|---|---|---:|---:|---:|"]
    for e in summary["extracts"]:
        lines.append(f"| {e['source']} | {e['file_name']} | {e['status']} | {e['rows_in']} | "
                     f"{e['rows_loaded']} | {e['rows_quarantined']} |")
    linked = summary["linkage"]
    lines += ["", f"- person records: {summary['person_records']}",
              f"- children linked: {linked.get('clusters', 0)}",
              f"- pairs for review: {linked.get('review_pairs', 0)}",
              f"- review decisions applied: "
              f"{(linked.get('review_decisions') or {}).get('applied', 0)}",
              f"- tables published: "
              f"{len((summary['tables'].get('publication') or {}).get('rows', {}))}",
              f"- CSV exports: {len(summary['exports'])}"]
    return "\n".join(lines)


def _artifact(summary: dict) -> None:
    try:
        from prefect.artifacts import create_markdown_artifact

        create_markdown_artifact(markdown=summary_markdown(summary), key="nightly-run-summary",
                                 description=f"Joined Up run {summary['run_id']}: counts only")
    except Exception as exc:  # noqa: BLE001 - a reporting hiccup must not fail a published run
        get_run_logger().warning("could not write the run summary artifact: %s",
                                 type(exc).__name__)


def _model_summary(linked: dict) -> dict:
    return {k: v for k, v in linked.items() if k != "seconds"}


def run_nightly(home: Home, as_of: date | None = None, run_date: date | None = None,
                kind: str = "nightly") -> dict:
    """The nightly run's body, shared by the flow and by `joinedup run` / `rebuild`."""
    logger = get_run_logger()
    run_date = run_date or datetime.now(UTC).date()
    as_of = as_of or steps.default_as_of(run_date)
    settings = load_home_settings(home)
    run_id = steps.new_run_id()
    step = ["lock"]

    def at(name: str) -> None:
        step[0] = name
        reached(name)
        progress.stage(name)

    home.ensure()
    build = home.build(run_id)
    started = False
    try:
        with swap.run_lock(home.run_lock):
            steps.clean_orphans(home, settings)
            run_ledger.append(home, {"event": "started", "run_id": run_id, "kind": kind,
                                     "code_version": steps.code_version(),
                                     "started_at": datetime.now(UTC).isoformat(),
                                     "as_of": as_of.isoformat(), "run_date": run_date.isoformat(),
                                     "pid": os.getpid()})
            started = True
            summary = _run_steps(home, run_id, build, as_of, run_date, settings, at, logger)
            step[0] = "record"
            run_ledger.append(home, {
                "event": "finished", "run_id": run_id, "status": "published",
                "ended_at": datetime.now(UTC).isoformat(),
                "extracts": [{k: o[k] for k in ("source", "file_name", "extract_id", "status",
                                                "rows_in", "rows_loaded", "rows_quarantined")}
                             for o in summary["extracts"]],
                **{k: summary[k] for k in INBOX_COUNTS},
                "person_records": summary["person_records"],
                "model": _model_summary(summary["linkage"]),
                "settings": settings.record(),
            })
    except BaseException as exc:
        # a failed run never publishes; its partial build is removed, the published file stays
        # Ctrl-C, or SIGTERM (which Prefect turns into its TerminationSignal during a flow)
        status = ("interrupted" if isinstance(exc, KeyboardInterrupt | TerminationSignal)
                  else "failed")
        if started:
            remove_build(build)
            run_ledger.append(home, {"event": "finished", "run_id": run_id, "status": status,
                                     "ended_at": datetime.now(UTC).isoformat(), "step": step[0],
                                     "error_class": type(exc).__name__})
        logger.error("run %s %s at step %s (%s); the published warehouse is unchanged",
                     run_id, status, step[0], type(exc).__name__)
        notify(webhook_url(settings), {"flow": kind, "run_id": run_id, "status": status,
                                       "step": step[0], "error_class": type(exc).__name__})
        raise
    _artifact(summary)
    return summary


def _run_steps(home: Home, run_id: str, build: Path, as_of: date, run_date: date,
               settings: HomeSettings, at, logger) -> dict:
    at("receive")
    received = receive_task(home, settings)
    receipts = received.receipts
    plan = plan_task(home, settings)
    logger.info("run %s: %d files received, %d extracts in this build, period ending %s",
                run_id, len(receipts), len(plan), as_of)
    at("new-build")
    new_build_task(home, run_id, as_of, settings)
    at("ingest")
    outcomes = [ingest_task(build, home, r, seq, run_date, settings)
                for seq, r in enumerate(plan, start=1)]
    planned = plan
    while fallback := steps.fallback_extracts(home, planned, outcomes, settings):
        logger.warning("run %s: newest delivery of %s could not be loaded; using the one "
                       "before it", run_id, ", ".join(sorted({r.source for r in fallback})))
        outcomes += [ingest_task(build, home, r, seq, run_date, settings)
                     for seq, r in enumerate(fallback, start=len(outcomes) + 1)]
        planned = fallback
    at("person-records")
    records = finish_staging_task(build)
    at("link")
    linked = link_task(build, home, settings)
    at("derive")
    tables = derive_task(build, as_of, settings)
    at("pseudonymise")
    pseudonymise_task(build, home, settings)
    at("analysts")
    exported = analysts_task(build, home, settings, run_id)
    at("publish")
    live = publish_task(home, build, settings, run_id)
    steps.record_outcomes(home, run_id, outcomes)
    summary = {
        "run_id": run_id,
        "as_of": as_of.isoformat(),
        "files_received": len(receipts),
        "files_rejected": sum(r.status == "rejected" for r in receipts)
        + sum(o.status == "rejected" for o in outcomes),
        "files_refused": len(received.refused),
        "files_waiting": len(received.waiting),
        "files_ignored": len(received.ignored),
        "extracts": [o.__dict__ for o in outcomes],
        "person_records": records,
        "linkage": linked,
        "tables": tables,
        "exports": [str(p) for p in exported],
        "warehouse": str(live),
        "analysts": str(home.analysts_file),
    }
    logger.info("run %s published: %d person records, %s children, %d CSV tables", run_id,
                records, linked.get("clusters"), len(exported))
    return summary


def _run_name() -> str:
    """Prefect's default run names are random words ('rose-centipede') that can read like a
    child's name in a log; a timestamp cannot."""
    return f"nightly-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"


@flow(name="nightly", flow_run_name=_run_name)
def nightly(home: str, as_of: date | None = None, run_date: date | None = None,
            kind: str = "nightly") -> dict:
    """Nightly build of one partnership's warehouse from its inbox and archive. `run_date`
    (default today) is the date validation checks against; `rebuild` passes the recorded one."""
    with product_logs_to_prefect():
        return run_nightly(Home(Path(home)), as_of, run_date, kind)
