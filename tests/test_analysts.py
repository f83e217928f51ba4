"""The analyst schema: documented views, no identifying columns, children by keyed pseudonym
only (key from the environment, a Prefect Secret block or, for the demo, a private key file),
and every worked example in docs/analysts.md runs; `joinedup sql` opens the warehouse
read-only."""

from __future__ import annotations

import logging
import os
import re
import uuid
from pathlib import Path

import duckdb
import pytest

from flows import keys
from flows.home import Home
from flows.settings import load_home_settings
from flows.steps import analyst_places
from tests.builders.return_home import AS_OF, make_home
from warehouse.analysts import (
    AnalystsZoneError,
    IdentifyingDataError,
    copy_for_analysts,
    prepare_publication,
    publish,
    verify,
)
from warehouse.db import connect
from warehouse.indicators import derive_indicator_events
from warehouse.marts import build_marts
from warehouse.pseudonym import PseudonymKeyError, pseudonym, unpseudonymised, write_pseudonyms
from warehouse.publish import publish_tables

DOC = Path(__file__).resolve().parents[1] / "docs" / "analysts.md"
IDENTIFYING = {"first_name", "last_name", "middle_names", "preferred_name", "former_last_name",
               "dob", "address", "postcode", "nhs_number", "upn", "la_child_id", "record_key",
               "person_key", "person_ref", "record_id", "alias_first_names", "alias_last_names",
               "person_id"}
KEY = b"test-only key, not a secret: 0123456789"
RUN = "20261031T020000000000Z"
PSEUDONYM = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    root = make_home(tmp_path_factory.mktemp("analyst"), "Kestrelford")
    con = connect(root / "warehouse" / "joinedup.duckdb")
    derive_indicator_events(con, period_start=AS_OF.replace(year=2025, day=1, month=4),
                            period_end=AS_OF)
    build_marts(con, as_of=AS_OF)
    publish_tables(con, as_of=AS_OF)
    write_pseudonyms(con, KEY)
    con.close()
    places = analyst_places(Home(root))
    prepare_publication(root / "warehouse" / "joinedup.duckdb", places, RUN)
    publish(places, RUN)
    return root


def analysts_file(home: Path) -> Path:
    return Home(home).analysts_file


def test_views_are_documented_and_pseudonymous(home):
    con = connect(home / "warehouse" / "joinedup.duckdb", read_only=True)
    views = con.execute("SELECT view_name, comment FROM duckdb_views() "
                        "WHERE schema_name = 'analyst'").fetchall()
    assert len(views) >= 10 and all(c for _v, c in views)
    documented = DOC.read_text()
    for name, _c in views:
        assert f"analyst.{name}" in documented
        cols = {r[0] for r in con.execute(f"DESCRIBE analyst.{name}").fetchall()}
        assert not cols & IDENTIFYING, name
    con.close()
    # the analysts' file has each view as a documented table, and nothing of the linkage zone
    con = connect(analysts_file(home), read_only=True)
    tables = dict(con.execute("SELECT schema_name || '.' || table_name, comment "
                              "FROM duckdb_tables()").fetchall())
    columns = {c for (c,) in con.execute("SELECT column_name FROM duckdb_columns()").fetchall()}
    con.close()
    assert {f"analyst.{v}" for v, _c in views} <= set(tables)
    assert all(tables[f"analyst.{v}"] == c for v, c in views)
    assert {t.split(".")[0] for t in tables} == {"analyst", "publish", "meta"}
    assert not columns & IDENTIFYING and "pseudonym" in columns
    assert verify(analysts_file(home).parent) == []


def test_worked_examples_run(home):
    """Against the analysts' file, as an analyst would run them with `joinedup sql`."""
    from warehouse.db import connect_sealed

    queries = re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(queries) >= 6
    con = connect_sealed(analysts_file(home))
    for q in queries:
        con.execute(q).fetchall()
    con.close()


def test_an_identifying_column_stops_the_analysts_publication(home, tmp_path):
    """A view added to the analyst schema that shows a name (or linkage's person id) is refused
    whole: no analysts' file is left to publish."""
    build = tmp_path / "build.duckdb"
    build.write_bytes((home / "warehouse" / "joinedup.duckdb").read_bytes())
    for leak in ("SELECT first_name FROM staging.person_record",
                 "SELECT person_id AS Person_Id FROM linkage.person"):
        con = connect(build)
        con.execute(f"CREATE OR REPLACE VIEW analyst.leak AS {leak}")
        con.close()
        target = tmp_path / "analysts.duckdb"
        with pytest.raises(IdentifyingDataError, match="analyst.leak"):
            copy_for_analysts(build, target)
        assert not target.exists()


