"""The analyst schema: documented views, no identifying columns, and every worked example in
docs/analysts.md runs; `joinedup sql` opens the warehouse read-only."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from tests.test_returns import make_home
from warehouse.db import connect
from warehouse.indicators import derive_indicator_events
from warehouse.marts import build_marts
from warehouse.publish import publish_tables

DOC = Path(__file__).resolve().parents[1] / "docs" / "analysts.md"
IDENTIFYING = {"first_name", "last_name", "middle_names", "preferred_name", "former_last_name",
               "dob", "address", "postcode", "nhs_number", "upn", "la_child_id", "record_key",
               "person_key", "person_ref", "record_id", "alias_first_names", "alias_last_names"}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    root = make_home(tmp_path_factory.mktemp("analyst"), "Kestrelford")
    con = connect(root / "warehouse" / "joinedup.duckdb")
    from tests.test_returns import AS_OF

    derive_indicator_events(con, period_start=AS_OF.replace(year=2025, day=1, month=4),
                            period_end=AS_OF)
    build_marts(con, as_of=AS_OF)
    publish_tables(con, as_of=AS_OF)
    con.close()
    return root


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


def test_worked_examples_run(home):
    queries = re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(queries) >= 6
    con = connect(home / "warehouse" / "joinedup.duckdb", read_only=True)
    for q in queries:
        con.execute(q).fetchall()
    con.close()


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
