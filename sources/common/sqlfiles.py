"""Reading a package's `.sql` files, and the DuckDB variables they read.

SQL stays in files so reviewers read queries as SQL. Values reach it only through
`SET VARIABLE ... = ?` or `$name` parameters, never by pasting text into a statement; the one
exception is a template's `{{placeholder}}`, filled with SQL the package builds from its own
specifications (the person columns of sources/kinds/_person.yaml, say), never from user text.
Files of named fragments (`-- name: x` headers) let settings refer to a piece of SQL by name.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

_HEADER = re.compile(r"^-- name: ([a-z_][a-z0-9_]*)\s*$")
_PLACEHOLDER = re.compile(r"\{\{([a-z_][a-z0-9_]*)\}\}")
_VARIABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@cache
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@cache
def _fragments(path: Path) -> dict[str, str]:
    fragments: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in _read(path).splitlines():
        header = _HEADER.match(line)
        if header:
            current = fragments.setdefault(header.group(1), [])
        elif current is not None and line.strip() and not line.lstrip().startswith("--"):
            current.append(line)
    return {key: "\n".join(lines) for key, lines in fragments.items()}


class SqlFiles:
    """The `.sql` files under one folder (a package's `sql/`), named by their relative path."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    @classmethod
    def beside(cls, module_file: str) -> SqlFiles:
        """The `sql/` folder next to a module (`SqlFiles.beside(__file__)`)."""
        return cls(Path(module_file).parent / "sql")

    def read(self, relative: str) -> str:
        return _read(self.directory / relative)

    def run(self, con: duckdb.DuckDBPyConnection, relative: str) -> None:
        """Run a file of DDL / DML statements (no result wanted)."""
        con.execute(self.read(relative))

    def fragments(self, relative: str) -> dict[str, str]:
        """Fragments of a file keyed by their `-- name:` header; other comments are dropped."""
        return dict(_fragments(self.directory / relative))

    def filled(self, relative: str, **fills: str) -> str:
        """A template with each `{{name}}` replaced; every placeholder must be filled and every
        fill used, so a template and the code filling it cannot drift apart silently."""
        text = self.read(relative)
        wanted = set(_PLACEHOLDER.findall(text))
        if wanted != set(fills):
            raise ValueError(f"{relative}: placeholders {sorted(wanted)} but fills "
                             f"{sorted(fills)}")
        return _PLACEHOLDER.sub(lambda m: fills[m.group(1)], text)


def _variable_value(value: Any) -> Any:
    # Floats become decimals so that a threshold such as 12.3% compares exactly.
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, (list, tuple)):
        return [_variable_value(v) for v in value]
    return value


def set_variables(con: duckdb.DuckDBPyConnection, values: dict[str, Any]) -> None:
    """SET VARIABLE for each name; names come from our own catalogue and are checked."""
    for name, value in values.items():
        if not _VARIABLE_NAME.match(name):
            raise ValueError(f"not a usable variable name: {name!r}")
        con.execute(f"SET VARIABLE {name} = ?", [_variable_value(value)])


def reset_variables(con: duckdb.DuckDBPyConnection, names: list[str]) -> None:
    for name in names:
        if not _VARIABLE_NAME.match(name):
            raise ValueError(f"not a usable variable name: {name!r}")
        con.execute(f"RESET VARIABLE {name}")


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchall()
    return rows[0][0] > 0