def test_sql_cannot_reach_the_linkage_zone(home):
    """`joinedup sql` opens the analysts' file alone: the linkage zone's tables are not in it,
    and neither ATTACH nor a file-reading function can reach the files beside it, even run as
    the pipeline's own user."""
    from typer.testing import CliRunner

    from flows.cli import app

    runner = CliRunner()
    private = home / "warehouse" / "joinedup.duckdb"
    inbox_file = next((home / "lake").rglob("*.*"), private)
    for query in ("SELECT first_name FROM staging.person_record",
                  "SELECT person_id FROM linkage.person",
                  "SELECT count(*) FROM mart.publication_cell",
                  f"ATTACH '{private}' AS p",
                  f"SELECT * FROM read_text('{inbox_file}')",
                  "SET enable_external_access = true"):
        out = runner.invoke(app, ["sql", "--home", str(home), query])
        assert out.exit_code == 1, (query, out.output)
        assert "does not exist" in out.output or "disabled" in out.output \
            or "Cannot change" in out.output, (query, out.output)


def test_sql_command_is_read_only(home):
    from typer.testing import CliRunner

    from flows.cli import app

    runner = CliRunner()
    out = runner.invoke(app, ["sql", "--home", str(home),
                              "SELECT k_label, children_exactly_k FROM analyst.published_table8"])
    assert out.exit_code == 0, out.output
    assert "k_label" in out.output
    bad = runner.invoke(app, ["sql", "--home", str(home), "DROP TABLE publish.table8_datasets"])
    assert bad.exit_code == 1 and "read-only" in bad.output.lower()
    inter = runner.invoke(app, ["sql", "--home", str(home)],
                          input="SELECT 41 + 1 AS answer;\n.quit\n")
    assert inter.exit_code == 0 and "42" in inter.output
    with pytest.raises(duckdb.Error):
        connect(home / "warehouse" / "joinedup.duckdb", read_only=True).execute(
            "CREATE TABLE x (a INT)")


# --------------------------------------------------------------------- keyed pseudonyms


def test_analyst_views_show_keyed_pseudonyms_never_person_ids(home):
    con = connect(home / "warehouse" / "joinedup.duckdb", read_only=True)
    try:
        internal = {p for (p,) in con.execute(
            "SELECT DISTINCT person_id FROM linkage.person").fetchall()}
        assert len(internal) > 10
        assert unpseudonymised(con) == 0
        views = [v for (v,) in con.execute("SELECT view_name FROM duckdb_views() "
                                           "WHERE schema_name = 'analyst'").fetchall()]
        seen_values = 0
        for view in views:
            for row in con.execute(f"SELECT * FROM analyst.{view}").fetchall():
                text = " ".join(map(str, row))
                seen_values += len(row)
                leaked = [p for p in re.findall(r"P\d{6,}", text) if p in internal]
                assert not leaked, (view, leaked[:3])
        assert seen_values > 1000
        child = con.execute("SELECT pseudonym FROM analyst.child").fetchall()
        assert child and all(PSEUDONYM.fullmatch(p) for (p,) in child)
        # each pseudonym is HMAC(key, that child's person_id), one per child
        by_id = dict(con.execute("SELECT person_id, pseudonym FROM linkage.pseudonym")
                     .fetchall())
        assert len(by_id) == len(internal)
        assert all(by_id[p] == pseudonym(KEY, p) for p in by_id)
        assert len(set(by_id.values())) == len(by_id)
        profiled = {p for (p,) in con.execute("SELECT person_id FROM mart.child_profile")
                    .fetchall()}
        assert {p for (p,) in child} == {by_id[p] for p in profiled}
        indicator = {p for (p,) in con.execute(
            "SELECT DISTINCT pseudonym FROM analyst.child_indicator").fetchall()}
        assert indicator and indicator <= {p for (p,) in child}
    finally:
        con.close()
    assert KEY not in (home / "warehouse" / "joinedup.duckdb").read_bytes()


def test_pseudonym_is_stable_for_a_key_and_differs_between_keys():
    other = b"another test-only key 9876543210"
    assert pseudonym(KEY, "P00000001") == pseudonym(KEY, "P00000001")
    assert pseudonym(KEY, "P00000001") != pseudonym(KEY, "P00000002")
    ids = [f"P{n:08d}" for n in range(1, 2001)]
    mine = [pseudonym(KEY, p) for p in ids]
    theirs = [pseudonym(other, p) for p in ids]
    assert len(set(mine)) == len(ids) and not set(mine) & set(theirs)
    assert all(PSEUDONYM.fullmatch(p) for p in mine)
    with pytest.raises(PseudonymKeyError) as short:
        write_pseudonyms(connect(), b"short")
    assert "short" not in str(short.value).replace("shorter", "")


