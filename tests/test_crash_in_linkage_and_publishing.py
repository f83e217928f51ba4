"""Crash safety late in a run: linkage, writing the tables, the swap; then rollback.

One small synthetic home (invented children only). The story, in order:

1. a baseline nightly run publishes (in this process, against the session's Prefect server);
2. `joinedup run` is started as a real subprocess three times and SIGKILLed *inside* a step, each
   deeper in the run than the one before: during linkage (its candidate pairs scored, its people
   not yet clustered), between writing the marts and the publication tables, and finally just
   after the rename that publishes (paused on the way between the staging link and the rename,
   where nothing is published yet). After each kill the published file is byte-for-byte the
   baseline; after the last, it is that run's complete build, with the baseline's tables;
3. the next run succeeds while another process holds the published file open read-only for the
   whole run, querying it all the time; it removes the killed runs' orphans, records the
   killed-after-publishing run as recovered, and publishes the same tables, person ids and
   analyst pseudonyms as the baseline (same archive);
4. `joinedup runs` lists all of it; `joinedup rollback` swaps kept builds back and forth.

Kills earlier in the run (receipt, ledgers, archive, loading) and the rebuild are in
test_crash_in_receipt_and_ingest.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows import run_ledger
from flows.cli import app
from flows.home import Home
from tests.builders.crash_runs import (
    crash_story,
    person_ids,
    publish_tables,
    query,
    run_id_of,
    sha256,
)
from tests.crash_hook import TRACE_MARKER

# (name, points to pause at in order: SIGKILL at the last)
KILLS = [
    ("link", ["link-clustering"]),          # candidate pairs scored, people not yet written
    ("derive-write", ["derive-write"]),
    ("analysts-write", ["analysts-write"]),  # the analysts' file written, its CSVs not yet
    # the build published, the analysts' publication not yet: the next run puts it right
    ("swapped", ["swap", "swapped", "analysts-swap"]),
]


@pytest.fixture(scope="module")
def story(prefect_harness, tmp_path_factory):
    return crash_story(tmp_path_factory.mktemp("crash-late") / "home",
                       tmp_path_factory.mktemp("crash-late-snaps"), KILLS, reader=True)


def test_killed_runs_never_touch_the_publication(story):
    baseline_run = run_id_of(story["baseline"])
    for name, seen in story["after_kill"].items():
        assert not seen["live_wal"] and seen["finished"], name
        assert seen["invalid"] == [], (name, seen["invalid"])
        # the analysts' file and its CSV exports are always one publication's, the baseline's
        assert seen["analysts_problems"] == [], (name, seen["analysts_problems"])
        assert seen["analysts_run"] == seen["analysts_file_run"] == baseline_run, name
        if name != "swapped":
            assert seen["sha"] == story["baseline_sha"], name
            assert seen["run_id"] == baseline_run, name
    # killed with its analysts' file half made: that folder is under a temporary name only
    assert any(f.startswith(".") for f in story["after_kill"]["analysts-write"]
               ["analysts_folders"])
    # killed just after the rename: the published file is that run's complete build, with the
    # same tables and ids as the baseline (same archive), and nothing else half done
    swapped = story["after_kill"]["swapped"]
    assert swapped["run_id"] != baseline_run
    assert f"{swapped['run_id']}.duckdb" in swapped["builds"] and swapped["staging"] == []
    assert publish_tables(story["killed_published"]) == publish_tables(story["baseline"])
    assert person_ids(story["killed_published"]) == person_ids(story["baseline"])
    # paused between the staging link and the rename: nothing published yet
    at_swap = story["paused"]["swap"]
    assert at_swap["sha"] == story["baseline_sha"] and len(at_swap["staging"]) == 1
    # the killed run's analysts' publication was complete, waiting to be shown
    assert swapped["run_id"] in swapped["analysts_folders"]


def test_each_kill_landed_inside_its_step(story):
    seen, printed = story["after_kill"], story["printed"]
    # builds killed mid-write stay beside the published file as orphans until the next run
    for name in ("link", "derive-write", "analysts-write"):
        assert len(seen[name]["builds"]) == 2, (name, seen[name]["builds"])
    # killed inside linkage, its pairs scored: the run never reached the next step
    assert f"{TRACE_MARKER} link-scoring" in printed["link"]
    assert f"{TRACE_MARKER} derive" not in printed["link"]
    assert f"{TRACE_MARKER} pseudonymise" not in printed["derive-write"]


def test_next_run_succeeds_and_cleans_orphans(story):
    home: Home = story["home"]
    runs = run_ledger.runs(home)
    assert [r["status"] for r in runs] == ["published", *["incomplete"] * 3, "published",
                                           "published"]
    recovered = story["after_kill"]["swapped"]["run_id"]
    assert runs[-2]["run_id"] == recovered
    after = story["next_state"]
    kept = {f"{runs[0]['run_id']}.duckdb", f"{recovered}.duckdb", f"{runs[-1]['run_id']}.duckdb"}
    assert set(after["builds"]) == kept          # orphans gone, kept builds stay
    assert after["staging"] == [] and after["partial"] == [] and after["invalid"] == []
    assert run_id_of(story["next"]) == runs[-1]["run_id"]
    # the analysts see the new publication, whole; half-made folders are gone, the kept
    # builds' publications stay (the recovered one was shown before the run went on)
    assert after["analysts_run"] == after["analysts_file_run"] == runs[-1]["run_id"]
    assert after["analysts_problems"] == []
    assert set(after["analysts_folders"]) == {b.removesuffix(".duckdb") for b in kept}
    assert f"the analysts' publication is now that of run {recovered}" in story["next_log"]


def test_reader_holding_the_file_all_run_is_never_blocked(story):
    reader = story["reader"]
    assert reader["errors"] == []
    assert reader["queries"] > 20
    # it kept reading the publication it opened (the baseline's analysts' file, held
    # read-write), never a half-built one, and the run published regardless
    assert reader["seen"] == [reader["first"]] == [run_id_of(story["baseline"])]


def test_same_archive_same_tables_and_ids(story):
    assert publish_tables(story["next"]) == publish_tables(story["baseline"])
    assert person_ids(story["next"]) == person_ids(story["baseline"])
    assert len(person_ids(story["baseline"])) > 100


def analyst_children(path: Path) -> list[tuple]:
    return query(path, "SELECT pseudonym, age, sex, n_datasets, n_indicators FROM analyst.child "
                       "ORDER BY ALL")


def test_analyst_pseudonyms_are_stable_and_keyed_outside_the_warehouse(story):
    home: Home = story["home"]
    baseline = analyst_children(story["baseline"])
    assert len(baseline) > 100 and all(row[0] for row in baseline)
    assert analyst_children(story["next"]) == baseline        # same key, same children
    # no Secret block or variable in the tests: the demo key, private to the home
    key_file = home.demo_key
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    key = key_file.read_text().strip()
    assert len(key) >= 32
    ids = {p for _, p in person_ids(story["next"])}
    assert not {row[0] for row in baseline} & ids
    for path in (story["baseline"], story["next"], home.run_ledger, home.ledger):
        assert key.encode() not in path.read_bytes(), path
    for printed in story["printed"].values():
        assert key not in printed


def test_run_ledger_lineage_and_runs_command(story):
    home: Home = story["home"]
    last = run_ledger.runs(home)[-1]
    assert last["extracts"] and all(len(e["extract_id"]) == 64 for e in last["extracts"])
    assert all(e["rows_in"] == e["rows_loaded"] + e["rows_quarantined"]
               for e in last["extracts"])
    assert last["model"]["clusters"] > 0 and "code_version" in last
    lineage = query(story["next"], "SELECT table_schema, table_name, run_id, extract_ids "
                                   "FROM meta.lineage")
    published = query(story["next"], "SELECT table_name FROM duckdb_tables() "
                                      "WHERE schema_name = 'publish'")
    assert {t for s, t, _, _ in lineage if s == "publish"} == {t for (t,) in published}
    assert {r for _, _, r, _ in lineage} == {last["run_id"]}
    assert all(sorted(x) == sorted(e["extract_id"] for e in last["extracts"])
               for *_, x in lineage)
    result = CliRunner().invoke(app, ["runs", "--home", str(home.root), "--details"])
    assert result.exit_code == 0, result.output
    assert last["run_id"] in result.output and "incomplete" in result.output
    assert last["extracts"][0]["extract_id"] in result.output


def test_rollback_swaps_kept_builds(story):
    home: Home = story["home"]
    first, last = run_ledger.runs(home)[0]["run_id"], run_ledger.runs(home)[-1]["run_id"]
    runner = CliRunner()
    recovered = story["after_kill"]["swapped"]["run_id"]
    result = runner.invoke(app, ["rollback", "--home", str(home.root)])
    assert result.exit_code == 0, result.output
    assert run_id_of(home.live) == recovered       # the build before the published one
    result = runner.invoke(app, ["rollback", "--home", str(home.root)])
    assert result.exit_code == 0, result.output
    assert run_id_of(home.live) == first and sha256(home.live) == story["baseline_sha"]
    result = runner.invoke(app, ["rollback", "--home", str(home.root)])
    assert result.exit_code != 0                   # nothing older than the first build
    assert run_id_of(home.analysts_file) == first       # the analysts' publication follows
    result = runner.invoke(app, ["rollback", "--home", str(home.root), "--to", last])
    assert result.exit_code == 0, result.output
    assert run_id_of(home.live) == last == run_id_of(home.analysts_file)
    assert oct(home.live.stat().st_mode & 0o777) == "0o600"


def test_run_summary_artifact_has_counts(story):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    flow_run_id = story["baseline_state"].state_details.flow_run_id
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    assert [a.key for a in artifacts] == ["nightly-run-summary"]
    text = artifacts[0].data
    assert run_id_of(story["baseline"]) in text and "| rows in |" in text
    assert "children linked:" in text
