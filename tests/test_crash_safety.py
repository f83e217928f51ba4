"""Crash safety, build-and-swap, rollback, same input → same output, rebuild from the archive.

One small synthetic home (invented children only). The story, in order:

1. a baseline nightly run publishes (in this process, against the session's Prefect server);
2. `joinedup run` is started as a real subprocess seven times and SIGKILLed *inside* a step, at
   the checkpoints marked in the code (sources/common/checkpoints.py; the hook that pauses there
   is tests/crash_hook.py, installed by tests/run_cli_with_crash_hook.py), each deeper in the
   run than the one before: halfway through appending the run ledger's `started` line, halfway
   through copying a newly delivered file into the archive, halfway through appending its
   receipt to the ledger, with a DuckDB transaction open on the build while loading the first
   extract, during linkage (its candidate pairs scored, its people not yet clustered), between
   writing the marts and the publication tables, and finally just after the rename that
   publishes (paused on the way between the staging link and the rename, where nothing is
   published yet). After each kill: the published file is byte-for-byte the baseline (after the
   last, it is that run's complete build, with the baseline's tables), no archive file under its
   final name is incomplete, both ledgers still parse, and each next run gets past the point
   where the one before died;
3. the next run succeeds while another process holds the published file open read-only for the
   whole run, querying it all the time; it removes the killed runs' orphans and partial copies,
   records the killed-after-publishing run as recovered, and publishes the same tables, person
   ids and analyst pseudonyms as the baseline (same archive);
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

from flows import run_ledger
from flows.cli import app
from flows.home import Home
from flows.nightly import nightly
from sources.archive import Ledger
from sources.synth import generate
from tests.crash_hook import PAUSE_ENV, PAUSE_MARKER, RESUME_ENV, TRACE_MARKER
from warehouse.db import connect

AS_OF = date(2026, 10, 31)
CHILDREN = 800
STRAY = "invoices_paid.csv"        # delivered before the archive-copy kill; rejected at receipt

# (name, points to pause at in order: SIGKILL at the last)
KILLS = [
    ("runlog-append", ["runlog-append"]),
    ("archive-copy", ["archive-copy"]),
    ("ledger-append", ["ledger-append"]),
    ("ingest-write", ["ingest-write"]),
    ("link", ["link-clustering"]),          # candidate pairs scored, people not yet written
    ("derive-write", ["derive-write"]),
    ("swapped", ["swap", "swapped"]),
]
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


def run_and_kill(home: Home, log: Path, pauses: list[str], on_pause=None,
                 timeout: float = 240) -> str:
    """Start `joinedup run` in a subprocess; at each pause point but the last call
    `on_pause(point)` and let it go on; SIGKILL it at the last one. Returns what it printed."""
    resume = log.with_suffix(".resume")
    resume.write_text("")
    env = {**os.environ, "PREFECT_API_URL": api_url(), RESUME_ENV: str(resume),
           PAUSE_ENV: ",".join(pauses),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "GX_ANALYTICS_ENABLED": "false"}
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tests.run_cli_with_crash_hook", "run",
                                 "--home", str(home.root), "--as-of", AS_OF.isoformat()],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    try:
        for i, point in enumerate(pauses):
            while f"{PAUSE_MARKER} {point}" not in log.read_text(errors="replace"):
                assert proc.poll() is None, f"run ended before {point}:\n" \
                                            f"{log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, f"never reached {point}"
                time.sleep(0.1)
            if i < len(pauses) - 1:
                if on_pause:
                    on_pause(point)
                with resume.open("a") as fh:
                    fh.write(point + "\n")
            else:
                proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    return log.read_text(errors="replace")


def torn_lines(path: Path) -> int:
    bad = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            json.loads(line)
        except json.JSONDecodeError:
            bad += 1
    return bad


def crash_state(home: Home) -> dict:
    """What a killed run left: the published file, builds, staging links, archive copies
    (partial `*.part`, and any under a final name whose bytes do not match that name), and
    whether both ledgers still read."""
    raw = home.raw
    archived = [p for p in raw.rglob("*") if p.is_file()]
    return {
        "sha": sha256(home.live), "run_id": run_id_of(home.live),
        "finished": query(home.live, "SELECT finished_at IS NOT NULL FROM meta.run")[0][0],
        "live_wal": home.live.with_name(home.live.name + ".wal").exists(),
        "builds": sorted(p.name for p in home.builds.glob("*.duckdb")),
        "wals": sorted(p.name for p in home.builds.glob("*.wal")),
        "staging": sorted(p.name for p in home.warehouse_dir.glob(".*.tmp")),
        "partial": sorted(p.name for p in archived if p.name.endswith(".part")),
        "invalid": sorted(p.name for p in archived if not p.name.endswith(".part")
                          and sha256(p) != p.name.split(".")[0]),
        "receipts": len(Ledger(home.ledger).receipts()),
        "runs": len(run_ledger.runs(home)),
        "torn": {"ledger": torn_lines(home.ledger),
                 "runs": torn_lines(home.run_ledger)},
        "ends_torn": {"ledger": not home.ledger.read_bytes().endswith(b"\n"),
                      "runs": not home.run_ledger.read_bytes().endswith(b"\n")},
        "inbox": sorted(p.name for p in home.inbox.rglob("*") if p.is_file()),
    }


@pytest.fixture(scope="module")
def story(prefect_harness, tmp_path_factory):
    root = tmp_path_factory.mktemp("crash") / "home"
    home = Home(root)
    generate(home.inbox, home.truth_records, home.population, children=CHILDREN, seed=11,
             as_of=AS_OF)
    snaps = tmp_path_factory.mktemp("crash-snaps")
    out: dict = {"home": home}

    state = nightly(home=str(root), as_of=AS_OF, return_state=True)
    assert state.is_completed(), state.message
    out["baseline_state"] = state
    out["baseline"] = shutil.copyfile(home.live, snaps / "baseline.duckdb")
    out["baseline_sha"] = sha256(home.live)

    out["after_kill"], out["printed"], out["paused"] = {}, {}, {}

    def on_pause(point: str) -> None:
        out["paused"][point] = crash_state(home)

    for name, pauses in KILLS:
        if name == "archive-copy":      # a new delivery, so there is something to copy
            (home.inbox / "police").mkdir(parents=True, exist_ok=True)
            (home.inbox / "police" / STRAY).write_text(
                "Invoice No,Amount,Paid On\n" + "".join(
                    f"INV-{n:04d},{n * 3}.50,03/03/2025\n" for n in range(200)))
        out["printed"][name] = run_and_kill(home, snaps / f"kill-{name}.log", pauses,
                                            on_pause)
        out["after_kill"][name] = crash_state(home)
    out["killed_published"] = shutil.copyfile(home.live, snaps / "killed-published.duckdb")

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
    out["next_state"] = crash_state(home)
    return out


def test_killed_runs_never_touch_the_publication(story):
    baseline_run = run_id_of(story["baseline"])
    for name, seen in story["after_kill"].items():
        assert not seen["live_wal"] and seen["finished"], name
        assert seen["invalid"] == [], (name, seen["invalid"])
        if name != "swapped":
            assert seen["sha"] == story["baseline_sha"], name
            assert seen["run_id"] == baseline_run, name
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


def test_each_kill_landed_inside_its_step(story):
    seen, printed = story["after_kill"], story["printed"]
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
    # builds killed mid-write stay beside the published file as orphans until the next run
    for name in ("ingest-write", "link", "derive-write"):
        assert len(seen[name]["builds"]) == 2, (name, seen[name]["builds"])
    # killed inside linkage, its pairs scored: the run never reached the next step
    assert f"{TRACE_MARKER} link-scoring" in printed["link"]
    assert f"{TRACE_MARKER} derive" not in printed["link"]
    assert f"{TRACE_MARKER} pseudonymise" not in printed["derive-write"]


def test_next_run_succeeds_and_cleans_orphans(story):
    home: Home = story["home"]
    runs = run_ledger.runs(home)
    assert [r["status"] for r in runs] == ["published", *["incomplete"] * 5, "published",
                                           "published"]
    recovered = story["after_kill"]["swapped"]["run_id"]
    assert runs[-2]["run_id"] == recovered
    after = story["next_state"]
    kept = {f"{runs[0]['run_id']}.duckdb", f"{recovered}.duckdb", f"{runs[-1]['run_id']}.duckdb"}
    assert set(after["builds"]) == kept          # orphans gone, kept builds stay
    assert after["staging"] == [] and after["partial"] == [] and after["invalid"] == []
    assert run_id_of(story["next"]) == runs[-1]["run_id"]


def test_reader_holding_the_file_all_run_is_never_blocked(story):
    reader = story["reader"]
    assert reader["errors"] == []
    assert reader["queries"] > 20
    # it kept reading the publication it opened (the old inode), never a half-built one
    assert reader["seen"] == [run_id_of(story["killed_published"])]


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
    assert run_ledger.runs(home)[-1]["kind"] == "rebuild"
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
