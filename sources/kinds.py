"""Canonical extract kinds, loaded from `sources/kinds/*.yaml`.

The YAML files are the contract between the readers, the validation suites and the warehouse:
the staging tables are created from them, so a column added to a kind flows everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from sources.common.yamlfiles import read_yaml

KINDS_DIR = Path(__file__).parent / "kinds"

# canonical type -> DuckDB type of the staging column
DUCKDB_TYPES = {
    "string": "VARCHAR",
    "name": "VARCHAR",
    "code": "VARCHAR",
    "code_list": "VARCHAR[]",
    "postcode": "VARCHAR",
    "nhs_number": "VARCHAR",
    "upn": "VARCHAR",
    "date": "DATE",
    "datetime": "TIMESTAMP",
    "int": "INTEGER",
    "flag": "BOOLEAN",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False
    unique: bool = False
    pii: bool = False
    codes: str | None = None
    doc: str = ""
    not_future: bool = False      # an event date that cannot lie after the extract date
    after: str | None = None      # this date/time cannot be before that column's (end >= start)
    min: int | None = None        # smallest allowed number
    # person columns only (_person.yaml): how staging.person_record and linkage read them
    key: bool = False             # names the record (record_key), not one of its values
    keep_raw: bool = False        # person_record keeps the supplier's text as <name>_raw
    aliases: str | None = None    # list column of the other values seen for the person
    linkage: bool = False         # linkage compares records on it

    @property
    def duckdb_type(self) -> str:
        return DUCKDB_TYPES[self.type]


@dataclass(frozen=True)
class Kind:
    name: str
    feed: str
    title: str
    refresh: str
    event_date: str | None = None
    sets: bool = False            # a folder in the feed is one delivery of several files
    person_columns: dict[str, Column] = field(default_factory=dict)
    event_columns: dict[str, Column] = field(default_factory=dict)

    @property
    def columns(self) -> dict[str, Column]:
        return {**self.event_columns, **self.person_columns}

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns.values() if c.required]


def _columns(raw: dict) -> dict[str, Column]:
    out = {}
    for name, spec in raw.items():
        if spec["type"] not in DUCKDB_TYPES:
            raise ValueError(f"column {name!r}: unknown canonical type {spec['type']!r}")
        out[name] = Column(name=name, **spec)
    return out


@cache
def load_person_columns() -> dict[str, Column]:
    """The columns that identify a person, shared by every kind (_person.yaml): the one
    definition of staging.person_record's values and of what linkage reads."""
    return _columns(read_yaml(KINDS_DIR / "_person.yaml"))


@cache
def load_kinds() -> dict[str, Kind]:
    person = load_person_columns()
    kinds = {}
    for path in sorted(KINDS_DIR.glob("[!_]*.yaml")):
        raw = read_yaml(path)
        kinds[raw["kind"]] = Kind(
            name=raw["kind"],
            feed=raw["feed"],
            title=raw["title"],
            refresh=raw.get("refresh", "full"),
            event_date=raw.get("event_date"),
            sets=bool(raw.get("sets", False)),
            person_columns=person,
            event_columns=_columns(raw["columns"]),
        )
    return kinds


def get_kind(name: str) -> Kind:
    kinds = load_kinds()
    if name not in kinds:
        raise KeyError(f"unknown extract kind {name!r}; known kinds: {', '.join(sorted(kinds))}")
    return kinds[name]
