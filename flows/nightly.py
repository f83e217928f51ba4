"""The `nightly` Prefect flow: receive → ingest (validate, quarantine, load) → link → derive
indicators, marts and published tables → export → publish by atomic swap.

Each task is a thin wrapper over a function in `flows.steps`. Tasks take and return paths and
counts only, so no personal data reaches Prefect's database, logs or results.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from flows import steps
from flows.home import Home

FILE_RETRIES = {"retries": 2, "retry_delay_seconds": exponential_backoff(backoff_factor=2)}


@task(name="receive", cache_policy=NO_CACHE, **FILE_RETRIES)
def receive_task(home: Home) -> list:
    return steps.receive(home)


@task(name="plan", cache_policy=NO_CACHE)
def plan_task(home: Home) -> list:
    return steps.plan_extracts(home)


@task(name="new-build", cache_policy=NO_CACHE)
def new_build_task(home: Home, run_id: str, as_of: date, settings: dict) -> Path:
    """Creates steps.build_path(home, run_id); the flow removes it if anything fails."""
    return steps.new_build(home, run_id, as_of=as_of, settings=settings)


@task(name="ingest", cache_policy=NO_CACHE, **FILE_RETRIES,
      task_run_name="ingest-{receipt.source}-{seq}")
def ingest_task(build: Path, home: Home, receipt, seq: int, run_date: date,
                settings: dict) -> steps.ExtractOutcome:
    return steps.ingest_extract(build, home, receipt, seq, run_date, settings.get("validation"))


@task(name="person-records", cache_policy=NO_CACHE)
def finish_staging_task(build: Path) -> int:
    return steps.finish_staging(build)


@task(name="link", cache_policy=NO_CACHE)
def link_task(build: Path, home: Home, settings: dict) -> dict:
    return steps.link(build, home, settings.get("linkage"))


@task(name="derive-and-publish-tables", cache_policy=NO_CACHE)
def derive_task(build: Path, as_of: date, settings: dict) -> dict:
    return steps.derive_and_publish(build, as_of, settings)


@task(name="export", cache_policy=NO_CACHE)
def export_task(build: Path, home: Home, as_of: date) -> list[Path]:
    return steps.export(build, home, as_of)


@task(name="publish", cache_policy=NO_CACHE)
def publish_task(home: Home, build: Path) -> Path:
    return steps.publish(home, build)


def run_nightly(home: Home, as_of: date | None = None, run_date: date | None = None) -> dict:
    """The nightly run's body, shared by the flow and by `joinedup run`."""
    logger = get_run_logger()
    run_date = run_date or datetime.now(UTC).date()
    as_of = as_of or steps.default_as_of(run_date)
    settings = home.settings()
    run_id = steps.new_run_id()
    receipts = receive_task(home)
    plan = plan_task(home)
    logger.info("run %s: %d files received, %d extracts in this build, period ending %s",
                run_id, len(receipts), len(plan), as_of)
    build = steps.build_path(home, run_id)
    try:
        new_build_task(home, run_id, as_of, settings)
        outcomes = [ingest_task(build, home, r, seq, run_date, settings)
                    for seq, r in enumerate(plan, start=1)]
        planned = plan
        while fallback := steps.fallback_extracts(home, planned, outcomes):
            logger.warning("run %s: newest delivery of %s could not be loaded; using the one "
                           "before it", run_id, ", ".join(sorted({r.source for r in fallback})))
            outcomes += [ingest_task(build, home, r, seq, run_date, settings)
                         for seq, r in enumerate(fallback, start=len(outcomes) + 1)]
            planned = fallback
        records = finish_staging_task(build)
        linked = link_task(build, home, settings)
        tables = derive_task(build, as_of, settings)
        exported = export_task(build, home, as_of)
        live = publish_task(home, build)
    except BaseException:
        # a failed run never publishes; its partial build is removed, the published file stays
        build.unlink(missing_ok=True)
        build.with_name(build.name + ".wal").unlink(missing_ok=True)
        logger.error("run %s failed; the published warehouse is unchanged", run_id)
        raise
    steps.record_outcomes(home, run_id, outcomes)
    summary = {
        "run_id": run_id,
        "as_of": as_of.isoformat(),
        "files_received": len(receipts),
        "files_rejected": sum(r.status == "rejected" for r in receipts)
        + sum(o.status == "rejected" for o in outcomes),
        "extracts": [o.__dict__ for o in outcomes],
        "person_records": records,
        "linkage": linked,
        "tables": tables,
        "exports": [str(p) for p in exported],
        "warehouse": str(live),
    }
    logger.info("run %s published: %d person records, %s children, %d CSV tables", run_id,
                records, linked.get("clusters"), len(exported))
    return summary


@flow(name="nightly")
def nightly(home: str, as_of: date | None = None) -> dict:
    """Nightly build of one partnership's warehouse from its inbox and archive."""
    return run_nightly(Home(Path(home)), as_of)
