"""The published history: what every publication already made printed, and the rules that keep
a new publication from undoing it.

An attacker holds every earlier publication as well as the new one. Two publications count the
same cell (one cell id: the same cut of children) over periods that are either the same (a
quarter's return run again, a night re-run), overlapping or nested (successive nightly 12-month
periods, a quarter inside the year), or disjoint. Disjoint periods count different events and
share no equation, so they are left alone. For the others:

1. Same period, same value. A cell an earlier publication of the same period printed, whose
   true value has not changed, is public whatever the new publication does: hiding it protects
   nothing (the old number is still out there). Suppression never hides it, and the check takes
   it as printed when it bounds the hidden cells - so a pattern that relied on hiding it is
   refused.
2. Small changes. Take the difference table D = new - old of two publications of the same or
   overlapping periods: it obeys the same equations, and each of its cells counts children (net)
   who came into or went out of a cell between the two. Where both publications print a cell, D
   is printed too; so a cell whose printed value would move by 1 to threshold-1 since any
   earlier publication of an overlapping period is hidden in the new one (reason "history") and
   protected like a primary suppression. Where either publication hides a cell, D's range there
   is at least that publication's own protection interval (the other value is a constant, or
   varies independently), which its own check guarantees is at least the protection width.

Together: in every difference table no printed count is small and no hidden count can be
narrowed below the protection width, and within one period nothing printed before can be taken
back. What is not modelled: an attacker who assumes that a changed cell did not change (a guess,
not a derivation). `warehouse.disclosure.check_disclosure` re-checks both rules independently
(its `known` and `earlier` arguments).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from warehouse.disclosure import Cell

HISTORY_TABLE = "meta.published_cell"
_COLUMNS = "publication, period_start, period_end, published_at, cell_id, printed, origin"

_EARLIER = f"""
SELECT publication, period_start = $start AND period_end = $end AS same_period, cell_id, printed
FROM {HISTORY_TABLE}
WHERE period_start <= $end AND period_end >= $start
ORDER BY publication, cell_id
"""


@dataclass
class History:
    """Earlier publications of periods overlapping the new one."""

    same_period: dict[str, set[int]] = field(default_factory=dict)   # cell -> values printed
    overlapping: list[dict[str, int]] = field(default_factory=list)  # per publication

    def known(self, cells: Mapping[str, Cell]) -> dict[str, set[int]]:
        """Rule 1: cells printed before for this period with the value they still have."""
        return {c: vals for c, vals in self.same_period.items()
                if c in cells and cells[c].value in vals}

    def forced(self, cells: Mapping[str, Cell], threshold: int) -> dict[str, str]:
        """Rule 2: cells whose value moved by 1..threshold-1 since a publication printed it."""
        out: dict[str, str] = {}
        for printed in self.overlapping:
            for cid, old in printed.items():
                cell = cells.get(cid)
                if cell is not None and 0 < abs(cell.value - old) < threshold:
                    out[cid] = "history"
        return out


def read_history(con: duckdb.DuckDBPyConnection, period: tuple[date, date]) -> History:
    rows = con.execute(_EARLIER, {"start": period[0], "end": period[1]}).fetchall()
    history = History()
    by_publication: dict[int, dict[str, int]] = {}
    for publication, same, cid, printed in rows:
        if printed is None:
            continue
        by_publication.setdefault(publication, {})[cid] = printed
        if same:
            history.same_period.setdefault(cid, set()).add(printed)
    history.overlapping = [by_publication[p] for p in sorted(by_publication)]
    return history


def record_publication(con: duckdb.DuckDBPyConnection, period: tuple[date, date],
                       cells: Mapping[str, Cell]) -> int:
    """Append the new publication's printed cells; returns its number."""
    number = last_publication(con) + 1
    frame = pd.DataFrame({
        "cell_id": list(cells),
        "printed": pd.array([None if c.suppressed else c.shown for c in cells.values()],
                            dtype="Int64"),
    })
    now = datetime.now(UTC).replace(tzinfo=None)
    con.register("published_now", frame)
    try:
        con.execute(f"INSERT INTO {HISTORY_TABLE} ({_COLUMNS}) SELECT ?, ?, ?, ?, cell_id, "
                    "printed, 'build' FROM published_now", [number, period[0], period[1], now])
    finally:
        con.unregister("published_now")
    return number


def carry_history(live: str, build: duckdb.DuckDBPyConnection,
                  returns_dir: Path | None = None) -> int:
    """Copy the published warehouse's history into a new build (the build starts empty, like
    its person ids), then the publications of quarterly returns made since (`returns_dir`);
    returns the rows the build's history then holds."""
    build.execute(f"ATTACH '{live}' AS live (READ_ONLY)")
    try:
        exists = build.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'live' "
            "AND schema_name = 'meta' AND table_name = 'published_cell'").fetchall()[0][0]
        if exists:
            build.execute(f"INSERT INTO {HISTORY_TABLE} ({_COLUMNS}) "
                          f"SELECT {_COLUMNS} FROM live.meta.published_cell")
    finally:
        build.execute("DETACH live")
    if returns_dir is not None:
        absorb_returns(build, returns_dir)
    return build.execute(f"SELECT count(*) FROM {HISTORY_TABLE}").fetchall()[0][0]


# ---------------------------------------------------------------- quarterly returns
# A return is published from a scratch copy of the warehouse that is then deleted, and the
# published warehouse is never written outside a build; so the return writes the cells it
# printed to a file in the home, and every later return and build reads those files in.


def last_publication(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute(f"SELECT coalesce(max(publication), 0) FROM {HISTORY_TABLE}"
                       ).fetchall()[0][0]


def write_return_history(con: duckdb.DuckDBPyConnection, after: int, path: Path) -> int:
    """The publications made in `con` after number `after`, as a CSV at `path`."""
    frame = con.execute(
        f"SELECT publication, period_start, period_end, published_at, cell_id, printed "
        f"FROM {HISTORY_TABLE} WHERE publication > ? ORDER BY publication, cell_id",
        [after]).df()
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return len(frame)


def absorb_returns(con: duckdb.DuckDBPyConnection, returns_dir: Path) -> int:
    """Add the publications of every return file not yet in the history (renumbered after
    those already there); returns the files added."""
    if not returns_dir.exists():
        return 0
    have = {o for (o,) in con.execute(
        f"SELECT DISTINCT origin FROM {HISTORY_TABLE}").fetchall()}
    added = 0
    for path in sorted(returns_dir.glob("*.csv")):
        if path.name in have:
            continue
        frame = pd.read_csv(path, parse_dates=["published_at"],
                            dtype={"cell_id": str, "printed": "Int64"})
        if frame.empty:
            continue
        frame["period_start"] = pd.to_datetime(frame["period_start"]).dt.date
        frame["period_end"] = pd.to_datetime(frame["period_end"]).dt.date
        offset = last_publication(con) - int(frame["publication"].min()) + 1
        frame["publication"] = frame["publication"] + offset
        frame["origin"] = path.name
        con.register("return_history", frame)
        try:
            con.execute(f"INSERT INTO {HISTORY_TABLE} ({_COLUMNS}) SELECT {_COLUMNS} "
                        "FROM return_history")
        finally:
            con.unregister("return_history")
        added += 1
    return added
