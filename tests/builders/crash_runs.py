"""What the crash-safety stories share: a baseline run, `joinedup run` killed at a checkpoint in a
real subprocess, and a snapshot of what each kill left behind. Only invented children.

The run is stopped at the points marked in the code (sources/common/checkpoints.py) by the hook
in tests/crash_hook.py, installed in the crash launcher (tests/crash_launcher.py) that forks
each run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

from flows import run_ledger
from flows.home import Home
from flows.nightly import nightly
from flows.steps import analyst_places
from sources.archive import Ledger
from sources.synth import generate
from tests.crash_hook import PAUSE_ENV, PAUSE_MARKER, RESUME_ENV
from warehouse.analysts import current_run, verify
from warehouse.db import connect

AS_OF = date(2026, 10, 31)
CHILDREN = 300
REPO = Path(__file__).resolve().parents[2]

# an analyst's process: holds their published file open (read-write, as a careless session
# would) and queries it until told to stop
READER = """
import json, sys, threading, time, duckdb
con = duckdb.connect(sys.argv[1])       # read-write, DuckDB's default: holds the file's lock
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


class Launcher:
    """The crash launcher (tests/crash_launcher.py) for one story: each `start` forks a real
    `joinedup` process from it, with the checkpoint hook installed."""

    def __init__(self) -> None:
        env = {**os.environ, "PREFECT_API_URL": api_url(),
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "GX_ANALYTICS_ENABLED": "false"}
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.crash_launcher"], cwd=REPO,
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        self.replies: queue.Queue[dict] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.replies.put(json.loads(line))
        self.replies.put({"launcher_ended": self.proc.wait()})

    def _reply(self, timeout: float) -> dict:
        reply = self.replies.get(timeout=timeout)
        assert "launcher_ended" not in reply, f"the crash launcher ended: {reply}"
        return reply

    def start(self, argv: list[str], env: dict[str, str], log: Path) -> int:
        self.proc.stdin.write(json.dumps({"argv": argv, "env": env, "log": str(log)}) + "\n")
        self.proc.stdin.flush()
        return self._reply(timeout=120)["pid"]

    def ended(self) -> int | None:
        """The last process's return code once it has ended, else None."""
        try:
            return self.replies.get_nowait()["returncode"]
        except queue.Empty:
            return None

    def wait(self, timeout: float) -> int:
        return self._reply(timeout)["returncode"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def run_and_kill(launcher: Launcher, home: Home, log: Path, pauses: list[str], on_pause=None,
                 timeout: float = 240) -> str:
    """Start `joinedup run`; at each pause point but the last call `on_pause(point)` and let it
    go on; SIGKILL it at the last one. Returns what it printed."""
    resume = log.with_suffix(".resume")
    resume.write_text("")
    log.write_text("")
    pid = launcher.start(["run", "--home", str(home.root), "--as-of", AS_OF.isoformat()],
                         {RESUME_ENV: str(resume), PAUSE_ENV: ",".join(pauses)}, log)
    deadline = time.monotonic() + timeout
    returncode = None
    try:
        for i, point in enumerate(pauses):
            while f"{PAUSE_MARKER} {point}" not in log.read_text(errors="replace"):
                returncode = launcher.ended()
                assert returncode is None, f"run ended before {point}:\n" \
                                           f"{log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, f"never reached {point}"
                time.sleep(0.1)
            if i < len(pauses) - 1:
                if on_pause:
                    on_pause(point)
                with resume.open("a") as fh:
                    fh.write(point + "\n")
            else:
                os.kill(pid, signal.SIGKILL)
        returncode = launcher.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if returncode is None:
            os.kill(pid, signal.SIGKILL)
            launcher.wait(timeout=30)
    assert returncode == -signal.SIGKILL, log.read_text()[-3000:]
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
    places = analyst_places(home)
    return {
        # the analysts' publication: which run, and whether its file and CSVs are that run's
        "analysts_run": current_run(places),
        "analysts_file_run": run_id_of(home.analysts_file),
        "analysts_problems": verify(home.analysts_current.resolve()),
        "analysts_folders": sorted(p.name for p in home.publications.iterdir()),
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


def crash_story(root: Path, snaps: Path, kills: list[tuple[str, list[str]]],
                before_kill=None, reader: bool = False) -> dict:
    """Publish a baseline, then kill `joinedup run` at each of `kills` in turn (name, points to
    pause at in order: SIGKILL at the last; `before_kill(name)` runs first), then run once more,
    with an analyst's process holding their file open and reading it all the while when `reader`
    is set."""
    home = Home(root)
    generate(home.inbox, home.truth_records, home.population, children=CHILDREN, seed=11,
             as_of=AS_OF)
    home.settings_file.write_text("inbox: {settle_seconds: 0}\n")   # deliveries written just now
    out: dict = {"home": home, "after_kill": {}, "printed": {}, "paused": {}}
    state = nightly(home=str(root), as_of=AS_OF, return_state=True)
    assert state.is_completed(), state.message
    out["baseline_state"] = state
    out["baseline"] = shutil.copyfile(home.live, snaps / "baseline.duckdb")
    out["baseline_sha"] = sha256(home.live)

    def on_pause(point: str) -> None:
        out["paused"][point] = crash_state(home)

    launcher = Launcher()
    try:
        for name, pauses in kills:
            if before_kill:
                before_kill(name)
            out["printed"][name] = run_and_kill(launcher, home, snaps / f"kill-{name}.log",
                                                pauses, on_pause)
            out["after_kill"][name] = crash_state(home)
    finally:
        launcher.close()
    out["killed_published"] = shutil.copyfile(home.live, snaps / "killed-published.duckdb")

    proc = subprocess.Popen([sys.executable, "-c", READER, str(home.analysts_file)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True) if reader else None
    messages: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: messages.append(record.getMessage())
    product = logging.getLogger("joinedup")
    level = product.level
    product.addHandler(handler)
    product.setLevel(logging.INFO)
    try:
        if proc:
            assert proc.stdout.readline().strip() == "reading"
        state = nightly(home=str(root), as_of=AS_OF, return_state=True)
    finally:
        product.removeHandler(handler)
        product.setLevel(level)
        out["next_log"] = "\n".join(messages)
        if proc:
            proc.stdin.close()
            printed = proc.stdout.read()
            proc.wait(timeout=60)
            out["reader"] = json.loads(printed.strip().splitlines()[-1])
    assert state.is_completed(), state.message
    out["next"] = shutil.copyfile(home.live, snaps / "next.duckdb")
    out["next_state"] = crash_state(home)
    return out
