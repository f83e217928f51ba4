"""The HTML report: its numbers are the publish tables' text, it is self-contained (no external
URLs, scripts or stylesheets) and it never speaks of risk scores."""

from __future__ import annotations

import html
import re

from flows.home import Home
from flows.steps import write_return
from tests.builders.return_home import expected_tables, make_home
from warehouse.report import LIST_COLUMNS, PERIOD_COLUMNS
from warehouse.returns import COMPUTED_TABLES, RETURN_TABLES


def test_report_numbers_equal_the_publish_tables_and_it_is_self_contained(tmp_path):
    home = make_home(tmp_path, "Kestrelford")
    result = write_return(Home(home), "2025Q2")
    text = result.report.read_text(encoding="utf-8")
    expected = expected_tables(home, tmp_path, (result.period_start, result.period_end))
    # every published row except the long breakdown is printed as a table row, cell by cell
    cells = re.findall(r"<tr>(.*?)</tr>", text, flags=re.S)
    printed = {tuple(html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row))
               for row in cells}
    for _sheet, table, _title in RETURN_TABLES:
        if table == "indicator_breakdown" or table in COMPUTED_TABLES:
            continue
        columns, rows = expected[table]
        keep = [i for i, c in enumerate(columns) if c not in PERIOD_COLUMNS + LIST_COLUMNS]
        for row in rows:
            assert tuple(str(row[i]) if row[i] is not None else "" for i in keep) in printed, (
                table, row)
    # the lists that are the same on every row of Tables 8 and 9 are printed once, under them
    for table in ("table8_datasets", "table9_indicators"):
        columns, rows = expected[table]
        for i, c in enumerate(columns):
            if c in LIST_COLUMNS and rows[0][i]:
                assert html.escape(str(rows[0][i])) in text, (table, c)
    # the breakdown totals (All x All x All) per indicator are printed
    cols, rows = expected["indicator_breakdown"]
    ix = {c: i for i, c in enumerate(cols)}
    for row in rows:
        if (row[ix["age_band"]], row[ix["sex"]], row[ix["ethnicity_group"]]) == ("All",) * 3:
            assert (row[ix["indicator"]], row[ix["indicator_label"]], row[ix["dataset"]],
                    row[ix["children"]], row[ix["rate_per_10000"]],
                    row[ix["indicator_status"]]) in printed
    lowered = text.lower()
    assert "http://" not in lowered and "https://" not in lowered and "//" not in re.sub(
        r"<[^>]*>", "", lowered).replace("://", "")
    assert "<script" not in lowered and "<link" not in lowered and "src=" not in lowered
    assert "<svg" in lowered and "<style>" in lowered
    assert "children presenting with indicators" in lowered
    assert "risk score" not in lowered
    assert "Kestrelford" in text


def test_report_escapes_text(tmp_path):
    from datetime import date

    from warehouse.report import render_report

    tables = {t: (["period_start", "period_end"], []) for _s, t, _d in RETURN_TABLES}
    tables["table8_datasets"] = (["k_label", "children_exactly_k"], [("<b>1</b>", "5")])
    tables["table9_indicators"] = (["k_label", "children_exactly_k"], [])
    tables["indicator_breakdown"] = (["indicator", "indicator_label", "dataset", "age_band",
                                      "sex", "ethnicity_group", "children",
                                      "indicator_status"], [])
    for t in ("missing_episodes", "feed_overlap", "data_completeness"):
        tables[t] = (["feed", "feed_label", "measure_label", "value", "row_type", "feeds",
                      "children", "field_label", "pct_not_recorded"], [])
    out = render_report("2026Q3", (date(2026, 7, 1), date(2026, 9, 30)),
                        [("Partnership", "<script>x</script>")], tables)
    assert "<script>" not in out and "&lt;script&gt;" in out and "&lt;b&gt;1" in out
