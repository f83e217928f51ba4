"""The demo's statutory returns (sources/synth/returns.py): `joinedup synth` and `demo` write
social care as a CIN census XML and an SSDA903 set and school as termly school census sets by
default, the readers take every one of them, and a night's run on them loads every row or
quarantines it and publishes the indicators they carry.

Everything generated here is invented; the population is small so the file runs in seconds
(the nightly run at the end starts Prefect, so it is marked slow).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from expectations.validate import validate_extract
from flows.home import Home
from sources.codes import load_table
from sources.column_maps import load_maps
from sources.extract import read_extract
from sources.statutory.cin_census import CinCensusSource
from sources.statutory.formats import open_statutory
from sources.statutory.school_census import SchoolCensusSetSource
from sources.statutory.ssda903 import Ssda903SetSource
from sources.synth import generate
from sources.synth.config import load

AS_OF = date(2026, 10, 31)
SEED = 3
CHILDREN = 2500
NAMES = re.compile(rb"<(Forename|Surname|PersonName|GivenName|FamilyName)\b")


@pytest.fixture(scope="module")
def statutory(tmp_path_factory):
    home = Home(tmp_path_factory.mktemp("statutory") / "home")
    summary = generate(home.inbox, home.truth_records, home.population, children=CHILDREN,
                       seed=SEED, as_of=AS_OF, file_format="statutory",
                       alternatives=home.root / "alternative_inbox")
    return home, summary


def _deliveries(home: Home, source: str) -> list[Path]:
    return sorted((home.inbox / source).iterdir())


def test_social_care_and_school_are_written_as_returns_and_police_and_yot_natively(statutory):
    home, summary = statutory
    care = _deliveries(home, "social_care")
    assert [p.name for p in care] == ["cin_census_2026_20261031.xml", "ssda903_2026_20261031"]
    assert sorted(p.name for p in care[1].iterdir()) == ["episodes.csv", "header.csv",
                                                         "missing.csv"]
    school = _deliveries(home, "school")
    # four terms, each a census of the council's schools and one of its pupil referral unit
    assert len(school) == 8 and all(p.is_dir() for p in school)
    assert [p.suffix for p in _deliveries(home, "police") + _deliveries(home, "yot")] == [
        ".csv", ".csv"]
    inbox = {p for p in summary["rows"] if not p.startswith("alternative_inbox/")}
    assert inbox == {str(p.relative_to(home.inbox)) for p in
                     care + school + _deliveries(home, "police") + _deliveries(home, "yot")}


def test_each_return_is_taken_by_its_statutory_reader_with_the_year_in_its_header(statutory):
    home, _ = statutory
    cin, lac = _deliveries(home, "social_care")
    census = open_statutory(cin, cin.name)
    assert isinstance(census, CinCensusSource)
    census.peek()
    assert census.header.record()["schema_year"] == 2026
    assert census.header.record()["schema_year_from"] == "header"
    assert isinstance(open_statutory(lac, lac.name), Ssda903SetSource)
    for folder in _deliveries(home, "school"):
        source = open_statutory(folder, folder.name)
        assert isinstance(source, SchoolCensusSetSource)
        source.peek()
        assert source.header.fields["term"] in ("AUT", "SPR", "SUM")


def test_the_census_and_the_903_carry_no_names_and_school_age_children_carry_a_upn(statutory):
    home, _ = statutory
    cin, lac = _deliveries(home, "social_care")
    assert NAMES.search(cin.read_bytes()) is None
    assert "SURNAME" not in (lac / "header.csv").read_text().upper()
    children = cin.read_text().count("<Child>")
    with_upn = cin.read_text().count("<UPN>")
    unknown = len(re.findall(r"<UPNunknown>UN[15]</UPNunknown>", cin.read_text()))
    assert with_upn + unknown == children and with_upn > children / 2


def test_truth_names_every_record_of_the_returns(statutory):
    """Every LA child id of the census and the 903, and every UPN on a school roll, is a truth
    record, so `joinedup evaluate` scores the statutory demo as it does the native one."""
    home, _ = statutory
    truth = home.truth_records.read_text()
    cin, lac = _deliveries(home, "social_care")
    ids = set(re.findall(r"<LAchildID>([^<]+)</LAchildID>", cin.read_text()))
    ids |= {line.split(",")[0] for line in (lac / "header.csv").read_text().splitlines()[1:]}
    upns = set()
    for folder in _deliveries(home, "school"):
        (roll,) = folder.glob("*_pupilonroll.csv")
        upns |= {line.split(",")[1] for line in roll.read_text().splitlines()[1:]}
    recorded = {tuple(line.split(",")[:2]) for line in truth.splitlines()[1:]}
    assert {("social_care", i) for i in ids} <= recorded
    assert {("school", u) for u in upns} <= recorded


def test_the_annex_a_workbook_beside_the_inbox_holds_the_same_records_and_loads_whole(
        statutory):
    """Annex A holds the census's and the 903's events again, so it is written beside the
    inbox; read as the run reads it, every row loads and its children are the census's."""
    home, summary = statutory
    (annex,) = (home.root / "alternative_inbox" / "social_care").iterdir()
    assert "alternative_inbox/social_care/" + annex.name in summary["rows"]
    extract = read_extract(annex, "social_care", load_maps(), annex.name)
    assert extract.cmap.name == "annex_a"
    result = validate_extract(extract.mapped, AS_OF, "social_care.annex_a")
    assert extract.rows_in == len(result.good) + len(result.quarantined_rows)
    # the only rows refused are plans the generator starts after the extract date (as the
    # native export has them too)
    assert set(result.failures["column_name"]) <= {"start_at"}
    assert all(v > AS_OF.isoformat() for v in result.failures["value"])
    frame = extract.mapped.frame
    cin, lac = _deliveries(home, "social_care")
    known = set(re.findall(r"<LAchildID>([^<]+)</LAchildID>", cin.read_text()))
    known |= {line.split(",")[0] for line in (lac / "header.csv").read_text().splitlines()[1:]}
    assert set(frame["person_ref"]) <= known
    types = set(frame["event_type"])
    assert {"REFERRAL", "ASSESSMENT", "LAC_EPISODE", "PLACEMENT", "CP_PLAN"} <= types
    looked_after = frame[frame["event_type"] == "LAC_EPISODE"]
    assert looked_after["rhi_offered"].notna().any()     # the last missing episode's interview


