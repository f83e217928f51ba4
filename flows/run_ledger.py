"""The run ledger: one JSON line per event of every nightly run (`Home.run_ledger`).

It sits beside the receipt ledger and outlives every warehouse build, so `joinedup runs` can list
runs that died without a build, and `joinedup rebuild` knows the reporting date and run date of
the last publication. Entries hold run ids, file names, sha256 checksums, counts, model summaries
and settings: never a personal value.

Events: `started` (written before the run creates its build file), `finished` (status
`published`, `failed`, or `interrupted` by Ctrl-C or SIGTERM, with the failing step and the
error's class), `rollback`, and
`recovered` (a build found published after its run was killed between swap and ledger write).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from flows.home import Home
from sources.common.jsonl import append_jsonl, read_jsonl


def append(home: Home, entry: dict) -> None:
    """One fsynced line; a line torn by a kill is terminated before the next one (see
    `append_jsonl`), so the next run's entries are never lost with it."""
    append_jsonl(home.run_ledger, entry, "runlog-append")


def record_rollback(home: Home, run_id: str, from_run_id: str | None) -> None:
    append(home, {"event": "rollback", "run_id": run_id, "from_run_id": from_run_id,
                  "at": datetime.now(UTC).isoformat()})


def entries(home: Home) -> list[dict]:
    """Every whole entry; a line cut short by a crash is skipped, not fatal."""
    return read_jsonl(home.run_ledger)


def runs(home: Home) -> list[dict]:
    """One dict per run id, oldest first: the `started` entry merged with its `finished` one.
    A run with no `finished` entry has status `incomplete` (killed, or still running)."""
    merged: dict[str, dict] = {}
    for e in entries(home):
        run_id = e.get("run_id")
        if not run_id or e.get("event") not in ("started", "finished", "recovered"):
            continue
        run = merged.setdefault(run_id, {"run_id": run_id, "status": "incomplete"})
        if e["event"] == "recovered":
            run["status"] = "published"
            continue
        run.update({k: v for k, v in e.items() if k != "event"})
    return sorted(merged.values(), key=lambda r: r["run_id"])


def extract_totals(run: dict) -> dict[str, int]:
    """A run's extracts summed: how many, and their rows in, loaded and quarantined."""
    extracts = run.get("extracts") or []
    return {"extracts": len(extracts),
            "rows_in": sum(e["rows_in"] for e in extracts),
            "rows_loaded": sum(e["rows_loaded"] for e in extracts),
            "rows_quarantined": sum(e["rows_quarantined"] for e in extracts)}


def published_run_ids(home: Home) -> set[str]:
    return {r["run_id"] for r in runs(home) if r["status"] == "published"}


def started_run_ids(home: Home) -> set[str]:
    return {r["run_id"] for r in runs(home)}


def last_published(home: Home) -> dict | None:
    done = [r for r in runs(home) if r["status"] == "published"]
    return done[-1] if done else None


def last_published_dates(home: Home) -> tuple[date | None, date | None]:
    """(reporting date, run date) of the last published run, so that a rebuild reproduces it;
    (None, None) before any publication."""
    last = last_published(home) or {}
    as_of, run_date = last.get("as_of"), last.get("run_date")
    return (date.fromisoformat(as_of) if as_of else None,
            date.fromisoformat(run_date) if run_date else None)
