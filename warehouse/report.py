"""The report for people: one self-contained HTML file per period (inline CSS, inline SVG charts,
no scripts, fonts or links to fetch), readable offline and printable.

It shows the published tables only - suppressed text exactly as published - so it can never say
more than the return. Wording: "children presenting with indicators"; the pipeline gives no child
a score.
"""

from __future__ import annotations

import html
import math
from datetime import date
from pathlib import Path

CSS = """
body{font-family:Arial,Helvetica,sans-serif;margin:2em auto;max-width:70em;color:#0b0c0c;
line-height:1.4;padding:0 1em}
h1{font-size:1.9em;margin-bottom:.2em}h2{border-top:4px solid #1d70b8;padding-top:.4em;
margin-top:1.6em}
.lede{font-size:1.1em;color:#505a5f}
.wide{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.85em}
th,td{border:1px solid #b1b4b6;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f2f1}td.n{text-align:right;font-variant-numeric:tabular-nums;
white-space:nowrap}
.note{font-size:.9em;color:#505a5f}.chart{margin:.4em 0 1em}
.notes li{margin-bottom:.3em}
.cover td:first-child{font-weight:bold;width:18em}
@media print{h2{page-break-before:auto}.wide{overflow:visible}}
"""

COLOURS = ["#1d70b8", "#28a197", "#f47738", "#801650", "#6f72af", "#b58840"]
DASHES = ["", "8 4", "2 3", "12 3 2 3"]
SYMBOLS = ("c", ":", "z")


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


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


def bar_chart(title: str, bars: list[tuple[str, object]], *, colour: str = COLOURS[0]) -> str:
    """Horizontal bars in inline SVG, full labels (the label column grows to fit them); a
    suppressed / unavailable value is drawn as no bar with its symbol, never as a zero bar."""
    if not bars:
        return ""
    row_h = 22
    label_w = min(560, int(6.4 * max(len(str(label)) for label, _v in bars)) + 16)
    bar_w = 380
    width = label_w + bar_w + 60
    height = row_h * len(bars) + 30
    values = [_num(v) for _l, v in bars]
    top = max([v for v in values if v is not None] + [1.0])
    parts = [f'<svg role="img" aria-label="{_e(title)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">',
             f'<title>{_e(title)}</title>',
             f'<text x="0" y="16" font-size="13" font-weight="bold">{_e(title)}</text>']
    for i, ((label, raw), value) in enumerate(zip(bars, values, strict=True)):
        y = 26 + i * row_h
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" font-size="12" '
                     f'text-anchor="end">{_e(label)}</text>')
        if value is not None:
            w = max(0.0, bar_w * value / top)
            parts.append(f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" '
                         f'fill="{colour}"/>')
            parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 15}" font-size="12">'
                         f'{_e(raw)}</text>')
        else:
            parts.append(f'<text x="{label_w + 4}" y="{y + 15}" font-size="12" '
                         f'fill="#505a5f">{_e(raw)}</text>')
    parts.append("</svg>")
    return '<div class="chart">' + "".join(parts) + "</div>"


