"""Clerical review: the queue, reviewers' decisions, and decisions overriding the model on the
next nightly build. All records are invented (tests/test_linkage.py's fictional households).

The warehouse here is built the way the nightly flow builds it, step by step without Prefect:
a build file with staging.person_record, `steps.link` (which reads the decisions from the home),
then the atomic swap; a second build is the "rebuild" the decisions must survive.
"""

from __future__ import annotations

import re
import stat

import pandas as pd
import pytest
from typer.testing import CliRunner

from flows import steps
from flows.cli import app
from flows.home import Home
from flows.settings import HomeSettings
from linkage import run_linkage
from linkage.decisions import append_decisions, load_latest, read_decisions
from linkage.evaluate import evaluate_decisions
from tests.builders.linkage_records import DUPLICATES, TWINS, background, load_staging, person
from warehouse import swap
from warehouse.db import connect
from warehouse.schema import create_schema

runner = CliRunner()

# A third record of the child in DUPLICATES' D2 pair, so that a non-match decision between two of
# the three must be enforced by the clustering (both still link to the third).
D2_AGAIN = person("education:D2", "JASMINE", "PATTERSON", "2013-02-14", "F", "ZX3 8HN",
                  "77 LINNET ROAD")
RECORDS = background(60) + TWINS + DUPLICATES + [D2_AGAIN]
# Everything identifying in RECORDS, as it could be printed.
PERSONAL = sorted({str(r[k]) for r in RECORDS
                   for k in ("first_name", "last_name", "dob", "postcode", "address")
                   if r[k] is not None}
                  | {r["dob"].strftime("%d/%m/%Y") for r in RECORDS if r["dob"]})
# Queue everything below the threshold, so the listing has twins and siblings to show.
WIDE_QUEUE = {"review": {"low": 0.0, "include_vetoed": True, "include_vetoed_above": 0.0}}


def build(home: Home, run_id: str, records=RECORDS, settings=WIDE_QUEUE) -> dict:
    """One nightly build of the linkage part, published by the same swap as the flow's."""
    path = home.build(run_id)
    con = connect(path)
    try:
        create_schema(con)
        load_staging(con, records)
    finally:
        con.close()
    summary = steps.link(path, home, HomeSettings(linkage=settings))
    swap.publish_build(path, home.live, keep=3)
    return summary


def people(home: Home) -> dict[str, str]:
    con = connect(home.live, read_only=True)
    try:
        return dict(con.execute("SELECT record_key, person_id FROM linkage.person").fetchall())
    finally:
        con.close()


def cli(*args: str):
    result = runner.invoke(app, ["review", *args], env={"COLUMNS": "250"})
    return result, " ".join(result.output.split())


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    """A first build, three decisions through the command line, a second build that applies
    them, and a third built from scratch (the rebuild)."""
    home = Home(tmp_path_factory.mktemp("review") / "home").ensure()
    first = build(home, "run1")
    before = people(home)
    listing, listing_text = cli("list", "--home", str(home.root), "--limit", "500")
    decided = [
        # two children the model never compared: forced together
        ("education:B000", "education:B003", "--match"),
        # a duplicate the model links (a nickname): forced apart
        ("social:D1", "health:D1", "--non-match"),
        # two of three records that all link: kept apart although both link to the third
        ("health:D2", "education:D2", "--non-match"),
    ]
    outputs = [cli("decide", left, right, flag, "--home", str(home.root), "--by", "reviewer1",
                   "--note", "checked in the source systems") for left, right, flag in decided]
    second = build(home, "run2")
    after = people(home)
    third = build(home, "run3")
    return {"home": home, "first": first, "before": before, "listing": listing,
            "listing_text": listing_text, "outputs": outputs, "second": second,
            "after": after, "third": third, "rebuilt": people(home)}


def test_list_shows_ids_scores_and_levels_but_no_personal_data(reviewed):
    result, text = reviewed["listing"], reviewed["listing_text"]
    assert result.exit_code == 0, result.output
    # the queue is not empty: the twins are in it, by record key, with their comparison levels
    assert "health:T1" in text and "health:T2" in text and "twin_rule" in text
    assert "first_name jw_mid" in text or "first_name else" in text
    assert "dob exact" in text and "pairs waiting for a decision" in text
    leaked = [value for value in PERSONAL if value in result.output]
    assert not leaked, leaked


