"""A feed's extract in its supplier layout -> `joinedup encode`'s id column and roles.

The column map that fits the extract (sources/maps, chosen as the nightly run chooses it, or
named) already says which supplier column is which canonical column, so an agency encodes its
usual export without naming columns. An identifying column the encoding has no field for (a
known-as name, a former surname) is withheld from the output, never passed through in the clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sources.column_maps import MapError, choose_map, load_map, load_maps, normalise_header
from sources.encoding.schema import EncodingError
from sources.kinds import get_kind, load_person_columns
from sources.readers import CSV_SUFFIXES, PARQUET_SUFFIXES, open_source

ID_COLUMN = "record_id"              # one row's id in every kind: identifies an event, not a child


@dataclass(frozen=True)
class SupplierRoles:
    map_name: str
    id_column: str
    roles: dict[str, str]            # role -> supplier column
    withheld: list[str]              # identifying supplier columns with no encoding


def _maps(map_ref: str | None) -> tuple[dict, str | None]:
    """The maps to choose from and the one named: `map_ref` is a map's name or a map file."""
    if map_ref is None or not map_ref.endswith((".yaml", ".yml")):
        return load_maps(), map_ref
    path = Path(map_ref)
    if not path.is_file():
        raise EncodingError(f"--map {map_ref}: no such map file")
    try:
        cmap = load_map(path)
    except MapError as exc:
        raise EncodingError(str(exc)) from None
    return {cmap.name: cmap}, cmap.name


def supplier_roles(path: Path, kind: str, map_ref: str | None,
                   encodable: set[str]) -> SupplierRoles:
    """The roles of an extract of `kind`, from the map named by `map_ref` or the one that fits
    its header; `encodable` is every role `joinedup encode` accepts."""
    try:
        get_kind(kind)
    except KeyError as exc:
        raise EncodingError(str(exc.args[0])) from None
    if path.suffix.lower() not in CSV_SUFFIXES | PARQUET_SUFFIXES:
        raise EncodingError(f"{path.name}: `joinedup encode` reads CSV or Parquet files: save "
                            "the extract as CSV, its header on the first row, and encode that")
    maps, name = _maps(map_ref)
    hints = maps[name].file if name in maps else {}
    if hints.get("format"):
        raise EncodingError(f"--map {name} reads a statutory return ({hints['format']}); encode "
                            "the CSV or Parquet extract of a supplier layout instead")
    peeked = open_source(path, hints).peek()
    cmap, header_row = choose_map(peeked, kind, maps, path.name, name)
    if header_row != 1:
        raise EncodingError(f"{path.name}: the header is on row {header_row}; `joinedup encode` "
                            "reads it from row 1: delete the rows above it and encode again")
    if ID_COLUMN not in cmap.columns or not cmap.columns[ID_COLUMN].column:
        raise EncodingError(f"map {cmap.name} names no supplier column for {ID_COLUMN}")
    # the file's own spelling of each column the map names (maps match headings loosely)
    header = {normalise_header(h): h.strip() for h in peeked[0] if h}
    person = load_person_columns()
    roles, withheld = {}, []
    for canonical, rule in cmap.columns.items():
        column = header.get(normalise_header(rule.column)) if rule.column else None
        if column is None:
            continue
        if canonical in encodable:
            roles[canonical] = column
        elif canonical in person and person[canonical].pii:
            withheld.append(column)
    id_column = header.get(normalise_header(cmap.columns[ID_COLUMN].column))
    if id_column is None:
        raise EncodingError(f"{path.name}: no column {cmap.columns[ID_COLUMN].column!r}, which "
                            f"the map {cmap.name} reads each row's {ID_COLUMN} from")
    return SupplierRoles(cmap.name, id_column, roles, sorted(set(withheld) - set(roles.values())))
