"""The nightly steps without Prefect: a broken re-delivery must not take a feed out of the build,
and errors name the file as the supplier sent it. All data here is invented."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from flows import steps
from flows.home import Home
from sources.archive import Ledger
from tests.builders.police_map import police_csv, write_map
from warehouse.db import connect

GOOD_ROWS = [
    "OCC1,MISPER,01/03/2026 10:00,01/03/2026 08:00,01/03/2026 20:00,,,,NOM1,Ava,Stone,"
    "03/04/2012,Female,W1,IC1,ZX1 1AA",
    "OCC2,MISPER,05/03/2026 10:00,05/03/2026 08:00,05/03/2026 21:00,,,,NOM2,Leo,Marsh,"
    "11/09/2011,Male,W1,IC1,ZX2 2BB",
]
DAY1 = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
RECEIVE_AT_ONCE = "inbox: {settle_seconds: 0}\n"     # the files below are written just before


def _home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home").ensure()
    write_map(home.maps)
    home.settings_file.write_text(RECEIVE_AT_ONCE)
    return home


def _deliver(home: Home, name: str, text: str) -> None:
    folder = home.inbox / "police"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def _ingest(home: Home, receipts, run_id: str) -> list[steps.ExtractOutcome]:
    build = steps.new_build(home, run_id, as_of=date(2026, 3, 31))
    return [steps.ingest_extract(build, home, r, seq, date(2026, 4, 1))
            for seq, r in enumerate(receipts, start=1)]


def test_truncated_redelivery_falls_back_to_the_previous_good_delivery(tmp_path):
    home = _home(tmp_path)
    _deliver(home, "rms_march.csv", police_csv(GOOD_ROWS))
    steps.receive(home, now=DAY1)
    truncated = police_csv(GOOD_ROWS[:1]) + 'OCC9,MISPER,"01/03/2026 10:00\n'
    _deliver(home, "rms_march_resent.csv", truncated)
    (receipt,) = steps.receive(home, now=DAY1 + timedelta(days=1)).receipts
    assert receipt.status == "accepted"          # its header fits: only ingestion finds the fault

    planned = steps.plan_extracts(home)
    assert [r.file_name for r in planned] == ["rms_march_resent.csv"]
    outcomes = _ingest(home, planned, "run1")
    assert [o.status for o in outcomes] == ["rejected"]
    assert outcomes[0].problem.startswith("rms_march_resent.csv: ")   # not the archive's hash

    fallback = steps.fallback_extracts(home, planned, outcomes)
    assert [r.file_name for r in fallback] == ["rms_march.csv"]
    assert steps.fallback_extracts(home, fallback, outcomes + _ingest(home, fallback, "run2")) \
        == []

    steps.record_outcomes(home, "run1", outcomes)
    assert [r.file_name for r in steps.plan_extracts(home)] == ["rms_march.csv"]
    assert outcomes[0].extract_id in Ledger(home.ledger).unusable_hashes()


def test_receipt_check_names_the_delivered_file(tmp_path):
    home = _home(tmp_path)
    _deliver(home, "invoices_paid.csv", "Invoice,Amount\n1,2.50\n")
    (receipt,) = steps.receive(home, now=DAY1).receipts
    assert receipt.status == "rejected"
    assert receipt.problem.startswith("invoices_paid.csv: ")
    assert receipt.sha256 not in receipt.problem


def test_a_feed_received_long_before_the_period_end_is_late_not_supplied(tmp_path):
    home = _home(tmp_path)
    _deliver(home, "rms_march.csv", police_csv(GOOD_ROWS))
    steps.receive(home, now=DAY1)
    statuses = {}
    for as_of in (date(2026, 3, 31), date(2026, 6, 30)):       # 21 and 112 days after receipt
        run_id = f"run-{as_of:%m}"
        build = steps.new_build(home, run_id, as_of=as_of)
        for seq, receipt in enumerate(steps.plan_extracts(home), start=1):
            steps.ingest_extract(build, home, receipt, seq, as_of)
        steps.finish_staging(build)
        steps.link(build, home)
        steps.derive_and_publish(build, as_of)
        con = connect(build, read_only=True)
        try:
            statuses[as_of.month] = dict(con.execute(
                "SELECT indicator, status FROM meta.indicator_status WHERE feed = 'POL'"
            ).fetchall())
            notes = [r[0] for r in con.execute(
                "SELECT note FROM meta.indicator_status WHERE status = 'late'").fetchall()]
        finally:
            con.close()
    counted = {k for k, v in statuses[3].items() if v in ("supplied", "zero")}
    assert counted and "late" not in statuses[3].values()
    assert {k for k, v in statuses[6].items() if v == "late"} == counted
    assert all(statuses[6][k] == "not_available" for k in set(statuses[3]) - counted)
    assert notes and all("received 2026-03-10" in n for n in notes)
