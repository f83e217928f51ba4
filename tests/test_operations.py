"""Operations: failure webhook, run-summary artifact, the `joinedup serve` deployments and
schedules, keep-N builds, orphan clean-up and the run lock. Servers here bind 127.0.0.1 only and
are stopped by the tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from flows import run_ledger
from flows.home import Home
from flows.nightly import notify, summary_markdown
from flows.serve import quarterly_flow
from flows.settings import ScheduleSettings, SettingsError, load_home_settings
from flows.steps import clean_orphans
from warehouse import swap

REPO = Path(__file__).resolve().parents[1]


class Receiver:
    """A local webhook receiver on 127.0.0.1 that records the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                owner.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_failed_run_posts_to_the_webhook(prefect_harness, tmp_path):
    """A real nightly flow fails (another run holds the home's run lock) and the configured
    webhook receives run id, status, step and error class, and nothing else."""
    from flows.nightly import nightly

    home = Home(tmp_path / "home").ensure()
    with Receiver() as receiver:
        (home.root / "joinedup.yaml").write_text(f"notify:\n  webhook_url: {receiver.url}\n")
        with swap.run_lock(home.run_lock):
            state = nightly(home=str(home.root), return_state=True)
    assert state.is_failed()
    assert isinstance(state.result(raise_on_failure=False), swap.RunInProgressError)
    assert len(receiver.bodies) == 1
    body = receiver.bodies[0]
    assert set(body) == {"flow", "run_id", "status", "step", "error_class"}
    assert body["status"] == "failed" and body["step"] == "lock"
    assert body["error_class"] == "RunInProgressError"
    assert not home.live.exists()


def test_webhook_from_environment_and_broken_webhook_does_not_raise(monkeypatch):
    with Receiver() as receiver:
        assert notify(receiver.url, {"run_id": "r1", "status": "failed"})
    assert receiver.bodies == [{"run_id": "r1", "status": "failed"}]
    assert notify("http://127.0.0.1:9/nothing-listens", {"status": "failed"}) is False
    assert notify(None, {"status": "failed"}) is False


def test_summary_markdown_has_counts_only():
    summary = {"run_id": "R1", "as_of": "2026-10-31", "files_received": 4, "files_rejected": 0,
               "extracts": [{"source": "police", "file_name": "p.csv", "status": "loaded",
                             "rows_in": 10, "rows_loaded": 9, "rows_quarantined": 1}],
               "person_records": 9, "linkage": {"clusters": 8, "review_pairs": 1},
               "tables": {"publication": {"rows": {"t": 1}}}, "exports": ["a.csv"]}
    text = summary_markdown(summary)
    assert "| police | p.csv | loaded | 10 | 9 | 1 |" in text
    assert "children linked: 8" in text


def test_keep_builds_setting(tmp_path):
    home = Home(tmp_path / "home").ensure()
    assert load_home_settings(home).warehouse.keep_builds == 7
    home.settings_file.write_text("warehouse:\n  keep_builds: 2\n")
    assert load_home_settings(home).warehouse.keep_builds == 2
    home.settings_file.write_text("warehouse:\n  keep_builds: 0\n")
    with pytest.raises(SettingsError, match="keep_builds"):
        load_home_settings(home)


def test_publish_keeps_n_builds_and_orphans_are_cleaned(tmp_path):
    home = Home(tmp_path / "home").ensure()
    names = [f"2026010{i}T000000000000Z" for i in range(1, 6)]
    for name in names:
        run_ledger.append(home, {"event": "started", "run_id": name})
        build = home.builds / f"{name}.duckdb"
        build.write_bytes(name.encode())
        swap.publish_build(build, home.live, keep=3)
        run_ledger.append(home, {"event": "finished", "run_id": name, "status": "published"})
    assert sorted(p.stem for p in home.builds.glob("*.duckdb")) == names[-3:]
    assert home.live.read_bytes() == names[-1].encode()
    # a killed run's build + WAL, a staging link, and a build from before the run ledger
    run_ledger.append(home, {"event": "started", "run_id": "20260106T000000000000Z"})
    (home.builds / "20260106T000000000000Z.duckdb").write_bytes(b"half")
    (home.builds / "20260106T000000000000Z.duckdb.wal").write_bytes(b"wal")
    os.link(home.builds / f"{names[-1]}.duckdb", home.warehouse_dir / ".joinedup.duckdb.x.tmp")
    (home.builds / "20251231T000000000000Z.duckdb").write_bytes(b"old")
    with swap.run_lock(home.run_lock):
        removed = clean_orphans(home)
        with pytest.raises(swap.RunInProgressError), swap.run_lock(home.run_lock):
            pass
    assert sorted(p.name for p in removed) == [".joinedup.duckdb.x.tmp",
                                               "20260106T000000000000Z.duckdb",
                                               "20260106T000000000000Z.duckdb.wal"]
    assert sorted(p.stem for p in home.builds.glob("*.duckdb")) == [
        "20251231T000000000000Z", *names[-3:]]
    assert home.live.read_bytes() == names[-1].encode()


def test_killed_between_swap_and_ledger_is_recovered_not_removed(tmp_path):
    home = Home(tmp_path / "home").ensure()
    run_ledger.append(home, {"event": "started", "run_id": "20260101T000000000000Z"})
    build = home.builds / "20260101T000000000000Z.duckdb"
    build.write_bytes(b"x")
    swap.publish_build(build, home.live)
    assert clean_orphans(home) == [] and build.exists()
    assert run_ledger.runs(home)[0]["status"] == "published"


def test_serve_stopped_before_its_deployments_are_registered_exits_cleanly(prefect_harness,
                                                                          tmp_path):
    """SIGTERM while `serve` is still registering (before Prefect's runner has a handler of its
    own) ends the process with exit 0, not killed by the signal (CI saw -15)."""
    from prefect.settings import PREFECT_API_URL

    home = Home(tmp_path / "home").ensure()
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve", "--home",
                                 str(home.root)], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while "serving nightly" not in log.read_text() and time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def test_serve_registers_deployments_with_schedules(prefect_harness, tmp_path):
    """`joinedup serve` in a subprocess against the session's Prefect server (127.0.0.1); the
    deployments and their cron schedules are read back with the Prefect client."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url.startswith("http://127.0.0.1")
    home = Home(tmp_path / "home").ensure()
    (home.root / "joinedup.yaml").write_text("schedules:\n  timezone: Europe/London\n")
    env = {**os.environ, "PREFECT_API_URL": url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve", "--home",
                                 str(home.root)], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    expected = {"nightly": ScheduleSettings().nightly}
    if quarterly_flow() is not None:
        expected["quarterly-return"] = ScheduleSettings().quarterly
    try:
        found: dict = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and set(found) != set(expected):
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(1)
            with get_client(sync_client=True) as client:
                found = {d.name: d for d in client.read_deployments()
                         if d.name in expected and d.parameters.get("home", str(home.root))
                         == str(home.root)}
        assert set(found) == set(expected), log.read_text()[-3000:]
        for name, cron in expected.items():
            schedules = found[name].schedules
            assert len(schedules) == 1 and schedules[0].active
            assert schedules[0].schedule.cron == cron
            assert schedules[0].schedule.timezone == "Europe/London"
        assert found["nightly"].parameters == {"home": str(home.root)}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # stopped by SIGTERM: a clean exit, and the schedules paused on the way out
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert "paused the schedules of" in log.read_text(), log.read_text()[-3000:]
    with get_client(sync_client=True) as client:
        for name in expected:
            deployment = client.read_deployment(found[name].id)
            assert deployment.paused or not any(s.active for s in deployment.schedules), name