def line_chart(title: str, categories: list[str],
               series: list[tuple[str, list[object]]]) -> str:
    """Lines over quarters in inline SVG. A suppressed or unavailable value breaks the line (a
    gap, never a drop to zero) and its symbol is written at the foot of that quarter."""
    if not categories or not series:
        return ""
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

    parts = [f'<svg role="img" aria-label="{_e(title)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">', f'<title>{_e(title)}</title>',
             f'<text x="0" y="16" font-size="13" font-weight="bold">{_e(title)}</text>']
    for n, (name, _vals) in enumerate(series):
        ly = 34 + 18 * n
        colour, dash = COLOURS[n % len(COLOURS)], DASHES[n % len(DASHES)]
        parts.append(f'<line x1="{left}" y1="{ly - 4}" x2="{left + 30}" y2="{ly - 4}" '
                     f'stroke="{colour}" stroke-width="3" stroke-dasharray="{dash}"/>')
        parts.append(f'<text x="{left + 38}" y="{ly}" font-size="12">{_e(name)}</text>')
    for k in range(5):
        v = y_top * k / 4
        parts.append(f'<line x1="{left}" y1="{y(v):.1f}" x2="{width - right}" y2="{y(v):.1f}" '
                     'stroke="#dddddd"/>')
        label = f"{v:g}"
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" font-size="11" '
                     f'text-anchor="end">{_e(label)}</text>')
    base = top_pad + plot_h
    for i, cat in enumerate(categories):
        parts.append(f'<text x="{x(i):.1f}" y="{base + 16}" font-size="12" '
                     f'text-anchor="middle">{_e(cat)}</text>')
    for n, (_name, vals) in enumerate(series):
        colour, dash = COLOURS[n % len(COLOURS)], DASHES[n % len(DASHES)]
        run: list[str] = []
        for i, raw in enumerate(list(vals) + [None]):
            v = _num(raw) if i < len(vals) else None
            if v is not None:
                run.append(f"{x(i):.1f},{y(v):.1f}")
                parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" '
                             f'fill="{colour}"/>')
                parts.append(f'<text x="{x(i) + 5:.1f}" y="{y(v) - 6:.1f}" font-size="11" '
                             f'fill="{colour}">{_e(raw)}</text>')
                continue
            if len(run) > 1:
                parts.append(f'<polyline points="{" ".join(run)}" fill="none" '
                             f'stroke="{colour}" stroke-width="2.5" '
                             f'stroke-dasharray="{dash}"/>')
            run = []
            if i < len(vals):
                parts.append(f'<text x="{x(i):.1f}" y="{base + 32 + 16 * n}" font-size="12" '
                             f'text-anchor="middle" fill="{colour}">{_e(raw)}</text>')
    parts.append("</svg>")
    return '<div class="chart">' + "".join(parts) + "</div>"


