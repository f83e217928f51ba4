"""Crash safety, build-and-swap, rollback, same input → same output, rebuild from the archive.

One small synthetic home (invented children only). The story, in order:

1. a baseline nightly run publishes (in this process, against the session's Prefect server);
2. `joinedup run` is started as a real subprocess three times and SIGKILLed while paused (test
   hook JOINEDUP_PAUSE_BEFORE) before `ingest`, before `link` and inside publish between the
   staging link and the rename (`swap`): the published file never changes, is never half written;
3. the next run succeeds while another process holds the published file open read-only for the
   whole run, querying it all the time; it removes the killed runs' orphans and publishes the
   same tables and person ids as the baseline (same archive);
4. `joinedup runs` lists all of it; `joinedup rollback` swaps kept builds back and forth;
5. the warehouse folder is deleted and `joinedup rebuild` recreates the same tables and ids.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows import runlog
from flows.cli import app
from flows.home import Home
from flows.nightly import nightly
from sources.synth import generate
from warehouse.db import connect

AS_OF = date(2026, 10, 31)
CHILDREN = 800
KILL_AT = ("ingest", "link", "swap")
REPO = Path(__file__).resolve().parents[1]

READER = """
import json, sys, threading, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
first = con.execute("SELECT run_id FROM meta.run").fetchall()[0][0]
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
print("reading", flush=True)
queries, errors, seen = 0, [], set()
while not stop.is_set():
    try:
        seen.add(con.execute("SELECT run_id FROM meta.run").fetchall()[0][0])
        con.execute("SELECT count(*) FROM publish.table9_indicators").fetchall()
        queries += 1
    except Exception as exc:
        errors.append(repr(exc))
    time.sleep(0.05)
con.close()
print(json.dumps({"first": first, "seen": sorted(seen), "queries": queries, "errors": errors}))
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def query(path: Path, sql: str) -> list[tuple]:
    con = connect(path, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def publish_tables(path: Path) -> dict[str, list[tuple]]:
    names = [t for (t,) in query(path, "SELECT table_name FROM duckdb_tables() "
                                       "WHERE schema_name = 'publish' ORDER BY 1")]
    return {t: query(path, f'SELECT * FROM publish."{t}" ORDER BY ALL') for t in names}


def person_ids(path: Path) -> list[tuple]:
    return query(path, "SELECT record_key, person_id FROM linkage.person ORDER BY record_key")


def run_id_of(path: Path) -> str:
    return query(path, "SELECT run_id FROM meta.run")[0][0]


def api_url() -> str:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url and url.startswith("http://127.0.0.1"), url
    return url


def kill_at(home: Home, step: str, log: Path, timeout: float = 240) -> None:
    """Start `joinedup run` in a subprocess, wait until it pauses before `step`, SIGKILL it."""
    env = {**os.environ, "PREFECT_API_URL": api_url(), "JOINEDUP_PAUSE_BEFORE": step,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "GX_ANALYTICS_ENABLED": "false"}
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "run", "--home",
                                 str(home.root), "--as-of", AS_OF.isoformat()],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while f"JOINEDUP-PAUSED {step}" not in log.read_text(errors="replace"):
            assert proc.poll() is None, f"run ended before {step}:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"never reached {step}"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


