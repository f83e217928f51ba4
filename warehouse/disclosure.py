"""Statistical disclosure control for published counts of children.

A published table is a set of cells tied together by linear equations (a total is the sum of its
parts; in Tables 8/9 "at least k" = "exactly k" + "at least k+1"). Primary suppression hides small
counts; secondary suppression hides enough other cells that no hidden count can be worked back
from the published ones. The singleton rule (no equation with exactly one hidden cell) is not
enough in tables with several dimensions, where combinations of equations can still pin a cell
down, so suppression continues until the rank test in `derivable_cells` finds nothing, and
`check_disclosure` repeats that proof independently before anything is published.

Only uniqueness is tested: a hidden cell whose value can still vary is treated as protected,
without computing how narrow its feasible interval is (no linear programming here).

Rounding (`rounding: nearest_5`) is applied after suppression, to every published count on its
own (a total is the rounding of the true total, not the sum of rounded parts). Suppression and
the rank test still work on the true values: treating a rounded cell as if its exact value were
known can only make the test stricter. Percentages and rates are then calculated from the
rounded counts, because a percentage of a true count would give the unrounded count back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

_TOLERANCE = 1e-9

# Rounding modes of `publication.disclosure.rounding` -> the base published counts are rounded
# to (None = counts published as they are).
ROUNDING_BASES: dict[str, int | None] = {"none": None, "nearest_5": 5}


class DisclosureError(RuntimeError):
    """A table about to be published would let a suppressed count be recovered."""


@dataclass(frozen=True)
class Cell:
    """One published count. `level` 0 is an interior cell; higher levels are totals/margins
    (e.g. the number of dimensions summed over), which secondary suppression avoids hiding."""

    id: str
    value: int
    level: int = 0
    suppressed: bool = False
    reason: str | None = None   # "primary" / "secondary"
    published: int | None = None  # the number printed once rounding is applied (None: value)

    @property
    def shown(self) -> int:
        """The count a reader sees (meaningless for a suppressed cell)."""
        return self.value if self.published is None else self.published


@dataclass(frozen=True)
class Equation:
    """sum(coefficient * value) == 0 over the named cells."""

    terms: tuple[tuple[str, int], ...]

    @classmethod
    def total(cls, total: str, parts: Iterable[str]) -> Equation:
        return cls(((total, 1), *((p, -1) for p in parts)))

    @classmethod
    def equal(cls, a: str, b: str) -> Equation:
        """Two cells that publish the same number (e.g. one total shown in two tables)."""
        return cls(((a, 1), (b, -1)))

    @property
    def cell_ids(self) -> list[str]:
        return [c for c, _ in self.terms]


def is_primary(value: int, threshold: int) -> bool:
    """Counts 1..threshold-1 are too small to publish; 0 is a true zero and is shown."""
    return 0 < value < threshold


def rounding_base(rounding: str) -> int | None:
    if rounding not in ROUNDING_BASES:
        raise ValueError(f"rounding must be one of {sorted(ROUNDING_BASES)}, not {rounding!r}")
    return ROUNDING_BASES[rounding]


def round_count(value: int, base: int | None) -> int:
    """Nearest multiple of `base` (counts are whole, so with base 5 there are no ties:
    1-2 go down, 3-4 go up)."""
    if base is None:
        return value
    return ((value + base // 2) // base) * base


def apply_rounding(
    cells: Iterable[Cell] | Mapping[str, Cell], rounding: str
) -> dict[str, Cell]:
    """Set `published` on every unsuppressed cell: each count rounded independently, totals
    included, after suppression has been decided on the true values."""
    base = rounding_base(rounding)
    return {
        cid: replace(c, published=None if c.suppressed else round_count(c.value, base))
        for cid, c in _as_dict(cells).items()
    }


def _as_dict(cells: Iterable[Cell] | Mapping[str, Cell]) -> dict[str, Cell]:
    if isinstance(cells, Mapping):
        return dict(cells)
    out: dict[str, Cell] = {}
    for cell in cells:
        if cell.id in out:
            raise ValueError(f"duplicate cell id {cell.id!r}")
        out[cell.id] = cell
    return out


def _check_references(cells: Mapping[str, Cell], equations: Sequence[Equation]) -> None:
    for eq in equations:
        unknown = [c for c in eq.cell_ids if c not in cells]
        if unknown:
            raise ValueError(f"equation refers to unknown cells {unknown}")


def _components(
    hidden: set[str], equations: Sequence[Equation]
) -> list[tuple[list[str], list[Equation]]]:
    """Groups of hidden cells that share equations, each with the equations touching it."""
    parent = {c: c for c in hidden}

    def find(c: str) -> str:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    touching: list[tuple[Equation, list[str]]] = []
    for eq in equations:
        in_eq = [c for c in eq.cell_ids if c in hidden]
        if not in_eq:
            continue
        touching.append((eq, in_eq))
        for other in in_eq[1:]:
            ra, rb = find(in_eq[0]), find(other)
            if ra != rb:
                parent[rb] = ra
    groups: dict[str, tuple[list[str], list[Equation]]] = {}
    for c in sorted(hidden):
        groups.setdefault(find(c), ([], []))[0].append(c)
    for eq, in_eq in touching:
        groups[find(in_eq[0])][1].append(eq)
    return list(groups.values())


def derivable_cells(
    hidden: set[str], equations: Sequence[Equation]
) -> list[str]:
    """Hidden cells whose value is fixed by the equations and the published cells.

    With published values moved to the right-hand side the hidden cells x satisfy A x = b. A cell
    x_j is unique exactly when every vector in the null space of A is zero at j (equivalently the
    unit vector e_j lies in the row space of A).
    """
    out: list[str] = []
    for cols, eqs in _components(hidden, equations):
        if not eqs:
            continue            # in no equation: nothing published constrains it
        index = {c: i for i, c in enumerate(cols)}
        a = np.zeros((len(eqs), len(cols)))
        for r, eq in enumerate(eqs):
            for cell_id, coef in eq.terms:
                if cell_id in index:
                    a[r, index[cell_id]] += coef
        _, sing, vt = np.linalg.svd(a, full_matrices=True)
        rank = int((sing > _TOLERANCE * max(1.0, sing.max(initial=0.0))).sum())
        null = vt[rank:]            # rows span the null space of a
        for c, i in index.items():
            if null.shape[0] == 0 or np.abs(null[:, i]).max() < 1e-7:
                out.append(c)
    return sorted(out)


def _candidate_key(cell: Cell, order: Mapping[str, int]) -> tuple:
    # non-zero before zero, interior before totals, smallest first, then table order
    return (cell.value == 0, cell.level, cell.value, order[cell.id])


def _hide_one(
    cells: dict[str, Cell], candidates: Iterable[str], order: Mapping[str, int]
) -> str | None:
    options = [cells[c] for c in candidates if not cells[c].suppressed]
    if not options:
        return None
    chosen = min(options, key=lambda c: _candidate_key(c, order))
    cells[chosen.id] = replace(chosen, suppressed=True, reason="secondary")
    return chosen.id


def _singleton_fixpoint(
    cells: dict[str, Cell], equations: Sequence[Equation], order: Mapping[str, int]
) -> None:
    """Until no equation holds exactly one hidden cell, hide one more cell in such equations."""
    changed = True
    while changed:
        changed = False
        for eq in equations:
            hidden = [c for c in eq.cell_ids if cells[c].suppressed]
            if len(hidden) == 1:
                if _hide_one(cells, eq.cell_ids, order) is None:
                    raise DisclosureError("an equation has one hidden cell and nothing to hide")
                changed = True


def suppress(
    cells: Iterable[Cell] | Mapping[str, Cell],
    equations: Sequence[Equation],
    threshold: int,
) -> dict[str, Cell]:
    """Primary then secondary suppression; returns the cells with `suppressed` / `reason` set.

    Deterministic: equations are visited in the order given, and ties between candidate cells
    are broken by the order the cells were given in.
    """
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    base = _as_dict(cells)
    _check_references(base, equations)
    order = {c: i for i, c in enumerate(base)}
    out = {
        cid: replace(c, suppressed=True, reason="primary")
        if is_primary(c.value, threshold)
        else replace(c, suppressed=False, reason=None)
        for cid, c in base.items()
    }
    while True:
        _singleton_fixpoint(out, equations, order)
        hidden = {c for c, cell in out.items() if cell.suppressed}
        exposed = derivable_cells(hidden, equations)
        if not exposed:
            return out
        # Hide one more cell next to the first exposed cell, then re-run the singleton rule.
        target = exposed[0]
        neighbours = [c for eq in equations if target in eq.cell_ids for c in eq.cell_ids]
        if _hide_one(out, neighbours, order) is None:
            hidden_all = [c for eq in equations for c in eq.cell_ids if not out[c].suppressed]
            if _hide_one(out, hidden_all, order) is None:
                raise DisclosureError(f"cell {target} cannot be protected")


def check_disclosure(
    cells: Iterable[Cell] | Mapping[str, Cell],
    equations: Sequence[Equation],
    threshold: int,
    rounding: str = "none",
) -> list[str]:
    """Problems that forbid publication (empty list = safe). Messages name cells, not values.

    Checks: the equations hold for the true values (else they do not describe the table); every
    count from 1 to threshold-1 is suppressed; no suppressed cell is uniquely determined by the
    published cells through the equations (rank test, on the true values of published cells,
    which is the stricter test when they are rounded); with rounding, every published count is
    the rounding of its own true value (an unrounded count next to rounded totals would let the
    rounding be undone) and no non-zero count is printed as a zero.
    """
    table = _as_dict(cells)
    _check_references(table, equations)
    problems: list[str] = []
    for n, eq in enumerate(equations):
        if sum(coef * table[c].value for c, coef in eq.terms) != 0:
            problems.append(f"equation {n} does not hold for the table's values")
    for cid, cell in table.items():
        if is_primary(cell.value, threshold) and not cell.suppressed:
            problems.append(f"cell {cid} is below the threshold and not suppressed")
    hidden = {c for c, cell in table.items() if cell.suppressed}
    for cid in derivable_cells(hidden, equations):
        problems.append(f"cell {cid} is suppressed but derivable from published cells")
    base = rounding_base(rounding)
    for cid, cell in table.items():
        if cell.suppressed:
            continue
        if cell.shown != round_count(cell.value, base):
            problems.append(f"cell {cid} is not published as the {rounding} rounding of its value")
        elif cell.value != 0 and cell.shown == 0:
            problems.append(f"cell {cid} is not zero but would be published as 0")
    return problems


def assert_safe(
    cells: Iterable[Cell] | Mapping[str, Cell],
    equations: Sequence[Equation],
    threshold: int,
    *,
    table: str = "table",
    rounding: str = "none",
) -> None:
    problems = check_disclosure(cells, equations, threshold, rounding)
    if problems:
        shown = "; ".join(problems[:5])
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        raise DisclosureError(f"{table}: {len(problems)} disclosure problems: {shown}{more}")


def render(cell: Cell, symbol: str = "c") -> str:
    """The published text of a cell: the (rounded) count, or the suppression symbol."""
    return symbol if cell.suppressed else str(cell.shown)


def render_percent(num: Cell, den: Cell, symbol: str, not_applicable: str) -> str:
    """A published percentage of the published counts: suppressed when either count is, never a
    division by zero."""
    if num.suppressed or den.suppressed:
        return symbol
    if den.shown == 0:
        return not_applicable
    return f"{100.0 * num.shown / den.shown:.1f}"


def render_rate(num: Cell, population: int | None, symbol: str, not_available: str) -> str:
    """A published rate per 10,000 of the published count: suppressed with its count (else the
    count could be worked back from rate x population), ':' without a population."""
    if population is None or population <= 0:
        return not_available
    if num.suppressed:
        return symbol
    return f"{10000.0 * num.shown / population:.1f}"
