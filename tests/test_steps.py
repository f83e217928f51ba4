"""The nightly steps without Prefect: a broken re-delivery must not take a feed out of the build,
and errors name the file as the supplier sent it. All data here is invented."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from flows import steps
from flows.home import Home
from sources.archive import Ledger
from tests.conftest import police_csv, write_map

GOOD_ROWS = [
    "OCC1,MISPER,01/03/2026 10:00,01/03/2026 08:00,01/03/2026 20:00,,,,NOM1,Ava,Stone,"
    "03/04/2012,Female,W1,IC1,ZX1 1AA",
    "OCC2,MISPER,05/03/2026 10:00,05/03/2026 08:00,05/03/2026 21:00,,,,NOM2,Leo,Marsh,"
    "11/09/2011,Male,W1,IC1,ZX2 2BB",
]
DAY1 = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)


def _home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home").ensure()
    write_map(home.maps)
    return home


def _deliver(home: Home, name: str, text: str) -> None:
    folder = home.inbox / "police"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def _ingest(home: Home, receipts, run_id: str) -> list[steps.ExtractOutcome]:
    build = steps.new_build(home, run_id, as_of=date(2026, 3, 31), settings={})
    return [steps.ingest_extract(build, home, r, seq, date(2026, 4, 1))
            for seq, r in enumerate(receipts, start=1)]


def test_truncated_redelivery_falls_back_to_the_previous_good_delivery(tmp_path):
    home = _home(tmp_path)
    _deliver(home, "rms_march.csv", police_csv(GOOD_ROWS))
    steps.receive(home, now=DAY1)
    truncated = police_csv(GOOD_ROWS[:1]) + 'OCC9,MISPER,"01/03/2026 10:00\n'
    _deliver(home, "rms_march_resent.csv", truncated)
    (receipt,) = steps.receive(home, now=DAY1 + timedelta(days=1))
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
    assert outcomes[0].extract_id in Ledger(home.root).unusable_hashes()


def test_receipt_check_names_the_delivered_file(tmp_path):
    home = _home(tmp_path)
    _deliver(home, "invoices_paid.csv", "Invoice,Amount\n1,2.50\n")
    (receipt,) = steps.receive(home, now=DAY1)
    assert receipt.status == "rejected"
    assert receipt.problem.startswith("invoices_paid.csv: ")
    assert receipt.sha256 not in receipt.problem
