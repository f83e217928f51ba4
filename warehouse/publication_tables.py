"""The published tables beyond Tables 8 / 9 and the indicator breakdown: missing episodes,
overlap of children between feeds, the linkage summary per feed and data completeness per feed
and field.

Each table is a set of cells and equations (see warehouse.disclosure) that `publish_tables` adds
to the period's single cell system, so they are suppressed and checked together with the other
tables: a number printed in two tables (children in a feed, records of a feed) is one cell, or
two cells tied by an equation, and can never be hidden in one and shown in the other. Cells that
are not printed but follow from printed ones (children *not* missing from home, records of a
feed with a field recorded) are in the system too, so a small complement is protected as well.

SQL is in warehouse/sql/publish/*.sql; settings in warehouse/catalogue/publication.yaml.
"""

from __future__ import annotations

import csv
import itertools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from sources.common.sqlfiles import SqlFiles, reset_variables, set_variables
from sources.kinds import load_kinds
from warehouse.disclosure import Cell, Equation, render, render_percent, render_rate
from warehouse.settings import Settings, SettingsError

SQL = SqlFiles.beside(__file__)

log = logging.getLogger(__name__)

NOT_AVAILABLE = ":"

MISSING_FROM = [("HOME", "from home"), ("CARE", "from care"),
                ("OTHER", "from elsewhere or not known")]
DURATIONS = [("under_24h", "lasting under 24 hours"), ("over_24h", "lasting 24 hours or more"),
             ("not_known", "with no recorded end (still missing or not recorded)")]
TYPES = [("MISSING", "missing"), ("AWAY", "away from placement without authorisation"),
         ("NOT_RECORDED", "type not recorded")]
RHI_RESPONSES = [("accepted", "return interview accepted"),
                 ("declined", "return interview declined"),
                 ("not_recorded", "offered, response not recorded")]


@dataclass
class ExtraTables:
    """Cells, equations and the recipe to render each table's rows once suppression is done."""

    cells: list[Cell] = field(default_factory=list)
    equations: list[Equation] = field(default_factory=list)
    builders: dict[str, Any] = field(default_factory=dict)   # table -> fn(cells) -> (cols, rows)

    def cell(self, cid: str, value: int, level: int = 0, *, headline: bool = False) -> str:
        self.cells.append(Cell(cid, int(value), level=level, headline=headline))
        return cid

    def total(self, total: str, parts: list[str]) -> None:
        self.equations.append(Equation.total(total, parts))


# ---------------------------------------------------------------- population

_SEX_CODES = {"M": "M", "MALE": "M", "1": "M", "F": "F", "FEMALE": "F", "2": "F"}


@dataclass(frozen=True)
class Population:
    """The latest year of an ONS-style estimate: people by single year of age and sex, so that
    rates can be given for any age band and sex the breakdown publishes."""

    year: int
    counts: dict[tuple[int, str], int]

    def total(self, min_age: int, max_age: int, sex: str | None = None) -> int:
        return sum(n for (age, sx), n in self.counts.items()
                   if min_age <= age <= max_age and (sex is None or sx == sex))


def population_path(s: Settings) -> Path | None:
    """The population file named by the `population_file` setting (the nightly run and the
    return name the home's own estimate there when the partnership names none)."""
    configured = s.publication.get("population_file")
    if not configured:
        return None
    path = Path(str(configured)).expanduser()
    if not path.exists():
        raise SettingsError(f"population_file {path} does not exist")
    return path


