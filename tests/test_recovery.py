"""Rollback and rebuild without the command line: which build is chosen, what is refused, what
the run ledger records. Builds here are empty warehouses, each naming its run."""

from __future__ import annotations

from datetime import date

import pytest

from flows import run_ledger
from flows.home import Home
from flows.recovery import RecoveryError, rebuild, rollback
from flows.steps import prepare_analysts, publish
from warehouse.build import RunRecord, create_build
from warehouse.db import connect

RUNS = ["20260101T000000000000Z", "20260102T000000000000Z", "20260103T000000000000Z"]


def _published_home(tmp_path) -> Home:
    home = Home(tmp_path / "home").ensure()
    for run_id in RUNS:
        run_ledger.append(home, {"event": "started", "run_id": run_id, "as_of": "2026-10-31",
                                 "run_date": "2026-11-02"})
        create_build(home.build(run_id), RunRecord(
            run_id=run_id, code_version="test", as_of=date(2026, 10, 31),
            period_start=date(2025, 11, 1), period_end=date(2026, 10, 31), settings_json="{}"))
        prepare_analysts(home.build(run_id), home, run_id=run_id)
        publish(home, home.build(run_id), run_id=run_id)
        run_ledger.append(home, {"event": "finished", "run_id": run_id, "status": "published",
                                 "extracts": [{"rows_in": 5, "rows_loaded": 4,
                                               "rows_quarantined": 1}] * 2})
    return home


def published_runs(home: Home) -> tuple[str, str]:
    """The run of the published build and of the analysts' file."""
    found = []
    for path in (home.live, home.analysts_file):
        con = connect(path, read_only=True)
        found.append(con.execute("SELECT run_id FROM meta.run").fetchall()[0][0])
        con.close()
    return tuple(found)


def test_rollback_steps_back_and_to_a_named_build(tmp_path):
    home = _published_home(tmp_path)
    done = rollback(home)
    assert (done.published, done.previous) == (RUNS[1], RUNS[2])
    assert published_runs(home) == (RUNS[1], RUNS[1])   # the analysts' publication follows
    assert rollback(home, RUNS[2]).published == RUNS[2]
    assert published_runs(home) == (RUNS[2], RUNS[2])
    events = [e for e in run_ledger.entries(home) if e["event"] == "rollback"]
    assert [(e["run_id"], e["from_run_id"]) for e in events] == [(RUNS[1], RUNS[2]),
                                                                  (RUNS[2], RUNS[1])]
    with pytest.raises(RecoveryError, match="no kept build for run nope; kept: 2026"):
        rollback(home, "nope")
    rollback(home, RUNS[0])
    with pytest.raises(RecoveryError, match="no kept build older than the published one"):
        rollback(home)


def test_rollback_without_builds_is_refused(tmp_path):
    with pytest.raises(RecoveryError, match="no kept builds"):
        rollback(Home(tmp_path / "home").ensure())


def test_rebuild_refuses_waiting_files_and_an_empty_archive(tmp_path):
    home = Home(tmp_path / "home").ensure()
    with pytest.raises(RecoveryError, match="nothing archived"):
        rebuild(home)
    (home.inbox / "police").mkdir()
    (home.inbox / "police" / "p.csv").write_text("a\n1\n")
    with pytest.raises(RecoveryError, match="1 files wait in"):
        rebuild(home)


def test_ledger_totals_and_the_dates_a_rebuild_reuses(tmp_path):
    home = Home(tmp_path / "home").ensure()
    assert run_ledger.last_published_dates(home) == (None, None)
    home = _published_home(tmp_path)
    assert run_ledger.last_published_dates(home) == (date(2026, 10, 31), date(2026, 11, 2))
    assert run_ledger.extract_totals(run_ledger.runs(home)[-1]) == {
        "extracts": 2, "rows_in": 10, "rows_loaded": 8, "rows_quarantined": 2}
    assert run_ledger.extract_totals({"run_id": "x"})["extracts"] == 0
