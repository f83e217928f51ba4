"""Crash safety early in a run: receipt, the ledgers, the archive and loading; then a rebuild.

One small synthetic home (invented children only). The story, in order:

1. a baseline nightly run publishes (in this process, against the session's Prefect server);
2. `joinedup run` is started as a real subprocess four times and SIGKILLed *inside* a step, each
   deeper in the run than the one before: halfway through appending the run ledger's `started`
   line, halfway through copying a newly delivered file into the archive, halfway through
   appending its receipt to the ledger, and with a DuckDB transaction open on the build while
   loading the first extract. After each kill: the published file is byte-for-byte the
   baseline, no archive file under its final name is incomplete, both ledgers still parse, and
   each next run gets past the point where the one before died;
3. the next run succeeds, removes the killed runs' orphan builds and partial copies, and
   publishes the same tables and person ids as the baseline (same archive);
4. the warehouse folder is deleted and `joinedup rebuild` recreates the same tables and ids.

Kills later in the run (linkage, publishing) are in test_crash_in_linkage_and_publishing.py.
"""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from flows import run_ledger
from flows.cli import app
from flows.home import Home
from tests.builders.crash_runs import crash_story, person_ids, publish_tables, run_id_of

STRAY = "invoices_paid.csv"        # delivered before the archive-copy kill; rejected at receipt

# (name, points to pause at in order: SIGKILL at the last)
KILLS = [
    ("runlog-append", ["runlog-append"]),
    ("archive-copy", ["archive-copy"]),
    ("ledger-append", ["ledger-append"]),
    ("ingest-write", ["ingest-write"]),
]


@pytest.fixture(scope="module")
def story(prefect_harness, tmp_path_factory):
    root = tmp_path_factory.mktemp("crash-early") / "home"
    home = Home(root)

    def before_kill(name: str) -> None:
        if name == "archive-copy":      # a new delivery, so there is something to copy
            (home.inbox / "police").mkdir(parents=True, exist_ok=True)
            (home.inbox / "police" / STRAY).write_text(
                "Invoice No,Amount,Paid On\n" + "".join(
                    f"INV-{n:04d},{n * 3}.50,03/03/2025\n" for n in range(200)))

    return crash_story(root, tmp_path_factory.mktemp("crash-early-snaps"), KILLS, before_kill)


def test_killed_runs_never_touch_the_publication(story):
    baseline_run = run_id_of(story["baseline"])
    for name, seen in story["after_kill"].items():
        assert not seen["live_wal"] and seen["finished"], name
        assert seen["invalid"] == [], (name, seen["invalid"])
        assert seen["sha"] == story["baseline_sha"], name
        assert seen["run_id"] == baseline_run, name


def test_each_kill_landed_inside_its_step(story):
    seen = story["after_kill"]
    # half a line in the run ledger and the receipt ledger, each still read without it
    assert seen["runlog-append"]["ends_torn"]["runs"] and seen["runlog-append"]["torn"][
        "runs"] == 1
    assert seen["runlog-append"]["runs"] == 1            # the torn `started` is not a run
    assert seen["ledger-append"]["ends_torn"]["ledger"]
    assert seen["ledger-append"]["torn"]["ledger"] == 1
    # ... and later appends start on a line of their own, so they are not lost with it
    assert seen["ingest-write"]["torn"] == {"ledger": 1, "runs": 1}
    assert not any(seen["ingest-write"]["ends_torn"].values())
    assert seen["ingest-write"]["runs"] == 4               # baseline and the three killed since
    # half-copied into the archive: a .part file only, the inbox still holds the delivery
    assert len(seen["archive-copy"]["partial"]) == 1 and STRAY in seen["archive-copy"]["inbox"]
    assert seen["archive-copy"]["receipts"] == seen["runlog-append"]["receipts"]
    # the next run removed the partial copy; killed before its receipt was written, the copy
    # under its final name is complete and the delivery waits in the inbox to be received
    assert seen["ledger-append"]["partial"] == [] and STRAY in seen["ledger-append"]["inbox"]
    assert seen["ingest-write"]["receipts"] == seen["runlog-append"]["receipts"] + 1
    assert STRAY not in seen["ingest-write"]["inbox"]
    # a build killed mid-write stays beside the published file as an orphan until the next run
    assert len(seen["ingest-write"]["builds"]) == 2, seen["ingest-write"]["builds"]


def test_next_run_succeeds_and_cleans_orphans(story):
    home: Home = story["home"]
    runs = run_ledger.runs(home)
    assert [r["status"] for r in runs] == ["published", *["incomplete"] * 3, "published"]
    after = story["next_state"]
    assert set(after["builds"]) == {f"{runs[0]['run_id']}.duckdb",
                                    f"{runs[-1]['run_id']}.duckdb"}    # the orphan is gone
    assert after["staging"] == [] and after["partial"] == [] and after["invalid"] == []
    assert run_id_of(story["next"]) == runs[-1]["run_id"]
    assert publish_tables(story["next"]) == publish_tables(story["baseline"])
    assert person_ids(story["next"]) == person_ids(story["baseline"])


def test_rebuild_from_archive_alone_reproduces_the_publication(story):
    home: Home = story["home"]
    shutil.rmtree(home.warehouse_dir)
    result = CliRunner().invoke(app, ["rebuild", "--home", str(home.root)])
    assert result.exit_code == 0, (result.output, result.exception)
    assert publish_tables(home.live) == publish_tables(story["baseline"])
    assert person_ids(home.live) == person_ids(story["baseline"])
    assert run_ledger.runs(home)[-1]["kind"] == "rebuild"
    assert oct(home.root.stat().st_mode & 0o777) == "0o700"
    for build in home.builds.glob("*.duckdb"):
        assert oct(build.stat().st_mode & 0o777) == "0o600"
