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
from functools import cache
from pathlib import Path

from sources.common.html import Markup, Pages, svg
from sources.common.yamlfiles import read_yaml
from warehouse.settings import Settings, load_settings
from warehouse.trend import PARTIAL, term_starts_in, termly_indicators

PAGES = Pages(Path(__file__).parent / "templates")
COLOURS = ["#1d70b8", "#28a197", "#f47738", "#801650", "#6f72af", "#b58840"]
DASHES = ["", "8 4", "2 3", "12 3 2 3"]

WORDS_FILE = Path(__file__).with_name("report.yaml")
PERIOD_COLUMNS = ("period_start", "period_end")
# Lists that are the same on every row of Tables 8 and 9: printed once under the table.
LIST_COLUMNS = ("datasets_present", "datasets_not_available", "indicators_present",
                "indicators_not_available")


@cache
def words() -> dict:
    return read_yaml(WORDS_FILE)


def _text(*keys: str) -> str:
    """A phrase of report.yaml, folded onto one line."""
    node = words()
    for key in keys:
        node = node[key]
    return " ".join(str(node).split())


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


def bar_chart(title: str, bars: list[tuple], *, colour: str = COLOURS[0]) -> Markup:
    """Horizontal bars in inline SVG, full labels (the label column grows to fit them); a
    suppressed / unavailable value is drawn as no bar with its symbol, never as a zero bar.
    A bar is (label, value) or (label, value, the text written beside it)."""
    if not bars:
        return Markup("")
    row_h = 22
    label_w = min(560, int(6.4 * max(len(str(b[0])) for b in bars)) + 16)
    bar_w = 380
    shown = [str(b[2] if len(b) > 2 else b[1]) for b in bars]
    width = label_w + bar_w + 20 + int(6.4 * max(len(t) for t in shown)) + 10
    height = row_h * len(bars) + 30
    values = [_num(b[1]) for b in bars]
    top = max([v for v in values if v is not None] + [1.0])
    parts = _svg_open(title, width, height)
    for i, ((label, *_rest), raw, value) in enumerate(zip(bars, shown, values, strict=True)):
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


def line_chart(title: str, categories: list[str], series: list[tuple[str, list[object]]],
               apart: frozenset[int] = frozenset(), apart_legend: str = "",
               apart_mark: str = "") -> Markup:
    """Lines over quarters in inline SVG. A suppressed or unavailable value breaks the line (a
    gap, never a drop to zero) and its symbol is written at the foot of that quarter. The
    quarters in `apart` (partial counts) are hollow points joined to nothing, marked
    `apart_mark`, so a partial quarter never reads as a fall."""
    if not categories or not series:
        return Markup("")
    legend_rows = len(series) + (1 if apart and apart_legend else 0)
    left, right, top_pad, plot_h = 56, 24, 34 + 18 * legend_rows, 220
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
    if apart and apart_legend:
        ly = 34 + 18 * len(series)
        parts.append(svg('<circle cx="{}" cy="{}" r="4" fill="#ffffff" stroke="#505a5f" '
                         'stroke-width="2"/>', left + 15, ly - 4))
        parts.append(svg('<text x="{}" y="{}" font-size="12" fill="#505a5f">{}</text>',
                         left + 38, ly, apart_legend))
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
            if v is not None and i in apart:
                if len(run) > 1:
                    parts.append(svg('<polyline points="{}" fill="none" stroke="{}" '
                                     'stroke-width="2.5" stroke-dasharray="{}"/>',
                                     " ".join(run), colour, dash))
                run = []
                parts.append(svg('<circle cx="{:.1f}" cy="{:.1f}" r="4" fill="#ffffff" '
                                 'stroke="{}" stroke-width="2"/>', x(i), y(v), colour))
                parts.append(svg('<text x="{:.1f}" y="{:.1f}" font-size="11" fill="{}">{} {}'
                                 '</text>', x(i) + 6, y(v) - 6, colour, raw, apart_mark))
                continue
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
    partial = {(r["measure"], r["quarter"]) for r in rows if r.get("comparable") == PARTIAL}
    noted: dict[str, list[str]] = {}
    for r in rows:                  # each row's note joins its reasons with "; "
        for reason in filter(None, (r["note"] or "").split("; ")):
            if reason not in noted.setdefault(r["quarter"], []):
                noted[r["quarter"]].append(reason)
    marks = [f"{q}*" if q in noted else q for q in quarters]
    mark = _text("trend", "partial_mark")
    groups = [("Children presenting with indicators, per quarter",
               [m for m in measures if m[0].startswith("children_at_least_")]),
              ("Missing episodes and children missing, per quarter",
               [m for m in measures if m[0].startswith("missing_")])]

    def shown(code: str, q: str) -> object:
        v = value.get((code, q), ":")
        return f"{v} ({mark})" if (code, q) in partial else v

    charts = []
    for title, chosen in groups:
        apart = frozenset(i for i, q in enumerate(quarters)
                          if any((code, q) in partial for code, _l in chosen))
        charts.append(line_chart(title, marks, [(label, [value.get((code, q), ":")
                                                         for q in quarters])
                                                for code, label in chosen],
                                 apart=apart, apart_legend=_text("trend", "partial_legend"),
                                 apart_mark=mark))
    return {
        "quarters": marks,
        "charts": charts,
        "rows": [[label] + [shown(code, q) for q in quarters] for code, label in measures],
        "notes": [(q, "; ".join(notes)) for q, notes in noted.items()],
    }