def read_population(path: Path) -> Population:
    """An ONS-style CSV (year, age, sex, population; other columns ignored), latest year only.
    Ages such as '90+' count as 90."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    needed = {"year", "age", "sex", "population"}
    if not rows or not needed <= set(rows[0]):
        raise SettingsError(f"{path}: expected columns {sorted(needed)}")
    latest = max(int(r["year"]) for r in rows)
    counts: dict[tuple[int, str], int] = {}
    for number, r in enumerate(rows, start=2):
        if int(r["year"]) != latest:
            continue
        sex = _SEX_CODES.get(str(r["sex"]).strip().upper())
        if sex is None:
            raise SettingsError(f"{path} row {number}, column sex: {r['sex']!r} is not M / F "
                                "(or 1 / 2); give one row per single year of age and sex")
        key = (int(str(r["age"]).strip().rstrip("+")), sex)
        counts[key] = counts.get(key, 0) + int(r["population"])
    return Population(latest, counts)


def load_population(path: Path, min_age: int, max_age: int) -> int:
    """Children aged min_age..max_age (both sexes) in the latest year of an ONS-style CSV."""
    return read_population(path).total(min_age, max_age)


def rate_ages(s: Settings) -> tuple[int, int]:
    ages = s.publication.get("rate_ages") or {"min": 0, "max": 17}
    return int(ages["min"]), int(ages["max"])


def population_estimate(s: Settings) -> Population | None:
    path = population_path(s)
    return None if path is None else read_population(path)


# ---------------------------------------------------------------- helpers


def _feed_of_kind() -> dict[str, str]:
    return {k.name: k.feed for k in load_kinds().values()}


def _feeds() -> list[str]:
    out: list[str] = []
    for k in load_kinds().values():
        if k.feed not in out:
            out.append(k.feed)
    return out


def _label(s: Settings, feed: str) -> str:
    return str((s.publication.get("feed_labels") or {}).get(feed, feed))


# ---------------------------------------------------------------- missing episodes


def _missing(con, s: Settings, period, population: int | None, t: ExtraTables) -> None:
    cfg = s.publication.get("missing") or {}
    variables = {
        "period_start": period[0], "period_end": period[1],
        "occurrence_types": list(cfg.get("police_occurrence_types") or ["MISSING"]),
        "repeat_count": int(cfg.get("repeat_count", 3)),
        "window_short": int(cfg.get("window_short_days", 14)),
        "window_long": int(cfg.get("window_long_days", 90)),
    }
    set_variables(con, variables)
    try:
        con.execute(SQL.read("publish/missing_episodes.sql"))
        episodes = con.execute(
            "SELECT feed, missing_from, missing_type, duration, rhi_offer, rhi_response, "
            "rhi_within_72h FROM pub_missing_episode"
        ).fetchall()
        children = con.execute(SQL.read("publish/missing_children.sql")).fetchall()
        con.execute("DROP TABLE IF EXISTS pub_missing_episode")
    finally:
        reset_variables(con, list(variables))
    feeds = list(cfg.get("feeds") or ["LA", "POL"])
    short, long_ = variables["window_short"], variables["window_long"]
    n = variables["repeat_count"]
    specs: list[tuple] = []   # (feed, measure, label, unit, cell, denominator cell, label)

    for feed in feeds:
        eps = [e for e in episodes if e[0] == feed]
        kids = [c for c in children if c[0] == feed]
        p = f"missing|{feed}"
        ep = t.cell(f"{p}|episodes", len(eps), level=2, headline=True)
        specs.append((feed, "episodes", "Missing episodes", "episodes", ep, ep, "episodes"))

        def split(name: str, values: list, index: int, rows=eps, total=ep, p=p, feed=feed):
            parts = []
            for code, text in values:
                cid = t.cell(f"{p}|{name}|{code}", sum(1 for e in rows if e[index] == code))
                parts.append(cid)
                specs.append((feed, f"episodes_{name}_{code.lower()}", f"Episodes {text}",
                               "episodes", cid, total, "episodes"))
            t.total(total, parts)

        split("from", MISSING_FROM, 1)
        split("duration", DURATIONS, 3)
        if feed == "LA":
            split("type", TYPES, 2)
            offered = t.cell(f"{p}|rhi|offered", sum(e[4] == "offered" for e in eps), level=1)
            not_offered = t.cell(f"{p}|rhi|not_offered", sum(e[4] != "offered" for e in eps))
            t.total(ep, [offered, not_offered])
            specs.append((feed, "rhi_offered", "Return interview offered", "episodes",
                          offered, ep, "episodes"))
            specs.append((feed, "rhi_not_offered", "Return interview not offered or not recorded",
                          "episodes", not_offered, ep, "episodes"))
            parts = []
            for code, text in RHI_RESPONSES:
                cid = t.cell(f"{p}|rhi|{code}", sum(e[5] == code for e in eps),
                             level=1 if code == "accepted" else 0)
                parts.append(cid)
                specs.append((feed, f"rhi_{code}", text[0].upper() + text[1:], "episodes",
                              cid, offered, "return interviews offered"))
            t.total(offered, parts)
            accepted = f"{p}|rhi|accepted"
            within = t.cell(f"{p}|rhi|within_72h", sum(bool(e[6]) for e in eps))
            later = t.cell(f"{p}|rhi|not_within_72h",
                           sum(e[5] == "accepted" and not e[6] for e in eps))
            t.total(accepted, [within, later])
            specs.append((feed, "rhi_within_72h", "Return interview held within 72 hours",
                          "episodes", within, accepted, "return interviews accepted"))
            specs.append((feed, "rhi_not_within_72h",
                          "Return interview accepted, not held within 72 hours or date not "
                          "recorded",
                          "episodes", later, accepted, "return interviews accepted"))

        ch = t.cell(f"{p}|children", len(kids), level=2, headline=True)
        specs.append((feed, "children", "Children with a missing episode", "children", ch, ch,
                      "children with a missing episode"))
        flags = [
            ("from_home", 2, "Children missing from home at least once"),
            ("from_care", 3, "Children missing from care at least once"),
            ("repeat_long", 5, f"Children missing {n} or more times within {long_} days"),
            ("repeat_short", 4, f"Children missing {n} or more times within {short} days"),
        ]
        for name, index, text in flags:
            yes = t.cell(f"{p}|children|{name}", sum(bool(c[index]) for c in kids))
            no = t.cell(f"{p}|children|not_{name}", sum(not c[index] for c in kids))
            t.total(ch, [yes, no])
            specs.append((feed, f"children_{name}", text, "children", yes, ch,
                          "children with a missing episode"))

    def build(cells: dict[str, Cell]):
        sym = s.symbol
        na = str(s.publication["disclosure"]["not_applicable"])
        rows = []
        for feed, measure, label, unit, cid, den, den_label in specs:
            c, d = cells[cid], cells[den]
            rows.append({
                "feed": feed, "feed_label": _label(s, feed), "measure": measure,
                "measure_label": label, "unit": unit, "value": render(c, sym),
                "denominator_label": den_label, "denominator": render(d, sym),
                "pct_of_denominator": render_percent(c, d, sym, na),
                "rate_per_10000": render_rate(c, population, sym, NOT_AVAILABLE)
                if unit == "children" else NOT_AVAILABLE,
                "population": str(population) if population else NOT_AVAILABLE,
            })
        return rows

    t.builders["publish.missing_episodes"] = build


# ---------------------------------------------------------------- overlap and linkage


def _overlap_and_linkage(con, s: Settings, t: ExtraTables) -> None:
    feed_of = _feed_of_kind()
    feeds = _feeds()
    records = con.execute(SQL.read("publish/child_feeds.sql")).fetchall()
    child_feeds: dict[str, set[str]] = {}
    for child_key, kind, _record_key, _linked in records:
        child_feeds.setdefault(child_key, set()).add(feed_of.get(kind, kind))
    combos = [c for r in range(1, len(feeds) + 1) for c in itertools.combinations(feeds, r)]
    total = t.cell("overlap|all", len(child_feeds), level=2, headline=True)
    combo_ids = {}
    for combo in combos:
        n = sum(1 for fs in child_feeds.values() if fs == set(combo))
        combo_ids[combo] = t.cell("overlap|combo|" + "+".join(combo), n)
    t.total(total, list(combo_ids.values()))
    feed_ids = {}
    for feed in feeds:
        n = sum(1 for fs in child_feeds.values() if feed in fs)
        # the children a feed knows: the feed's headline (its records are not children, and
        # are hidden first when a small merged count needs a partner)
        feed_ids[feed] = t.cell(f"overlap|feed|{feed}", n, level=1, headline=True)
        t.total(feed_ids[feed], [cid for combo, cid in combo_ids.items() if feed in combo])

    link_ids: dict[str, dict[str, str]] = {}
    for feed in feeds:
        recs = [r for r in records if feed_of.get(r[1], r[1]) == feed]
        kids = {r[0] for r in recs}
        p = f"linkage|{feed}"
        ids = {
            "records": t.cell(f"{p}|records", len(recs), level=1),
            "records_linked": t.cell(f"{p}|records_linked", sum(bool(r[3]) for r in recs)),
            "records_not_linked": t.cell(f"{p}|records_not_linked",
                                         sum(not r[3] for r in recs)),
            "records_merged_within_feed": t.cell(f"{p}|merged", len(recs) - len(kids)),
            "children_also_other_feeds": t.cell(
                f"{p}|also_other", sum(1 for k in kids if len(child_feeds[k]) > 1)),
        }
        t.total(ids["records"], [ids["records_linked"], ids["records_not_linked"]])
        t.total(ids["records"], [feed_ids[feed], ids["records_merged_within_feed"]])
        t.total(feed_ids[feed], [combo_ids[(feed,)], ids["children_also_other_feeds"]])
        ids["children"] = feed_ids[feed]
        ids["children_only_this_feed"] = combo_ids[(feed,)]
        link_ids[feed] = ids

    def build_overlap(cells: dict[str, Cell]):
        sym = s.symbol
        na = str(s.publication["disclosure"]["not_applicable"])
        den = cells[total]
        rows = []
        for combo, cid in combo_ids.items():
            rows.append({"row_type": "combination", "feeds": " + ".join(combo),
                         "feed_count": len(combo), "children": render(cells[cid], sym),
                         "pct_of_children": render_percent(cells[cid], den, sym, na),
                         "denominator": render(den, sym)})
        for feed, cid in feed_ids.items():
            rows.append({"row_type": "feed_total", "feeds": feed, "feed_count": 1,
                         "children": render(cells[cid], sym),
                         "pct_of_children": render_percent(cells[cid], den, sym, na),
                         "denominator": render(den, sym)})
        rows.append({"row_type": "all", "feeds": "All", "feed_count": len(feeds),
                     "children": render(den, sym),
                     "pct_of_children": render_percent(den, den, sym, na),
                     "denominator": render(den, sym)})
        return rows

    def build_linkage(cells: dict[str, Cell]):
        sym = s.symbol
        na = str(s.publication["disclosure"]["not_applicable"])
        rows = []
        for feed, ids in link_ids.items():
            row = {"feed": feed, "feed_label": _label(s, feed)}
            for name in ("records", "records_linked", "records_not_linked", "children",
                         "records_merged_within_feed", "children_only_this_feed",
                         "children_also_other_feeds"):
                row[name] = render(cells[ids[name]], sym)
            row["pct_children_also_other_feeds"] = render_percent(
                cells[ids["children_also_other_feeds"]], cells[ids["children"]], sym, na)
            rows.append(row)
        return rows

    t.builders["publish.feed_overlap"] = build_overlap
    t.builders["publish.linkage_summary"] = build_linkage
    t.builders["_link_ids"] = link_ids


# ---------------------------------------------------------------- completeness


def _completeness(con, s: Settings, t: ExtraTables) -> None:
    feed_of = _feed_of_kind()
    labels = {str(k): str(v) for k, v in (s.publication.get("completeness_fields") or {}).items()}
    rows = con.execute(SQL.read("publish/completeness.sql")).fetchall()
    counted = {(kind, fld): (records, missing) for kind, records, fld, missing in rows}
    link_ids = t.builders.get("_link_ids", {})
    specs = []
    for kind in load_kinds():
        feed = feed_of[kind]
        records = next((r for (k, _f), (r, _m) in counted.items() if k == kind), 0)
        if feed in link_ids and sum(1 for k in load_kinds().values() if k.feed == feed) == 1:
            rec_id = link_ids[feed]["records"]          # the same number, the same cell
            if next(c for c in t.cells if c.id == rec_id).value != records:
                raise SettingsError(f"records of feed {feed} disagree between tables")
        else:
            rec_id = t.cell(f"completeness|{kind}|records", records, level=1)
        for fld, label in labels.items():
            missing = counted.get((kind, fld), (records, 0))[1]
            not_id = t.cell(f"completeness|{kind}|{fld}|not_recorded", missing)
            yes_id = t.cell(f"completeness|{kind}|{fld}|recorded", records - missing)
            t.total(rec_id, [yes_id, not_id])
            specs.append((feed, fld, label, rec_id, yes_id, not_id))
        unknown = {f for (k, f) in counted if k == kind} - set(labels)
        if unknown and labels:
            log.debug("completeness fields counted but not configured: %s", sorted(unknown))

    def build(cells: dict[str, Cell]):
        sym = s.symbol
        na = str(s.publication["disclosure"]["not_applicable"])
        return [
            {"feed": feed, "feed_label": _label(s, feed), "field": fld, "field_label": label,
             "records": render(cells[rec], sym), "recorded": render(cells[yes], sym),
             "not_recorded": render(cells[no], sym),
             "pct_not_recorded": render_percent(cells[no], cells[rec], sym, na)}
            for feed, fld, label, rec, yes, no in specs
        ]

    t.builders["publish.data_completeness"] = build


# ---------------------------------------------------------------- entry point


TABLE_COLUMNS = {
    "publish.missing_episodes": [
        "feed", "feed_label", "measure", "measure_label", "unit", "value", "denominator_label",
        "denominator", "pct_of_denominator", "rate_per_10000", "population"],
    "publish.feed_overlap": [
        "row_type", "feeds", "feed_count", "children", "pct_of_children", "denominator"],
    "publish.linkage_summary": [
        "feed", "feed_label", "records", "records_linked", "records_not_linked", "children",
        "records_merged_within_feed", "children_only_this_feed", "children_also_other_feeds",
        "pct_children_also_other_feeds"],
    "publish.data_completeness": [
        "feed", "feed_label", "field", "field_label", "records", "recorded", "not_recorded",
        "pct_not_recorded"],
}


def build_extra_tables(
    con: duckdb.DuckDBPyConnection, s: Settings, period: tuple, population: int | None
) -> ExtraTables:
    """Cells and equations of the missing, overlap, linkage and completeness tables."""
    t = ExtraTables()
    _missing(con, s, period, population, t)
    _overlap_and_linkage(con, s, t)
    _completeness(con, s, t)
    t.builders.pop("_link_ids", None)
    return t


def extra_rows(t: ExtraTables, cells: dict[str, Cell]) -> dict[str, tuple[list[str], list[dict]]]:
    """table -> (columns, rows), rendered after suppression."""
    return {table: (TABLE_COLUMNS[table], build(cells)) for table, build in t.builders.items()}
