"""Statistical disclosure control for published counts of children: the cells, the equations
that tie them, and the independent check that must pass before anything is published.

A published table is a set of cells tied together by linear equations (a total is the sum of its
parts; in Tables 8/9 "at least k" = "exactly k" + "at least k+1"). Primary suppression hides small
counts; secondary suppression (warehouse.suppression) hides enough other cells that no hidden
count can be worked back, or even narrowed, from the published ones.

`check_disclosure` proves that again on its own, with no trust in the suppression: for every
hidden cell it bounds, by linear programming over all the equations of the publication, the
values the printed figures still allow - knowing that counts are never negative and that a
hidden count is at least 1, because zeros are always printed - and refuses the publication if
the range is narrower than the protection width (default: the threshold). A rank test
(`derivable_cells`, plain linear algebra) separately proves that no hidden cell is fixed
exactly, so the commonest failure does not rest on the LP solver alone. Cells an earlier
publication printed with the same value count as printed (warehouse.publication_history).

The bounds are those of the linear relaxation; an attacker using integers can only do as well
where the relaxation is tight, which `benchmarks/disclosure.py` measures with an integer
programme on the demo's whole publication.

Rounding (`rounding: nearest_5`) is applied after suppression, to every published count on its
own (a total is the rounding of the true total, not the sum of rounded parts). Suppression and
the check still work on the true values: treating a rounded cell as if its exact value were
known can only make the check stricter. Percentages and rates are then calculated from the
rounded counts, because a percentage of a true count would give the unrounded count back.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import linprog

_TOLERANCE = 1e-9

# Rounding modes of `publication.disclosure.rounding` -> the base published counts are rounded
# to (None = counts published as they are).
ROUNDING_BASES: dict[str, int | None] = {"none": None, "nearest_5": 5}


class DisclosureError(RuntimeError):
    """A table about to be published would let a suppressed count be recovered."""


@dataclass(frozen=True)
class Cell:
    """One published count. `level` 0 is an interior cell; higher levels are totals/margins
    (e.g. the number of dimensions summed over), which secondary suppression avoids hiding;
    `headline` marks a table's grand total or a feed's total, hidden only when nothing else
    protects (warehouse.suppression.Costs)."""

    id: str
    value: int
    level: int = 0
    suppressed: bool = False
    reason: str | None = None   # "primary" / "secondary" / "history"
    published: int | None = None  # the number printed once rounding is applied (None: value)
    headline: bool = False
    # False: a cell no table prints (never a number, never the symbol) that the equations tie
    # to printed ones. Being always hidden, it must only be protected when small, and a reader
    # cannot know it is at least 1, as they know of a printed `c`.
    printed: bool = True

    @property
    def floor(self) -> int:
        """The least value a reader knows a hidden cell has: 1 for a printed `c` (zeros are
        printed), 0 for a cell that is never printed."""
        return 1 if self.printed else 0

    def needs_protection(self, threshold: int) -> bool:
        """Whether a hidden cell must keep a range of the protection width: every printed `c`,
        and an unprinted cell only when it is small itself."""
        return self.printed or is_primary(self.value, threshold)

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
        for cid, c in as_cells(cells).items()
    }


def as_cells(cells: Iterable[Cell] | Mapping[str, Cell]) -> dict[str, Cell]:
    if isinstance(cells, Mapping):
        return dict(cells)
    out: dict[str, Cell] = {}
    for cell in cells:
        if cell.id in out:
            raise ValueError(f"duplicate cell id {cell.id!r}")
        out[cell.id] = cell
    return out


def check_references(cells: Mapping[str, Cell], equations: Sequence[Equation]) -> None:
    for eq in equations:
        unknown = [c for c in eq.cell_ids if c not in cells]
        if unknown:
            raise ValueError(f"equation refers to unknown cells {unknown}")


def components(
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


def component_system(cols: Sequence[str], eqs: Sequence[Equation],
                     printed: Mapping[str, Cell] | None = None
                     ) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
    """(column of each hidden cell, A, b) of one component's equations A x = b over its hidden
    cells `cols`: the printed cells' values (from `printed`; none given, b = 0) are moved to the
    right-hand side. The rank test, the protection intervals, the attacker of the suppression
    and the benchmark's attack all solve this one system."""
    index = {c: i for i, c in enumerate(cols)}
    a = np.zeros((len(eqs), len(cols)))
    b = np.zeros(len(eqs))
    for r, eq in enumerate(eqs):
        for cid, coef in eq.terms:
            if cid in index:
                a[r, index[cid]] += coef
            elif printed is not None:
                b[r] -= coef * printed[cid].value
    return index, a, b


