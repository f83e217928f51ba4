"""End-to-end tests: the real nightly Prefect flow on a synthetic partnership home.

One synthetic population (invented children only) is generated per module and the flow runs
three times against a Prefect test server started by the session fixture below:

1. ``nightly()`` called directly on a fresh home (plus one row made faulty on purpose);
2. ``joinedup run`` through typer's CliRunner on the same archive, with an unrelated file
   dropped into the inbox (rejected at receipt, the run still publishes);
3. ``nightly()`` while another process holds the published warehouse open read-write (DuckDB
   allows one writer or many readers), so the link step cannot read yesterday's person ids and
   the run fails for real.

Nothing is mocked: Prefect, DuckDB, Great Expectations and recordlinkage all run.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from flows.cli import app
from flows.home import Home
from flows.nightly import nightly
from flows.summary import print_summary
from sources.common.periods import default_as_of, reporting_period
from sources.synth import generate
from warehouse.db import connect

CHILDREN = 1_500
SEED = 42
F1_THRESHOLD = 0.95          # measured 0.992-1.000 on 1,500-2,000 children, several seeds
PUBLISH_TABLES = ("table8_datasets", "table9_indicators", "indicator_breakdown")
SUPPRESSED = "c"             # the publication's suppression symbol (settings: disclosure.symbol)

# The row made faulty on purpose: first data row (line 2) of the police export.
FAULTY_COLUMN, FAULTY_VALUE = "Reported Date", "31/02/2025"

# Identifying columns of the four synthetic suppliers' exports (sources/maps/synthetic_*.yaml).
NAME_COLUMNS = {"Forename 1", "Forename 2", "Surname",                       # police
                "Forename", "Middle Names", "Previous Surname",               # social care
                "GivenName", "OtherNames", "FamilyName",                      # youth justice
                "Legal Forename", "Preferred Forename", "Middle Name(s)", "Legal Surname"}
DOB_COLUMNS = {"DOB", "Date of Birth", "DateOfBirth"}
POSTCODE_COLUMNS = {"Home Postcode", "Postcode", "PostCode"}
ADDRESS_COLUMNS = {"Home Address", "Address Line 1", "AddressLine1", "Address"}
NHS_COLUMNS = {"NHS Number"}
IDENTIFYING = NAME_COLUMNS | DOB_COLUMNS | POSTCODE_COLUMNS | ADDRESS_COLUMNS | NHS_COLUMNS
DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d", "%Y-%m-%d %H:%M:%S")

pytestmark = pytest.mark.slow       # three real nightly runs: minutes


# ----------------------------------------------------------------------------- helpers


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rows(path: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = connect(path, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def frame(path: Path, sql: str) -> pd.DataFrame:
    con = connect(path, read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def publish_content(path: Path) -> dict[str, list[tuple]]:
    return {t: rows(path, f"SELECT * FROM publish.{t} ORDER BY ALL") for t in PUBLISH_TABLES}


def snapshot(live: Path, folder: Path, name: str) -> Path:
    """A private copy of the published file, so later runs cannot change what a test reads."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / name
    shutil.copyfile(live, copy)
    return copy


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # noqa: BLE001 - a broken record must not break the run under test
            self.lines.append(f"{record.name} {record.msg!r} {record.args!r}")


@contextlib.contextmanager
def captured_output():
    """Everything logged at INFO and above (any logger that reaches the root, tracebacks
    included) and everything printed to sys.stdout / sys.stderr while the block runs."""
    handler = _Collector()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    out, err = io.StringIO(), io.StringIO()
    texts: list[str] = []
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield texts
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        texts.extend([*handler.lines, out.getvalue(), err.getvalue()])


