"""The report for people: one self-contained HTML file per period (the shared stylesheet inline,
inline SVG charts, no scripts, fonts or links to fetch), readable offline and printable.

It shows the published tables only - suppressed text exactly as published - so it can never say
more than the return. Wording: "children presenting with indicators"; the pipeline gives no child
a score. The page is `templates/report.html.j2`; this module picks the rows and draws the charts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from pathlib import Path

from sources.common.html import Markup, Pages, svg
from warehouse.settings import Settings, load_settings

PAGES = Pages(Path(__file__).parent / "templates")
COLOURS = ["#1d70b8", "#28a197", "#f47738", "#801650", "#6f72af", "#b58840"]
DASHES = ["", "8 4", "2 3", "12 3 2 3"]

PERIOD_COLUMNS = ("period_start", "period_end")
# Lists that are the same on every row of Tables 8 and 9: printed once under the table.
LIST_COLUMNS = ("datasets_present", "datasets_not_available", "indicators_present",
                "indicators_not_available")


def _num(text: object) -> float | None:
    try:
        return float(str(text))
    except ValueError:
        return None


def _nice_top(value: float) -> float:
    """A round axis maximum at or above value (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def _svg_open(title: str, width: float, height: float) -> list[Markup]:
    return [svg('<svg role="img" aria-label="{0}" width="{1}" height="{2}" '
                'viewBox="0 0 {1} {2}">', title, width, height),
            svg("<title>{}</title>", title),
            svg('<text x="0" y="16" font-size="13" font-weight="bold">{}</text>', title)]


def _chart(parts: list[Markup]) -> Markup:
    return Markup('<div class="chart">') + Markup("").join(parts) + Markup("</svg></div>")


def bar_chart(title: str, bars: list[tuple[str, object]], *, colour: str = COLOURS[0]) -> Markup:
    """Horizontal bars in inline SVG, full labels (the label column grows to fit them); a
    suppressed / unavailable value is drawn as no bar with its symbol, never as a zero bar."""
    if not bars:
        return Markup("")
    row_h = 22
    label_w = min(560, int(6.4 * max(len(str(label)) for label, _v in bars)) + 16)
    bar_w = 380
    width = label_w + bar_w + 60
    height = row_h * len(bars) + 30
    values = [_num(v) for _l, v in bars]
    top = max([v for v in values if v is not None] + [1.0])
    parts = _svg_open(title, width, height)
    for i, ((label, raw), value) in enumerate(zip(bars, values, strict=True)):
        y = 26 + i * row_h
        parts.append(svg('<text x="{}" y="{}" font-size="12" text-anchor="end">{}</text>',
                         label_w - 8, y + 15, label))
        if value is not None:
            w = max(0.0, bar_w * value / top)
            parts.append(svg('<rect x="{}" y="{}" width="{:.1f}" height="{}" fill="{}"/>',
                             label_w, y + 4, w, row_h - 8, colour))
            parts.append(svg('<text x="{:.1f}" y="{}" font-size="12">{}</text>',
                             label_w + w + 4, y + 15, raw))
        else:
            parts.append(svg('<text x="{}" y="{}" font-size="12" fill="#505a5f">{}</text>',
                             label_w + 4, y + 15, raw))
    return _chart(parts)


def line_chart(title: str, categories: list[str],
               series: list[tuple[str, list[object]]]) -> Markup:
    """Lines over quarters in inline SVG. A suppressed or unavailable value breaks the line (a
    gap, never a drop to zero) and its symbol is written at the foot of that quarter."""
    if not categories or not series:
        return Markup("")
    left, right, top_pad, plot_h = 56, 24, 34 + 18 * len(series), 220
    step = 92
    width = left + right + step * max(1, len(categories) - 1) + 40
    height = top_pad + plot_h + 34 + 16 * len(series)
    numbers = [_num(v) for _n, vals in series for v in vals]
    y_top = _nice_top(max([v for v in numbers if v is not None] + [0.0]))

    def x(i: int) -> float:
        return left + 20 + i * step

    def y(v: float) -> float:
        return top_pad + plot_h - plot_h * v / y_top

    parts = _svg_open(title, width, height)
    for n, (name, _vals) in enumerate(series):
        ly = 34 + 18 * n
        colour, dash = COLOURS[n % len(COLOURS)], DASHES[n % len(DASHES)]
        parts.append(svg('<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="{3}" '
                         'stroke-width="3" stroke-dasharray="{4}"/>',
                         left, ly - 4, left + 30, colour, dash))
        parts.append(svg('<text x="{}" y="{}" font-size="12">{}</text>', left + 38, ly, name))
    for k in range(5):
        v = y_top * k / 4
        parts.append(svg('<line x1="{0}" y1="{1:.1f}" x2="{2}" y2="{1:.1f}" stroke="#dddddd"/>',
                         left, y(v), width - right))
        parts.append(svg('<text x="{}" y="{:.1f}" font-size="11" text-anchor="end">{:g}</text>',
                         left - 6, y(v) + 4, v))
    base = top_pad + plot_h
    for i, cat in enumerate(categories):
        parts.append(svg('<text x="{:.1f}" y="{}" font-size="12" text-anchor="middle">{}</text>',
                         x(i), base + 16, cat))
    for n, (_name, vals) in enumerate(series):
        colour, dash = COLOURS[n % len(COLOURS)], DASHES[n % len(DASHES)]
        run: list[str] = []
        for i, raw in enumerate(list(vals) + [None]):
            v = _num(raw) if i < len(vals) else None
            if v is not None:
                run.append(f"{x(i):.1f},{y(v):.1f}")
                parts.append(svg('<circle cx="{:.1f}" cy="{:.1f}" r="3.5" fill="{}"/>',
                                 x(i), y(v), colour))
                parts.append(svg('<text x="{:.1f}" y="{:.1f}" font-size="11" fill="{}">{}</text>',
                                 x(i) + 5, y(v) - 6, colour, raw))
                continue
            if len(run) > 1:
                parts.append(svg('<polyline points="{}" fill="none" stroke="{}" '
                                 'stroke-width="2.5" stroke-dasharray="{}"/>',
                                 " ".join(run), colour, dash))
            run = []
            if i < len(vals):
                parts.append(svg('<text x="{:.1f}" y="{}" font-size="12" text-anchor="middle" '
                                 'fill="{}">{}</text>', x(i), base + 32 + 16 * n, colour, raw))
    return _chart(parts)


def _table(columns: list[str], rows: list, skip: tuple[str, ...] = ()) -> dict:
    """A published table's rows, all their text as published; headers read as words."""
    keep = [i for i, c in enumerate(columns) if c not in skip]
    return {"head": [str(columns[i]).replace("_", " ") for i in keep],
            "rows": [[row[i] for i in keep] for row in rows]}


def _rows(tables: dict, table: str) -> tuple[list[str], list[dict]]:
    columns, rows = tables[table]
    return columns, [dict(zip(columns, r, strict=True)) for r in rows]


def _trend(tables: dict) -> dict | None:
    if "trend" not in tables or not tables["trend"][1]:
        return None
    _cols, rows = _rows(tables, "trend")
    quarters = list(dict.fromkeys(r["quarter"] for r in rows))
    measures = list(dict.fromkeys((r["measure"], r["measure_label"]) for r in rows))
    value = {(r["measure"], r["quarter"]): r["value"] for r in rows}
    noted: dict[str, list[str]] = {}
    for r in rows:                  # each row's note joins its reasons with "; "
        for reason in filter(None, (r["note"] or "").split("; ")):
            if reason not in noted.setdefault(r["quarter"], []):
                noted[r["quarter"]].append(reason)
    marks = [f"{q}*" if q in noted else q for q in quarters]
    groups = [("Children presenting with indicators, per quarter",
               [m for m in measures if m[0].startswith("children_at_least_")]),
              ("Missing episodes and children missing, per quarter",
               [m for m in measures if m[0].startswith("missing_")])]
    return {
        "quarters": marks,
        "charts": [line_chart(title, marks, [(label, [value.get((code, q), ":")
                                                      for q in quarters])
                                             for code, label in chosen])
                   for title, chosen in groups],
        "rows": [[label] + [value.get((code, q), ":") for q in quarters]
                 for code, label in measures],
        "notes": [(q, "; ".join(notes)) for q, notes in noted.items()],
    }


def _rates(rows: list[dict], all_label: str) -> dict | None:
    """Children presenting with at least one indicator by age band and sex: count and rate."""
    any_rows = [r for r in rows if r["indicator"] == "ANY" and r["ethnicity_group"] == all_label
                and "rate_per_10000" in r]
    if not any_rows:
        return None
    ages = list(dict.fromkeys(r["age_band"] for r in any_rows))
    sexes = list(dict.fromkeys(r["sex"] for r in any_rows))
    cell = {(r["age_band"], r["sex"]): r for r in any_rows}
    head = ["age band"] + [f"{sx}: {what}" for sx in sexes
                           for what in ("children", "rate per 10,000")]
    return {"head": head,
            "rows": [[age] + [cell[(age, sx)][k] for sx in sexes
                              for k in ("children", "rate_per_10000")] for age in ages]}


def _counts_per_child(tables: dict) -> list[dict]:
    """Tables 8 and 9, each with its chart and the lists its rows share."""
    out = []
    for table, heading, prefix in (
        ("table8_datasets", "Table 8: children presenting in k data sets", "data sets"),
        ("table9_indicators", "Table 9: children presenting with k indicators", "indicators"),
    ):
        cols, rows = _rows(tables, table)
        lists = ([(c.replace("_", " "), rows[0][c]) for c in LIST_COLUMNS if c in rows[0]]
                 if rows else [])
        out.append({"heading": heading, "lists": lists,
                    "chart": bar_chart(f"Children presenting with exactly k {prefix}",
                                       [(f"{r['k_label']} {prefix}", r["children_exactly_k"])
                                        for r in rows]),
                    **_table(cols, tables[table][1], PERIOD_COLUMNS + LIST_COLUMNS)})
    return out


def _per_feed_charts(rows: list[dict], title: str, label: str, value: str,
                     colour: str) -> list[Markup]:
    charts = []
    for feed in dict.fromkeys(r["feed"] for r in rows):
        feed_rows = [r for r in rows if r["feed"] == feed]
        name = feed_rows[0].get("feed_label") or feed
        charts.append(bar_chart(title.format(name), [(r[label], r[value]) for r in feed_rows],
                                colour=colour))
    return charts


def _sections(tables: dict) -> list[dict]:
    """The sections after the indicators: missing episodes, overlap, linkage, completeness."""
    _c, missing = _rows(tables, "missing_episodes")
    _c, overlap = _rows(tables, "feed_overlap")
    _c, completeness = _rows(tables, "data_completeness")
    charts = {
        "missing_episodes": _per_feed_charts(missing, "{}: missing measures", "measure_label",
                                             "value", COLOURS[3]),
        "feed_overlap": [bar_chart("Children by the combination of feeds holding a record of "
                                   "them", [(r["feeds"], r["children"]) for r in overlap
                                            if r["row_type"] == "combination"],
                                   colour=COLOURS[4])],
        "data_completeness": _per_feed_charts(
            completeness, "{}: % of records with the field not recorded", "field_label",
            "pct_not_recorded", COLOURS[5]),
    }
    return [{"heading": heading, "charts": charts.get(table, []),
             **_table(tables[table][0], tables[table][1], PERIOD_COLUMNS)}
            for table, heading in (
                ("missing_episodes", "Missing episodes and return interviews"),
                ("feed_overlap", "Overlap of children between agencies"),
                ("linkage_summary", "Linkage summary per feed"),
                ("data_completeness", "Data completeness"),
                ("indicator_status", "Indicator status"))]


def _notes(cover: list) -> list[tuple[str, str]]:
    """How to read the numbers: the cover's rules again, where a reader finishes."""
    wanted = ("Suppression rule", "Rounding", "Rates per 10,000", "Trend")
    items = [(k, v) for k, v in cover if k in wanted]
    items.append(("Wording", "figures count children presenting with indicators (recorded "
                             "events); the pipeline gives no child a score"))
    return items


def render_report(quarter: str, period: tuple[date, date], cover: list, tables: dict,
                  catalogue: Settings | Mapping | None = None) -> str:
    """The page for one quarter's published tables; `catalogue` gives the "All" label and the
    rounding rule (the defaults when None)."""
    s = load_settings(catalogue)
    all_label = str(s.publication["all_label"])
    _cols, breakdown = _rows(tables, "indicator_breakdown")
    any_rows = [r for r in breakdown if r["indicator"] == "ANY"]
    characteristic_charts = [
        bar_chart(f"Children presenting with indicators by {label}",
                  [(r[dim], r["children"]) for r in any_rows
                   if r[dim] != all_label and all(r[o] == all_label for o in others)],
                  colour=COLOURS[1])
        for dim, others, label in (("age_band", ("sex", "ethnicity_group"), "age band"),
                                   ("sex", ("age_band", "ethnicity_group"), "sex"),
                                   ("ethnicity_group", ("age_band", "sex"), "ethnic group"))]
    totals = [r for r in breakdown if r["age_band"] == all_label and r["sex"] == all_label
              and r["ethnicity_group"] == all_label]
    indicator_columns = ["indicator", "indicator_label", "dataset", "children", "rate_per_10000",
                         "indicator_status"]
    return PAGES.render(
        "report.html.j2", quarter=quarter, period=period, rounded=s.rounding == "nearest_5",
        trend=_trend(tables), cover=cover, counts_per_child=_counts_per_child(tables),
        characteristic_charts=characteristic_charts, rates=_rates(breakdown, all_label),
        indicator_chart=bar_chart("Children presenting with each indicator",
                                  [(f"{r['indicator']} {r['indicator_label']}", r["children"])
                                   for r in totals], colour=COLOURS[2]),
        indicators=_table(indicator_columns,
                          [[r.get(c, ":") for c in indicator_columns] for r in totals]),
        sections=_sections(tables), notes=_notes(cover))


def write_report(path: Path, quarter: str, period, cover: list, tables: dict,
                 catalogue: Settings | Mapping | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(quarter, period, cover, tables, catalogue), encoding="utf-8")
    return path
