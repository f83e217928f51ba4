"""Operations commands: `joinedup runs`, `rollback`, `rebuild` and `serve`."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from flows.home import resolve_home

console = Console(width=200)

HomeOption = Annotated[Path | None, typer.Option(
    "--home", help="The partnership's working directory (default: $JOINEDUP_HOME or "
                   "./joinedup-home).")]


def runs(home: HomeOption = None,
         details: Annotated[bool, typer.Option(
             "--details", help="Also list every extract each run used.")] = False) -> None:
    """List runs from the run ledger (lake/runs.jsonl): status, extracts, counts."""
    from flows import runlog
    from warehouse import swap

    target = resolve_home(home)
    live = swap.live_build(target.builds, target.live)
    table = Table(title=f"Joined Up runs in {target.root}")
    for col in ("run id", "kind", "code", "started", "ended", "status", "step/error",
                "extracts", "rows in", "loaded", "quarantined", "children", "build"):
        table.add_column(col)
    for r in runlog.runs(target):
        extracts = r.get("extracts") or []
        model = r.get("model") or {}
        kept = (target.builds / f"{r['run_id']}.duckdb").exists()
        table.add_row(
            r["run_id"], r.get("kind", ""), r.get("code_version", ""),
            str(r.get("started_at", ""))[:19], str(r.get("ended_at", ""))[:19], r["status"],
            " ".join(x for x in (r.get("step", ""), r.get("error_class", "")) if x),
            str(len(extracts)), str(sum(e["rows_in"] for e in extracts)),
            str(sum(e["rows_loaded"] for e in extracts)),
            str(sum(e["rows_quarantined"] for e in extracts)), str(model.get("clusters", "")),
            "published" if live and live.stem == r["run_id"] else ("kept" if kept else ""))
    console.print(table)
    if details:
        for r in runlog.runs(target):
            for e in r.get("extracts") or []:
                console.print(f"{r['run_id']}  {e['source']:<12} {e['file_name']}  "
                              f"sha256={e['extract_id']}  in={e['rows_in']} "
                              f"loaded={e['rows_loaded']} quarantined={e['rows_quarantined']}")


def rollback(home: HomeOption = None,
             to: Annotated[str | None, typer.Option(
                 "--to", help="Run id of the kept build to publish (default: the build "
                              "before the published one).")] = None) -> None:
    """Publish a kept build again, atomically (readers are never blocked)."""
    from datetime import UTC, datetime

    from flows import runlog
    from warehouse import swap

    target = resolve_home(home)
    kept = sorted(target.builds.glob("*.duckdb"))
    if not kept:
        raise typer.BadParameter(f"no kept builds in {target.builds}")
    current = swap.live_build(target.builds, target.live)
    if to is None:
        older = [b for b in kept if current is None or b.stem < current.stem]
        if not older:
            raise typer.BadParameter("no kept build older than the published one; "
                                     f"kept: {', '.join(b.stem for b in kept)}")
        chosen = older[-1]
    else:
        chosen = target.builds / f"{to}.duckdb"
        if not chosen.exists():
            raise typer.BadParameter(f"no kept build for run {to}; kept: "
                                     f"{', '.join(b.stem for b in kept)}")
    with swap.run_lock(target.warehouse_dir):
        swap.restore_build(chosen, target.live)
        runlog.append(target, {"event": "rollback", "run_id": chosen.stem,
                               "from_run_id": current.stem if current else None,
                               "at": datetime.now(UTC).isoformat()})
    console.print(f"published build {chosen.stem} (was {current.stem if current else 'none'})")


def rebuild(home: HomeOption = None,
            as_of: Annotated[str | None, typer.Option(
                "--as-of", help="Reporting date (default: the last published run's).")] = None,
            ) -> None:
    """Recreate the warehouse from the archive alone (lake + ledger); the inbox must be empty."""
    from flows.cli import _logging
    from flows.nightly import nightly
    from flows.runlog import last_published
    from flows.summary import print_summary
    from sources.archive import inbox_files

    _logging()
    target = resolve_home(home)
    waiting = inbox_files(target.inbox)
    if waiting:
        raise typer.BadParameter(f"{len(waiting)} files wait in {target.inbox}: rebuild uses "
                                 "the archive alone; receive them with `joinedup run` first")
    if not (target.lake / "ledger.jsonl").exists():
        raise typer.BadParameter(f"{target.lake / 'ledger.jsonl'} not found: nothing archived")
    last = last_published(target) or {}
    as_of_date = date.fromisoformat(as_of or last.get("as_of")) if (as_of or last.get("as_of")) \
        else None
    run_date = date.fromisoformat(last["run_date"]) if last.get("run_date") else None
    summary = nightly(home=str(target.ensure().root), as_of=as_of_date, run_date=run_date,
                      kind="rebuild")
    print_summary(summary, console)


def serve(home: HomeOption = None,
          cron: Annotated[str | None, typer.Option(
              help="Nightly cron (default from joinedup.yaml, else '0 2 * * *').")] = None,
          quarterly_cron: Annotated[str | None, typer.Option(
              help="Quarterly return cron (default '0 6 1 1,4,7,10 *').")] = None,
          timezone: Annotated[str | None, typer.Option(
              help="Timezone of the schedules (default Europe/London).")] = None) -> None:
    """Register and serve the `nightly` and `quarterly-return` deployments (needs a Prefect
    server: `prefect server start --host 127.0.0.1`, then PREFECT_API_URL)."""
    from flows.cli import _logging
    from flows.serve import schedule_settings, serve_home

    _logging()
    if not os.environ.get("PREFECT_API_URL"):
        console.print("PREFECT_API_URL is not set: start a server with `prefect server start "
                      "--host 127.0.0.1` and export PREFECT_API_URL=http://127.0.0.1:4200/api")
    target = resolve_home(home).ensure()
    schedules = schedule_settings(target, cron, quarterly_cron, timezone)
    console.print(f"serving nightly ({schedules['nightly']}) and quarterly-return "
                  f"({schedules['quarterly']}) in {schedules['timezone']} for {target.root}")
    serve_home(target, schedules)
