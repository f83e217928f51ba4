"""Reference code tables, loaded from `sources/codes/*.yaml`.

Tables are data so that a new collection year's codes are a file edit, and every translation
carries the dates it is valid for: DfE and police code lists change between collection years,
and a code sent outside the years its list was in force is quarantined by validation
(`code_not_valid_for_date`, see `sources/codes/README.md`) rather than silently mapped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

from sources.common.yamlfiles import read_yaml

CODES_DIR = Path(__file__).parent / "codes"


def _as_date(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


@dataclass(frozen=True)
class Period:
    """Dates a code or code list is in force, both ends inclusive; None is open-ended."""

    valid_from: date | None = None
    valid_to: date | None = None

    @property
    def bounded(self) -> bool:
        return self.valid_from is not None or self.valid_to is not None

    def within(self, outer: Period) -> Period:
        """This period clipped to `outer` (a code cannot outlive the list it belongs to)."""
        starts = [d for d in (self.valid_from, outer.valid_from) if d is not None]
        ends = [d for d in (self.valid_to, outer.valid_to) if d is not None]
        return Period(max(starts) if starts else None, min(ends) if ends else None)

    def describe(self) -> str:
        if self.valid_from and self.valid_to:
            return f"valid {self.valid_from.isoformat()} to {self.valid_to.isoformat()}"
        if self.valid_from:
            return f"valid from {self.valid_from.isoformat()}"
        if self.valid_to:
            return f"valid to {self.valid_to.isoformat()}"
        return "valid at any date"


@dataclass(frozen=True)
class Translation:
    name: str
    map: dict[str, str]
    valid_from: date | None = None
    valid_to: date | None = None
    doc: str = ""
    code_periods: dict[str, Period] = field(default_factory=dict)   # per supplier code
    table: str = ""

    @property
    def ref(self) -> str:
        return f"{self.table}.{self.name}" if self.table else self.name

    @property
    def period(self) -> Period:
        return Period(self.valid_from, self.valid_to)

    def code_period(self, code: str) -> Period:
        """The dates one supplier code may be used: its own, within the list's."""
        own = self.code_periods.get(code.strip().upper(), Period())
        return own.within(self.period)

    def periods(self) -> dict[Period, list[str]]:
        """Supplier codes grouped by the dates they are valid, bounded groups only."""
        groups: dict[Period, list[str]] = {}
        for code in self.map:
            period = self.code_period(code)
            if period.bounded:
                groups.setdefault(period, []).append(code)
        return groups

    def lookup(self, value: str) -> str | None:
        return self.map.get(value.strip().upper())


@dataclass(frozen=True)
class CodeTable:
    name: str
    codes: dict[str, dict]
    translations: dict[str, Translation]
    doc: str = ""

    def attribute(self, code: str, key: str, default=None):
        return (self.codes.get(code) or {}).get(key, default)


def _code_periods(raw: dict | None, known: dict[str, str], where: str) -> dict[str, Period]:
    out = {}
    for code, spec in (raw or {}).items():
        key = str(code).strip().upper()
        if key not in known:
            raise ValueError(f"{where}: code_valid names {code!r}, which is not in its map")
        unknown = set(spec or {}) - {"valid_from", "valid_to"}
        if unknown:
            raise ValueError(f"{where}: code_valid.{code} has unknown keys {sorted(unknown)}")
        out[key] = Period(_as_date((spec or {}).get("valid_from")),
                          _as_date((spec or {}).get("valid_to")))
    return out


@cache
def load_table(name: str) -> CodeTable:
    path = CODES_DIR / f"{name}.yaml"
    if not path.exists():
        raise KeyError(f"no code table {name!r} in {CODES_DIR}")
    raw = read_yaml(path)
    translations = {}
    for t_name, t in (raw.get("translations") or {}).items():
        mapping = {str(k).strip().upper(): str(v) for k, v in t["map"].items()}
        translations[t_name] = Translation(
            name=t_name,
            map=mapping,
            valid_from=_as_date(t.get("valid_from")),
            valid_to=_as_date(t.get("valid_to")),
            doc=t.get("doc", ""),
            code_periods=_code_periods(t.get("code_valid"), mapping, f"{path.name}: {t_name}"),
            table=raw["name"],
        )
    codes = {str(k): (v or {}) for k, v in raw["codes"].items()}
    return CodeTable(name=raw["name"], codes=codes, translations=translations,
                     doc=raw.get("doc", ""))


def translation(ref: str) -> Translation:
    """A translation by `<table>.<translation>` reference, as used in column maps."""
    table, _, name = ref.partition(".")
    tables = load_table(table)
    if name not in tables.translations:
        known = ", ".join(sorted(tables.translations))
        raise KeyError(f"code table {table!r} has no translation {name!r} (known: {known})")
    return tables.translations[name]