def derivable_cells(
    hidden: set[str], equations: Sequence[Equation]
) -> list[str]:
    """Hidden cells whose value is fixed by the equations and the published cells.

    With published values moved to the right-hand side the hidden cells x satisfy A x = b. A cell
    x_j is unique exactly when every vector in the null space of A is zero at j (equivalently the
    unit vector e_j lies in the row space of A).
    """
    out: list[str] = []
    for cols, eqs in components(hidden, equations):
        if not eqs:
            continue            # in no equation: nothing published constrains it
        index, a, _b = component_system(cols, eqs)
        _, sing, vt = np.linalg.svd(a, full_matrices=True)
        rank = int((sing > _TOLERANCE * max(1.0, sing.max(initial=0.0))).sum())
        null = vt[rank:]            # rows span the null space of a
        for c, i in index.items():
            if null.shape[0] == 0 or np.abs(null[:, i]).max() < 1e-7:
                out.append(c)
    return sorted(out)


def check_disclosure(
    cells: Iterable[Cell] | Mapping[str, Cell],
    equations: Sequence[Equation],
    threshold: int,
    rounding: str = "none",
    *,
    width: int | None = None,
    known: Mapping[str, Collection[int]] | None = None,
    earlier: Sequence[Mapping[str, int]] = (),
) -> list[str]:
    """Problems that forbid publication (empty list = safe). Messages name cells, not values.

    Checks: the equations hold for the true values (else they do not describe the table); every
    count from 1 to threshold-1 is suppressed and no zero is; no suppressed cell is uniquely
    determined by the published cells (rank test) and none has a range narrower than `width`
    (default: the threshold) - both on the true values of published cells, the stricter test
    when they are rounded, and with `known` (cell -> a count an earlier publication printed for
    the same period) taken as printed where it is still the true value; no printed count differs
    by 1 to threshold-1 from what an `earlier` publication of an overlapping period printed (the
    difference would be a small count; see warehouse.publication_history - compared on the true
    value, so that rounding can neither hide a small change nor invent one); with rounding, every
    published count is the rounding of its own true value (an unrounded count next to rounded
    totals would let the rounding be undone) and no non-zero count is printed as a zero.
    """
    table = as_cells(cells)
    check_references(table, equations)
    width = threshold if width is None else int(width)
    problems: list[str] = []
    for n, eq in enumerate(equations):
        if sum(coef * table[c].value for c, coef in eq.terms) != 0:
            problems.append(f"equation {n} does not hold for the table's values")
    for cid, cell in table.items():
        if is_primary(cell.value, threshold) and not cell.suppressed and cell.printed:
            problems.append(f"cell {cid} is below the threshold and not suppressed")
        if cell.suppressed and cell.value <= 0 and cell.printed:
            problems.append(f"cell {cid} is a zero but suppressed (readers take a "
                            "suppressed count for at least 1)")
    public = {c for c, vals in (known or {}).items() if c in table and table[c].value in vals}
    hidden = {c for c, cell in table.items()
              if (cell.suppressed or not cell.printed) and c not in public}
    for cid in sorted(c for c, cell in table.items() if cell.suppressed and c in public):
        problems.append(f"cell {cid} is suppressed but an earlier publication printed it")
    protected = {c for c in hidden if table[c].needs_protection(threshold)}
    derivable = set(derivable_cells(hidden, equations)) & protected
    for cid in sorted(derivable):
        problems.append(f"cell {cid} is suppressed but derivable from published cells")
    for cid, (low, high) in protection_ranges(table, equations, hidden, width).items():
        if cid in protected and cid not in derivable and high - low < width - 1e-6:
            problems.append(f"cell {cid} is suppressed but the published cells narrow it "
                            f"to a range of width {high - low:g} (protection width {width})")
    base = rounding_base(rounding)
    for cid, cell in table.items():
        if cell.suppressed or not cell.printed:
            continue
        if cell.shown != round_count(cell.value, base):
            problems.append(f"cell {cid} is not published as the {rounding} rounding of its value")
        elif cell.value != 0 and cell.shown == 0:
            problems.append(f"cell {cid} is not zero but would be published as 0")
        for printed in earlier:
            if cid in printed and 0 < abs(cell.value - printed[cid]) < threshold:
                problems.append(f"cell {cid} differs by fewer than {threshold} from an earlier "
                                "publication of an overlapping period")
                break
    return problems