def test_list_shows_why_each_pair_scored_as_a_waterfall(reviewed):
    """Under each pair's weight, the prior's and every comparison's part of it, which add up to
    the weight (item 7: why a pair scored as it did). Read from the whitespace-joined listing,
    since the terminal's width decides where its lines wrap."""
    blocks = re.findall(r"weight ([+-]\d+\.\d+) · people \S+ / \S+ (prior .*?)"
                        r"(?= \d+\. \S+:\S+ | [\d,]+ pairs waiting)", reviewed["listing_text"])
    assert blocks
    for weight, waterfall in blocks:
        parts = [float(x) for x in re.findall(r"(?<!\S)([+-]\d+\.\d+)(?!\S)", waterfall)]
        assert len(parts) >= 3, waterfall
        assert sum(parts) == pytest.approx(float(weight), abs=0.006 * len(parts)), waterfall


def test_decide_writes_an_owner_only_file_outside_the_warehouse(reviewed):
    home = reviewed["home"]
    for result, text in reviewed["outputs"]:
        assert result.exit_code == 0, result.output
        assert "applies from the next run" in text
    path = home.decisions
    assert path.parent == home.root / "review"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.root.stat().st_mode) == 0o700
    stored = read_decisions(path)
    assert len(stored) == 3 and set(stored["by"]) == {"reviewer1"}
    # keys are stored smaller first, whatever order the reviewer typed them in
    assert ("health:D1", "social:D1") in set(zip(stored["record_key_l"], stored["record_key_r"],
                                                  strict=True))


def test_decisions_override_the_model_both_ways_on_the_next_run(reviewed):
    before, after = reviewed["before"], reviewed["after"]
    assert before["education:B000"] != before["education:B003"]
    assert after["education:B000"] == after["education:B003"]
    assert before["health:D1"] == before["social:D1"]
    assert after["health:D1"] != after["social:D1"]
    # D2: all three records linked before; after, the two decided apart are in different people
    assert before["health:D2"] == before["education:D2"] == before["police:D2"]
    assert after["health:D2"] != after["education:D2"]
    counts = reviewed["second"]["review_decisions"]
    assert counts == {"given": 3, "applied": 3, "match": 1, "non_match": 2,
                      "records_not_found": 0, "pairs_added": 1, "not_honoured": 0}
    assert reviewed["first"]["review_decisions"]["given"] == 0
    con = connect(reviewed["home"].live, read_only=True)
    try:
        pairs = dict(((kl, kr), (p, rule, block)) for kl, kr, p, rule, block in con.execute(
            "SELECT record_key_l, record_key_r, match_probability, match_rule, blocking_rule "
            "FROM linkage.pair WHERE match_rule LIKE 'review%'").fetchall())
    finally:
        con.close()
    assert pairs[("education:B000", "education:B003")] == (1.0, "review_match", "review")
    assert pairs[("health:D1", "social:D1")][:2] == (0.0, "review_non_match")


def test_decisions_survive_a_rebuild_and_decided_pairs_leave_the_queue(reviewed):
    rebuilt = reviewed["rebuilt"]
    assert reviewed["third"]["review_decisions"]["applied"] == 3
    assert rebuilt["education:B000"] == rebuilt["education:B003"]
    assert rebuilt["health:D1"] != rebuilt["social:D1"]
    assert rebuilt["health:D2"] != rebuilt["education:D2"]
    # person ids carried across the rebuild for the records no decision touched
    assert rebuilt["health:T1"] == reviewed["after"]["health:T1"]
    result, text = cli("list", "--home", str(reviewed["home"].root), "--limit", "500")
    assert result.exit_code == 0
    assert "health:D1" not in text and "education:B000" not in text
    assert "health:T1" in text


def test_latest_decision_wins(tmp_path):
    path = Home(tmp_path).decisions
    append_decisions(path, [{"record_key_l": "b:2", "record_key_r": "a:1", "decision": "match"}])
    append_decisions(path, [{"record_key_l": "a:1", "record_key_r": "b:2",
                             "decision": "non-match"}])
    with path.open("a") as fh:                  # a crash cut the last line short
        fh.write('{"record_key_l": "a:1", "rec')
    latest = load_latest(path)
    assert latest[["record_key_l", "record_key_r", "decision"]].values.tolist() == [
        ["a:1", "b:2", "non_match"]]


