"""Data Docs: each run's validations are written as static HTML into the home directory, with
counts only (no value from the extracts). All data here is invented."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from html import unescape
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

from flows import steps
from flows.home import Home
from tests.builders.police_map import police_csv, write_map

ROW = ("OCC{n},MISPER,01/03/2026 10:00,01/03/2026 08:00,01/03/2026 20:00,,,,NOM{n},Zorbelia,"
       "Quenthorpe,{dob},Female,W1,IC1,ZX1 1AA")


def test_validating_an_extract_writes_the_runs_data_docs_without_values(tmp_path):
    home = Home(tmp_path / "home").ensure()
    write_map(home.maps)
    home.settings_file.write_text("inbox: {settle_seconds: 0}\n")
    folder = home.inbox / "police"
    folder.mkdir()
    (folder / "rms_march.csv").write_text(police_csv([
        ROW.format(n=1, dob="03/04/2012"), ROW.format(n=2, dob="31/02/2012")]))
    (receipt,) = steps.receive(home, now=datetime(2026, 3, 10, tzinfo=UTC)).receipts
    build = steps.new_build(home, "run42", as_of=date(2026, 3, 31))
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


class _Links(HTMLParser):
    """Every href/src of a page, with the tag it is on, and the text of its style blocks."""

    def __init__(self):
        super().__init__()
        self.links: list[tuple[str, str, str]] = []
        self.scripts = 0
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        self._in_style = tag == "style"
        for name, value in attrs:
            if name in ("href", "src") and value is not None:
                self.links.append((tag, name, value))
            if name == "style" and value:
                self.styles.append(value)

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


def _run_two_extracts(tmp_path) -> Home:
    home = Home(tmp_path / "home").ensure()
    write_map(home.maps)
    home.settings_file.write_text("inbox: {settle_seconds: 0}\n")
    folder = home.inbox / "police"
    folder.mkdir()
    (folder / "rms march.csv").write_text(police_csv([
        ROW.format(n=1, dob="03/04/2012"), ROW.format(n=2, dob="31/02/2012")]))
    (folder / "rms_april.csv").write_text(police_csv([ROW.format(n=3, dob="05/06/2011")]))
    receipts = steps.receive(home, now=datetime(2026, 3, 10, tzinfo=UTC)).receipts
    build = steps.new_build(home, "run43", as_of=date(2026, 3, 31))
    outcomes = [steps.ingest_extract(build, home, r, seq, date(2026, 4, 1))
                for seq, r in enumerate(receipts, start=1)]
    assert sorted(o.rows_quarantined for o in outcomes) == [0, 1]
    return home


def test_every_link_in_the_data_docs_resolves_to_a_local_file(tmp_path):
    home = _run_two_extracts(tmp_path)
    root = home.root / "data-docs"
    pages = sorted(root.rglob("*.html"))
    assert root / "index.html" in pages and root / "run43" / "index.html" in pages
    checked = 0
    for page in pages:
        parser = _Links()
        parser.feed(page.read_text())
        assert parser.scripts == 0, page            # nothing to run, nothing to fetch
        for style in parser.styles:
            assert not re.search(r"url\(\s*['\"]?https?:", style), page
        for tag, _attr, value in parser.links:
            url = urlsplit(value)
            if url.scheme in ("http", "https"):
                # only links a reader may follow; nothing the page needs in order to render
                assert tag == "a", (page.relative_to(root), tag, value)
                continue
            if url.scheme or not url.path:          # mailto:, '#anchor'
                continue
            target = (page.parent / unquote(url.path)).resolve()
            assert target.is_file(), (page.relative_to(root), value)
            checked += 1
    assert checked > 20


def test_the_home_index_leads_to_each_validation_result(tmp_path):
    home = _run_two_extracts(tmp_path)
    root = home.root / "data-docs"
    top = root / "index.html"
    parser = _Links()
    parser.feed(top.read_text())
    assert ("a", "href", "run43/index.html") in parser.links
    run_index = root / "run43" / "index.html"
    text = run_index.read_text()
    parser = _Links()
    parser.feed(text)
    results = [v for t, _, v in parser.links if v.startswith("validations/")]
    assert len(results) == 2
    assert all((run_index.parent / unquote(v)).is_file() for v in results)
    assert any("rms%20march.csv" in v for v in results)        # spaces survive as %20
    assert "dob must be a date in the map's format: 1 row(s)" in unescape(text)
    assert "rows quarantined" in text and "Zorbelia" not in text
