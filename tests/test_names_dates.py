"""Names written whole (linkage/names.py) and partial or historic dates of birth
(linkage/dates.py), and the comparison levels they reach. Invented names, small frames."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from linkage.comparisons import gamma_table_sql, parse_comparisons
from linkage.dates import partial_date
from linkage.features import build_features
from linkage.names import ParsedName, parse_full_name, person_names, strip_styles
from linkage.settings import load_settings
from warehouse.db import connect


@pytest.mark.parametrize(("text", "first", "middles", "last", "others"), [
    ("Orla Maeve Pennick", "Orla", ["Maeve"], "Pennick", []),
    ("Pennick, Orla Maeve", "Orla", ["Maeve"], "Pennick", []),
    ("tobias wrenfield, 3rd baron wrenfield of addlecombe", "tobias", [], "wrenfield",
     ["wrenfield", "addlecombe"]),
    ("toby 3rd baron wrenfield of addlecombe", "toby", [], "wrenfield", ["addlecombe"]),
    ("tobias of addlecombe", "tobias", [], "addlecombe", []),
    ("Mrs. Pennick", None, [], "Pennick", []),
    ("Dr Ines van der Berg Jr", "Ines", [], "van der Berg", []),
    ("2nd bt.", None, [], None, []),
])
def test_full_names_lose_titles_and_ordinals_and_keep_particles(text, first, middles, last,
                                                                 others):
    assert parse_full_name(text) == ParsedName(first, middles, last, others)


def test_a_title_or_ordinal_is_no_forename_and_a_full_name_gives_aliases():
    assert strip_styles("1st") is None and strip_styles("Sir Tobias") == "Tobias"
    names = person_names(pd.Series(["toby", "1st"]), None, pd.Series(["addlecombe", None]),
                         pd.Series(["tobias wrenfield, 3rd baron wrenfield of addlecombe",
                                    "orla maeve pennick"]), pd.RangeIndex(2))
    first = names.iloc[0]
    assert (first.first_name, first.last_name) == ("toby", "addlecombe")   # the columns win
    assert first.alias_first_names == ["tobias"]
    assert first.alias_last_names == ["wrenfield", "wrenfield"]
    second = names.iloc[1]
    assert (second.first_name, second.middle_names, second.last_name) == \
        ("orla", "maeve", "pennick")


@pytest.mark.parametrize(("text", "expected"), [
    ("1850", (date(1850, 1, 1), "year")),
    ("1850-03", (date(1850, 3, 1), "month")),
    ("03/1850", (date(1850, 3, 1), "month")),
    ("1858-08-00", (date(1858, 8, 1), "month")),     # day unknown (zeroed)
    ("1548-81-01", (date(1548, 1, 1), "year")),      # month impossible: the year stands
    ("31/02/1601", (date(1601, 2, 1), "month")),
    ("-0050-01-0", None), ("spring", None), (None, None),
])
def test_partial_dates_keep_what_they_know(text, expected):
    assert partial_date(text) == expected


def test_partial_and_historic_dates_reach_their_own_levels_never_a_disagreement():
    records = pd.DataFrame({
        "record_key": [f"r:{i}" for i in range(8)],
        "source": "r",
        "first_name": "ORLA", "last_name": "PENNICK",
        "dob": [date(1630, 8, 14), date(1630, 8, 1), date(1630, 8, 14), date(1630, 1, 1),
                date(1630, 5, 2), date(2290, 1, 2), date(2290, 1, 2), date(1640, 3, 3)],
        "dob_precision": [None, "month", None, "year", None, None, None, None],
    })
    con = connect()
    con.register("records_df", records)
    con.execute("CREATE TABLE records AS SELECT * FROM records_df")
    build_features(con, "records")
    con.execute("CREATE TEMP TABLE p AS SELECT * FROM (VALUES (0, 1, 0), (0, 2, 0), (0, 3, 0), "
                "(1, 4, 0), (3, 4, 0), (5, 6, 0), (0, 7, 0)) t(rid_l, rid_r, rule_no)")
    settings = load_settings()
    con.execute(gamma_table_sql(settings, "p", "g"))
    dob = next(c for c in parse_comparisons(settings) if c.name == "dob")
    levels = [dob.labels[g] for (g,) in con.execute(
        "SELECT gamma_dob FROM g ORDER BY rid_l, rid_r").fetchall()]
    # (1, 4): a known month that differs is a disagreement, but within a year
    assert levels == ["month_agrees", "exact", "year_agrees", "else", "within_year",
                      "year_agrees", "exact"]


def test_records_joined_through_a_third_are_not_kept_apart_for_want_of_evidence(tmp_path):
    """b and c share only their sex (one has forename and birth date, the other surname and
    postcode): their pair scores near the prior, far below cannot_link_probability, but nothing
    in it disagrees, so the guard must not refuse what a (the whole record) joins."""
    from typer.testing import CliRunner

    from flows.cli import app
    from tests.test_link_command import _background

    person = pd.DataFrame({
        "rec_id": ["a", "b", "c"], "first": ["Ossiana", "Ossiana", None],
        "last": ["Bredeworth", None, "Bredeworth"], "born": ["2010-05-06", "2010-05-06", None],
        "pc": ["ZX9 9ZZ", None, "ZX9 9ZZ"], "sex": "F", "school": ["Q-17", "Q-17", None]})
    background = _background(400)
    words = background["name"].str.split()
    background = background.assign(
        first=words.str[0], last=words.str[1], sex=["F", "M"] * (len(background) // 2),
        school=[f"S-{i}" for i in range(len(background))]).drop(columns=["name"])
    path = tmp_path / "register.csv"
    pd.concat([person, background]).to_csv(path, index=False)
    out = tmp_path / "clusters.csv"
    result = CliRunner().invoke(app, [
        "link", str(path), "--id", "rec_id", "--out", str(out), "--map", "first_name=first",
        "--map", "last_name=last", "--map", "dob=born", "--map", "postcode=pc",
        "--map", "sex=sex", "--extra", "school"])
    assert result.exit_code == 0, result.output
    ids = pd.read_csv(out, dtype=str).set_index("record_id")["person_id"]
    assert ids["a"] == ids["b"] == ids["c"]