def _int(text: object) -> int | None:
    number = _num(text)
    return int(number) if number is not None and number == int(number) else None


def _thousands(text: object) -> str:
    """A published whole number with thousands separators; a symbol as it is."""
    n = _int(text)
    return f"{n:,}" if n is not None else str(text)


def _share(part: object, whole: object) -> str | None:
    """A published count as a percentage of another (both published, so nothing new is told)."""
    p, w = _int(part), _int(whole)
    if p is None or not w:
        return None
    return f"{100 * p / w:.0f}"


def _feed_label(s: Settings, feed: str) -> str:
    return str((s.publication.get("feed_labels") or {}).get(feed, feed))


def _caveats(tables: dict, s: Settings, period: tuple[date, date]) -> list[str]:
    """What limits the quarter's counts - a late feed, an indicator not available, the termly
    school indicators - to print beside the headline they affect."""
    _c, status = _rows(tables, "indicator_status")
    labels = {r["indicator"]: r["indicator_label"] for r in status}
    out = [_text("caveats", "late").format(feed=_feed_label(s, feed))
           for feed in dict.fromkeys(r["feed"] for r in status if r["status"] == "late")]
    missing = [r["indicator"] for r in status if r["status"] == "not_available"]
    if missing:
        out.append(_text("caveats", "not_available").format(
            indicators="; ".join(f"{code} {labels.get(code, '')}".strip() for code in missing)))
    termly = [code for code in termly_indicators(s) if code in labels]
    if termly:
        named = ", ".join(f"{code} ({labels[code]})" for code in termly)
        key = "termly" if term_starts_in(s, period) else "partial"
        out.append(_text("caveats", key).format(indicators=named))
    if "trend" in tables:
        _c, trend = _rows(tables, "trend")
        for r in trend:
            if r["period_start"] == period[0] and r["measure"].startswith("children_at_least_"):
                for note in (r["note"] or "").split("; "):
                    if "records start" in note:
                        out.append(_text("caveats", "records_start").format(note=note))
                break
    return out


def _headline(tables: dict, s: Settings, period: tuple[date, date]) -> dict:
    """Table 9's "k or more" rows as the headline, with the caveats that qualify them."""
    _c, rows = _rows(tables, "table9_indicators")
    by_k = {int(r["k"]): r for r in rows}
    total = by_k.get(1, {}).get("children_at_least_k")
    tiles = []
    for k in words()["headline"]["k"]:
        if k not in by_k:
            continue
        value = by_k[k]["children_at_least_k"]
        share = _share(value, total) if k > 1 else None
        tiles.append({"value": _thousands(value), "label": _text("headline", "tile").format(k=k),
                      "share": _text("headline", "share").format(pct=share) if share else "",
                      "drivers": _drivers(tables, k)})
    return {"heading": _text("headline", "heading"), "intro": _text("headline", "intro"),
            "drivers_label": _text("headline", "drivers"),
            "tiles": tiles, "caveats": _caveats(tables, s, period)}


