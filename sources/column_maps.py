"""Loading supplier column maps (see sources/maps/README.md) and choosing one for a file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sources.common.yamlfiles import read_yaml, yaml_problem
from sources.errors import ExtractError
from sources.kinds import get_kind, load_kinds

BUILTIN_MAPS = Path(__file__).parent / "maps"
RULE_KEYS = {"column", "format", "time_column", "time_format", "codes", "translate", "separator",
             "value"}


def normalise_header(text: str) -> str:
    return " ".join(str(text).split()).casefold()


@dataclass(frozen=True)
class ColumnRule:
    canonical: str
    column: str | None = None
    format: str | None = None
    time_column: str | None = None
    time_format: str | None = None
    codes: dict[str, str] | None = None
    translate: str | None = None
    separator: str | None = None
    value: str | None = None

    @property
    def supplier_columns(self) -> list[str]:
        return [c for c in (self.column, self.time_column) if c]


@dataclass(frozen=True)
class ColumnMap:
    name: str
    kind: str
    supplier: str
    path: Path
    columns: dict[str, ColumnRule]
    detect: tuple[str, ...]
    file: dict = field(default_factory=dict)
    formats: dict = field(default_factory=dict)

    def detect_score(self, header: list[str]) -> tuple[int, list[str]]:
        present = {normalise_header(h) for h in header if h}
        missing = [c for c in self.detect if normalise_header(c) not in present]
        return len(self.detect) - len(missing), missing


def _rule(canonical: str, spec, map_path: Path) -> ColumnRule:
    if isinstance(spec, str):
        return ColumnRule(canonical=canonical, column=spec)
    if not isinstance(spec, dict) or not set(spec) <= RULE_KEYS:
        raise MapError(f"{map_path}: column {canonical!r} has an invalid rule {spec!r}")
    codes = spec.get("codes")
    if codes is not None:
        codes = {str(k).strip().upper(): str(v) for k, v in codes.items()}
    value = spec.get("value")
    return ColumnRule(
        canonical=canonical,
        column=spec.get("column"),
        format=spec.get("format"),
        time_column=spec.get("time_column"),
        time_format=spec.get("time_format"),
        codes=codes,
        translate=spec.get("translate"),
        separator=spec.get("separator"),
        value=None if value is None else str(value),
    )


class MapError(ValueError):
    """A column map file that cannot be used; the message names the file, the line and the fix."""


def _read_map(path: Path) -> dict:
    try:
        raw = read_yaml(path)
    except yaml.YAMLError as exc:
        raise MapError(f"{path}{yaml_problem(exc)}; fix the column map (see "
                       "sources/maps/README.md) and run again") from None
    except UnicodeDecodeError:
        raise MapError(f"{path}: not UTF-8 text; save the column map as UTF-8") from None
    if not isinstance(raw, dict):
        raise MapError(f"{path} line 1: a column map is a mapping with `name`, `kind` and "
                       "`columns` (see sources/maps/README.md)")
    kinds = sorted(load_kinds())
    if raw.get("kind") not in kinds:
        said = "names no kind" if raw.get("kind") is None else f"names kind {raw['kind']!r}"
        raise MapError(f"{path} line {_line_of(path, 'kind')}: the map {said}; add "
                       f"`kind:` with one of {', '.join(kinds)}")
    for key, shape in (("name", str), ("columns", dict)):
        if not isinstance(raw.get(key), shape):
            raise MapError(f"{path} line {_line_of(path, key)}: `{key}:` is missing or not "
                           f"{'text' if shape is str else 'a mapping of columns'}")
    return raw


def _line_of(path: Path, key: str) -> int:
    """The line of a top-level key (1 when it is absent), for a message."""
    node = yaml.compose(path.read_text(encoding="utf-8"))
    for key_node, value in getattr(node, "value", []):
        if getattr(key_node, "value", None) == key:
            return value.start_mark.line + 1
    return 1


def load_map(path: Path) -> ColumnMap:
    raw = _read_map(path)
    kind = get_kind(raw["kind"])
    unknown = set(raw["columns"]) - set(kind.columns)
    if unknown:
        raise MapError(
            f"{path} line {_line_of(path, 'columns')}: columns {sorted(unknown)} are not "
            f"canonical columns of kind {kind.name} (sources/kinds/{kind.name}.yaml)")
    columns = {name: _rule(name, spec, path) for name, spec in raw["columns"].items()}
    if "detect" in raw:
        detect = tuple(raw["detect"])
    else:
        # the supplier columns of the kind's required canonical columns identify the export
        detect = tuple(
            c for name in kind.required if name in columns for c in columns[name].supplier_columns
        )
    return ColumnMap(
        name=raw["name"],
        kind=kind.name,
        supplier=raw.get("supplier", ""),
        path=path,
        columns=columns,
        detect=detect,
        file=raw.get("file") or {},
        formats=raw.get("formats") or {},
    )


def load_maps(extra_dirs: list[Path] | None = None) -> dict[str, ColumnMap]:
    """Built-in maps, then a partnership's own (same name replaces the built-in one)."""
    maps: dict[str, ColumnMap] = {}
    for folder in [BUILTIN_MAPS, *(extra_dirs or [])]:
        if folder.exists():
            for path in sorted(folder.rglob("*.yaml")):
                cmap = load_map(path)
                maps[cmap.name] = cmap
    return maps


