"""The model report: one self-contained HTML page per run, saying what the model learnt.

A Fellegi-Sunter model is only trustworthy when people can read it: which agreements count for
how much, and where the clustering threshold falls among the pairs it scored. The page holds the
parameters (m, u and the match weight log2(m/u) of every comparison level, as a bar chart on one
scale so that levels of different comparisons can be weighed against each other), the prior, the
EM training, a histogram of the candidate pairs' match weights with the threshold and the review
band marked, the commonest comparison patterns of the pairs that link or reach review as
waterfalls (why such pairs scored as they did: the prior, then each comparison's part), and the
run's counts. It is read offline, by people on locked-down machines and
attached to audit records, so it carries no script, style sheet or font from anywhere else: the
charts are inline SVG. It holds parameters and counts only, never a record.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from sources.common.html import Markup, Pages, svg

WEIGHT_BIN = 1.0          # histogram bin width, in bits of match weight
HIST_RANGE = (-40, 40)    # weights beyond are counted in the end bins
WATERFALL_PATTERNS = 12   # comparison patterns shown as waterfalls

POSITIVE, NEGATIVE, PRIOR = "#2f6db5", "#c2492f", "#7a5aa6"
PAGES = Pages(Path(__file__).parent / "templates")


def _num(value: object, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, int):
        return f"{value:,}"
    return f"{float(value):.{digits}g}"


def threshold_weight(probability: float) -> float:
    """The match weight at which match_probability equals `probability` (log2 odds)."""
    return math.log2(probability / (1.0 - probability))


def _model_table(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute("SELECT comparison, level, label, m, u, match_weight, u_random, u_em "
                       "FROM linkage.model").df()


def weight_histogram(con: duckdb.DuckDBPyConnection, scored_table: str, threshold: float,
                     extra_rule_nos: tuple[int, ...]) -> pd.DataFrame:
    """Candidate pairs per match-weight bin, split into those linked and those not. Read from
    the run's scored table, which holds every candidate pair (linkage.pair keeps only those
    that can matter); pairs added after blocking (`extra_rule_nos`: cluster checks, reviewers'
    pairs) are left out."""
    low, high = HIST_RANGE
    return con.execute(
        "SELECT greatest(least(floor(match_weight / $w) * $w, $high - $w), $low) AS bin, "
        "count(*) FILTER (match_probability >= $t) AS linked, "
        "count(*) FILTER (match_probability < $t) AS not_linked "
        f"FROM {scored_table} WHERE rule_no NOT IN (SELECT unnest($extra)) "
        "AND match_weight IS NOT NULL GROUP BY 1 ORDER BY 1",
        {"w": WEIGHT_BIN, "low": low, "high": high, "t": threshold,
         "extra": list(extra_rule_nos)},
    ).df()


def pattern_waterfalls(con: duckdb.DuckDBPyConnection, scored_table: str,
                       comparisons: list, low: float, extra_rule_nos: tuple[int, ...],
                       limit: int = WATERFALL_PATTERNS) -> pd.DataFrame:
    """Why pairs scored as they did, without naming a pair: the commonest comparison patterns
    (one level per comparison) among the candidate pairs the model gives at least `low` (those
    that link or reach review), with how many pairs have each, each comparison's mean part of
    their match weight (term frequencies included) and their mean weight and probability."""
    if not comparisons:
        return pd.DataFrame()
    gammas = ", ".join(c.gamma for c in comparisons)
    parts = ", ".join(f"avg({c.weight}) AS {c.weight}" for c in comparisons)
    return con.execute(
        f"SELECT {gammas}, count(*) AS pairs, {parts}, avg(match_weight) AS match_weight, "
        "avg(model_probability) AS model_probability FROM "
        f"{scored_table} WHERE rule_no NOT IN (SELECT unnest($extra)) "
        f"AND model_probability >= $low GROUP BY ALL ORDER BY pairs DESC, {gammas} LIMIT $n",
        {"extra": list(extra_rule_nos), "low": low, "n": limit}).df()


def _waterfall_rows(patterns: pd.DataFrame, model: pd.DataFrame,
                    prior_weight: float) -> tuple[list[str], list[list[str]]]:
    """Table of the patterns as waterfalls: the prior, then each comparison's level and part,
    then the weight they add up to and its probability."""
    if patterns.empty:
        return [], []
    names = [c.removeprefix("gamma_") for c in patterns.columns if c.startswith("gamma_")]
    labels = {(c, int(lvl)): lab for c, lvl, lab in
              model.dropna(subset=["level"])[["comparison", "level", "label"]]
              .itertuples(index=False)}
    labels.update({(c, -1): "missing" for c in names})
    rows = []
    for rec in patterns.to_dict("records"):
        steps = [f"{labels.get((c, int(rec['gamma_' + c])), '?')} {rec['weight_' + c]:+.2f}"
                 for c in names]
        rows.append([f"{int(rec['pairs']):,}", f"{prior_weight:+.2f}", *steps,
                     f"{rec['match_weight']:+.2f}", _num(rec["model_probability"], 4)])
    return ["pairs", "prior", *names, "match weight", "probability"], rows


def _weights_chart(levels: pd.DataFrame, prior_weight: float) -> Markup:
    """Horizontal bars from a zero axis, one row per level, grouped by comparison."""
    rows: list[tuple[str, ...]] = [("prior", "", "lambda", "", "", repr(prior_weight))]
    for comp, group in levels.groupby("comparison", sort=False):
        for rec in group.itertuples():
            rows.append(("level", str(comp), str(rec.label), repr(float(rec.m)),
                         repr(float(rec.u)), repr(float(rec.match_weight)), str(int(rec.level))))
    weights = [float(r[5]) for r in rows]
    lo = min(0.0, min(weights)) - 0.5
    hi = max(0.0, max(weights)) + 0.5
    # value_w: room beside the plot for the value printed at the end of the longest bars
    label_w, plot_w, value_w, row_h, gap = 230, 620, 52, 20, 14

    def x(w: float) -> float:
        return label_w + value_w + (w - lo) / (hi - lo) * plot_w

    parts: list[Markup] = []
    y = 30
    previous_group = None
    for row in rows:
        group = "prior" if row[0] == "prior" else row[1]
        if group != previous_group:
            y += gap
            parts.append(svg('<text x="4" y="{}" font-weight="600" font-size="13">{}</text>',
                             y + 2, "prior (lambda)" if group == "prior" else group))
            y += 6
            previous_group = group
        weight = float(row[5])
        x0, x1 = sorted((x(0.0), x(weight)))
        colour = PRIOR if row[0] == "prior" else (POSITIVE if weight >= 0 else NEGATIVE)
        if row[0] == "prior":
            attrs = svg('class="bar prior" data-weight="{}"', row[5])
            tip = f"prior: match weight {weight:.3f}"
        else:
            attrs = svg('class="bar" data-comparison="{}" data-level="{}" data-label="{}" '
                        'data-m="{}" data-u="{}" data-weight="{}"', row[1], row[6],
                        row[2], row[3], row[4], row[5])
            tip = (f"{row[1]} {row[2]}: m={float(row[3]):.4g}, u={float(row[4]):.4g}, "
                   f"weight={weight:.3f}")
        parts.append(svg('<text x="{}" y="{}" text-anchor="end" font-size="12">{}</text>',
                         label_w - 8, y + 14, row[2]))
        parts.append(svg('<rect {} x="{:.1f}" y="{}" width="{:.1f}" height="{}" fill="{}">'
                         "<title>{}</title></rect>", attrs, x0, y + 3, max(x1 - x0, 1.0),
                         row_h - 6, colour, tip))
        text_x = x1 + 5 if weight >= 0 else x0 - 5
        anchor = "start" if weight >= 0 else "end"
        parts.append(svg('<text x="{:.1f}" y="{}" text-anchor="{}" font-size="11" '
                         'fill="#4a5567">{:+.2f}</text>', text_x, y + 14, anchor, weight))
        y += row_h
    axis: list[Markup] = []
    step = 5 if hi - lo <= 60 else 10
    tick = math.ceil(lo / step) * step
    while tick <= hi:
        axis.append(svg('<line x1="{0:.1f}" y1="24" x2="{0:.1f}" y2="{1}" stroke="{2}" '
                        'stroke-width="{3}"/>', x(tick), y + 4,
                        "#8a94a6" if tick == 0 else "#e6eaf0", 1.2 if tick == 0 else 1))
        axis.append(svg('<text x="{:.1f}" y="{}" text-anchor="middle" font-size="11" '
                        'fill="#4a5567">{:g}</text>', x(tick), y + 18, tick))
        tick += step
    axis.append(svg('<text x="{:.0f}" y="16" text-anchor="middle" font-size="12" '
                    'fill="#4a5567">match weight, log2(m/u) (bits; 0 = no evidence either way)'
                    "</text>", x((lo + hi) / 2)))
    width = label_w + plot_w + 2 * value_w
    return (svg('<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{0}" height="{1}" '
                'viewBox="0 0 {0} {1}" aria-label="Match weight of every comparison level">',
                width, y + 26)
            + Markup("").join(axis) + Markup("").join(parts) + Markup("</svg>"))


def _histogram_chart(hist: pd.DataFrame, threshold: float, band_low: float) -> Markup:
    """Candidate pairs per weight bin, linked ones dark, with the threshold and the review band;
    every piece of text on it is a number or a fixed label."""
    width, height, left, right, top, bottom = 960, 330, 60, 20, 40, 50
    if hist.empty:
        return Markup('<p class="note">No candidate pairs were scored.</p>')
    t_weight = threshold_weight(threshold)
    b_weight = threshold_weight(band_low) if 0.0 < band_low < 1.0 else None
    lo = min(float(hist["bin"].min()), t_weight - 2, b_weight or t_weight) - 1
    hi = max(float(hist["bin"].max()) + WEIGHT_BIN, t_weight + 2) + 1
    peak = max(int((hist["linked"] + hist["not_linked"]).max()), 1)
    use_log = peak > 50 * max(int((hist["linked"] + hist["not_linked"]).median()), 1)

    def x(w: float) -> float:
        return left + (w - lo) / (hi - lo) * (width - left - right)

    def h(n: int) -> float:
        if n <= 0:
            return 0.0
        scale = math.log10(n + 1) / math.log10(peak + 1) if use_log else n / peak
        return scale * (height - top - bottom)

    base = height - bottom
    parts = []
    if b_weight is not None and b_weight < t_weight:
        parts.append(f'<rect x="{x(b_weight):.1f}" y="{top}" '
                     f'width="{x(t_weight) - x(b_weight):.1f}" height="{base - top}" '
                     'fill="#f6e7b8" opacity="0.6"><title>review band</title></rect>')
    bar_w = max((x(WEIGHT_BIN) - x(0)) - 1.5, 1.0)
    for rec in hist.itertuples():
        linked, not_linked = int(rec.linked), int(rec.not_linked)
        total = linked + not_linked
        h_total, h_linked = h(total), h(total) * (linked / total if total else 0)
        x0 = x(float(rec.bin)) + 0.75
        tip = (f"weight {rec.bin:g} to {rec.bin + WEIGHT_BIN:g}: {total:,} pairs "
               f"({linked:,} linked)")
        parts.append(svg('<g class="hbin" data-bin="{0:g}" data-pairs="{1}" data-linked="{2}">'
                         '<title>{3}</title><rect x="{4:.1f}" y="{5:.1f}" width="{6:.1f}" '
                         'height="{7:.1f}" fill="#9fb3c8"/><rect x="{4:.1f}" y="{8:.1f}" '
                         'width="{6:.1f}" height="{9:.1f}" fill="{10}"/></g>',
                         rec.bin, total, linked, tip, x0, base - h_total, bar_w,
                         h_total - h_linked, base - h_linked, h_linked, POSITIVE))
    parts.append(f'<line class="threshold" x1="{x(t_weight):.1f}" y1="{top - 8}" '
                 f'x2="{x(t_weight):.1f}" y2="{base}" stroke="#1d2430" stroke-width="2" '
                 'stroke-dasharray="5,3"/>')
    parts.append(f'<text x="{x(t_weight) + 5:.1f}" y="{top + 4}" font-size="12">threshold '
                 f'p = {threshold:g} (weight {t_weight:.2f})</text>')
    step = 5 if hi - lo <= 60 else 10
    tick = math.ceil(lo / step) * step
    while tick <= hi:
        parts.append(f'<line x1="{x(tick):.1f}" y1="{base}" x2="{x(tick):.1f}" '
                     f'y2="{base + 5}" stroke="#8a94a6"/>'
                     f'<text x="{x(tick):.1f}" y="{base + 18}" text-anchor="middle" '
                     f'font-size="11" fill="#4a5567">{tick:g}</text>')
        tick += step
    parts.append(f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" '
                 'stroke="#8a94a6"/>')
    parts.append(f'<text x="{(left + width - right) / 2:.0f}" y="{height - 10}" '
                 'text-anchor="middle" font-size="12" fill="#4a5567">match weight of the pair '
                 '(bits)</text>')
    scale = "log scale" if use_log else "linear scale"
    parts.append(f'<text x="14" y="{(top + base) / 2:.0f}" font-size="12" fill="#4a5567" '
                 f'transform="rotate(-90 14 {(top + base) / 2:.0f})" text-anchor="middle">'
                 f'candidate pairs ({scale})</text>')
    parts.append(f'<text x="{left}" y="{top - 14}" font-size="11" fill="#4a5567">peak '
                 f'{peak:,} pairs per bin</text>')
    legend_x = width - right - 250
    for i, (colour, text) in enumerate(((POSITIVE, "linked"), ("#9fb3c8", "not linked"),
                                        ("#f6e7b8", "review band"))):
        lx = legend_x + i * 85
        parts.append(f'<rect x="{lx}" y="{top - 24}" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{lx + 16}" y="{top - 14}" font-size="11">{text}</text>')
    return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
                  f'height="{height}" viewBox="0 0 {width} {height}" '
                  'aria-label="Histogram of candidate pair match weights">'
                  + "".join(parts) + "</svg>")


def _tiles(items: list[tuple[str, object]]) -> list[tuple[str, str]]:
    return [(k, v if isinstance(v, str) else _num(v)) for k, v in items]


def _parameter_rows(model: pd.DataFrame) -> list[list[str]]:
    return [[rec.comparison, "" if pd.isna(rec.level) else str(int(rec.level)), rec.label,
             _num(rec.m, 6), _num(rec.u, 6), _num(rec.match_weight, 5), _num(rec.u_random, 6),
             _num(rec.u_em, 6)] for rec in model.itertuples()]


def _count_rows(summary: dict) -> list[tuple[str, str]]:
    skip = {"seconds", "pairs_first_found_by_rule", "em_sessions", "review_band",
            "model_report", "vetoed_pairs", "review_decisions"}
    rows = [(k, v) for k, v in summary.items() if k not in skip
            and isinstance(v, (int, float, str)) and not isinstance(v, bool)]
    for name, value in (summary.get("vetoed_pairs") or {}).items():
        rows.append((f"vetoed pairs: {name}", value))
    for name, value in (summary.get("review_decisions") or {}).items():
        rows.append((f"review decisions: {name}", value))
    for name, value in (summary.get("pairs_first_found_by_rule") or {}).items():
        rows.append((f"candidate pairs first found by rule: {name}", value))
    return [(k.replace("_", " "), _num(v, 6) if not isinstance(v, str) else v) for k, v in rows]


def model_report_html(con: duckdb.DuckDBPyConnection, summary: dict, settings: dict,
                      hist: pd.DataFrame, patterns: pd.DataFrame | None = None,
                      title: str = "Joined Up linkage model") -> str:
    """`hist` is weight_histogram's and `patterns` pattern_waterfalls', both taken while the
    run's scored pairs still exist."""
    model = _model_table(con)
    levels = model[(model["comparison"] != "_prior") & model["m"].notna()]
    prior = model[(model["comparison"] == "_prior") & (model["label"] == "lambda")]
    prior_weight = float(prior["match_weight"].iloc[0]) if len(prior) else 0.0
    lam = float(prior["m"].iloc[0]) if len(prior) else float("nan")
    threshold = float(settings["clustering"]["threshold"])
    band_low = float(settings["review"]["low"])
    sessions = summary.get("em_sessions") or []
    seconds = summary.get("seconds") or {}
    return PAGES.render(
        "model_report.html.j2", title=title,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        run_tiles=_tiles([("records", summary.get("records")),
                          ("candidate pairs", summary.get("candidate_pairs")),
                          ("pairs at or above the threshold", summary.get("pairs_above_threshold")),
                          ("people (clusters)", summary.get("clusters")),
                          ("people with more than one record",
                           summary.get("multi_record_clusters")),
                          ("pairs for review", summary.get("review_pairs"))]),
        model_tiles=_tiles([
            ("prior match probability (lambda)", lam),
            ("prior match weight", prior_weight),
            ("lambda among candidate pairs", summary.get("lambda_candidates")),
            ("clustering threshold (probability)", threshold),
            ("threshold as match weight", threshold_weight(threshold)),
            ("m estimated by", str(summary.get("m_source", ""))),
            ("u estimated from", str(summary.get("u_source", ""))),
            ("EM sessions", ", ".join(sessions) if sessions else "one fit on all pairs"),
            ("EM iterations (all sessions)", summary.get("em_iterations")),
            ("EM sample pairs", summary.get("em_sample_pairs")),
            ("u sample pairs (random)", summary.get("u_sample_pairs"))]),
        weights_chart=_weights_chart(levels, prior_weight),
        weight_bin=WEIGHT_BIN, band_low=band_low, threshold=threshold, hist_range=HIST_RANGE,
        histogram=_histogram_chart(hist, threshold, band_low),
        waterfall=_waterfall_rows(patterns if patterns is not None else pd.DataFrame(), model,
                                  prior_weight),
        em_ran=summary.get("m_source") != "default",
        parameters=_parameter_rows(model), counts=_count_rows(summary),
        timing=[(k, f"{float(v):.2f} s") for k, v in seconds.items()])


def write_model_report(con: duckdb.DuckDBPyConnection, path: Path, summary: dict,
                       settings: dict, hist: pd.DataFrame,
                       patterns: pd.DataFrame | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(model_report_html(con, summary, settings, hist, patterns),
                    encoding="utf-8")
    return path
