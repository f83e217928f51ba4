"""The HTML report: its numbers are the publish tables' text, it is self-contained (no external
URLs, scripts or stylesheets) and it never speaks of risk scores."""

from __future__ import annotations

import html
import re

from markupsafe import escape

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
    # the headline is Table 9's "k or more" rows; a bar per indicator shows what makes it up
    cols, rows = expected["table9_indicators"]
    at_least = {r[cols.index("k")]: str(r[cols.index("children_at_least_k")]) for r in rows}
    tiles = re.findall(r'<div class="tile"><div class="v">(.*?)</div>', text)
    assert tiles == [at_least[k] for k in (1, 2, 3)]
    contributions = text[text.index('id="contributions"'):text.index("Trend over")]
    cols, rows = expected["indicator_breakdown"]
    for row in rows:
        if row[ix["indicator"]] != "ANY" and row[ix["age_band"]] == "All" == row[ix["sex"]]:
            assert str(escape(f"{row[ix['indicator']]} {row[ix['indicator_label']]}")) in (
                contributions)
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


def _table(columns: str, *rows: tuple) -> tuple[list[str], list[tuple]]:
    return columns.split(), list(rows)


def test_report_frames_the_headline_and_draws_partial_quarters_apart():
    """Table 9's rows as the headline with the caveats beside it, indicators ranked by the
    children presenting with them, a partial trend quarter drawn apart and labelled, and the
    completeness of the field beside each characteristic chart."""
    from datetime import date

    from warehouse.report import render_report
    from warehouse.trend import COMPARABLE, PARTIAL

    p = (date(2026, 7, 1), date(2026, 9, 30))
    tables = {t: (["period_start", "period_end"], []) for _s, t, _d in RETURN_TABLES}
    tables["table9_indicators"] = _table(
        "k k_label children_at_least_k children_exactly_k", (1, "1", "1072", "1024"),
        (2, "2", "48", "39"), (3, "3", "9", "c"))
    tables["indicator_breakdown"] = _table(
        "indicator indicator_label dataset age_band sex ethnicity_group children "
        "indicator_status",
        ("ANY", "At least one", "All", "All", "All", "All", "1072", "supplied"),
        ("I17", "Reported missing to police", "MISSING_POL", "All", "All", "All", "12",
         "supplied"),
        ("I19", "Persistent absence", "SCHOOL_ABSENCE", "All", "All", "All", "916", "supplied"),
        ("I14", "Multiple-perpetrator rape", "SEX_CRIME", "All", "All", "All", "0", "zero"),
        ("I15", "Single-perpetrator rape", "SEX_CRIME", "All", "All", "All", "c", "supplied"))
    tables["indicator_status"] = _table(
        "feed indicator indicator_label status",
        ("POL", "I17", "Reported missing to police", "late"),
        ("LA", "I04", "Referred on the grounds of CSE", "not_available"),
        ("EDU", "I19", "Persistent absence", "supplied"))
    tables["data_completeness"] = _table(
        "feed feed_label field field_label pct_not_recorded",
        ("POL", "Police", "dob", "Date of birth", "5.5"))
    tables["missing_episodes"] = _table("feed measure_label value")
    tables["feed_overlap"] = _table("row_type feeds children")
    quarters = [(date(2025, 10, 1), "2025Q4", "121", PARTIAL), (p[0], "2026Q3", "1072",
                                                                COMPARABLE)]
    tables["trend"] = _table(
        "period_start quarter measure measure_label value comparable note",
        *[(start, q, "children_at_least_1_indicators", "1 or more", v, c, "")
          for start, q, v, c in quarters])
    tables["indicator_drivers"] = _table(
        "indicator indicator_label k children_at_least_k pct_of_children_at_least_k",
        ("I19", "Persistent absence", 1, "916", "85.4"), ("I17", "Missing", 1, "12", "1.1"),
        ("I15", "Rape", 1, "c", "c"), ("I14", "Rape", 1, "0", "0.0"),
        ("I17", "Missing", 2, "30", "62.5"), ("I19", "Persistent absence", 2, "41", "85.4"),
        ("I17", "Missing", 3, "c", "c"), ("I19", "Persistent absence", 3, "8", "88.9"))
    out = render_report("2026Q3", p, [("Partnership", "Kestrelford")], tables)
    assert re.findall(r'<div class="tile"><div class="v">(.*?)</div>', out) == [
        "1,072", "48", "9"]
    head = out[out.index('id="headline"'):out.index('id="contributions"')]
    # under each tile, the indicators most of its children present with, largest first
    # (suppressed and zero rows are not named)
    tiles = head[:head.index('class="note caveats"')].split('<div class="tile">')[1:]
    drivers = [re.findall(r"<li>(.*?)</li>", tile) for tile in tiles]
    assert drivers == [["I19 Persistent absence: 916 (85.4%)", "I17 Missing: 12 (1.1%)"],
                       ["I19 Persistent absence: 41 (85.4%)", "I17 Missing: 30 (62.5%)"],
                       ["I19 Persistent absence: 8 (88.9%)"]]
    assert "Police: the latest extract is late" in head
    assert "Not available this quarter (not a zero): I04 Referred on the grounds of CSE" in head
    assert "I19 (Persistent absence) are counted by school term" in head
    bars = re.findall(r'text-anchor="end">(I\d+) ', out[out.index('id="contributions"'):
                                                          out.index("Trend over")])
    assert bars == ["I19", "I17", "I15", "I14"]          # largest, then c (1 to 4), then 0
    assert "916 (85% of 1,072)" in out and "12 (1% of 1,072) - late extract" in out
    trend = out[out.index("Trend over"):]
    assert trend.count('fill="#ffffff"') == 2           # the legend's point and 2025Q4's
    assert "121 partial" in trend and "121 (partial)" in trend and "1072 (partial)" not in trend
    assert "Date of birth not recorded: Police 5.5%" in out