def best_header_row(rows: list[list[str]], cmap: ColumnMap) -> tuple[int, int, list[str]]:
    """(1-based header row, columns found, columns missing) for the row matching the map best."""
    fixed = cmap.file.get("header_row")
    candidates = [fixed] if fixed else range(1, len(rows) + 1)
    best = (fixed or 1, -1, list(cmap.detect))
    for number in candidates:
        if number - 1 >= len(rows):
            continue
        found, missing = cmap.detect_score(rows[number - 1])
        if found > best[1]:
            best = (number, found, missing)
    return best


def choose_map(
    peeked: list[list[str]], kind: str, maps: dict[str, ColumnMap], file_name: str,
    map_name: str | None = None,
) -> tuple[ColumnMap, int]:
    """The map (and header row) that fits a file of the given kind, or an error saying why not.

    A named map must fit; otherwise every map of the kind is tried and the one whose identifying
    columns are all present wins. When none fits, the message names the closest map's missing
    columns, and says so if the file fits a map of another kind (a file in the wrong folder).
    """
    if map_name is not None:
        if map_name not in maps:
            raise ExtractError(file_name, f"there is no column map named '{map_name}'",
                               f"Known maps: {', '.join(sorted(maps))}.")
        candidates = [maps[map_name]]
    else:
        # a statutory return's map is chosen by the file's format (sources.extract), never
        # by a CSV's headings
        candidates = [m for m in maps.values() if m.kind == kind and not m.file.get("format")]
    scored = []
    for cmap in candidates:
        row, found, missing = best_header_row(peeked, cmap)
        scored.append((not missing, found, cmap.name, cmap, row, missing))
    scored.sort(key=lambda s: (s[0], s[1], s[2]), reverse=True)
    if scored and scored[0][0]:
        return scored[0][3], scored[0][4]
    for other in maps.values():
        if other.kind != kind and not other.file.get("format"):
            _, _, other_missing = best_header_row(peeked, other)
            if not other_missing:
                raise ExtractError(
                    file_name,
                    f"this looks like a '{other.kind}' extract (it fits map '{other.name}'), "
                    f"not '{kind}'",
                    f"Move it to inbox/{other.kind}/ or check that the right file was sent.",
                )
    if not scored:
        raise ExtractError(file_name, f"there is no column map for extract kind '{kind}'",
                           "Write one (see sources/maps/README.md) in <home>/maps/.")
    _, _, _, cmap, row, missing = scored[0]
    shown = ", ".join(f"'{c}'" for c in missing[:8])
    raise ExtractError(
        file_name,
        f"required columns are missing for a '{kind}' extract: closest map '{cmap.name}' "
        f"lacks {shown}",
        "Ask the supplier for the standard export, or add a column map for this layout "
        "(sources/maps/README.md).",
    )
