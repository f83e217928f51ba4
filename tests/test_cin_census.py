"""The CIN census XML reader (issue 11, part 1): every schema year, factor codes as indicators,
the header in the ledger, and hostile or broken files refused whole with the element named.
Synthetic returns only (sources.synth.statutory)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from expectations.validate import validate_extract
from flows import steps
from flows.home import Home
from sources.archive import Ledger
from sources.column_maps import load_maps
from sources.errors import ExtractError
from sources.extract import read_extract
from sources.synth.statutory import cin_child_xml, cin_header_xml, write_cin_census

MAPS = load_maps()


def _read(path: Path):
    return read_extract(path, "social_care", MAPS, path.name)


def _xml(tmp_path: Path, body: str, name: str = "cin.xml", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(body.encode(encoding))
    return path


def _one_child(tmp_path: Path, factors: list[str], year: int = 2026) -> Path:
    child = cin_child_xml({"id": "SYN1", "upn": "Y201123425001", "female": True,
                           "dob": date(2012, 1, 2), "referral": date(2025, 6, 1),
                           "ethnicity": "WBRI", "factors": factors, "cp": True,
                           "missing": False, "place": "U1"}, year)
    return _xml(tmp_path, f"<Message>{cin_header_xml(year)}<Children>{child}</Children>"
                          "</Message>")


@pytest.mark.parametrize("year", range(2017, 2027))
def test_every_schema_year_reads_and_validates_with_no_row_quarantined(tmp_path, year):
    path = write_cin_census(tmp_path / f"cin_{year}.xml", 8, year)
    extract = _read(path)
    frame = extract.mapped.frame
    assert extract.cmap.name == "cin_census"
    assert set(frame["event_type"]) >= {"REFERRAL", "ASSESSMENT", "CP_PLAN", "S47_ENQUIRY"}
    assert ("CIN_PLAN" in set(frame["event_type"])) == (year >= 2022)
    assert frame["sex"].isin(["M", "F"]).all()          # GenderCurrent 1/2 and Sex M/F alike
    assert frame["person_ref"].nunique() == 8 and frame["upn"].notna().all()
    if year in (2024, 2025):     # validation costs a second: the last GenderCurrent, first Sex
        result = validate_extract(extract.mapped, date(year, 4, 5), "social_care.cin_census")
        assert result.quarantined_rows == []


def test_factor_codes_become_the_catalogue_factors_on_referrals_and_assessments(tmp_path):
    path = _one_child(tmp_path, ["11A", "13A", "24A", "10A", "12A", "19B"])
    frame = _read(path).mapped.frame.set_index("event_type")
    expected = ["CCE", "CSE", "GANGS", "MISSING", "OTHER", "TRAFFICKING"]
    assert frame.at["REFERRAL", "factors"] == expected
    assert frame.at["ASSESSMENT", "factors"] == expected
    assert frame.at["ASSESSMENT", "cp_followed"] == True  # noqa: E712 - a nullable boolean
    assert frame.at["CP_PLAN", "cp_category"] == "SAB"
    assert frame.at["REFERRAL", "factors_raw"] == "10A,11A,12A,13A,19B,24A"


@pytest.mark.parametrize("factors", [["21"], []])
def test_no_factors_code_21_and_an_empty_factor_list_give_no_factor(tmp_path, factors):
    frame = _read(_one_child(tmp_path, factors)).mapped.frame.set_index("event_type")
    assert frame.loc[["REFERRAL", "ASSESSMENT"], "factors"].isna().all()


def test_the_year_comes_from_the_header_or_else_from_the_elements_used(tmp_path):
    from sources.statutory.cin_census import CinCensusSource

    with_header = CinCensusSource(write_cin_census(tmp_path / "a.xml", 2, 2019))
    with_header.read()
    assert with_header.header.year == 2019 and with_header.header.year_from == "header"
    bare = CinCensusSource(write_cin_census(tmp_path / "b.xml", 2, 2025, header=False))
    bare.read()
    assert bare.header.year == 2025 and bare.header.year_from == "elements"


def test_a_namespaced_and_utf16_file_with_a_bom_reads_the_same(tmp_path):
    plain = write_cin_census(tmp_path / "plain.xml", 4, 2024)
    text = plain.read_text().replace('encoding="UTF-8"', 'encoding="UTF-16"').replace(
        "<Message>", '<Message xmlns="http://www.dfe.gov.uk/CIN">')
    utf16 = tmp_path / "utf16.xml"
    utf16.write_bytes(text.encode("utf-16"))          # with its byte-order mark
    bom = tmp_path / "bom.xml"
    bom.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    expected = _read(plain).mapped.frame["record_id"].tolist()
    assert _read(utf16).mapped.frame["record_id"].tolist() == expected
    assert _read(bom).mapped.frame["record_id"].tolist() == expected


@pytest.mark.parametrize("year", ["2016", "2027", "twenty"])
def test_an_unknown_schema_year_is_refused_naming_the_element(tmp_path, year):
    path = write_cin_census(tmp_path / "cin.xml", 2, 2026)
    path.write_text(path.read_text().replace("<Year>2026</Year>", f"<Year>{year}</Year>"))
    with pytest.raises(ExtractError) as err:
        _read(path)
    assert str(err.value).startswith(f"cin.xml: Header/CollectionDetails/Year is '{year}', a "
                                     "schema year Joined Up does not know (it reads the CIN "
                                     "census of 2017 to 2026)")


def test_a_truncated_file_is_refused_naming_the_child_it_stopped_in(tmp_path):
    path = write_cin_census(tmp_path / "cin.xml", 5, 2026)
    data = path.read_bytes()
    cut = data.index(b"<Child>", data.index(b"<Child>", data.index(b"<Child>") + 1) + 1) + 60
    path.write_bytes(data[:cut])
    with pytest.raises(ExtractError) as err:
        _read(path)
    message = str(err.value)
    assert "cin.xml: the XML is not well formed at line" in message
    assert "(inside Message/Children[1]/Child[3]/ChildIdentifiers[1]" in message
    assert "the file ends before its elements are closed (truncated)" in message


def test_a_malformed_element_is_refused_with_its_line_and_place(tmp_path):
    path = write_cin_census(tmp_path / "cin.xml", 3, 2026)
    path.write_text(path.read_text().replace("</UPN>", "</UPNx>", 2))
    with pytest.raises(ExtractError, match=r"not well formed at line \d+, column \d+ \(inside "
                       r"Message/Children\[1\]/Child\[1\]/ChildIdentifiers\[1\]/UPN\[1\]\): "
                       "mismatched tag"):
        _read(path)


def test_an_entity_expansion_bomb_is_refused_unexpanded(tmp_path):
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    path = _xml(tmp_path, f'<?xml version="1.0"?><!DOCTYPE Message [<!ENTITY l0 "lol">{lol}]>'
                          "<Message><Children><Child>&l9;</Child></Children></Message>")
    with pytest.raises(ExtractError, match="declares a DOCTYPE.*refused unread"):
        _read(path)


def test_an_external_entity_pointing_at_a_local_file_is_never_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-VALUE")
    path = _xml(tmp_path, f'<?xml version="1.0"?><!DOCTYPE Message [<!ENTITY x SYSTEM '
                          f'"file://{secret}">]><Message><Children><Child><ChildIdentifiers>'
                          "<LAchildID>&x;</LAchildID></ChildIdentifiers></Child></Children>"
                          "</Message>")
    before = secret.stat().st_atime_ns
    with pytest.raises(ExtractError) as err:
        _read(path)
    assert "SECRET" not in str(err.value) and "refused" in str(err.value)
    assert secret.stat().st_atime_ns == before


def test_another_xml_file_is_refused_naming_its_root(tmp_path):
    path = _xml(tmp_path, "<Invoice><Line/></Invoice>")
    with pytest.raises(ExtractError, match="root element is <Invoice>"):
        _read(path)


def test_the_header_is_recorded_in_the_ledger_and_a_wrong_year_is_rejected_at_receipt(tmp_path):
    home = Home(tmp_path / "home").ensure()
    home.settings_file.write_text("inbox: {settle_seconds: 0}\n")
    (home.inbox / "social_care").mkdir()
    write_cin_census(home.inbox / "social_care" / "cin_2025.xml", 3, 2025)
    bad = write_cin_census(home.inbox / "social_care" / "cin_2031.xml", 3, 2026)
    bad.write_text(bad.read_text().replace("<Year>2026</Year>", "<Year>2031</Year>"))
    done = steps.receive(home, now=datetime(2025, 4, 10, 6, tzinfo=UTC))
    good, wrong = sorted(done.receipts, key=lambda r: r.file_name)
    assert good.status == "accepted" and good.map_name == "cin_census"
    (entry,) = [e for e in Ledger(home.ledger).entries() if e.get("file_name") == "cin_2025.xml"]
    assert {k: entry["header"][k] for k in ("la", "year", "reference_date", "software",
                                             "schema_year")} == {
        "la": "201", "year": "2025", "reference_date": "2025-03-31",
        "software": "JoinedUpSynth", "schema_year": 2025}
    assert wrong.status == "rejected" and "'2031', a schema year" in wrong.problem