def html_table(columns: list[str], rows: list, *, skip: tuple[str, ...] = ()) -> str:
    """A table of published rows, all their text as published; headers read as words."""
    keep = [i for i, c in enumerate(columns) if c not in skip]
    head = "".join(f"<th>{_e(str(columns[i]).replace('_', ' '))}</th>" for i in keep)
    body = []
    for row in rows:
        cells = []
        for i in keep:
            v = row[i]
            cls = ' class="n"' if _num(v) is not None or str(v) in SYMBOLS else ""
            cells.append(f"<td{cls}>{_e(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="wide"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _rows(tables: dict, table: str) -> tuple[list[str], list[dict]]:
    columns, rows = tables[table]
    return columns, [dict(zip(columns, r, strict=True)) for r in rows]


PERIOD_COLUMNS = ("period_start", "period_end")
# Lists that are the same on every row of Tables 8 and 9: printed once under the table.
LIST_COLUMNS = ("datasets_present", "datasets_not_available", "indicators_present",
                "indicators_not_available")


def _trend_section(tables: dict) -> list[str]:
    if "trend" not in tables or not tables["trend"][1]:
        return []
    _cols, rows = _rows(tables, "trend")
    quarters = list(dict.fromkeys(r["quarter"] for r in rows))
    measures = list(dict.fromkeys((r["measure"], r["measure_label"]) for r in rows))
    value = {(r["measure"], r["quarter"]): r["value"] for r in rows}
    noted: dict[str, list[str]] = {}
    for r in rows:                  # each row's note joins its reasons with "; "
        for reason in filter(None, (r["note"] or "").split("; ")):
            if reason not in noted.setdefault(r["quarter"], []):
                noted[r["quarter"]].append(reason)
    marks = {q: f"{q}*" if q in noted else q for q in quarters}
    out = [f"<h2>Trend over the last {len(quarters)} quarters</h2>",
           '<p class="note">Each quarter as its own quarterly return publishes it (the same '
           "derivation and the same suppression): a gap in a line is a suppressed (c) or not "
           "available (:) value, never a zero. * = see the notes under the table.</p>"]
    groups = [("Children presenting with indicators, per quarter",
               [m for m in measures if m[0].startswith("children_at_least_")]),
              ("Missing episodes and children missing, per quarter",
               [m for m in measures if m[0].startswith("missing_")])]
    for title, chosen in groups:
        out.append(line_chart(title, [marks[q] for q in quarters],
                              [(label, [value.get((code, q), ":") for q in quarters])
                               for code, label in chosen]))
    head = "".join(f"<th>{_e(marks[q])}</th>" for q in quarters)
    body = []
    for code, label in measures:
        cells = "".join(
            f'<td class="n">{_e(value.get((code, q), ":"))}</td>' for q in quarters)
        body.append(f"<tr><td>{_e(label)}</td>{cells}</tr>")
    out.append(f'<div class="wide"><table><thead><tr><th>measure</th>{head}</tr></thead>'
               f"<tbody>{''.join(body)}</tbody></table></div>")
    if noted:
        out.append('<ul class="note notes">' + "".join(
            f"<li>{_e(q)}: {_e('; '.join(notes))}</li>" for q, notes in noted.items()) + "</ul>")
    return out


def _rates_table(rows: list[dict], all_label: str) -> str:
    """Children presenting with at least one indicator by age band and sex: count and rate."""
    any_rows = [r for r in rows if r["indicator"] == "ANY" and r["ethnicity_group"] == all_label
                and "rate_per_10000" in r]
    if not any_rows:
        return ""
    ages = list(dict.fromkeys(r["age_band"] for r in any_rows))
    sexes = list(dict.fromkeys(r["sex"] for r in any_rows))
    cell = {(r["age_band"], r["sex"]): r for r in any_rows}
    head = "".join(f"<th>{_e(sx)}: children</th><th>{_e(sx)}: rate per 10,000</th>"
                   for sx in sexes)
    body = []
    for age in ages:
        tds = "".join(
            f'<td class="n">{_e(cell[(age, sx)]["children"])}</td>'
            f'<td class="n">{_e(cell[(age, sx)]["rate_per_10000"])}</td>' for sx in sexes)
        body.append(f"<tr><td>{_e(age)}</td>{tds}</tr>")
    return ('<h3>Children presenting with at least one indicator, by age band and sex, with '
            'rates per 10,000</h3><div class="wide"><table><thead><tr><th>age band</th>'
            f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
            '<p class="note">Rates are per 10,000 residents of that age band and sex in the '
            "population estimate (All ages: the ages rates are given for); ':' = no population "
            "for that group (unknown age or sex, or ages outside the estimate).</p>")


def render_report(quarter: str, period: tuple[date, date], cover: list, tables: dict,
                  settings: dict | None = None) -> str:
    from warehouse.settings import load_settings

    s = load_settings((settings or {}).get("publication"))
    all_label = str(s.publication["all_label"])
    out = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
           f"<title>Children presenting with CSE indicators, {_e(quarter)}</title>",
           f"<style>{CSS}</style></head><body>",
           "<h1>Children presenting with indicators of child sexual exploitation</h1>",
           f'<p class="lede">{_e(quarter)}: {_e(period[0])} to {_e(period[1])}. Counts of '
           "children presenting with indicators across the partnership's linked records. "
           "An indicator is a recorded event, not a judgement about a child: no single "
           "indicator, or combination of indicators, is evidence that a child is being "
           "exploited.</p>",
           '<p class="note">c = suppressed (a small number, or one that would reveal a small '
           "number); 0 = a true zero; : = not available; z = not applicable."
           + (" Counts are rounded to the nearest 5, each on its own, so totals may differ "
              "from the sum of their parts." if s.rounding == "nearest_5" else "") + "</p>"]
    out += _trend_section(tables)
    out.append('<h2>About this return</h2><div class="wide"><table class="cover"><tbody>')
    out += [f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in cover]
    out.append("</tbody></table></div>")

    for table, heading, prefix in (
        ("table8_datasets", "Table 8: children presenting in k data sets", "data sets"),
        ("table9_indicators", "Table 9: children presenting with k indicators", "indicators"),
    ):
        cols, rows = _rows(tables, table)
        out.append(f"<h2>{_e(heading)}</h2>")
        out.append(bar_chart(f"Children presenting with exactly k {prefix}",
                             [(f"{r['k_label']} {prefix}", r["children_exactly_k"])
                              for r in rows]))
        out.append(html_table(cols, tables[table][1], skip=PERIOD_COLUMNS + LIST_COLUMNS))
        if rows:
            lists = [(c.replace("_", " "), rows[0][c]) for c in LIST_COLUMNS if c in rows[0]]
            out.append('<p class="note">' + "<br>".join(
                f"{_e(name)}: {_e(text) or 'none'}" for name, text in lists) + "</p>")

    cols, rows = _rows(tables, "indicator_breakdown")
    any_rows = [r for r in rows if r["indicator"] == "ANY"]
    out.append("<h2>Children presenting with at least one indicator, by characteristic</h2>")
    for dim, others, label in (("age_band", ("sex", "ethnicity_group"), "age band"),
                               ("sex", ("age_band", "ethnicity_group"), "sex"),
                               ("ethnicity_group", ("age_band", "sex"), "ethnic group")):
        bars = [(r[dim], r["children"]) for r in any_rows
                if r[dim] != all_label and all(r[o] == all_label for o in others)]
        out.append(bar_chart(f"Children presenting with indicators by {label}", bars,
                             colour=COLOURS[1]))
    out.append(_rates_table(rows, all_label))
    totals = [r for r in rows if r["age_band"] == all_label and r["sex"] == all_label
              and r["ethnicity_group"] == all_label]
    out.append("<h3>Children presenting with each indicator</h3>")
    out.append(bar_chart("Children presenting with each indicator",
                         [(f"{r['indicator']} {r['indicator_label']}", r["children"])
                          for r in totals], colour=COLOURS[2]))
    out.append(html_table(["indicator", "indicator_label", "dataset", "children",
                           "rate_per_10000", "indicator_status"],
                          [(r["indicator"], r["indicator_label"], r["dataset"], r["children"],
                            r.get("rate_per_10000", ":"), r["indicator_status"])
                           for r in totals]))
    out.append('<p class="note">The full breakdown by age band, sex and ethnic group is in the '
               "workbook (sheet Indicator_breakdown) and the CSV files.</p>")

    cols, rows = _rows(tables, "missing_episodes")
    out.append("<h2>Missing episodes and return interviews</h2>")
    for feed in dict.fromkeys(r["feed"] for r in rows):
        feed_rows = [r for r in rows if r["feed"] == feed]
        out.append(bar_chart(f"{feed_rows[0]['feed_label']}: missing measures",
                             [(r["measure_label"], r["value"]) for r in feed_rows],
                             colour=COLOURS[3]))
    out.append(html_table(cols, tables["missing_episodes"][1], skip=PERIOD_COLUMNS))

    cols, rows = _rows(tables, "feed_overlap")
    out.append("<h2>Overlap of children between agencies</h2>")
    out.append(bar_chart("Children by the combination of feeds holding a record of them",
                         [(r["feeds"], r["children"]) for r in rows
                          if r["row_type"] == "combination"], colour=COLOURS[4]))
    out.append(html_table(cols, tables["feed_overlap"][1], skip=PERIOD_COLUMNS))

    out.append("<h2>Linkage summary per feed</h2>")
    cols, _r = _rows(tables, "linkage_summary")
    out.append(html_table(cols, tables["linkage_summary"][1], skip=PERIOD_COLUMNS))

    cols, rows = _rows(tables, "data_completeness")
    out.append("<h2>Data completeness</h2>")
    for feed in dict.fromkeys(r["feed"] for r in rows):
        feed_rows = [r for r in rows if r["feed"] == feed]
        label = feed_rows[0].get("feed_label") or feed
        out.append(bar_chart(f"{label}: % of records with the field not recorded",
                             [(r["field_label"], r["pct_not_recorded"]) for r in feed_rows],
                             colour=COLOURS[5]))
    out.append(html_table(cols, tables["data_completeness"][1], skip=PERIOD_COLUMNS))

    out.append("<h2>Indicator status</h2>")
    cols, _r = _rows(tables, "indicator_status")
    out.append(html_table(cols, tables["indicator_status"][1], skip=PERIOD_COLUMNS))
    out.append(_notes(cover))
    out.append("</body></html>")
    return "\n".join(out)


def _notes(cover: list) -> str:
    """How to read the numbers: the cover's rules again, where a reader finishes."""
    wanted = ("Suppression rule", "Rounding", "Rates per 10,000", "Trend")
    items = [(k, v) for k, v in cover if k in wanted]
    items.append(("Wording", "figures count children presenting with indicators (recorded "
                             "events); the pipeline gives no child a score"))
    return ('<h2>Notes</h2><ul class="notes">'
            + "".join(f"<li><strong>{_e(k)}</strong>: {_e(v)}</li>" for k, v in items)
            + "</ul>")


def write_report(path: Path, quarter: str, period, cover: list, tables: dict,
                 settings: dict | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(quarter, period, cover, tables, settings), encoding="utf-8")
    return path
