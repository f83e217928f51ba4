import re
from datetime import date

import pytest

from expectations.suites import FORMULA_LIKE, build_suite
from expectations.validate import validate_extract
from sources.column_maps import choose_map, load_maps
from sources.kinds import get_kind
from sources.mapping import apply_map
from sources.readers import open_source
from tests.builders.police_map import police_csv

GOOD = ("OCC{n},MISPER,01/02/2026 10:30,01/02/2026 08:00,02/02/2026 09:15,,N,,NOM{n},Ava,Stone,"
        "03/04/2012,F,W1,IC1,ZX4 7QP")
RUN_DATE = date(2026, 10, 31)


def _validate(tmp_path, maps_dir, rows):
    path = tmp_path / "police.csv"
    path.write_text(police_csv(rows))
    source = open_source(path)
    cmap, header_row = choose_map(source.peek(), "police", load_maps([maps_dir]), path.name)
    mapped = apply_map(source.read(header_row), cmap, path.name)
    return mapped, validate_extract(mapped, RUN_DATE, "police.test")


def test_clean_rows_all_pass(tmp_path, police_map_dir):
    mapped, result = _validate(tmp_path, police_map_dir, [GOOD.format(n=i) for i in range(3)])
    assert result.success and result.failures.empty and len(result.good) == 3


def test_each_broken_rule_quarantines_its_row_with_the_rule_and_raw_value(tmp_path,
                                                                          police_map_dir):
    rows = [
        GOOD.format(n=1),                                                   # row 2: fine
        GOOD.format(n=2).replace("03/04/2012", "31/02/2012"),               # 3: bad date
        GOOD.format(n=3).replace("03/04/2012", "03/04/1970"),               # 4: an adult
        GOOD.format(n=4).replace("01/02/2026 10:30", "01/02/2027 10:30"),   # 5: future report
        GOOD.format(n=5).replace(",F,", ",Robot,"),                         # 6: unknown code
        GOOD.format(n=6).replace("02/02/2026 09:15", "31/01/2026 09:15"),   # 7: found before lost
        GOOD.format(n=7).replace("NOM7", ""),                               # 8: no person id
        GOOD.format(n=1),                                                   # 9: duplicate id
        GOOD.format(n=9).replace(",,N,,", ",,N,-2,"),                       # 10: negative count
    ]
    mapped, result = _validate(tmp_path, police_map_dir, rows)
    by_row = result.failures.groupby("row_number")["rule"].apply(set).to_dict()
    assert set(by_row) == {2, 3, 4, 5, 6, 7, 8, 9, 10}
    assert any("dob must be a date" in r for r in by_row[3])
    assert any("plausible for a child" in r for r in by_row[4])
    assert any("reported_at must not be after" in r for r in by_row[5])
    assert any("sex must be a code" in r for r in by_row[6])
    assert any("found_at must not be before missing_since" in r for r in by_row[7])
    assert any("person_ref is required" in r for r in by_row[8])
    assert by_row[2] == by_row[9] == {"record_id must be unique in the file"}
    assert any("at least 0" in r for r in by_row[10])
    bad_date = result.failures[result.failures.row_number == 3]
    assert bad_date["value"].tolist() == ["31/02/2012"]
    assert len(result.good) + len(result.quarantined_rows) == mapped.rows_in == 9


def test_malformed_postcode_warns_without_quarantine(tmp_path, police_map_dir):
    mapped, result = _validate(tmp_path, police_map_dir,
                               [GOOD.format(n=1).replace("ZX4 7QP", "nowhere")])
    assert result.success and len(result.good) == 1
    assert result.warnings == {"postcode must be a UK postcode": 1}


def test_suite_only_checks_columns_the_map_provides():
    suite = build_suite(get_kind("yot"), ["record_id", "assessment_date", "person_ref"],
                        RUN_DATE, "yot.partial")
    columns = {e.meta["column"] for e in suite.expectations}
    assert columns == {"record_id", "assessment_date", "person_ref"}


