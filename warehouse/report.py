"""The report for people: one self-contained HTML file per period (inline CSS, inline SVG charts,
no scripts, fonts or links to fetch), readable offline and printable.

It shows the published tables only - suppressed text exactly as published - so it can never say
more than the return. Wording: "children presenting with indicators"; the pipeline gives no child
a score.
"""

from __future__ import annotations

import html
from datetime import date
from pathlib import Path

CSS = """
body{font-family:Arial,Helvetica,sans-serif;margin:2em auto;max-width:70em;color:#0b0c0c;
line-height:1.4;padding:0 1em}
h1{font-size:1.9em;margin-bottom:.2em}h2{border-top:4px solid #1d70b8;padding-top:.4em;
margin-top:1.6em}
.lede{font-size:1.1em;color:#505a5f}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.9em}
th,td{border:1px solid #b1b4b6;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f2f1}td.n{text-align:right;font-variant-numeric:tabular-nums}
.note{font-size:.9em;color:#505a5f}.chart{margin:.4em 0 1em}
.cover td:first-child{font-weight:bold;width:18em}
@media print{h2{page-break-before:auto}}
"""

COLOURS = ["#1d70b8", "#28a197", "#f47738", "#801650", "#6f72af", "#b58840"]


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _num(text: object) -> float | None:
    try:
        return float(str(text))
    except ValueError:
        return None


def bar_chart(title: str, bars: list[tuple[str, object]], *, colour: str = COLOURS[0],
              width: int = 640) -> str:
    """Horizontal bars in inline SVG; a suppressed / unavailable value is drawn as no bar with
    its symbol beside the label."""
    if not bars:
        return ""
    row_h, label_w = 24, 230
    height = row_h * len(bars) + 30
    values = [_num(v) for _l, v in bars]
    top = max([v for v in values if v is not None] + [1.0])
    parts = [f'<svg role="img" aria-label="{_e(title)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">',
             f'<title>{_e(title)}</title>',
             f'<text x="0" y="16" font-size="13" font-weight="bold">{_e(title)}</text>']
    for i, ((label, raw), value) in enumerate(zip(bars, values, strict=True)):
        y = 28 + i * row_h
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" font-size="12" '
                     f'text-anchor="end">{_e(label)}</text>')
        if value is not None:
            w = max(0.0, (width - label_w - 60) * value / top)
            parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" '
                         f'fill="{colour}"/>')
            parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 15}" font-size="12">'
                         f'{_e(raw)}</text>')
        else:
            parts.append(f'<text x="{label_w + 4}" y="{y + 15}" font-size="12" '
                         f'fill="#505a5f">{_e(raw)}</text>')
    parts.append("</svg>")
    return '<div class="chart">' + "".join(parts) + "</div>"