def _drivers(tables: dict, k: int) -> list[str]:
    """The indicators most of a headline row's children present with (publish.indicator_drivers:
    the row's "k or more" children who have each indicator), largest first; the row beyond the
    table's last ("3+") reads that last row."""
    if "indicator_drivers" not in tables:
        return []
    _c, rows = _rows(tables, "indicator_drivers")
    top_k = max((int(r["k"]) for r in rows), default=0)
    rows = [r for r in rows if int(r["k"]) == min(k, top_k) and _int(r["children_at_least_k"])]
    rows.sort(key=lambda r: (-_int(r["children_at_least_k"]), r["indicator"]))
    return [_text("headline", "driver").format(
                code=r["indicator"], label=r["indicator_label"],
                value=_thousands(r["children_at_least_k"]), pct=r["pct_of_children_at_least_k"])
            for r in rows[:int(words()["headline"]["drivers_shown"])]]


def _contributions(tables: dict, totals: list[dict]) -> dict:
    """A bar per indicator, largest first, each with its share of the children presenting with
    at least one: it shows at a glance which indicators the headline is made of."""
    _c, t9 = _rows(tables, "table9_indicators")
    total = next((r["children_at_least_k"] for r in t9 if int(r["k"]) == 1), None)
    _c, status = _rows(tables, "indicator_status")
    state = {r["indicator"]: r["status"] for r in status}
    def rank(r: dict) -> tuple:
        n = _int(r["children"])         # a suppressed count is at least 1: above the zeros
        return (0 if n else 2 if n == 0 else 1, -(n or 0), r["indicator"])

    ranked = sorted((r for r in totals if r["indicator"] != "ANY"), key=rank)
    bars = []
    for r in ranked:
        share = _share(r["children"], total)
        text = (_text("contributions", "share").format(value=_thousands(r["children"]),
                                                       pct=share, total=_thousands(total))
                if share and _int(r["children"]) else str(r["children"]))
        if state.get(r["indicator"]) == "late":
            text += " - " + _text("caveats", "bar_late")
        elif state.get(r["indicator"]) == "not_available":
            text += " - " + _text("caveats", "bar_not_available")
        bars.append((f"{r['indicator']} {r['indicator_label']}", r["children"], text))
    return {"heading": _text("contributions", "heading"),
            "intro": _text("contributions", "intro"),
            "chart": bar_chart(_text("contributions", "chart"), bars, colour=COLOURS[2])}


def _completeness_caveat(tables: dict, field: str) -> str:
    """How often the field a breakdown reads is not recorded, per feed, beside its chart."""
    _c, rows = _rows(tables, "data_completeness")
    chosen = [r for r in rows if r["field"] == field]
    if not chosen:
        return ""
    shares = "; ".join(f"{r.get('feed_label') or r['feed']} {r['pct_not_recorded']}"
                       f"{'%' if _num(r['pct_not_recorded']) is not None else ''}"
                       for r in chosen)
    return _text("caveats", "completeness").format(field=chosen[0]["field_label"],
                                                    shares=shares)


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
        ("table8_datasets", _text("sections", "table8"), "data sets"),
        ("table9_indicators", _text("sections", "table9"), "indicators"),
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
    """The sections after the indicators: what Table 9's rows are made of, missing episodes,
    overlap, linkage, completeness."""
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
                ("indicator_drivers", "Which indicators Table 9's rows are made of"),
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
    dims = [c["dimension"] for c in words()["characteristics"]]
    characteristic_charts = []
    for spec in words()["characteristics"]:
        dim = spec["dimension"]
        others = [o for o in dims if o != dim]
        characteristic_charts.append({
            "chart": bar_chart(f"Children presenting with indicators by {spec['label']}",
                               [(r[dim], r["children"]) for r in any_rows
                                if r[dim] != all_label and all(r[o] == all_label
                                                               for o in others)],
                               colour=COLOURS[1]),
            "caveat": _completeness_caveat(tables, spec["field"])})
    totals = [r for r in breakdown if r["age_band"] == all_label and r["sex"] == all_label
              and r["ethnicity_group"] == all_label]
    indicator_columns = ["indicator", "indicator_label", "dataset", "children", "rate_per_10000",
                         "indicator_status"]
    return PAGES.render(
        "report.html.j2", quarter=quarter, period=period, rounded=s.rounding == "nearest_5",
        partnership=dict(cover).get("Partnership", ""),
        headline=_headline(tables, s, period), contributions=_contributions(tables, totals),
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
