"""Reference code tables, loaded from `sources/codes/*.yaml`.

Tables are data so that a new collection year's codes are a file edit, and every translation
carries the dates it is valid for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import yaml

CODES_DIR = Path(__file__).parent / "codes"


@dataclass(frozen=True)
class Translation:
    name: str
    map: dict[str, str]
    valid_from: date | None = None
    valid_to: date | None = None
    doc: str = ""

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


def _as_date(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


@cache
def load_table(name: str) -> CodeTable:
    path = CODES_DIR / f"{name}.yaml"
    if not path.exists():
        raise KeyError(f"no code table {name!r} in {CODES_DIR}")
    raw = yaml.safe_load(path.read_text())
    translations = {
        t_name: Translation(
            name=t_name,
            map={str(k).strip().upper(): str(v) for k, v in t["map"].items()},
            valid_from=_as_date(t.get("valid_from")),
            valid_to=_as_date(t.get("valid_to")),
            doc=t.get("doc", ""),
        )
        for t_name, t in (raw.get("translations") or {}).items()
    }
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