@pytest.fixture
def no_key(monkeypatch):
    """Neither the key variable nor the default block name in play (the block name is unique to
    the test, so the session's Prefect server holds no such block)."""
    monkeypatch.delenv(keys.KEY_ENV, raising=False)
    monkeypatch.setenv(keys.BLOCK_ENV, f"joinedup-test-{uuid.uuid4().hex[:12]}")


def test_key_from_the_environment_comes_first(tmp_path, monkeypatch):
    home = Home(tmp_path / "home")
    monkeypatch.setenv(keys.KEY_ENV, "environment key for tests only 42")
    monkeypatch.setenv(keys.BLOCK_ENV, "no-such-block-and-never-asked")
    key, origin = keys.resolve_key(home)
    assert key == b"environment key for tests only 42"
    assert origin == f"${keys.KEY_ENV}" and "42" not in origin
    assert not home.demo_key.exists()
    monkeypatch.setenv(keys.KEY_ENV, "too short")
    with pytest.raises(PseudonymKeyError):
        keys.resolve_key(home)


def test_key_from_a_prefect_secret_block(prefect_harness, tmp_path, no_key, monkeypatch):
    from prefect.blocks.system import Secret

    home = Home(tmp_path / "home")
    name = os.environ[keys.BLOCK_ENV]
    value = "1234567890123456789012"          # digits: Secret.get() would make it an int
    Secret(value=value).save(name, overwrite=True)
    key, origin = keys.resolve_key(home)
    assert key == value.encode() and origin == f"Prefect Secret block '{name}'"
    assert not home.demo_key.exists()
    # the block name can also come from joinedup.yaml
    monkeypatch.delenv(keys.BLOCK_ENV)
    home.root.mkdir(parents=True, exist_ok=True)
    (home.root / "joinedup.yaml").write_text(f"keys:\n  pseudonym_secret_block: {name}\n")
    assert keys.resolve_key(home, load_home_settings(home).key_settings)[0] == value.encode()
    assert not home.demo_key.exists()


def test_demo_key_is_generated_private_and_reused(prefect_harness, tmp_path, no_key, caplog):
    home = Home(tmp_path / "home")
    with caplog.at_level(logging.INFO, logger="joinedup"):
        key, origin = keys.resolve_key(home)
    path = home.demo_key
    assert path.is_file() and origin == f"demo key file {path}"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    assert oct(home.root.stat().st_mode & 0o777) == "0o700"
    assert len(key) >= 32
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "generated a demo key" in logged and str(path) in logged
    assert key.decode() not in logged
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="joinedup"):
        again, _ = keys.resolve_key(home)
    assert again == key and "generated" not in caplog.text
    # another home gets another key, so another set of pseudonyms
    other, _ = keys.resolve_key(Home(tmp_path / "other"))
    assert other != key and pseudonym(other, "P00000001") != pseudonym(key, "P00000001")


def test_file_modes_give_the_analysts_group_its_folder_and_nothing_else(home, tmp_path):
    """The access model of docs/access.md, read back from the file system: with an analysts'
    group configured, the home lets the group pass (0710) into `analysts/`, whose folders and
    files it may read, never write; every other folder and file of the home is the owner's."""
    import grp
    import stat

    group = grp.getgrgid(os.getgid()).gr_name
    other = Home(tmp_path / "home").ensure()
    build = other.build(RUN)
    build.write_bytes((home / "warehouse" / "joinedup.duckdb").read_bytes())
    (other.lake / "ledger.jsonl").write_text("{}\n")
    places = analyst_places(other)
    places = type(places)(places.publications, places.current, group)
    from warehouse.analysts import open_zone

    open_zone(other.analysts, other.root, group)
    prepare_publication(build, places, RUN)
    publish(places, RUN)
    other.ensure()                         # a later run's start keeps the passage open
    assert stat.S_IMODE(other.root.stat().st_mode) == 0o710
    shared = 0
    for path in other.root.rglob("*"):
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_symlink():
            continue
        if other.analysts in (path, *path.parents):
            assert mode in (0o750, 0o640), (path, oct(mode))
            assert path.stat().st_gid == os.getgid()
            shared += 1
        elif path.is_dir() and path.parent == other.root:
            assert mode == 0o700, (path, oct(mode))
    assert shared >= 5
    with pytest.raises(ValueError, match="no operating-system group named"):
        open_zone(other.analysts, other.root, "joinedup-no-such-group")


def test_a_folder_in_place_of_the_current_link_is_refused_with_what_to_do(home, tmp_path):
    other = Home(tmp_path / "home").ensure()
    build = other.build(RUN)
    build.write_bytes((home / "warehouse" / "joinedup.duckdb").read_bytes())
    places = analyst_places(other)
    prepare_publication(build, places, RUN)
    other.analysts_current.mkdir()
    with pytest.raises(AnalystsZoneError, match="move it out of the way"):
        publish(places, RUN)
    assert other.analysts_current.is_dir() and not other.analysts_current.is_symlink()

