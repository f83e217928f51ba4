"""One extract file, read as its kind: open it, choose the column map that fits, read it, map it.

The nightly run checks each delivery at receipt (`check_extract`: the file opens and some map of
its kind fits its first rows) and ingests it later (`read_extract`); `joinedup sources check`
previews a supplier's file with the same `read_extract`, so the preview cannot drift from what
the run does. Every failure is an ExtractError naming the file and what to do.

A statutory return (CIN census XML, an SSDA903 set, an Annex A workbook) is read by its own
reader under its own built-in map (sources.statutory): its layout is fixed nationally, so it is
told by what it is, never by a supplier's headings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sources.column_maps import ColumnMap, choose_map
from sources.errors import ExtractError
from sources.mapping import MappedExtract, apply_map
from sources.readers import DEFAULT_LIMITS, RawExtract, ReadLimits, open_source
from sources.statutory.formats import open_statutory


@dataclass(frozen=True)
class ChosenMap:
    """The map a file fits and the row its header is on."""

    cmap: ColumnMap
    header_row: int
    header: dict = field(default_factory=dict)   # what a statutory return says about itself


@dataclass
class ReadExtract:
    """A file as received (text, by row number) and as mapped to its kind's canonical columns."""

    raw: RawExtract
    cmap: ColumnMap
    mapped: MappedExtract

    @property
    def rows_in(self) -> int:
        return self.mapped.rows_in

    @property
    def blank_rows(self) -> int:
        return self.mapped.blank_rows


def _open(path: Path, maps: dict[str, ColumnMap], map_name: str | None, limits: ReadLimits,
          file_name: str, earlier: list[tuple[Path, str]] | tuple = ()):
    """The reader, with the named map's file hints (encoding, delimiter, sheet) if any."""
    statutory = open_statutory(path, file_name, limits, earlier)
    if statutory is not None:
        return statutory
    hints = maps[map_name].file if map_name and map_name in maps else {}
    return open_source(path, hints, limits)


def _choose(source, kind: str, maps: dict[str, ColumnMap], file_name: str,
            map_name: str | None) -> tuple[ColumnMap, int]:
    peeked = source.peek()
    own = getattr(source, "map_name", None)
    if own is None:
        return choose_map(peeked, kind, maps, file_name, map_name)
    if own not in maps:
        raise ExtractError(file_name, f"the column map '{own}' for this return is missing",
                           "Reinstall Joined Up or restore sources/maps/.")
    cmap = maps[own]
    if cmap.kind != kind:
        raise ExtractError(file_name, f"this is a '{cmap.kind}' return ({cmap.supplier}), "
                           f"not '{kind}'", f"Move it to inbox/{cmap.kind}/.")
    return cmap, 1


def check_extract(path: Path, kind: str, maps: dict[str, ColumnMap], file_name: str,
                  map_name: str | None = None, limits: ReadLimits = DEFAULT_LIMITS) -> ChosenMap:
    """The map that fits the file's first rows, without reading the whole file."""
    source = _open(path, maps, map_name, limits, file_name)
    cmap, header_row = _choose(source, kind, maps, file_name, map_name)
    header = source.header.record() if hasattr(source, "header") else {}
    return ChosenMap(cmap, header_row, header)


def read_extract(path: Path, kind: str, maps: dict[str, ColumnMap], file_name: str,
                 map_name: str | None = None, limits: ReadLimits = DEFAULT_LIMITS,
                 earlier: list[tuple[Path, str]] | tuple = ()) -> ReadExtract:
    """The whole file read and mapped with the map that fits it (`file_name` is the name as
    delivered, which messages quote; `path` may be its archive copy; `earlier`, the feed's
    earlier deliveries, for a payload whose deliveries are deltas)."""
    source = _open(path, maps, map_name, limits, file_name, earlier)
    cmap, header_row = _choose(source, kind, maps, file_name, map_name)
    raw = source.read(header_row)
    mapped = apply_map(raw, cmap, file_name)
    mapped.source = raw.frame
    return ReadExtract(raw=raw, cmap=cmap, mapped=mapped)