def html_table(columns: list[str], rows: list, *, skip: tuple[str, ...] = ()) -> str:
    keep = [i for i, c in enumerate(columns) if c not in skip]
    head = "".join(f"<th>{_e(columns[i])}</th>" for i in keep)
    body = []
    for row in rows:
        cells = []
        for i in keep:
            v = row[i]
            cls = ' class="n"' if _num(v) is not None or str(v) in ("c", ":", "z") else ""
            cells.append(f"<td{cls}>{_e(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _rows(tables: dict, table: str) -> tuple[list[str], list[dict]]:
    columns, rows = tables[table]
    return columns, [dict(zip(columns, r, strict=True)) for r in rows]


def render_report(quarter: str, period: tuple[date, date], cover: list, tables: dict,
                  settings: dict | None = None) -> str:
    period_cols = ("period_start", "period_end")
    out = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
           f"<title>Children presenting with CSE indicators, {_e(quarter)}</title>",
           f"<style>{CSS}</style></head><body>",
           "<h1>Children presenting with indicators of child sexual exploitation</h1>",
           f'<p class="lede">{_e(quarter)}: {_e(period[0])} to {_e(period[1])}. Counts of '
           "children presenting with indicators across the partnership's linked records. "
           "An indicator is a recorded event, not a judgement about a child.</p>",
           '<p class="note">c = suppressed (a small number, or one that would reveal a small '
           "number); 0 = a true zero; : = not available; z = not applicable.</p>"]
    out.append('<h2>About this return</h2><table class="cover"><tbody>')
    out += [f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in cover]
    out.append("</tbody></table>")

    for table, heading, prefix in (
        ("table8_datasets", "Table 8: children presenting in k data sets", "data sets"),
        ("table9_indicators", "Table 9: children presenting with k indicators", "indicators"),
    ):
        cols, rows = _rows(tables, table)
        out.append(f"<h2>{_e(heading)}</h2>")
        out.append(bar_chart(f"Children presenting with exactly k {prefix}",
                             [(f"{r['k_label']} {prefix}", r["children_exactly_k"])
                              for r in rows]))
        out.append(html_table(cols, tables[table][1], skip=period_cols))

    cols, rows = _rows(tables, "indicator_breakdown")
    any_rows = [r for r in rows if r["indicator"] == "ANY"]
    out.append("<h2>Children presenting with at least one indicator, by characteristic</h2>")
    for dim, others, label in (("age_band", ("sex", "ethnicity_group"), "age band"),
                               ("sex", ("age_band", "ethnicity_group"), "sex"),
                               ("ethnicity_group", ("age_band", "sex"), "ethnic group")):
        bars = [(r[dim], r["children"]) for r in any_rows
                if r[dim] != "All" and all(r[o] == "All" for o in others)]
        out.append(bar_chart(f"Children presenting with indicators by {label}", bars,
                             colour=COLOURS[1]))
    totals = [r for r in rows if r["age_band"] == "All" and r["sex"] == "All"
              and r["ethnicity_group"] == "All"]
    out.append("<h3>Children presenting with each indicator</h3>")
    out.append(bar_chart("Children presenting with each indicator",
                         [(f"{r['indicator']} {r['indicator_label'][:28]}", r["children"])
                          for r in totals], colour=COLOURS[2]))
    out.append(html_table(["indicator", "indicator_label", "dataset", "children",
                           "indicator_status"],
                          [(r["indicator"], r["indicator_label"], r["dataset"], r["children"],
                            r["indicator_status"]) for r in totals]))
    out.append('<p class="note">The full breakdown by age band, sex and ethnic group is in the '
               "workbook (sheet Indicator_breakdown) and the CSV files.</p>")

    cols, rows = _rows(tables, "missing_episodes")
    out.append("<h2>Missing episodes and return interviews</h2>")
    for feed in dict.fromkeys(r["feed"] for r in rows):
        feed_rows = [r for r in rows if r["feed"] == feed]
        out.append(bar_chart(f"{feed_rows[0]['feed_label']}: missing measures",
                             [(r["measure_label"][:34], r["value"]) for r in feed_rows],
                             colour=COLOURS[3]))
    out.append(html_table(cols, tables["missing_episodes"][1], skip=period_cols))

    cols, rows = _rows(tables, "feed_overlap")
    out.append("<h2>Overlap of children between agencies</h2>")
    out.append(bar_chart("Children by the combination of feeds holding a record of them",
                         [(r["feeds"], r["children"]) for r in rows
                          if r["row_type"] == "combination"], colour=COLOURS[4]))
    out.append(html_table(cols, tables["feed_overlap"][1], skip=period_cols))

    out.append("<h2>Linkage summary per feed</h2>")
    cols, _r = _rows(tables, "linkage_summary")
    out.append(html_table(cols, tables["linkage_summary"][1], skip=period_cols))

    cols, rows = _rows(tables, "data_completeness")
    out.append("<h2>Data completeness</h2>")
    for feed in dict.fromkeys(r["feed"] for r in rows):
        out.append(bar_chart(f"{feed}: % of records with the field not recorded",
                             [(r["field_label"], r["pct_not_recorded"]) for r in rows
                              if r["feed"] == feed], colour=COLOURS[5]))
    out.append(html_table(cols, tables["data_completeness"][1], skip=period_cols))

    out.append("<h2>Indicator status</h2>")
    cols, _r = _rows(tables, "indicator_status")
    out.append(html_table(cols, tables["indicator_status"][1], skip=period_cols))
    out.append("</body></html>")
    return "\n".join(out)


def write_report(path: Path, quarter: str, period, cover: list, tables: dict,
                 settings: dict | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(quarter, period, cover, tables, settings), encoding="utf-8")
    return path
