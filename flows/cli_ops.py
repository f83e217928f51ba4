"""Operations commands: `joinedup runs`, `rollback`, `rebuild` and `serve`.

Option handling and printing only: the run ledger is read in `flows.run_ledger`, rollback and
rebuild are done by `flows.recovery`, the deployments are made by `flows.serve`.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.table import Table

from flows.cli_options import (
    HomeOption,
    RebuildAsOfOption,
    option_date,
    setup_logging,
    stderr_console,
)
from flows.cli_options import wide_console as console
from flows.home import resolve_home
from flows.progress import RUN_STAGES, START_FLOW, showing, stage

RUN_COLUMNS = ("run id", "kind", "code", "started", "ended", "status", "step/error", "extracts",
               "rows in", "loaded", "quarantined", "children", "build")


def runs(home: HomeOption = None,
         details: Annotated[bool, typer.Option(
             "--details", help="Also list every extract each run used.")] = False) -> None:
    """List the runs in the run ledger: status, extracts, counts, and the build kept of each."""
    from flows import run_ledger
    from warehouse import swap

    target = resolve_home(home)
    live = swap.live_build(target.builds, target.live)
    ledger = run_ledger.runs(target)
    table = Table(*RUN_COLUMNS, title=f"Joined Up runs in {target.root}")
    for r in ledger:
        totals = run_ledger.extract_totals(r)
        build = ("published" if live and live.stem == r["run_id"]
                 else "kept" if target.build(r["run_id"]).exists() else "")
        table.add_row(
            r["run_id"], r.get("kind", ""), r.get("code_version", ""),
            str(r.get("started_at", ""))[:19], str(r.get("ended_at", ""))[:19], r["status"],
            " ".join(x for x in (r.get("step", ""), r.get("error_class", "")) if x),
            *(str(totals[k]) for k in ("extracts", "rows_in", "rows_loaded", "rows_quarantined")),
            str((r.get("model") or {}).get("clusters", "")), build)
    console.print(table)
    if details:
        for r in ledger:
            for e in r.get("extracts") or []:
                console.print(f"{r['run_id']}  {e['source']:<12} {e['file_name']}  "
                              f"sha256={e['extract_id']}  in={e['rows_in']} "
                              f"loaded={e['rows_loaded']} quarantined={e['rows_quarantined']}")


def rollback(home: HomeOption = None,
             to: Annotated[str | None, typer.Option(
                 "--to", help="Run id of the kept build to publish (default: the build "
                              "before the published one).")] = None) -> None:
    """Publish a kept build again, atomically (readers are never blocked)."""
    from flows.cli_errors import plain_failures
    from flows.recovery import RecoveryError
    from flows.recovery import rollback as publish_kept

    try:
        with plain_failures():
            done = publish_kept(resolve_home(home), to)
    except RecoveryError as exc:
        raise typer.BadParameter(str(exc)) from None
    console.print(f"published build {done.published} (was {done.previous or 'none'})")


def rebuild(home: HomeOption = None, as_of: RebuildAsOfOption = None) -> None:
    """Recreate the warehouse from the archive alone (lake + ledger); the inbox must be empty."""
    from flows.recovery import RecoveryError
    from flows.recovery import rebuild as rebuild_home
    from flows.summary import print_summary

    setup_logging()
    from flows.cli_errors import plain_failures

    target = resolve_home(home)
    try:
        with showing("rebuild", stderr_console, total=len(RUN_STAGES)), \
                plain_failures(target.root):
            stage(START_FLOW)
            summary = rebuild_home(target, option_date(as_of))
    except RecoveryError as exc:
        raise typer.BadParameter(str(exc)) from None
    print_summary(summary, console)


def serve(home: HomeOption = None,
          cron: Annotated[str | None, typer.Option(
              help="Nightly cron (default from the home's settings, else '0 2 * * *').")] = None,
          quarterly_cron: Annotated[str | None, typer.Option(
              help="Quarterly return cron (default '0 6 1 1,4,7,10 *').")] = None,
          timezone: Annotated[str | None, typer.Option(
              help="Timezone of the schedules (default Europe/London).")] = None) -> None:
    """Register and serve the `nightly` and `quarterly-return` deployments (needs a Prefect
    server: `prefect server start --host 127.0.0.1`, then PREFECT_API_URL)."""
    from flows.cli_errors import sigterm_interrupts
    from flows.serve import schedule_settings, serve_home
    from flows.settings import load_home_settings

    setup_logging()
    if not os.environ.get("PREFECT_API_URL"):
        console.print("PREFECT_API_URL is not set: start a server with `prefect server start "
                      "--host 127.0.0.1` and export PREFECT_API_URL=http://127.0.0.1:4200/api")
    target = resolve_home(home).ensure()
    schedules = schedule_settings(load_home_settings(target).schedules,
                                  cron, quarterly_cron, timezone)
    console.print(f"serving nightly ({schedules['nightly']}) and quarterly-return "
                  f"({schedules['quarterly']}) in {schedules['timezone']} for {target.root}")
    # until Prefect's runner installs its own SIGTERM handler (after the deployments are
    # registered), a service manager's SIGTERM would kill the process outright, schedules live
    with sigterm_interrupts():
        try:
            serve_home(target, schedules)
        except KeyboardInterrupt:
            console.print("stopped")