def api_log_messages(flow_run_id) -> list[str]:
    """The flow run's log lines as stored by the Prefect server (what the UI would show)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    messages: list[str] = []
    log_filter = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
    with get_client(sync_client=True) as client:
        while True:
            batch = client.read_logs(log_filter=log_filter, limit=200, offset=len(messages))
            messages.extend(entry.message for entry in batch)
            if len(batch) < 200:
                return messages


def prefect_records(home: Path) -> dict[str, list[str]]:
    """What the Prefect server holds about every flow run whose `home` parameter is `home`, by
    channel: flow-run parameters, names and state messages; task-run names and state
    messages; artifacts; log lines. This is what the Prefect UI and API show anyone with access
    to the server, who need not be allowed to see a child's details."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
    )

    out: dict[str, list[str]] = {"runs": [], "parameters": [], "tasks": [], "artifacts": [],
                                 "logs": []}
    with get_client(sync_client=True) as client:
        runs = []
        while batch := client.read_flow_runs(limit=200, offset=len(runs)):
            runs.extend(batch)
        mine = [r for r in runs if (r.parameters or {}).get("home") == str(home)]
        ids = [r.id for r in mine]
        out["runs"] = [str(r.id) for r in mine]
        for r in mine:
            out["parameters"].append(json.dumps(r.parameters, default=str))
            out["parameters"].append(f"{r.name} {r.state.message if r.state else ''}")
        if not ids:
            return out
        runs_filter = FlowRunFilter(id=FlowRunFilterId(any_=ids))
        tasks = []                      # the server returns at most 200 rows per request
        while batch := client.read_task_runs(flow_run_filter=runs_filter, limit=200,
                                             offset=len(tasks)):
            tasks.extend(batch)
        out["tasks"] = [f"{tr.name} {tr.state.message if tr.state else ''}" for tr in tasks]
        artifact_filter = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids))
        artifacts = []
        while batch := client.read_artifacts(artifact_filter=artifact_filter, limit=200,
                                             offset=len(artifacts)):
            artifacts.extend(batch)
        out["artifacts"] = [f"{a.key} {a.description} {json.dumps(a.data, default=str)}"
                            for a in artifacts]
    for flow_run_id in ids:
        out["logs"].extend(api_log_messages(flow_run_id))
    return out


def read_extract(path: Path) -> pd.DataFrame:
    """A generated extract read independently of the product's readers (all cells as text)."""
    if path.suffix == ".xlsx":
        raw = pd.read_excel(path, header=None, dtype=str, engine="calamine")   # 9x openpyxl
        header_at = next(i for i, r in raw.iterrows() if "Record ID" in set(r.dropna()))
        body = raw.iloc[header_at + 1:].copy()
        body.columns = list(raw.iloc[header_at])
        return body
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def _dates(value: str) -> list[str]:
    for fmt in DATE_FORMATS:
        try:
            d = datetime.strptime(value.strip(), fmt).date()
        except ValueError:
            continue
        return [d.isoformat(), d.strftime("%d/%m/%Y")]
    return []


def identifying_strings(extracts: list[Path], not_personal: set[str]) -> set[str]:
    """First names, surnames, dates of birth (supplier format and ISO), postcodes (with and
    without the space), address lines and NHS numbers in the generated files.

    Names shorter than 4 characters are left out (they are substrings of ordinary words), and so
    is any name that is also a word of the extracts' headers or code values (e.g. a surname that
    is also an ethnicity word), which the product may legitimately print."""
    vocabulary = set()
    found: set[str] = set()
    for path in extracts:
        table = read_extract(path)
        for column in table.columns:
            vocabulary.update(w.lower() for w in re.findall(r"[A-Za-z]+", str(column)))
            values = [v for v in table[column].dropna().astype(str) if v.strip()]
            if column not in IDENTIFYING:
                for v in set(values):
                    vocabulary.update(w.lower() for w in re.findall(r"[A-Za-z]+", v))
                continue
            for v in set(values):
                v = v.strip()
                if column in NAME_COLUMNS:
                    found.update(p for p in [v, *re.split(r"[\s\-']+", v)] if len(p) >= 4)
                elif column in DOB_COLUMNS:
                    found.update(_dates(v))
                elif column in POSTCODE_COLUMNS | NHS_COLUMNS:    # with and without spaces
                    found.update({v, v.replace(" ", "")})
                elif len(v) >= 6:
                    found.add(v)
    return {s for s in found if s.lower() not in vocabulary and s not in not_personal}


# warehouse.pseudonym's form: three groups of four Crockford base32 characters
PSEUDONYM = re.compile(r"(?<![A-Za-z0-9-])[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-"
                       r"[0-9A-HJKMNP-TV-Z]{4}(?![A-Za-z0-9-])")