def test_evaluate_counts_decisions_applied_and_held_out(reviewed, tmp_path):
    home = reviewed["home"]
    # decided after the last build: labels the published people have not seen
    held_out = [("health:T3", "social:T3", "match"),          # the model links them
                ("education:T1", "health:T1", "non_match")]   # the model links them too
    decisions = pd.concat([
        load_latest(home.decisions)[["record_key_l", "record_key_r", "decision"]],
        pd.DataFrame(held_out, columns=["record_key_l", "record_key_r", "decision"]),
    ], ignore_index=True)
    con = connect(home.live, read_only=True)
    try:
        result = evaluate_decisions(con, decisions, 0.95)
    finally:
        con.close()
    assert (result["decisions"], result["match"], result["non_match"]) == (5, 2, 3)
    applied = result["clusters_applied"]
    assert (applied["pairs"], applied["tp"], applied["fn"], applied["tn"], applied["fp"]) == (
        3, 1, 0, 2, 0)
    held = result["clusters_held_out"]
    assert (held["pairs"], held["tp"], held["fp"], held["precision"], held["recall"]) == (
        2, 1, 1, 0.5, 1.0)
    # the model alone: never compared B000/B003 (missed), linked D1, D2 and T1 (wrongly) and T3
    model = result["model"]
    assert (model["tp"], model["fn"], model["fp"], model["tn"]) == (1, 1, 3, 0)

    out, text = cli("evaluate", "--home", str(home.root))
    assert out.exit_code == 0, out.output
    assert "decisions: 3 (1 match, 2 non-match)" in text
    assert "decided since (held out) │ 0 │" in text


def test_export_fill_in_import(reviewed, tmp_path):
    home = Home(tmp_path / "copy").ensure()
    home.live.parent.mkdir(parents=True, exist_ok=True)
    home.live.write_bytes(reviewed["home"].live.read_bytes())
    out = tmp_path / "queue.csv"
    result, _ = cli("export", "--home", str(home.root), "--out", str(out))
    assert result.exit_code == 0, result.output
    queue = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert {"record_key_l", "record_key_r", "decision", "match_probability"} <= set(queue.columns)
    assert not {"first_name", "last_name", "dob", "postcode", "address"} & set(queue.columns)
    leaked = [v for v in PERSONAL if v in out.read_text()]
    assert not leaked, leaked
    queue.loc[0, "decision"] = "non_match"
    queue.loc[1, "decision"] = "banana"
    queue.to_csv(out, index=False)
    bad, text = cli("import", str(out), "--home", str(home.root))
    assert bad.exit_code == 2 and "row 3, column decision" in text
    queue.loc[1, "decision"] = ""
    queue.to_csv(out, index=False)
    good, _ = cli("import", str(out), "--home", str(home.root), "--by", "reviewer2")
    assert good.exit_code == 0, good.output
    stored = load_latest(home.decisions)
    assert stored[["record_key_l", "record_key_r", "decision", "by"]].values.tolist() == [
        [queue.loc[0, "record_key_l"], queue.loc[0, "record_key_r"], "non_match", "reviewer2"]]


def test_decide_refuses_unknown_records_and_needs_a_verdict(reviewed):
    root = str(reviewed["home"].root)
    unknown, text = cli("decide", "health:NOPE", "health:T1", "--match", "--home", root)
    assert unknown.exit_code == 2 and "no record health:NOPE" in text
    no_verdict, text = cli("decide", "health:T2", "health:T1", "--home", root)
    assert no_verdict.exit_code == 2 and "--match or --non-match" in text


def test_match_decision_wins_over_a_twin_veto_but_not_over_a_reviewers_non_match():
    """A reviewer's match overrides the model's cannot-links; two of the reviewer's own
    decisions that contradict each other are not both honoured, and the queue says so."""
    con = connect()
    create_schema(con)
    load_staging(con, RECORDS)
    decisions = pd.DataFrame([("health:T3", "health:T4", "match"),        # vetoed as twins
                              ("health:D1", "social:D1", "match"),
                              ("social:D1", "health:D2", "match"),
                              ("health:D1", "health:D2", "non_match")],
                             columns=["record_key_l", "record_key_r", "decision"])
    summary = run_linkage(con, decisions=decisions)
    ids = dict(con.execute("SELECT record_key, person_id FROM linkage.person").fetchall())
    assert ids["health:T3"] == ids["health:T4"]
    assert ids["health:D1"] != ids["health:D2"]
    assert summary["review_decisions"]["not_honoured"] == 1
    reasons = con.execute("SELECT reason FROM linkage.review WHERE reason = "
                          "'decision_conflict'").fetchall()
    assert len(reasons) == 1


def test_a_decision_after_a_torn_line_is_not_lost(tmp_path):
    """A crash cut the last decision short; the next one recorded still counts."""
    path = Home(tmp_path).decisions
    append_decisions(path, [{"record_key_l": "a:1", "record_key_r": "b:2", "decision": "match"}])
    with path.open("a") as fh:
        fh.write('{"record_key_l": "a:1", "rec')
    append_decisions(path, [{"record_key_l": "c:3", "record_key_r": "d:4",
                             "decision": "non-match"}])
    latest = load_latest(path)
    assert latest[["record_key_l", "record_key_r", "decision"]].values.tolist() == [
        ["a:1", "b:2", "match"], ["c:3", "d:4", "non_match"]]
    assert path.stat().st_mode & 0o777 == 0o600
