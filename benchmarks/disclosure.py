"""Disclosure control on the demo's whole publication: today's suppression against the greedy
method it replaced, and an integer-programming attack on both.

    .venv/bin/python benchmarks/disclosure.py --children 10000 [--period 2026Q3]
    .venv/bin/python benchmarks/disclosure.py --home H [--period nightly]

Without --home, `joinedup demo` builds bench-out/demo-<children> first (if it is not there).
The published warehouse is copied (it is never written), the period's cells and equations are
built exactly as publication builds them (`warehouse.publish.period_system`; a quarter is
derived in the copy first), and each method's pattern is then measured:

- cells suppressed (primary, secondary), information loss (secondary cells and the sum of their
  values), and which headline cells (tables' grand totals, feeds' totals) were hidden;
- the independent check (`check_disclosure`) on the pattern;
- an attack: for every suppressed cell, its lowest and highest integer value given every printed
  cell and every equation of all tables together, with suppressed cells >= 1 (zeros are
  printed) - by HiGHS MILP; printed: cells recovered exactly and cells narrowed below the
  protection width. With --no-floor the attack only assumes cells >= 0.

Figures are printed; nothing is asserted. The greedy method is reconstructed here only (the
product no longer has it): hide the smallest non-zero interior cell of any equation left with
one hidden cell, then, while the rank test finds a derivable cell, one more next to it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from sources.common.periods import reporting_period
from warehouse.build import latest_run
from warehouse.disclosure import (
    Cell,
    DisclosureError,
    check_disclosure,
    component_system,
    components,
    derivable_cells,
    is_primary,
)
from warehouse.indicators import derive_indicator_events
from warehouse.marts import build_marts
from warehouse.publish import period_system
from warehouse.returns import parse_quarter
from warehouse.settings import load_settings
from warehouse.suppression import Costs, suppress

ROOT = Path(__file__).resolve().parent.parent
JOINEDUP = Path(sys.executable).with_name("joinedup")


# ---------------------------------------------------------------- the method replaced


def greedy_suppress(cells, equations, threshold):
    order = {c.id: i for i, c in enumerate(cells)}
    out = {c.id: replace(c, suppressed=is_primary(c.value, threshold),
                         reason="primary" if is_primary(c.value, threshold) else None)
           for c in cells}

    def hide_one(candidates):
        options = [out[c] for c in candidates if not out[c].suppressed]
        if not options:
            return None
        chosen = min(options, key=lambda c: (c.value == 0, c.level, c.value, order[c.id]))
        out[chosen.id] = replace(chosen, suppressed=True, reason="secondary")
        return chosen.id

    while True:
        changed = True
        while changed:
            changed = False
            for eq in equations:
                if sum(out[c].suppressed for c in eq.cell_ids) == 1:
                    if hide_one(eq.cell_ids) is None:
                        raise DisclosureError("nothing to hide")
                    changed = True
        exposed = derivable_cells({c for c, x in out.items() if x.suppressed}, equations)
        if not exposed:
            return out
        neighbours = [c for eq in equations if exposed[0] in eq.cell_ids for c in eq.cell_ids]
        if hide_one(neighbours) is None:
            hide_one([c for eq in equations for c in eq.cell_ids])


# ---------------------------------------------------------------- the attack


def attack(cells: dict[str, Cell], equations, width: int, floor: float,
           threshold: int) -> tuple[int, int, int]:
    """(cells recovered exactly, cells narrowed below width, cells attacked) by integer
    programming over every equation at once. A cell no table prints is at least 0, and only
    counts when it is small itself (its being known is no disclosure otherwise)."""
    hidden = {c for c, x in cells.items() if x.suppressed}
    exact = narrow = 0
    for cols, eqs in components(hidden, equations):
        if not eqs:
            continue
        index, a, b = component_system(cols, eqs, cells)
        rows = LinearConstraint(a, b, b)
        bounds = Bounds(np.array([min(floor, cells[c].floor) for c in cols]),
                        np.full(len(cols), np.inf))
        low = np.array([float(cells[c].value) for c in cols])
        high = low.copy()
        for c, i in index.items():
            if high[i] - low[i] >= width or not cells[c].needs_protection(threshold):
                continue
            ends = []
            for sign in (1.0, -1.0):
                objective = np.zeros(len(cols))
                objective[i] = sign
                res = milp(objective, integrality=np.ones(len(cols)), bounds=bounds,
                           constraints=[rows], options={"time_limit": 60})
                if res.x is None:          # unbounded above
                    ends.append(np.inf)
                    continue
                low, high = np.minimum(low, res.x), np.maximum(high, res.x)
                ends.append(res.x[i])
            if ends[1] - ends[0] < 0.5:
                exact += 1
            elif ends[1] - ends[0] < width - 1e-6:
                narrow += 1
    return exact, narrow, sum(cells[c].needs_protection(threshold) for c in hidden)


# ---------------------------------------------------------------- the demo's publication


def demo_home(children: int, seed: int) -> Path:
    home = ROOT / "bench-out" / f"demo-{children}"
    if not (home / "warehouse" / "joinedup.duckdb").exists():
        shutil.rmtree(home, ignore_errors=True)
        subprocess.run([str(JOINEDUP), "demo", "--home", str(home), "--children", str(children),
                        "--seed", str(seed)], check=True, capture_output=True, text=True)
    return home


def measure(name, cells, ps, s, seconds, floor):
    threshold, width = s.disclosure_threshold, s.protection_width
    secondary = [c for c in cells.values() if c.reason == "secondary"]
    headlines = sorted(c.id for c in cells.values() if c.reason == "secondary" and c.headline)
    started = time.perf_counter()
    problems = check_disclosure(cells, ps.system.equations, threshold, width=width)
    checked = time.perf_counter() - started
    started = time.perf_counter()
    exact, narrow, attacked = attack(cells, ps.system.equations, width, floor, threshold)
    attacked_s = time.perf_counter() - started
    print(f"\n{name}  ({seconds:.1f} s to suppress)")
    print(f"  primary suppressed        "
          f"{sum(c.reason == 'primary' and c.printed for c in cells.values())}")
    print(f"  never printed (in the equations only) "
          f"{sum(not c.printed for c in cells.values())}")
    print(f"  secondary suppressed      {len(secondary)}")
    print(f"  secondary values, sum     {sum(c.value for c in secondary)} "
          f"({sum(c.value for c in secondary if not c.headline)} without headline cells)")
    print(f"  headline cells suppressed {sum(c.headline for c in cells.values() if c.suppressed)}"
          f" (primary: small themselves), as secondary {len(headlines)}"
          + (f": {', '.join(headlines)}" if headlines else ""))
    print(f"  check_disclosure          {len(problems)} problems ({checked:.1f} s)"
          + (f", e.g. {problems[0]}" if problems else ""))
    print(f"  integer attack            {exact} recovered exactly, {narrow} narrowed below "
          f"width {width}, of {attacked} suppressed cells ({attacked_s:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path)
    parser.add_argument("--children", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--period", default="nightly",
                        help="nightly (the warehouse's 12-month period) or a quarter like 2026Q3")
    parser.add_argument("--no-floor", action="store_true",
                        help="attack with suppressed cells >= 0 instead of >= 1")
    args = parser.parse_args()
    home = args.home or demo_home(args.children, args.seed)
    s = load_settings()
    (ROOT / "bench-out").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "bench-out") as tmp:
        copy = Path(tmp) / "warehouse.duckdb"
        shutil.copyfile(home / "warehouse" / "joinedup.duckdb", copy)
        con = duckdb.connect(str(copy))
        try:
            _run, as_of = latest_run(con)
            if args.period == "nightly":
                period = reporting_period(as_of)
            else:
                period = parse_quarter(args.period)
                derive_indicator_events(con, period_start=period[0], period_end=period[1],
                                        settings=s)
                build_marts(con, as_of=period[1], period_start=period[0],
                            period_end=period[1], settings=s)
            ps = period_system(con, s, period)
        finally:
            con.close()
    print(f"publication of {period[0]} to {period[1]} from {home}: {len(ps.system.cells)} cells, "
          f"{len(ps.system.equations)} equations; threshold {s.disclosure_threshold}, "
          f"protection width {s.protection_width}")
    floor = 0.0 if args.no_floor else 1.0
    started = time.perf_counter()
    old = greedy_suppress(ps.system.cells, ps.system.equations, s.disclosure_threshold)
    measure("greedy (replaced)", old, ps, s, time.perf_counter() - started, floor)
    started = time.perf_counter()
    new = suppress(ps.system.cells, ps.system.equations, s.disclosure_threshold,
                   width=s.protection_width, costs=Costs.from_settings(s.suppression_costs))
    measure("minimum-cost (warehouse.suppression)", new, ps, s, time.perf_counter() - started,
            floor)
    headlines = [c for c, x in new.items() if x.reason == "secondary" and x.headline]
    needed = 0
    for cid in headlines:
        try:
            suppress(ps.system.cells, ps.system.equations, s.disclosure_threshold,
                     width=s.protection_width, costs=Costs.from_settings(s.suppression_costs),
                     known={cid})
        except DisclosureError:
            needed += 1
    print(f"  headline cells hidden as secondary that no pattern can keep printed: "
          f"{needed} of {len(headlines)}")


if __name__ == "__main__":
    main()