def identifier_pattern(identifiers: set[str]) -> re.Pattern:
    """Any of the identifiers, in any case, not inside a longer word or number. The alternatives
    are laid out as a trie, so at each position the engine follows only the branches that match
    (a flat alternation of thousands of strings took half a minute over the Data Docs pages);
    the longest identifier that fits is preferred, as it was in the flat, longest-first one."""
    trie: dict = {}
    for word in identifiers:
        node = trie
        for ch in word:
            low = ch.lower()       # IGNORECASE treats a character and its lower case alike
            node = node.setdefault(low if len(low) == 1 else ch, {})
        node[""] = {}

    def alternatives(node: dict) -> str:
        branches = [re.escape(ch) + alternatives(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return re.compile(rf"(?<![A-Za-z0-9])({alternatives(trie)})(?![A-Za-z0-9])", re.IGNORECASE)


def personal_hits(texts: list[str], identifiers: set[str]) -> list[str]:
    """Each identifying string found in the texts, with a little of its context."""
    text = "\n".join(texts)
    return [text[max(0, m.start() - 60): m.end() + 20].replace("\n", " ")
            for m in identifier_pattern(identifiers).finditer(text)]


def make_row_faulty(path: Path, column: str, value: str) -> str:
    """Overwrite one cell of the first data row of a UTF-8 CSV; returns the original cell."""
    with path.open(newline="", encoding="utf-8") as fh:
        table = list(csv.reader(fh))
    i = table[0].index(column)
    original, table[1][i] = table[1][i], value
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(table)
    return original


def warehouse_files(home: Home) -> list[str]:
    return sorted(str(p.relative_to(home.warehouse_dir)) for p in home.warehouse_dir.rglob("*"))


# ----------------------------------------------------------------------------- fixtures


@dataclass
class Synthetic:
    home: Home
    as_of: date
    generation: dict
    identifiers: set[str]
    extract_names: list[str]
    faulty_file: str


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Synthetic:
    root = tmp_path_factory.mktemp("e2e") / "home"
    as_of = default_as_of(datetime.now(UTC).date())
    home = Home(root)
    generation = generate(home.inbox, home.truth_records, home.population, children=CHILDREN,
                          seed=SEED, as_of=as_of)
    home.settings_file.write_text("inbox: {settle_seconds: 0}\n")   # files written just now
    extracts = sorted(p for p in home.inbox.rglob("*") if p.is_file())
    police = next(p for p in extracts if p.parent.name == "police")
    make_row_faulty(police, FAULTY_COLUMN, FAULTY_VALUE)
    period_start, period_end = reporting_period(as_of)
    # dates the product prints for its own reasons (period, run day) are not a child's data
    run_days = {datetime.now(UTC).date() + timedelta(days=d) for d in (-1, 0, 1)}
    not_personal = {d.isoformat() for d in (as_of, period_start, period_end, *run_days)}
    not_personal |= {d.strftime("%d/%m/%Y") for d in (as_of, period_start, period_end, *run_days)}
    identifiers = identifying_strings(extracts, not_personal)
    return Synthetic(home=home, as_of=as_of, generation=generation, identifiers=identifiers,
                     extract_names=[p.name for p in extracts], faulty_file=police.name)


@dataclass
class Run:
    seconds: float
    warehouse: Path                   # snapshot of the published file right after the run
    texts: list[str] = field(default_factory=list)
    summary: dict | None = None
    state: object = None
    analyst_held: list[str] = field(default_factory=list)   # what an analyst's session read


@pytest.fixture(scope="module")
def first_run(prefect_harness, synthetic, tmp_path_factory) -> Run:
    home = synthetic.home
    started = time.perf_counter()
    with captured_output() as texts:
        state = nightly(home=str(home.root), as_of=synthetic.as_of, return_state=True)
    seconds = time.perf_counter() - started
    assert state.is_completed(), f"first run ended {state.type}: {state.message}"
    summary = state.result()
    texts.extend(api_log_messages(state.state_details.flow_run_id))
    console = Console(file=io.StringIO(), width=250)
    print_summary(summary, console)
    texts.append(console.file.getvalue())
    texts.append(json.dumps(summary, default=str))
    copy = snapshot(home.live, tmp_path_factory.mktemp("snapshots"), "run1.duckdb")
    return Run(seconds=seconds, warehouse=copy, texts=texts, summary=summary, state=state)


@pytest.fixture(scope="module")
def second_run(first_run, synthetic, tmp_path_factory) -> Run:
    """`joinedup run` on the same archive; an unrelated file in the police inbox is rejected."""
    home = synthetic.home
    stray = home.inbox / "police" / "invoices_paid.csv"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_text("Invoice No,Amount,Paid On\nINV-001,120.00,03/03/2025\n", encoding="utf-8")
    started = time.perf_counter()
    with holding_read_write(home.analysts_file) as held, captured_output() as texts:
        result = CliRunner().invoke(app, ["run", "--home", str(home.root),
                                          "--as-of", synthetic.as_of.isoformat()])
    seconds = time.perf_counter() - started
    texts.append(result.output)
    assert result.exit_code == 0, (result.output, result.exception)
    copy = snapshot(home.live, tmp_path_factory.mktemp("snapshots"), "run2.duckdb")
    return Run(seconds=seconds, warehouse=copy, texts=texts, analyst_held=held)


@dataclass
class FailedRun:
    state: object
    seconds: float
    texts: list[str]
    before: dict
    after: dict


HOLDER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])               # read-write: takes the file's write lock
con.execute("SELECT count(*) FROM publish.table9_indicators").fetchall()
print("holding", flush=True)
sys.stdin.read()                                # until the test closes our stdin
print(con.execute("SELECT run_id FROM meta.run").fetchall()[0][0], flush=True)
con.close()
"""


@contextmanager
def holding_read_write(path: Path):
    """Another process holds `path` open read-write (DuckDB's default, so a careless analyst's
    or data team member's session) for the block; yields a list that receives what the holder
    printed at the end (the run id it was still reading)."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    printed: list[str] = []
    try:
        assert holder.stdout.readline().strip() == "holding"
        yield printed
    finally:
        holder.stdin.close()
        try:
            printed.extend(holder.stdout.read().split())
            holder.wait(timeout=30)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()
    assert holder.returncode == 0, printed


def _state_of(home: Home) -> dict:
    return {
        "sha256": sha256(home.live),
        "publish": publish_content(home.live),
        "run_id": rows(home.live, "SELECT run_id FROM meta.run"),
        "files": warehouse_files(home),
        "analysts": sorted(str(p.relative_to(home.analysts)) for p in home.analysts.rglob("*")),
    }


@pytest.fixture(scope="module")
def failed_run(second_run, synthetic) -> FailedRun:
    """A run while someone of the data team holds the linkage zone's published file open
    read-write (an analyst cannot: it is not theirs to open): the link step cannot read
    yesterday's person ids."""
    home = synthetic.home
    before = _state_of(home)
    with holding_read_write(home.live):
        started = time.perf_counter()
        with captured_output() as texts:
            state = nightly(home=str(home.root), as_of=synthetic.as_of, return_state=True)
        seconds = time.perf_counter() - started
    texts.append(str(state.message))
    texts.append(repr(state.result(raise_on_failure=False)))
    return FailedRun(state=state, seconds=seconds, texts=texts, before=before,
                     after=_state_of(home))


# ----------------------------------------------------------------------------- 1. one run


def test_nightly_run_publishes_and_accounts_for_every_row(first_run, synthetic):
    summary = first_run.summary
    home = synthetic.home
    assert summary["warehouse"] == str(home.live)
    assert home.live == home.root / "warehouse" / "joinedup.duckdb" and home.live.is_file()
    assert summary["files_received"] == len(synthetic.extract_names) >= 4
    assert summary["files_rejected"] == 0
    assert {e["file_name"] for e in summary["extracts"]} == set(synthetic.extract_names)
    assert summary["person_records"] > 0 and summary["linkage"]["clusters"] > 0

    for table in PUBLISH_TABLES:
        assert rows(first_run.warehouse, f"SELECT count(*) FROM publish.{table}")[0][0] > 0, table

    # rows in = loaded + quarantined, per extract, in the summary and in meta.extract
    for e in summary["extracts"]:
        assert e["status"] == "loaded", e
        assert e["rows_in"] > 0, e
        assert e["rows_in"] == e["rows_loaded"] + e["rows_quarantined"], e
    meta = rows(first_run.warehouse, "SELECT file_name, rows_in, rows_loaded, rows_quarantined "
                                     "FROM meta.extract")
    assert {m[0] for m in meta} == set(synthetic.extract_names)
    by_file = {e["file_name"]: e for e in summary["extracts"]}
    for file_name, rows_in, loaded, quarantined in meta:
        assert rows_in == loaded + quarantined, file_name
        assert (rows_in, loaded, quarantined) == (by_file[file_name]["rows_in"],
                                                  by_file[file_name]["rows_loaded"],
                                                  by_file[file_name]["rows_quarantined"])

    # every quarantined row has a named rule and column; the row we broke is among them
    failures = frame(first_run.warehouse, "SELECT * FROM quarantine.row_failure")
    assert len(failures) >= 1
    assert failures["rule"].notna().all() and (failures["rule"].str.len() > 0).all()
    assert failures["column_name"].notna().all() and failures["supplier_column"].notna().all()
    ours = failures[(failures["file_name"] == synthetic.faulty_file)
                    & (failures["row_number"] == 2)]
    assert len(ours) == 1, failures.to_string()
    assert ours.iloc[0]["column_name"] == "reported_at"
    assert ours.iloc[0]["supplier_column"] == FAULTY_COLUMN
    assert str(ours.iloc[0]["value"]).startswith(FAULTY_VALUE)   # date and time, as supplied
    quarantined_rows = failures.groupby("file_name")["row_number"].nunique().to_dict()
    for file_name, n in quarantined_rows.items():
        assert by_file[file_name]["rows_quarantined"] == n, file_name


# ------------------------------------------------------------- 2. a reader in another process


def test_second_process_reads_published_file_read_only(first_run, synthetic):
    live = synthetic.home.analysts_file
    code = ("import json, sys, duckdb\n"
            "con = duckdb.connect(sys.argv[1], read_only=True)\n"
            "print(json.dumps(con.execute('SELECT k, children_at_least_k "
            "FROM publish.table9_indicators ORDER BY k').fetchall()))\n")
    mine = connect(live, read_only=True)       # many readers at once are fine
    try:
        expected = [list(r) for r in mine.execute(
            "SELECT k, children_at_least_k FROM publish.table9_indicators ORDER BY k").fetchall()]
        done = subprocess.run([sys.executable, "-c", code, str(live)], capture_output=True,
                              text=True, timeout=120)
    finally:
        mine.close()
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == expected
    assert len(expected) > 0


# ------------------------------------------------------------------ 3. tables 8 and 9 add up


@pytest.mark.parametrize("prefix, table, per_child", [
    ("t8", "table8_datasets", "n_datasets"),
    ("t9", "table9_indicators", "n_indicators"),
])
def test_tables_8_and_9_add_up(first_run, prefix, table, per_child):
    wh = first_run.warehouse
    published = frame(wh, f"SELECT * FROM publish.{table} ORDER BY k")
    top = int(published["k"].max())
    assert list(published["k"]) == list(range(1, top + 1))
    cells = dict(rows(wh, "SELECT cell_id, value FROM mart.publication_cell "
                          "WHERE cell_id LIKE ?", [f"{prefix}|%"]))
    ge = {k: cells[f"{prefix}|ge|{k}"] for k in range(1, top + 1)}
    ex = {k: cells[f"{prefix}|ex|{k}"] for k in range(1, top + 1)}

    # the unsuppressed counts: exactly-k sum to >= 1, and >= k = exactly k + >= k+1
    assert ge[1] > 0
    assert sum(ex.values()) == ge[1]
    for k in range(1, top):
        assert ge[k] == ex[k] + ge[k + 1], k
    assert ge[top] == ex[top]

    # ... and they are what the per-child mart says
    per = [n for (n,) in rows(wh, f"SELECT {per_child} FROM mart.child_profile")]
    assert ge[1] == sum(n >= 1 for n in per)
    for k in range(1, top + 1):
        assert ex[k] == sum(min(n, top) == k for n in per if n >= 1), k
    # ... which counts each child's distinct indicators (datasets) in mart.child_indicator
    mismatched = rows(wh, f"""
        SELECT count(*) FROM mart.child_profile p
        LEFT JOIN (SELECT person_id, count(DISTINCT indicator) AS n_indicators,
                          count(DISTINCT dataset) AS n_datasets
                   FROM mart.child_indicator GROUP BY person_id) c USING (person_id)
        WHERE p.{per_child} <> coalesce(c.{per_child}, 0)""")[0][0]
    assert mismatched == 0

    # the published cells are those numbers, or the suppression symbol
    for _, row in published.iterrows():
        k = int(row["k"])
        for column, value in (("children_at_least_k", ge[k]), ("children_exactly_k", ex[k]),
                              ("denominator", ge[1])):
            assert row[column] in (str(value), SUPPRESSED), (k, column, row[column], value)
    assert published.iloc[0]["children_at_least_k"] == str(ge[1])     # the total is shown


def test_tables_8_and_9_count_the_same_children(first_run):
    cells = dict(rows(first_run.warehouse, "SELECT cell_id, value FROM mart.publication_cell "
                                           "WHERE cell_id IN ('t8|ge|1', 't9|ge|1')"))
    assert cells["t8|ge|1"] == cells["t9|ge|1"] > 0


# ------------------------------------------------------------------------ 4. linkage quality


def test_linkage_quality_against_truth(first_run, synthetic):
    result = CliRunner().invoke(app, ["evaluate", "--home", str(synthetic.home.root)])
    assert result.exit_code == 0, (result.output, result.exception)
    first_run.texts.append(result.output)
    scores = dict(re.findall(r"(precision|recall|F1)=([0-9.]+)", result.output))
    print(f"\nlinkage on {CHILDREN:,} children: {result.output.strip()}")
    assert set(scores) == {"precision", "recall", "F1"}, result.output
    assert float(scores["F1"]) >= F1_THRESHOLD
    assert float(scores["precision"]) >= F1_THRESHOLD
    assert float(scores["recall"]) >= F1_THRESHOLD


# ---------------------------------------------------------- 5. no personal data in any output


def test_no_personal_data_in_logs_or_output(first_run, second_run, failed_run, synthetic):
    identifiers = synthetic.identifiers
    # the check is only meaningful if it has plenty to look for, of every kind
    assert len(identifiers) > 1_000
    kinds = {"name": r"[A-Za-z][A-Za-z'\- ]{3,}", "iso date": r"\d{4}-\d{2}-\d{2}",
             "supplier date": r"\d{2}/\d{2}/\d{4}",
             "postcode": r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}"}
    for kind, shape in kinds.items():
        examples = sorted(s for s in identifiers if re.fullmatch(shape, s))
        assert len(examples) >= 10, kind
        # a control on the matcher: it finds such a value inside a sentence, in any case
        sample = examples[len(examples) // 2]
        assert personal_hits([f"loaded 3 rows; ({sample.upper()})."], identifiers), sample
    texts = [*first_run.texts, *second_run.texts, *failed_run.texts]
    combined = "\n".join(texts)
    # the capture did see the runs (so an empty capture cannot pass)
    assert "loaded" in combined and "linkage" in combined and "rejected" in combined
    assert "published" in combined and "F1=" in combined and "failed" in combined
    hits = personal_hits(texts, identifiers)
    assert not hits, f"{len(hits)} personal values in logs/output, e.g. {hits[:5]}"


def test_no_personal_data_in_files_for_people_or_the_audit_trail(first_run, second_run,
                                                                synthetic):
    """Published CSVs, the run and receipt ledgers and the Data Docs pages are read by people who
    must not see a child's details; only the warehouse's linkage zone may hold them."""
    home = synthetic.home
    files = [*home.analysts.rglob("*.csv"), home.lake / "ledger.jsonl", home.lake / "runs.jsonl",
             *(home.root / "data-docs").rglob("*.html")]
    files = [f for f in files if f.exists()]
    assert any(f.suffix == ".csv" for f in files) and any(f.suffix == ".html" for f in files)
    texts = [f.read_text(encoding="utf-8", errors="replace") for f in files]
    # in HTML only what a reader sees counts: markup such as aria-label, and the stylesheet
    # (whose comments use words that are also surnames, such as Page), are not a child's name
    texts = [re.sub(r"<[^>]*>", " ", re.sub(r"(?is)<(style|script)\b.*?</\1\s*>", " ", t))
             if f.suffix == ".html" else t for f, t in zip(files, texts, strict=True)]
    hits = personal_hits(texts, synthetic.identifiers)
    assert not hits, f"{len(hits)} personal values in files for people, e.g. {hits[:5]}"


def test_no_personal_data_in_prefect_artifacts_parameters_or_logs(first_run, second_run,
                                                                   failed_run, synthetic):
    """Everything the Prefect server keeps about the three runs (including `joinedup run`'s,
    whose flow run the test never held) carries no child's details, nor the pseudonymisation
    key."""

    home = synthetic.home
    records = prefect_records(home.root)
    # the scan did reach all three runs and every channel (so an empty scan cannot pass)
    assert len(records["runs"]) == 3, records["runs"]
    assert sum("nightly-run-summary" in a for a in records["artifacts"]) == 2
    assert any("| rows in |" in a for a in records["artifacts"])
    assert any("ingest-police" in t for t in records["tasks"])
    logs = "\n".join(records["logs"])
    assert "loaded" in logs and "published" in logs and "failed" in logs
    assert "pseudonymised" in logs
    identifiers = set(synthetic.identifiers)
    key_file = home.demo_key
    if key_file.exists():                       # no key configured in the tests: the demo key
        key = key_file.read_text().strip()
        identifiers.add(key)
        for snap in (first_run.warehouse, second_run.warehouse):
            assert key.encode() not in snap.read_bytes()
    for channel, texts in records.items():
        hits = personal_hits(texts, identifiers)
        assert not hits, f"{len(hits)} personal values in Prefect {channel}, e.g. {hits[:5]}"


def test_prefect_scan_finds_a_planted_name(prefect_harness, synthetic, tmp_path):
    """The control: a throwaway flow run with a child's name in a parameter, a date of birth in
    an artifact and a postcode in a log line; the same scan finds each in its channel."""
    from prefect import flow, get_run_logger
    from prefect.artifacts import create_markdown_artifact

    names = sorted(s for s in synthetic.identifiers if re.fullmatch(r"[A-Za-z]{5,}", s))
    dobs = sorted(s for s in synthetic.identifiers if re.fullmatch(r"\d{4}-\d{2}-\d{2}", s))
    postcodes = sorted(s for s in synthetic.identifiers
                       if re.fullmatch(r"[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}", s))
    name, dob, postcode = names[len(names) // 2], dobs[len(dobs) // 2], postcodes[0]

    @flow(name="pii-scan-control")
    def leaky(home: str, note: str) -> None:
        create_markdown_artifact(markdown=f"child born {dob}", key="pii-scan-control")
        get_run_logger().info("child lives at %s", postcode)

    control_home = tmp_path / "control-home"
    state = leaky(home=str(control_home), note=f"about {name}", return_state=True)
    assert state.is_completed()
    records = prefect_records(control_home)
    assert len(records["runs"]) == 1
    assert personal_hits(records["parameters"], {name})
    assert personal_hits(records["artifacts"], {dob})
    assert personal_hits(records["logs"], {postcode})
    assert not personal_hits(records["artifacts"], {name})


# --------------------------------------------- 6. a bad file is rejected, the run publishes


def test_unrelated_file_is_rejected_and_run_still_publishes(first_run, second_run, synthetic):
    output = "\n".join(second_run.texts)
    assert re.search(r"files rejected\s+1\b", output), output[-3000:]
    assert "invoices_paid.csv" in output
    received = [json.loads(line) for line in
                (synthetic.home.lake / "ledger.jsonl").read_text().splitlines()]
    stray = [e for e in received if e.get("file_name") == "invoices_paid.csv"]
    assert len(stray) == 1 and stray[0]["status"] == "rejected" and stray[0]["problem"]
    assert not (synthetic.home.inbox / "police" / "invoices_paid.csv").exists()
    # the run published a new warehouse with the same extracts as the first
    extracts = "SELECT extract_id, rows_in, rows_loaded, rows_quarantined FROM meta.extract " \
               "ORDER BY extract_id"
    assert rows(second_run.warehouse, extracts) == rows(first_run.warehouse, extracts)
    for table in PUBLISH_TABLES:
        assert rows(second_run.warehouse, f"SELECT count(*) FROM publish.{table}")[0][0] > 0


# ------------------------------------ 6. a failed run leaves the last publication in place


def test_failed_run_leaves_last_publication_in_place(failed_run, second_run, synthetic):
    state = failed_run.state
    assert state.is_failed(), f"expected a failed run, got {state.type}: {state.message}"
    error = state.result(raise_on_failure=False)
    assert isinstance(error, BaseException)
    assert "lock" in str(error).lower(), repr(error)
    before, after = failed_run.before, failed_run.after
    # the published file is the second run's, byte for byte
    assert after["sha256"] == before["sha256"] == sha256(second_run.warehouse)
    assert after["publish"] == before["publish"]
    assert after["run_id"] == before["run_id"]
    assert all(after["publish"][t] for t in PUBLISH_TABLES)
    # no partial build, WAL or staging file left behind
    assert after["files"] == before["files"], (before["files"], after["files"])
    assert after["analysts"] == before["analysts"]          # nor the analysts' publication
    assert not [f for f in after["files"] if f.endswith((".wal", ".tmp"))]
    log = "\n".join(failed_run.texts)
    assert "loaded " in log                    # it got as far as loading into its own build
    assert "the published warehouse is unchanged" in log


# ------------------------------------------- 6. analysts: their own file, and never a child


def test_the_analysts_file_holds_no_identifying_column_or_value(second_run, synthetic):
    """Every value of every table in the file analysts open, checked against the inbox's own
    names, dates of birth, postcodes, addresses and NHS numbers; and linkage's person ids and
    the suppliers' record ids are not in it either."""
    home = synthetic.home
    con = connect(home.analysts_file, read_only=True)
    try:
        tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                             "ORDER BY ALL").fetchall()
        columns = {c for (c,) in con.execute("SELECT column_name FROM duckdb_columns()")
                   .fetchall()}
        texts = [json.dumps(con.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall(),
                            default=str) for schema, table in tables]
    finally:
        con.close()
    assert {s for s, _t in tables} == {"analyst", "publish", "meta"}
    assert sum(len(t) for t in texts) > 100_000            # the scan had plenty to read
    assert not columns & {"first_name", "last_name", "dob", "postcode", "address", "upn",
                          "nhs_number", "record_key", "person_id", "person_ref"}
    # the marts carry event dates inside the period, which a baby's date of birth can equal
    start, end = reporting_period(synthetic.as_of)
    in_period = {(start + timedelta(days=d)).isoformat() for d in range((end - start).days + 1)}
    # a pseudonym is a keyed HMAC of a linkage id, so one of its groups that happens to spell a
    # forename ("2BQ3-EMMA-6C57") says nothing of any child: pseudonyms are left out of the scan
    texts = [PSEUDONYM.sub("", text) for text in texts]
    hits = personal_hits(texts, synthetic.identifiers - in_period)
    assert not hits, f"{len(hits)} personal values in the analysts' file, e.g. {hits[:5]}"
    internal = {p for (p,) in rows(second_run.warehouse, "SELECT person_id FROM linkage.person")}
    keys = {k.split(":", 1)[1] for (k,) in rows(second_run.warehouse,
                                               "SELECT record_key FROM linkage.person")}
    words = set(re.findall(r"[A-Za-z0-9-]+", "\n".join(texts)))
    assert len(internal) > 100 and not words & internal
    assert not words & {k for k in keys if len(k) >= 6}


def test_a_run_publishes_while_an_analyst_holds_their_file_read_write(second_run, synthetic):
    """The run never opens the analysts' file: the second run published while an analyst's
    session held it read-write, and that session kept reading the publication it opened."""
    home = synthetic.home
    published = rows(home.live, "SELECT run_id FROM meta.run")[0][0]
    assert rows(home.analysts_file, "SELECT run_id FROM meta.run")[0][0] == published
    assert second_run.analyst_held and second_run.analyst_held[-1] != published
    assert (home.analysts_current / "exports" / "table9_indicators.csv").is_file()


# ------------------------------------------------------------------ 7. stable person ids


def test_person_ids_are_stable_across_runs(first_run, second_run):
    query = "SELECT record_key, person_id FROM linkage.person ORDER BY record_key"
    one = rows(first_run.warehouse, query)
    two = rows(second_run.warehouse, query)
    assert len(one) == first_run.summary["person_records"] > 0
    assert [k for k, _ in one] == [k for k, _ in two]
    changed = [(k, a, b) for (k, a), (_, b) in zip(one, two, strict=True) if a != b]
    assert not changed, f"{len(changed)} records changed person_id, e.g. {changed[:5]}"
    assert rows(first_run.warehouse, "SELECT run_id FROM meta.run") != rows(
        second_run.warehouse, "SELECT run_id FROM meta.run")
    # the first run relinked in full; the second, on the same records, compared none of them
    # again and carried the first's pairs (tests/test_incremental.py: changes)
    state = "SELECT mode FROM linkage.relink_state"
    assert rows(first_run.warehouse, state) == [("full",)]
    assert rows(second_run.warehouse, state) == [("incremental",)]
