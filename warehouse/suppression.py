"""Secondary suppression at minimum information loss, as an optimisation.

Which cells to hide besides the small counts is chosen the way tau-ARGUS's optimal method does
(Fischetti and Salazar's model): a 0/1 variable per cell (1 = hidden), a cost per cell, and the
requirement that every hidden cell keep a protection interval - the range the published figures
allow for it - at least `width` wide. The requirement is not linear in the pattern, so it is
added lazily: the master problem (minimum cost pattern, HiGHS MILP) is solved, an attacker then
bounds every hidden cell by linear programming over all the equations of the publication, and
for each cell whose range is too narrow the attacker's dual solution gives a constraint (a
Benders cut) that every protecting pattern satisfies and the current one does not. The loop
ends when the attacker can narrow nothing: the pattern is then the cheapest that protects, up to
the solver's optimality gap.

The master starts with rows each equation gives on its own - a hidden cell needs a hidden
partner in every equation it is in, and, since it can fall at most to 1, partners able to absorb
the rest of the width - which settles most cells before the attacker is asked; tables the
attacker has found (witnesses) are kept between rounds, since one whose changed cells are still
hidden proves ranges again for free.

The attacker knows the equations, every printed count, that counts are never negative and that a
hidden count is at least 1 (zeros are always printed, which is why a zero is never hidden).

Costs say what a reader loses: a cell's value (hide small counts before large ones) times a
weight for its level (interior before margins) and a much larger weight for a table's grand
total or a feed's total (`Cell.headline`), so that a headline is hidden only when no pattern of
other cells protects. Independent parts of the publication (cells not tied by any equation) are
solved apart. `warehouse.disclosure.check_disclosure` proves the result again, independently.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse import coo_matrix, csr_matrix

from warehouse.disclosure import (
    Cell,
    DisclosureError,
    Equation,
    as_cells,
    check_references,
    component_system,
    components,
    is_primary,
)

log = logging.getLogger(__name__)

_EPS = 1e-6
_MAX_ROUNDS = 500
_CUTS_PER_ROUND = 8
# the attacker's programmes are small and solved by the thousand: presolve costs more than it
# saves
_LP_OPTIONS = {"presolve": False}


@dataclass(frozen=True)
class Costs:
    """Cost of hiding a cell: max(value, 1) x the weight of its level (the last weight for any
    higher level), or x `headline` for a grand or feed total."""

    by_level: tuple[float, ...] = (1.0, 4.0, 16.0)
    headline: float = 10_000.0

    def of(self, cell: Cell) -> float:
        if cell.headline:
            weight = self.headline
        else:
            weight = self.by_level[min(cell.level, len(self.by_level) - 1)]
        return weight * max(cell.value, 1)

    @classmethod
    def from_settings(cls, raw: Mapping | None) -> Costs:
        raw = raw or {}
        levels = tuple(float(w) for w in raw.get("level_weights") or cls.by_level)
        return cls(levels, float(raw.get("headline_weight", cls.headline)))


def suppress(
    cells: Iterable[Cell] | Mapping[str, Cell],
    equations: Sequence[Equation],
    threshold: int,
    *,
    width: int | None = None,
    costs: Costs | None = None,
    forced: Mapping[str, str] | None = None,
    known: Iterable[str] = (),
    time_limit: float = 60.0,
) -> dict[str, Cell]:
    """Primary suppression (1..threshold-1), cells `forced` hidden (id -> reason, e.g. from the
    published history), then the cheapest secondary pattern giving every hidden cell a range of
    at least `width` (default: the threshold). Cells in `known` are already public (an earlier
    publication printed them) and are never hidden, since hiding them would protect nothing.
    Raises DisclosureError if the solver fails or no pattern exists."""
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    width = threshold if width is None else int(width)
    costs = costs or Costs()
    forced = dict(forced or {})
    known = set(known)
    base = as_cells(cells)
    check_references(base, equations)
    out: dict[str, Cell] = {}
    for cid, c in base.items():
        if is_primary(c.value, threshold):
            out[cid] = replace(c, suppressed=True, reason="primary")
        elif not c.printed:
            out[cid] = replace(c, suppressed=True, reason="unprinted")
        elif cid in forced and c.value > 0:
            out[cid] = replace(c, suppressed=True, reason=forced[cid])
        else:
            out[cid] = replace(c, suppressed=False, reason=None)
    must = {cid for cid, c in out.items() if c.suppressed}
    # never printed and not small: hidden, but nothing to protect
    exempt = {cid for cid in must if not base[cid].needs_protection(threshold)}
    if width <= 0 or not must - exempt:
        return out
    for cols, eqs in components(set(base), equations):
        if not eqs or not (must - exempt).intersection(cols):
            continue            # in no equation, or nothing to protect: nothing to add
        chosen = _solve_component(cols, eqs, base, must, known, width, costs, time_limit,
                                  exempt)
        for cid in chosen - must:
            out[cid] = replace(out[cid], suppressed=True, reason="secondary")
    return out


# ---------------------------------------------------------------- the master problem


class _Master:
    """min cost.y over 0/1 patterns y, with the rows added so far."""

    def __init__(self, cols: list[str], cells: Mapping[str, Cell], must: set[str],
                 known: set[str], costs: Costs):
        self.cols = cols
        self.index = {c: i for i, c in enumerate(cols)}
        self.cost = np.array([costs.of(cells[c]) for c in cols])
        self.lower = np.array([1.0 if c in must else 0.0 for c in cols])
        self.upper = np.array(
            [1.0 if c in must else 0.0 if (cells[c].value <= 0 or c in known) else 1.0
             for c in cols])
        self.rows: list[dict[int, float]] = []
        self.lb: list[float] = []

    def at_least(self, coefs: Mapping[int, float], rhs: float) -> None:
        self.rows.append(dict(coefs))
        self.lb.append(rhs)

    def solve(self, time_limit: float) -> set[str]:
        n = len(self.cols)
        r, c, v = [], [], []
        for i, row in enumerate(self.rows):
            for j, coef in row.items():
                r.append(i)
                c.append(j)
                v.append(coef)
        constraints = []
        if self.rows:
            a = csr_matrix(coo_matrix((v, (r, c)), shape=(len(self.rows), n)))
            constraints.append(LinearConstraint(a, np.array(self.lb), np.inf))
        res = milp(self.cost, integrality=np.ones(n), bounds=Bounds(self.lower, self.upper),
                   constraints=constraints,
                   options={"time_limit": time_limit, "mip_rel_gap": 1e-6})
        if res.x is None:
            raise DisclosureError(
                f"secondary suppression: the solver found no pattern for a group of {n} cells "
                f"({res.message}); nothing was published")
        return {self.cols[j] for j in range(n) if res.x[j] > 0.5}


def _solve_component(cols, eqs, cells, must, known, width, costs, time_limit,
                     exempt=frozenset()) -> set[str]:
    master = _Master(cols, cells, must, known, costs)
    for eq in eqs:
        for cid, coef in eq.terms:
            if master.upper[master.index[cid]] > 0 and cid not in exempt:
                for row in _equation_rows(cid, coef, eq, cells, width, master.index):
                    master.at_least(row, 0.0)
    witnesses: list[dict[str, float]] = []
    for rounds in range(1, _MAX_ROUNDS + 1):
        hidden = master.solve(time_limit)
        cuts = _attack(hidden, eqs, cells, width, master.index, witnesses, exempt)
        if not cuts:
            log.debug("secondary suppression: %d cells, %d hidden after %d rounds",
                      len(cols), len(hidden), rounds)
            return hidden
        for row in cuts:
            master.at_least(row, 0.0)
    raise DisclosureError(f"secondary suppression did not settle in {_MAX_ROUNDS} rounds for a "
                          f"group of {len(cols)} cells; nothing was published")


def _equation_rows(cid, coef, eq, cells, width, index) -> list[dict[int, float]]:
    """Rows every protecting pattern satisfies, from one equation alone, if `cid` is hidden:
    another cell of the equation is hidden (else `cid` is derivable); and, since `cid` can fall
    at most to its floor (1 for a printed `c`), it must be able to rise by the rest of the width,
    which the other hidden cells must absorb - one on the same side of the equation by falling
    at most to its own floor, one on the other side by rising without limit."""
    k = index[cid]
    others = [(c, a) for c, a in eq.terms if c != cid]
    single = {index[c]: 1.0 for c, _a in others}
    single[k] = single.get(k, 0.0) - 1.0
    rows = [single]
    need = width - (cells[cid].value - cells[cid].floor)
    if need > 0:
        row: dict[int, float] = {}
        for c, a in others:
            room = ((cells[c].value - cells[c].floor) * abs(a) / abs(coef)
                    if (a > 0) == (coef > 0) else need)
            if room > _EPS:
                row[index[c]] = row.get(index[c], 0.0) + min(float(need), room)
        row[k] = row.get(k, 0.0) - need
        rows.append(row)
    return rows


# ---------------------------------------------------------------- the attacker


def _attack(hidden: set[str], eqs: Sequence[Equation], cells: Mapping[str, Cell], width: int,
            index: Mapping[str, int], witnesses: list[dict[str, float]],
            exempt: Set[str] = frozenset()) -> list[dict[int, float]]:
    """Benders cuts for hidden cells whose range is narrower than `width` (at most
    `_CUTS_PER_ROUND` per group: the master problem is cheap, the attacker is not, and the
    first cuts often protect the rest). `witnesses` are tables found consistent with earlier
    patterns (deviations from the true table): one whose changed cells are all still hidden is
    consistent with this pattern too, and proves ranges without a programme of its own."""
    cuts = []
    for group, group_eqs in components(hidden, eqs):
        if not group_eqs:
            continue            # in no equation with a printed cell: unconstrained
        valid = [w for w in witnesses if w.keys() <= hidden]
        cuts.extend(_attack_group(group, group_eqs, cells, width, index, valid, witnesses,
                                  exempt))
    return cuts


def _attack_group(group, eqs, cells, width, index, valid, witnesses,
                  exempt: Set[str] = frozenset()) -> list[dict[int, float]]:
    """Deviations d = x - true value of the hidden cells: M d = 0, d_i >= floor_i - value_i;
    cells in `exempt` (never printed, not small) widen the others' ranges but need none."""
    col, m, _b = component_system(group, eqs)
    floor = np.array([float(cells[c].floor - cells[c].value) for c in group])
    high = np.zeros(len(group))
    low = np.zeros(len(group))          # the true table (d = 0) is one solution
    for w in valid:
        for cid, d in w.items():
            if cid in col:
                high[col[cid]] = max(high[col[cid]], d)
                low[col[cid]] = min(low[col[cid]], d)
    bounds = list(zip(floor, [None] * len(group), strict=True))
    capped = [(lo, float(width)) for lo in floor]
    need = np.array([c not in exempt for c in group])
    progress = True
    while progress:                     # all open cells up, then down, while that proves more
        progress = False
        for sign in (-1.0, 1.0):
            open_ = ((high - low) < width - _EPS) & need
            if not open_.any():
                break
            res = linprog(sign * open_, A_eq=m, b_eq=np.zeros(len(eqs)), bounds=capped,
                          method="highs", options=_LP_OPTIONS)
            if res.status != 0:
                continue
            high, low = np.maximum(high, res.x), np.minimum(low, res.x)
            witnesses.append({group[j]: float(v) for j, v in enumerate(res.x) if abs(v) > _EPS})
            progress = progress or bool((open_ & ((high - low) >= width - _EPS)).any())
    cuts = []
    for k in sorted(range(len(group)), key=lambda k: cells[group[k]].value):
        cid = group[k]
        if high[k] - low[k] >= width - _EPS or cid in exempt:
            continue
        if len(cuts) >= _CUTS_PER_ROUND:
            break
        amounts, duals = [], []
        for sign in (-1.0, 1.0):        # -1: how far up, +1: how far down
            c = np.zeros(len(group))
            c[k] = sign
            res = linprog(c, A_eq=m, b_eq=np.zeros(len(eqs)), bounds=bounds, method="highs",
                          options=_LP_OPTIONS)
            if res.status == 3:         # unbounded: protected in this direction
                amounts.append(np.inf)
                duals.append(None)
                continue
            if res.status != 0:
                raise DisclosureError(f"secondary suppression: the attacker's linear programme "
                                      f"failed ({res.message}); nothing was published")
            high = np.maximum(high, res.x)
            low = np.minimum(low, res.x)
            witnesses.append({group[j]: float(v) for j, v in enumerate(res.x) if abs(v) > _EPS})
            amounts.append(-res.fun)
            duals.append(res.eqlin.marginals)
        if sum(amounts) >= width - _EPS:
            continue
        cuts.append(_cut(cid, k, eqs, duals, cells, width, index))
    return cuts


def _cut(cid, k, eqs, duals, cells, width, index) -> dict[int, float]:
    """sum_i g_i y_i >= width y_k, where g_i bounds how much hiding cell i can widen cell k's
    range (from the dual of the attacker's two programmes); coefficients above `width` are cut
    to `width`, which leaves the 0/1 solutions unchanged."""
    g: dict[str, float] = {}
    for sign, mu in zip((-1.0, 1.0), duals, strict=True):
        z: dict[str, float] = {}
        for r, eq in enumerate(eqs):
            for c, coef in eq.terms:
                z[c] = z.get(c, 0.0) - coef * mu[r]
        z[cid] = z.get(cid, 0.0) + sign
        for c, zi in z.items():
            room_down = max(float(cells[c].value - cells[c].floor), 0.0)
            part = room_down * max(zi, 0.0) + (np.inf if zi < -_EPS else 0.0)
            g[c] = g.get(c, 0.0) + part
    row = {index[c]: min(v, float(width)) for c, v in g.items() if v > _EPS}
    row[index[cid]] = row.get(index[cid], 0.0) - width
    return row