def test_code_list_not_yet_in_force_at_the_extract_date_is_quarantined(tmp_path):
    # an extract made in January 2024 cannot carry the M/F/U list that began in April 2024
    from tests.builders.police_map import POLICE_MAP, write_map

    maps = tmp_path / "maps"
    write_map(maps, POLICE_MAP.replace("translate: sex.words", "translate: sex.mfu"))
    row = GOOD.replace("01/02/2026", "10/01/2024").replace("02/02/2026", "11/01/2024")
    path = tmp_path / "police.csv"
    path.write_text(police_csv([row.format(n=1), row.format(n=2).replace(",F,", ",,")]))
    source = open_source(path)
    cmap, header_row = choose_map(source.peek(), "police", load_maps([maps]), path.name)
    mapped = apply_map(source.read(header_row), cmap, path.name)
    result = validate_extract(mapped, date(2024, 1, 31), "police.early")
    assert result.failures.to_records(index=False).tolist() == [
        (2, "sex", "code_not_valid_for_date: sex code is from sex.mfu (valid from 2024-04-01), "
                   "which starts after the extract date", "F")]
    assert len(result.good) + len(result.quarantined_rows) == mapped.rows_in == 2


def test_a_kind_without_an_event_date_judges_codes_at_the_extract_date():
    suite = build_suite(get_kind("school"), ["record_id", "person_ref", "sex"], RUN_DATE,
                        "school.old_sex", code_lists={"sex": "sex.cin_gender_current"})
    (check,) = [e for e in suite.expectations
                if e.meta["rule"].startswith("code_not_valid_for_date")]
    assert check.column == "sex__code" and sorted(check.value_set) == ["0", "1", "2", "9"]
    assert check.meta["rule"] == ("code_not_valid_for_date: sex code is from "
                                  "sex.cin_gender_current (valid to 2024-03-31), which ended "
                                  "before the extract date")


def test_columns_mapped_with_inline_codes_get_no_date_check(tmp_path, police_map_dir):
    mapped, result = _validate(tmp_path, police_map_dir, [GOOD.format(n=1)])
    assert mapped.code_lists == {"sex": "sex.words",
                                 "ethnicity": "ethnicity.police_sde_18plus1",
                                 "ethnicity_observed": "police_observed_ethnicity.ic_codes"}
    assert "occurrence_type" not in mapped.code_lists        # `codes:` inline in the map


@pytest.mark.parametrize(("value", "formula"), [
    ("=1+1", True), ("@SUM(A1:A9)", True), ("+cmd|' /C calc'!A0", True), ("-2+3", True),
    ('=HYPERLINK("http://x.invalid","y")', True), ("-Quell", True), ("Row 1\n=A1", True),
    ("Ann\t@x", True),
    ("Fennimore-Oak", False), ("Anne-Marie", False), ("12-14 Quillon Row", False),
    ("-4102", False), ("+77", False), ("-12.5", False), ("O'Varrick-Lunn", False),
    ("a=b", False), ("NOM1", False),
])
def test_formula_like_pattern(value, formula):
    assert bool(re.search(FORMULA_LIKE, value)) is formula


def test_period_rules_on_29_february():
    from sources.common.periods import default_as_of, reporting_period, years_before

    assert years_before(date(2024, 2, 29), 1) == date(2023, 2, 28)
    assert years_before(date(2024, 2, 29), 4) == date(2020, 2, 29)
    assert reporting_period(date(2024, 2, 29)) == (date(2023, 3, 1), date(2024, 2, 29))
    assert reporting_period(date(2026, 10, 31)) == (date(2025, 11, 1), date(2026, 10, 31))
    assert default_as_of(date(2026, 3, 1)) == date(2026, 2, 28)
    assert default_as_of(date(2024, 3, 15)) == date(2024, 2, 29)


def test_validation_settings_merge_deeply():
    from sources.common.mappings import deep_merge

    base = {"max_age_years": 25, "nested": {"a": 1, "b": [1, 2]}}
    merged = deep_merge(base, {"nested": {"b": [3]}, "max_age_years": 18})
    assert merged == {"max_age_years": 18, "nested": {"a": 1, "b": [3]}}
    assert base == {"max_age_years": 25, "nested": {"a": 1, "b": [1, 2]}}