def protection_ranges(
    table: Mapping[str, Cell], equations: Sequence[Equation], hidden: set[str], width: int
) -> dict[str, tuple[float, float]]:
    """For each hidden cell, (lowest, highest) value the printed cells allow, as an attacker
    computes it: the equations with every printed count substituted, each hidden count at least
    its floor (1 for a printed `c`, 0 for a cell never printed).

    Each linear programme's solution is a table consistent with what is printed, so it also
    widens the known range of every other cell; a cell whose known range is already `width`
    wide needs no programme of its own (its exact bounds are then not computed: the value
    returned is the range proven so far, which is at least `width`).
    """
    out: dict[str, tuple[float, float]] = {}
    for cols, eqs in components(hidden, equations):
        if not eqs:
            for c in cols:
                out[c] = (float(table[c].floor), np.inf)
            continue
        index, a, b = component_system(cols, eqs, table)
        seen_low = np.array([float(table[c].value) for c in cols])
        seen_high = seen_low.copy()
        floors = [float(table[c].floor) for c in cols]
        bounds = [(f, None) for f in floors]
        # tables pushing every cell not yet proven up (then down) at once, at most `width` from
        # the true one (so the programme is bounded): one solve often proves many cells
        capped = [(max(f, v - width), v + width) for f, v in zip(floors, seen_low, strict=True)]
        for _round in range(len(cols)):
            before = int(((seen_high - seen_low) >= width - 1e-6).sum())
            for sign in (-1.0, 1.0):
                objective = sign * ((seen_high - seen_low) < width - 1e-6)
                res = linprog(objective, A_eq=a, b_eq=b, bounds=capped, method="highs",
                              options={"presolve": False})
                if res.status == 0:
                    seen_low = np.minimum(seen_low, res.x)
                    seen_high = np.maximum(seen_high, res.x)
            if int(((seen_high - seen_low) >= width - 1e-6).sum()) in (before, len(cols)):
                break
        for c, i in index.items():
            if seen_high[i] - seen_low[i] >= width - 1e-6:
                out[c] = (seen_low[i], seen_high[i])
                continue
            ends = []
            for sign in (1.0, -1.0):
                objective = np.zeros(len(cols))
                objective[i] = sign
                res = linprog(objective, A_eq=a, b_eq=b, bounds=bounds, method="highs",
                              options={"presolve": False})
                if res.status == 3:
                    ends.append(-sign * np.inf)
                    continue
                if res.status == 2:     # no table fits: reported as a zero suppressed or an
                    ends.append(np.nan)  # equation that does not hold
                    continue
                if res.status != 0:
                    raise DisclosureError(f"disclosure check: the linear programme for cell {c} "
                                          f"failed ({res.message})")
                seen_low = np.minimum(seen_low, res.x)
                seen_high = np.maximum(seen_high, res.x)
                ends.append(res.x[i])
            out[c] = (ends[0], ends[1])
    return out


def assert_safe(
    cells: Iterable[Cell] | Mapping[str, Cell],
    equations: Sequence[Equation],
    threshold: int,
    *,
    table: str = "table",
    rounding: str = "none",
    width: int | None = None,
    known: Mapping[str, Collection[int]] | None = None,
    earlier: Sequence[Mapping[str, int]] = (),
) -> None:
    problems = check_disclosure(cells, equations, threshold, rounding, width=width, known=known,
                                earlier=earlier)
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