def test_the_returns_codes_mean_in_the_readers_maps_what_the_generator_meant():
    """The factor, placement and exclusion codes the generator writes (data/returns.yaml) map
    back through the built-in maps to the values it started from; a placement that counts as
    unsupported housing still does."""
    returns, maps = load("returns"), load_maps()
    factors = maps["cin_census"].columns["factors"].codes
    assert {canonical: factors[code] for canonical, code in
            returns["cin_census"]["factors"].items()} == {
        c: c for c in returns["cin_census"]["factors"]}
    places = maps["ssda903"].columns["placement_type"].codes
    housing = {c for c, v in load_table("placement_type").codes.items()
               if v.get("unsupported_housing")}
    for canonical, code in returns["ssda903"]["place"].items():
        assert (places[code] in housing) == (canonical in housing), (canonical, code)
    school = maps["school_census"].columns
    for canonical, code in returns["school_census"]["exclusion_category"].items():
        assert school["exclusion_category"].codes[code] == canonical
    for canonical, code in returns["school_census"]["exclusion_reason"].items():
        assert school["exclusion_reason"].codes[code] == canonical


def test_joinedup_synth_writes_the_returns_by_default_and_the_native_layout_when_asked(
        tmp_path):
    from flows.cli import app

    common = ["--children", "300", "--seed", "1", "--as-of", AS_OF.isoformat()]
    result = CliRunner().invoke(app, ["synth", str(tmp_path / "default"), *common])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "default/inbox/social_care/cin_census_2026_20261031.xml").is_file()
    result = CliRunner().invoke(app, ["synth", str(tmp_path / "native"), *common,
                                      "--format", "native"])
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "native/inbox/social_care").iterdir()] == [
        "casebook_events_20261031.csv"]
    result = CliRunner().invoke(app, ["synth", str(tmp_path / "old"), *common,
                                      "--census-year", "2031"])
    shown = re.sub(r"[\s│╭╮╰╯─]+", " ", result.output)      # the message as one line
    assert result.exit_code == 2 and "schema years are 2017 to 2026" in shown


@pytest.mark.slow
def test_a_night_on_the_returns_loads_every_row_and_publishes_their_indicators(
        prefect_harness, statutory):
    from flows.nightly import nightly

    home, summary = statutory
    home.settings_file.write_text("inbox: {settle_seconds: 0}\n")
    state = nightly(home=str(home.root), as_of=AS_OF, return_state=True)
    assert state.is_completed(), state.message
    run = state.result()
    maps = {e["file_name"]: e["map_name"] for e in run["extracts"]}
    assert maps["cin_census_2026_20261031.xml"] == "cin_census"
    assert maps["ssda903_2026_20261031"] == "ssda903"
    assert [m for f, m in maps.items() if f.startswith("school_census_")] == [
        "school_census"] * 8
    for extract in run["extracts"]:
        assert extract["status"] == "loaded", extract
        assert extract["rows_in"] == extract["rows_loaded"] + extract["rows_quarantined"]
    quarantined = {e["file_name"]: e["rows_quarantined"] for e in run["extracts"]}
    assert sum(q for f, q in quarantined.items() if f.startswith("school_census_")) >= \
        summary["faulty_rows"]["school"]
    con = duckdb.connect(str(home.live), read_only=True)
    try:
        from_care = dict(con.execute(
            "SELECT indicator, count(DISTINCT person_id) FROM mart.child_indicator "
            "WHERE list_contains(sources, 'social_care') GROUP BY indicator").fetchall())
        children = con.execute("SELECT count(DISTINCT person_id) FROM mart.child_indicator"
                               ).fetchone()[0]
        table9 = con.execute("SELECT children_at_least_k FROM publish.table9_indicators "
                             "WHERE k = 1").fetchone()[0]
        datasets = con.execute("SELECT datasets_present FROM publish.table8_datasets "
                               "WHERE k = 1").fetchone()[0]
    finally:
        con.close()
    # referral factors from the census's assessments (CSE or gangs), plans, and looked-after
    # episodes, placements and missing periods from the 903 all reach the indicators
    assert {"I04", "I05"} & set(from_care), from_care
    assert {"I02", "I27", "I28", "I31"} <= set(from_care), from_care
    assert table9 == str(children)
    assert {"CP", "LAC", "MISSING_LA", "SCHOOL_ABSENCE"} <= set(datasets.split(", "))
