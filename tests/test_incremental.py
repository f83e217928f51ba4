"""Incremental linking (linkage.incremental): a run that compares only new and changed records
must make the people a full relink of the same records makes, and keep every unchanged child's
person id.

All people, addresses and identifiers here are invented (tests/builders/linkage_records.py).
"""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path

import pytest

from linkage import evaluate_pairs, run_linkage
from linkage.incremental import (
    FullRelinkNeeded,
    IncrementalPairs,
    read_state,
    settings_fingerprint,
    write_state,
)
from tests.builders.linkage_records import (
    DUPLICATES,
    TWINS,
    background,
    load_staging,
    person,
    upn,
)
from warehouse.db import connect
from warehouse.schema import create_schema

BEFORE = background(600, seed=9) + TWINS + DUPLICATES


def _after() -> list[dict]:
    """About 1% of the records new, changed or gone: a typo and a move, a child's record in a
    new source, a new child, and a record withdrawn."""
    records = copy.deepcopy(BEFORE)
    by_key = {r["record_key"]: r for r in records}
    by_key["education:B003"]["first_name"] = by_key["education:B003"]["first_name"][:-1] + "X"
    by_key["health:B004"]["postcode"] = "ZX9 9ZZ"
    base = by_key["social:B005"]
    records.append(person("police:N1", base["first_name"], base["last_name"],
                          base["dob"].isoformat(), base["sex"], base["postcode"],
                          base["address"]))
    records.append(person("police:N2", "ZEPHYRINE", "QUILLFEATHER", "2015-06-30", "F",
                          "ZX5 1AA", "2 NEW ROAD"))
    return [r for r in records if r["record_key"] != "health:B010"]


def _publish(records: list[dict], path: Path, engine=None, previous_ids=None) -> dict:
    """Link into the DuckDB file `path` (as a build would be), with its relink state."""
    con = connect(path)
    create_schema(con)
    load_staging(con, records)
    if engine is not None:
        con.execute(f"ATTACH '{engine.previous_file}' AS previous (READ_ONLY)")
    summary = run_linkage(con, previous_ids=previous_ids, engine=engine and engine.pairs)
    write_state(con, settings_fingerprint(None), date(2026, 12, 1),
                "incremental" if engine else "full")
    ids = con.execute("SELECT record_key, person_id FROM linkage.person").df()
    con.close()
    return {"summary": summary, "ids": ids}


class Incremental:
    def __init__(self, previous_file: Path) -> None:
        self.previous_file = previous_file
        self.pairs = IncrementalPairs("previous")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("incremental")
    first = _publish(BEFORE, folder / "first.duckdb")
    after = _after()
    incremental = Incremental(folder / "first.duckdb")
    inc = _publish(after, folder / "incremental.duckdb", incremental, previous_ids=first["ids"])
    full = _publish(after, folder / "full.duckdb", previous_ids=first["ids"])
    return {"first": first, "incremental": inc, "full": full, "engine": incremental.pairs,
            "folder": folder}


def test_an_incremental_run_makes_the_people_a_full_relink_makes(runs):
    inc, full = runs["incremental"]["ids"], runs["full"]["ids"]
    truth = full.rename(columns={"person_id": "cluster"})
    scores = evaluate_pairs(inc, truth)
    assert scores["f1"] >= 0.999, scores
    # it compared only what changed: a few records, far fewer pairs, the rest carried
    assert runs["engine"].changed == 4                  # B003, B004, N1, N2
    assert runs["incremental"]["summary"]["candidate_pairs"] < \
        runs["full"]["summary"]["candidate_pairs"] / 10
    assert runs["engine"].carried > 0


def test_an_incremental_run_keeps_unchanged_childrens_ids_and_links_the_new_record(runs):
    first = runs["first"]["ids"].set_index("record_key")["person_id"]
    inc = runs["incremental"]["ids"].set_index("record_key")["person_id"]
    unchanged = [k for k in first.index if k in inc.index
                 and k not in ("education:B003", "health:B004")]
    assert (first[unchanged] == inc[unchanged]).all()
    assert inc["police:N1"] == inc["social:B005"]        # the new source's record joined its child
    assert inc["police:N2"] not in set(first)             # a new child, a new id
    assert "health:B010" not in inc.index


def test_relink_state_is_read_back_and_other_features_force_a_full_relink(runs, tmp_path):
    con = connect()
    con.execute(f"ATTACH '{runs['folder'] / 'first.duckdb'}' AS previous (READ_ONLY)")
    state = read_state(con, "previous")
    assert state["settings_fingerprint"] == settings_fingerprint(None)
    assert state["full_relink_on"] == date(2026, 12, 1)
    assert settings_fingerprint({"clustering": {"threshold": 0.95}}) != \
        state["settings_fingerprint"]
    con.close()
    # the publication's features lack a column this run compares: its pairs cannot be carried
    stale = tmp_path / "stale.duckdb"
    con = connect(stale)
    con.execute(f"ATTACH '{runs['folder'] / 'first.duckdb'}' AS src (READ_ONLY)")
    con.execute("CREATE SCHEMA linkage")
    for table in ("pair", "model", "relink_state"):
        con.execute(f"CREATE TABLE linkage.{table} AS FROM src.linkage.{table}")
    con.execute("CREATE TABLE linkage.feature AS SELECT * EXCLUDE (postcode) "
                "FROM src.linkage.feature")
    con.close()
    with pytest.raises(FullRelinkNeeded):
        _publish(_after(), tmp_path / "again.duckdb", Incremental(stale))


def test_a_new_record_that_joins_two_upns_joins_the_unchanged_records_holding_them(tmp_path):
    """A child's census record last year held its old UPN, this year's CIN record its new one;
    tonight a school census record carries both (new and former): the chain reaches the
    unchanged records too, as in a full relink."""
    old_upn, new_upn = upn("938200000001"), upn("938200000002")
    before = [*background(120, seed=3),
              person("education:U1", "AMELIA", "HARGREAVE", "2015-02-03", "F", "ZX2 2AB",
                     "5 ELM ROAD", upn=old_upn),
              person("social:U2", None, None, "2015-02-03", "F", upn=new_upn)]
    joining = person("education:U3", "AMELIA", "HARGREAVE", "2015-02-03", "F", "ZX2 2AB",
                     "5 ELM ROAD", upn=new_upn)
    joining["former_upn"] = old_upn
    first = _publish(before, tmp_path / "first.duckdb")
    inc = _publish([*before, joining], tmp_path / "inc.duckdb",
                   Incremental(tmp_path / "first.duckdb"), previous_ids=first["ids"])
    full = _publish([*before, joining], tmp_path / "full.duckdb", previous_ids=first["ids"])
    for run in (inc, full):
        ids = run["ids"].set_index("record_key")["person_id"]
        assert ids["education:U1"] == ids["social:U2"] == ids["education:U3"]
