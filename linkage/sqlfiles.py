"""Reading the package's SQL files.

SQL lives in `linkage/sql/*.sql`; predicates.sql holds named fragments (`-- name: x` headers) so
that comparison levels in settings.yaml can refer to them by name.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).parent / "sql"
_HEADER = re.compile(r"^-- name: ([a-z_][a-z0-9_]*)\s*$")


def sql_file(name: str) -> str:
    return (SQL_DIR / name).read_text()


@cache
def named_fragments(name: str) -> dict[str, str]:
    """Fragments of a .sql file keyed by their `-- name:` header; other comments are dropped."""
    fragments: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in sql_file(name).splitlines():
        header = _HEADER.match(line)
        if header:
            current = fragments.setdefault(header.group(1), [])
        elif current is not None and line.strip() and not line.lstrip().startswith("--"):
            current.append(line)
    return {key: "\n".join(lines) for key, lines in fragments.items()}