@pytest.fixture(scope="module")
def story(prefect_harness, tmp_path_factory):
    root = tmp_path_factory.mktemp("crash") / "home"
    generate(root, children=CHILDREN, seed=11, as_of=AS_OF)
    home = Home(root)
    snaps = tmp_path_factory.mktemp("crash-snaps")
    out: dict = {"home": home}

    state = nightly(home=str(root), as_of=AS_OF, return_state=True)
    assert state.is_completed(), state.message
    out["baseline_state"] = state
    out["baseline"] = shutil.copyfile(home.live, snaps / "baseline.duckdb")
    out["baseline_sha"] = sha256(home.live)

    out["after_kill"] = {}
    for step in KILL_AT:
        kill_at(home, step, snaps / f"kill-{step}.log")
        out["after_kill"][step] = {
            "sha": sha256(home.live), "run_id": run_id_of(home.live),
            "live_wal": home.live.with_name(home.live.name + ".wal").exists(),
            "builds": sorted(p.name for p in home.builds.iterdir()),
            "staging": sorted(p.name for p in home.warehouse_dir.glob(".*.tmp")),
        }

    # the next run, with an analyst reading the published file for the whole run
    reader = subprocess.Popen([sys.executable, "-c", READER, str(home.live)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "reading"
        state = nightly(home=str(root), as_of=AS_OF, return_state=True)
    finally:
        reader.stdin.close()
        reader_out = reader.stdout.read()
        reader.wait(timeout=60)
    assert state.is_completed(), state.message
    out["reader"] = json.loads(reader_out.strip().splitlines()[-1])
    out["next"] = shutil.copyfile(home.live, snaps / "next.duckdb")
    out["next_builds"] = sorted(p.name for p in home.builds.iterdir())
    out["next_staging"] = sorted(p.name for p in home.warehouse_dir.glob(".*.tmp"))
    return out


def test_killed_runs_never_touch_the_publication(story):
    baseline = story["baseline"]
    for step, seen in story["after_kill"].items():
        assert seen["sha"] == story["baseline_sha"], step
        assert seen["run_id"] == run_id_of(baseline), step
        assert not seen["live_wal"], step
    # each killed run left its own build behind (an orphan; the next killed run removed the
    # one before it), the swap kill a staging link too
    for step, seen in story["after_kill"].items():
        assert len(seen["builds"]) == 2, (step, seen["builds"])
        assert len(seen["staging"]) == (step == "swap"), (step, seen["staging"])


def test_next_run_succeeds_and_cleans_orphans(story):
    home: Home = story["home"]
    runs = runlog.runs(home)
    assert [r["status"] for r in runs] == ["published", "incomplete", "incomplete",
                                           "incomplete", "published"]
    kept = {f"{runs[0]['run_id']}.duckdb", f"{runs[-1]['run_id']}.duckdb"}
    assert set(story["next_builds"]) == kept          # orphans gone, kept builds stay
    assert story["next_staging"] == []
    assert run_id_of(story["next"]) == runs[-1]["run_id"]


def test_reader_holding_the_file_all_run_is_never_blocked(story):
    reader = story["reader"]
    assert reader["errors"] == []
    assert reader["queries"] > 20
    # it kept reading the publication it opened (the old inode), never a half-built one
    assert reader["seen"] == [run_id_of(story["baseline"])]


def test_same_archive_same_tables_and_ids(story):
    assert publish_tables(story["next"]) == publish_tables(story["baseline"])
    assert person_ids(story["next"]) == person_ids(story["baseline"])
    assert len(person_ids(story["baseline"])) > 100


def test_run_ledger_lineage_and_runs_command(story):
    home: Home = story["home"]
    last = runlog.runs(home)[-1]
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
    first, last = runlog.runs(home)[0]["run_id"], runlog.runs(home)[-1]["run_id"]
    runner = CliRunner()
    result = runner.invoke(app, ["rollback", "--home", str(home.root)])
    assert result.exit_code == 0, result.output
    assert run_id_of(home.live) == first and sha256(home.live) == story["baseline_sha"]
    result = runner.invoke(app, ["rollback", "--home", str(home.root)])
    assert result.exit_code != 0                   # nothing older than the first build
    result = runner.invoke(app, ["rollback", "--home", str(home.root), "--to", last])
    assert result.exit_code == 0, result.output
    assert run_id_of(home.live) == last
    assert oct(home.live.stat().st_mode & 0o777) == "0o600"


def test_rebuild_from_archive_alone_reproduces_the_publication(story):
    home: Home = story["home"]
    shutil.rmtree(home.warehouse_dir)
    result = CliRunner().invoke(app, ["rebuild", "--home", str(home.root)])
    assert result.exit_code == 0, (result.output, result.exception)
    assert publish_tables(home.live) == publish_tables(story["baseline"])
    assert person_ids(home.live) == person_ids(story["baseline"])
    assert runlog.runs(home)[-1]["kind"] == "rebuild"
    assert oct(home.root.stat().st_mode & 0o777) == "0o700"
    for build in home.builds.glob("*.duckdb"):
        assert oct(build.stat().st_mode & 0o777) == "0o600"


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
