"""Data Docs: each run's validations are written as static HTML into the home directory, with
counts only (no value from the extracts). All data here is invented."""

from __future__ import annotations

from datetime import UTC, date, datetime

from flows import steps
from flows.home import Home
from tests.conftest import police_csv, write_map

ROW = ("OCC{n},MISPER,01/03/2026 10:00,01/03/2026 08:00,01/03/2026 20:00,,,,NOM{n},Zorbelia,"
       "Quenthorpe,{dob},Female,W1,IC1,ZX1 1AA")


def test_validating_an_extract_writes_the_runs_data_docs_without_values(tmp_path):
    home = Home(tmp_path / "home").ensure()
    write_map(home.maps)
    folder = home.inbox / "police"
    folder.mkdir()
    (folder / "rms_march.csv").write_text(police_csv([
        ROW.format(n=1, dob="03/04/2012"), ROW.format(n=2, dob="31/02/2012")]))
    (receipt,) = steps.receive(home, now=datetime(2026, 3, 10, tzinfo=UTC))
    build = steps.new_build(home, "run42", as_of=date(2026, 3, 31), settings={})
    outcome = steps.ingest_extract(build, home, receipt, 1, date(2026, 4, 1))

    assert outcome.status == "loaded" and outcome.rows_quarantined == 1
    assert outcome.data_docs == "data-docs/run42/index.html"
    index = home.root / outcome.data_docs
    assert index.exists()
    html = index.read_text()
    assert "police.test_police_rms" in html
    pages = [p for p in index.parent.rglob("*.html")]
    assert any("validations" in p.parts for p in pages)
    assert any(p.name == "test_police_rms.html" and "expectations" in p.parts for p in pages)
    for page in pages:
        text = page.read_text()
        for value in ("Zorbelia", "Quenthorpe", "31/02/2012", "NOM1", "OCC1", "ZX1 1AA"):
            assert value not in text, (page.name, value)
